"""G1MimicDistill on the mjwarp backend (warp's CPU device), tiny envs: observation assembly,
reference-state resets, domain randomisation, determinism, falling and terminations, tracking
rewards on the reference, and the start-up errors of bad configurations.

The block-level observation/reward math is tested with `legged_gym.envs.mdp`; here the environment
is checked to feed those functions the right state.
"""

import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

pytest.importorskip("mujoco_warp")

from legged_gym.envs import task_registry  # noqa: E402  (registers the tasks)
from legged_gym.envs.base.humanoid_mimic_config import (
    disable_randomization,
    set_play_cfg,  # noqa: E402
    update_env_cfg_from_args,
)
from legged_gym.gym_utils.helpers import get_args  # noqa: E402
from legged_gym.envs.mdp import observations as O  # noqa: E402
from legged_gym.envs.mdp import randomization as rand  # noqa: E402
from legged_gym.envs.mdp.layout import LAYOUT  # noqa: E402
from legged_gym.gym_utils.task_registry import UnknownTaskError  # noqa: E402
from pose.formats import MotionFileError  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402
from pose.utils.torch_utils import quat_rotate_inverse  # noqa: E402

G1 = load_g1()
TRACKING_TERMS = (
    "tracking_joint_dof",
    "tracking_joint_vel",
    "tracking_root_pose",
    "tracking_root_vel",
    "tracking_keybody_pos",
)


def make_cfg(task, num_envs=2, seed=1, noise=True, rand=True):
    cfg, _ = task_registry.get_cfgs(task)
    cfg.env.num_envs = num_envs
    cfg.seed = seed
    cfg.sim.backend = "mjwarp"
    cfg.noise.add_noise = noise
    if not rand:
        disable_randomization(cfg)
    return cfg


def make_env(task, cfg=None, **kwargs):
    return task_registry.get(task).env_class(cfg or make_cfg(task, **kwargs), "cpu", True)


@pytest.fixture(scope="module")
def teacher_env():
    return make_env("g1_priv_mimic", noise=False)


@pytest.fixture(scope="module")
def student_env():
    return make_env("g1_stu_rl", noise=False)


def expected_teacher_obs(env):
    """The 1318-D vector rebuilt with the mdp builders from the backend and the motion library."""
    sim, lib = env.sim, env._motion_lib
    times = O.future_motion_times(env.episode_length_buf * env.dt + env._motion_time_offsets)
    ids = env._motion_ids.unsqueeze(-1).expand_as(times)
    rp, rr, rv, rav, dp, _, lbp = lib.calc_motion_frame(ids, times)
    mimic = O.priv_mimic_obs(rp, rr, rv, rav, dp, lbp[:, :, lib.get_key_body_idx(G1.key_bodies)])
    root = sim.root_states
    quat = root[:, 3:7]
    proprio = O.proprio_obs(
        quat_rotate_inverse(quat, root[:, 10:13]),
        quat,
        sim.dof_pos,
        sim.dof_vel,
        env.action_history_buf[:, -1],
        torch.tensor(G1.default_dof_pos, dtype=torch.float32),
    )
    key_ids = [sim.body_index(b) for b in G1.key_bodies]
    feet_ids = [sim.body_index(b) for b in G1.feet]
    kp, kd = env.motor_strength
    priv = O.priv_info_obs(
        quat_rotate_inverse(quat, root[:, 7:10]),
        root[:, :3],
        quat,
        sim.body_states[:, key_ids, :3],
        sim.contact_forces[:, feet_ids],
        env.mass_params_tensor,
        sim.friction,
        kp,
        kd,
    )
    return O.teacher_obs(mimic, proprio, priv), rp[:, 0], rr[:, 0], rv[:, 0], rav[:, 0], dp[:, 0], proprio


def assert_at_noised_reference(env, ids, dof_range=(0.8, 1.2), xy=0.3):
    """Robot of `ids` on its start frame (RSI noise within the given ranges); the reference valid."""
    ids = torch.as_tensor(ids)
    m = env.cfg.motion
    assert (env.episode_length_buf[ids] == 0).all()
    rp, rr, rv, rav, dp, dv, _ = env._motion_lib.calc_motion_frame(env._motion_ids[ids], env._motion_time_offsets[ids])
    origin = env.episode_init_origin[ids]
    # the reference: the clip frame at the start time, shifted by the episode's xy origin
    assert (origin[:, :2].abs() <= xy + 1e-6).all() and (origin[:, 2] == 0).all()
    torch.testing.assert_close(env._ref_root_pos[ids], rp + origin + torch.tensor([0.0, 0.0, m.height_offset]))
    torch.testing.assert_close(env._ref_root_rot[ids], rr)
    torch.testing.assert_close(env._ref_dof_pos[ids], dp)
    torch.testing.assert_close(env._ref_dof_vel[ids], dv)
    assert torch.isfinite(env._ref_body_pos[ids]).all()
    torch.testing.assert_close(env._ref_root_rot[ids].norm(dim=-1), torch.ones(len(ids)))
    # the robot: xy on the (shifted) reference, i.e. within +-xy of the clip; z 5 cm above; same quat
    root = env.root_states[ids]
    torch.testing.assert_close(root[:, :2], env._ref_root_pos[ids, :2], atol=1e-5, rtol=0)
    assert ((root[:, :2] - rp[:, :2]).abs() <= xy + 1e-5).all()
    torch.testing.assert_close(root[:, 2], env._ref_root_pos[ids, 2] + 0.05, atol=1e-5, rtol=0)
    torch.testing.assert_close((root[:, 3:7] * rr).sum(-1).abs(), torch.ones(len(ids)), atol=1e-5, rtol=0)
    torch.testing.assert_close(root[:, 7:10], 0.8 * rv, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(root[:, 10:13], 0.8 * rav, atol=1e-4, rtol=1e-4)
    q = env.dof_pos[ids]
    nonzero = dp.abs() > 1e-3
    ratio = q[nonzero] / dp[nonzero]
    assert ((ratio >= dof_range[0] - 1e-4) & (ratio <= dof_range[1] + 1e-4)).all(), ratio
    assert (q[~nonzero].abs() <= dof_range[1] * 1e-3 + 1e-6).all()
    torch.testing.assert_close(env.dof_vel[ids], 0.8 * dv, atol=1e-5, rtol=1e-5)


# --- observations ------------------------------------------------------------------------------------


def test_teacher_obs_are_the_mdp_builders_of_the_state(teacher_env):
    env = teacher_env
    assert env.obs_buf.shape == (2, LAYOUT.n_teacher_obs) == (2, 1318)
    assert env.privileged_obs_buf.shape == (2, 1318) and env.obs_buf is env.privileged_obs_buf
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        actions = 0.3 * torch.randn(2, 23, generator=gen)
        obs, priv, rew, done, extras = env.step(actions)
        assert not done.any()
        assert set(extras) == {"time_outs"} and extras["time_outs"].shape == (2,)
        expected = expected_teacher_obs(env)[0]
        torch.testing.assert_close(obs, expected.clamp(-100, 100), atol=1e-5, rtol=1e-5)
        # the proprio block carries the raw (unclipped, undelayed) action of this step
        torch.testing.assert_close(obs[:, LAYOUT.teacher.slices["proprio"]][:, 51:], actions)


def test_student_obs_current_frame_and_history(student_env):
    env = student_env
    assert env.obs_buf.shape == (2, 1155) and env.privileged_obs_buf.shape == (2, 1318)
    single = LAYOUT.n_student_single
    # right after the construction reset the history is zeros (TWIST's "TODO no 0s")
    assert (env.obs_buf[:, LAYOUT.student.slices["history"]] == 0).all()
    frames = []
    for _ in range(3):
        obs, priv, _, done, _ = env.step(torch.zeros(2, 23))
        assert not done.any()
        teacher, rp, rr, rv, rav, dp, proprio = expected_teacher_obs(env)
        torch.testing.assert_close(priv, teacher.clamp(-100, 100), atol=1e-5, rtol=1e-5)
        mimic = O.student_mimic_obs(rp, rr, rv, rav, dp)
        torch.testing.assert_close(obs[:, LAYOUT.student.slices["mimic"]], mimic, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(obs[:, LAYOUT.student.slices["mimic"]], priv[:, :31])
        torch.testing.assert_close(obs[:, LAYOUT.student.slices["proprio"]], proprio, atol=1e-5, rtol=1e-5)
        frames.append(obs[:, :single].clone())
    history = obs[:, LAYOUT.student.slices["history"]].reshape(2, LAYOUT.history_len, single)
    # step 1 refilled the history with copies of its frame; step 2 appended its own (newest last)
    torch.testing.assert_close(history[:, :-1], frames[0].unsqueeze(1).expand(-1, LAYOUT.history_len - 1, -1))
    torch.testing.assert_close(history[:, -1], frames[1])


# --- resets and randomisation -------------------------------------------------------------------------


def test_symmetry_maps_are_the_layouts_mirror_of_the_envs_obs_and_actions(teacher_env, student_env):
    from legged_gym.envs.mdp import symmetry

    for env in (teacher_env, student_env):
        obs_mirror, action_mirror = env.symmetry_maps()
        assert len(obs_mirror[0]) == env.num_obs and len(action_mirror[0]) == env.num_actions
        assert obs_mirror == symmetry.obs_mirror(env.obs_layout, env.obs_type)
        # the privileged (critic) obs' mirror, which the state estimator's mirrored targets read: its root
        # velocity stays in place, the sideways entry negated
        perm, signs = env.privileged_obs_mirror()
        assert len(perm) == env.num_privileged_obs and (perm, signs) == symmetry.obs_mirror(env.obs_layout, "priv")
        velocity = env.obs_layout.priv_info_indices(["base_lin_vel"])
        assert [perm[i] for i in velocity] == velocity and [signs[i] for i in velocity] == [1.0, -1.0, 1.0]


def test_construction_resets_every_env_to_its_noised_reference():
    env = make_env("g1_priv_mimic", num_envs=3, seed=5)
    assert_at_noised_reference(env, [0, 1, 2])
    assert env.max_episode_length == math.ceil(float(env._motion_lib.get_motion_length().max()) / 0.02)


def test_domain_randomisation_draws_are_in_range_and_applied(teacher_env):
    env, sim = teacher_env, teacher_env.sim
    f = env.friction_coeffs_tensor.squeeze(-1)
    assert ((f >= 0.1) & (f <= 2.0)).all()
    torch.testing.assert_close(sim.friction, f)
    pelvis = sim.body_index(G1.raw["randomised_mass_body"])
    added = env.mass_params_tensor[:, 0]
    com = env.mass_params_tensor[:, 1:4]
    assert ((added >= -3) & (added <= 3)).all() and (added != 0).all()
    assert ((com >= -0.05) & (com <= 0.05)).all()
    torch.testing.assert_close(sim.body_mass[:, pelvis], G1.bodies[pelvis].mass + added)
    torch.testing.assert_close(sim.body_com[:, pelvis], torch.tensor(G1.bodies[pelvis].com, dtype=torch.float32) + com)
    kp, kd = env.motor_strength
    assert ((kp >= 0.8) & (kp <= 1.2)).all() and ((kd >= 0.8) & (kd <= 1.2)).all()
    assert not torch.equal(kp, kd)


def test_same_seed_same_rollout():
    envs = [make_env("g1_stu_rl", seed=7) for _ in range(2)]  # noise, delay, DR all on
    gen = torch.Generator().manual_seed(1)
    torch.testing.assert_close(envs[0].obs_buf, envs[1].obs_buf, atol=0, rtol=0)
    for _ in range(5):
        actions = 0.5 * torch.randn(2, 23, generator=gen)
        a = envs[0].step(actions)
        b = envs[1].step(actions)
        torch.testing.assert_close(a[0], b[0], atol=0, rtol=0)
        torch.testing.assert_close(a[1], b[1], atol=0, rtol=0)
        torch.testing.assert_close(a[2], b[2], atol=0, rtol=0)


# --- physics, terminations, rewards -------------------------------------------------------------------


def test_tracking_rewards_are_one_on_the_reference():
    env = make_env("g1_priv_mimic", rand=False)
    ids = env.all_env_ids
    root = torch.cat([env._ref_root_pos, env._ref_root_rot, env._ref_root_vel, env._ref_root_ang_vel], dim=-1)
    env.sim.set_root_states(ids, root)
    env.sim.set_dof_states(ids, env._ref_dof_pos, env._ref_dof_vel)
    env.sim.forward()
    env._compute_base_quantities()
    terms = {t.name: t.fn for t in env.reward_terms}
    for name in TRACKING_TERMS:
        torch.testing.assert_close(terms[name](), torch.ones(2), atol=1e-4, rtol=0, msg=name)


def test_vel_smooth_window_sets_the_reference_velocity_filter():
    """motion.vel_smooth_window = 1: the reference joint and root velocities in mid-walk are the
    forward differences of the clip's frames; TWIST's 19 taps change them by a good part."""
    walk = make_env("g1_priv_mimic", rand=False)._motion_lib.motion_names.index("walk_forward_1p5")
    clips = torch.tensor([walk, walk])
    for window in (1, 19):
        cfg = make_cfg("g1_priv_mimic", rand=False)
        cfg.motion.vel_smooth_window = window
        env = make_env("g1_priv_mimic", cfg)
        lib = env._motion_lib
        fps = float(lib.get_motion_fps(clips[:1]))
        t = torch.full((2,), 100.01 / fps)  # just after frame 100: its velocity is the one used
        env.reset_to_motions(env.all_env_ids, clips, t)
        f0 = lib.calc_motion_frame(clips, t)
        f1 = lib.calc_motion_frame(clips, t + 1.0 / fps)
        dof_fd = (f1[4] - f0[4]) * fps
        root_fd = (f1[0] - f0[0]) * fps
        assert float(dof_fd.norm()) > 1.0  # the legs swing
        if window == 1:
            torch.testing.assert_close(env._ref_dof_vel, dof_fd, atol=0.05, rtol=0.02)
            torch.testing.assert_close(env._ref_root_vel, root_fd, atol=0.05, rtol=0.02)
        else:
            assert float((env._ref_dof_vel - dof_fd).norm()) > 0.3 * float(dof_fd.norm())


def _yawed_robots_and_reference_yaw(envs, yaws, shift_xy=(0.0, 0.0)):
    """Place the 2 robots of every env upright at `yaws` (shifted by `shift_xy`), recompute the
    observations; returns the reference yaw (2, K) of every future frame, from the quaternions."""
    env = envs[0]
    root = env.root_states.clone()
    root[:, 0:2] += torch.tensor(shift_xy)
    root[:, 3:7] = torch.stack([torch.zeros(2), torch.zeros(2), torch.sin(yaws / 2), torch.cos(yaws / 2)], dim=-1)
    for e in envs:
        e.sim.set_root_states(e.all_env_ids, root)
        e.sim.forward()
        e._compute_base_quantities()
        e.compute_observations()
    times = O.future_motion_times(env.episode_length_buf * env.dt + env._motion_time_offsets)
    q = env._ref_frame(env._motion_ids.unsqueeze(-1).expand_as(times), times).root_rot
    return torch.atan2(2 * (q[..., 3] * q[..., 2] + q[..., 0] * q[..., 1]), 1 - 2 * (q[..., 1] ** 2 + q[..., 2] ** 2))


def test_relative_ref_yaw_changes_the_teacher_blocks_yaw_only():
    """motion.relative_ref_yaw on a student env: in the privileged (teacher) obs every future block's yaw
    is the reference's yaw at that frame minus the robot's current yaw, wrapped (recomputed here from the
    state; the wrap itself: test_mdp_observations); every other teacher entry and the whole student obs
    (TWIST's absolute yaw) equal those of the env without the option."""
    cfg = make_cfg("g1_stu_rl", rand=False, noise=False)
    cfg.motion.relative_ref_yaw = True
    env = make_env("g1_stu_rl", cfg)
    plain = make_env("g1_stu_rl", rand=False, noise=False)
    yaws = torch.tensor([0.4, -3.0])
    ref_yaw = _yawed_robots_and_reference_yaw((env, plain), yaws)
    expected = torch.remainder(ref_yaw - yaws.unsqueeze(-1) + math.pi, 2 * math.pi) - math.pi
    steps = len(LAYOUT.tar_obs_steps)
    block = env.privileged_obs_buf[:, LAYOUT.teacher.slices["priv_mimic"]].reshape(2, steps, -1)
    plain_block = plain.privileged_obs_buf[:, LAYOUT.teacher.slices["priv_mimic"]].reshape(2, steps, -1)
    torch.testing.assert_close(block[..., 3], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(plain_block[..., 3], ref_yaw, atol=1e-5, rtol=0)  # TWIST: absolute
    assert torch.equal(block[..., :3], plain_block[..., :3]) and torch.equal(block[..., 4:], plain_block[..., 4:])
    rest = slice(LAYOUT.teacher.slices["priv_mimic"].stop, None)
    assert torch.equal(env.privileged_obs_buf[:, rest], plain.privileged_obs_buf[:, rest])
    assert torch.equal(env.obs_buf, plain.obs_buf)


def test_relative_ref_yaw_unwrap_makes_the_blocks_yaw_continuous():
    """motion.relative_ref_yaw_unwrap: the first block's yaw entry is the wrapped heading error; the
    others follow the reference's own turns (numpy's unwrap of the frames' yaws), so consecutive blocks
    never differ by more than pi; without motion.relative_ref_yaw the env refuses the option."""
    cfg = make_cfg("g1_priv_mimic", rand=False, noise=False)
    cfg.motion.relative_ref_yaw = cfg.motion.relative_ref_yaw_unwrap = True
    env = make_env("g1_priv_mimic", cfg)
    yaws = torch.tensor([0.4, -3.0])
    ref_yaw = _yawed_robots_and_reference_yaw((env,), yaws).double().numpy()
    first = np.remainder(ref_yaw[:, :1] - yaws.double().numpy()[:, None] + math.pi, 2 * math.pi) - math.pi
    expected = first + np.unwrap(ref_yaw, axis=1) - np.unwrap(ref_yaw, axis=1)[:, :1]
    steps = len(LAYOUT.tar_obs_steps)
    block = env.privileged_obs_buf[:, LAYOUT.teacher.slices["priv_mimic"]].reshape(2, steps, -1)
    np.testing.assert_allclose(block[..., 3].double().numpy(), expected, atol=1e-5)
    assert float(block[..., 3].diff(dim=1).abs().max()) < math.pi
    cfg = make_cfg("g1_priv_mimic", rand=False)
    cfg.motion.relative_ref_yaw_unwrap = True
    with pytest.raises(ValueError, match="relative_ref_yaw_unwrap = True needs motion.relative_ref_yaw"):
        make_env("g1_priv_mimic", cfg)


def test_student_block_is_the_clips_frame_with_the_relative_yaw_option():
    """A student env with drift feedback and motion.student_relative_ref_yaw: the student's block is the
    clip's next frame (no feedback: the deploy stream has none) with the yaw entry = reference yaw - robot
    yaw, wrapped (recomputed here); its other entries are those of the env without both options, while
    the teacher's blocks (privileged obs) carry the feedback."""
    cfg = make_cfg("g1_stu_rl", rand=False, noise=False)
    cfg.motion.student_relative_ref_yaw = True
    cfg.motion.ref_correction.pos_gain = cfg.motion.ref_correction.yaw_gain = 1.0
    env = make_env("g1_stu_rl", cfg)
    plain = make_env("g1_stu_rl", rand=False, noise=False)
    yaws = torch.tensor([0.4, -3.0])
    # off the reference by (0.4, -0.3) m: the feedback is not zero; the student's block is the next frame
    ref_yaw = _yawed_robots_and_reference_yaw((env, plain), yaws, (0.4, -0.3))[:, 0]
    expected = torch.remainder(ref_yaw - yaws + math.pi, 2 * math.pi) - math.pi
    mimic, plain_mimic = (
        env.obs_buf[:, LAYOUT.student.slices["mimic"]],
        plain.obs_buf[:, LAYOUT.student.slices["mimic"]],
    )
    torch.testing.assert_close(mimic[:, 3], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(plain_mimic[:, 3], ref_yaw, atol=1e-5, rtol=0)
    keep = [i for i in range(31) if i != 3]
    assert torch.equal(mimic[:, keep], plain_mimic[:, keep])
    teacher = env.privileged_obs_buf[:, LAYOUT.teacher.slices["priv_mimic"]]
    plain_teacher = plain.privileged_obs_buf[:, LAYOUT.teacher.slices["priv_mimic"]]
    assert float((teacher[:, 4:7] - plain_teacher[:, 4:7]).abs().max()) > 0.1  # the feedback: teacher only


def _student_feedback_env(odometry="simulator"):
    cfg = make_cfg("g1_stu_rl", rand=False, noise=False)
    c = cfg.motion.ref_correction
    c.pos_gain, c.yaw_gain, c.max_speed, c.max_yaw_rate = 0.8, 1.5, 0.5, 0.4
    cfg.motion.student_ref_correction = True
    cfg.motion.student_odometry = odometry
    return make_env("g1_stu_rl", cfg)


def _expected_student_block(env, robot_xy, robot_quat):
    """The clip's next frame with its root velocities steered from `robot_xy` (recomputed here)."""
    v = 0.8 * (env._ref_root_pos[:, :2] - robot_xy)
    v = v * torch.clamp(0.5 / v.norm(dim=-1, keepdim=True), max=1.0)
    q, rq = env._ref_root_rot, robot_quat
    yaw = torch.atan2(2 * (q[:, 3] * q[:, 2] + q[:, 0] * q[:, 1]), 1 - 2 * (q[:, 1] ** 2 + q[:, 2] ** 2))
    robot_yaw = torch.atan2(2 * (rq[:, 3] * rq[:, 2] + rq[:, 0] * rq[:, 1]), 1 - 2 * (rq[:, 1] ** 2 + rq[:, 2] ** 2))
    w = (1.5 * (torch.remainder(yaw - robot_yaw + math.pi, 2 * math.pi) - math.pi)).clamp(-0.4, 0.4)
    lin = torch.cat([v, torch.zeros(len(v), 1)], dim=-1)
    ang = torch.cat([torch.zeros(len(v), 2), w.unsqueeze(-1)], dim=-1)
    times = O.future_motion_times(env.episode_length_buf * env.dt + env._motion_time_offsets)[:, :1]
    f = env._ref_frame(env._motion_ids.unsqueeze(-1), times)
    return O.student_mimic_obs(
        f.root_pos[:, 0], f.root_rot[:, 0], f.root_vel[:, 0] + lin, f.root_ang_vel[:, 0] + ang, f.dof_pos[:, 0]
    )


def test_student_ref_correction_steers_the_students_block_from_the_simulators_position():
    """motion.student_ref_correction: the student's block is the clip's next frame with the drift
    feedback of the robot's true position added to its root velocities (recomputed here), as the
    teacher's blocks get it; the entries other than the velocities are the plain env's."""
    env = _student_feedback_env()
    cfg = make_cfg("g1_stu_rl", rand=False, noise=False)
    cfg.motion.ref_correction.pos_gain = cfg.motion.ref_correction.yaw_gain = 1.0  # the teacher's feedback only
    plain = make_env("g1_stu_rl", cfg)
    yaws = torch.tensor([0.5, -0.2])
    _yawed_robots_and_reference_yaw((env, plain), yaws, (0.4, -0.3))
    mimic, plain_mimic = (
        env.obs_buf[:, LAYOUT.student.slices["mimic"]],
        plain.obs_buf[:, LAYOUT.student.slices["mimic"]],
    )
    expected = _expected_student_block(env, env.root_states[:, :2], env.root_states[:, 3:7])
    torch.testing.assert_close(mimic, expected, atol=1e-5, rtol=1e-5)
    assert float((mimic[:, 4:8] - plain_mimic[:, 4:8]).abs().max()) > 0.1
    keep = [i for i in range(31) if not 4 <= i < 8]
    assert torch.equal(mimic[:, keep], plain_mimic[:, keep])


def test_student_odometry_estimate_dead_reckons_from_the_given_velocity():
    """motion.student_odometry = "estimate": the odometry starts at the robot's reset position,
    advance_odometry integrates R(q) v dt from the given base-frame velocity, and the student's
    feedback reads that position, not the simulator's; a step without it fails, naming the call."""
    env = _student_feedback_env("estimate")
    torch.testing.assert_close(env._odometry_xy, env.root_states[:, :2])
    start, quat = env.root_states[:, :2].clone(), env.base_quat.clone()
    v = torch.tensor([[1.0, 0.0, 0.0], [0.0, -2.0, 0.5]])
    env.advance_odometry(v)
    moved = Rotation.from_quat(quat.double().numpy()).apply(v.double().numpy())[:, :2]  # scipy: xyzw too
    np.testing.assert_allclose(env._odometry_xy.double().numpy(), start.double().numpy() + env.dt * moved, atol=1e-6)
    odometry_xy = env._odometry_xy.clone()
    env.step(torch.zeros(2, 23))
    assert not torch.equal(odometry_xy, env.root_states[:, :2])
    expected = _expected_student_block(env, odometry_xy, env.base_quat)
    torch.testing.assert_close(env.obs_buf[:, LAYOUT.student.slices["mimic"]], expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"expected \(2, 3\)"):
        env.advance_odometry(torch.zeros(3))
    with pytest.raises(RuntimeError, match="advance_odometry"):
        env.step(torch.zeros(2, 23))
    cfg = make_cfg("g1_stu_rl", rand=False)
    cfg.motion.student_ref_correction = True  # without the feedback's gains
    with pytest.raises(ValueError, match="student_ref_correction = True needs the drift feedback's gains"):
        make_env("g1_stu_rl", cfg)
    cfg.motion.ref_correction.pos_gain, cfg.motion.student_odometry = 1.0, "gps"
    with pytest.raises(ValueError, match="student_odometry = 'gps'"):
        make_env("g1_stu_rl", cfg)
    cfg.motion.student_odometry, cfg.motion.leg_odometry_gate = "legs", 0.0
    with pytest.raises(ValueError, match="leg_odometry_gate = 0.0: expected > 0"):
        make_env("g1_stu_rl", cfg)


def test_drift_feedback_steers_the_observed_and_rewarded_reference_velocity():
    """motion.ref_correction: every future frame's reference velocity in the teacher obs, and the
    tracking_root_vel target, get the capped correction towards the reference root (recomputed here
    from the state); gains 0 give TWIST's observations."""
    cfg = make_cfg("g1_priv_mimic", rand=False, noise=False)
    c = cfg.motion.ref_correction
    c.pos_gain, c.yaw_gain, c.max_speed, c.max_yaw_rate = 0.8, 1.5, 0.5, 0.4
    cfg.rewards.scales.tracking_root_yaw_rate = 0.5  # off in TWIST's table
    env = make_env("g1_priv_mimic", cfg)
    plain = make_env("g1_priv_mimic", rand=False, noise=False)
    ids = env.all_env_ids
    root = env.root_states.clone()
    root[0, 0:2] -= torch.tensor([0.3, 0.0])  # 0.3 m behind: 0.24 m/s, below the cap
    root[1, 0:2] += torch.tensor([1.0, -1.0])  # 1.41 m off: capped to 0.5 m/s
    half = 0.25  # robot 1 turned by +0.5 rad about z: the yaw-rate correction is -0.75, capped at -0.4
    root[1, 3:7] = torch.tensor([0.0, 0.0, math.sin(half), math.cos(half)])
    for e in (env, plain):
        e.sim.set_root_states(ids, root)
        e.sim.forward()
        e._compute_base_quantities()
        e.compute_observations()
    err = (env._ref_root_pos - root[:, :3])[:, :2]
    v = 0.8 * err
    v = v * torch.clamp(0.5 / v.norm(dim=-1, keepdim=True), max=1.0)
    ref_yaw = torch.atan2(
        2 * (env._ref_root_rot[:, 3] * env._ref_root_rot[:, 2] + env._ref_root_rot[:, 0] * env._ref_root_rot[:, 1]),
        1 - 2 * (env._ref_root_rot[:, 1] ** 2 + env._ref_root_rot[:, 2] ** 2),
    )
    robot_yaw = torch.atan2(
        2 * (root[:, 6] * root[:, 5] + root[:, 3] * root[:, 4]), 1 - 2 * (root[:, 4] ** 2 + root[:, 5] ** 2)
    )
    dyaw = torch.remainder(ref_yaw - robot_yaw + math.pi, 2 * math.pi) - math.pi
    w = (1.5 * dyaw).clamp(-0.4, 0.4)
    assert abs(float(v[0].norm()) - 0.24) < 0.05 and float(v[1].norm()) == pytest.approx(0.5, abs=1e-5)
    assert float(w[1]) == pytest.approx(-0.4, abs=1e-5)
    lin = torch.cat([v, torch.zeros(2, 1)], dim=-1)
    ang = torch.cat([torch.zeros(2, 2), w.unsqueeze(-1)], dim=-1)
    # the observation: each future frame's root block holds R_ref^-1 (v_ref + lin) and the yaw rate of w_ref + ang
    times = O.future_motion_times(env.episode_length_buf * env.dt + env._motion_time_offsets)
    frame = env._ref_frame(env._motion_ids.unsqueeze(-1).expand_as(times), times)
    block = env.obs_buf[:, LAYOUT.teacher.slices["priv_mimic"]].reshape(2, len(LAYOUT.tar_obs_steps), -1)
    plain_block = plain.obs_buf[:, LAYOUT.teacher.slices["priv_mimic"]].reshape(2, len(LAYOUT.tar_obs_steps), -1)
    vel_local = quat_rotate_inverse(frame.root_rot, frame.root_vel + lin.unsqueeze(1))
    yaw_rate = quat_rotate_inverse(frame.root_rot, frame.root_ang_vel + ang.unsqueeze(1))[..., 2]
    torch.testing.assert_close(block[..., 4:7], vel_local, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(block[..., 7], yaw_rate, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        plain_block[..., 4:7], quat_rotate_inverse(frame.root_rot, frame.root_vel), atol=1e-5, rtol=1e-5
    )
    assert torch.equal(block[..., 8:], plain_block[..., 8:]) and torch.equal(block[..., :4], plain_block[..., :4])
    # the reward's target: the same corrected velocity
    target_vel, target_ang_vel = env.ref_root_vel_target()
    torch.testing.assert_close(target_vel, env._ref_root_vel + lin, atol=1e-6, rtol=0)
    torch.testing.assert_close(target_ang_vel, env._ref_root_ang_vel + ang, atol=1e-6, rtol=0)
    fn = {t.name: t.fn for t in env.reward_terms}["tracking_root_vel"]
    p = env.cfg.rewards.params.tracking_root_vel
    e_lin = (quat_rotate_inverse(env._ref_root_rot, env._ref_root_vel + lin) - env.base_lin_vel).pow(2).sum(-1)
    e_ang = (quat_rotate_inverse(env._ref_root_rot, env._ref_root_ang_vel + ang) - env.base_ang_vel).pow(2).sum(-1)
    torch.testing.assert_close(fn(), torch.exp(-p.coef * (e_lin + p.ang_weight * e_ang)), atol=1e-6, rtol=1e-5)
    # the yaw-rate term: the same corrected yaw rate against the root's world-frame yaw rate
    terms = {t.name: t for t in env.reward_terms}
    assert terms["tracking_root_yaw_rate"].scale == pytest.approx(0.5 * env.dt)
    e_yaw = (env._ref_root_ang_vel[:, 2] + w - env.root_states[:, 12]) ** 2
    torch.testing.assert_close(terms["tracking_root_yaw_rate"].fn(), torch.exp(-4.0 * e_yaw), atol=1e-6, rtol=1e-5)
    assert "tracking_root_yaw_rate" not in {t.name for t in plain.reward_terms}  # weight 0: not computed


def test_default_pose_feet_land_first_then_a_fall_terminates_and_resets():
    cfg = make_cfg("g1_priv_mimic", rand=False)
    cfg.motion.rand_reset = False  # clips start at t = 0: no motion end within this test
    cfg.termination.pose_termination = False  # the robot is not on its reference: isolate falls
    cfg.termination.root_height_diff_threshold = 10.0
    env = make_env("g1_priv_mimic", cfg)
    assert (env.privileged_obs_buf[:, LAYOUT.teacher.slices["priv_info"]] == 0).all()  # --no_rand: zeros

    # env 0 upright, env 1 pitched 0.6 rad forward; default pose, feet 5 cm above the ground
    root = torch.zeros(2, 13)
    root[:, 2] = G1.standing_pelvis_height + 0.05
    root[:, 6] = 1.0
    root[1, 4], root[1, 6] = math.sin(0.3), math.cos(0.3)
    env.sim.set_root_states(env.all_env_ids, root)
    env.sim.set_dof_states(env.all_env_ids, env.default_dof_pos.expand(2, -1), torch.zeros(2, 23))
    env.sim.forward()

    fired = {}
    check = env.check_termination

    def recording_check():
        check()
        fired["orientation_or_torso"] = (
            (env.pitch.abs() > 1.0)
            | (env.roll.abs() > 1.0)
            | (env.contact_forces[:, env.termination_contact_indices].norm(dim=-1) > 1.0).any(-1)
        )

    env.check_termination = recording_check
    feet = set(G1.feet)
    first_contacts = None
    for _ in range(60):
        obs, priv, rew, done, extras = env.step(torch.zeros(2, 23))
        assert torch.isfinite(obs).all() and torch.isfinite(rew).all()
        touching = env.contact_forces[0].norm(dim=-1) > 0
        if first_contacts is None and touching.any():
            first_contacts = {env.sim.body_names[i] for i in touching.nonzero().flatten().tolist()}
        if done[1]:
            break
    assert first_contacts and first_contacts <= feet, first_contacts
    assert done[1], "the pitched robot did not fall within 60 steps"
    assert fired["orientation_or_torso"][1] and not extras["time_outs"][1]
    assert {"metric_tracking_joint_dof", "rew_feet_air_time"} <= set(extras["episode"])
    assert_at_noised_reference(env, [1], dof_range=(1.0, 1.0), xy=0.0)


@pytest.mark.parametrize("at_clip_end", [False, True])
def test_an_episode_started_late_in_its_clip_times_out_at_the_clips_end_with_the_option(at_clip_end):
    """`termination.motion_end_at_clip_end`: an episode started 0.09 s before its clip's end times out on its
    5th step, a time-out (bootstrapped), not a failure; TWIST's (off) plays on past the end, on the clip looped
    to its start."""
    cfg = make_cfg("g1_priv_mimic", rand=False)
    cfg.termination.motion_end_at_clip_end = at_clip_end
    cfg.termination.pose_termination = False  # zero actions: no failure within these steps
    cfg.termination.root_height_diff_threshold = 10.0
    env = make_env("g1_priv_mimic", cfg)
    lengths = env._motion_lib.get_motion_length(env._motion_ids)
    env._motion_time_offsets[:] = torch.stack([lengths[0] - 0.09, torch.zeros(())])
    env.episode_length_buf[:] = 0
    for step in range(1, 8):
        _, _, _, done, extras = env.step(torch.zeros(2, 23))
        ends = at_clip_end and step == 5
        assert done.tolist() == [ends, False], step
        assert extras["time_outs"].tolist() == [ends, False], step


# --- configuration ----------------------------------------------------------------------------------


def test_bad_configurations_fail_at_start_up_naming_the_problem(tmp_path):
    with pytest.raises(UnknownTaskError, match="g1_nope.*g1_priv_mimic, g1_stu_rl"):
        task_registry.get("g1_nope")

    cfg = make_cfg("g1_stu_rl")
    cfg.env.num_observations = 1000
    with pytest.raises(
        ValueError, match=r"G1MimicStuRLCfg\.env\.num_observations = 1000, but obs_type 'student' builds 1155"
    ):
        make_env("g1_stu_rl", cfg)

    clip = {
        "fps": 30.0,
        "root_pos": np.zeros((10, 3)),
        "root_rot": np.tile([0.0, 0.0, 0.0, 1.0], (10, 1)),
        "dof_pos": np.zeros((10, 29)),
        "local_body_pos": np.zeros((10, 38, 3)),
        "link_body_list": list(G1.motion_bodies),
    }
    path = tmp_path / "clip29.pkl"
    with open(path, "wb") as f:
        pickle.dump(clip, f)
    cfg = make_cfg("g1_priv_mimic")
    cfg.motion.motion_file = str(path)
    with pytest.raises(MotionFileError, match=r"clip29\.pkl: key 'dof_pos'.*23 joints"):
        make_env("g1_priv_mimic", cfg)


def test_play_and_no_rand_config_edits():
    cfg = set_play_cfg(make_cfg("g1_stu_rl"), num_envs=1)
    assert cfg.env.num_envs == 1 and cfg.env.episode_length_s == 60.0 and not cfg.noise.add_noise
    assert not cfg.motion.rand_reset and not cfg.motion.motion_curriculum and not cfg.domain_rand.push_robots
    assert cfg.domain_rand.randomize_friction and cfg.domain_rand.randomize_motor  # kept on, as TWIST's play
    cfg = make_cfg("g1_stu_rl", rand=False)
    dr = cfg.domain_rand
    assert not any(
        [
            dr.domain_rand_general,
            dr.randomize_friction,
            dr.randomize_base_mass,
            dr.randomize_base_com,
            dr.randomize_motor,
            dr.push_robots,
            dr.push_end_effector,
            dr.action_delay,
            dr.randomize_gravity,
        ]
    )
    # the class stays untouched: configs are instances
    assert task_registry.get_cfgs("g1_stu_rl")[0].domain_rand.randomize_motor
    args = get_args(
        [
            "--task",
            "g1_stu_rl",
            "--sim",
            "mjwarp",
            "--num_envs",
            "3",
            "--seed",
            "4",
            "--no_rand",
            "--motion_file",
            "m.yaml",
        ]
    )
    cfg = update_env_cfg_from_args(task_registry.get_cfgs("g1_stu_rl")[0], args)
    assert (cfg.env.num_envs, cfg.seed, cfg.sim.backend, cfg.motion.motion_file) == (3, 4, "mjwarp", "m.yaml")
    assert not cfg.domain_rand.randomize_motor and not cfg.noise.add_noise


def test_importing_the_envs_imports_no_simulator():
    code = (
        "import sys, legged_gym.envs; "
        "print(sorted(m for m in ('mujoco', 'mujoco_warp', 'warp', 'isaacgym') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_resets_by_mask_give_the_same_steps_as_resets_by_index_list():
    """The sync-free way (`reset_where`, every env through the reset maths, kept by mask) and the
    index-list way (`reset_idx` of reset_buf.nonzero()) step alike: observations, rewards, resets,
    curriculum, generator state bit for bit; episode logs to float rounding (masked means), NaN in
    the masked way on steps without a reset."""
    envs = []
    for sync_free in (False, True):
        cfg = make_cfg("g1_stu_rl", num_envs=4, seed=3)  # noise, delay, DR, curriculum on
        cfg.env.sync_free_resets = sync_free
        envs.append(make_env("g1_stu_rl", cfg))
    plain, fast = envs
    assert not plain.sync_free_resets and fast.sync_free_resets
    gen = torch.Generator().manual_seed(0)
    resets = quiet_steps = 0
    for i in range(24):
        actions = 2.0 * torch.randn(4, 23, generator=gen)  # large actions: robots fall and reset
        a, b = plain.step(actions), fast.step(actions)
        for x, y, name in zip(a[:4], b[:4], ("obs", "privileged obs", "rewards", "resets")):
            assert torch.equal(x, y), (i, name)
        assert torch.equal(a[4]["time_outs"], b[4]["time_outs"])
        assert torch.equal(plain.motion_difficulty, fast.motion_difficulty)
        assert torch.equal(plain._motion_ids, fast._motion_ids)
        assert torch.equal(plain._rng.get_state(), fast._rng.get_state())
        if "episode" in a[4]:
            resets += int(a[3].sum())
            assert set(a[4]["episode"]) == set(b[4]["episode"])
            for k, v in a[4]["episode"].items():
                torch.testing.assert_close(b[4]["episode"][k], v, rtol=1e-5, atol=1e-7, msg=k)
        else:
            quiet_steps += 1
            assert all(torch.isnan(v) for v in b[4]["episode"].values())
    assert resets >= 3 and quiet_steps >= 1


def test_compile_backend_choice():
    from legged_gym.envs.base.humanoid_char import compile_backend

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compile_backend(False, cuda, True) is None and compile_backend(None, cuda, True) is None
    assert compile_backend(True, cpu, False) == "inductor"
    assert compile_backend("auto", cuda, True) == "inductor"
    assert compile_backend("auto", cpu, True) is None and compile_backend("auto", cuda, False) is None
    assert compile_backend("aot_eager", cpu, False) == "aot_eager"


@pytest.mark.parametrize("task, sync_free", [("g1_priv_mimic", False), ("g1_stu_rl", True)])
def test_compiled_step_parts_give_the_same_steps(task, sync_free):
    """`cfg.env.compile_mdp`: the step's tensor maths traced by torch.compile (backend aot_eager on
    the CPU: the traced graphs run as they are, no fused code) step like the plain methods, bit for
    bit, with resets, noise, delay, randomisation, root pushes (every 3 steps here), a drift
    limit curriculum and adaptive start times counting falls and drifts on; after the first steps nothing
    is traced again (the changing step counters, pushes and drift limit do not recompile)."""
    import torch._dynamo

    envs = []
    for compile_mdp in (False, "aot_eager"):
        cfg = make_cfg(task, num_envs=4, seed=3)
        cfg.env.compile_mdp = compile_mdp
        cfg.domain_rand.push_robots = True
        cfg.domain_rand.push_interval_s = 3 * rand.POLICY_DT
        cfg.termination.max_root_drift = 0.3  # a drift limit falling from 2 m over 12 steps
        cfg.termination.max_root_drift_curriculum = [2.0, 12]
        cfg.motion.ref_correction.pos_gain = cfg.motion.ref_correction.yaw_gain = 0.5  # drift feedback on
        cfg.motion.adaptive_sampling, cfg.motion.adaptive_drift_m = True, 0.1
        cfg.env.sync_free_resets = sync_free
        envs.append(make_env(task, cfg))
    plain, compiled = envs
    assert plain.compile_mdp is None and compiled.compile_mdp == "aot_eager"
    assert "compute_reward" in compiled.__dict__ and "compute_reward" not in plain.__dict__
    gen = torch.Generator().manual_seed(0)
    resets, traced_after_warmup = 0, None
    for i in range(24):
        actions = 2.0 * torch.randn(4, 23, generator=gen)  # large actions: robots fall and reset
        a, b = plain.step(actions), compiled.step(actions)
        for x, y, name in zip(a[:4], b[:4], ("obs", "privileged obs", "rewards", "resets")):
            assert torch.equal(x, y), (i, name)
        assert torch.equal(plain.episode_sum_buf, compiled.episode_sum_buf)
        assert torch.equal(plain._rng.get_state(), compiled._rng.get_state())
        resets += int(a[3].sum())
        if i == 4:
            traced_after_warmup = sum(torch._dynamo.utils.counters["stats"].values())
    assert resets >= 3 and traced_after_warmup > 0
    assert torch.equal(plain._start_sampler.failures, compiled._start_sampler.failures)
    assert plain._start_sampler.failures.sum() > 0 and torch.equal(plain._drift_counted, compiled._drift_counted)
    assert float(compiled.root_drift_limit) == pytest.approx(0.3) and float(plain.root_drift_limit) == pytest.approx(
        0.3
    )
    assert sum(torch._dynamo.utils.counters["stats"].values()) == traced_after_warmup
    compiled.set_compile_mdp(False)  # back to the plain methods
    assert compiled.compile_mdp is None and "compute_reward" not in compiled.__dict__


def test_root_drift_metric_sums_the_horizontal_distance_to_the_reference_root(teacher_env):
    env = teacher_env
    before = env.episode_metric_sums["root_drift"].clone()
    env.compute_reward()
    d = (env.root_states[:, 0:2] - env._ref_root_pos[:, 0:2]).pow(2).sum(-1).sqrt()
    torch.testing.assert_close(env.episode_metric_sums["root_drift"] - before, d, atol=1e-6, rtol=1e-6)
    env.episode_length_buf[0] = 10
    env.episode_metric_sums["root_drift"][0] = 3.0
    env._log_episode(torch.tensor([0]))
    assert float(env.extras["episode"]["metric_root_drift"]) == pytest.approx(0.3, rel=1e-6)


def test_episode_log_is_per_term_sum_over_clip_length(teacher_env):
    env = teacher_env
    names = list(env.reward_scales)
    env.episode_sum_buf[:] = torch.arange(2 * len(names), dtype=torch.float32).reshape(2, -1)
    expected_sums = env.episode_sum_buf[0].clone()
    length = float(env._motion_lib.get_motion_length(env._motion_ids[:1])[0])
    env.episode_length_buf[0] = 40
    env.keybody_distance_sum[0] = 2.0
    env._log_episode(torch.tensor([0]))
    assert float(env.extras["episode"]["metric_completion"]) == pytest.approx(40 * env.dt / length, rel=1e-6)
    assert float(env.extras["episode"]["metric_keybody_distance"]) == pytest.approx(2.0 / 40, rel=1e-6)
    episode = env.extras["episode"]
    for i, name in enumerate(names):
        assert float(episode["metric_" + name]) == pytest.approx(float(expected_sums[i]) / length, rel=1e-6)
        assert float(episode["rew_" + name]) == pytest.approx(
            float(expected_sums[i]) / length * env.reward_scales[name], rel=1e-5, abs=1e-9
        )
    assert torch.all(env.episode_sum_buf[0] == 0) and torch.all(env.episode_sum_buf[1] > 0)
    assert float(env.episode_sums[names[1]][1]) == float(env.episode_sum_buf[1, 1])  # columns are views


def test_episode_log_reports_the_fraction_of_episodes_whose_solver_hit_its_limit(teacher_env):
    env = teacher_env
    if env.sim.name != "mjwarp":
        pytest.skip("solver records are a MuJoCo Warp feature")
    import mujoco_warp

    both = torch.tensor([0, 1], device=env.device)
    env.sim.take_solver_limit_hits(both)
    env.sim._overflow[0] |= int(mujoco_warp.OverflowType.ITERATIONS)
    env._log_episode(both)
    assert float(env.extras["episode"]["metric_solver_iteration_limit"]) == 0.5
    env._log_episode(both)  # the record is per episode: cleared when the episode is logged
    assert float(env.extras["episode"]["metric_solver_iteration_limit"]) == 0.0


def test_gravity_randomisation_applies_when_switched_on():
    cfg = make_cfg("g1_priv_mimic", noise=False)
    cfg.domain_rand.randomize_gravity = True
    cfg.domain_rand.gravity_rand_interval_s = 0.02  # re-draw every policy step for the test
    env = make_env("g1_priv_mimic", cfg)
    nominal = torch.tensor(cfg.sim.gravity)
    lo, hi = cfg.domain_rand.gravity_range
    first = env.sim.gravity.clone()
    assert torch.all((first - nominal >= lo) & (first - nominal <= hi)) and not torch.equal(first, nominal)
    env.step(torch.zeros(2, 23))
    second = env.sim.gravity.clone()
    assert torch.all((second - nominal >= lo) & (second - nominal <= hi)) and not torch.equal(second, first)


def test_drift_curriculum_needs_a_final_limit():
    cfg = make_cfg("g1_priv_mimic")
    cfg.termination.max_root_drift_curriculum = [2.0, 100]  # max_root_drift (the final limit) left at 0
    with pytest.raises(ValueError, match="max_root_drift_curriculum"):
        make_env("g1_priv_mimic", cfg)
