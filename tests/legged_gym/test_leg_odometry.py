"""The legs' odometry (`legged_gym.envs.mdp.odometry.LegOdometry`): the pelvis velocity from a foot point
that stands still, checked against MuJoCo's own kinematics of the training model, and the gate that
falls back to the learned estimate."""

import mujoco
import numpy as np
import pytest
import torch

from legged_gym.envs.mdp.odometry import LegOdometry
from legged_gym.simulator.mjwarp_backend import TRAINING_MJCF
from pose.g1_model import load_g1

DT = 0.02


def xyzw(wxyz):
    return torch.tensor([[wxyz[1], wxyz[2], wxyz[3], wxyz[0]]], dtype=torch.float64)


class MujocoSoles:
    """The G1's foot-capsule end bottoms (on the feet: each end's centre minus the radius along its foot's z)
    in the world, by MuJoCo (independent of pose.kinematics)."""

    def __init__(self):
        self.model = mujoco.MjModel.from_xml_path(str(TRAINING_MJCF))
        self.data = mujoco.MjData(self.model)
        names = load_g1().dof_names
        self.qpos_of = [self.model.jnt_qposadr[self.model.joint(n).id] for n in names]
        feet = {self.model.body(n).id for n in load_g1().feet}
        self.geoms = [
            g
            for g in range(self.model.ngeom)
            if self.model.geom_bodyid[g] in feet
            and self.model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE
            and self.model.geom_contype[g] != 0  # the collision capsules, not the visual ones
        ]
        assert len(self.geoms) == 4

    def points(self, pelvis_pos, pelvis_wxyz, dof_pos):
        d = self.data
        d.qpos[:] = 0.0
        d.qpos[0:3], d.qpos[3:7] = pelvis_pos, pelvis_wxyz
        d.qpos[self.qpos_of] = dof_pos
        mujoco.mj_kinematics(self.model, d)
        out = []
        for g in self.geoms:
            axis = d.geom_xmat[g].reshape(3, 3)[:, 2] * self.model.geom_size[g][1]
            foot_z = d.xmat[self.model.geom_bodyid[g]].reshape(3, 3)[:, 2]  # down on the foot, not in the world
            for end in (d.geom_xpos[g] - axis, d.geom_xpos[g] + axis):
                out.append(end - foot_z * self.model.geom_size[g][0])
        return np.array(out)


def random_pose(rng):
    g1 = load_g1()
    q = g1.default_dof_pos + rng.uniform(-0.15, 0.15, g1.num_dofs)
    axis = rng.normal(size=3)
    angle = rng.uniform(0.05, 0.3)
    wxyz = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis / np.linalg.norm(axis)])
    return q, wxyz


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_standing_foot_point_gives_the_pelvis_velocity_mujoco_computes(seed):
    """Two poses (joints and orientation) in which the lowest foot point of the first stays where it is:
    MuJoCo places the pelvis of the second, and the legs' velocity is that displacement / dt in the base
    frame; an estimate within the gate gives way to it, one beyond the gate is kept."""
    rng = np.random.default_rng(seed)
    soles = MujocoSoles()
    q_a, rot_a = random_pose(rng)
    q_b, rot_b = random_pose(rng)
    before = soles.points(np.zeros(3), rot_a, q_a)
    k = int(np.argmin(before[:, 2]))
    assert np.sort(before[:, 2])[1] > before[k, 2] + 1e-3  # one lowest point
    pelvis_b = before[k] - soles.points(np.zeros(3), rot_b, q_b)[k]  # where point k stays put
    expected = mujoco_base_frame(rot_b, pelvis_b / DT)

    odometry = LegOdometry(1, DT, gate=0.3, dtype=torch.float64)
    first = torch.tensor([[0.7, 0.1, 0.0]], dtype=torch.float64)
    assert odometry.velocity(xyzw(rot_a), torch.tensor(q_a[None]), first).tolist() == first.tolist()  # no step before
    assert not bool(odometry.from_legs[0])
    near = torch.tensor((expected + np.array([0.2, -0.1, 0.9]))[None])  # within 0.3 m/s horizontally
    state = odometry._sole, odometry._valid
    legs = odometry.velocity(xyzw(rot_b), torch.tensor(q_b[None]), near)
    np.testing.assert_allclose(legs[0].numpy(), expected, atol=1e-6)
    assert bool(odometry.from_legs[0])
    odometry._sole, odometry._valid = state  # the same step again, with an estimate beyond the gate
    far = torch.tensor((expected + np.array([0.25, 0.25, 0.0]))[None])
    assert odometry.velocity(xyzw(rot_b), torch.tensor(q_b[None]), far).tolist() == far.tolist()
    assert not bool(odometry.from_legs[0])


def mujoco_base_frame(wxyz, v):
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.asarray(wxyz, dtype=np.float64))
    return m.reshape(3, 3).T @ v


def test_resets_and_non_finite_joints_fall_back_to_the_estimate():
    """Per env: after `reset(ids)` and after a non-finite joint position the next step keeps the estimate,
    the one after uses the legs again; a still robot's legs say 0."""
    g1 = load_g1()
    odometry = LegOdometry(3, DT, gate=0.3)
    quat = torch.tensor([[0.0, 0.0, 0.0, 1.0]]).repeat(3, 1)
    q = torch.tensor(g1.default_dof_pos, dtype=torch.float32).repeat(3, 1)
    estimate = torch.tensor([[0.1, 0.0, 0.0]]).repeat(3, 1)
    odometry.velocity(quat, q, estimate)
    assert odometry.velocity(quat, q, estimate).abs().max() == 0.0  # still: the legs' 0
    odometry.reset(torch.tensor([1]))
    bad = q.clone()
    bad[2, 0] = float("nan")
    out = odometry.velocity(quat, bad, estimate)
    assert odometry.from_legs.tolist() == [True, False, False]
    assert out[1].tolist() == pytest.approx([0.1, 0.0, 0.0]) and out[2].tolist() == pytest.approx([0.1, 0.0, 0.0])
    odometry.velocity(quat, q, estimate)
    assert odometry.from_legs.tolist() == [True, True, False]  # env 2: the step before was not finite
    odometry.velocity(quat, q, estimate)
    assert odometry.from_legs.tolist() == [True, True, True]
    odometry.reset()
    odometry.velocity(quat, q, estimate)
    assert odometry.from_legs.tolist() == [False, False, False]


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_the_deploy_servers_compiled_step_gives_the_same_velocities(engine):
    """deploy_real's RobotLegOdometry (the step compiled for one robot, float32) against LegOdometry on a
    walk of random poses, estimates near and far from the legs, a non-finite joint and a reset."""
    if engine == "onnxruntime":
        pytest.importorskip("onnxruntime")
    from deploy_real.drift_feedback import RobotLegOdometry

    rng = np.random.default_rng(3)
    robot, reference = RobotLegOdometry(DT, engine), LegOdometry(1, DT, gate=0.3, dtype=torch.float64)
    q, rot = random_pose(rng)
    taken = []
    for k in range(60):
        q = q + rng.normal(scale=0.003, size=q.shape)
        bad = q.copy()
        if k == 20:
            bad[3] = np.nan
        if k == 40:
            robot.reset()
            reference.reset()
        estimate = rng.normal(scale=0.3, size=3)
        got = robot.velocity(xyzw(rot)[0].numpy(), bad, estimate)
        want = reference.velocity(xyzw(rot), torch.tensor(bad[None]), torch.tensor(estimate[None]))
        assert robot.from_legs == bool(reference.from_legs[0]), k
        np.testing.assert_allclose(got, want[0].numpy(), atol=2e-4)
        taken.append(robot.from_legs)
    assert not any(taken[k] for k in (0, 20, 21, 40))  # no step before, non-finite, after it, after the reset
    assert 5 < sum(taken) < 55  # both the legs' velocity and the estimate
