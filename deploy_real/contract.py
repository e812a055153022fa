"""The Redis message contract between the deploy servers (README, "Deploy").

TWIST's keys and layouts, unchanged, so existing reference sources (TWIST's motion server, GMR
teleoperation scripts) keep working:

| key | writer | length | content |
|---|---|---|---|
| `action_mimic_g1` | high-level server | 33 | JSON list: root z, roll, pitch, yaw, v_x, v_y, v_z (reference root frame), yaw rate (root frame), 25 joint positions (the 23 training joints with the left wrist roll inserted at joint index 19 and the right one at 24) |
| `action_hand_g1` | high-level server | 14 | zeros (two 7-DOF hands) |
| `state_body_g1` | low-level server | 74 | the proprioception vector of the policy (`legged_gym.envs.mdp.observations.proprio_obs`) |
| `state_hand_g1` | low-level server | 14 | zeros |
| `command_velocity_g1` | a client (read by the high-level server with --cmg) | 3 | JSON list: vx, vy (m/s, heading frame), yaw rate (rad/s) of the CMG reference |

Added beside the reference (TWIST has no timestamp): `action_mimic_g1_meta` = JSON `{"seq": n, "t_ms": sender
wall clock in ms}`, written in the same transaction as `action_mimic_g1`. A consumer uses it to judge
staleness; a source that does not write it (a TWIST-era teleop script) is still accepted, its
freshness judged by the message changing.

`validate_mimic` is the one validator of every reference message, `validate_velocity_command` of every
velocity command (also not in TWIST); a rejection is a `MessageError` naming the field. A message longer than
`MAX_MESSAGE_BYTES` (4 KB; a reference is about 700 bytes) is rejected before it is decoded, and the
servers read no more than that of a value (`deploy_real.redis_link.RedisLink.exchange`); a number that no
float holds (an integer of 400 digits) is rejected naming its entry.

JSON goes through `orjson` (about 20x faster than the standard library on these vectors: the 50 Hz loop
encodes 74 floats and parses 33 per step); a float32 vector is written with float32's shortest exact
digits. What orjson refuses (e.g. the non-standard NaN / Infinity tokens Python's `json` writes) is
parsed again by the standard library, so the rejection names the offending entry.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import orjson

from pose.g1_model import load_g1

MIMIC_KEY = "action_mimic_g1"
MIMIC_META_KEY = "action_mimic_g1_meta"
HAND_ACTION_KEY = "action_hand_g1"
BODY_STATE_KEY = "state_body_g1"
HAND_STATE_KEY = "state_hand_g1"
VELOCITY_COMMAND_KEY = "command_velocity_g1"

NUM_DOFS = 23
NUM_MIMIC = 31  # the student's reference block (next frame: root 8 + joints 23)
NUM_MIMIC_DEPLOY = 33  # the Redis vector: 31 + two wrist rolls
NUM_HAND = 14
#: The longest message accepted, in bytes (a 33-float reference is about 700).
MAX_MESSAGE_BYTES = 4096
#: Names and units of the velocity command's entries.
COMMAND_FIELDS = ("vx", "vy", "yaw_rate")
COMMAND_UNITS = ("m/s", "m/s", "rad/s")
#: Field names of the 8 root entries of the reference (for error messages).
ROOT_FIELDS = ("root_z", "roll", "pitch", "yaw", "v_x", "v_y", "v_z", "yaw_rate")

#: Plausibility bounds of a reference (beyond them a message is rejected, never used).
ROOT_Z_RANGE = (0.15, 1.5)  # m: a pelvis below 0.15 m or above 1.5 m is no G1 reference
MAX_LIN_VEL = 10.0  # m/s
MAX_YAW_RATE = 20.0  # rad/s
#: rad beyond the joint range that is still accepted (as `pose.plausibility`'s joint-limit check: training
#: clips go that far; the reference is only observed, the PD targets are guarded apart)
JOINT_LIMIT_MARGIN = 0.2
#: Bounds and units of |entries 4..7| (v_x, v_y, v_z, yaw_rate); roll, pitch and yaw are wrapped to [-pi, pi).
_VEL_BOUNDS = np.array([MAX_LIN_VEL] * 3 + [MAX_YAW_RATE])
_VEL_UNITS = ("m/s",) * 3 + ("rad/s",)


class MessageError(ValueError):
    """A rejected message; `field` names the offending entry."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__("{}: {}".format(field, reason))
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class DeployJoints:
    """The 25 deployed joints (training order with the two wrist rolls inserted)."""

    names: Tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    body_ids: np.ndarray  # positions of the 23 training joints inside the 25
    wrist_ids: np.ndarray  # positions of the two wrist rolls inside the 25


def deploy_joints() -> DeployJoints:
    """Names and ranges of the 25 deployed joints, from the G1 facts table."""
    g1 = load_g1()
    names = list(g1.dof_names)
    lower, upper = list(g1.dof_lower), list(g1.dof_upper)
    left_arm_end = names.index("left_elbow_joint") + 1
    wrists = [w["name"] for w in g1.wrist_roll_joints]
    wr = [g1.joint_by_name(w)[1].range for w in wrists]
    assert wr[0] is not None and wr[1] is not None, "the wrist roll joints are hinges with a range"
    names25 = names[:left_arm_end] + [wrists[0]] + names[left_arm_end:] + [wrists[1]]
    lower25 = lower[:left_arm_end] + [wr[0][0]] + lower[left_arm_end:] + [wr[1][0]]
    upper25 = upper[:left_arm_end] + [wr[0][1]] + upper[left_arm_end:] + [wr[1][1]]
    wrist_ids = np.array([left_arm_end, len(names25) - 1])
    body_ids = np.array([i for i in range(len(names25)) if i not in wrist_ids])
    return DeployJoints(tuple(names25), np.array(lower25), np.array(upper25), body_ids, wrist_ids)


_JOINTS = deploy_joints()
#: Positions of the wrist rolls in the 33-D vector: it holds the 8 root entries first (`ROOT_FIELDS`: root z, roll,
#: pitch, yaw, v_x, v_y, v_z, yaw rate), then the 25 deployed joints (`deploy_joints`: the 23 training joints with
#: each wrist roll after its arm's elbow, at joints 19 and 24): (8 + 19, 8 + 24) = (27, 32).
WRIST_ROLL_IDS: Tuple[int, int] = (
    len(ROOT_FIELDS) + _JOINTS.names.index("left_wrist_roll_joint"),
    len(ROOT_FIELDS) + _JOINTS.names.index("right_wrist_roll_joint"),
)
_NON_WRIST_IDS = np.array([i for i in range(NUM_MIMIC_DEPLOY) if i not in WRIST_ROLL_IDS])


def default_mimic_vector() -> np.ndarray:
    """TWIST's DEFAULT_MIMIC_OBS_G1: standing at z 0.793, level, at rest, the training
    default pose except shoulder roll +-0.2 (TWIST's deploy default), wrists 0. Shape (33,)."""
    g1 = load_g1()
    q = np.array(g1.default_dof_pos, dtype=np.float64)
    names = list(g1.dof_names)
    q[names.index("left_shoulder_roll_joint")] = 0.2
    q[names.index("right_shoulder_roll_joint")] = -0.2
    root = [g1.standing_pelvis_height, 0, 0, 0, 0, 0, 0, 0]
    return insert_wrist_rolls(np.concatenate([root, q]), (0.0, 0.0))


def insert_wrist_rolls(mimic31: np.ndarray, wrists: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """(..., 31) student reference -> (..., 33) Redis vector with the wrist rolls inserted."""
    m = np.asarray(mimic31, dtype=np.float64)
    w = np.broadcast_to(np.asarray(wrists, dtype=np.float64), m.shape[:-1] + (2,))
    a, b = WRIST_ROLL_IDS
    return np.concatenate([m[..., :a], w[..., :1], m[..., a : b - 1], w[..., 1:]], axis=-1)


def split_wrist_rolls(mimic33: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(..., 33) -> ((..., 31) student reference, (..., 2) wrist-roll targets)."""
    m = np.asarray(mimic33)
    return m[..., _NON_WRIST_IDS], m[..., list(WRIST_ROLL_IDS)]


def field_name(i: int, joints: Optional[DeployJoints] = None) -> str:
    """Name of entry `i` of the 33-D vector."""
    if i < len(ROOT_FIELDS):
        return "{}[{}] ({})".format(MIMIC_KEY, i, ROOT_FIELDS[i])
    joints = joints or _JOINTS
    return "{}[{}] ({})".format(MIMIC_KEY, i, joints.names[i - len(ROOT_FIELDS)])


_NUMBER_TYPES = {int, float}


def _loads(text: str, key: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:  # the standard library also reads NaN / Infinity, so the check that follows names the entry
        return json.loads(text)
    except ValueError as e:
        raise MessageError(key, "not JSON ({})".format(e))
    except RecursionError:  # thousands of nested brackets (within MAX_MESSAGE_BYTES)
        raise MessageError(key, "not JSON (nested too deeply)")


def _text(value: Any, key: str) -> Any:
    """`value` as text when it is bytes (UTF-8) or text; MessageError when it is longer than MAX_MESSAGE_BYTES."""
    if isinstance(value, (bytes, bytearray, str)) and len(value) > MAX_MESSAGE_BYTES:
        raise MessageError(key, "longer than {} bytes: not read".format(MAX_MESSAGE_BYTES))
    if isinstance(value, (bytes, bytearray)):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise MessageError(key, "not UTF-8 text")
    return value


def _as_float(value: Union[int, float], field: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise MessageError(field, "an integer of {} bits, beyond any float".format(int(value).bit_length()))


def _float_list(value: Any, key: str, length: int) -> np.ndarray:
    value = _text(value, key)
    if isinstance(value, str):
        value = _loads(value, key)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise MessageError(key, "expected a JSON list of {} numbers, got {}".format(length, type(value).__name__))
    if len(value) != length:
        raise MessageError(key, "expected {} numbers, got {}".format(length, len(value)))
    if not set(map(type, value)) <= _NUMBER_TYPES:  # the common case in one pass; then find the culprit
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise MessageError("{}[{}]".format(key, i), "not a number ({!r})".format(v))
    try:
        out = np.array(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float64: name it
        out = np.array([_as_float(v, "{}[{}]".format(key, i)) for i, v in enumerate(value)])
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise MessageError("{}[{}]".format(key, bad[0]), "not finite ({})".format(out[bad[0]]))
    return out


def validate_mimic(value: Any, joints: Optional[DeployJoints] = None, margin: float = JOINT_LIMIT_MARGIN) -> np.ndarray:
    """The 33-D reference as float64, or MessageError naming the first bad field.

    `value`: the raw Redis bytes/str (JSON list), a list or an array. Checks: a list of 33 numbers, all finite,
    root height in ROOT_Z_RANGE, velocities plausible, every joint target inside its range widened by
    `margin` rad. Roll, pitch and yaw are wrapped to [-pi, pi) (a streamer's heading accumulated past 180
    degrees, or angles in [0, 2 pi), as Isaac Gym's get_euler_xyz gives them).
    """
    joints = joints or _JOINTS
    m = _float_list(value, MIMIC_KEY, NUM_MIMIC_DEPLOY)
    if not ROOT_Z_RANGE[0] <= m[0] <= ROOT_Z_RANGE[1]:
        raise MessageError(
            field_name(0), "root height {:.3f} m outside the plausible range {} m".format(m[0], ROOT_Z_RANGE)
        )
    m[1:4] = np.remainder(m[1:4] + math.pi, 2.0 * math.pi) - math.pi  # `wrap_angle`'s formula; no torch here
    bad = np.flatnonzero(np.abs(m[4:8]) > _VEL_BOUNDS)
    if bad.size:
        i = int(bad[0]) + 4
        raise MessageError(
            field_name(i), "{:.4g} {} beyond +-{:.4g}".format(m[i], _VEL_UNITS[i - 4], _VEL_BOUNDS[i - 4])
        )
    q = m[len(ROOT_FIELDS) :]
    bad = np.flatnonzero((q < joints.lower - margin) | (q > joints.upper + margin))
    if bad.size:
        j = int(bad[0])
        raise MessageError(
            field_name(len(ROOT_FIELDS) + j, joints),
            "{:.4f} rad outside the joint range [{:.4f}, {:.4f}]".format(q[j], joints.lower[j], joints.upper[j]),
        )
    return m


def validate_velocity_command(
    value: Any,
    low: Union[Sequence[float], np.ndarray],
    high: Union[Sequence[float], np.ndarray],
    range_name: str = "the CMG's trained range",
) -> np.ndarray:
    """The velocity command (vx, vy, yaw rate) as float64 (3,), or MessageError naming the entry.

    `value`: the raw Redis bytes/str (JSON list) or a list. Checks: a list of 3 finite numbers, each
    within [low, high] (`range_name`: by default the CMG's trained command range; nothing is clamped)."""
    c = _float_list(value, VELOCITY_COMMAND_KEY, len(COMMAND_FIELDS))
    bad = np.flatnonzero((c < np.asarray(low)) | (c > np.asarray(high)))
    if bad.size:
        i = int(bad[0])
        name, unit = COMMAND_FIELDS[i], COMMAND_UNITS[i]
        raise MessageError(
            "{}[{}]".format(VELOCITY_COMMAND_KEY, i),
            "{} {:.4g} {} outside {} [{:.3f}, {:.3f}] {}".format(name, c[i], unit, range_name, low[i], high[i], unit),
        )
    return c


@dataclass(frozen=True)
class MimicMeta:
    seq: int
    t_ms: float


def encode_meta(seq: int, t_ms: float) -> str:
    return orjson.dumps({"seq": int(seq), "t_ms": float(t_ms)}).decode()


def validate_meta(value: Any) -> MimicMeta:
    """`action_mimic_g1_meta` as MimicMeta, or MessageError."""
    key = MIMIC_META_KEY
    value = _text(value, key)
    d = _loads(value, key) if isinstance(value, str) else value
    if not isinstance(d, dict):
        raise MessageError(key, 'expected {"seq": int, "t_ms": number}')
    seq, t_ms = d.get("seq"), d.get("t_ms")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise MessageError(key + ".seq", "expected an integer, got {!r}".format(seq))
    if (
        isinstance(t_ms, bool)
        or not isinstance(t_ms, (int, float))
        or not math.isfinite(_as_float(t_ms, key + ".t_ms"))
    ):
        raise MessageError(key + ".t_ms", "expected a finite number of milliseconds, got {!r}".format(t_ms))
    return MimicMeta(seq, float(t_ms))


def encode_floats(values: Union[Sequence[float], np.ndarray]) -> str:
    """A JSON list of floats (TWIST's encoding of every vector key); a float32 array keeps float32's
    digits, anything else is written as float64."""
    a = (
        values
        if isinstance(values, np.ndarray) and values.dtype in (np.float32, np.float64)
        else np.asarray(values, dtype=np.float64)
    )
    return orjson.dumps(np.ascontiguousarray(a.reshape(-1)), option=orjson.OPT_SERIALIZE_NUMPY).decode()
