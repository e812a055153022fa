"""deploy_real.drift_feedback: the student's drift feedback dead-reckoned on a robot, against positions,
rotations and corrections computed here by hand (planar motion: roll = pitch = 0)."""

import math

import numpy as np
import pytest

from deploy_real.drift_feedback import MAX_GAIN, DeadReckonedFeedback, feedback_settings, with_gains
from deploy_real.safety import RefStatus

SETTINGS = {"pos_gain": 0.8, "yaw_gain": 1.5, "max_speed": 0.5, "max_yaw_rate": 0.4, "full_speed": 0.0}
DT = 0.02


def block(yaw, v_local=(1.0, 0.0, 0.0), yaw_rate=0.0):
    """A 31-entry reference block: z 0.75, roll = pitch = 0, yaw, root-frame velocity, yaw rate, joints."""
    b = np.zeros(31, dtype=np.float32)
    b[0], b[3] = 0.75, yaw
    b[4:7], b[7] = v_local, yaw_rate
    b[8:] = np.linspace(-0.2, 0.2, 23)
    return b


def yaw_quat(yaw):
    return np.array([0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)])


def rot(yaw, v):
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def test_settings_come_from_the_export_metadata():
    assert feedback_settings(None) is None and feedback_settings({"drift_feedback": None}) is None
    assert feedback_settings({"drift_feedback": dict(SETTINGS)}) == SETTINGS
    with pytest.raises(ValueError, match="expected the keys"):
        feedback_settings({"drift_feedback": {"pos_gain": 1.0}})
    with pytest.raises(ValueError, match="finite values >= 0"):
        feedback_settings({"drift_feedback": dict(SETTINGS, yaw_gain=float("nan"))})


def test_other_gains_replace_the_trained_ones_within_bounds():
    assert with_gains(SETTINGS, (2.0, 0.0)) == dict(SETTINGS, pos_gain=2.0, yaw_gain=0.0)
    assert SETTINGS["pos_gain"] == 0.8  # the given settings are left as they were
    for bad in ((float("nan"), 1.0), (1.0, -0.1), (MAX_GAIN + 0.5, 1.0)):
        with pytest.raises(ValueError, match="--drift_feedback_gains: .* expected a finite value in"):
            with_gains(SETTINGS, bad)


def test_a_robot_left_behind_is_steered_towards_the_dead_reckoned_reference():
    """The reference walks at 1 m/s along its heading 0.5 rad, the robot (IMU yaw 2.0: another zero)
    stands: after n steps the block's root velocity is v_ref + R_ref^-1 of the capped correction
    0.8 * (n dt R(0.5) v_ref); the yaw entries are untouched while the heading matches."""
    fb = DeadReckonedFeedback(SETTINGS, DT)
    ref = block(0.5)
    imu = yaw_quat(2.0)
    first = fb.steer(ref, imu, RefStatus.FRESH)
    np.testing.assert_allclose(first, ref, atol=1e-6)  # aligned: no error at the start
    fb.advance(np.zeros(3))
    n = 10
    for _ in range(n - 1):
        fb.steer(ref, imu, RefStatus.FRESH)
        fb.advance(np.zeros(3))
    steered = fb.steer(ref, imu, RefStatus.FRESH)
    err = n * DT * rot(0.5, (1.0, 0.0))  # 0.2 m ahead of the robot
    correction = 0.8 * err  # 0.16 m/s: below the cap
    expected_local = np.array([1.0, 0.0]) + rot(-0.5, correction)
    np.testing.assert_allclose(steered[4:6], expected_local, atol=1e-5)
    assert steered[6] == pytest.approx(0.0, abs=1e-6) and steered[7] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_array_equal(np.delete(steered, [4, 5, 6, 7]), np.delete(ref, [4, 5, 6, 7]))
    # far behind: the added speed is capped at max_speed
    for _ in range(200):
        fb.advance(np.zeros(3))
        fb.steer(ref, imu, RefStatus.FRESH)
    capped = fb.steer(ref, imu, RefStatus.FRESH)
    assert np.linalg.norm(capped[4:6] - np.array([1.0, 0.0])) == pytest.approx(0.5, abs=1e-5)


def test_a_robot_that_keeps_up_gets_no_correction_and_a_turned_one_a_yaw_rate():
    """The robot's estimate equals the reference's motion in its own frame (IMU yaw -1.0 aligned with the
    reference's 0.5 by the offset): the dead-reckoned positions stay together, no correction. Turned
    by +0.2 rad on the IMU, the yaw-rate entry gets 1.5 * (-0.2) = -0.3 (under the 0.4 cap)."""
    fb = DeadReckonedFeedback(SETTINGS, DT)
    ref = block(0.5, v_local=(0.8, 0.1, 0.0))
    imu = yaw_quat(-1.0)
    for _ in range(50):
        out = fb.steer(ref, imu, RefStatus.FRESH)
        fb.advance(np.array([0.8, 0.1, 0.0]))
    np.testing.assert_allclose(out, ref, atol=1e-5)
    turned = fb.steer(ref, yaw_quat(-0.8), RefStatus.FRESH)
    assert turned[7] == pytest.approx(-0.3, abs=1e-5)


def test_stale_or_missing_references_and_bad_estimates():
    """HOLD/BLEND/BLEND_IN: the block passes unchanged and nothing is integrated; a non-finite estimate or
    IMU quaternion restarts both positions at 0, the yaw alignment kept (as the relative yaw keeps its
    own); DEFAULT starts over (the next fresh reference aligns anew, no correction)."""
    fb = DeadReckonedFeedback(SETTINGS, DT)
    ref, imu = block(0.0), yaw_quat(0.0)
    for _ in range(10):
        fb.steer(ref, imu, RefStatus.FRESH)
        fb.advance(np.zeros(3))
    ahead = fb.ref_xy.clone()
    for status in (RefStatus.HOLD, RefStatus.BLEND, RefStatus.BLEND_IN):
        np.testing.assert_array_equal(fb.steer(ref, imu, status), ref)
        fb.advance(np.zeros(3))
    assert np.allclose(fb.ref_xy.numpy(), ahead.numpy())
    assert fb.steer(ref, imu, RefStatus.FRESH)[4] > 1.1  # still steered after the hold
    fb.advance(np.array([np.nan, 0.0, 0.0]))  # a bad estimate: the positions restart
    np.testing.assert_allclose(fb.steer(ref, imu, RefStatus.FRESH), ref, atol=1e-6)
    fb.advance(np.zeros(3))
    np.testing.assert_array_equal(fb.steer(ref, np.full(4, np.nan), RefStatus.FRESH), ref)
    assert fb.offset == 0.0 and fb.ref_xy.abs().max() == 0.0 and fb.robot_xy.abs().max() == 0.0
    turned = fb.steer(ref, yaw_quat(0.2), RefStatus.FRESH)  # the alignment kept: the 0.2-rad turn is an error
    assert turned[7] == pytest.approx(-min(1.5 * 0.2, 0.4), abs=1e-6)  # yaw gain 1.5, capped at 0.4 rad/s
    fb.advance(np.zeros(3))
    fb.steer(ref, imu, RefStatus.FRESH)
    fb.advance(np.zeros(3))
    np.testing.assert_array_equal(fb.steer(ref, imu, RefStatus.DEFAULT), ref)
    assert fb.offset is None
    np.testing.assert_allclose(fb.steer(ref, imu, RefStatus.FRESH), ref, atol=1e-6)


class ChosenEstimate:
    """Test double around a loaded policy: its actions, and a base-velocity estimate the test sets."""

    def __init__(self, policy):
        self.policy, self.estimate = policy, None

    def __call__(self, obs):
        return self.policy(obs)

    @property
    def base_velocity(self):
        return self.estimate

    def __getattr__(self, name):
        return getattr(self.policy, name)


def test_export_carries_the_estimate_and_the_settings_to_student_step(tmp_path):
    """A student with a base_lin_vel estimator trained with motion.student_ref_correction: the export's
    TorchScript `base_velocity` and ONNX `base_lin_vel` output are the estimator's denormalised estimate
    (recomputed here from the checkpoint), its metadata holds the feedback's settings, and StudentStep
    steers the observed block; without the estimator the exporter refuses such a student."""
    import importlib.util

    import torch
    from conftest import checkpoint_estimate
    from deploy_helpers import save_random_student

    from deploy_real.contract import encode_floats, encode_meta
    from deploy_real.policy import Policy
    from deploy_real.safety import ReferenceGate
    from deploy_helpers import sim_student_step
    from legged_gym.envs.mdp.layout import LAYOUT
    from legged_gym.scripts.save_jit_stu_rlbc import export
    from pose.g1_model import load_g1

    trained = ["motion.ref_correction.pos_gain=0.7", "motion.student_ref_correction=true"]
    target = LAYOUT.priv_info_indices(["root_z", "base_lin_vel"])  # base_lin_vel after another field
    save_random_student(tmp_path / "model_3.pt", infos={"set": trained}, estimator_target=target)
    out = export(tmp_path / "model_3.pt", tmp_path / "traced", "s")
    ckpt = torch.load(str(tmp_path / "model_3.pt"), weights_only=True)
    obs = torch.randn(2, 1155, generator=torch.Generator().manual_seed(2)) * 0.3
    expected = checkpoint_estimate(ckpt, obs)[:, 1:4]  # base_lin_vel after root_z
    jit = torch.jit.load(out["jit"])
    torch.testing.assert_close(jit.base_velocity(obs), expected, atol=1e-5, rtol=1e-5)
    policy = Policy(out["jit"], engine="torch")
    assert policy.has_base_velocity and policy.base_velocity is None
    policy(obs[0].numpy())
    np.testing.assert_allclose(policy.base_velocity, expected[0].numpy(), atol=1e-5)
    defaults = {"pos_gain": 0.7, "yaw_gain": 0.0, "max_speed": 1.0, "max_yaw_rate": 1.0, "full_speed": 0.0}
    assert policy.metadata()["drift_feedback"] == defaults  # the trained gain, the config's other values
    if "onnx" in out and importlib.util.find_spec("onnxruntime") is not None:
        onnx_policy = Policy(out["onnx"])
        onnx_policy(obs[0].numpy())
        np.testing.assert_allclose(onnx_policy.base_velocity, expected[0].numpy(), atol=1e-4)

    g1 = load_g1()
    mimic33 = np.array(ReferenceGate().default, dtype=np.float64)
    mimic33[4] = 1.0  # the reference walks forward at 1 m/s
    zeros = np.zeros(23)

    def student_step(policy_path=out["jit"], **kwargs):
        return sim_student_step(policy_path, **kwargs)

    def stream(s, i):
        """Step `s` on frame i of the walking reference (the gate blends the stream in over frames 0 to 24:
        frame 25 is the first fresh one); the velocity entries of the block it saw."""
        raw = (encode_floats(mimic33), encode_meta(i + 1, 1000.0 * (i + 1)))
        status = s.step(zeros[:3], yaw_quat(0.0), g1.default_dof_pos, zeros, 0.02 * (i + 1), 1000.0 * (i + 1), raw)
        assert status.status is (RefStatus.BLEND_IN if i < 25 else RefStatus.FRESH)
        return s.builder.history[0, -1, 4:8]

    step = student_step()
    assert step.drift_feedback is not None and "drift feedback" in step.describe()
    for i in range(30):
        seen = stream(step, i)
        if i == 25:
            assert float(seen[0]) == pytest.approx(1.0, abs=1e-5)  # aligned: nothing to correct yet
    assert float(np.abs(seen[:2] - np.array([1.0, 0.0])).max()) > 1e-3  # the robot's estimate differs: steered

    off = student_step(use_drift_feedback=False)  # the servers' --no_drift_feedback
    assert off.drift_feedback is None and "drift feedback off" in off.describe()
    for i in range(28):
        seen = stream(off, i)
    assert float(seen[0]) == pytest.approx(1.0, abs=1e-6)  # the stream's velocity

    # the servers' --drift_feedback_gains: the same first correction, scaled by the new gain over the trained one
    def first_correction(**kwargs):
        s = student_step(**kwargs)
        for i in range(27):
            seen = stream(s, i)
        return s, seen[:2] - np.array([1.0, 0.0])

    trained_step, trained_correction = first_correction()
    faster, faster_correction = first_correction(drift_feedback_gains=(2.1, 0.5))
    assert faster.drift_feedback.settings == dict(defaults, pos_gain=2.1, yaw_gain=0.5)
    assert "gains 2.1, 0.5 /s from --drift_feedback_gains; trained with 0.7, 0" in faster.describe()
    assert "gains 0.7, 0 /s)" in trained_step.describe()
    assert np.abs(trained_correction).max() > 1e-4
    np.testing.assert_allclose(faster_correction, trained_correction * 3.0, rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="the drift feedback is off"):
        first_correction(drift_feedback_gains=(2.0, 0.5), use_drift_feedback=False)

    # the servers' --leg_odometry: the standing robot's legs say 0 m/s; an estimate within 0.3 m/s of that gives
    # way to them (nothing dead-reckoned), one beyond is integrated as it is; a restart forgets the step before
    legs = student_step(leg_odometry=True)
    assert "dead-reckoned on its velocity estimate and the legs' kinematics" in legs.describe()
    legs.policy = ChosenEstimate(legs.policy)
    legs.policy.estimate = np.array([0.2, -0.1, 0.3])
    for i in range(30):
        stream(legs, i)
        assert legs.leg_odometry.from_legs == (i > 0)
    assert legs.drift_feedback.robot_xy.tolist() == [0.0, 0.0]
    legs.policy.estimate = np.array([0.5, 0.0, 0.0])
    for i in range(30, 40):
        stream(legs, i)
        assert not legs.leg_odometry.from_legs
    np.testing.assert_allclose(legs.drift_feedback.robot_xy.numpy(), [10 * 0.02 * 0.5, 0.0], atol=1e-9)
    legs.restart()
    legs.policy.estimate = np.array([0.2, 0.0, 0.0])
    stream(legs, 0)
    assert not legs.leg_odometry.from_legs
    with pytest.raises(ValueError, match="no drift feedback to dead-reckon"):
        student_step(leg_odometry=True, use_drift_feedback=False)
    # both low-level servers take the flag to their StudentStep
    from deploy_real import server_low_level_g1_real, server_low_level_g1_sim
    from deploy_real.real_config import load_real_config

    for server in (server_low_level_g1_sim, server_low_level_g1_real):
        assert server.build_parser().parse_args(["--leg_odometry"]).leg_odometry
        assert not server.build_parser().parse_args([]).leg_odometry
    sim = server_low_level_g1_sim.LowLevelSim(out["jit"], engine="torch", leg_odometry=True)
    real = server_low_level_g1_real.LowLevelReal(load_real_config(None), out["jit"], engine="torch", leg_odometry=True)
    assert sim.student.leg_odometry is not None and real.student.leg_odometry is not None
    assert server_low_level_g1_sim.LowLevelSim(out["jit"], engine="torch").student.leg_odometry is None

    save_random_student(tmp_path / "model_4.pt", infos={"set": trained})
    with pytest.raises(ValueError, match="without a state estimator of base_lin_vel"):
        export(tmp_path / "model_4.pt", tmp_path / "traced", "s")
    from deploy_real.policy import SHIPPED_POLICY  # trained without the feedback

    with pytest.raises(ValueError, match="its metadata has no drift_feedback"):
        student_step(SHIPPED_POLICY, drift_feedback_gains=(2.0, 1.0))
