"""mdp.drift_feedback: the proportional correction towards the reference root (motion.ref_correction)."""

import math

import pytest
import torch

from legged_gym.envs.mdp.drift_feedback import drift_feedback


def yaw_quat(yaw):
    """xyzw quaternion of a rotation by `yaw` about z."""
    return torch.tensor([0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)])


def test_position_error_gives_a_capped_horizontal_velocity_towards_the_reference():
    ref_pos = torch.tensor([[1.0, 2.0, 0.8], [3.0, 4.0, 0.8], [0.0, 0.0, 0.8]])
    pos = torch.tensor([[0.8, 2.1, 0.5], [0.0, 0.0, 0.7], [0.0, 0.0, 0.2]])  # z errors are ignored
    rot = yaw_quat(0.0).expand(3, 4)
    lin, ang = drift_feedback(ref_pos, rot, pos, rot, pos_gain=0.5, yaw_gain=0.0, max_speed=1.0, max_yaw_rate=1.0)
    # 0.5 * (0.2, -0.1) is below the cap; 0.5 * (3, 4) = (1.5, 2) has speed 2.5 -> scaled to 1 m/s
    expected = torch.tensor([[0.1, -0.05, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(lin, expected)
    assert torch.equal(ang, torch.zeros(3, 3))


@pytest.mark.parametrize(
    "ref_yaw, yaw, expected",
    [
        (0.3, 0.1, 2.0 * 0.2),  # below the cap
        (1.5, 0.0, 1.2),  # capped at max_yaw_rate
        (-3.0, 3.0, 2.0 * (2 * math.pi - 6.0)),  # the short way round: +0.283 rad, not -6 rad
    ],
)
def test_yaw_error_gives_a_capped_yaw_rate_the_short_way_round(ref_yaw, yaw, expected):
    pos = torch.zeros(1, 3)
    lin, ang = drift_feedback(
        pos,
        yaw_quat(ref_yaw)[None],
        pos,
        yaw_quat(yaw)[None],
        pos_gain=1.0,
        yaw_gain=2.0,
        max_speed=1.0,
        max_yaw_rate=1.2,
    )
    assert torch.equal(lin, torch.zeros(1, 3))
    torch.testing.assert_close(ang, torch.tensor([[0.0, 0.0, expected]]), atol=1e-6, rtol=0)


def test_batched_over_leading_dimensions():
    ref_pos = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(0))
    rot = yaw_quat(0.2).expand(4, 5, 4)
    lin, ang = drift_feedback(ref_pos, rot, torch.zeros(4, 5, 3), rot, 0.5, 1.0, 0.3, 1.0)
    assert lin.shape == ang.shape == (4, 5, 3)
    assert (lin[..., :2].norm(dim=-1) <= 0.3 + 1e-6).all() and (lin[..., 2] == 0).all()


def test_full_speed_fades_the_correction_out_where_the_reference_stands():
    """full_speed 0.5 m/s: none at rest, in proportion below it, all of it at and above it."""
    ref_pos = torch.tensor([[1.0, 0.0, 0.8]]).expand(4, 3)
    pos = torch.zeros(4, 3)
    ref_rot = yaw_quat(0.4).expand(4, 4)
    rot = yaw_quat(0.0).expand(4, 4)
    ref_vel = torch.tensor([[0.0, 0.0, 0.3], [0.3, 0.0, 0.0], [0.0, -0.5, 0.0], [2.0, 0.0, 0.0]])  # z ignored
    lin, ang = drift_feedback(ref_pos, ref_rot, pos, rot, 0.5, 1.0, 1.0, 1.0, full_speed=0.5, ref_root_vel=ref_vel)
    gate = torch.tensor([0.0, 0.6, 1.0, 1.0])
    torch.testing.assert_close(lin[:, 0], 0.5 * gate)
    torch.testing.assert_close(ang[:, 2], 0.4 * gate)
    full_lin, full_ang = drift_feedback(ref_pos, ref_rot, pos, rot, 0.5, 1.0, 1.0, 1.0)
    torch.testing.assert_close(lin[3], full_lin[3])
    torch.testing.assert_close(ang[3], full_ang[3])
    with pytest.raises(ValueError, match="ref_root_vel"):
        drift_feedback(ref_pos, ref_rot, pos, rot, 0.5, 1.0, 1.0, 1.0, full_speed=0.5)
