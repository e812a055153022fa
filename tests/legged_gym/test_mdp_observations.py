"""Observation terms of legged_gym.envs.mdp (docs/observations.md) on crafted states.

Expected values are computed independently with numpy / scipy Rotation (scalar-last quaternions,
extrinsic 'xyz' Euler angles = roll about x, pitch about y, yaw about z) or written by hand.
"""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation as R

from legged_gym.envs.mdp import layout
from legged_gym.envs.mdp import observations as obs
from pose.g1_model import load_g1
from pose.utils.torch_utils import wxyz_to_xyzw

G1 = load_g1()
ATOL = 1e-9


def t64(x):
    return torch.tensor(np.asarray(x), dtype=torch.float64)  # a copy: no shared memory


def rot(rpy):
    return R.from_euler("xyz", rpy)


# --- layout ---------------------------------------------------------------------------------------


def test_dimension_constants():
    d = layout.LAYOUT
    assert layout.TAR_OBS_STEPS == (1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95)
    assert (d.num_actions, d.num_key_bodies, d.num_future_steps, d.history_len) == (23, 9, 20, 10)
    assert (d.n_mimic_step, d.n_priv_mimic_obs, d.n_mimic_obs) == (58, 1160, 31)
    assert (d.n_proprio, d.n_priv_info, d.n_priv_latent) == (74, 84, 51)
    assert (d.n_teacher_obs, d.n_priv_obs, d.n_student_single, d.n_student_obs) == (1318, 1318, 105, 1155)


def test_slice_ranges():
    def rng(sl):
        return (sl.start, sl.stop)

    assert {k: rng(v) for k, v in layout.LAYOUT.teacher.slices.items()} == {
        "priv_mimic": (0, 1160),
        "proprio": (1160, 1234),
        "priv_info": (1234, 1318),
    }
    assert {k: rng(v) for k, v in layout.LAYOUT.student.slices.items()} == {
        "mimic": (0, 31),
        "proprio": (31, 105),
        "history": (105, 1155),
    }
    assert {k: rng(v) for k, v in layout.LAYOUT.mimic_step.slices.items()} == {
        "root_z": (0, 1),
        "root_rpy": (1, 4),
        "root_lin_vel": (4, 7),
        "root_yaw_rate": (7, 8),
        "dof_pos": (8, 31),
        "key_body_pos": (31, 58),
    }
    assert {k: rng(v) for k, v in layout.LAYOUT.proprio.slices.items()} == {
        "ang_vel": (0, 3),
        "roll_pitch": (3, 5),
        "dof_pos": (5, 28),
        "dof_vel": (28, 51),
        "last_action": (51, 74),
    }
    assert {k: rng(v) for k, v in layout.LAYOUT.priv_info.slices.items()} == {
        "base_lin_vel": (0, 3),
        "root_z": (3, 4),
        "key_body_pos": (4, 31),
        "foot_contacts": (31, 33),
        "mass_params": (33, 37),
        "friction": (37, 38),
        "kp_strength": (38, 61),
        "kd_strength": (61, 84),
    }


def all_blocks(d):
    return [d.mimic_step, d.mimic, d.proprio, d.priv_info, d.teacher, d.student_frame, d.student]


@pytest.mark.parametrize(
    "d", [layout.LAYOUT, layout.ObsLayout(num_actions=29, num_key_bodies=5, tar_obs_steps=(1, 2, 3), history_len=4)]
)
def test_layout_slices_tile_every_block_without_gaps_or_overlaps(d):
    for block in all_blocks(d):
        covered = np.zeros(block.size, dtype=int)
        stop = 0
        for name in block:
            sl = block[name]
            assert sl.start == stop and sl.step is None, (block, name)  # in field order, no gap
            covered[sl] += 1
            stop = sl.stop
        assert stop == block.size and np.all(covered == 1), block
    # the assembled vectors are made of the blocks, and the sizes TWIST's config names are theirs
    assert d.teacher.fields == (
        ("priv_mimic", d.num_future_steps * d.mimic_step.size),
        ("proprio", d.proprio.size),
        ("priv_info", d.priv_info.size),
    )
    assert d.student.fields == (
        ("mimic", d.mimic.size),
        ("proprio", d.proprio.size),
        ("history", d.history_len * d.student_frame.size),
    )
    assert d.mimic.fields == d.mimic_step.fields[:-1]  # the student block: the teacher block without key bodies
    assert (d.n_priv_mimic_obs, d.n_mimic_obs, d.n_proprio, d.n_priv_info) == (
        d.teacher["priv_mimic"].stop,
        d.mimic.size,
        d.proprio.size,
        d.priv_info.size,
    )
    assert (d.n_teacher_obs, d.n_priv_obs, d.n_student_single, d.n_student_obs) == (
        d.teacher.size,
        d.teacher.size,
        d.student_frame.size,
        d.student.size,
    )
    assert d.obs("priv") is d.teacher and d.obs("student") is d.student


def test_layout_is_what_the_config_says():
    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicPrivCfg, G1MimicStuRLCfg

    for cfg, obs_type in ((G1MimicPrivCfg(), "priv"), (G1MimicStuRLCfg(), "student")):
        e = cfg.env
        assert (
            e.num_observations,
            e.num_privileged_obs,
            e.n_priv_mimic_obs,
            e.n_mimic_obs,
            e.n_proprio,
            e.n_priv_info,
            e.history_len,
            tuple(e.tar_obs_steps),
            e.num_actions,
        ) == (
            layout.LAYOUT.obs(obs_type).size,
            layout.LAYOUT.n_priv_obs,
            1160,
            31,
            74,
            84,
            10,
            layout.TAR_OBS_STEPS,
            23,
        )


def test_layout_policy_sizes():
    assert layout.LAYOUT.policy_sizes("priv") == dict(
        num_observations=1318, num_critic_observations=1318, num_motion_observations=1160, num_motion_steps=20
    )
    assert layout.LAYOUT.policy_sizes("student") == dict(
        num_observations=1155, num_critic_observations=1318, num_motion_observations=31, num_motion_steps=1
    )
    with pytest.raises(ValueError, match="obs_type 'teacher'"):
        layout.LAYOUT.obs("teacher")


def test_block_concat_orders_by_field_and_checks_widths():
    b = layout.Block("b", [("x", 1), ("y", 2)])
    out = b.concat({"y": torch.tensor([[2.0, 3.0]]), "x": torch.tensor([[1.0]])})
    assert out.tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(ValueError, match="field 'y' has 3 entries, the layout says 2"):
        b.concat({"x": torch.zeros(1, 1), "y": torch.zeros(1, 3)})
    with pytest.raises(ValueError, match="expected the fields"):
        b.concat({"x": torch.zeros(1, 1)})
    with pytest.raises(ValueError, match="repeat"):
        layout.Block("c", [("x", 1), ("x", 2)])
    assert b.per_field({"y": 0.5}).tolist() == [0.0, 0.5, 0.5]
    with pytest.raises(ValueError, match="no fields"):
        b.per_field({"z": 1.0})


def test_builders_produce_the_layouts_widths():
    """Every builder's output has the width of its block (and wrong-width inputs are refused)."""
    d, n = layout.LAYOUT, 3
    rng = np.random.default_rng(0)
    q = t64(rng.normal(size=(n, 23)))
    quat = t64(R.random(n, random_state=1).as_quat())
    v3 = t64(rng.normal(size=(n, 3)))
    kb = t64(rng.normal(size=(n, 9, 3)))
    assert obs.ref_root_obs(v3, quat, v3, v3).shape == (n, layout.ref_root_block().size)
    assert obs.mimic_step_obs(v3, quat, v3, v3, q, kb).shape == (n, d.mimic_step.size)
    assert obs.student_mimic_obs(v3, quat, v3, v3, q).shape == (n, d.mimic.size)
    prop = obs.proprio_obs(v3, quat, q, q, q, q)
    assert prop.shape == (n, d.proprio.size)
    priv = obs.priv_info_obs(
        v3, v3, quat, kb, t64(rng.normal(size=(n, 2, 3))), t64(rng.normal(size=(n, 4))), t64(rng.normal(size=n)), q, q
    )
    assert priv.shape == (n, d.priv_info.size)
    k = d.num_future_steps
    big = [t.unsqueeze(1).expand((n, k) + t.shape[1:]) for t in (v3, quat, v3, v3, q, kb)]
    priv_mimic = obs.priv_mimic_obs(*big)
    assert obs.teacher_obs(priv_mimic, prop, priv).shape == (n, d.n_teacher_obs)
    mimic = obs.student_mimic_obs(v3, quat, v3, v3, q)
    assert obs.student_single_obs(mimic, prop).shape == (n, d.n_student_single)
    history = torch.zeros(n, d.history_len, d.n_student_single, dtype=torch.float64)
    assert obs.student_obs(mimic, prop, history).shape == (n, d.n_student_obs)
    with pytest.raises(ValueError, match="field 'proprio' has 73 entries"):
        obs.teacher_obs(priv_mimic, prop[:, :73], priv)
    with pytest.raises(ValueError, match="field 'dof_vel' has 22 entries"):
        obs.proprio_obs(v3, quat, q, q[:, :22], q, q)


# --- reference blocks -----------------------------------------------------------------------------

RPY = (0.3, -0.2, 1.2)
V_WORLD = np.array([1.0, 2.0, 0.5])
W_WORLD = np.array([0.1, 0.2, 0.7])


def crafted_reference(rng, shape=()):
    dof = rng.uniform(-1, 1, size=shape + (23,))
    kb = rng.uniform(-1, 1, size=shape + (9, 3))
    return dof, kb


def test_mimic_step_block_every_slice():
    rng = np.random.default_rng(0)
    dof, kb = crafted_reference(rng)
    r = rot(RPY)
    block = obs.mimic_step_obs(
        t64([[0.3, -0.7, 0.81]]), t64([r.as_quat()]), t64([V_WORLD]), t64([W_WORLD]), t64([dof]), t64([kb])
    )[0].numpy()
    assert block.shape == (58,)
    assert block[0] == pytest.approx(0.81, abs=ATOL)
    np.testing.assert_allclose(block[1:4], RPY, atol=ATOL)
    np.testing.assert_allclose(block[4:7], r.inv().apply(V_WORLD), atol=ATOL)
    assert block[7] == pytest.approx(r.inv().apply(W_WORLD)[2], abs=ATOL)
    np.testing.assert_allclose(block[8:31], dof, atol=0)
    np.testing.assert_allclose(block[31:58], kb.reshape(-1), atol=0)
    # Hand-checked special case: a pure 90 degree yaw maps world +x velocity to -y in the root frame.
    q90 = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]
    b = obs.mimic_step_obs(
        t64([[0, 0, 0.8]]), t64([q90]), t64([[1.0, 0, 0]]), t64([[0, 0, 0.5]]), t64([dof]), t64([kb])
    )[0].numpy()
    np.testing.assert_allclose(b[1:8], [0, 0, np.pi / 2, 0, -1.0, 0, 0.5], atol=1e-12)


def test_priv_mimic_obs_order_env_major_step_first():
    rng = np.random.default_rng(1)
    n, k = 3, 20
    dof, kb = crafted_reference(rng, (n, k))
    z = 0.5 + 0.1 * np.arange(n)[:, None] + 0.001 * np.arange(k)[None, :]
    pos = np.stack([np.zeros((n, k)), np.zeros((n, k)), z], -1)
    rpy = rng.uniform(-0.5, 0.5, size=(n, k, 3))
    quats = R.from_euler("xyz", rpy.reshape(-1, 3)).as_quat().reshape(n, k, 4)
    v = rng.normal(size=(n, k, 3))
    w = rng.normal(size=(n, k, 3))
    out = obs.priv_mimic_obs(t64(pos), t64(quats), t64(v), t64(w), t64(dof), t64(kb)).numpy()
    assert out.shape == (n, 1160)
    for e in range(n):
        for s in range(k):
            blk = out[e, 58 * s : 58 * (s + 1)]
            r = R.from_quat(quats[e, s])
            assert blk[0] == pytest.approx(z[e, s], abs=ATOL)
            np.testing.assert_allclose(blk[1:4], rpy[e, s], atol=1e-9)
            np.testing.assert_allclose(blk[4:7], r.inv().apply(v[e, s]), atol=ATOL)
            assert blk[7] == pytest.approx(r.inv().apply(w[e, s])[2], abs=ATOL)
            np.testing.assert_allclose(blk[8:31], dof[e, s])
            np.testing.assert_allclose(blk[31:], kb[e, s].reshape(-1))


def test_priv_mimic_obs_relative_yaw_wraps_and_changes_nothing_else():
    """robot_yaw given: each block's yaw entry is reference yaw - robot yaw in [-pi, pi); hand-checked on
    a reference at yaw 3.0 and 2.5 seen from robots at yaw -3.0 (difference 6.0 -> 6.0 - 2 pi) and 2.0
    (0.5); the other 57 entries of every block are those without robot_yaw."""
    rng = np.random.default_rng(3)
    n, k = 2, 2
    dof, kb = crafted_reference(rng, (n, k))
    pos = np.tile([0.0, 0.0, 0.8], (n, k, 1))
    rpy = np.array([[0.1, -0.05, 3.0], [0.02, 0.03, 2.5]])[None].repeat(n, 0)  # (n, k, 3)
    quats = R.from_euler("xyz", rpy.reshape(-1, 3)).as_quat().reshape(n, k, 4)
    v, w = rng.normal(size=(n, k, 3)), rng.normal(size=(n, k, 3))
    args = (t64(pos), t64(quats), t64(v), t64(w), t64(dof), t64(kb))
    absolute = obs.priv_mimic_obs(*args).numpy().reshape(n, k, 58)
    relative = obs.priv_mimic_obs(*args, robot_yaw=t64([-3.0, 2.0])).numpy().reshape(n, k, 58)
    np.testing.assert_allclose(relative[0, :, 3], [6.0 - 2 * np.pi, 5.5 - 2 * np.pi], atol=1e-9)
    np.testing.assert_allclose(relative[1, :, 3], [1.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(absolute[..., 3], rpy[..., 2], atol=1e-9)
    keep = [i for i in range(58) if i != 3]
    np.testing.assert_array_equal(relative[..., keep], absolute[..., keep])


def test_priv_mimic_obs_unwrapped_relative_yaw_keeps_turning_past_pi():
    """unwrap_yaw: a reference turning at 2 rad/s (0.1 rad per block) from yaw 2.9 seen from a robot at
    yaw 0: the wrapped entries jump from ~pi to ~-pi at the block that passes pi, the unwrapped ones
    rise by 0.1 per block (2.9, 3.0, ..., 4.8); the first block and the other 57 entries are the wrapped
    form's."""
    rng = np.random.default_rng(4)
    n, k = 1, 20
    dof, kb = crafted_reference(rng, (n, k))
    pos = np.tile([0.0, 0.0, 0.8], (n, k, 1))
    yaws = 2.9 + 0.1 * np.arange(k)
    quats = R.from_euler("z", yaws[:, None]).as_quat()[None]
    v, w = rng.normal(size=(n, k, 3)), rng.normal(size=(n, k, 3))
    args = (t64(pos), t64(quats), t64(v), t64(w), t64(dof), t64(kb))
    wrapped = obs.priv_mimic_obs(*args, robot_yaw=t64([0.0])).numpy().reshape(k, 58)
    unwrapped = obs.priv_mimic_obs(*args, robot_yaw=t64([0.0]), unwrap_yaw=True).numpy().reshape(k, 58)
    np.testing.assert_allclose(unwrapped[:, 3], yaws, atol=1e-9)
    assert wrapped[2, 3] > 3.0 and wrapped[3, 3] < -3.0  # 3.2 wraps to 3.2 - 2 pi at the fourth block
    np.testing.assert_allclose(wrapped[:, 3], (yaws + np.pi) % (2 * np.pi) - np.pi, atol=1e-9)
    keep = [i for i in range(58) if i != 3]
    np.testing.assert_array_equal(unwrapped[:, keep], wrapped[:, keep])
    # seen from a robot at yaw -3.0: the first block's error wraps (5.9 -> 5.9 - 2 pi), the rest follow it
    from_behind = obs.priv_mimic_obs(*args, robot_yaw=t64([-3.0]), unwrap_yaw=True).numpy().reshape(k, 58)
    np.testing.assert_allclose(from_behind[:, 3], yaws + 3.0 - 2 * np.pi, atol=1e-9)


def test_student_mimic_block_is_first_31_of_teacher_block():
    rng = np.random.default_rng(2)
    dof, kb = crafted_reference(rng)
    r = rot(RPY)
    args = (t64([[0.1, 0.2, 0.77]]), t64([r.as_quat()]), t64([V_WORLD]), t64([W_WORLD]), t64([dof]))
    stu = obs.student_mimic_obs(*args)[0].numpy()
    assert stu.shape == (31,)
    expected = np.concatenate([[0.77], RPY, r.inv().apply(V_WORLD), [r.inv().apply(W_WORLD)[2]], dof])
    np.testing.assert_allclose(stu, expected, atol=ATOL)
    np.testing.assert_allclose(obs.mimic_step_obs(*args, t64([kb]))[0, :31].numpy(), stu, atol=0)


def test_steering_a_block_adds_world_velocities_in_its_own_frame():
    """steer_ref_block / feedback=: the block of the reference moving at v + lin, w + ang (scipy's
    rotation of the block's roll/pitch/yaw here); every other entry unchanged."""
    rng = np.random.default_rng(3)
    dof, _ = crafted_reference(rng)
    r = rot(RPY)
    lin, ang = np.array([0.3, -0.2, 0.0]), np.array([0.0, 0.0, 0.4])
    args = (t64([[0.1, 0.2, 0.77]]), t64([r.as_quat()]), t64([V_WORLD]), t64([W_WORLD]), t64([dof]))
    steered = obs.student_mimic_obs(*args, feedback=(t64([lin]), t64([ang])))[0].numpy()
    expected = np.concatenate([[0.77], RPY, r.inv().apply(V_WORLD + lin), [r.inv().apply(W_WORLD + ang)[2]], dof])
    np.testing.assert_allclose(steered, expected, atol=ATOL)
    plain = obs.student_mimic_obs(*args)
    np.testing.assert_allclose(obs.steer_ref_block(plain, t64([lin]), t64([ang]))[0].numpy(), expected, atol=ATOL)


def test_student_mimic_obs_relative_yaw_wraps_the_yaw_entry_only():
    """robot_yaw given: the student block's yaw entry is reference yaw - robot yaw in [-pi, pi) (3.0 seen
    from -3.0: 6.0 - 2 pi; from 2.0: 1.0); the other 30 entries are the absolute block's."""
    rng = np.random.default_rng(5)
    dof, _ = crafted_reference(rng, (2,))
    quats = R.from_euler("xyz", [[0.1, -0.05, 3.0], [0.02, 0.03, 3.0]]).as_quat()
    args = (
        t64([[0.0, 0.0, 0.8]] * 2),
        t64(quats),
        t64(rng.normal(size=(2, 3))),
        t64(rng.normal(size=(2, 3))),
        t64(dof),
    )
    absolute = obs.student_mimic_obs(*args).numpy()
    relative = obs.student_mimic_obs(*args, robot_yaw=t64([-3.0, 2.0])).numpy()
    np.testing.assert_allclose(relative[:, 3], [6.0 - 2 * np.pi, 1.0], atol=1e-9)
    np.testing.assert_allclose(absolute[:, 3], [3.0, 3.0], atol=1e-9)
    keep = [i for i in range(31) if i != 3]
    np.testing.assert_array_equal(relative[:, keep], absolute[:, keep])


def test_future_motion_times():
    t = obs.future_motion_times(t64([0.0, 1.0]))
    assert t.shape == (2, 20)
    np.testing.assert_allclose(t[0].numpy(), 0.02 * np.array(layout.TAR_OBS_STEPS), atol=1e-12)
    assert t[1, 0].item() == pytest.approx(1.02) and t[1, -1].item() == pytest.approx(2.9)


# --- proprioception -------------------------------------------------------------------------------


def crafted_robot(rng):
    q = G1.default_dof_pos + rng.uniform(-0.3, 0.3, 23)
    qd = rng.uniform(-5, 5, 23)
    a = rng.uniform(-3, 3, 23)
    return q, qd, a


def test_proprio_every_slice():
    rng = np.random.default_rng(3)
    q, qd, a = crafted_robot(rng)
    rpy = (0.2, -0.15, 2.5)
    gyro = np.array([1.0, -2.0, 3.0])
    p = obs.proprio_obs(t64([gyro]), t64([rot(rpy).as_quat()]), t64([q]), t64([qd]), t64([a]), t64(G1.default_dof_pos))[
        0
    ].numpy()
    assert p.shape == (74,)
    np.testing.assert_allclose(p[0:3], [0.25, -0.5, 0.75], atol=ATOL)
    np.testing.assert_allclose(p[3:5], [0.2, -0.15], atol=ATOL)
    np.testing.assert_allclose(p[5:28], q - G1.default_dof_pos, atol=ATOL)
    expected_vel = qd * 0.05
    expected_vel[[4, 5, 10, 11]] = 0.0
    np.testing.assert_allclose(p[28:51], expected_vel, atol=ATOL)
    assert np.all(p[[32, 33, 38, 39]] == 0.0)
    np.testing.assert_allclose(p[51:74], a, atol=0)


def test_proprio_from_deploy_state_wxyz_imu():
    """A deploy server holds an IMU quaternion in wxyz; after conversion the builder gives the same
    roll/pitch as the training env for the same robot state (default pose, default q0 per env)."""
    rpy = (-0.4, 0.3, -1.0)
    xyzw = rot(rpy).as_quat()
    wxyz = np.array([xyzw[3], xyzw[0], xyzw[1], xyzw[2]])
    q0 = t64(G1.default_dof_pos)
    p = obs.proprio_obs(
        t64([[0.0, 0.0, 0.0]]),
        wxyz_to_xyzw(t64([wxyz])),
        q0[None],
        torch.zeros(1, 23, dtype=torch.float64),
        torch.zeros(1, 23, dtype=torch.float64),
        q0[None],
    )[0].numpy()
    np.testing.assert_allclose(p[3:5], rpy[:2], atol=ATOL)
    assert np.all(np.delete(p, [3, 4]) == 0.0)


def test_noise_scale_vec_layout():
    v = obs.proprio_noise_scale_vec(dtype=torch.float64).numpy()
    expected = np.concatenate([[0.1] * 3, [0.1] * 2, [0.01] * 23, [0.1] * 23, [0.0] * 23])
    np.testing.assert_allclose(v, expected, atol=0)
    # float32, as the env uses it: the vector the hand-written offsets built before the layout object
    old = torch.zeros(74)
    old[0:3], old[3:5], old[5:28], old[28:51] = 0.1, 0.1, 0.01, 0.1
    assert torch.equal(obs.proprio_noise_scale_vec(), old)
    sl = layout.LAYOUT.proprio.slices  # each field holds its amplitude (cfg.noise.noise_scales names)
    v32 = obs.proprio_noise_scale_vec(ang_vel=1.0, imu=2.0, dof_pos=3.0, dof_vel=4.0)
    for field, value in (
        ("ang_vel", 1.0),
        ("roll_pitch", 2.0),
        ("dof_pos", 3.0),
        ("dof_vel", 4.0),
        ("last_action", 0.0),
    ):
        assert torch.all(v32[sl[field]] == value), field


@pytest.mark.parametrize("iteration, expected", [(0, 0.0), (1500, 0.5), (3000, 1.0), (4500, 1.0), (100000, 1.0)])
def test_noise_ramp(iteration, expected):
    assert obs.noise_ramp(iteration * 24) == pytest.approx(expected)


def test_orig_student_preset_means_full_noise():
    assert obs.noise_ramp(obs.TWIST_STUDENT_PRESET_ENV_STEPS) == 1.0


def test_noise_bounds_and_ankles_zeroed_after_noise():
    gen = torch.Generator().manual_seed(7)
    n = 4096
    scale = obs.proprio_noise_scale_vec(dtype=torch.float64)
    noise = obs.sample_obs_noise(scale, n, amplitude=0.5, generator=gen)
    assert noise.shape == (n, 74)
    bound = 0.5 * scale.numpy()
    assert np.all(np.abs(noise.numpy()) <= bound + 1e-15)
    assert np.all(noise.numpy().max(0)[:51] > 0.9 * bound[:51])  # the full range is used
    assert np.all(noise.numpy()[:, 51:] == 0.0)  # no noise on the last action

    rng = np.random.default_rng(4)
    q, qd, a = crafted_robot(rng)
    args = (
        t64([[0.3, 0.1, -0.2]] * n),
        t64([rot((0.1, 0.05, 0)).as_quat()] * n),
        t64([q] * n),
        t64([qd] * n),
        t64([a] * n),
        t64(G1.default_dof_pos),
    )
    clean = obs.proprio_obs(*args).numpy()
    noisy = obs.proprio_obs(*args, noise=noise).numpy()
    ankle_cols = [28 + 4, 28 + 5, 28 + 10, 28 + 11]
    assert np.all(noisy[:, ankle_cols] == 0.0)
    other = np.setdiff1d(np.arange(74), ankle_cols)
    np.testing.assert_allclose(noisy[:, other] - clean[:, other], noise.numpy()[:, other], atol=1e-12)


# --- privileged info ------------------------------------------------------------------------------


def test_priv_info_every_slice():
    rng = np.random.default_rng(5)
    rpy = (0.25, -0.1, -2.0)
    r = rot(rpy)
    root = np.array([3.0, -1.0, 0.78])
    kb = root + rng.uniform(-1, 1, size=(9, 3))
    v_local = np.array([0.4, -0.3, 0.05])
    forces = np.array([[1.0, 2.0, 10.0], [50.0, 0.0, 3.0]])  # left in contact (z > 5), right not
    mass = np.array([1.5, 0.01, -0.02, 0.03])
    kp = rng.uniform(0.8, 1.2, 23)
    kd = rng.uniform(0.8, 1.2, 23)
    args = (
        t64([v_local]),
        t64([root]),
        t64([r.as_quat()]),
        t64([kb]),
        t64([forces]),
        t64([mass]),
        t64([0.7]),
        t64([kp]),
        t64([kd]),
    )
    p = obs.priv_info_obs(*args)[0].numpy()
    assert p.shape == (84,)
    np.testing.assert_allclose(p[0:3], v_local, atol=0)
    assert p[3] == pytest.approx(0.78)
    np.testing.assert_allclose(p[4:31], r.inv().apply(kb - root).reshape(-1), atol=ATOL)
    np.testing.assert_array_equal(p[31:33], [1.0, 0.0])
    np.testing.assert_allclose(p[33:37], mass, atol=0)
    assert p[37] == pytest.approx(0.7)
    np.testing.assert_allclose(p[38:61], kp - 1.0, atol=1e-15)
    np.testing.assert_allclose(p[61:84], kd - 1.0, atol=1e-15)
    assert np.all(obs.priv_info_obs(*args, enabled=False).numpy() == 0.0)


# --- assembly and history -------------------------------------------------------------------------


def test_teacher_vector_layout():
    n = 2
    mimic = torch.full((n, 1160), 1.0)
    prop = torch.full((n, 74), 2.0)
    priv = torch.full((n, 84), 3.0)
    v = obs.teacher_obs(mimic, prop, priv)
    assert v.shape == (n, 1318)
    assert torch.all(v[:, 0:1160] == 1) and torch.all(v[:, 1160:1234] == 2) and torch.all(v[:, 1234:1318] == 3)


def test_priv_info_indices_pick_the_fields_from_the_built_privileged_obs():
    """The state estimator's targets (docs/learning.md#state-estimator): privileged-info fields by name."""
    n = 3
    priv = torch.randn(n, 84)
    v = obs.teacher_obs(torch.randn(n, 1160), torch.randn(n, 74), priv)
    idx = layout.LAYOUT.priv_info_indices(["foot_contacts", "base_lin_vel"])
    assert torch.equal(v[:, idx], torch.cat([priv[:, 31:33], priv[:, 0:3]], -1))
    with pytest.raises(ValueError, match="expected names of the privileged info"):
        layout.LAYOUT.priv_info_indices([])


def test_student_vector_layout_history_oldest_first():
    n = 2
    mimic = torch.full((n, 31), -1.0)
    prop = torch.full((n, 74), -2.0)
    history = torch.arange(10, dtype=torch.float32).view(1, 10, 1).expand(n, 10, 105).clone()  # entry h = h
    v = obs.student_obs(mimic, prop, history)
    assert v.shape == (n, 1155)
    assert torch.all(v[:, 0:31] == -1) and torch.all(v[:, 31:105] == -2)
    for h in range(10):
        assert torch.all(v[:, 105 + 105 * h : 105 + 105 * (h + 1)] == h)
    single = obs.student_single_obs(mimic, prop)
    assert single.shape == (n, 105) and torch.equal(v[:, :105], single)


def test_history_update_rules_over_an_episode():
    """Reset step: the obs holds the zeroed history, then the history is refilled with copies;
    while episode_length <= 1 it is refilled again; afterwards it shifts, newest last."""
    frames = [torch.full((1, 105), float(i + 1)) for i in range(5)]
    history = torch.zeros(1, 10, 105)  # cleared by reset
    seen = []
    for ep_len, f in enumerate(frames):
        o = obs.student_obs(f[:, :31], f[:, 31:], history)
        seen.append(o[0, 105:].view(10, 105)[:, 0].tolist())
        history = obs.update_obs_history(history, f, torch.tensor([ep_len]))
    assert seen[0] == [0.0] * 10
    assert seen[1] == [1.0] * 10
    assert seen[2] == [2.0] * 10
    assert seen[3] == [2.0] * 9 + [3.0]
    assert seen[4] == [2.0] * 8 + [3.0, 4.0]


def test_history_update_mixed_batch():
    history = torch.arange(10, dtype=torch.float32).view(1, 10, 1).expand(2, 10, 3).clone()
    frame = torch.tensor([[100.0] * 3, [200.0] * 3])
    new = obs.update_obs_history(history, frame, torch.tensor([1, 7]))
    assert torch.all(new[0] == 100.0)
    assert new[1, :, 0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 200]
    pushed = obs.push_obs_history(torch.zeros(1, 10, 3), torch.ones(1, 3))
    assert pushed[0, :, 0].tolist() == [0.0] * 9 + [1.0]


def test_clip_obs():
    x = torch.tensor([[-250.0, -100.0, 3.0, 100.5, float("nan"), float("inf")]])
    c = obs.clip_obs(x, nan_to_num=True)
    assert c.tolist() == [[-100.0, -100.0, 3.0, 100.0, 0.0, 0.0]]
    assert obs.clip_obs(x[:, :4]).tolist() == [[-100.0, -100.0, 3.0, 100.0]]
