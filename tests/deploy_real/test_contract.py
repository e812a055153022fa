"""The Redis message contract: layouts, the default vector and the one validator (README, "Deploy")."""

import json
import math

import numpy as np
import pytest

from deploy_real import contract as C
from pose.g1_model import load_g1

G1 = load_g1()


def test_deployed_joints_insert_the_wrist_rolls_after_each_elbow():
    j = C.deploy_joints()
    assert len(j.names) == 25
    assert j.names[19] == "left_wrist_roll_joint" and j.names[24] == "right_wrist_roll_joint"
    assert [j.names[i] for i in j.body_ids] == list(G1.dof_names)
    np.testing.assert_allclose(j.lower[j.body_ids], G1.dof_lower)
    np.testing.assert_allclose(j.upper[j.body_ids], G1.dof_upper)
    assert C.WRIST_ROLL_IDS == (27, 32)
    assert [C.field_name(i) for i in C.WRIST_ROLL_IDS] == [
        "action_mimic_g1[27] (left_wrist_roll_joint)",
        "action_mimic_g1[32] (right_wrist_roll_joint)",
    ]


def test_default_vector_is_twists():
    v = C.default_mimic_vector()
    assert v.shape == (33,)
    assert v[0] == pytest.approx(0.793) and not np.any(v[1:8])
    legs = [-0.2, 0, 0, 0.4, -0.2, 0]
    np.testing.assert_allclose(v[8:20], legs * 2)
    np.testing.assert_allclose(v[20:23], 0)
    np.testing.assert_allclose(v[23:28], [0, 0.2, 0, 1.2, 0])  # left arm, wrist roll last
    np.testing.assert_allclose(v[28:33], [0, -0.2, 0, 1.2, 0])  # right arm
    C.validate_mimic(C.encode_floats(v))


def test_wrist_insert_and_split_are_inverse():
    rng = np.random.default_rng(0)
    m31 = rng.normal(size=(4, 31))
    m33 = C.insert_wrist_rolls(m31, [0.3, -0.4])
    assert m33.shape == (4, 33)
    np.testing.assert_allclose(m33[:, 27], 0.3)
    np.testing.assert_allclose(m33[:, 32], -0.4)
    back, wrists = C.split_wrist_rolls(m33)
    np.testing.assert_allclose(back, m31)
    np.testing.assert_allclose(wrists, [[0.3, -0.4]] * 4)


def valid():
    return list(C.default_mimic_vector())


@pytest.mark.parametrize(
    "value, field",
    [
        ("not json", "action_mimic_g1"),
        (b"\xff\xfe", "action_mimic_g1"),
        (json.dumps({"a": 1}), "action_mimic_g1"),
        (json.dumps(valid()[:31]), "action_mimic_g1"),
        (json.dumps(valid() + [0.0]), "action_mimic_g1"),
        (json.dumps(valid()[:5] + ["x"] + valid()[6:]), "action_mimic_g1[5]"),
        (json.dumps(valid()[:5] + [None] + valid()[6:]), "action_mimic_g1[5]"),
        (json.dumps(valid()[:5] + [True] + valid()[6:]), "action_mimic_g1[5]"),
        ("[" + ",".join(["0.1"] * 10 + ["NaN"] + ["0.1"] * 22) + "]", "action_mimic_g1[10]"),
        ("[" + ",".join(["Infinity"] + ["0.1"] * 32) + "]", "action_mimic_g1[0]"),
    ],
)
def test_malformed_messages_are_rejected_naming_the_field(value, field):
    with pytest.raises(C.MessageError) as e:
        C.validate_mimic(value)
    assert e.value.field.startswith(field)
    assert str(e.value).startswith(field)


def test_implausible_values_are_rejected_naming_the_field():
    v = valid()
    v[0] = 0.05
    with pytest.raises(C.MessageError, match=r"\(root_z\).*root height"):
        C.validate_mimic(v)
    v = valid()
    v[4] = 1e6
    with pytest.raises(C.MessageError, match=r"\(v_x\)"):
        C.validate_mimic(v)
    # angles are wrapped, not refused: a heading accumulated past 180 deg, roll in [0, 2 pi) (Isaac Gym's)
    v = valid()
    v[1], v[3] = 2.0 * math.pi - 0.01, 4.0
    w = C.validate_mimic(v)
    assert (w[1], w[3]) == (pytest.approx(-0.01), pytest.approx(4.0 - 2.0 * math.pi))
    # the knee (joint 3) beyond its range by more than the margin (0.2 rad), then within the margin
    v = valid()
    v[8 + 3] = G1.dof_upper[3] + 0.3
    with pytest.raises(C.MessageError, match=r"\[11\] \(left_knee_joint\).*outside the joint range"):
        C.validate_mimic(v)
    v[8 + 3] = G1.dof_upper[3] + 0.5 * C.JOINT_LIMIT_MARGIN
    assert C.validate_mimic(v)[11] == pytest.approx(G1.dof_upper[3] + 0.5 * C.JOINT_LIMIT_MARGIN)
    # a wrist roll beyond its range
    v = valid()
    v[32] = -3.0
    with pytest.raises(C.MessageError, match=r"right_wrist_roll_joint"):
        C.validate_mimic(v)


def test_meta_round_trip_and_errors():
    m = C.validate_meta(C.encode_meta(7, 1234.5).encode())
    assert (m.seq, m.t_ms) == (7, 1234.5)
    for bad, field in [
        ("x", "action_mimic_g1_meta"),
        ("[1]", "action_mimic_g1_meta"),
        ('{"seq": "a", "t_ms": 1}', "action_mimic_g1_meta.seq"),
        ('{"seq": 1, "t_ms": NaN}', "action_mimic_g1_meta.t_ms"),
        ('{"seq": 1}', "action_mimic_g1_meta.t_ms"),
    ]:
        with pytest.raises(C.MessageError) as e:
            C.validate_meta(bad)
        assert e.value.field == field
    assert math.isfinite(m.t_ms)


LOW, HIGH = [-0.4, -0.4, -0.8], [3.5, 0.4, 0.8]  # a CMG's trained command range (vx, vy, yaw rate)


@pytest.mark.parametrize(
    "value, field, reason",
    [
        ("not json", "command_velocity_g1", "not JSON"),
        (b"\xff\xfe", "command_velocity_g1", "not UTF-8"),
        ('{"vx": 1.0}', "command_velocity_g1", "expected a JSON list of 3 numbers, got dict"),
        ("[1.0, 0.0]", "command_velocity_g1", "expected 3 numbers, got 2"),
        ("[1.0, 0.0, 0.0, 0.0]", "command_velocity_g1", "expected 3 numbers, got 4"),
        ('[1.0, "0", 0.0]', "command_velocity_g1[1]", "not a number"),
        ("[1.0, 0.0, true]", "command_velocity_g1[2]", "not a number"),
        ("[NaN, 0.0, 0.0]", "command_velocity_g1[0]", "not finite"),
        ("[1.0, -Infinity, 0.0]", "command_velocity_g1[1]", "not finite"),
        ("[3.6, 0.0, 0.0]", "command_velocity_g1[0]", "vx 3.6 m/s outside the CMG's trained range [-0.400, 3.500]"),
        ("[1.0, -0.5, 0.0]", "command_velocity_g1[1]", "vy -0.5 m/s outside"),
        ("[1.0, 0.0, 1e9]", "command_velocity_g1[2]", "yaw_rate 1e+09 rad/s outside"),
    ],
)
def test_bad_velocity_commands_are_rejected_naming_the_entry(value, field, reason):
    with pytest.raises(C.MessageError) as e:
        C.validate_velocity_command(value, LOW, HIGH)
    assert e.value.field == field
    assert str(e.value).startswith(field + ": " + reason)


def test_velocity_commands_inside_the_range_are_kept_as_they_are():
    for value in (b"[1.25, -0.1, 0.3]", "[1.25, -0.1, 0.3]", [1.25, -0.1, 0.3]):
        np.testing.assert_array_equal(C.validate_velocity_command(value, LOW, HIGH), [1.25, -0.1, 0.3])
    np.testing.assert_array_equal(C.validate_velocity_command([3.5, -0.4, 0.8], LOW, HIGH), [3.5, -0.4, 0.8])


HUGE = 10**400  # no float holds it


def test_numbers_beyond_any_float_are_rejected_naming_the_entry():
    text = "[" + ",".join(["0.1"] * 5 + [str(HUGE)] + ["0.1"] * 27) + "]"
    with pytest.raises(C.MessageError) as e:
        C.validate_mimic(text)
    assert e.value.field == "action_mimic_g1[5]" and "integer of 1329 bits" in e.value.reason
    with pytest.raises(C.MessageError) as e:
        C.validate_meta('{"seq": 3, "t_ms": %d}' % HUGE)
    assert e.value.field == "action_mimic_g1_meta.t_ms"
    with pytest.raises(C.MessageError) as e:
        C.validate_velocity_command("[0.5, %d, 0.0]" % -HUGE, LOW, HIGH)
    assert e.value.field == "command_velocity_g1[1]"
    # an integer that a float holds is a number like any other
    v = valid()
    v[4] = 10**300
    with pytest.raises(C.MessageError, match=r"\(v_x\): 1e\+300 m/s beyond"):
        C.validate_mimic(json.dumps(v))


def test_messages_longer_than_4_kb_are_rejected_before_decoding():
    """The limit counts bytes, whitespace too: the same valid list padded to 4096 bytes passes, to 4097 not."""
    text = json.dumps(valid())
    at_limit = text[:-1] + " " * (4096 - len(text)) + "]"
    assert len(at_limit) == 4096
    np.testing.assert_array_equal(C.validate_mimic(at_limit.encode()), valid())
    for value in (at_limit[:-1] + " ]", (at_limit[:-1] + " ]").encode(), b"[" + b"1," * 20_000_000 + b"1]"):
        with pytest.raises(C.MessageError) as e:
            C.validate_mimic(value)
        assert str(e.value) == "action_mimic_g1: longer than 4096 bytes: not read"
    with pytest.raises(C.MessageError, match="^action_mimic_g1_meta: longer than 4096 bytes"):
        C.validate_meta('{"seq": 1, "t_ms": 1.0' + " " * 5000 + "}")


def test_deeply_nested_messages_within_4_kb_are_rejected():
    """orjson refuses thousands of nested brackets and the standard library's reader then raises RecursionError:
    a MessageError like any other malformed message (an exception in a step would fault the real robot into
    damping), for the reference, its meta and the CMG command alike."""
    with pytest.raises(C.MessageError, match=r"^action_mimic_g1: not JSON \(nested too deeply\)"):
        C.validate_mimic("[" * 3000)
    for text in ("[" * 3000, "[" * 1500 + "]" * 1500, '{"a":' * 600 + "1" + "}" * 600):
        assert len(text) <= C.MAX_MESSAGE_BYTES
        for validate, key in ((C.validate_mimic, "action_mimic_g1"), (C.validate_meta, "action_mimic_g1_meta")):
            with pytest.raises(C.MessageError, match="^{}[.:]".format(key)):
                validate(text.encode())
        with pytest.raises(C.MessageError, match="^command_velocity_g1"):
            C.validate_velocity_command(text, [-1.0] * 3, [1.0] * 3)


def test_a_numpy_array_is_a_list_of_numbers():
    v = C.default_mimic_vector()
    np.testing.assert_array_equal(C.validate_mimic(v), v)
    np.testing.assert_array_equal(C.validate_mimic(v.astype(np.float32)), v.astype(np.float32))
    with pytest.raises(C.MessageError, match=r"^action_mimic_g1: expected 33 numbers, got 31"):
        C.validate_mimic(v[:31])
