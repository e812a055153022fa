"""The G1's low-level DDS messages as numpy arrays: byte layouts, Unitree's CRC32 and the wireless remote.

The G1 (and H1-2) speak `unitree_hg::msg::dds_::LowCmd_` on `rt/lowcmd` and `LowState_` on `rt/lowstate`
(35 motor slots, of which the G1 uses 29). Both are fixed-size `@final` structs, so their serialized form
(CDR, little endian, after a 4-byte encapsulation header) is a fixed byte layout. This module encodes and
decodes it with numpy in tens of microseconds; the pure-Python serializer of the `cyclonedds` package takes
about 0.9 ms per LowState (measured on this project's CI machine), too slow for a 500 Hz state stream.
tests/deploy_real/test_unitree_msgs.py checks every field against that serializer, byte for byte.

CRC: the robot drops a LowCmd whose `crc` field does not match, and its LowState carries one.
`MessageLayout.crc_status` tells a matching `crc` field from one left at 0 (a sender that never sets it,
as unitree_mujoco's simulator bridge) and from a wrong one; `dds_link.RobotSide` drops only the wrong ones. Unitree's
CRC32 runs over the message laid out as the C struct (natural alignment, zero padding) read as
little-endian uint32 words, all words but the last (the `crc` field itself): polynomial 0x04C11DB7, initial
value 0xFFFFFFFF, most significant bit first, no final XOR. That is CRC-32/MPEG-2 over the words' bytes in
big-endian order; `crc32_mpeg2` computes it with `zlib` (bit-reflected input and output), so a message
costs microseconds, not the milliseconds of a bit loop in Python.

Wireless remote (40 bytes inside LowState_): bytes 2-3 a little-endian uint16 of buttons (bit i is
`BUTTONS[i]`), float32 sticks lx at byte 4, rx at 8, ry at 12, ly at 20.
"""

from __future__ import annotations

import struct
import zlib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

NUM_MOTOR_SLOTS = 35  # unitree_hg messages carry 35 motor slots; the G1 uses 0..28

# --- CRC32 ----------------------------------------------------------------------------------------------

_REVERSE_BITS = bytes(int("{:08b}".format(i)[::-1], 2) for i in range(256))


def _reflect32(x: int) -> int:
    return int("{:032b}".format(x)[::-1], 2)


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 of `data`: poly 0x04C11DB7, init 0xFFFFFFFF, MSB first, no final XOR
    (check value of b"123456789": 0x0376E6E7)."""
    return _reflect32(zlib.crc32(bytes(data).translate(_REVERSE_BITS)) ^ 0xFFFFFFFF)


def unitree_crc32(words) -> int:
    """Unitree's CRC32 of a sequence of uint32 words (each word's most significant bit first)."""
    w = np.asarray(words, dtype=np.uint32)
    return crc32_mpeg2(w.astype(">u4").tobytes())


# --- byte layouts ---------------------------------------------------------------------------------------
# A field is (name, type, count): type a numpy scalar code ("u1", "i2", "u4", "f4") or a list of fields
# (a nested struct); count () for one value or (n,) for an array. Mirrors unitree_hg's IDL.

MOTOR_CMD_FIELDS = [
    ("mode", "u1", ()),
    ("q", "f4", ()),
    ("dq", "f4", ()),
    ("tau", "f4", ()),
    ("kp", "f4", ()),
    ("kd", "f4", ()),
    ("reserve", "u4", ()),
]
LOW_CMD_FIELDS = [
    ("mode_pr", "u1", ()),
    ("mode_machine", "u1", ()),
    ("motor_cmd", MOTOR_CMD_FIELDS, (NUM_MOTOR_SLOTS,)),
    ("reserve", "u4", (4,)),
    ("crc", "u4", ()),
]
IMU_STATE_FIELDS = [
    ("quaternion", "f4", (4,)),
    ("gyroscope", "f4", (3,)),
    ("accelerometer", "f4", (3,)),
    ("rpy", "f4", (3,)),
    ("temperature", "i2", ()),
]
MOTOR_STATE_FIELDS = [
    ("mode", "u1", ()),
    ("q", "f4", ()),
    ("dq", "f4", ()),
    ("ddq", "f4", ()),
    ("tau_est", "f4", ()),
    ("temperature", "i2", (2,)),
    ("vol", "f4", ()),
    ("sensor", "u4", (2,)),
    ("motorstate", "u4", ()),
    ("reserve", "u4", (4,)),
]
LOW_STATE_FIELDS = [
    ("version", "u4", (2,)),
    ("mode_pr", "u1", ()),
    ("mode_machine", "u1", ()),
    ("tick", "u4", ()),
    ("imu_state", IMU_STATE_FIELDS, ()),
    ("motor_state", MOTOR_STATE_FIELDS, (NUM_MOTOR_SLOTS,)),
    ("wireless_remote", "u1", (40,)),
    ("reserve", "u4", (4,)),
    ("crc", "u4", ()),
]


def _align(offset: int, a: int) -> int:
    return (offset + a - 1) // a * a


def _struct_align(fields) -> int:
    return max(np.dtype(t).itemsize if isinstance(t, str) else _struct_align(t) for _, t, _ in fields)


def _lay_out(fields, offset: int, c_rules: bool, prefix: str, out: Dict[str, List[int]]) -> int:
    """Append the byte offset of every scalar of `fields` (in order) to out[path]; returns the end offset.
    CDR: each scalar aligned to its size, a struct adds no alignment or padding of its own. C: a struct is
    aligned to its largest member and padded to a multiple of it."""
    if c_rules:
        offset = _align(offset, _struct_align(fields))
    for name, typ, count in fields:
        n = int(np.prod(count)) if count else 1
        path = prefix + name
        for _ in range(n):
            if isinstance(typ, str):
                size = np.dtype(typ).itemsize
                offset = _align(offset, size)
                out.setdefault(path, []).append(offset)
                offset += size
            else:
                offset = _lay_out(typ, offset, c_rules, path + ".", out)
    if c_rules:
        offset = _align(offset, _struct_align(fields))
    return offset


def _leaf_types(fields, prefix: str = "") -> Dict[str, Tuple[str, Tuple[int, ...]]]:
    """path -> (scalar type, shape): the shape is the product of the enclosing array counts."""
    out: Dict[str, Tuple[str, Tuple[int, ...]]] = {}
    for name, typ, count in fields:
        if isinstance(typ, str):
            out[prefix + name] = (typ, tuple(count))
        else:
            for path, (t, shape) in _leaf_types(typ, prefix + name + ".").items():
                out[path] = (t, tuple(count) + shape)
    return out


#: `MessageLayout.crc_status`: the crc field matches; is 0 (never set by the sender) and does not match; is wrong.
CRC_MATCH, CRC_UNSET, CRC_WRONG = "match", "unset", "wrong"

CDR_LE_HEADERS = (b"\x00\x01", b"\x00\x07")  # XCDR1 / XCDR2 plain little endian: the same layout here
ENCAPSULATION = b"\x00\x01\x00\x00"


class MessageLayout:
    """Encode/decode one fixed-size message type: `decode(raw)` -> {path: array}, `encode(values)` -> raw bytes
    (header + CDR payload) with the CRC filled in. Paths: "mode_machine", "motor_cmd.q" (shape (35,)), ..."""

    def __init__(self, fields, type_name: str) -> None:
        self.type_name = type_name
        self.leaves = _leaf_types(fields)
        cdr: Dict[str, List[int]] = {}
        c: Dict[str, List[int]] = {}
        self.cdr_size = _align(_lay_out(fields, 0, False, "", cdr), 4)
        self.c_size = _lay_out(fields, 0, True, "", c)
        self._index = {}
        cdr_bytes: List[int] = []
        c_bytes: List[int] = []
        for path, (typ, shape) in self.leaves.items():
            size = np.dtype(typ).itemsize
            offs = np.array(cdr[path], dtype=np.int64)
            # index into a view of the payload as this type (every scalar sits at a multiple of its size)
            self._index[path] = (typ, shape, offs // size)
            for o_cdr, o_c in zip(cdr[path], c[path]):
                cdr_bytes.extend(range(o_cdr, o_cdr + size))
                c_bytes.extend(range(o_c, o_c + size))
        self._cdr_bytes = np.array(cdr_bytes, dtype=np.int64)
        self._c_bytes = np.array(c_bytes, dtype=np.int64)
        self.crc_cdr_offset = cdr["crc"][0]
        self.serialized_size = len(ENCAPSULATION) + self.cdr_size

    def payload(self, raw: bytes) -> np.ndarray:
        """The CDR payload of a serialized sample as uint8, or ValueError."""
        if len(raw) < self.serialized_size:
            raise ValueError("{}: {} bytes, expected {}".format(self.type_name, len(raw), self.serialized_size))
        if bytes(raw[0:2]) not in CDR_LE_HEADERS:
            raise ValueError("{}: unsupported encapsulation {}".format(self.type_name, bytes(raw[0:4]).hex()))
        return np.frombuffer(raw, dtype=np.uint8, count=self.cdr_size, offset=len(ENCAPSULATION))

    def crc_of_payload(self, payload: np.ndarray) -> int:
        """Unitree's CRC32 of a payload: the C struct image of its fields, all uint32 words but the last."""
        c_image = np.zeros(self.c_size, dtype=np.uint8)
        c_image[self._c_bytes] = payload[self._cdr_bytes]
        return unitree_crc32(c_image[: self.c_size - 4].view("<u4"))

    def crc_field(self, payload: np.ndarray) -> int:
        """The `crc` field of a payload (what the sender wrote)."""
        return int(payload.view("<u4")[self.crc_cdr_offset // 4])

    def crc_ok(self, raw: bytes) -> bool:
        """Whether the `crc` field of a serialized sample matches its content (ValueError: not this type)."""
        return self.crc_status(raw) == CRC_MATCH

    def crc_status(self, raw: bytes) -> str:
        """CRC_MATCH: the `crc` field matches the content; CRC_UNSET: it does not and is 0, the value of a
        sender that never sets it (unitree_mujoco's unitree_sdk2py bridge publishes LowState_ so); CRC_WRONG:
        any other value. ValueError: not this type."""
        payload = self.payload(raw)
        crc = self.crc_field(payload)
        if crc == self.crc_of_payload(payload):
            return CRC_MATCH
        return CRC_UNSET if crc == 0 else CRC_WRONG

    def decode(
        self, raw: bytes, paths: Optional[Sequence[str]] = None, check_crc: bool = True
    ) -> Tuple[Dict[str, np.ndarray], Optional[bool]]:
        """({path: array (a copy)} of every field, or of `paths`; whether the CRC matches, None unchecked)."""
        payload = self.payload(raw)
        views = {}
        out = {}
        for path in self._index if paths is None else paths:
            typ, shape, index = self._index[path]
            if typ not in views:
                views[typ] = payload.view("<" + typ)
            out[path] = views[typ][index].reshape(shape) if shape else views[typ][index[0]]
        if not check_crc:
            return out, None
        return out, self.crc_field(payload) == self.crc_of_payload(payload)

    def encode(self, values: Dict[str, object], crc: Optional[int] = None) -> bytes:
        """Serialized bytes of `values` (missing fields are 0); `crc` None computes the correct CRC."""
        payload = np.zeros(self.cdr_size, dtype=np.uint8)
        views = {}
        for path, value in values.items():
            typ, shape, index = self._index[path]
            if typ not in views:
                views[typ] = payload.view("<" + typ)
            views[typ][index] = np.asarray(value).reshape(-1)
        crc = self.crc_of_payload(payload) if crc is None else int(crc)
        payload.view("<u4")[self.crc_cdr_offset // 4] = crc
        return ENCAPSULATION + payload.tobytes()


LOW_CMD = MessageLayout(LOW_CMD_FIELDS, "unitree_hg::msg::dds_::LowCmd_")
LOW_STATE = MessageLayout(LOW_STATE_FIELDS, "unitree_hg::msg::dds_::LowState_")


# --- the two messages as arrays -------------------------------------------------------------------------


class LowCmd:
    """A LowCmd_: per motor slot mode, q, dq, tau, kp, kd ((35,) arrays), and the header bytes."""

    __slots__ = ("mode_pr", "mode_machine", "mode", "q", "dq", "tau", "kp", "kd")

    def __init__(self, mode_machine: int = 0, mode_pr: int = 0) -> None:
        self.mode_pr, self.mode_machine = int(mode_pr), int(mode_machine)
        self.mode = np.zeros(NUM_MOTOR_SLOTS, dtype=np.uint8)
        self.q = np.zeros(NUM_MOTOR_SLOTS)
        self.dq = np.zeros(NUM_MOTOR_SLOTS)
        self.tau = np.zeros(NUM_MOTOR_SLOTS)
        self.kp = np.zeros(NUM_MOTOR_SLOTS)
        self.kd = np.zeros(NUM_MOTOR_SLOTS)

    def values(self) -> Dict[str, object]:
        return {
            "mode_pr": self.mode_pr,
            "mode_machine": self.mode_machine,
            "motor_cmd.mode": self.mode,
            "motor_cmd.q": self.q,
            "motor_cmd.dq": self.dq,
            "motor_cmd.tau": self.tau,
            "motor_cmd.kp": self.kp,
            "motor_cmd.kd": self.kd,
        }

    def encode(self, crc: Optional[int] = None) -> bytes:
        return LOW_CMD.encode(self.values(), crc)

    def is_finite(self) -> bool:
        return bool(
            np.all(np.isfinite(self.q))
            and np.all(np.isfinite(self.dq))
            and np.all(np.isfinite(self.tau))
            and np.all(np.isfinite(self.kp))
            and np.all(np.isfinite(self.kd))
        )

    @classmethod
    def decode(cls, raw: bytes) -> Tuple["LowCmd", bool]:
        """(the command, whether its CRC matches); ValueError for bytes that are no LowCmd_."""
        v, crc_ok = LOW_CMD.decode(raw)
        assert crc_ok is not None  # decode checks the CRC by default
        cmd = cls(int(v["mode_machine"]), int(v["mode_pr"]))
        cmd.mode = v["motor_cmd.mode"]
        for name in ("q", "dq", "tau", "kp", "kd"):
            setattr(cmd, name, v["motor_cmd." + name].astype(np.float64))
        return cmd, crc_ok


class LowState:
    """A LowState_ with the fields the servers use as arrays (float64), plus the raw remote bytes."""

    __slots__ = (
        "tick",
        "mode_machine",
        "mode_pr",
        "quat_wxyz",
        "gyro",
        "accel",
        "rpy",
        "q",
        "dq",
        "tau_est",
        "wireless_remote",
    )

    def __init__(self) -> None:
        self.tick = 0
        self.mode_machine = 0
        self.mode_pr = 0
        self.quat_wxyz = np.array([1.0, 0.0, 0.0, 0.0])
        self.gyro = np.zeros(3)
        self.accel = np.zeros(3)
        self.rpy = np.zeros(3)
        self.q = np.zeros(NUM_MOTOR_SLOTS)
        self.dq = np.zeros(NUM_MOTOR_SLOTS)
        self.tau_est = np.zeros(NUM_MOTOR_SLOTS)
        self.wireless_remote = np.zeros(40, dtype=np.uint8)

    def values(self) -> Dict[str, object]:
        return {
            "tick": self.tick,
            "mode_machine": self.mode_machine,
            "mode_pr": self.mode_pr,
            "imu_state.quaternion": self.quat_wxyz,
            "imu_state.gyroscope": self.gyro,
            "imu_state.accelerometer": self.accel,
            "imu_state.rpy": self.rpy,
            "motor_state.q": self.q,
            "motor_state.dq": self.dq,
            "motor_state.tau_est": self.tau_est,
            "motor_state.mode": np.ones(NUM_MOTOR_SLOTS, dtype=np.uint8),
            "wireless_remote": self.wireless_remote,
        }

    def encode(self, crc: Optional[int] = None) -> bytes:
        return LOW_STATE.encode(self.values(), crc)

    _PATHS = (
        "tick",
        "mode_machine",
        "mode_pr",
        "imu_state.quaternion",
        "imu_state.gyroscope",
        "imu_state.accelerometer",
        "imu_state.rpy",
        "motor_state.q",
        "motor_state.dq",
        "motor_state.tau_est",
        "wireless_remote",
    )

    @classmethod
    def decode(cls, raw: bytes, check_crc: bool = True) -> Tuple["LowState", Optional[bool]]:
        """(the state, whether its CRC matches (None: not checked)); ValueError for bytes that are no LowState_."""
        v, crc_ok = LOW_STATE.decode(raw, cls._PATHS, check_crc)
        s = cls()
        s.tick, s.mode_machine, s.mode_pr = int(v["tick"]), int(v["mode_machine"]), int(v["mode_pr"])
        s.quat_wxyz = v["imu_state.quaternion"].astype(np.float64)
        s.gyro = v["imu_state.gyroscope"].astype(np.float64)
        s.accel = v["imu_state.accelerometer"].astype(np.float64)
        s.rpy = v["imu_state.rpy"].astype(np.float64)
        s.q = v["motor_state.q"].astype(np.float64)
        s.dq = v["motor_state.dq"].astype(np.float64)
        s.tau_est = v["motor_state.tau_est"].astype(np.float64)
        s.wireless_remote = v["wireless_remote"]
        return s, crc_ok


# --- wireless remote ------------------------------------------------------------------------------------

#: Bit i of the remote's button word (Unitree's KeyMap).
BUTTONS = ("R1", "L1", "start", "select", "R2", "L2", "F1", "F2", "A", "B", "X", "Y", "up", "right", "down", "left")
_BUTTON_BITS = {name.lower(): i for i, name in enumerate(BUTTONS)}


def button_bit(name: str) -> int:
    try:
        return _BUTTON_BITS[name.lower()]
    except KeyError:
        raise ValueError("unknown remote button {!r}: one of {}".format(name, ", ".join(BUTTONS)))


def parse_remote(remote: Union[Sequence[int], np.ndarray]) -> Tuple[frozenset, Dict[str, float]]:
    """(names of the pressed buttons, sticks {lx, rx, ry, ly}) of the 40-byte wireless_remote."""
    b = bytes(bytearray(np.asarray(remote, dtype=np.uint8).tobytes()))
    keys = struct.unpack_from("<H", b, 2)[0]
    lx, rx, ry = struct.unpack_from("<3f", b, 4)
    ly = struct.unpack_from("<f", b, 20)[0]
    return frozenset(BUTTONS[i] for i in range(16) if keys >> i & 1), {"lx": lx, "rx": rx, "ry": ry, "ly": ly}


def encode_remote(
    pressed: Sequence[str] = (), lx: float = 0.0, rx: float = 0.0, ry: float = 0.0, ly: float = 0.0
) -> np.ndarray:
    """The 40-byte wireless_remote with `pressed` buttons down and the given sticks (what sim_robot sends)."""
    keys = 0
    for name in pressed:
        keys |= 1 << button_bit(name)
    b = bytearray(40)
    struct.pack_into("<H", b, 2, keys)
    struct.pack_into("<3f", b, 4, lx, rx, ry)
    struct.pack_into("<f", b, 20, ly)
    return np.frombuffer(bytes(b), dtype=np.uint8).copy()
