"""Termination terms of HumanoidMimic.check_termination as pure functions of tensors
(docs/rewards_and_terminations.md, Terminations).

Each term returns a bool mask (N,); `failures` names the failure terms a task has switched on
(`FAILURE_CAUSES`; eval.py reports which ended each episode) and `check_termination` combines them
with the time-outs into (reset, time_out).
Time-outs (motion end, episode length) are bootstrapped by PPO; the others are failures.
Quaternions xyzw; positions and velocities world frame.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import torch

from legged_gym.simulator.base import POLICY_DT
from pose.utils.torch_utils import get_euler_xyz, quat_rotate_inverse


def torso_contact(contact_forces: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """Any termination body (torso_link) with contact-force norm > 1 N; forces (N, K, 3) or (N, 3)."""
    if contact_forces.dim() == 2:
        contact_forces = contact_forces.unsqueeze(1)
    return torch.any(torch.norm(contact_forces, dim=-1) > threshold, dim=-1)


def bad_orientation(root_quat: torch.Tensor, roll_limit: float = 1.0, pitch_limit: float = 1.0) -> torch.Tensor:
    """|roll| > 1.0 rad or |pitch| > 1.0 rad (Euler angles of the root quaternion, docs/conventions.md)."""
    roll, pitch, _ = get_euler_xyz(root_quat)
    return (torch.abs(roll) > roll_limit) | (torch.abs(pitch) > pitch_limit)


def root_height_deviation(root_pos: torch.Tensor, ref_root_pos: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """|z_root - z_ref| > 0.2 m."""
    return torch.abs(root_pos[:, 2] - ref_root_pos[:, 2]) > threshold


def motion_end(
    episode_length: torch.Tensor,
    motion_length: torch.Tensor,
    dt: float = POLICY_DT,
    start_time: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """episode_length * dt >= clip length (a time-out; headless training only): TWIST's, which plays a clip's
    length from wherever the episode started in it, so an episode started at t0 > 0 plays its last t0 s on
    the clip looped to its start. With `start_time` (N,) s, each episode's start in its clip
    (`termination.motion_end_at_clip_end`): start_time + episode_length * dt >= clip length, the clip's end."""
    played = episode_length.to(motion_length.dtype) * dt
    if start_time is not None:
        played = played + start_time
    return played >= motion_length


def episode_timeout(episode_length: torch.Tensor, max_episode_length: float) -> torch.Tensor:
    """episode_length > max_episode_length (a time-out)."""
    return episode_length > max_episode_length


def root_speed(root_lin_vel: torch.Tensor, max_speed: float = 5.0) -> torch.Tensor:
    """|root linear velocity| > 5 m/s."""
    return torch.norm(root_lin_vel, dim=-1) > max_speed


def root_drift(
    root_pos: torch.Tensor, ref_root_pos: torch.Tensor, max_drift: Union[float, torch.Tensor]
) -> torch.Tensor:
    """Horizontal (xy) distance of the root from the reference root > max_drift m (not in TWIST);
    max_drift may be a 0-dim tensor (a limit that changes during training)."""
    return torch.sum((root_pos[:, 0:2] - ref_root_pos[:, 0:2]) ** 2, dim=-1) > max_drift**2


def pose_deviation(
    key_body_pos: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    ref_key_body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
    max_dist: float = 0.7,
) -> torch.Tensor:
    """Pose termination: key bodies (N, K, 3) relative to the pelvis rotated into the robot root
    frame (FULL quaternion, unlike the yaw-only key-body reward; docs/decisions.md K2) vs the reference key
    bodies relative to the reference root rotated by R_ref^-1; fails if max_i |d_i|^2 > 0.7^2."""

    def local(p, rp, rq):
        rel = p - rp.unsqueeze(-2)
        return quat_rotate_inverse(rq.unsqueeze(-2).expand(rel.shape[:-1] + (4,)), rel)

    d = local(key_body_pos, root_pos, root_quat) - local(ref_key_body_pos, ref_root_pos, ref_root_quat)
    return torch.amax(torch.sum(d**2, dim=-1), dim=-1) > max_dist**2


#: Names of the failure terms, in the order `failures` returns them.
FAILURE_CAUSES = ("torso_contact", "orientation", "height", "root_speed", "pose", "drift")


def failures(
    torso_contact_forces: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    root_lin_vel: torch.Tensor,
    key_body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
    ref_key_body_pos: torch.Tensor,
    pose_termination: bool = True,
    contact_threshold: float = 1.0,
    roll_limit: float = 1.0,
    pitch_limit: float = 1.0,
    height_threshold: float = 0.2,
    max_root_speed: float = 5.0,
    pose_dist: float = 0.7,
    max_root_drift: Union[float, torch.Tensor] = 0.0,
) -> Dict[str, torch.Tensor]:
    """{cause: bool mask (N,)} of the failure terms that are on: torso contact, roll/pitch, height vs
    reference, root speed, pose (when `pose_termination`), horizontal root drift from the reference
    (when `max_root_drift` > 0, or a 0-dim tensor: the limit of a curriculum, applied whatever its
    value). Keys in `FAILURE_CAUSES` order."""
    out = {
        "torso_contact": torso_contact(torso_contact_forces, contact_threshold),
        "orientation": bad_orientation(root_quat, roll_limit, pitch_limit),
        "height": root_height_deviation(root_pos, ref_root_pos, height_threshold),
        "root_speed": root_speed(root_lin_vel, max_root_speed),
    }
    if pose_termination:
        out["pose"] = pose_deviation(
            key_body_pos, root_pos, root_quat, ref_key_body_pos, ref_root_pos, ref_root_quat, pose_dist
        )
    if isinstance(max_root_drift, torch.Tensor) or max_root_drift > 0:
        out["drift"] = root_drift(root_pos, ref_root_pos, max_root_drift)
    return out


def check_termination(
    episode_length: torch.Tensor,
    motion_length: torch.Tensor,
    max_episode_length: float,
    dt: float = POLICY_DT,
    motion_end_terminates: bool = True,
    motion_start_time: Optional[torch.Tensor] = None,
    **failure_args: Any,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(reset, time_out) masks (docs/rewards_and_terminations.md, Terminations).

    Failures: any of `failures(**failure_args)` (the state, the reference and the thresholds, by
    keyword). Time-outs: episode_length > max_episode_length, and motion end when
    `motion_end_terminates` (headless training; with a viewer clips loop; `motion_end` with
    `motion_start_time`). reset = failures |
    time_out, suppressed where episode_length == 0 (never true in TWIST's step order, kept).
    `motion_length` (N,) is the clip length of each env's motion; reference positions are the
    origin-shifted world reference (only z and root-relative positions are compared).
    """
    causes = failures(**failure_args)
    failed = torch.stack(list(causes.values())).any(dim=0)
    time_out = episode_timeout(episode_length, max_episode_length)
    if motion_end_terminates:
        time_out |= motion_end(episode_length, motion_length, dt, motion_start_time)
    reset = (failed | time_out) & (episode_length != 0)
    return reset, time_out
