"""Foot lock: the stance foot of generated locomotion held in place by leg IK (causal, batched).

A CMG reference moves its root at the commanded velocity (`pose.utils.cmg_motion_lib`), while the
network's legs step at their own speed: the stance foot then slides over the ground (the
`foot_slide_mps` of `cmg_workspace.evaluate`). `FootLock` removes that slide from the frames, the way
foot-skate cleanup does for mocap, one frame after another so that it can run on a stream:

- contact: over the step from frame k to k + 1 a foot is in stance when the lowest of all sole points
  (`pose.kinematics.FootGeometry.sole_points`) belongs to it at both frames: the evaluation's own
  definition;
- shift: each foot carries a horizontal world-frame shift s. Over a stance step the shift takes up
  the slide of the contact point p (the lowest point at frame k): s_{k+1} = s_k - (w_{k+1}(p) -
  w_k(p)), with w the point's world position in the generated frame, so the shifted point stays
  where it was; the foot rolls (heel to toe) as generated, since only its position moves. Otherwise
  the shift decays towards the generated foot (s_{k+1} = `decay` s_k, 0.8 per frame: 2 % left after
  0.35 s of swing). A shift never exceeds `max_shift` (0.08 m): a generator that does not step at
  all (a turn in place on one foot) slides again beyond it instead of twisting the leg;
- joints: the six joints of each leg by damped Gauss-Newton (`pose.leg_ik.LegIK`, `ik_iters`
  iterations from the generated joints, at most `max_step` rad per joint and iteration), so that the
  foot body reaches its generated pose moved by the shift; the other joints stay as generated. The
  joint velocities get the change of the correction over the frame added, (dq_k - dq_{k-1}) / dt.

The state between calls (`FootLockState`: the shifts, the previous frame's sole points and joint
correction; `packed()` / `FootLock.unpack` as one tensor) lets a stream be cut into chunks of any
length with the same result (tested).
Measured on the shipped CMG (`cmg_workspace.evaluate --foot_lock`, README "Motion
generator"): the stance-foot slide drops to about 0; the price is shown by the same report (shift
saturation, IK residual, joint speeds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from pose.g1_model import G1Model, load_g1
from pose.kinematics import FootGeometry
from pose.leg_ik import LegIK
from pose.utils.torch_utils import yaw_to_quat


@dataclass
class FootLockState:
    """Per stream (batch row): `shift` (B, F, 2) of each foot, `points` (B, P, 2) the previous
    frame's generated world sole points, `lowest` (B,) its lowest sole point (-1: no previous frame),
    `dq` (B, D) its joint correction."""

    shift: torch.Tensor
    points: torch.Tensor
    lowest: torch.Tensor
    dq: torch.Tensor

    def packed(self) -> torch.Tensor:
        """The state as one float tensor (B, width) (`FootLock.unpack` reads it back)."""
        b = self.shift.shape[0]
        parts = [
            self.shift.reshape(b, -1),
            self.points.reshape(b, -1),
            self.lowest.to(self.shift.dtype)[:, None],
            self.dq,
        ]
        return torch.cat(parts, dim=-1)


class FootLock:
    """Foot lock of generated frames (see the module docstring)."""

    def __init__(
        self,
        model: Optional[G1Model] = None,
        decay: float = 0.8,
        max_shift: float = 0.08,
        ik_iters: int = 5,
        max_step: float = 0.1,
        device="cpu",
        dtype=torch.float32,
    ):
        model = model or load_g1()
        if not 0.0 <= decay <= 1.0 or max_shift < 0.0 or ik_iters < 1 or max_step <= 0.0:
            raise ValueError(
                "FootLock: decay in [0, 1], max_shift >= 0, ik_iters >= 1 and max_step > 0 expected, got "
                "{}, {}, {}, {}".format(decay, max_shift, ik_iters, max_step)
            )
        self.decay = float(decay)
        self.max_shift = float(max_shift)
        self.device = torch.device(device)
        self.dtype = dtype
        self.geometry = FootGeometry(model, device=self.device, dtype=dtype)
        self.ik = LegIK(model, max_iter=int(ik_iters), max_step=float(max_step), device=self.device, dtype=dtype)
        self.num_feet = len(model.feet)
        self.num_dofs = len(model.dof_names)
        self._foot_of = self.geometry.foot_of.to(self.device)
        self._num_points = int(self._foot_of.shape[0])

    def initial_state(self, batch: int) -> FootLockState:
        """The state of streams that start now (no previous frame, no shift)."""
        z = lambda *shape: torch.zeros(shape, device=self.device, dtype=self.dtype)  # noqa: E731
        return FootLockState(
            z(batch, self.num_feet, 2),
            z(batch, self._num_points, 2),
            torch.full((batch,), -1, device=self.device, dtype=torch.long),
            z(batch, self.num_dofs),
        )

    @property
    def state_width(self) -> int:
        """Width of `FootLockState.packed()`."""
        return 2 * self.num_feet + 2 * self._num_points + 1 + self.num_dofs

    def unpack(self, packed: torch.Tensor) -> FootLockState:
        f, p = 2 * self.num_feet, 2 * self._num_points
        b = packed.shape[0]
        return FootLockState(
            packed[:, :f].reshape(b, self.num_feet, 2),
            packed[:, f : f + p].reshape(b, self._num_points, 2),
            packed[:, f + p].round().long(),
            packed[:, f + p + 1 :],
        )

    @torch.no_grad()
    def __call__(
        self,
        root_pos: torch.Tensor,
        yaw: torch.Tensor,
        dof_pos: torch.Tensor,
        dof_vel: torch.Tensor,
        dt: float,
        state: Optional[FootLockState] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, FootLockState, Dict[str, torch.Tensor]]:
        """Locked joints of frames (B, T): root_pos (B, T, 3), yaw (B, T) of an upright root,
        dof_pos and dof_vel (B, T, D). Returns (dof_pos, dof_vel, state after the last frame, info)
        with info: `shift` (B, T, F, 2) and `ik_error` (B, T, F) in metres (the feet's distance to
        their targets)."""
        b, t, d = dof_pos.shape
        state = state or self.initial_state(b)
        dtype = self.dtype
        root_pos, yaw = root_pos.to(dtype), yaw.to(dtype)
        q = dof_pos.to(dtype)
        rot = yaw_to_quat(yaw)
        n_leg = self.ik.n_leg
        flat_root, flat_rot, flat_q = root_pos.reshape(-1, 3), rot.reshape(-1, 4), q.reshape(-1, d)
        pos, mat = self.ik.fk(flat_root, flat_rot, flat_q)  # the leg chains; the foot last in each
        foot_pos = pos.reshape(-1, self.num_feet, n_leg, 3)[:, :, -1]
        foot_rot = mat.reshape(-1, self.num_feet, n_leg, 3, 3)[:, :, -1]
        sole = self.geometry.sole_points_of(foot_pos, foot_rot).reshape(b, t, -1, 3)  # (B, T, P, 3) world
        points, heights = sole[..., :2], sole[..., 2]
        lowest = heights.argmin(-1)  # (B, T)
        foot_of = self._foot_of
        rows = torch.arange(b, device=self.device)
        feet = torch.arange(self.num_feet, device=self.device)
        shift, prev_points, prev_lowest = state.shift, state.points, state.lowest
        shifts = []
        for k in range(t):
            has_prev = prev_lowest >= 0
            p = prev_lowest.clamp_min(0)
            stance_foot = torch.where(
                has_prev & (foot_of[p] == foot_of[lowest[:, k]]), foot_of[p], torch.full_like(p, -1)
            )  # (B,)
            slide = points[rows, k, p] - prev_points[rows, p]  # (B, 2) the contact point's generated motion
            held = (stance_foot.unsqueeze(1) == feet).unsqueeze(-1)  # (B, F, 1)
            shift = torch.where(held, shift - slide.unsqueeze(1), self.decay * shift)
            norm = shift.norm(dim=-1, keepdim=True)
            shift = shift * (self.max_shift / norm.clamp_min(1e-12)).clamp(max=1.0)
            shifts.append(shift)
            prev_points, prev_lowest = points[:, k], lowest[:, k]
        shift_bt = torch.stack(shifts, dim=1)  # (B, T, F, 2)

        target = foot_pos + torch.nn.functional.pad(shift_bt.reshape(-1, self.num_feet, 2), (0, 1))
        q_new, err, _ = self.ik.solve(flat_root, flat_rot, target, foot_rot, flat_q)
        q_new = q_new.reshape(b, t, d)
        dq = q_new - q
        dq_prev = torch.cat([state.dq.unsqueeze(1), dq[:, :-1]], dim=1)
        vel = dof_vel.to(dtype) + (dq - dq_prev) / dt
        new_state = FootLockState(shift, points[:, -1].clone(), lowest[:, -1].clone(), dq[:, -1].clone())
        info = {"shift": shift_bt, "ik_error": err.reshape(b, t, self.num_feet)}
        return q_new.to(dof_pos.dtype), vel.to(dof_vel.dtype), new_state, info
