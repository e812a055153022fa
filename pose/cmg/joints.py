"""The CMG's 29-joint state: real-robot joint order, left/right mirroring, and the 29 -> 23 mapping.

A CMG state is 58 numbers: the 29 joint positions then the 29 joint velocities, in the real G1's
motor order (`load_g1().real_motor_joints`: legs 0-11, waist 12-14, left arm 15-18, left wrist
roll/pitch/yaw 19-21, right arm 22-25, right wrist 26-28). The training model has 23 joints: the
six wrist joints are dropped (`TO_23`), and a 23-joint source gets zero wrists (`FROM_23`).

Mirroring (left <-> right) swaps every left joint with its right twin and negates the roll and yaw
joints (hip roll/yaw, ankle roll, waist yaw/roll, shoulder roll/yaw, wrist roll/yaw): pitch joints
and the knees and elbows keep their sign. A command (vx, vy, wz) mirrors to (vx, -vy, -wz).
Applied twice, the mirror is the identity.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from pose.g1_model import load_g1, twin_name

NUM_JOINTS = 29
MOTION_DIM = 2 * NUM_JOINTS  # positions, then velocities
COMMAND_DIM = 3  # vx, vy (m/s, heading frame), wz (rad/s)


def joint_names() -> Tuple[str, ...]:
    names = load_g1().real_motor_joints
    if len(names) != NUM_JOINTS:
        raise ValueError(
            "{}: real_motor_joints has {} joints, the CMG expects {}".format(
                load_g1().table_path, len(names), NUM_JOINTS
            )
        )
    return tuple(names)


def mirror_map() -> Tuple[List[int], List[float]]:
    """(permutation, signs) of the 29 joints: mirrored[i] = signs[i] * q[permutation[i]]."""
    names = joint_names()
    perm = [names.index(twin_name(n)) for n in names]
    signs = [-1.0 if ("_roll_" in n or "_yaw_" in n) else 1.0 for n in names]
    return perm, signs


def _motion_map() -> Tuple[np.ndarray, np.ndarray]:
    perm, signs = mirror_map()
    perm58 = np.array(perm + [NUM_JOINTS + p for p in perm])
    signs58 = np.array(signs + signs)
    return perm58, signs58


def mirror_motion(x):
    """Mirror states (..., 58) (numpy or torch)."""
    perm, signs = _motion_map()
    if isinstance(x, torch.Tensor):
        return x[..., torch.as_tensor(perm, device=x.device)] * torch.as_tensor(signs, dtype=x.dtype, device=x.device)
    return x[..., perm] * signs.astype(x.dtype)


COMMAND_SIGNS = np.array([1.0, -1.0, -1.0])


def mirror_command(c):
    """Mirror commands (..., 3) = (vx, vy, wz) -> (vx, -vy, -wz)."""
    if isinstance(c, torch.Tensor):
        return c * torch.as_tensor(COMMAND_SIGNS, dtype=c.dtype, device=c.device)
    return c * COMMAND_SIGNS.astype(c.dtype)


def index_23_in_29() -> List[int]:
    """For each of the 23 training joints, its index among the 29 (the wrists are dropped)."""
    names = joint_names()
    return [names.index(n) for n in load_g1().dof_names]


def wrist_indices() -> List[int]:
    keep = set(index_23_in_29())
    return [i for i in range(NUM_JOINTS) if i not in keep]


def to_23(q29):
    """(..., 29) joint values -> (..., 23) in training order (numpy or torch)."""
    idx = index_23_in_29()
    if isinstance(q29, torch.Tensor):
        return q29[..., torch.as_tensor(idx, device=q29.device)]
    return q29[..., idx]


def from_23(q23: np.ndarray, wrists: Optional[np.ndarray] = None) -> np.ndarray:
    """(T, 23) training-order joints (+ optional (T, 6) wrists in real order) -> (T, 29)."""
    out = np.zeros(q23.shape[:-1] + (NUM_JOINTS,), dtype=q23.dtype)
    out[..., index_23_in_29()] = q23
    if wrists is not None:
        out[..., wrist_indices()] = wrists
    return out
