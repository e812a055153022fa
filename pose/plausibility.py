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
import math
import warnings
from typing import List, NamedTuple, Tuple

import numpy as np

from pose.motion_errors import MotionFileWarning, file_error
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
FLOOR_RANGE = (-0.1, 0.1)
# A joint beyond its limit by more than this (rad) in more than JOINT_LIMIT_FRACTION of the frames.
JOINT_LIMIT_MARGIN = 0.2
# A joint value beyond this (rad) is no angle of a G1 joint (their ranges lie within +-2.9 rad): degrees.
JOINT_VALUE_MAX = 2.0 * np.pi
JOINT_LIMIT_FRACTION = 0.05
# Scalar-first root quaternions (check_root_rotation_order). A rotation by yaw h stored (w, x, y, z) and read
# (x, y, z, w) is (cos h/2, 0, 0, sin h/2) read as x, y, z, w: a rotation by 180 deg - h about the world x
# axis, whose up axis has z = -cos h and whose heading is 0. Near h = 0 it is upside down, from h = 90 deg
# tilted by |180 deg - h| and near h = 180 deg upright facing +x: then only the direction of travel (the
# root moves towards h) and the feet (they slide) tell. Read scalar-first, it is the upright motion again.
# Upright: the median up-axis z of a pelvis tilted by less than 20 deg in most frames (walks: > 0.99; 10 s of
# a real sprint: 0.96).
UPRIGHT_Z = 0.94
# Tilted: below this median up-axis z the pelvis is tilted by more than 32 deg in most frames (real motions
# with up to 30 deg of roll or pitch pass on the rotation alone).
TILTED_Z = 0.85
# Where the file's reading is not tilted and the scalar-first one is upright too, or no more than this less
# upright (median up-axis z), the direction of travel and the feet decide.
UPRIGHT_MARGIN = 0.05
# Heading against travel: the root's path is cut into stretches of TRAVEL_STEP m of horizontal travel; the
# mean heading within a stretch points along it within 60 deg (cosine above HEADING_COS) or against it
# beyond 120 deg. It counts when it points against travel on at least HEADING_SHARE of the stretches as read
# and along it on as many read scalar-first, and the body in contact slides more as read. Paths shorter than
# TRAVEL_MIN m are not compared.
TRAVEL_STEP = 0.2
TRAVEL_MIN = 1.0
HEADING_COS = 0.5
HEADING_SHARE = 0.75
# The body in contact (the lowest, per frame) slides by its horizontal motion to the next frame: about 0
# under the right reading of a walk, about twice the root's motion under the wrong one. One reading slides
# less than the other when, summed over the clip, it slides less than SLIP_RATIO times as far and at least
# SLIP_MIN m less, and it slides less (by over SLIP_STEP m) on at least SLIP_SHARE of the frames where the
# two differ by that much, at least SLIP_FRAMES of them (not a few jumps of a clip of noise). When that
# reading is the file's, nothing is said (a backwards walk, a cartwheel, a body lying on its side).
SLIP_MIN = 0.5
SLIP_RATIO = 0.5
SLIP_STEP = 0.001
SLIP_SHARE = 2.0 / 3.0
SLIP_FRAMES = 10
# The fix that check_root_rotation_order names besides reordering: the converter reorders on read.
CONVERT_HINT = "convert the file with `python -m pose.convert SRC DST --root-quat wxyz`"


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


def _heading(q: np.ndarray) -> np.ndarray:
    """Unit horizontal heading (the body's x axis on the floor), (T, 2), for quaternions stored (x, y, z, w);
    zero where that axis is vertical."""
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    h = np.stack([1.0 - 2.0 * (y**2 + z**2), 2.0 * (x * y + w * z)], axis=1)
    norm = np.linalg.norm(h, axis=1, keepdims=True)
    return np.where(norm > 1e-9, h / np.maximum(norm, 1e-9), 0.0)


def _travel_stretches(root_pos: np.ndarray) -> List[Tuple[int, int]]:
    """(first, last) frames of the consecutive stretches of the root's path that each end where the root is
    TRAVEL_STEP m (horizontally) from where the stretch began."""
    xs, ys = root_pos[:, 0].tolist(), root_pos[:, 1].tolist()
    out = []
    a = 0
    for t in range(1, len(xs)):
        if math.hypot(xs[t] - xs[a], ys[t] - ys[a]) >= TRAVEL_STEP:
            out.append((a, t))
            a = t
    return out


def _heading_vs_travel(root_pos: np.ndarray, q: np.ndarray, stretches: List[Tuple[int, int]]) -> Tuple[int, int]:
    """On how many `stretches` the mean heading of reading `q` points against the travel (beyond 120 deg)
    and along it (within 60 deg)."""
    cum = np.concatenate([np.zeros((1, 2)), np.cumsum(_heading(q), axis=0)])
    first = np.array([a for a, _ in stretches], dtype=int)
    last = np.array([b for _, b in stretches], dtype=int)
    heading = cum[last + 1] - cum[first]  # summed over the stretch's frames
    travel = root_pos[last, :2] - root_pos[first, :2]
    cos = np.sum(heading * travel, axis=1) / np.maximum(
        np.linalg.norm(heading, axis=1) * np.linalg.norm(travel, axis=1), 1e-12
    )
    return int(np.sum(cos < -HEADING_COS)), int(np.sum(cos > HEADING_COS))


def _contact(root_pos: np.ndarray, q: np.ndarray, local_body_pos: np.ndarray) -> Tuple[float, np.ndarray]:
    """Under the root rotations `q` (x, y, z, w): the lowest body's median height (m) and how far (m) the
    lowest body of each frame moves horizontally to the next frame (T - 1): a body standing on the floor
    does not move, so feet planted under the right reading slide under the wrong one."""
    world = root_pos[:, None] + _rotate(q, local_body_pos)
    low = world[:, :, 2].argmin(axis=1)
    t = np.arange(len(low))
    slide = np.linalg.norm(world[t[1:], low[:-1], :2] - world[t[:-1], low[:-1], :2], axis=1)
    return float(np.median(world[t, low, 2])), slide


def _slides_less(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the per-frame slides `a` of one reading are clearly less than `b` of the other (SLIP_*)."""
    total_a, total_b = float(a.sum()), float(b.sum())
    differ = np.abs(a - b) > SLIP_STEP
    less = int(np.sum(differ & (a < b)))
    return (
        total_a < SLIP_RATIO * total_b
        and total_b - total_a > SLIP_MIN
        and less >= SLIP_FRAMES
        and less >= SLIP_SHARE * int(differ.sum())
    )


class OtherReading(NamedTuple):
    """A reading of a clip's root quaternions that `check_root_rotation_order` sets against the clip's own, and
    what its messages say about it."""

    order: Tuple[int, int, int, int]  # the clip's xyzw columns that give this reading, as xyzw
    name: str  # how the messages name this reading
    looks: str  # what the quaternions look like when this reading is the upright one
    facing: int  # the heading (deg) of a clip stored so that neither reading is clearly the more upright
    evidence_note: str  # added to the error's evidence
    error_fix: str  # the fix named by the error
    warning_fix: str  # the fix named by the warning


#: The file's quaternions read scalar-first: the one mistake a file can make (the default of the check).
SCALAR_FIRST = OtherReading(
    order=(1, 2, 3, 0),
    name="read as (w, x, y, z)",
    looks="the quaternions look scalar-first (w, x, y, z)",
    facing=180,
    evidence_note="; " + CONVERT_HINT,
    error_fix="reorder them to (x, y, z, w)",
    warning_fix="{} or reorder them to (x, y, z, w)".format(CONVERT_HINT),
)
#: The stored quaternions, for a clip read with `pose.convert --root-quat wxyz` (reordered (w, x, y, z) ->
#: (x, y, z, w)): the file may have been (x, y, z, w) already.
STORED_XYZW = OtherReading(
    order=(3, 0, 1, 2),
    name="read as stored, (x, y, z, w)",
    looks="the file's quaternions look (x, y, z, w) already, not scalar-first",
    facing=0,
    evidence_note="",
    error_fix="convert it without --root-quat wxyz",
    warning_fix="convert it without --root-quat wxyz",
)


def check_root_rotation_order(
    path,
    root_pos: np.ndarray,
    root_rot: np.ndarray,
    local_body_pos: np.ndarray,
    other: OtherReading = SCALAR_FIRST,
) -> None:
    """A `root_rot` in the wrong order, told by comparing the clip's reading (x, y, z, w) with `other`: by
    default the scalar-first one (a file stored (w, x, y, z); see UPRIGHT_Z), STORED_XYZW for a clip that
    `--root-quat wxyz` reordered. MotionFileError when the pelvis is tilted in most frames (median up-axis z
    below TILTED_Z, or upside down) but upright in the other reading. When neither reading is clearly the
    more upright (a file stored facing about `other.facing` deg), a MotionFileWarning when the clip's reading
    faces against the direction of travel and the other one along it, or when the body in contact slides
    under the clip's reading but not under the other (`_contact`): a backwards walk faces against travel too,
    hence a warning. Nothing when the clip's reading stands on the floor and the other does not, or keeps
    the body in contact still where the other slides (a body lying on its side, a cartwheel, a backwards
    walk). Both name the fixes (`other.error_fix`, `other.warning_fix`)."""
    swapped_rot = root_rot[:, list(other.order)]
    read = float(np.median(_up_z(root_rot)))
    swapped = float(np.median(_up_z(swapped_rot)))
    tilted = (read < 0.0 and swapped > 0.5) or (read < TILTED_Z and swapped > UPRIGHT_Z)
    if not tilted and swapped < min(read, UPRIGHT_Z) - UPRIGHT_MARGIN:
        return
    floor_read, slide_read = _contact(root_pos, root_rot, local_body_pos)
    floor_swapped, slide_swapped = _contact(root_pos, swapped_rot, local_body_pos)
    if FLOOR_RANGE[0] <= floor_read <= FLOOR_RANGE[1] and not FLOOR_RANGE[0] <= floor_swapped <= FLOOR_RANGE[1]:
        return
    if _slides_less(slide_read, slide_swapped):
        return
    evidence = "median up-axis z {:.2f} as read, {:.2f} {}; ".format(read, swapped, other.name)
    evidence += "the lowest body slides {:.1f} m, {:.1f} m".format(slide_read.sum(), slide_swapped.sum())
    if tilted:
        tilt = math.degrees(math.acos(min(1.0, max(-1.0, read))))
        msg = "the pelvis is {} in most frames but upright {} ({}{}): {}; {}".format(
            "upside down" if tilt > 120.0 else "tilted {:.0f} deg".format(tilt),
            other.name,
            evidence,
            other.evidence_note,
            other.looks,
            other.error_fix,
        )
        raise file_error(path, "root_rot", msg)
    # Neither reading clearly the more upright: a file stored facing about other.facing reads facing about 0 deg.
    stretches = _travel_stretches(root_pos)
    against = _heading_vs_travel(root_pos, root_rot, stretches)[0]
    along = _heading_vs_travel(root_pos, swapped_rot, stretches)[1]
    if (
        len(stretches) * TRAVEL_STEP >= TRAVEL_MIN
        and min(against, along) >= HEADING_SHARE * len(stretches)
        and slide_read.sum() > slide_swapped.sum()
    ):
        found = "the pelvis faces against the direction of travel on {} of {} stretches of {} m but along it".format(
            against, len(stretches), TRAVEL_STEP
        )
        unless = "unless the clip really moves backwards (which reads the same)"
    elif _slides_less(slide_swapped, slide_read):
        found = "the body in contact with the floor slides but not"
        unless = "unless its contacts really slide"
    else:
        return
    msg = "{} {} ({}): {}, facing about {} deg; {} {}".format(
        found, other.name, evidence, other.looks, other.facing, other.warning_fix, unless
    )
    warnings.warn(str(file_error(path, "root_rot", msg)), MotionFileWarning, stacklevel=3)


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


def check_joint_units(path, dof_pos: np.ndarray) -> None:
    """MotionFileError when a joint value is beyond one turn (JOINT_VALUE_MAX): degrees, not radians."""
    largest = np.abs(dof_pos).max(axis=0)
    j = int(np.argmax(largest))
    if largest[j] > JOINT_VALUE_MAX:
        raise file_error(
            path,
            "dof_pos",
            "{} reaches {:.4g} rad, beyond one turn (the G1's joint ranges lie within +-2.9 rad): the joint "
            "values look like degrees; clips are in radians (numpy.radians)".format(load_g1().dof_names[j], largest[j]),
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


def share_beyond_limits(q: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Per column of `q` (T, J): the share of frames beyond [lower, upper] by more than JOINT_LIMIT_MARGIN;
    a share above JOINT_LIMIT_FRACTION is a joint out of its range (often a file in another joint order)."""
    return ((q < lower - JOINT_LIMIT_MARGIN) | (q > upper + JOINT_LIMIT_MARGIN)).mean(axis=0)


def warn_joint_limits(path, dof_pos: np.ndarray) -> None:
    """MotionFileWarning naming the joints beyond their limits by more than JOINT_LIMIT_MARGIN in
    more than JOINT_LIMIT_FRACTION of the frames: often a file in another joint order."""
    model = load_g1()
    share = share_beyond_limits(dof_pos, model.dof_lower, model.dof_upper)
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
    check_joint_units(path, dof_pos)
    n = root_pos.shape[0]
    frames = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_FRAMES)).astype(int))
    check_body_positions(path, dof_pos, local_body_pos, frames)
    check_root_rotation_order(path, root_pos, root_rot, local_body_pos)
    warn_floor(path, root_pos, root_rot, local_body_pos, frames)
    warn_joint_limits(path, dof_pos)
