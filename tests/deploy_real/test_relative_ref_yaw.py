"""The student's reference yaw relative to the robot's at deploy (`motion.student_relative_ref_yaw`):
the export records it, the low-level step picks it from the metadata, and `RelativeRefYaw` aligns the
IMU's yaw with the stream's heading at the first fresh reference (docs/observations.md, Deploy side)."""

import importlib.util
import json
import math
import os

import numpy as np
import pytest

from deploy_helpers import sim_student_step

from deploy_real.contract import encode_floats, encode_meta, split_wrist_rolls
from deploy_real.policy import Policy
from deploy_real.safety import ReferenceGate, RefStatus
from deploy_real.student_step import RelativeRefYaw, reference_yaw_mode
from legged_gym.envs.mdp.observations import REF_YAW_ENTRY
from legged_gym.scripts.save_jit_stu_rlbc import deploy_metadata, export


def yaw_quat(yaw):
    """xyzw quaternion of a rotation by `yaw` about z."""
    return np.array([0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)])


def wrapped(angle):
    return (angle + math.pi) % (2 * math.pi) - math.pi


def reference(yaw):
    """A valid 31-D block: the gate's standing default with the given heading."""
    mimic31, _ = split_wrist_rolls(ReferenceGate().default)
    out = np.array(mimic31, dtype=np.float32)
    out[REF_YAW_ENTRY] = yaw
    return out


def test_offset_taken_at_the_first_fresh_reference_then_heading_error():
    rel = RelativeRefYaw()
    ref = reference(2.0)
    # nothing fresh yet: no heading error to show, also while the gate blends a first stream in
    out = rel(ref, yaw_quat(-1.0), RefStatus.DEFAULT)
    assert out[REF_YAW_ENTRY] == 0.0 and rel.offset is None
    out = rel(ref, yaw_quat(-1.0), RefStatus.BLEND_IN)
    assert out[REF_YAW_ENTRY] == 0.0 and rel.offset is None
    # the first fresh reference aligns the IMU's zero: offset = 2.0 - (-1.0), error 0
    out = rel(ref, yaw_quat(-1.0), RefStatus.FRESH)
    assert rel.offset == pytest.approx(3.0, abs=1e-6) and out[REF_YAW_ENTRY] == pytest.approx(0.0, abs=1e-6)
    keep = [i for i in range(31) if i != REF_YAW_ENTRY]
    np.testing.assert_array_equal(out[keep], ref[keep])
    # the robot turns by -0.3 while the reference does not: the error is +0.3
    out = rel(ref, yaw_quat(-1.3), RefStatus.FRESH)
    assert out[REF_YAW_ENTRY] == pytest.approx(0.3, abs=1e-6)
    # wrapping: aligned robot yaw 2.5 + 3.0 = 5.5, reference 2.0 -> -3.5 + 2 pi
    out = rel(ref, yaw_quat(2.5), RefStatus.HOLD)
    assert out[REF_YAW_ENTRY] == pytest.approx(wrapped(2.0 - 5.5), abs=1e-6) and out[REF_YAW_ENTRY] > 2.7
    # blending to or standing on the default: keep the heading
    assert rel(ref, yaw_quat(2.5), RefStatus.BLEND)[REF_YAW_ENTRY] == 0.0
    assert rel.offset == pytest.approx(3.0, abs=1e-6)  # a short gap: the same stream goes on
    # back during that blend: blended in, tracked with the same offset
    out = rel(ref, yaw_quat(-1.2), RefStatus.BLEND_IN)
    assert out[REF_YAW_ENTRY] == pytest.approx(0.2, abs=1e-6)
    out = rel(ref, yaw_quat(-1.3), RefStatus.FRESH)
    assert out[REF_YAW_ENTRY] == pytest.approx(0.3, abs=1e-6)
    # the gate reached the default: the stream is gone; one resuming at heading -2.0 aligns anew
    assert rel(ref, yaw_quat(2.5), RefStatus.DEFAULT)[REF_YAW_ENTRY] == 0.0 and rel.offset is None
    out = rel(reference(-2.0), yaw_quat(2.5), RefStatus.FRESH)
    assert rel.offset == pytest.approx(-4.5, abs=1e-6) and out[REF_YAW_ENTRY] == pytest.approx(0.0, abs=1e-6)
    rel.reset()
    out = rel(reference(-0.5), yaw_quat(0.7), RefStatus.FRESH)
    assert rel.offset == pytest.approx(-1.2, abs=1e-6) and out[REF_YAW_ENTRY] == pytest.approx(0.0, abs=1e-6)


def test_no_offset_from_a_non_finite_imu():
    rel = RelativeRefYaw()
    out = rel(reference(1.0), np.array([0.0, 0.0, np.nan, 1.0]), RefStatus.FRESH)
    assert rel.offset is None and out[REF_YAW_ENTRY] == 0.0
    out = rel(reference(1.0), yaw_quat(0.25), RefStatus.FRESH)
    assert rel.offset == pytest.approx(0.75, abs=1e-6) and out[REF_YAW_ENTRY] == pytest.approx(0.0, abs=1e-6)


def test_metadata_says_which_yaw_from_the_trained_set():
    assert deploy_metadata("g1")["reference_yaw"] == "absolute"  # TWIST's
    assert deploy_metadata("g1", ["motion.student_relative_ref_yaw=true"])["reference_yaw"] == "relative"
    last_wins = ["motion.student_relative_ref_yaw=true", "motion.student_relative_ref_yaw=false"]
    assert deploy_metadata("g1", last_wins)["reference_yaw"] == "absolute"
    # the teacher's option alone does not change the student's block
    assert deploy_metadata("g1", ["motion.relative_ref_yaw=true"])["reference_yaw"] == "absolute"
    assert reference_yaw_mode(None) == "absolute" and reference_yaw_mode({}) == "absolute"
    with pytest.raises(ValueError, match="reference_yaw = 'heading'"):
        reference_yaw_mode({"reference_yaw": "heading"})


@pytest.mark.parametrize("trained_set", [[], ["motion.student_relative_ref_yaw=true"]])
def test_student_step_uses_the_yaw_its_policy_was_trained_with(tmp_path, trained_set):
    """A checkpoint's recorded --set items -> the export's metadata -> StudentStep: the yaw entry of the
    observation's newest history frame is the stream's (absolute) or the aligned heading error."""
    from deploy_helpers import save_random_student
    from pose.g1_model import load_g1

    save_random_student(tmp_path / "model_3.pt", infos={"set": trained_set})
    out = export(tmp_path / "model_3.pt", tmp_path / "traced", "s")
    relative = bool(trained_set)
    mode = "relative" if relative else "absolute"
    with open(out["json"]) as f:
        assert json.load(f)["reference_yaw"] == mode
    os.remove(out["json"])  # each model file carries the metadata itself
    assert Policy(out["jit"], engine="torch").metadata()["reference_yaw"] == mode
    if "onnx" in out and importlib.util.find_spec("onnxruntime") is not None:
        assert Policy(out["onnx"]).metadata()["reference_yaw"] == mode

    g1 = load_g1()
    step = sim_student_step(out["jit"])
    assert (step.relative_yaw is not None) == relative
    zeros = np.zeros(23)
    mimic33 = np.array(ReferenceGate().default, dtype=np.float64)
    mimic33[REF_YAW_ENTRY] = 2.0
    for i in range(27):  # blended in over frames 0-24; aligned at frame 25, the first fresh one; turned by -0.4
        raw = (encode_floats(mimic33), encode_meta(i + 1, 1000.0 * (i + 1)))
        robot_yaw = -1.4 if i == 26 else -1.0
        result = step.step(
            zeros[:3], yaw_quat(robot_yaw), g1.default_dof_pos, zeros, 0.02 * (i + 1), 1000.0 * (i + 1), raw
        )
        seen = float(step.builder.history[0, -1, REF_YAW_ENTRY])
        if i < 25:
            assert result.status is RefStatus.BLEND_IN
            assert seen == pytest.approx(0.0 if relative else 2.0, abs=1e-5)  # the stream's heading at once
            continue
        assert result.status is RefStatus.FRESH
        assert result.mimic31[REF_YAW_ENTRY] == pytest.approx(2.0, abs=1e-6)  # the stream's, for the targets
        assert seen == pytest.approx((0.4 if i == 26 else 0.0) if relative else 2.0, abs=1e-5)
    step.restart()
    assert step.relative_yaw is None or step.relative_yaw.offset is None
