"""Tracking metrics (evaluation, not rewards), as pure functions of tensors batched over envs.

Used by `legged_gym/scripts/eval.py` (per-step errors of every env against its reference) and
`bench/bench_sim2sim_tracking.py`. Conventions as in `mdp.terminations`: quaternions xyzw, positions
and velocities world frame, body positions (N, K, 3); the errors return one value per env (N,).

- World-frame errors compare the robot with the reference as the env stores it (shifted by the
  episode's origin), so drift of the robot in the plane counts.
- Root-relative ("local") errors compare each side relative to its own root, rotated into its own
  root frame (full root rotation): drift and heading do not count, only the pose.
"""

from __future__ import annotations


from typing import Tuple

import torch

from pose.utils.torch_utils import get_euler_xyz, quat_rotate, quat_rotate_inverse, wrap_angle, yaw_quat


def to_root_frame(points: torch.Tensor, root_pos: torch.Tensor, root_quat: torch.Tensor) -> torch.Tensor:
    """World points (N, K, 3) relative to the root (N, 3), rotated into the root frame (root_quat (N, 4))."""
    rel = points - root_pos.unsqueeze(-2)
    return quat_rotate_inverse(root_quat.unsqueeze(-2).expand(rel.shape[:-1] + (4,)), rel)


def from_root_frame(local: torch.Tensor, root_pos: torch.Tensor, root_quat: torch.Tensor) -> torch.Tensor:
    """Root-frame points (N, K, 3) in the world (the inverse of `to_root_frame`)."""
    return root_pos.unsqueeze(-2) + quat_rotate(root_quat.unsqueeze(-2).expand(local.shape[:-1] + (4,)), local)


def mean_body_distance(body_pos: torch.Tensor, ref_body_pos: torch.Tensor) -> torch.Tensor:
    """Mean over the K bodies of |p - p_ref| (N,), both (N, K, 3) in the same frame."""
    return torch.linalg.norm(body_pos - ref_body_pos, dim=-1).mean(dim=-1)


def body_error_world(body_pos: torch.Tensor, ref_body_pos: torch.Tensor) -> torch.Tensor:
    """Mean body position error (m) in the world frame: mean_k |p_k - p_ref_k| (N,)."""
    return mean_body_distance(body_pos, ref_body_pos)


def body_error_local(
    body_pos: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    ref_body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
) -> torch.Tensor:
    """Mean body position error (m), root-relative: each side relative to its root, in its root frame (N,)."""
    return mean_body_distance(
        to_root_frame(body_pos, root_pos, root_quat), to_root_frame(ref_body_pos, ref_root_pos, ref_root_quat)
    )


def joint_error(dof_pos: torch.Tensor, ref_dof_pos: torch.Tensor) -> torch.Tensor:
    """Mean absolute joint position error (rad) over the joints: mean_j |q_j - q_ref_j| (N,)."""
    return (dof_pos - ref_dof_pos).abs().mean(dim=-1)


def root_vel_error(root_lin_vel: torch.Tensor, ref_root_vel: torch.Tensor) -> torch.Tensor:
    """|v_root - v_ref| (m/s) of the world-frame root linear velocities (N,)."""
    return torch.linalg.norm(root_lin_vel - ref_root_vel, dim=-1)


def root_drift(root_pos: torch.Tensor, ref_root_pos: torch.Tensor) -> torch.Tensor:
    """Horizontal (xy) distance (m) of the robot root from the reference root (N,)."""
    return torch.linalg.norm(root_pos[..., 0:2] - ref_root_pos[..., 0:2], dim=-1)


def root_offset(root_pos: torch.Tensor, ref_root_pos: torch.Tensor, ref_root_quat: torch.Tensor) -> torch.Tensor:
    """(N, 2) the robot root's horizontal position relative to the reference root, in the reference's
    heading frame (its yaw only): (forward, left), m. Its norm is `root_drift`; a negative forward part is
    a robot behind the reference (lagging), the left part a robot beside the reference's path."""
    return heading_frame_velocity(ref_root_quat, root_pos - ref_root_pos)  # the same yaw-only rotation


def heading_error(root_quat: torch.Tensor, ref_root_quat: torch.Tensor) -> torch.Tensor:
    """|yaw - yaw_ref| (rad), wrapped to [0, pi] (N,)."""
    return wrap_angle(get_euler_xyz(root_quat)[2] - get_euler_xyz(ref_root_quat)[2]).abs()


def command_velocity_error(commands: torch.Tensor, base_lin_vel_local: torch.Tensor) -> torch.Tensor:
    """(N,) |(c_x, c_y) - (v_x, v_y)| (m/s): the horizontal pelvis velocity in the pelvis frame (what
    `rewards.tracking_cmd_vel` compares) against the command (N, 3) = (vx, vy, yaw rate)."""
    return torch.norm(commands[:, :2] - base_lin_vel_local[:, :2], dim=-1)


def heading_frame_velocity(root_quat: torch.Tensor, root_lin_vel_world: torch.Tensor) -> torch.Tensor:
    """(N, 2) horizontal (x, y) of the world-frame root linear velocity (N, 3) rotated into the root's
    heading frame (yaw only, `yaw_quat` of root_quat (N, 4) xyzw): forward and leftward speed over the
    ground, which roll and pitch of the root do not change (unlike `command_velocity_error`'s pelvis frame)."""
    return quat_rotate_inverse(yaw_quat(root_quat), root_lin_vel_world)[:, 0:2]


def command_residual(
    commands: torch.Tensor, base_quat: torch.Tensor, base_lin_vel: torch.Tensor, base_ang_vel: torch.Tensor
) -> torch.Tensor:
    """(N, 3) command (N, 3) = (vx, vy, yaw rate) minus what the pelvis does: its horizontal velocity in
    the heading frame (`heading_frame_velocity` of the world velocity that the pelvis-frame `base_lin_vel`
    (N, 3) comes from, root quaternion `base_quat` (N, 4) xyzw) and its yaw rate (`base_ang_vel` z,
    pelvis frame). Its episode mean gives the CMG tasks' metric_cmd_mean_vel_error (norm of x, y) and
    metric_cmd_mean_yaw_rate_error (|z|), in training and in scripts/eval.py alike."""
    heading_vel = heading_frame_velocity(base_quat, quat_rotate(base_quat, base_lin_vel))
    return torch.cat([commands[:, 0:2] - heading_vel, (commands[:, 2] - base_ang_vel[:, 2]).unsqueeze(-1)], dim=-1)


def mean_command_errors(residual_sum: torch.Tensor, steps: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(|episode mean of the (vx, vy) residual| (m/s), |episode mean of the yaw-rate residual| (rad/s)), (n,)
    each, of `command_residual` sums (n, 3) over `steps` (n,) steps (at least 1): metric_cmd_mean_vel_error
    and metric_cmd_mean_yaw_rate_error per env, in training and in scripts/eval.py alike."""
    mean = residual_sum / steps.clamp_min(1).unsqueeze(-1).to(residual_sum.dtype)
    return mean[:, 0:2].norm(dim=-1), mean[:, 2].abs()
