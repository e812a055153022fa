"""The sim2sim MuJoCo G1: start pose facing +x, deploy gains and torque limits, sensors."""

import math

import numpy as np
import pytest

pytest.importorskip("mujoco")

from deploy_real.contract import default_mimic_vector, deploy_joints, split_wrist_rolls  # noqa: E402
from deploy_real.mujoco_g1 import G1MujocoSim  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402

G1 = load_g1()


@pytest.fixture(scope="module")
def sim():
    return G1MujocoSim()


def test_starts_upright_at_the_default_pose_facing_plus_x(sim):
    sim.reset()
    st = sim.state()
    np.testing.assert_allclose(st.base_quat_xyzw, [0, 0, 0, 1], atol=1e-12)  # identity: facing +x
    assert st.pelvis_height == pytest.approx(0.793)
    q31, wrists = split_wrist_rolls(default_mimic_vector())
    np.testing.assert_allclose(st.dof_pos, q31[8:])
    np.testing.assert_allclose(st.wrist_pos, wrists)
    assert sim.model.opt.timestep == 0.001


def test_deploy_gains_and_full_effort_limits(sim):
    j = deploy_joints()
    knee, wrist = j.names.index("left_knee_joint"), j.names.index("right_wrist_roll_joint")
    assert (sim.kp[knee], sim.kd[knee], sim.torque_limit[knee]) == (150, 4, 139)
    assert (sim.kp[wrist], sim.kd[wrist], sim.torque_limit[wrist]) == (20, 1, 25)
    np.testing.assert_allclose(sim.torque_limit[j.body_ids], G1.effort)  # training clips at 0.9 of these
    sim.reset()
    target = sim.data.qpos[sim._qadr] + 10.0
    tau = sim.torques(target)
    np.testing.assert_allclose(tau, sim.torque_limit)
    q, v = sim.data.qpos[sim._qadr], sim.data.qvel[sim._vadr]
    small = q + 0.01
    np.testing.assert_allclose(sim.torques(small), sim.kp * 0.01 - sim.kd * v)


def test_sensors_report_the_pelvis_orientation_and_rate(sim):
    sim.reset()
    yaw = 0.7
    sim.data.qpos[3:7] = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
    sim.data.qvel[3:6] = [0.1, -0.2, 0.3]  # body-frame angular velocity of the free joint
    sim.mujoco.mj_forward(sim.model, sim.data)
    st = sim.state()
    np.testing.assert_allclose(st.base_quat_xyzw, [0, 0, math.sin(yaw / 2), math.cos(yaw / 2)], atol=1e-9)
    np.testing.assert_allclose(st.base_ang_vel, [0.1, -0.2, 0.3], atol=1e-9)
    sim.reset()
