"""sim_robot's robot side without DDS: the PD law of a LowCmd per motor, the LowState it publishes (motor
order, IMU, remote, CRC), the gantry, the --press schedule."""

import argparse

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from deploy_real.sim_robot import Remote, SimRobot, parse_press
from deploy_real.unitree_msgs import LowCmd, LowState, parse_remote
from pose.g1_model import load_g1


def hold_default_cmd():
    g1 = load_g1()
    motors = list(g1.real_motor_joints)
    cmd = LowCmd(mode_machine=5)
    cmd.mode[:29] = 1
    for name, q, kp, kd in zip(g1.dof_names, g1.default_dof_pos, g1.kp, g1.kd):
        m = motors.index(name)
        cmd.q[m], cmd.kp[m], cmd.kd[m] = q, kp, kd
    for w in g1.wrist_roll_joints:
        m = motors.index(w["name"])
        cmd.kp[m], cmd.kd[m] = w["kp"], w["kd"]
    return cmd, motors


def test_pd_law_per_motor_every_physics_step():
    robot = SimRobot(release_s=0)
    cmd, motors = hold_default_cmd()
    knee = motors.index("left_knee_joint")
    cmd.tau[knee], cmd.dq[knee] = 3.0, 0.5
    robot.apply(cmd)
    j = list(robot.sim.joints.names).index("left_knee_joint")
    for _ in range(5):
        q, dq = robot.sim.joint_pos_vel()
        robot.physics_step(0.0)
        expected = 3.0 + cmd.kp[knee] * (cmd.q[knee] - q[j]) + cmd.kd[knee] * (0.5 - dq[j])
        assert robot.tau[j] == pytest.approx(expected, rel=1e-9)
    applied = robot.sim.data.ctrl[robot.sim._act]
    np.testing.assert_allclose(applied, np.clip(robot.tau, -robot.sim.torque_limit, robot.sim.torque_limit))

    off = LowCmd()
    off.q[:], off.kp[:] = 1.0, 100.0  # mode 0: the motor is off
    robot.apply(off)
    robot.physics_step(0.0)
    assert np.all(robot.tau == 0)
    bad = LowCmd()
    bad.mode[:] = 1
    bad.q[3] = np.nan
    robot.apply(bad)
    assert robot.nonfinite_cmds == 1 and np.all(robot.kp == 100.0)  # dropped: the previous command stays


def test_lowstate_reports_motors_imu_and_remote():
    robot = SimRobot(release_s=0)
    cmd, motors = hold_default_cmd()
    robot.apply(cmd)
    for _ in range(800):  # settle standing
        robot.physics_step(0.0)
    state, crc_ok = LowState.decode(robot.lowstate(["A", "select"]))
    assert crc_ok and state.mode_machine == 5 and state.tick == 800
    q, dq = robot.sim.joint_pos_vel()
    for j, name in enumerate(robot.sim.joints.names):
        assert state.q[motors.index(name)] == pytest.approx(q[j], abs=1e-6)
        assert state.dq[motors.index(name)] == pytest.approx(dq[j], abs=1e-5)
    for name in ("left_wrist_pitch_joint", "left_wrist_yaw_joint", "right_wrist_pitch_joint", "right_wrist_yaw_joint"):
        assert state.q[motors.index(name)] == 0.0
    assert np.all(state.q[29:] == 0)
    assert np.linalg.norm(state.quat_wxyz) == pytest.approx(1.0, abs=1e-6)
    assert np.linalg.norm(state.accel) == pytest.approx(9.81, abs=0.3) and state.accel[2] > 9.0  # standing still
    w, x, y, z = state.quat_wxyz
    np.testing.assert_allclose(state.rpy, Rotation.from_quat([x, y, z, w]).as_euler("xyz"), atol=1e-5)
    assert parse_remote(state.wireless_remote)[0] == {"A", "select"}
    assert not robot.fell and robot.min_pelvis_height > 0.6


def test_gantry_holds_the_pelvis_until_released():
    robot = SimRobot()  # no command: zero torque, hanging
    z0 = float(robot.sim.data.qpos[2])
    for _ in range(300):
        robot.physics_step(0.0)
    assert robot.pinned and robot.sim.data.qpos[2] == pytest.approx(z0, abs=1e-3) and not robot.fell
    robot.release(0.3)
    for _ in range(2000):
        robot.physics_step(1.0)
    assert robot.fell and robot.fell_at == 1.0  # without torque it collapses once let go


def test_press_schedule():
    assert parse_press("START@3") == ("START", 3.0, 0.3)
    assert parse_press("a@1.5:2") == ("a", 1.5, 2.0)
    for bad in ("START", "Z@1", "A@x"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_press(bad)
    remote = Remote([parse_press("START@1"), parse_press("A@2:1")])
    assert remote.pressed(0.5) == [] and remote.pressed(1.1) == ["START"] and remote.pressed(1.4) == []
    assert remote.pressed(2.9) == ["A"] and remote.first_press("a") == 2.0 and remote.first_press("B") is None
