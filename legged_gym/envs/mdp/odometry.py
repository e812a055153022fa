"""Odometry for the student's drift feedback (`motion.student_ref_correction`; not in TWIST).

The teacher's drift feedback (`mdp.drift_feedback`) reads the robot's world position, which only a
simulator knows. A student that gets the same feedback in its reference block needs that position on
the robot too: dead reckoning from an estimate of the base velocity (the student's state estimator,
`policy.estimator_fields = ["base_lin_vel"]`) and the IMU's orientation,

    p_xy <- p_xy + dt * (R(q) v_base)_xy

started where the robot starts its reference (the reference is placed there: docs/observations.md).
The error of such an estimate grows with time; `legged_gym/scripts/eval.py --set
motion.student_odometry=estimate` measures what it costs (docs/rewards_and_terminations.md#drift-feedback).
"""

from __future__ import annotations

import torch

from pose.utils.torch_utils import quat_rotate


def from_estimate(motion_cfg) -> bool:
    """Whether the student's drift feedback reads the dead-reckoned position (`motion.student_ref_correction`
    with `motion.student_odometry = "estimate"`): then the env needs `advance_odometry` every step."""
    return bool(motion_cfg.student_ref_correction) and motion_cfg.student_odometry == "estimate"


def integrate_xy(pos_xy: torch.Tensor, base_quat: torch.Tensor, base_lin_vel: torch.Tensor, dt: float) -> torch.Tensor:
    """The horizontal position (..., 2) after `dt` seconds at the base-frame velocity `base_lin_vel`
    (..., 3), the base's orientation `base_quat` (..., 4) xyzw held over the step (forward Euler)."""
    return pos_xy + dt * quat_rotate(base_quat, base_lin_vel)[..., :2]
