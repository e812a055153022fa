"""Drift feedback in the reference (`motion.ref_correction`; not in TWIST; docs/rewards_and_terminations.md).

TWIST's policies see the reference's velocity but not where the reference is: a robot that lags a walk
by a metre sees the same observation as one on the reference, so world-frame drift is neither
observable nor rewarded and grows without limit. With drift feedback the reference root velocity the
policy sees (every future frame) and the target of the `tracking_root_vel` reward get a proportional
correction towards the reference root, as a position loop around a velocity command:

    v = v_ref + g * pos_gain * (p_ref - p)_xy        (the added speed capped at max_speed)
    w_z = w_ref,z + g * yaw_gain * wrap(yaw_ref - yaw) (the added yaw rate capped at +-max_yaw_rate)

with g = 1, or with `full_speed` > 0 g = min(1, |v_ref,xy| / full_speed): the correction fades out
where the reference stands, so a reference at rest is not turned into a walk towards it (the
drift-feedback teachers fall mostly in the idle phases of the clips; docs/tracking_quality.md).

The robot's world position is known in simulation only: use it for the privileged teacher. A student
trained with it needs the same feedback on the robot (an odometry estimate); with gains 0 (the
default) nothing changes.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from pose.utils.torch_utils import get_euler_xyz, wrap_angle

#: the settings of `motion.ref_correction` that shape the feedback (a student export's `drift_feedback`)
SETTINGS = ("pos_gain", "yaw_gain", "max_speed", "max_yaw_rate", "full_speed")


def drift_feedback(
    ref_root_pos: torch.Tensor,
    ref_root_rot: torch.Tensor,
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    pos_gain: float,
    yaw_gain: float,
    max_speed: float,
    max_yaw_rate: float,
    full_speed: float = 0.0,
    ref_root_vel: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(linear, angular) world-frame velocities (..., 3) to add to the reference's root velocities.

    ref_root_pos / root_pos (..., 3) world positions, ref_root_rot / root_rot (..., 4) xyzw;
    ref_root_vel (..., 3) the reference's own velocity (needed with `full_speed` > 0). The linear
    part is horizontal (z 0), the angular part about the world z axis (x, y 0)."""
    err_xy = ref_root_pos[..., :2] - root_pos[..., :2]
    lin_xy = pos_gain * err_xy
    speed = lin_xy.norm(dim=-1, keepdim=True)
    lin_xy = lin_xy * (max_speed / speed.clamp_min(1e-9)).clamp(max=1.0)
    yaw_err = wrap_angle(get_euler_xyz(ref_root_rot)[2] - get_euler_xyz(root_rot)[2])
    yaw_rate = (yaw_gain * yaw_err).clamp(-max_yaw_rate, max_yaw_rate)
    if full_speed > 0.0:
        if ref_root_vel is None:
            raise ValueError("drift_feedback: full_speed > 0 needs ref_root_vel")
        gate = (ref_root_vel[..., :2].norm(dim=-1) / full_speed).clamp(max=1.0)
        lin_xy = lin_xy * gate.unsqueeze(-1)
        yaw_rate = yaw_rate * gate
    zeros = torch.zeros_like(yaw_rate)
    lin = torch.cat([lin_xy, zeros.unsqueeze(-1)], dim=-1)
    ang = torch.stack([zeros, zeros, yaw_rate], dim=-1)
    return lin, ang
