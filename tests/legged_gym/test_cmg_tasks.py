"""The CMG tasks (g1_cmg_{slow,medium,fast}, g1_stu_rl_cmg_{slow,medium,fast}): their settings, the
environment on the CMG motion library (mjwarp on warp's CPU device, a few envs), and the workflow
train_teacher_cmg.sh -> train_student_cmg.sh -> to_jit.sh for one speed mode, 2 iterations each,
with a small randomly initialised CMG passed by --cmg_model (README, "CMG training")."""

import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("mujoco_warp")

from conftest import REPO_ROOT, tiny_cmg  # noqa: E402
from legged_gym.envs import task_registry  # noqa: E402  (registers the tasks)
from legged_gym.envs.g1.g1_mimic_cmg import G1MimicCMG, cmg_motion_lib  # noqa: E402
from legged_gym.envs.g1.g1_mimic_cmg_config import G1MimicCMGCfg  # noqa: E402
from legged_gym.envs.mdp import rewards  # noqa: E402
from legged_gym.gym_utils import helpers  # noqa: E402

BANDS = {
    "slow": ([0.5, 1.5], [-0.3, 0.3], [-0.5, 0.5]),
    "medium": ([1.5, 2.5], [-0.5, 0.5], [-0.5, 0.5]),
    "fast": ([2.5, 3.5], [-0.5, 0.5], [-0.5, 0.5]),
}
TEACHER, STUDENT = "pytest_cmg_teacher", "pytest_cmg_student"
TEACHER_OBS, STUDENT_OBS = 1318, 1155
SMALL = ["--num_envs", "4", "--max_iterations", "2", "--sim", "mjwarp"]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cmg_model(tmp_path_factory):
    return tiny_cmg(tmp_path_factory.mktemp("cmg") / "tiny_cmg.pt")


def test_tasks_have_the_speed_bands_and_the_cmg_settings():
    cmg_rewards = G1MimicCMGCfg().rewards
    for mode, (vx, vy, wz) in BANDS.items():
        for task in ("g1_cmg_" + mode, "g1_stu_rl_cmg_" + mode):
            env_cfg, train_cfg = task_registry.get_cfgs(task)
            assert task_registry.get(task).env_class is G1MimicCMG
            c = env_cfg.commands
            assert (c.lin_vel_x, c.lin_vel_y, c.ang_vel_yaw) == (vx, vy, wz), task
            assert not c.enable_cmd_switch
            assert not env_cfg.motion.rand_reset and not env_cfg.motion.motion_curriculum
            assert env_cfg.motion.cmg_model is None and env_cfg.motion.cmg_height == 0.75
            assert env_cfg.env.episode_length_s == 10.0 and train_cfg.runner.save_interval == 100
            # one CMG term table for all (its numbers: tests/legged_gym/test_mdp_rewards.py)
            table = [helpers.class_to_dict(getattr(env_cfg.rewards, g)) for g in ("scales", "params")]
            assert table == [helpers.class_to_dict(getattr(cmg_rewards, g)) for g in ("scales", "params")], task
            student = task.startswith("g1_stu_rl")
            assert env_cfg.env.num_observations == (STUDENT_OBS if student else TEACHER_OBS)
            assert train_cfg.runner_class_name == ("OnPolicyDaggerRunner" if student else "OnPolicyRunnerMimic")
    for name in ("tracking_keybody_pos_upper", "tracking_cmd_vel", "tracking_cmd_yaw", "action_symmetry"):
        assert getattr(cmg_rewards.scales, name) > 0
    fast = task_registry.get_cfgs("g1_cmg_fast")[1].algorithm
    assert (
        fast.learning_rate,
        fast.schedule,
        fast.num_learning_epochs,
        fast.clip_param,
        fast.max_grad_norm,
        fast.entropy_coef,
    ) == (8e-5, "fixed", 3, 0.15, 0.8, 0.003)
    assert task_registry.get_cfgs("g1_cmg_slow")[1].algorithm.learning_rate == 2e-4
    stu = task_registry.get_cfgs("g1_stu_rl_cmg_medium")[1].algorithm
    assert (
        stu.dagger_coef,
        stu.dagger_coef_min,
        stu.dagger_coef_anneal_steps,
        stu.learning_rate,
        stu.desired_kl,
        stu.num_learning_epochs,
    ) == (0.1, 0.03, 80000, 8e-5, 0.004, 3)


def test_cmg_model_flag_reaches_the_env_config_and_is_checked(cmg_model, capsys):
    args = helpers.get_args(
        [
            "--task",
            "g1_cmg_fast",
            "--sim",
            "mjwarp",
            "--cmg_model",
            str(cmg_model),
            "--set",
            "commands.enable_cmd_switch=true",
        ]
    )
    assert args.overrides[0] == 'motion.cmg_model="{}"'.format(cmg_model)
    from legged_gym.gym_utils.cfg_override import apply_overrides

    env_cfg, train_cfg = task_registry.get_cfgs("g1_cmg_fast")
    apply_overrides(args.overrides, env_cfg, train_cfg)
    assert env_cfg.motion.cmg_model == str(cmg_model) and env_cfg.commands.enable_cmd_switch
    for argv, message in (
        (["--task", "g1_priv_mimic", "--cmg_model", str(cmg_model)], "does not use the CMG"),
        (["--task", "g1_cmg_slow", "--cmg_model", str(cmg_model) + ".missing"], "no such file"),
    ):
        with pytest.raises(SystemExit):
            helpers.get_args(argv + ["--sim", "mjwarp"])
        assert message in capsys.readouterr().err


def test_foot_lock_setting_reaches_the_library(cmg_model):
    """motion.cmg_foot_lock: the task's library locks the stance foot (the same root, other leg joints)."""
    frames = []
    for lock in (False, True):
        cfg, _ = task_registry.get_cfgs("g1_cmg_medium")
        cfg.env.num_envs = 2
        cfg.motion.cmg_model = str(cmg_model)
        cfg.motion.cmg_foot_lock = lock
        lib = cmg_motion_lib(cfg, "cpu")
        lib.reset(torch.arange(2), commands=torch.tensor([[1.5, 0.0, 0.2], [2.0, 0.1, -0.2]]))
        for _ in range(20):
            lib.step()
        frames.append(lib.calc_motion_frame(torch.arange(2), lib.motion_times()))
    torch.testing.assert_close(frames[1][0], frames[0][0], atol=0, rtol=0)
    assert float((frames[1][4] - frames[0][4]).abs().max()) > 1e-3


def make_env(task, cmg_model, num_envs=3, seed=1, sync_free=False, switch=False):
    cfg, _ = task_registry.get_cfgs(task)
    cfg.env.num_envs = num_envs
    cfg.seed = seed
    cfg.sim.backend = "mjwarp"
    cfg.env.sync_free_resets = sync_free
    cfg.motion.cmg_model = str(cmg_model)
    cfg.commands.enable_cmd_switch = switch
    return G1MimicCMG(cfg, "cpu", True)


def test_env_tracks_the_generated_reference_with_the_cmg_rewards(cmg_model):
    env = make_env("g1_cmg_medium", cmg_model, switch=True)
    lib = env._motion_lib
    n = env.num_envs
    assert env.obs_buf.shape == (n, TEACHER_OBS) and env.max_episode_length == 500
    gen = torch.Generator().manual_seed(0)
    resets = 0
    env.episode_length_buf[:] = torch.tensor([0, 100, 499])  # as the runner's random start: only time-outs move
    for i in range(30):
        _, _, _, done, _ = env.step(1.5 * torch.randn(n, 23, generator=gen))
        resets += int(done.sum())
        # the reference is the library's current frame, shifted by the episode origin
        frame = lib.calc_motion_frame(torch.arange(n), lib.motion_times())
        torch.testing.assert_close(env._ref_dof_pos, frame[4])
        torch.testing.assert_close(env._ref_root_pos, frame[0] + env.episode_init_origin)
        torch.testing.assert_close(
            env._ref_key_body_pos() - env._ref_root_pos.unsqueeze(1), _rotated(frame), atol=1e-5, rtol=0
        )
        if i == 0:  # env 1's reference starts at frame 0 although its episode counter started at 100
            assert lib.current_frames()[1] == 1 and env.episode_length_buf[1] == 101
            assert done[2] and lib.current_frames()[2] == 0  # env 2 timed out at 10 s and restarted
        c = env.get_commands()
        assert bool(((c[:, 0] >= 1.5) & (c[:, 0] <= 2.5) & (c[:, 1].abs() <= 0.5) & (c[:, 2].abs() <= 0.5)).all())
    assert resets >= 1, "large random actions make robots fall"
    assert int(lib.num_clamped) == 0, "a reference query missed the generated frames"
    # the CMG reward terms are the mdp.rewards functions of the env's state, with the table's parameters
    terms = {t.name: t.fn for t in env.reward_terms}
    c = lib.get_commands()
    torch.testing.assert_close(terms["tracking_cmd_vel"](), rewards.tracking_cmd_vel(c, env.base_lin_vel, coef=2.0))
    torch.testing.assert_close(terms["tracking_cmd_yaw"](), rewards.tracking_cmd_yaw(c, env.base_ang_vel, coef=1.0))
    torch.testing.assert_close(terms["action_symmetry"](), rewards.action_symmetry(env.actions, coef=0.5))
    args = (
        env._key_body_pos(),
        env.root_states[:, 0:3],
        env.base_quat,
        env._ref_key_body_pos(),
        env._ref_root_pos,
        env._ref_root_rot,
    )
    torch.testing.assert_close(
        terms["tracking_keybody_pos"](),
        rewards.tracking_keybody_pos(*args, body_ids=rewards.LOWER_KEY_BODY_IDS, coef=10.0),
    )
    torch.testing.assert_close(
        terms["tracking_keybody_pos_upper"](), rewards.tracking_keybody_pos_upper(*args, coef=5.0)
    )
    masses = torch.tensor([env.model.body(b).mass for b in env.sim.body_names])
    assert float(env._body_mass.sum(dim=1).sub(masses.sum()).abs().max()) <= 3.0 + 1e-4  # pelvis mass +-3 kg
    b = env.rigid_body_states
    torch.testing.assert_close(
        terms["total_angular_momentum"](), rewards.total_angular_momentum(b[..., 0:3], b[..., 7:10], env._body_mass)
    )
    assert set(env.reward_scales) == {k for k, v in helpers.class_to_dict(G1MimicCMGCfg.rewards.scales).items() if v}


@pytest.mark.parametrize("sync_free", [False, True])
def test_cmg_episode_metrics_are_the_command_velocity_error_and_speed(cmg_model, sync_free):
    """metric_cmd_vel_error / metric_cmd_speed of a finished episode: the mean over its steps of
    |command (vx, vy) - pelvis velocity (x, y) in the pelvis frame| and of |command (vx, vy)|,
    averaged over the envs that reset (by index list or by mask alike)."""
    env = make_env("g1_cmg_medium", cmg_model, num_envs=4, seed=2, sync_free=sync_free)
    n = env.num_envs
    err, speed, steps = torch.zeros(n), torch.zeros(n), torch.zeros(n)

    def before_reset(e):  # this step's state, after the terminations, before the resets
        c = e.get_commands()[:, :2].double()
        v = e.base_lin_vel[:, :2].double()
        err.add_(((c - v) ** 2).sum(dim=-1).sqrt().float())
        speed.add_((c**2).sum(dim=-1).sqrt().float())
        steps.add_(1)

    env.pre_reset_callback = before_reset
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(40):
        _, _, _, done, extras = env.step(2.0 * torch.randn(n, 23, generator=gen))
        if done.any():
            episode = extras["episode"]
            d = done.bool()
            torch.testing.assert_close(episode["metric_cmd_vel_error"], (err[d] / steps[d]).mean())
            torch.testing.assert_close(episode["metric_cmd_speed"], (speed[d] / steps[d]).mean())
            assert 1.5 <= float(episode["metric_cmd_speed"]) <= (2.5**2 + 0.5**2) ** 0.5
            for x in (err, speed, steps):
                x.masked_fill_(d, 0.0)
            checked += 1
    assert checked >= 2, "large random actions make robots fall"


@pytest.mark.parametrize("sync_free", [False, True])
def test_cmg_mean_velocity_error_is_the_norm_of_the_episode_mean_residual(cmg_model, sync_free):
    """metric_cmd_mean_vel_error of a finished episode: |mean over its steps of command (vx, vy) -
    pelvis velocity (x, y) in the heading frame|, and metric_cmd_mean_yaw_rate_error: |mean of command
    yaw rate - pelvis yaw rate|, each averaged over the envs that reset (falls, and a forced reset);
    NaN exactly where the base's metrics are (a reset by mask that resets no env)."""
    from pose.utils.torch_utils import quat_to_matrix

    env = make_env("g1_cmg_medium", cmg_model, num_envs=4, seed=2, sync_free=sync_free, switch=True)
    n = env.num_envs
    residual, abs_residual, steps = torch.zeros(n, 3, dtype=torch.float64), torch.zeros(n), torch.zeros(n)

    def before_reset(e):  # this step's state, after the terminations, before the resets
        rot = quat_to_matrix(e.base_quat).double()
        v = (rot @ e.base_lin_vel.double().unsqueeze(-1)).squeeze(-1)  # the world velocity
        yaw = torch.atan2(rot[:, 1, 0], rot[:, 0, 0])
        cy, sy = torch.cos(yaw), torch.sin(yaw)
        heading = torch.stack([cy * v[:, 0] + sy * v[:, 1], cy * v[:, 1] - sy * v[:, 0]], dim=-1)
        r = e.get_commands()[:, :2].double() - heading
        yaw_rate = e.get_commands()[:, 2].double() - e.base_ang_vel[:, 2].double()
        residual.add_(torch.cat([r, yaw_rate.unsqueeze(-1)], dim=-1))
        abs_residual.add_(r.norm(dim=-1).float())
        steps.add_(1)

    def check(episode, d):
        mean = residual[d] / steps[d].double().unsqueeze(-1)
        error = episode["metric_cmd_mean_vel_error"]
        torch.testing.assert_close(error, mean[:, 0:2].norm(dim=-1).mean().float(), atol=1e-5, rtol=1e-4)
        yaw_error = episode["metric_cmd_mean_yaw_rate_error"]
        torch.testing.assert_close(yaw_error, mean[:, 2].abs().mean().float(), atol=1e-5, rtol=1e-4)
        # |mean residual| <= mean |residual| (both in the heading frame)
        assert float(error) <= float((abs_residual[d] / steps[d]).mean()) + 1e-5
        for x in (residual, abs_residual, steps):
            x.masked_fill_(d.view((-1,) + (1,) * (x.dim() - 1)), 0.0)

    env.pre_reset_callback = before_reset
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(30):
        assert torch.equal(steps, env.episode_length_buf.float())  # what the env divides by
        _, _, _, done, extras = env.step(2.0 * torch.randn(n, 23, generator=gen))
        d = done.bool()
        if "episode" in extras:  # every step when resetting by mask: NaN where the base's are
            nan = bool(torch.isnan(extras["episode"]["metric_cmd_mean_vel_error"]))
            assert nan == bool(torch.isnan(extras["episode"]["metric_cmd_vel_error"])) == (not bool(d.any()))
            assert nan == bool(torch.isnan(extras["episode"]["metric_cmd_mean_yaw_rate_error"]))
        if d.any():
            check(extras["episode"], d)
            checked += 1
        # the envs that go on hold the sums of their episode so far, the reset ones zero
        torch.testing.assert_close(env.cmd_vel_residual_sum.double(), residual, atol=1e-4, rtol=1e-5)
    assert checked >= 1, "large random actions make robots fall"
    # a forced reset of envs 0 and 1 (with steps played since their last reset)
    assert torch.equal(steps, env.episode_length_buf.float())
    forced = torch.tensor([True, True, False, False]) & (steps > 0)
    assert bool(forced.any())
    if sync_free:
        env.reset_where(forced)
    else:
        env.reset_idx(forced.nonzero().flatten())
    check(env.extras["episode"], forced)
    torch.testing.assert_close(env.cmd_vel_residual_sum.double(), residual, atol=1e-4, rtol=1e-5)


def _rotated(frame):
    from pose.utils.torch_utils import quat_rotate

    rot = frame[1].unsqueeze(1).expand(-1, frame[6].shape[1], -1)
    return quat_rotate(rot, frame[6])


def test_cmg_resets_by_mask_step_as_resets_by_index_list(cmg_model):
    plain, fast = [
        make_env("g1_stu_rl_cmg_slow", cmg_model, num_envs=4, seed=3, sync_free=s, switch=True) for s in (False, True)
    ]
    assert not plain.sync_free_resets and fast.sync_free_resets
    assert plain.global_counter == 0  # CMG students ramp their noise in (no 2.4 M preset)
    gen = torch.Generator().manual_seed(1)
    resets = 0
    for i in range(20):
        actions = 2.0 * torch.randn(4, 23, generator=gen)
        a, b = plain.step(actions), fast.step(actions)
        for x, y, name in zip(a[:4], b[:4], ("obs", "privileged obs", "rewards", "resets")):
            assert torch.equal(x, y), (i, name)
        assert torch.equal(plain.get_commands(), fast.get_commands())
        resets += int(a[3].sum())
    assert resets >= 2
    assert int(plain._motion_lib.num_clamped) == 0 and int(fast._motion_lib.num_clamped) == 0


# --- the workflow through the shell scripts ---------------------------------------------------------


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("cmg_logs")


def run(cmd, logs, check=True):
    # one torch thread per process: the runs are small and the CI machine has 2 cores
    env = dict(os.environ, LEGGED_GYM_LOG_DIR=str(logs), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, cwd=str(logs), env=env, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(
            "{} failed ({}):\n{}\n{}".format(
                " ".join(map(str, cmd)), out.returncode, out.stdout[-3000:], out.stderr[-5000:]
            )
        )
    return out


@pytest.fixture(scope="module")
def teacher_run(logs, cmg_model):
    out = run(
        ["bash", str(REPO_ROOT / "train_teacher_cmg.sh"), "slow", TEACHER, "cpu", "--cmg_model", str(cmg_model)]
        + SMALL,
        logs,
    )
    return logs / "g1_cmg_slow" / TEACHER, out


def test_teacher_and_student_train_through_the_cmg_scripts_and_export(teacher_run, logs, cmg_model):
    run_dir, out = teacher_run
    assert "Training g1_cmg_slow: backend mjwarp, device cpu, 4 envs" in out.stdout
    ckpt = torch.load(str(run_dir / "model_2.pt"), map_location="cpu", weights_only=True)
    assert ckpt["iter"] == 2 and ckpt["policy_cfg"]["num_observations"] == TEACHER_OBS

    out = run(
        [
            "bash",
            str(REPO_ROOT / "train_student_cmg.sh"),
            "slow",
            STUDENT,
            TEACHER,
            "cpu",
            "--cmg_model",
            str(cmg_model),
        ]
        + SMALL,
        logs,
    )
    assert "Loading teacher policy from {}".format(run_dir / "model_2.pt") in out.stdout
    student_dir = logs / "g1_stu_rl_cmg_slow" / STUDENT
    ckpt = torch.load(str(student_dir / "model_2.pt"), map_location="cpu", weights_only=True)
    assert ckpt["iter"] == 2 and ckpt["policy_cfg"]["num_observations"] == STUDENT_OBS

    out = run(["bash", str(REPO_ROOT / "to_jit.sh"), STUDENT, "g1_stu_rl_cmg_slow"], logs)
    jit = torch.jit.load(str(student_dir / "traced" / "{}-2-jit.pt".format(STUDENT)))
    assert jit(torch.zeros(1, STUDENT_OBS)).shape == (1, 23)


def test_cmg_scripts_check_their_arguments(logs):
    for name, args in (("train_teacher_cmg.sh", ["slow", "T"]), ("train_student_cmg.sh", ["slow", "S", "T"])):
        out = run(["bash", str(REPO_ROOT / name)] + args, logs, check=False)
        assert out.returncode == 2 and "usage: bash {}".format(name) in out.stderr
        out = run(["bash", str(REPO_ROOT / name), "walk"] + args[1:] + ["cpu"], logs, check=False)
        assert out.returncode == 2 and "speed mode 'walk'" in out.stderr
