"""Checks that a clip of the right shapes also means what the format says (docs/motion_data.md,
Validation): files from other tools pass every shape check and still load wrong when their root
quaternion is scalar-first, their positions are in centimetres, their `local_body_pos` was written in
another frame or their joint columns are in another order. `validate_clip` runs `check_clip` on every
clip it reads.

Errors (MotionFileError) are for readings no real motion has; warnings (MotionFileWarning) for
readings that a real motion may have but that usually mean a wrong file.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from pose.formats import MotionFileWarning, file_error
from pose.g1_model import load_g1

# Frames looked at by the checks that need forward kinematics (spread over the clip).
SAMPLE_FRAMES = 20
# A median root height above this is not metres (a standing G1's pelvis is at 0.79 m).
ROOT_HEIGHT_MAX = 5.0
# Mean distance (m) between `local_body_pos` and forward kinematics of `dof_pos`: above the error
# bound the file's bodies are in another frame or order; above the warning bound they are another
# model's (0 for clips of this model and for TWIST's own).
BODY_MISMATCH_WARN = 0.02
BODY_MISMATCH_MAX = 0.10
# The lowest motion body's median height (m) outside this range: the floor is not at z = 0
# (0.001-0.006 m for retargeted walks, runs and sprints).
FLOOR_RANGE = (-0.1, 0.3)
# A joint beyond its limit by more than this (rad) in more than JOINT_LIMIT_FRACTION of the frames.
JOINT_LIMIT_MARGIN = 0.2
JOINT_LIMIT_FRACTION = 0.05


def _up_z(q: np.ndarray) -> np.ndarray:
    """World z of the body's up axis for quaternions stored (x, y, z, w)."""
    return 1.0 - 2.0 * (q[:, 0] ** 2 + q[:, 1] ** 2)


def _rotate(q_xyzw: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (T, K, 3) by quaternions (T, 4) xyzw."""
    xyz, w = q_xyzw[:, None, :3], q_xyzw[:, None, 3:]
    t = 2.0 * np.cross(xyz, v)
    return v + w * t + np.cross(xyz, t)


@functools.lru_cache(maxsize=None)
def _fk():
    import torch

    from pose.kinematics import ForwardKinematics

    return ForwardKinematics(dtype=torch.float64)


def check_root_rotation_order(path, root_rot: np.ndarray) -> None:
    """MotionFileError when the root is upside down in most frames but would be upright read
    scalar-first: a `root_rot` stored (w, x, y, z)."""
    read = float(np.median(_up_z(root_rot)))
    swapped = float(np.median(_up_z(root_rot[:, [1, 2, 3, 0]])))
    if read < 0.0 and swapped > 0.5:
        raise file_error(
            path,
            "root_rot",
            "the pelvis is upside down in most frames (median up-axis z {:.2f}) but upright read as (w, x, y, z) "
            "(median {:.2f}): the quaternions look scalar-first; clips store them (x, y, z, w)".format(read, swapped),
        )


def check_root_units(path, root_pos: np.ndarray) -> None:
    """MotionFileError when the root height cannot be in metres."""
    height = float(np.median(root_pos[:, 2]))
    if height > ROOT_HEIGHT_MAX:
        raise file_error(
            path,
            "root_pos",
            "median root height {:.4g} m (a standing G1's pelvis is at about 0.8 m): positions look like "
            "centimetres or millimetres; clips are in metres".format(height),
        )


def check_body_positions(path, dof_pos: np.ndarray, local_body_pos: np.ndarray, frames: np.ndarray) -> None:
    """`local_body_pos` against forward kinematics of `dof_pos` on `frames`: MotionFileError above
    BODY_MISMATCH_MAX (mean over frames and bodies), a MotionFileWarning above BODY_MISMATCH_WARN."""
    import torch

    with torch.no_grad():
        ours = _fk().local_body_pos(torch.from_numpy(dof_pos[frames].astype(np.float64))).numpy()
    dist = np.linalg.norm(ours - local_body_pos[frames], axis=2)  # (F, 38)
    mean = float(dist.mean())
    if mean <= BODY_MISMATCH_WARN:
        return
    worst = load_g1().motion_bodies[int(dist.mean(axis=0).argmax())]
    msg = (
        "{:.3f} m on average (most at {}, {:.3f} m) from where forward kinematics of dof_pos puts the bodies; "
        "recompute it with `python -m pose.convert {} OUT.pkl`".format(
            mean, worst, float(dist.mean(axis=0).max()), path
        )
    )
    if mean > BODY_MISMATCH_MAX:
        raise file_error(path, "local_body_pos", msg + " (a frame other than the root's, or another body order?)")
    warnings.warn(str(file_error(path, "local_body_pos", msg)), MotionFileWarning, stacklevel=3)


def warn_floor(path, root_pos, root_rot, local_body_pos, frames: np.ndarray) -> None:
    """MotionFileWarning when the lowest body's median height says the floor is not at z = 0."""
    world = root_pos[frames, None] + _rotate(root_rot[frames], local_body_pos[frames])
    lowest = float(np.median(world[:, :, 2].min(axis=1)))
    if not FLOOR_RANGE[0] <= lowest <= FLOOR_RANGE[1]:
        msg = "the lowest body's median height is {:.3f} m, expected the floor at z = 0 (about 0); ".format(lowest)
        msg += "shift root_pos z or set motion.height_offset"
        warnings.warn(str(file_error(path, "root_pos", msg)), MotionFileWarning, stacklevel=3)


def warn_joint_limits(path, dof_pos: np.ndarray) -> None:
    """MotionFileWarning naming the joints beyond their limits by more than JOINT_LIMIT_MARGIN in
    more than JOINT_LIMIT_FRACTION of the frames: often a file in another joint order."""
    model = load_g1()
    beyond = (dof_pos < model.dof_lower - JOINT_LIMIT_MARGIN) | (dof_pos > model.dof_upper + JOINT_LIMIT_MARGIN)
    share = beyond.mean(axis=0)
    bad = np.flatnonzero(share > JOINT_LIMIT_FRACTION)
    if bad.size:
        joints = ", ".join(
            "{} ({:.0f} % of frames, range {:.2f}..{:.2f} rad)".format(
                model.dof_names[j], 100 * share[j], dof_pos[:, j].min(), dof_pos[:, j].max()
            )
            for j in bad
        )
        msg = "joints beyond the G1's limits by more than {} rad: {}; are the columns in training order? ".format(
            JOINT_LIMIT_MARGIN, joints
        )
        msg += "(docs/motion_data.md, Joint order of other tools)"
        warnings.warn(str(file_error(path, "dof_pos", msg)), MotionFileWarning, stacklevel=3)


def check_clip(path, root_pos, root_rot, dof_pos, local_body_pos) -> None:
    """Every check above on a clip whose shapes are valid (float64 arrays, unit quaternions, bodies in
    model order)."""
    check_root_units(path, root_pos)
    check_root_rotation_order(path, root_rot)
    n = root_pos.shape[0]
    frames = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_FRAMES)).astype(int))
    check_body_positions(path, dof_pos, local_body_pos, frames)
    warn_floor(path, root_pos, root_rot, local_body_pos, frames)
    warn_joint_limits(path, dof_pos)
