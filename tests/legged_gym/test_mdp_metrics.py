"""Tracking metrics (legged_gym.envs.mdp.metrics) against values computed by hand."""

import math

import pytest
import torch

from legged_gym.envs.mdp import metrics
from pose.utils.torch_utils import quat_mul, quat_rotate, quat_rotate_inverse

IDENTITY = torch.tensor([[0.0, 0.0, 0.0, 1.0]])


def yaw_quat(yaw):
    """xyzw quaternion of a rotation by `yaw` about z (1, 4)."""
    return torch.tensor([[0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]])


def close(a, b, tol=1e-6):
    torch.testing.assert_close(a, torch.as_tensor(b, dtype=torch.float32), atol=tol, rtol=0)


def test_robot_translated_from_the_reference_counts_in_the_world_frame_only():
    ref_root = torch.tensor([[0.0, 0.0, 0.8]])
    ref_bodies = torch.tensor([[[0.1, 0.2, 0.9], [-0.3, 0.1, 0.1], [0.0, -0.2, 0.5]]])
    shift = torch.tensor([1.0, 0.0, 0.0])
    root, bodies = ref_root + shift, ref_bodies + shift
    close(metrics.body_error_world(bodies, ref_bodies), [1.0])  # 1000 mm
    close(metrics.body_error_local(bodies, root, IDENTITY, ref_bodies, ref_root, IDENTITY), [0.0])
    close(metrics.root_drift(root, ref_root), [1.0])


def test_root_relative_error_uses_each_side_own_root_frame():
    # reference turned by +90 deg yaw: its body 1 m ahead of it lies at world (0, 1, 0) from the root
    ref_root, ref_q = torch.zeros(1, 3), yaw_quat(math.pi / 2)
    ref_bodies = torch.tensor([[[0.0, 1.0, 0.0]]])
    # robot not turned, its body 1 m ahead (x): the same pose in the root frame, sqrt(2) apart in the world
    root, bodies = torch.zeros(1, 3), torch.tensor([[[1.0, 0.0, 0.0]]])
    close(metrics.to_root_frame(ref_bodies, ref_root, ref_q), [[[1.0, 0.0, 0.0]]])
    close(metrics.body_error_local(bodies, root, IDENTITY, ref_bodies, ref_root, ref_q), [0.0])
    close(metrics.body_error_world(bodies, ref_bodies), [math.sqrt(2.0)])
    close(metrics.heading_error(IDENTITY, ref_q), [math.pi / 2])


def test_body_errors_are_means_over_the_bodies_and_batched_over_envs():
    ref = torch.zeros(2, 2, 3)
    bodies = torch.zeros(2, 2, 3)
    bodies[0, 0] = torch.tensor([0.0, 0.0, 0.1])  # env 0: one body 0.1 m off -> mean 0.05
    bodies[1, :, 0] = torch.tensor([0.3, 0.4])  # env 1: 0.3 and 0.4 m off -> mean 0.35
    close(metrics.body_error_world(bodies, ref), [0.05, 0.35])
    roots, q = torch.zeros(2, 3), IDENTITY.expand(2, 4)
    close(metrics.body_error_local(bodies, roots, q, ref, roots, q), [0.05, 0.35])
    # a robot 2 m up with its bodies 2 m up (both root-relative 0): world error 2, local error as before
    up = torch.tensor([0.0, 0.0, 2.0])
    close(metrics.body_error_local(bodies + up, roots + up, q, ref, roots, q), [0.05, 0.35])


def test_joint_root_velocity_and_drift_errors():
    close(metrics.joint_error(torch.tensor([[0.1, -0.3, 0.0], [1.0, 1.0, 1.0]]), torch.zeros(2, 3)), [0.4 / 3, 1.0])
    close(metrics.root_vel_error(torch.tensor([[3.0, 4.0, 0.0]]), torch.zeros(1, 3)), [5.0])
    close(metrics.root_vel_error(torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([[1.0, 1.0, 3.0]])), [2.0])
    # drift is horizontal: the height difference does not count
    close(metrics.root_drift(torch.tensor([[3.0, 4.0, 10.0]]), torch.zeros(1, 3)), [5.0])


def test_root_offset_is_the_drift_in_the_reference_heading_frame():
    """A reference facing +y (yaw 90 deg, rolled 0.3 rad: only its yaw counts) at (1, 2): a robot 0.5 m
    short of it along +y and 0.2 m to its right (+x) is 0.5 m behind and 0.2 m right: (forward, left) =
    (-0.5, -0.2); one ahead of it on its left, (+0.3, +0.4). Batched, with the drift as its norm."""
    roll = torch.tensor([[math.sin(0.15), 0.0, 0.0, math.cos(0.15)]])  # about x, then the yaw
    ref_q = quat_mul(yaw_quat(math.pi / 2), roll)
    ref_root = torch.tensor([[1.0, 2.0, 0.8]]).repeat(2, 1)
    root = torch.tensor([[1.2, 1.5, 0.7], [0.6, 2.3, 0.9]])
    offset = metrics.root_offset(root, ref_root, ref_q.repeat(2, 1))
    close(offset, [[-0.5, -0.2], [0.3, 0.4]], 1e-6)
    close(torch.linalg.norm(offset, dim=-1), metrics.root_drift(root, ref_root), 1e-6)


@pytest.mark.parametrize("a, b, expected", [(179.0, -179.0, 2.0), (10.0, 350.0, 20.0), (0.0, 180.0, 180.0)])
def test_heading_error_wraps(a, b, expected):
    close(metrics.heading_error(yaw_quat(math.radians(a)), yaw_quat(math.radians(b))), [math.radians(expected)], 1e-5)


def test_bench_step_metrics_uses_the_metric_functions():
    """bench/bench_sim2sim_tracking.py scores with these functions: a robot 1 m beside the reference, same pose."""
    bench = pytest.importorskip("bench.bench_sim2sim_tracking")
    ref_root, q = torch.tensor([[0.0, 0.0, 0.8]]), yaw_quat(0.3)
    ref_local = torch.tensor([[[0.1, 0.2, 0.1]] * 9])
    ref_world = ref_root.unsqueeze(1) + quat_rotate(q.expand(9, 4), ref_local[0]).unsqueeze(0)
    shift = torch.tensor([0.0, 1.0, 0.0])
    dof = torch.full((1, 23), 0.2)
    failed, joint, kb, yaw = bench.step_metrics(
        ref_root + shift, q, torch.zeros(1, 3), ref_world + shift, dof, ref_root, q, ref_local, torch.zeros(1, 23)
    )
    assert not bool(failed[0])
    close(joint, [0.2])
    close(kb, [0.0], 1e-5)
    close(yaw, [0.0], 1e-5)


def test_from_root_frame_is_the_inverse_of_to_root_frame():
    """A yaw of 90 degrees maps the root-frame x axis onto the world y axis, then back."""
    root = torch.tensor([[1.0, 2.0, 0.8]])
    q = yaw_quat(math.pi / 2)
    local = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.5, -0.2]]])
    world = metrics.from_root_frame(local, root, q)
    close(world, torch.tensor([[[1.0, 3.0, 0.8], [0.5, 2.0, 0.6]]]))
    close(metrics.to_root_frame(world, root, q), local)


def test_heading_frame_velocity_turns_with_the_yaw_only():
    """The world velocity in the yaw-only frame: a +90 deg yaw maps world +y onto forward, world +x
    onto rightward; a pitch (which tilts the pelvis frame) and the vertical velocity do not count."""
    s, c = math.sin(math.pi / 4), math.cos(math.pi / 4)
    sp, cp = math.sin(0.2), math.cos(0.2)
    quats = torch.tensor(
        [
            [0.0, 0.0, s, c],  # yawed +90 deg
            [0.0, 0.0, s, c],
            [-s * sp, c * sp, s * cp, c * cp],  # pitched 0.4 rad, then yawed +90 deg: q_yaw * q_pitch
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    vel = torch.tensor([[0.0, 1.5, 0.3], [2.0, 0.0, 0.0], [0.0, 1.5, 0.0], [0.4, -0.7, -1.0]])
    close(metrics.heading_frame_velocity(quats, vel), [[1.5, 0.0], [0.0, -2.0], [1.5, 0.0], [0.4, -0.7]])
    # the tilted pelvis frame sees the pitched root's forward speed shortened: 1.5 cos(0.4)
    close(quat_rotate_inverse(quats[2:3], vel[2:3])[:, 0], [1.5 * math.cos(0.4)])


def test_mean_command_errors_of_residual_sums():
    """|mean (vx, vy) residual| and |mean yaw-rate residual| over each env's steps (0 steps count as 1)."""
    sums = torch.tensor([[3.0, 4.0, -1.0], [0.6, 0.8, 0.4], [2.0, 0.0, 2.0]])
    vel, yaw_rate = metrics.mean_command_errors(sums, torch.tensor([5, 2, 0]))
    close(vel, [1.0, 0.5, 2.0])
    close(yaw_rate, [0.2, 0.2, 2.0])
