"""Odometry for the student's drift feedback (`motion.student_ref_correction`; not in TWIST).

The teacher's drift feedback (`mdp.drift_feedback`) reads the robot's world position, which only a
simulator knows. A student that gets the same feedback in its reference block needs that position on
the robot too: dead reckoning from an estimate of the base velocity (the student's state estimator,
`policy.estimator_fields = ["base_lin_vel"]`) and the IMU's orientation,

    p_xy <- p_xy + dt * (R(q) v_base)_xy

started where the robot starts its reference (the reference is placed there: docs/observations.md).
The error of such an estimate grows with time; `legged_gym/scripts/eval.py --set
motion.student_odometry=estimate` measures what it costs (docs/rewards_and_terminations.md#drift-feedback).
`LegOdometry` (`motion.student_odometry = "legs"`) takes the velocity from the legs' kinematics where a foot
stands, and the estimate elsewhere. `DeadReckoning` feeds an env the velocity its config asks for, every step.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from pose.kinematics import FootGeometry
from pose.utils.torch_utils import quat_rotate, quat_rotate_inverse

#: the values of motion.student_odometry
ODOMETRY_SOURCES = ("simulator", "estimate", "legs")
#: m/s: how close the legs' velocity must lie to the estimate to be used (motion.leg_odometry_gate's default,
#: the deploy servers' --leg_odometry; measured: docs/tracking_quality.md)
LEG_ODOMETRY_GATE = 0.3


def from_estimate(motion_cfg) -> bool:
    """Whether the student's drift feedback reads the dead-reckoned position (`motion.student_ref_correction`
    with `motion.student_odometry = "estimate"` or `"legs"`): then the env needs `advance_odometry` every step."""
    return bool(motion_cfg.student_ref_correction) and motion_cfg.student_odometry in ("estimate", "legs")


def integrate_xy(pos_xy: torch.Tensor, base_quat: torch.Tensor, base_lin_vel: torch.Tensor, dt: float) -> torch.Tensor:
    """The horizontal position (..., 2) after `dt` seconds at the base-frame velocity `base_lin_vel`
    (..., 3), the base's orientation `base_quat` (..., 4) xyzw held over the step (forward Euler)."""
    return pos_xy + dt * quat_rotate(base_quat, base_lin_vel)[..., :2]


def leg_odometry_step(
    geometry: FootGeometry,
    dt: float,
    gate: float,
    base_quat: torch.Tensor,
    dof_pos: torch.Tensor,
    estimate: torch.Tensor,
    sole_before: torch.Tensor,
    valid_before: torch.Tensor,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of `LegOdometry` as a pure function (the deploy servers compile it): base_quat (N, 4) xyzw,
    dof_pos (N, 23), estimate (N, 3), the step before's sole points (N, E, 3) and whether they count (N,) 1/0
    -> (velocity (N, 3), sole points now (N, E, 3), 1 where the legs' velocity was taken (N,), 1 where the
    sole points now are finite (N,))."""
    sole = geometry.foot_fixed_sole_points(torch.zeros_like(base_quat[:, :3]), base_quat, dof_pos)
    stance = sole_before[..., 2].argmin(-1)  # the lowest point of the step before
    index = stance[:, None, None].expand(-1, 1, 3)
    moved = torch.gather(sole_before, 1, index)[:, 0] - torch.gather(sole, 1, index)[:, 0]
    legs = quat_rotate_inverse(base_quat, moved / dt)
    near = (legs - estimate)[:, :2].norm(dim=-1) < gate  # False for NaN
    from_legs = near & (valid_before > 0.5)
    valid = torch.isfinite(sole).flatten(1).to(sole.dtype).min(dim=1).values
    return torch.where(from_legs[:, None], legs, estimate), sole, from_legs.to(sole.dtype), valid


class LegOdometry:
    """The base velocity from the legs' kinematics, checked against the learned estimate (`motion.student_odometry
    = "legs"`; the deploy servers' --leg_odometry compile the same step, `leg_odometry_step`).

    Every step the sole points of both feet (`pose.kinematics.FootGeometry.foot_fixed_sole_points`: the foot
    capsules' end bottoms, points fixed on the feet, which stand still while a foot rolls over them) are placed
    relative to the pelvis by forward kinematics of the joint positions and turned into the world's axes by the
    IMU's orientation, s_t = R_t FK(q_t). The point lowest at the step before is taken to have stood still on
    the ground over the step, so the pelvis moved by minus its displacement:

        v = R_t^T (s_{t-1} - s_t) / dt        (base frame; the velocity over the step just made)

    A slipping foot, both feet off the ground (running), a reset: there this velocity is wrong, and it then
    differs from the learned estimate. Within `gate` m/s of it (horizontal norm) the legs' velocity is used,
    else the estimate, which is also what the first step after `reset` and a non-finite joint position give.
    `from_legs` (N,) says which envs took the legs' velocity in the last step."""

    def __init__(self, num_envs: int, dt: float, gate: float, device="cpu", dtype=torch.float32) -> None:
        self.dt, self.gate = float(dt), float(gate)
        self.geometry = FootGeometry(device=device, dtype=dtype)
        self.dtype = dtype
        self._sole = torch.zeros(num_envs, len(self.geometry.foot_of), 3, device=device, dtype=dtype)  # s_{t-1}
        self._valid = torch.zeros(num_envs, device=device, dtype=dtype)  # 1: s_{t-1} counts
        self.from_legs = torch.zeros(num_envs, dtype=torch.bool, device=device)

    def reset(self, env_ids: Optional[torch.Tensor] = None) -> None:
        """Forget the step before (all envs, or `env_ids`): their next step uses the estimate."""
        if env_ids is None:
            self._valid.zero_()
        else:
            self._valid[env_ids] = 0.0

    def velocity(self, base_quat: torch.Tensor, dof_pos: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        """(N, 3) base-frame velocity: the legs' where it lies within `gate` of `estimate` (N, 3), else
        `estimate`. base_quat (N, 4) xyzw, dof_pos (N, 23) in training order."""
        velocity, self._sole, from_legs, self._valid = leg_odometry_step(
            self.geometry,
            self.dt,
            self.gate,
            base_quat.to(self.dtype),
            dof_pos.to(self.dtype),
            estimate.to(self.dtype),
            self._sole,
            self._valid,
        )
        self.from_legs = from_legs > 0.5
        return velocity


class DeadReckoning:
    """The velocity a dead-reckoned student's feedback integrates (`from_estimate`), given to `env` every step:
    `estimator(obs)` (N, 3), checked against the legs' kinematics first where `env.cfg.motion.student_odometry`
    is "legs" (`LegOdometry` with `motion.leg_odometry_gate`; `from_legs` then says which envs took the legs')."""

    def __init__(self, env, estimator) -> None:
        self.env, self.estimator = env, estimator
        motion = env.cfg.motion
        self.legs: Optional[LegOdometry] = None
        if motion.student_odometry == "legs":
            self.legs = LegOdometry(env.num_envs, env.dt, float(motion.leg_odometry_gate), env.device)

    @property
    def from_legs(self) -> Optional[torch.Tensor]:
        return None if self.legs is None else self.legs.from_legs

    def advance(self, obs: torch.Tensor) -> torch.Tensor:
        """`env.advance_odometry` with this step's velocity (N, 3), which it returns."""
        velocity = self.estimator(obs)
        if self.legs is not None:
            velocity = self.legs.velocity(self.env.base_quat, self.env.dof_pos, velocity)
        self.env.advance_odometry(velocity)
        return velocity
