"""Readers of retargeted G1 motion files of other projects: each format to the canonical 23-DOF TWIST clip
(docs/motion_data.md, Converters). `python -m pose.convert` writes what they read.

Source formats (detected from the suffix and the keys by `detect_format`):

  lafan_csv        Unitree LAFAN1-style CSV, no header, 36 columns per frame: root xyz, root quat
                   xyzw, 29 joints in real-robot order. No fps in the file: 30 Hz or `src_fps`.
  beyondmimic_npz  BeyondMimic/holosoma NPZ: `fps`, `joint_pos` = root xyz + root quat wxyz + joints
                   (or only the joints, the root then a body of `body_pos_w` / `body_quat_w` wxyz,
                   `root_body_index`), or holosoma's `qpos` (T, 36) (MuJoCo's: always with the root);
                   `joint_names` (optional) gives the joint order, checked against
                   the bodies, else real-robot order with the root columns, or without them the order
                   (real-robot or Isaac Lab's) whose forward kinematics matches `body_pos_w`
                   (`joint_order_from_bodies`).
  amass_npz        AMASS-retargeted G1 NPZ: `fps`, `dof_names`, `dof_positions` (T, J),
                   `body_names` (optional), `body_positions` (T, B, 3), `body_rotations` (T, B, 4)
                   wxyz; the root is the body named `pelvis` (`root_body_index` without names).
  twist29_pkl      TWIST/GMR clip (`fps`, `root_pos`, `root_rot` xyzw, `dof_pos` (T, 29) in real-robot
                   order, (T, 43) GMR's G1 with hands, or (T, 23)); `joint_names` / `dof_names` when
                   present give the order; `.pkl` (restricted unpickler) or `.npz`.
  phc_pkl          PHC / ASAP / PBHC motion `.pkl` (pickle or joblib dump): one motion or a dict of
                   motions by name, each `fps`, `root_trans_offset` (or `root_trans`, `root_pos`),
                   `root_rot` (or `root_quat`) xyzw, `dof` (or `dof_pos`) (T, 29) real-robot order or
                   (T, 23) training order, or named as for twist29_pkl (`read_clips` gives every
                   motion, by name).

Unnamed joint columns are read by their count: 29 real-robot order, or Isaac Lab's with `joint_order`
"isaaclab" (`_order_of_29`, which refuses columns that break the joint limits only in the real-motor
order); 43 GMR's `unitree_g1_with_hands`
(`g1_with_hands_joint_order`: the hand joints dropped, with a warning); 23 TWIST's training order or Unitree's
23-DOF G1's (`unitree_23dof_joint_order`, GMR's `unitree_g1_23dof`), which `_order_of_23` tells apart by the
file's bodies (`local_body_pos`, or an AMASS-G1 file's world bodies), else by `joint_order` (`--joint-order`),
else refuses (PHC-style files: the training order). A motion of Unitree's 23-DOF G1 has no waist roll or
pitch: they are 0, with a warning (`training_angles`). `.npz` name arrays saved with dtype=object are read
(`pose.formats.read_npz`).

`root_quat` (`--root-quat`, ROOT_QUAT_ORDERS) is the order of a root quaternion stored where the format says
xyzw (lafan_csv, twist29_pkl, phc_pkl): "wxyz" for files written scalar-first, reordered to xyzw on read
(`root_quat_xyzw`) before anything else, the clip then checked against the file's quaternions read as stored
(`make_clip`: a file that was xyzw after all is refused or warned about); the formats that store it wxyz
(beyondmimic_npz, amass_npz) read it so already and refuse "wxyz" (`_refuse_root_quat`).

For every format joints are mapped by name onto the 23 training joints (the six wrist joints,
and any other non-training joint, are dropped; docs/conventions.md, Joint order), the root
quaternion is normalised by
`pose.formats.normalise_quaternions` (a warning when a norm is more than 0.1 % off 1, an error when
more than 10 %, zero or not finite) and stored xyzw, `fps` may be any positive float, `fps=`
resamples (root position and joints lerped, root rotation slerped, duration kept:
floor(duration * fps) + 1 frames) and `local_body_pos` is recomputed by forward kinematics.
A file given with an `fps` of its own keeps it unless `src_fps` overrides it.
Every problem raises `MotionFileError` naming the file, the key or column, and what was expected.
"""

from __future__ import annotations

import functools
import math
import re
import shlex
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from pose.formats import (
    MotionFileError,
    MotionFileWarning,
    body_names,
    file_error,
    joint_name,
    normalise_quaternions,
    open_npz,
    read_npz,
    read_pickle,
    smpl_hint,
    validate_clip,
)
from pose.g1_model import load_g1
from pose.kinematics import ForwardKinematics
from pose.utils.torch_utils import normalize, quat_rotate_inverse, slerp

FORMATS = ("lafan_csv", "beyondmimic_npz", "amass_npz", "twist29_pkl", "phc_pkl")
SUFFIXES = {
    "lafan_csv": (".csv",),
    "beyondmimic_npz": (".npz",),
    "amass_npz": (".npz",),
    "twist29_pkl": (".pkl", ".npz"),
    "phc_pkl": (".pkl",),
}
LAFAN_FPS = 30.0
ROOT_COLUMNS = ("root_x", "root_y", "root_z", "root_qx", "root_qy", "root_qz", "root_qw")


# --- shared steps ------------------------------------------------------------------------------------


def training_columns(names: Sequence[str], path="<clip>", key="joint_names") -> List[int]:
    """For each of the 23 training joints (`load_g1().dof_names`), its column among `names`.

    Names are matched with or without the `_joint` suffix; names of other G1 joints (the six wrist
    joints of the 29-motor order, hand joints) are accepted and dropped; unknown, duplicate or missing names
    raise a MotionFileError naming `path` and `key`.
    """
    model = load_g1()
    known = set(model.real_motor_joints) | {b.joint.name for b in model.bodies if b.joint is not None}
    full = [joint_name(n) for n in names]
    unknown = [str(n) for n, f in zip(names, full) if f not in known]
    if unknown:
        raise file_error(
            path,
            key,
            "unknown joint names {} (expected G1 joint names, with or without '_joint', e.g. {})".format(
                unknown, list(model.real_motor_joints)
            ),
        )
    dups = sorted({f for f in full if full.count(f) > 1})
    if dups:
        raise file_error(path, key, "joint names given more than once: {}".format(dups))
    missing = [n for n in model.dof_names if n not in full]
    if missing:
        raise file_error(
            path,
            key,
            "missing training joints {} (a clip needs the {} joints {})".format(
                missing, model.num_dofs, list(model.dof_names)
            ),
        )
    return [full.index(n) for n in model.dof_names]


# The training joints that Unitree's 23-DOF G1 does not have (its waist turns in yaw only): a motion of that
# robot holds them at 0.
UNITREE_23DOF_ABSENT = ("waist_roll_joint", "waist_pitch_joint")


def training_angles(q: np.ndarray, names: Sequence[str], path="<clip>", key="joint_names", warn=True) -> np.ndarray:
    """The (T, 23) training-order angles of the joint columns `q` named `names` (`training_columns`). A motion
    of Unitree's 23-DOF G1, which lacks both UNITREE_23DOF_ABSENT joints, gets them at 0, with a
    MotionFileWarning naming `path` and `key` when `warn`."""
    full = [joint_name(n) for n in names]
    absent = [n for n in UNITREE_23DOF_ABSENT if n not in full]
    if len(absent) == len(UNITREE_23DOF_ABSENT):
        if warn:
            msg = "no {} (a motion of Unitree's 23-DOF G1, whose waist turns in yaw only): set to 0".format(
                " or ".join(absent)
            )
            warnings.warn(str(file_error(path, key, msg)), MotionFileWarning, stacklevel=2)
        q = np.concatenate([q, np.zeros((len(q), len(absent)))], axis=1)
        names = full + absent
    return q[:, training_columns(names, path, key)]


@functools.lru_cache(maxsize=None)
def unitree_23dof_joint_order() -> Tuple[str, ...]:
    """The joints of Unitree's 23-DOF G1 in its model's order, as GMR's `unitree_g1_23dof` writes `dof_pos`:
    the 12 leg joints, waist yaw, then per arm (left, right) shoulder pitch, roll, yaw, elbow and wrist roll."""
    arm = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll")
    real = load_g1().real_motor_joints
    legs_waist = real[: real.index("waist_yaw_joint") + 1]
    return legs_waist + tuple("{}_{}_joint".format(side, j) for side in ("left", "right") for j in arm)


# GMR's `unitree_g1_with_hands` (Dex3 hands): each hand's joints, in its model's order, follow that arm's wrist.
HAND_JOINTS = ("thumb_0", "thumb_1", "thumb_2", "middle_0", "middle_1", "index_0", "index_1")


@functools.lru_cache(maxsize=None)
def g1_with_hands_joint_order() -> Tuple[str, ...]:
    """The 43 joints of the G1 with Dex3 hands, as GMR's `unitree_g1_with_hands` writes `dof_pos`: the 29
    motors in real-motor order, each arm's 7 hand joints (HAND_JOINTS) after its wrist yaw."""
    real = load_g1().real_motor_joints
    split = real.index("left_wrist_yaw_joint") + 1

    def hand(side):
        return tuple("{}_hand_{}_joint".format(side, j) for j in HAND_JOINTS)

    return real[:split] + hand("left") + real[split:] + hand("right")


# The orders of 23 unnamed joint columns, by the name `--joint-order` gives them.
JOINT_ORDERS_23 = ("training", "unitree23")
# The orders of 29 unnamed joint columns, by the name `--joint-order` gives them: the real-motor order (the
# robot's, MuJoCo's, mjlab's; the default) and Isaac Lab's (`isaac_lab_joint_order`).
JOINT_ORDERS_29 = ("real", "isaaclab")


def joint_orders_23() -> Dict[str, Tuple[str, ...]]:
    """The orders (JOINT_ORDERS_23 label -> joint names) that 23 unnamed joint columns may be in: TWIST's
    training order and Unitree's 23-DOF G1's."""
    return {"training": load_g1().dof_names, "unitree23": unitree_23dof_joint_order()}


# The orders a root quaternion stored where the format says xyzw may really be in, as `--root-quat` names them.
ROOT_QUAT_ORDERS = ("xyzw", "wxyz")
# The formats whose root quaternion is xyzw by definition, which `--root-quat wxyz` reorders.
XYZW_FORMATS = ("lafan_csv", "twist29_pkl", "phc_pkl")


def _check_root_quat(path, root_quat: str) -> None:
    if root_quat not in ROOT_QUAT_ORDERS:
        raise file_error(
            path, "--root-quat", "expected one of {}, got {!r}".format(", ".join(ROOT_QUAT_ORDERS), root_quat)
        )


def root_quat_xyzw(q: np.ndarray, root_quat: str, path) -> np.ndarray:
    """The root quaternions `q` (T, 4) of a format that stores them xyzw, as xyzw: as stored for `root_quat`
    "xyzw", reordered from (w, x, y, z) for "wxyz" (a file written scalar-first; `--root-quat wxyz`)."""
    _check_root_quat(path, root_quat)
    return q[:, [1, 2, 3, 0]] if root_quat == "wxyz" else q


def _refuse_root_quat(path, root_quat: str, fmt: str) -> None:
    """MotionFileError naming `--root-quat` when `root_quat` is "wxyz" for the format `fmt`, whose root
    quaternion is wxyz by definition and read so."""
    _check_root_quat(path, root_quat)
    if root_quat != "xyzw":
        raise file_error(
            path,
            "--root-quat",
            "{} is for files of the formats that store the root quaternion xyzw ({}) written scalar-first; "
            "this {} file already stores it wxyz, as its format says, and is read so: leave --root-quat out".format(
                root_quat, ", ".join(XYZW_FORMATS), fmt
            ),
        )


def _default_joint_names(n_joints: int, path, key) -> Tuple[str, ...]:
    """Joint order of a file that names none, by its column count: real-robot order (29), GMR's G1 with hands
    (43: a MotionFileWarning says that the hand joints are dropped). 23 columns: `_order_of_23`."""
    model = load_g1()
    if n_joints == len(model.real_motor_joints):
        return model.real_motor_joints
    hands = g1_with_hands_joint_order()
    if n_joints == len(hands):
        msg = "{} joint columns without names: read as GMR's unitree_g1_with_hands (the 29 motors, 7 hand joints "
        msg += "after each wrist); the {} hand joints are dropped"
        dropped = len(hands) - len(model.real_motor_joints)
        warnings.warn(str(file_error(path, key, msg.format(n_joints, dropped))), MotionFileWarning, stacklevel=2)
        return hands
    raise file_error(
        path,
        key,
        "expected {} joints (real-robot order), {} (training order or Unitree's 23-DOF G1) or {} (G1 with hands), "
        "got {}".format(len(model.real_motor_joints), model.num_dofs, len(hands), n_joints),
    )


@functools.lru_cache(maxsize=None)
def isaac_lab_joint_order() -> Tuple[str, ...]:
    """The 29 motors in the order an Isaac Lab articulation of the G1 lists them: breadth-first over the
    kinematic tree, children in the tree's order, fixed links merged into their parent. BeyondMimic's
    `csv_to_npz.py` writes `joint_pos` (without names) in this order; MuJoCo, mjlab and the robot use
    the real-motor order (`load_g1().real_motor_joints`)."""
    model = load_g1()
    motors = set(model.real_motor_joints)
    children: dict = {}
    for b in model.bodies:
        children.setdefault(b.parent, []).append(b)

    def moving_children(body) -> list:
        out = []
        for child in children.get(body.name, []):
            moving = child.joint is not None and child.joint.name in motors
            out.extend([child] if moving else moving_children(child))
        return out

    order: List[str] = []
    queue = list(children[None])
    while queue:
        body = queue.pop(0)
        if body.joint is not None and body.joint.name in motors:
            order.append(body.joint.name)
        queue.extend(moving_children(body))
    return tuple(order)


# Largest mean distance (m) between the G1's jointed links placed from a clip's joints and the file's bodies
# for the joint order to be accepted (the right order: the differences between G1 model descriptions, 0 for
# this model; a wrong one: 6-8 cm on the tests' motions, standing included).
BODY_FIT_TOLERANCE = 0.03
# Largest mean distance (m) between a file's bodies and the links placed from its named joints and root: a
# wrong root body, quaternion order or joint naming puts them decimetres to metres off.
BODY_MISMATCH_MAX = 0.10
# Least margin (m) by which the best joint order must fit the bodies better than every other: a motion that
# moves too little to tell two orders apart (both fit as well) is refused rather than read in either, unless
# both give it the same angles (SAME_ANGLES_RAD).
BODY_ORDER_MARGIN = 0.01
# Largest difference (rad) between the training angles of two joint orders that fit alike for which either is
# taken (the best fit): the clip is then the same under both (a motion near the zero pose).
SAME_ANGLES_RAD = 0.02


def _joint_order_candidates() -> Dict[str, Tuple[str, ...]]:
    return {"real-motor": load_g1().real_motor_joints, "Isaac Lab": isaac_lab_joint_order()}


def bodies_in_root_frame(body_pos: np.ndarray, body_quat_wxyz: np.ndarray, root: int) -> np.ndarray:
    """(T, B, 3) positions of a file's bodies relative to its root body `root`, in the root's frame (as a
    clip's `local_body_pos`); `body_quat_wxyz` the bodies' rotations, wxyz."""
    root_quat = normalize(torch.from_numpy(body_quat_wxyz[:, root][:, [1, 2, 3, 0]])).unsqueeze(1)
    rel = torch.from_numpy(body_pos - body_pos[:, root : root + 1])
    return quat_rotate_inverse(root_quat.expand(rel.shape[:2] + (4,)), rel).numpy()


def _body_fits(q: np.ndarray, local_bodies: np.ndarray, orders: dict, path, key) -> Dict[str, float]:
    """For each joint order of `orders` (label -> names of the columns of `q`), the mean distance (m)
    between the G1's jointed links placed by forward kinematics and the file's bodies `local_bodies`
    (relative to the root, in its frame: `bodies_in_root_frame`; bodies matched by nearest position, so their
    order and number do not matter), over up to 50 frames."""
    model = load_g1()
    links = [b.name for b in model.bodies if b.joint is not None and b.joint.name in model.dof_names]
    frames = np.unique(np.linspace(0, len(q) - 1, min(len(q), 50)).astype(int))
    file_local = torch.from_numpy(local_bodies[frames])
    fk = ForwardKinematics(bodies=links, dtype=torch.float64)
    fits = {}
    for label, names in orders.items():
        q23 = torch.from_numpy(training_angles(q[frames], names, path, key, warn=False))
        fits[label] = float(torch.cdist(fk.local_body_pos(q23), file_local).min(dim=2).values.mean())
    return fits


def _order_from_bodies(
    path, key: str, q: np.ndarray, local_bodies: np.ndarray, orders: dict, root: str, question: str, remedy: str
) -> List[str]:
    """The order of `orders` (label -> names) of the unnamed joint columns `q` (`key`) under which forward
    kinematics puts the G1's jointed links where the file's bodies are (`local_bodies`: in the root's frame,
    `_body_fits`). MotionFileError when none fits within BODY_FIT_TOLERANCE, or another fits within
    BODY_ORDER_MARGIN of the best and gives other training angles (more than SAME_ANGLES_RAD apart: a motion
    that moves too little to tell them, where the order matters; one near the zero pose gives the same clip under
    either): saying `remedy` when one
    comes within BODY_MISMATCH_MAX (a joint order of another tool is 6-9 cm off), naming the bodies' frame
    when every order is further off, as the right order is under a wrong frame (`root`: what the bodies are
    relative to, `question`: about their frame, for the messages)."""
    fits = _body_fits(q, local_bodies, orders, path, key)
    best = min(fits, key=lambda k: fits[k])
    distances = ", ".join("{} {:.3f} m".format(k, v) for k, v in fits.items())
    alike = [k for k in fits if k != best and fits[k] < fits[best] + BODY_ORDER_MARGIN]
    if alike:  # the order matters only where they give other angles
        best_angles = training_angles(q, orders[best], path, key, warn=False)
        alike = [
            k
            for k in alike
            if np.abs(training_angles(q, orders[k], path, key, warn=False) - best_angles).max() > SAME_ANGLES_RAD
        ]
    if fits[best] <= BODY_FIT_TOLERANCE and alike:
        raise file_error(
            path,
            key,
            "no joint_names, and the body positions fit the joint orders {} and {} alike ({}; mean link distance, "
            "{}): the motion moves too little to tell them; {}".format(best, alike[0], distances, root, remedy),
        )
    if fits[best] <= BODY_FIT_TOLERANCE:
        return list(orders[best])
    if fits[best] <= BODY_MISMATCH_MAX:
        raise file_error(
            path,
            key,
            "no joint_names, and the body positions fit no known joint order ({}; mean link distance, "
            "tolerance {} m, {}): {}".format(distances, BODY_FIT_TOLERANCE, root, remedy),
        )
    raise file_error(
        path,
        None,
        "no joint_names, and neither known joint order puts the G1's links near the bodies ({}: mean link distance "
        "relative to {}, tolerance {} m), so the joint order is not the likely problem: {}".format(
            distances, root, BODY_FIT_TOLERANCE, question
        ),
    )


def _root_body_texts(root: int, keys: str, also: str = "") -> Tuple[str, str]:
    """For the messages about a file's world bodies taken relative to its body `root`: what they are relative
    to, and the question about their frame (`also`: a further question; `keys`: the file's keys)."""
    question = "is body {} the pelvis, are the rotations wxyz, are the positions in metres{}? ({})"
    return "body {} as the root".format(root), question.format(root, also, keys)


def joint_order_from_bodies(
    path,
    q: np.ndarray,
    body_pos: np.ndarray,
    body_quat_wxyz: np.ndarray,
    root: int = 0,
    keys: str = "joint_pos, body_pos_w, body_quat_w",
) -> List[str]:
    """The joint order of 29 unnamed joint columns `q` (T, 29): the candidate order (real-motor, Isaac
    Lab) under which forward kinematics puts the G1's jointed links where the file's bodies are (`root`:
    the root body's index, wxyz; `_order_from_bodies`, whose errors name the bodies' frame: root body,
    quaternion order, units; `keys`: the file's keys, for the message)."""
    root_text, question = _root_body_texts(root, keys)
    local = bodies_in_root_frame(body_pos, body_quat_wxyz, root)
    orders = _joint_order_candidates()
    return _order_from_bodies(path, "joint_pos", q, local, orders, root_text, question, "add joint_names to the file")


def _check_fit(path, fit: float, root: str, question: str):
    """MotionFileError when the file's bodies are `fit` (m, mean) from where its joints put the G1's links,
    more than BODY_MISMATCH_MAX (`root`: what the bodies are relative to, `question`: about their frame and
    the joints, for the message)."""
    if not fit <= BODY_MISMATCH_MAX:
        raise file_error(
            path,
            None,
            "the bodies are {:.3f} m on average from where the joints put the G1's links, relative to {} "
            "(tolerance {} m): {}".format(fit, root, BODY_MISMATCH_MAX, question),
        )


def check_named_joints_against_bodies(
    path, q: np.ndarray, names: Sequence[str], body_pos: np.ndarray, body_quat_wxyz: np.ndarray, root: int, keys: str
) -> None:
    """MotionFileError when the file's bodies are more than BODY_MISMATCH_MAX from where its named joints
    and its root body put the G1's links: the root is not the pelvis, the rotations are not wxyz, the positions
    not in metres, or the joint names do not describe the columns (`keys`: the file's keys, for the message)."""
    root_text, question = _root_body_texts(root, keys, ", do the joint names match the columns")
    local = bodies_in_root_frame(body_pos, body_quat_wxyz, root)
    fit = _body_fits(q, local, {"named": list(names)}, path, "joint_names")["named"]
    _check_fit(path, fit, root_text, question)


def _file_bodies(
    data: dict, path, fmt: str, joints: Tuple[str, np.ndarray], keys: Tuple[str, str], note: str = ""
) -> Tuple[np.ndarray, np.ndarray, int]:
    """(positions (T, B, 3), rotations wxyz (T, B, 4), root index) of a file's bodies under `keys`
    (positions key, rotations key): as many frames as the joints (`joints`: key, array), as many bodies in
    both, finite; the root by `root_body_index`. `note` follows the expected shapes in messages."""
    pos_key, rot_key = keys
    bp = _get(data, path, pos_key, (None, 3), "(T, bodies, 3)" + note, fmt)
    bq = _get(data, path, rot_key, (None, 4), "(T, bodies, 4) wxyz" + note, fmt)
    _same_length(path, [joints, (pos_key, bp), (rot_key, bq)])
    if bq.shape[1] != bp.shape[1]:
        raise file_error(path, rot_key, "has {} bodies but {} has {}".format(bq.shape[1], pos_key, bp.shape[1]))
    _check_finite(path, pos_key, bp)
    _check_finite(path, rot_key, bq)
    return bp, bq, root_body_index(path, bp, bq, _names(data, path, "body_names"))


def root_body_index(path, body_pos: np.ndarray, body_quat_wxyz: np.ndarray, body_names: Optional[List[str]]) -> int:
    """The root (pelvis) among a file's bodies: the body named `pelvis` when the file names them; else
    body 0, or body 1 when body 0 is MuJoCo's world body (at the origin, unrotated, in every frame: files
    written from `data.xpos` / `data.xquat`)."""
    if body_names is not None:
        if len(body_names) != body_pos.shape[1]:
            raise file_error(
                path, "body_names", "has {} names but the file has {} bodies".format(len(body_names), body_pos.shape[1])
            )
        if "pelvis" not in body_names:
            raise file_error(path, "body_names", "no body named 'pelvis' (the root), got {}".format(body_names))
        return body_names.index("pelvis")
    world = np.allclose(body_pos[:, 0], 0.0, atol=1e-9) and np.allclose(np.abs(body_quat_wxyz[:, 0, 0]), 1.0, atol=1e-9)
    return 1 if world and body_pos.shape[1] > 1 else 0


def _check_finite(path, key, a: np.ndarray, columns: Optional[Sequence[str]] = None, what="frame"):
    """Raise naming the key, first bad frame and column when `a` holds NaN or inf."""
    flat = a.reshape(a.shape[0], -1)
    bad = ~np.isfinite(flat)
    if bad.any():
        row, col = (int(x) for x in np.argwhere(bad)[0])
        col_txt = "column {}".format(col)
        if columns is not None and col < len(columns):
            col_txt += " ({})".format(columns[col])
        raise file_error(
            path,
            key,
            "NaN or inf at {} {}, {} ({} frame(s) affected)".format(what, row, col_txt, int(bad.any(axis=1).sum())),
        )


def _fps(path, value, src_fps: Optional[float], key="fps") -> float:
    """The source frame rate: `src_fps` when given, else the file's `fps` value."""
    if src_fps is not None:
        value, key = src_fps, "--src-fps"
    if value is None:
        raise file_error(path, key, "missing (frame rate in Hz; give --src-fps)")
    try:
        a = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise file_error(path, key, "expected a positive number, got {!r}".format(value))
    if a.size != 1 or not np.isfinite(a[0]) or a[0] <= 0:
        raise file_error(path, key, "expected a positive number, got {!r}".format(value))
    return float(a[0])


def resample(root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray, src_fps: float, fps: float):
    """Resample a motion from `src_fps` to `fps` keeping its duration (T-1)/src_fps.

    New frame k is at time k/fps, k = 0 .. floor(duration*fps); positions and joints are lerped,
    the root rotation (xyzw) is slerped along the shortest path. Returns (root_pos, root_rot, dof_pos).
    """
    n_src = root_pos.shape[0]
    duration = (n_src - 1) / src_fps
    n = int(math.floor(duration * fps + 1e-9)) + 1
    s = np.minimum(np.arange(n) * (src_fps / fps), n_src - 1)  # fractional source frame
    i0 = np.minimum(np.floor(s).astype(np.int64), max(n_src - 2, 0))
    i1 = np.minimum(i0 + 1, n_src - 1)
    w = (s - i0)[:, None]

    def lerp(a):
        return a[i0] * (1.0 - w) + a[i1] * w

    q = slerp(torch.from_numpy(root_rot[i0]), torch.from_numpy(root_rot[i1]), torch.from_numpy(w)).numpy()
    return lerp(root_pos), q / np.linalg.norm(q, axis=1, keepdims=True), lerp(dof_pos)


@functools.lru_cache(maxsize=None)
def _fk() -> ForwardKinematics:
    return ForwardKinematics(dtype=torch.float64)


def make_clip(
    path,
    src_fps: float,
    root_pos,
    root_rot_xyzw,
    dof_pos,
    fps: Optional[float] = None,
    rot_key: Optional[str] = "root_rot",
    root_quat: str = "xyzw",
) -> dict:
    """The canonical clip of a motion already in training joint order: the root quaternion as xyzw
    (`root_rot_xyzw` as stored where the format says xyzw, reordered for `root_quat` "wxyz":
    `root_quat_xyzw`), normalised (`rot_key`: its key in the source file, for messages); resample to `fps`
    (when given and different), compute `local_body_pos` by FK, validate. A clip reordered for "wxyz" is also
    checked against the file's quaternions read as stored (`pose.plausibility.STORED_XYZW`): an error when
    only they stand upright, a warning when they alone agree with the direction of travel or the feet."""
    root_pos = np.asarray(root_pos, dtype=np.float64)
    root_rot = normalise_quaternions(root_quat_xyzw(np.asarray(root_rot_xyzw), root_quat, path), path, rot_key)
    dof_pos = np.asarray(dof_pos, dtype=np.float64)
    if root_pos.shape[0] < 2:
        raise file_error(path, None, "expected at least 2 frames, got {}".format(root_pos.shape[0]))
    out_fps = src_fps
    if fps is not None:
        if not np.isfinite(fps) or fps <= 0:
            raise file_error(path, "--fps", "expected a positive number, got {}".format(fps))
        if fps != src_fps:
            n_src = root_pos.shape[0]
            root_pos, root_rot, dof_pos = resample(root_pos, root_rot, dof_pos, src_fps, fps)
            if root_pos.shape[0] < 2:
                raise file_error(
                    path,
                    "--fps",
                    "{} frames at {:g} fps last {:.4g} s: resampled to {:g} fps that is 1 frame, a clip needs at "
                    "least 2".format(n_src, src_fps, (n_src - 1) / src_fps, fps),
                )
        out_fps = float(fps)
    model = load_g1()
    with torch.no_grad():
        local = _fk().local_body_pos(torch.from_numpy(dof_pos)).numpy()
    clip = {
        "fps": out_fps,
        "root_pos": root_pos,
        "root_rot": root_rot,
        "dof_pos": dof_pos,
        "local_body_pos": local,
        "link_body_list": list(model.motion_bodies),
    }
    if root_quat == "wxyz":  # before validate_clip's warnings, which the wrong order would set off too
        from pose.plausibility import STORED_XYZW, check_root_rotation_order

        check_root_rotation_order(path, root_pos, root_rot, local.astype(np.float64), STORED_XYZW)
    return validate_clip(clip, path)


# --- reading source arrays -----------------------------------------------------------------------------


def _get(data: dict, path, key, shape_tail: Sequence[Optional[int]], what: str, fmt: str) -> np.ndarray:
    """`data[key]` as a float64 array of shape (T, *shape_tail) (None = any size), finite checks later."""
    if key not in data:
        raise file_error(path, key, "missing: expected {} in a {} file; keys found: {}".format(what, fmt, sorted(data)))
    v = data[key]
    if isinstance(v, MotionFileError):
        raise v
    if v is None:
        raise file_error(path, key, "is None: expected {} in a {} file".format(what, fmt))
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise file_error(path, key, "expected a numeric array of shape {}, got {}".format(what, type(v).__name__))
    if a.ndim != 1 + len(shape_tail) or any(s is not None and s != n for s, n in zip(shape_tail, a.shape[1:])):
        raise file_error(path, key, "expected shape {}, got {}".format(what, tuple(a.shape)))
    if a.shape[0] < 1:
        raise file_error(path, key, "has no frames")
    return a


def _names(data: dict, path, key) -> Optional[List[str]]:
    if key not in data:
        return None
    v = data[key]
    if isinstance(v, MotionFileError):
        raise v
    a = np.asarray(v)
    text = a.dtype.kind in "US" or (a.dtype.kind == "O" and all(isinstance(x, (str, bytes)) for x in a.reshape(-1)))
    if a.ndim != 1 or not text:
        raise file_error(path, key, "expected a 1-D array of names, got dtype {} shape {}".format(a.dtype, a.shape))
    return body_names(a)


JOINT_NAME_KEYS = ("joint_names", "dof_names")


def _joint_angles(data: dict, path, key, fmt: str) -> np.ndarray:
    """`data[key]`: joint angles (T, J); (T, J, 1), as PHC stores them, is squeezed."""
    v = data.get(key)
    if isinstance(v, np.ndarray) and v.ndim == 3 and v.shape[2] == 1:
        data = {key: v[:, :, 0]}
    return _get(data, path, key, (None,), "(T, joints)", fmt)


def _file_joint_names(
    data: dict, path, key, q: np.ndarray, fmt: str, joint_order: Optional[str], training_default: bool
) -> List[str]:
    """The joint order of the columns `q` of `data[key]`: the file's `joint_names` or `dof_names` when it has
    them (some GMR and PHC writers add them), else the order its column count implies (`_default_joint_names`;
    23 columns: `_order_of_23`)."""
    for names_key in JOINT_NAME_KEYS:
        names = _names(data, path, names_key)
        if names is not None:
            if len(names) != q.shape[1]:
                raise file_error(
                    path, names_key, "has {} names but {} has {} columns".format(len(names), key, q.shape[1])
                )
            return names
    if q.shape[1] == len(load_g1().real_motor_joints):
        return list(_order_of_29(path, key, q, joint_order))
    if q.shape[1] != load_g1().num_dofs:
        return list(_default_joint_names(q.shape[1], path, key))
    local = None
    if data.get("local_body_pos") is not None:  # root-relative, in the root's frame, as GMR and TWIST write them
        local = _get(data, path, "local_body_pos", (None, 3), "(T, bodies, 3)", fmt)
        _same_length(path, [(key, q), ("local_body_pos", local)])
        _check_finite(path, key, q)
        _check_finite(path, "local_body_pos", local)
    question = "is local_body_pos relative to the root, in the root's frame, in metres?"
    return _order_of_23(path, key, q, local, joint_order, training_default, "the root (local_body_pos)", question)


def _order_of_23(
    path,
    key: str,
    q: np.ndarray,
    local_bodies: Optional[np.ndarray],
    joint_order: Optional[str],
    training_default: bool,
    root: str,
    question: str,
) -> List[str]:
    """The order of 23 unnamed joint columns `q` (`key`), TWIST's training order or Unitree's 23-DOF G1's
    (`joint_orders_23`): `joint_order` when given (checked against the file's bodies as named joints are,
    `_check_fit`), else the one whose forward kinematics fits the file's bodies (`local_bodies`: in the root's
    frame; `root`, `question`: for messages; `_order_from_bodies`), else the training order when
    `training_default` (PHC-style files, which hold it); else a MotionFileError asking for `--joint-order`."""
    orders = joint_orders_23()
    if joint_order is not None:
        if joint_order not in orders:
            raise file_error(
                path, "--joint-order", "expected one of {}, got {!r}".format(", ".join(JOINT_ORDERS_23), joint_order)
            )
        if local_bodies is not None:  # the bodies may not contradict it
            fits = _body_fits(q, local_bodies, orders, path, key)
            better = [k for k in fits if fits[k] + BODY_ORDER_MARGIN <= fits[joint_order]]
            if better:
                distances = ", ".join("{} {:.3f} m".format(k, v) for k, v in fits.items())
                raise file_error(
                    path,
                    key,
                    "the body positions fit the joint order {} better than --joint-order {} ({}; mean link "
                    "distance, {}): is --joint-order {} right?".format(
                        better[0], joint_order, distances, root, joint_order
                    ),
                )
            _check_fit(path, fits[joint_order], root, "{} Is --joint-order {} right?".format(question, joint_order))
        return list(orders[joint_order])
    remedy = "add joint_names to the file, or give `--joint-order training` or `--joint-order unitree23`"
    if local_bodies is not None:
        return _order_from_bodies(path, key, q, local_bodies, orders, root, question, remedy)
    if training_default:
        return list(orders["training"])
    raise file_error(
        path,
        key,
        "23 joint columns without joint names or local_body_pos, so their order is unknown: TWIST's training order "
        "(legs, waist yaw/roll/pitch, 4 joints per arm) or Unitree's 23-DOF G1 (GMR's unitree_g1_23dof: legs, "
        "waist yaw, 5 joints per arm with the wrist roll)? {} (python -m pose.convert)".format(remedy),
    )


def _order_of_29(path, key: str, q: np.ndarray, joint_order: Optional[str]) -> Tuple[str, ...]:
    """The order of 29 unnamed joint columns `q` (`key`): Isaac Lab's for `joint_order` "isaaclab", else the
    real-motor order (`joint_order` of 23 columns means nothing here). Without `joint_order`, columns that
    put joints beyond their limits in the real-motor order and none in Isaac Lab's (as an Isaac Lab export
    written without its joint names does) are refused, naming the flag."""
    from pose.plausibility import JOINT_LIMIT_FRACTION, share_beyond_limits

    model = load_g1()
    orders = dict(zip(JOINT_ORDERS_29, (model.real_motor_joints, isaac_lab_joint_order())))
    if joint_order is not None:
        return orders.get(joint_order, orders["real"])
    beyond = {}
    for label, names in orders.items():
        lower, upper = np.array([model.joint_by_name(n)[1].range for n in names]).T
        share = share_beyond_limits(q, lower, upper)
        beyond[label] = [names[j] for j in np.flatnonzero(share > JOINT_LIMIT_FRACTION)]
    if beyond["real"] and not beyond["isaaclab"]:
        raise file_error(
            path,
            key,
            "29 joint columns without names: read in the real-motor order (the robot's), {} of them are beyond "
            "the G1's joint limits ({}), read in Isaac Lab's order none is: give `--joint-order isaaclab` "
            "(python -m pose.convert), or `--joint-order real` to keep the real-motor order".format(
                len(beyond["real"]), ", ".join(beyond["real"][:3])
            ),
        )
    return orders["real"]


def _same_length(path, arrays: Sequence[Tuple[str, np.ndarray]]):
    n = arrays[0][1].shape[0]
    for key, a in arrays[1:]:
        if a.shape[0] != n:
            raise file_error(path, key, "has {} frames but {} has {}".format(a.shape[0], arrays[0][0], n))


def _csv_diagnose(path, n_cols: int, columns: Sequence[str], root_quat: str = "xyzw"):
    """Find the line and column that np.loadtxt refused and raise naming them (`root_quat`: the order of the
    root quaternion's columns, for the messages)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise file_error(
            path,
            None,
            "not a text file (expected a CSV of {} comma-separated numbers per line: "
            "root xyz, root quat {}, 29 joints in real-robot order)".format(n_cols, root_quat),
        )
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.strip().split(",")
        if len(fields) != n_cols:
            raise file_error(
                path,
                None,
                "line {} has {} columns, expected {} (root xyz, root quat {}, 29 joints in real-robot order)".format(
                    i, len(fields), n_cols, root_quat
                ),
            )
        for j, x in enumerate(fields):
            try:
                float(x)
            except ValueError:
                raise file_error(
                    path,
                    None,
                    "line {}, column {} ({}): cannot read {!r} as a number (the CSV has no header)".format(
                        i, j, columns[j], x
                    ),
                )


# --- one converter per format -----------------------------------------------------------------------


def lafan_csv_to_clip(
    path,
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> dict:
    """Unitree LAFAN1-style CSV: 36 columns = root xyz, root quat xyzw (wxyz for `root_quat` "wxyz"), 29 joints
    (real-robot order). `joint_order` is for files of 23 unnamed joint columns, which this format does not
    have."""
    _check_root_quat(path, root_quat)
    model = load_g1()
    quat_columns = tuple("root_q" + c for c in root_quat)
    columns = ROOT_COLUMNS[:3] + quat_columns + model.real_motor_joints
    n_cols = len(columns)
    try:
        a = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as e:  # also UnicodeDecodeError (binary data)
        _csv_diagnose(path, n_cols, columns, root_quat)
        raise file_error(path, None, "cannot read as CSV: {}".format(e))
    if a.size == 0:
        raise file_error(path, None, "no frames (expected rows of {} comma-separated numbers)".format(n_cols))
    if a.shape[1] != n_cols:
        raise file_error(
            path,
            None,
            "expected {} columns (root xyz, root quat {}, {} joints in real-robot order), got {}".format(
                n_cols, root_quat, len(model.real_motor_joints), a.shape[1]
            ),
        )
    _check_finite(path, None, a, columns)
    dof = a[:, 7:][:, training_columns(model.real_motor_joints, path, None)]
    rate = _fps(path, LAFAN_FPS, src_fps)
    return make_clip(path, rate, a[:, :3], a[:, 3:7], dof, fps, rot_key=None, root_quat=root_quat)


def beyondmimic_npz_to_clip(
    path,
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> dict:
    """BeyondMimic/holosoma NPZ: `joint_pos` = [root xyz, root quat wxyz, joints] or joints only
    (the root a body of `body_pos_w`, `body_quat_w` wxyz: `root_body_index`), or holosoma's `qpos` (MuJoCo's:
    always with the root); `joint_names` optional, checked against the bodies: without them the joints are in
    real-motor order (with the root columns), or in the order whose forward kinematics matches the file's
    bodies, real-motor or Isaac Lab's (`joint_order_from_bodies`). `joint_order` is for files of 23 unnamed
    joint columns, which this format does not have; `root_quat` "wxyz" is refused (the format's own order)."""
    _refuse_root_quat(path, root_quat, "beyondmimic_npz")
    data = read_npz(path)
    fmt = "BeyondMimic"
    rate = _fps(path, data.get("fps"), src_fps)
    jp_key = "qpos" if "qpos" in data and "joint_pos" not in data else "joint_pos"
    root_optional = jp_key == "joint_pos"  # MuJoCo's qpos starts with the free joint of the root
    what = "(T, 7 + joints) or (T, joints)" if root_optional else "(T, 7 + joints): root xyz, root quat wxyz, joints"
    jp = _get(data, path, jp_key, (None,), what, fmt)
    names = _names(data, path, "joint_names")
    n_j = len(names) if names is not None else len(load_g1().real_motor_joints)
    if jp.shape[1] not in ((n_j, n_j + 7) if root_optional else (n_j + 7,)):
        if names is not None:
            expected = "{} (root xyz, quat wxyz, joints)".format(n_j + 7)
            expected = "{} columns (the joint_names) or {}".format(n_j, expected) if root_optional else expected
            raise file_error(path, jp_key, "expected {}, got {}".format(expected, jp.shape[1]))
        expected = "(T, {}) (root xyz, root quat wxyz, {} joints)".format(n_j + 7, n_j)
        expected += " or (T, {}) without joint_names".format(n_j) if root_optional else " (MuJoCo's qpos)"
        raise file_error(path, jp_key, "expected shape {}, got {}".format(expected, tuple(jp.shape)))
    with_root = jp.shape[1] == n_j + 7
    if with_root:  # holosoma: without joint_names the joints are in real-motor order
        names = names if names is not None else list(load_g1().real_motor_joints)
        columns = ROOT_COLUMNS[:3] + ("root_qw", "root_qx", "root_qy", "root_qz") + tuple(names)
        _check_finite(path, jp_key, jp, columns)
        root_pos, root_wxyz, q = jp[:, :3], jp[:, 3:7], jp[:, 7:]
    else:
        _check_finite(path, "joint_pos", jp, names)
        note = " (needed when joint_pos has no root)"
        bp, bq, root = _file_bodies(data, path, fmt, ("joint_pos", jp), ("body_pos_w", "body_quat_w"), note)
        if names is None:  # BeyondMimic writes the simulator's joint order: told by where the bodies are
            names = joint_order_from_bodies(path, jp, bp, bq, root)
        else:
            check_named_joints_against_bodies(path, jp, names, bp, bq, root, "joint_pos, body_pos_w, body_quat_w")
        root_pos, root_wxyz, q = bp[:, root], bq[:, root], jp
    key = "joint_names" if "joint_names" in data else jp_key
    dof = training_angles(q, names, path, key)
    return make_clip(
        path, rate, root_pos, root_wxyz[:, [1, 2, 3, 0]], dof, fps, rot_key=jp_key if with_root else "body_quat_w"
    )


def amass_npz_to_clip(
    path,
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> dict:
    """AMASS-retargeted G1 NPZ: `dof_names`, `dof_positions`, `body_positions`, `body_rotations` wxyz; 23
    unnamed joint columns are in the order (`joint_orders_23`, only `joint_order` when given) whose forward
    kinematics fits the bodies. `root_quat` "wxyz" is refused (the format's own order)."""
    _refuse_root_quat(path, root_quat, "amass_npz")
    data = read_npz(path)
    fmt = "AMASS-retargeted G1"
    rate = _fps(path, data.get("fps"), src_fps)
    q = _get(data, path, "dof_positions", (None,), "(T, joints)", fmt)
    names = _names(data, path, "dof_names")
    if names is not None and len(names) != q.shape[1]:
        raise file_error(
            path, "dof_positions", "has {} columns but dof_names has {} names".format(q.shape[1], len(names))
        )
    _check_finite(path, "dof_positions", q, names)
    bp, bq, root = _file_bodies(data, path, fmt, ("dof_positions", q), ("body_positions", "body_rotations"))
    names_key = "dof_names" if "dof_names" in data else "dof_positions"
    keys = "{}, body_positions, body_rotations".format(names_key)
    if names is None and q.shape[1] == load_g1().num_dofs:
        local = bodies_in_root_frame(bp, bq, root)
        root_text, question = _root_body_texts(root, keys)
        names = _order_of_23(path, "dof_positions", q, local, joint_order, False, root_text, question)
    else:
        names = names if names is not None else list(_default_joint_names(q.shape[1], path, "dof_positions"))
        check_named_joints_against_bodies(path, q, names, bp, bq, root, keys)
    dof = training_angles(q, names, path, names_key)
    return make_clip(path, rate, bp[:, root], bq[:, root][:, [1, 2, 3, 0]], dof, fps, rot_key="body_rotations")


def twist_pkl_to_clip(
    path,
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    data=None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> dict:
    """TWIST/GMR clip with 29 joints (real-robot order), 43 (GMR's G1 with hands) or 23 (training order or
    Unitree's 23-DOF G1: `_order_of_23`, `joint_order`), or named; `.pkl` or `.npz` (`data`: the file's
    content when already read). `root_rot` is xyzw, or wxyz for `root_quat` "wxyz" (`root_quat_xyzw`)."""
    path = Path(path)
    _check_root_quat(path, root_quat)
    fmt = "TWIST/GMR"
    if data is None:
        data = read_npz(path) if path.suffix.lower() == ".npz" else read_pickle(path)
    if not isinstance(data, dict):
        raise file_error(
            path, None, "expected a dict with fps, root_pos, root_rot, dof_pos, got {}".format(type(data).__name__)
        )
    rate = _fps(path, data.get("fps"), src_fps)
    root_pos = _get(data, path, "root_pos", (3,), "(T, 3)", fmt)
    root_rot = _get(data, path, "root_rot", (4,), "(T, 4) xyzw", fmt)
    q = _joint_angles(data, path, "dof_pos", fmt)
    _same_length(path, [("root_pos", root_pos), ("root_rot", root_rot), ("dof_pos", q)])
    _check_finite(path, "root_pos", root_pos, ("x", "y", "z"))
    _check_finite(path, "root_rot", root_rot, tuple(root_quat))
    names = _file_joint_names(data, path, "dof_pos", q, fmt, joint_order, training_default=False)
    _check_finite(path, "dof_pos", q, names)
    dof = training_angles(q, names, path, "dof_pos")
    return make_clip(path, rate, root_pos, root_rot, dof, fps, root_quat=root_quat)


# PHC-style motion files (PHC, ASAP, PBHC, HumanoidVerse): a pickle or joblib dump of one motion, or of
# {name: motion}; each motion's keys, first match used.
PHC_ROOT_POS_KEYS = ("root_trans_offset", "root_trans", "root_pos")
PHC_ROOT_ROT_KEYS = ("root_rot", "root_quat")
PHC_DOF_KEYS = ("dof", "dof_pos")
# A motion of a source file by name ("" for a file of one), converted, or the error that stopped it.
NamedClip = Tuple[str, Union[dict, MotionFileError]]


def _is_phc_motion(data) -> bool:
    return isinstance(data, dict) and any(k in data for k in PHC_ROOT_POS_KEYS) and any(k in data for k in PHC_DOF_KEYS)


def _motion_name(key, taken: set) -> str:
    """A file-name-safe, unique name for the motion stored under `key` (a path's stem for a path)."""
    text = str(key)
    if "/" in text or "\\" in text or Path(text).suffix.lower() in (".npz", ".npy", ".pkl", ".pt"):
        text = Path(text.replace("\\", "/")).stem
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "motion"
    unique, k = name, 1
    while unique in taken:
        k += 1
        unique = "{}_{}".format(name, k)
    taken.add(unique)
    return unique


def _phc_key(motion: dict, candidates: Sequence[str], path, what: str) -> str:
    for k in candidates:
        if k in motion:
            return k
    raise file_error(
        path,
        None,
        "no {}: expected one of the keys {}; keys found: {}".format(what, list(candidates), sorted(map(str, motion))),
    )


def _phc_joints(motion: dict, path) -> Tuple[str, np.ndarray]:
    """(key, joint angles (T, J) as stored) of a PHC-style motion."""
    key = _phc_key(motion, PHC_DOF_KEYS, path, "joint angles")
    return key, _joint_angles(motion, path, key, "PHC-style motion")


def _phc_motion_to_clip(
    motion: dict,
    path,
    fps: Optional[float],
    src_fps: Optional[float],
    joint_order: Optional[str],
    root_quat: str = "xyzw",
) -> dict:
    pos_key = _phc_key(motion, PHC_ROOT_POS_KEYS, path, "root position")
    rot_key = _phc_key(motion, PHC_ROOT_ROT_KEYS, path, "root rotation")
    dof_key, q = _phc_joints(motion, path)
    rate = _fps(path, motion.get("fps"), src_fps)
    root_pos = _get(motion, path, pos_key, (3,), "(T, 3)", "PHC-style motion")
    root_rot = _get(motion, path, rot_key, (4,), "(T, 4) xyzw", "PHC-style motion")
    _same_length(path, [(pos_key, root_pos), (rot_key, root_rot), (dof_key, q)])
    _check_finite(path, pos_key, root_pos, ("x", "y", "z"))
    _check_finite(path, rot_key, root_rot, tuple(root_quat))
    names = _file_joint_names(motion, path, dof_key, q, "PHC-style motion", joint_order, training_default=True)
    _check_finite(path, dof_key, q, names)
    dof = training_angles(q, names, path, dof_key)
    return make_clip(path, rate, root_pos, root_rot, dof, fps, rot_key=rot_key, root_quat=root_quat)


def _phc_motions(path: Path, data=None) -> List[Tuple[Optional[str], dict]]:
    """(stored name, motion) of every motion of a PHC-style file (`data`: its content when already read);
    the name None for a file of one motion."""
    if data is None:
        data = read_pickle(path)
    if _is_phc_motion(data):
        return [(None, data)]  # type: ignore[list-item]
    if not isinstance(data, dict) or not data or not all(isinstance(v, dict) for v in data.values()):
        raise file_error(
            path,
            None,
            "expected a PHC-style motion (keys {} / {} / {}, fps) or a dict of such motions by name".format(
                "|".join(PHC_ROOT_POS_KEYS), "|".join(PHC_ROOT_ROT_KEYS), "|".join(PHC_DOF_KEYS)
            ),
        )
    return [(str(k), v) for k, v in data.items()]


def _one_phc_motion(path: Path) -> dict:
    motions = _phc_motions(path)
    if len(motions) != 1:
        raise file_error(
            path,
            None,
            "holds {} motions, expected one here; `python -m pose.convert {} DST_FOLDER` writes one clip per "
            "motion".format(len(motions), shlex.quote(str(path))),
        )
    return motions[0][1]


def phc_pkl_to_clips(
    path,
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    data=None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> Iterator[NamedClip]:
    """Every motion of a PHC-style file as (name, clip), or (name, MotionFileError) for a motion that
    cannot be converted (its message names the file and the motion: `FILE[name]`), one at a time (a
    dataset of thousands of motions is converted without holding every clip). A file of one motion gives
    the name "". `data`: the file's content when already read. 23 unnamed joint columns are in the
    training order, PHC's and ASAP's 23-DOF G1, unless `joint_order` (or `local_body_pos`) says otherwise.
    `root_quat` "wxyz": the root quaternions are stored wxyz (`root_quat_xyzw`)."""
    path = Path(path)
    _check_root_quat(path, root_quat)
    taken: set = set()
    for key, motion in _phc_motions(path, data):
        if key is None:
            yield "", _phc_motion_to_clip(motion, path, fps, src_fps, joint_order, root_quat)
            return
        name = _motion_name(key, taken)
        try:
            motion_path = "{}[{}]".format(path, key)
            yield name, _phc_motion_to_clip(motion, motion_path, fps, src_fps, joint_order, root_quat)
        except MotionFileError as e:
            yield name, e


def phc_pkl_to_clip(
    path,
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> dict:
    """The motion of a PHC-style file that holds one (`phc_pkl_to_clips` for files of several)."""
    path = Path(path)
    _check_root_quat(path, root_quat)
    return _phc_motion_to_clip(_one_phc_motion(path), path, fps, src_fps, joint_order, root_quat)


def phc_motion_joints(path) -> np.ndarray:
    """The joint angles (T, 29 or 23), as stored, of a PHC-style file of one motion (the CMG's dataset
    reads the wrists of 29-joint files)."""
    path = Path(path)
    return _phc_joints(_one_phc_motion(path), path)[1]


CONVERTERS: Dict[str, Callable[..., dict]] = {
    "lafan_csv": lafan_csv_to_clip,
    "beyondmimic_npz": beyondmimic_npz_to_clip,
    "amass_npz": amass_npz_to_clip,
    "twist29_pkl": twist_pkl_to_clip,
    "phc_pkl": phc_pkl_to_clip,
}


def source_format(path: Path, fmt: str = "auto") -> str:
    """The format `path` is read as: `fmt`, or the detected one for "auto"; the file must exist."""
    if not path.is_file():
        raise file_error(path, None, "file does not exist")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in CONVERTERS:
        raise file_error(
            path, "--format", "unknown format {!r} (expected auto or one of {})".format(fmt, ", ".join(FORMATS))
        )
    return fmt


def read_clips(
    path,
    fmt: str = "auto",
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> Iterator[NamedClip]:
    """Every motion of a source file as (name, canonical clip or MotionFileError), one at a time: one
    motion named "" for every format but `phc_pkl`, whose files may hold several by name. `joint_order`
    (JOINT_ORDERS_23): the order of 23 unnamed joint columns (`_order_of_23`); `root_quat`
    (ROOT_QUAT_ORDERS): the order of a root quaternion the format stores xyzw (`root_quat_xyzw`; refused as
    "wxyz" by the formats that store it wxyz)."""
    path = Path(path)
    data = None
    if fmt == "auto" and path.suffix.lower() == ".pkl" and path.is_file():
        data = read_pickle(path)  # read once, to tell the format and to convert
        fmt = pickle_format(data)
    fmt = source_format(path, fmt)
    if fmt == "phc_pkl":
        return phc_pkl_to_clips(path, fps, src_fps, data, joint_order, root_quat)
    if fmt == "twist29_pkl" and data is not None:
        return iter([("", twist_pkl_to_clip(path, fps, src_fps, data, joint_order, root_quat))])
    converter = CONVERTERS[fmt]
    return iter([("", converter(path, fps=fps, src_fps=src_fps, joint_order=joint_order, root_quat=root_quat))])


# --- format detection --------------------------------------------------------------------------------


def pickle_format(data) -> str:
    """The format of an unpickled `.pkl` file's content: `phc_pkl` for a PHC-style motion or a dict of
    them, else `twist29_pkl` (a TWIST/GMR clip, or something its reader rejects with the reason)."""
    if not isinstance(data, dict) or ("root_pos" in data and "dof_pos" in data):
        return "twist29_pkl"
    by_name = bool(data) and all(isinstance(v, dict) for v in data.values())
    is_phc = _is_phc_motion(data) or (by_name and any(_is_phc_motion(v) for v in data.values()))
    return "phc_pkl" if is_phc else "twist29_pkl"


def detect_format(path) -> str:
    """The source format of `path` from its suffix and (for `.npz`) its keys."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "lafan_csv"
    if suffix == ".pkl":
        return pickle_format(read_pickle(path))
    if suffix == ".npz":
        with open_npz(path) as z:
            keys = set(z.files)
        if "dof_positions" in keys:
            return "amass_npz"
        if "joint_pos" in keys or "qpos" in keys:
            return "beyondmimic_npz"
        if "dof_pos" in keys:
            return "twist29_pkl"
        raise file_error(
            path,
            None,
            "cannot tell the format: expected 'joint_pos' (BeyondMimic), 'qpos' (holosoma), 'dof_positions' "
            "(AMASS-retargeted G1) or 'dof_pos' (TWIST clip), found keys {}{}".format(sorted(keys), smpl_hint(keys)),
        )
    raise file_error(path, None, "unknown motion format {!r} (expected .csv, .npz or .pkl)".format(suffix))
