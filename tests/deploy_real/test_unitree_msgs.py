"""The G1's low-level messages (deploy_real/unitree_msgs.py): Unitree's CRC32 against its definition, a
catalogue check value and the unitree SDK's own CRC; the numpy byte layouts against the cyclonedds
serializer, field by field; the wireless remote against hand-packed bytes."""

import struct

import numpy as np
import pytest

from deploy_real.unitree_msgs import (
    BUTTONS,
    CRC_MATCH,
    CRC_UNSET,
    CRC_WRONG,
    LOW_CMD,
    LOW_STATE,
    LowCmd,
    LowState,
    crc32_mpeg2,
    encode_remote,
    parse_remote,
    unitree_crc32,
)


def crc_by_definition(words):
    """Unitree's CRC32 as its SDK writes it: 32 bits of every word, MSB first, poly 0x04C11DB7."""
    crc, poly = 0xFFFFFFFF, 0x04C11DB7
    for current in words:
        bit = 1 << 31
        for _ in range(32):
            crc = ((crc << 1) & 0xFFFFFFFF) ^ (poly if crc & 0x80000000 else 0)
            if current & bit:
                crc ^= poly
            bit >>= 1
    return crc


def test_crc32_mpeg2_check_value():
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the CRC catalogue's check value of CRC-32/MPEG-2
    assert crc32_mpeg2(b"") == 0xFFFFFFFF


def test_unitree_crc32_matches_its_definition():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 250):
        words = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
        assert unitree_crc32(words) == crc_by_definition(words.tolist())
    assert unitree_crc32([0]) == crc_by_definition([0])
    assert unitree_crc32([0xFFFFFFFF] * 3) == crc_by_definition([0xFFFFFFFF] * 3)


def test_c_struct_sizes_are_unitree_sdk_packings():
    # the SDK packs unitree_hg LowCmd_ as '<2B2x' + 'B3x5fI' * 35 + '5I' and LowState_ as
    # '<2I2B2xI' + '13fh2x' + 'B3x4f2hf7I' * 35 + '40B5I' before its CRC
    assert LOW_CMD.c_size == struct.calcsize("<2B2x" + "B3x5fI" * 35 + "5I") == 1004
    assert LOW_STATE.c_size == struct.calcsize("<2I2B2xI" + "13fh2x" + "B3x4f2hf7I" * 35 + "40B5I") == 2092


def _random_sdk_messages(rng):
    sdk = pytest.importorskip("unitree_sdk2py.idl.default")
    cmd = sdk.unitree_hg_msg_dds__LowCmd_()
    cmd.mode_pr, cmd.mode_machine = int(rng.integers(0, 256)), int(rng.integers(0, 256))
    for m in cmd.motor_cmd:
        m.mode = int(rng.integers(0, 256))
        m.q, m.dq, m.tau, m.kp, m.kd = (float(np.float32(v)) for v in rng.normal(size=5) * 10)
        m.reserve = int(rng.integers(0, 2**32))
    cmd.reserve = [int(v) for v in rng.integers(0, 2**32, size=4)]
    st = sdk.unitree_hg_msg_dds__LowState_()
    st.version = [int(v) for v in rng.integers(0, 2**32, size=2)]
    st.mode_pr, st.mode_machine, st.tick = (
        int(rng.integers(0, 256)),
        int(rng.integers(0, 256)),
        int(rng.integers(0, 2**32)),
    )
    imu = st.imu_state
    imu.quaternion = [float(np.float32(v)) for v in rng.normal(size=4)]
    imu.gyroscope, imu.accelerometer, imu.rpy = ([float(np.float32(v)) for v in rng.normal(size=3)] for _ in range(3))
    imu.temperature = int(rng.integers(-(2**15), 2**15))
    for m in st.motor_state:
        m.mode = int(rng.integers(0, 256))
        m.q, m.dq, m.ddq, m.tau_est, m.vol = (float(np.float32(v)) for v in rng.normal(size=5))
        m.temperature = [int(v) for v in rng.integers(-(2**15), 2**15, size=2)]
        m.sensor = [int(v) for v in rng.integers(0, 2**32, size=2)]
        m.motorstate = int(rng.integers(0, 2**32))
        m.reserve = [int(v) for v in rng.integers(0, 2**32, size=4)]
    st.wireless_remote = [int(v) for v in rng.integers(0, 256, size=40)]
    st.reserve = [int(v) for v in rng.integers(0, 2**32, size=4)]
    return cmd, st


def test_crc_matches_the_unitree_sdk():
    pytest.importorskip("unitree_sdk2py")
    from unitree_sdk2py.utils.crc import CRC

    rng = np.random.default_rng(1)
    for _ in range(5):
        cmd, st = _random_sdk_messages(rng)
        for msg, layout in ((cmd, LOW_CMD), (st, LOW_STATE)):
            expected = CRC().Crc(msg)  # the SDK's compiled CRC library
            payload = layout.payload(msg.serialize())
            assert layout.crc_of_payload(payload) == expected
            msg.crc = expected
            assert layout.crc_ok(msg.serialize())
            msg.crc = expected ^ 1
            assert not layout.crc_ok(msg.serialize())


def test_crc_status_tells_a_crc_left_at_0_from_a_wrong_one():
    """A `crc` field of 0 on a message whose CRC is not 0 is "unset" (what a sender that never fills it in
    publishes, unitree_mujoco's bridge); any other mismatch is "wrong"; `crc_ok` stays strict."""
    s = LowState()
    s.tick, s.mode_machine = 42, 5
    s.q[:29] = np.linspace(-0.5, 0.5, 29)
    good = s.encode()
    correct = LOW_STATE.crc_of_payload(LOW_STATE.payload(good))
    assert correct not in (0, 1)
    assert LOW_STATE.crc_status(good) == CRC_MATCH and LOW_STATE.crc_ok(good)
    unset = s.encode(crc=0)
    assert LOW_STATE.crc_status(unset) == CRC_UNSET and not LOW_STATE.crc_ok(unset)
    for wrong in (correct ^ 1, 1, 0xFFFFFFFF):
        raw = s.encode(crc=wrong)
        assert LOW_STATE.crc_status(raw) == CRC_WRONG and not LOW_STATE.crc_ok(raw)
    with pytest.raises(ValueError):
        LOW_STATE.crc_status(b"\x00\x01\x00\x00" + bytes(10))


def test_crc_status_of_an_sdk_lowstate_left_without_crc():
    """unitree_mujoco's bridge fills the SDK's LowState_ and publishes it without setting crc: "unset"."""
    pytest.importorskip("unitree_sdk2py")
    from unitree_sdk2py.idl.default import unitree_hg_msg_dds__LowState_

    msg = unitree_hg_msg_dds__LowState_()
    msg.tick, msg.mode_machine = 1000, 5
    msg.imu_state.quaternion = [1.0, 0.0, 0.0, 0.0]
    assert msg.crc == 0
    assert LOW_STATE.crc_status(msg.serialize()) == CRC_UNSET


def _sdk_value(msg, path):
    parts = path.split(".")
    obj = getattr(msg, parts[0])
    if len(parts) == 1:
        return np.asarray(obj)
    if isinstance(obj, list):  # an array of structs
        return np.array([getattr(o, parts[1]) for o in obj])
    return np.asarray(getattr(obj, parts[1]))


def test_layouts_decode_and_encode_exactly_what_cyclonedds_serializes():
    pytest.importorskip("unitree_sdk2py")
    rng = np.random.default_rng(2)
    cmd, st = _random_sdk_messages(rng)
    cmd.crc, st.crc = 0x12345678, 0x9ABCDEF0
    for msg, layout in ((cmd, LOW_CMD), (st, LOW_STATE)):
        raw = msg.serialize()
        assert len(raw) == layout.serialized_size
        values, _ = layout.decode(raw)
        assert set(values) == set(layout.leaves)
        for path, v in values.items():
            np.testing.assert_array_equal(v, _sdk_value(msg, path).astype(v.dtype), err_msg=path)
        assert layout.encode(values, crc=msg.crc) == raw
        # and back: our bytes through cyclonedds' deserializer
        again = type(msg).deserialize(layout.encode(values, crc=msg.crc))
        assert again.serialize() == raw


def test_lowcmd_and_lowstate_round_trip_with_a_valid_crc():
    pytest.importorskip("unitree_sdk2py")
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_
    from unitree_sdk2py.utils.crc import CRC

    rng = np.random.default_rng(3)
    cmd = LowCmd(mode_machine=5)
    cmd.mode[:29] = 1
    cmd.q, cmd.kp, cmd.kd = rng.normal(size=35), rng.uniform(0, 100, 35), rng.uniform(0, 5, 35)
    raw = cmd.encode()
    sdk_cmd = LowCmd_.deserialize(raw)
    assert sdk_cmd.crc == CRC().Crc(sdk_cmd)
    assert sdk_cmd.mode_machine == 5
    np.testing.assert_allclose([m.q for m in sdk_cmd.motor_cmd], cmd.q.astype(np.float32))
    back, ok = LowCmd.decode(raw)
    assert ok and np.allclose(back.kp, cmd.kp.astype(np.float32))

    s = LowState()
    s.tick, s.mode_machine = 1234, 5
    s.q, s.dq = rng.normal(size=35), rng.normal(size=35)
    s.quat_wxyz = np.array([0.9, 0.1, -0.2, 0.3])
    s.wireless_remote = encode_remote(["A"])
    raw = s.encode()
    sdk_state = LowState_.deserialize(raw)
    assert sdk_state.crc == CRC().Crc(sdk_state) and sdk_state.tick == 1234
    back, ok = LowState.decode(raw)
    assert ok and np.allclose(back.q, s.q.astype(np.float32)) and back.tick == 1234
    corrupted = bytearray(raw)
    corrupted[100] ^= 0x01  # one bit of a motor field
    assert LowState.decode(bytes(corrupted))[1] is False


def test_decode_refuses_what_is_not_the_message():
    with pytest.raises(ValueError):
        LOW_STATE.decode(b"\x00\x01\x00\x00" + bytes(100))
    with pytest.raises(ValueError):  # big-endian encapsulation: not what the robot sends
        LOW_CMD.decode(b"\x00\x00\x00\x00" + bytes(LOW_CMD.cdr_size))


def test_remote_buttons_and_sticks():
    raw = bytearray(40)
    struct.pack_into("<H", raw, 2, (1 << 2) | (1 << 8))  # start + A
    struct.pack_into("<fff", raw, 4, 0.5, -0.25, 0.75)  # lx, rx, ry
    struct.pack_into("<f", raw, 20, -1.0)  # ly
    pressed, sticks = parse_remote(np.frombuffer(bytes(raw), dtype=np.uint8))
    assert pressed == {"start", "A"}
    assert sticks == {"lx": 0.5, "rx": -0.25, "ry": 0.75, "ly": -1.0}
    assert bytes(encode_remote(["start", "a"], lx=0.5, rx=-0.25, ry=0.75, ly=-1.0)) == bytes(raw)
    for i, name in enumerate(BUTTONS):
        assert parse_remote(encode_remote([name]))[0] == {name}
        assert struct.unpack_from("<H", bytes(encode_remote([name])), 2)[0] == 1 << i
    with pytest.raises(ValueError):
        encode_remote(["Z"])
