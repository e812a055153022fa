"""Leg inverse kinematics of the G1: the six joints of each leg for a target foot pose.

Batched over frames (no Python loop over time), on the project's own `ForwardKinematics`.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch

from pose.g1_model import Body, G1Model, Joint, load_g1
from pose.kinematics import ForwardKinematics


class LegIK:
    """Solve the six joints of each leg so that its foot body reaches a target pose.

    Batched damped Gauss-Newton over all frames at once, with the geometric Jacobian of the leg
    chain (world joint axes from ForwardKinematics). Targets: positions (T, 2, 3), rotations
    (T, 2, 3, 3) of the feet (LEFT, RIGHT order of `model.feet`). `max_step` (rad, default none)
    scales each frame's Gauss-Newton step down so that no joint moves more than it per iteration:
    a target out of the leg's reach then ends near the closest pose instead of a jump across the
    joint range.
    """

    def __init__(
        self,
        model: Optional[G1Model] = None,
        damping: float = 1e-4,
        max_iter: int = 40,
        max_step: Optional[float] = None,
        device="cpu",
        dtype=torch.float64,
    ):
        self.model = model or load_g1()
        self.damping = damping
        self.max_iter = max_iter
        self.max_step = max_step
        self.leg_bodies: List[List[str]] = []
        self.leg_dofs: List[List[int]] = []
        axes: List[List[Tuple[float, float, float]]] = []
        for foot in self.model.feet:
            chain: List[Tuple[Body, Joint]] = []  # the actuated joints from the foot up, and their bodies
            name: Optional[str] = foot
            while name is not None:
                body = self.model.body(name)
                if body.joint is not None and body.joint.name in self.model.dof_names:
                    chain.append((body, body.joint))
                name = body.parent
            chain.reverse()
            self.leg_bodies.append([b.name for b, _ in chain])
            self.leg_dofs.append([self.model.dof_names.index(j.name) for _, j in chain])
            axes.append([j.axis for _, j in chain])
        bodies = [n for leg in self.leg_bodies for n in leg]
        self.fk = ForwardKinematics(self.model, bodies=bodies, device=device, dtype=dtype)
        self.n_leg = len(self.leg_bodies[0])
        self._axes = torch.tensor(axes, dtype=dtype, device=device)  # (2, 6, 3) in body frames
        self._lower = torch.tensor(self.model.dof_lower, dtype=dtype, device=device)
        self._upper = torch.tensor(self.model.dof_upper, dtype=dtype, device=device)
        self._idx = torch.tensor(self.leg_dofs, device=device)  # (2, 6)

    def _errors_and_jacobian(self, root_pos, root_rot, q, foot_pos, foot_rot):
        pos, rot = self.fk(root_pos, root_rot, q)
        n = self.n_leg
        pos = pos.reshape(-1, 2, n, 3)
        rot = rot.reshape(-1, 2, n, 3, 3)
        p_foot, r_foot = pos[:, :, -1], rot[:, :, -1]
        e_pos = foot_pos - p_foot
        r_err = foot_rot @ r_foot.transpose(-1, -2)
        e_rot = 0.5 * torch.stack(
            [
                r_err[..., 2, 1] - r_err[..., 1, 2],
                r_err[..., 0, 2] - r_err[..., 2, 0],
                r_err[..., 1, 0] - r_err[..., 0, 1],
            ],
            -1,
        )
        axes = (rot @ self._axes.unsqueeze(-1)).squeeze(-1)  # (T, 2, 6, 3) world joint axes
        j_lin = torch.cross(axes, p_foot.unsqueeze(2) - pos, dim=-1)
        jac = torch.cat([j_lin, axes], -1).transpose(-1, -2)  # (T, 2, 6, 6)
        return torch.cat([e_pos, e_rot], -1), jac

    def solve(self, root_pos, root_rot, foot_pos, foot_rot, q_init) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Joint angles (T, 23) with the leg joints solved; other joints kept from q_init.

        Returns (q, position error (T, 2), rotation error (T, 2)) of the final iterate.
        """
        q = q_init.clone()
        idx = self._idx
        eye = torch.eye(self.n_leg, dtype=q.dtype, device=q.device)
        for _ in range(self.max_iter):
            err, jac = self._errors_and_jacobian(root_pos, root_rot, q, foot_pos, foot_rot)
            if (
                self.max_step is None
                and err[..., :3].norm(dim=-1).max() < 1e-10
                and err[..., 3:].norm(dim=-1).max() < 1e-9
            ):
                break  # (with max_step: a fixed number of iterations, no host synchronisation)
            jt = jac.transpose(-1, -2)
            # solve_ex: no host-side check of the (damped, positive definite) system, so the loop can be
            # captured in a CUDA graph
            dq = torch.linalg.solve_ex(jt @ jac + self.damping**2 * eye, (jt @ err.unsqueeze(-1)))[0].squeeze(-1)
            if self.max_step is not None:
                dq = dq * (self.max_step / dq.abs().amax(-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
            q[:, idx] = torch.clamp(q[:, idx] + dq, self._lower[idx], self._upper[idx])
        err, _ = self._errors_and_jacobian(root_pos, root_rot, q, foot_pos, foot_rot)
        return q, err[..., :3].norm(dim=-1), err[..., 3:].norm(dim=-1)
