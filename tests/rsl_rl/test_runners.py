"""Runners on a tiny deterministic test-double env: learn(), checkpoints, TensorBoard, exact resume,
the teacher inside the DAgger runner and the save schedule (docs/learning.md; docs/decisions.md D4, D5)."""

import glob
import os

import pytest
import torch

from rsl_rl.algorithms.losses import gaussian_kl
from rsl_rl.runners import OnPolicyDaggerRunner, OnPolicyRunnerMimic, save_due
from rsl_rl_fakes import FRAME_DIM, NUM_FRAMES, STUDENT_OBS, TEACHER_OBS, FakeMimicEnv, single_thread, small_train_cfg  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")

CKPT_KEYS = {
    "model_state_dict",
    "optimizer_state_dict",
    "iter",
    "normalizer",
    "critic_normalizer",
    "env_counters",
    "total_timesteps",
    "dagger",
    "policy_cfg",
    "infos",
}
STUDENT_CKPT_KEYS = CKPT_KEYS | {"teacher"}


def tb_tags(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(log_dir)
    acc.Reload()
    return acc, set(acc.Tags()["scalars"])


def make_teacher_checkpoint(tmp_path, iterations=2):
    torch.manual_seed(0)
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(save_interval=100), str(tmp_path / "teacher"))
    runner.learn(iterations)
    return runner, str(tmp_path / "teacher" / "model_{}.pt".format(iterations))


def assert_same_state(a, b):
    for (ka, va), (kb, vb) in zip(sorted(a.items()), sorted(b.items())):
        assert ka == kb
        if isinstance(va, dict):
            assert_same_state(va, vb)
        elif isinstance(va, torch.Tensor):
            torch.testing.assert_close(va, vb, rtol=0, atol=0)
        elif isinstance(va, (list, tuple)):
            assert len(va) == len(vb)
            for x, y in zip(va, vb):
                assert_same_state({"_": x}, {"_": y})
        else:
            assert va == vb


def test_save_schedule():
    assert [n for n in range(1, 3001) if save_due(n, 500)] == [500, 1000, 1500, 2000, 3000]
    assert save_due(4000, 500) and not save_due(3500, 500) and not save_due(4500, 500)
    assert save_due(5000, 500) and not save_due(6000, 500) and save_due(7500, 500)


def test_teacher_learn_writes_checkpoints_and_tensorboard(tmp_path):
    torch.manual_seed(0)
    env = FakeMimicEnv()
    log_dir = str(tmp_path / "run")
    runner = OnPolicyRunnerMimic(env, small_train_cfg(save_interval=1), log_dir)
    assert runner.critic_normalizer is None  # teacher: obs and privileged obs share the normaliser
    runner.learn(2)
    assert runner.current_learning_iteration == 2
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(log_dir, "model_*.pt"))) == [
        "model_1.pt",
        "model_2.pt",
    ]
    assert not glob.glob(os.path.join(log_dir, "*.tmp*"))
    ckpt = torch.load(os.path.join(log_dir, "model_2.pt"), weights_only=True)
    assert set(ckpt) == CKPT_KEYS
    assert ckpt["iter"] == 2 and ckpt["dagger"] is None and ckpt["critic_normalizer"] is None
    assert ckpt["env_counters"] == {"global_counter": 10, "total_env_steps_counter": 10, "common_step_counter": 10}
    assert ckpt["policy_cfg"]["num_observations"] == 46 and ckpt["policy_cfg"]["num_motion_observations"] == 40
    assert ckpt["policy_cfg"]["num_motion_steps"] == 20 and ckpt["policy_cfg"]["actor_hidden_dims"] == [32, 16]
    assert ckpt["normalizer"]["count"].item() == 2 * 5 * 6  # recorded every step of both iterations
    # init_at_random_ep_len drew episode lengths below max_episode_length
    lengths = env.first_step_episode_lengths
    assert int(lengths.min()) >= 0 and int(lengths.max()) < env.max_episode_length

    acc, tags = tb_tags(log_dir)
    for tag in (
        "Loss/value_func",
        "Loss/surrogate",
        "Loss/entropy",
        "Loss/learning_rate",
        "Perf/total_fps",
        "Perf/collection time",
        "Perf/learning_time",
        "Train/mean_reward",
        "Train/mean_episode_length",
        "Policy/mean_noise_std",
        "Scale/motion_difficulty",
        "Episode_rew_metrics/metric_tracking_q",
        "Episode_rew_tracking/rew_tracking_q",
        "Episode_rew_regularization/rew_action_rate",
    ):
        assert tag in tags, tag
    assert [e.step for e in acc.Scalars("Loss/surrogate")] == [1, 2]
    assert acc.Scalars("Scale/motion_difficulty")[0].value == pytest.approx(0.25)


class SharedBufferEnv(FakeMimicEnv):
    """TWIST's teacher env: the privileged obs buffer is the obs buffer (one tensor)."""

    def _compute_obs(self) -> None:
        super()._compute_obs()
        self.obs_buf = self.privileged_obs_buf


def test_teacher_stores_a_shared_obs_buffer_once_and_learns_the_same():
    """When the env's privileged obs are its obs tensor the critic reads the stored obs (no second
    copy in the rollout storage) and training is bit for bit that of separate equal buffers."""
    runs = []
    for env_class in (FakeMimicEnv, SharedBufferEnv):
        torch.manual_seed(0)
        env = env_class()
        assert (env.get_privileged_observations() is env.get_observations()) == (env_class is SharedBufferEnv)
        runner = OnPolicyRunnerMimic(env, small_train_cfg(save_interval=100), None)
        assert runner.critic_reads_obs == (env_class is SharedBufferEnv)
        assert (runner.alg.storage.critic_observations is None) == (env_class is SharedBufferEnv)
        runner.learn(3)
        runs.append(runner.alg.actor_critic.state_dict())
    assert_same_state(runs[0], runs[1])


def test_teacher_refuses_privileged_obs_that_stop_being_the_obs():
    env = SharedBufferEnv()
    runner = OnPolicyRunnerMimic(env, small_train_cfg(save_interval=100), None)
    env.obs_buf = env.obs_buf.clone()  # the critic would read obs that are not its input
    with pytest.raises(RuntimeError, match="privileged observations"):
        runner._act(env.get_observations(), env.get_privileged_observations())


def test_final_iteration_saved_under_its_own_number(tmp_path):
    torch.manual_seed(0)
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(save_interval=2), str(tmp_path))
    runner.learn(3)
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "model_*.pt"))) == ["model_2.pt", "model_3.pt"]
    runner.learn(1)  # continues numbering: iteration 4, due and final at once -> written once
    assert os.path.isfile(str(tmp_path / "model_4.pt"))


def test_time_budget_stops_after_the_iteration_that_spends_it(tmp_path, capsys):
    cfg = small_train_cfg(save_interval=100)
    cfg["runner"]["max_train_minutes"] = 1e-9  # spent by the first iteration
    torch.manual_seed(0)
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), cfg, str(tmp_path / "budget"))
    runner.learn(5)
    assert runner.current_learning_iteration == 1
    assert sorted(os.listdir(str(tmp_path / "budget")))[-1] == "model_1.pt"  # the last iteration is saved
    assert "max_train_minutes = 1e-09: stopping after iteration 1" in capsys.readouterr().out
    cfg["runner"]["max_train_minutes"] = 0.0  # no limit
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), cfg, str(tmp_path / "none"))
    runner.learn(3)
    assert runner.current_learning_iteration == 3


def test_normaliser_frozen_after_update_iterations(tmp_path):
    torch.manual_seed(0)
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(normalizer_update_iterations=1), None)
    runner.learn(1)
    frozen = {k: v.clone() for k, v in runner.normalizer.state_dict().items()}
    assert frozen["count"].item() == 30
    runner.learn(2)
    assert_same_state(runner.normalizer.state_dict(), frozen)


def test_the_update_sees_the_normaliser_the_rollout_was_collected_with():
    """The stored observations are normalised at collection; the update (its symmetry loss maps them back
    to raw values with the normaliser's mean and std) must see those statistics, so the normaliser takes
    the rollout's samples after the update."""
    torch.manual_seed(0)
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(save_interval=100), None)
    seen = []
    update, update_normalizers = runner.alg.update, runner._update_normalizers

    def recording_update():
        seen.append(("update", runner.normalizer.mean.clone()))
        return update()

    def recording_normalizers():
        seen.append(("normalizers", runner.normalizer.mean.clone()))
        update_normalizers()

    runner.alg.update, runner._update_normalizers = recording_update, recording_normalizers
    runner.learn(2)
    assert [name for name, _ in seen] == ["update", "normalizers"] * 2
    at_update = [mean for name, mean in seen if name == "update"]
    collected_with = [mean for name, mean in seen if name == "normalizers"]  # before the rollout's samples
    for a, b in zip(at_update, collected_with):
        torch.testing.assert_close(a, b)
    assert not torch.equal(at_update[0], at_update[1])  # the statistics did change between the iterations


def _continue_and_compare(runner_a, runner_b, env_a):
    """Both runners take one more iteration from the same env state and RNG seed: identical results."""
    torch.manual_seed(123)
    runner_a.learn(1, init_at_random_ep_len=False)
    torch.manual_seed(123)
    runner_b.learn(1, init_at_random_ep_len=False)
    assert runner_a.current_learning_iteration == runner_b.current_learning_iteration
    assert_same_state(runner_a.alg.actor_critic.state_dict(), runner_b.alg.actor_critic.state_dict())
    assert_same_state(runner_a.alg.optimizer.state_dict(), runner_b.alg.optimizer.state_dict())
    assert_same_state(runner_a.normalizer.state_dict(), runner_b.normalizer.state_dict())


def test_teacher_save_load_exact_resume(tmp_path):
    torch.manual_seed(0)
    env_a = FakeMimicEnv()
    cfg = small_train_cfg(save_interval=100)
    cfg["algorithm"]["desired_kl"] = 1e-4  # make the adaptive lr move so its restoration is visible
    runner_a = OnPolicyRunnerMimic(env_a, cfg, str(tmp_path / "a"))
    runner_a.learn(2)
    assert runner_a.alg.learning_rate != 2e-4
    env_b = env_a.clone()
    env_b.global_counter = env_b.total_env_steps_counter = env_b.common_step_counter = 0
    runner_b = OnPolicyRunnerMimic(env_b, cfg, str(tmp_path / "b"))
    infos = runner_b.load(str(tmp_path / "a" / "model_2.pt"))
    assert infos is None
    assert runner_b.current_learning_iteration == 2
    assert runner_b.alg.learning_rate == runner_a.alg.learning_rate
    assert runner_b.alg.optimizer.param_groups[0]["lr"] == runner_a.alg.learning_rate
    assert (env_b.global_counter, env_b.total_env_steps_counter, env_b.common_step_counter) == (10, 10, 10)
    assert_same_state(runner_b.alg.optimizer.state_dict(), runner_a.alg.optimizer.state_dict())
    assert_same_state(runner_b.normalizer.state_dict(), runner_a.normalizer.state_dict())
    _continue_and_compare(runner_a, runner_b, env_a)
    assert os.path.isfile(str(tmp_path / "b" / "model_3.pt"))


def test_save_infos_and_load_without_optimizer(tmp_path):
    torch.manual_seed(0)
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(), None)
    runner.learn(1)
    path = str(tmp_path / "sub" / "model_x.pt")
    runner.save(path, infos={"note": "hello", "value": 3})
    fresh = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(), None)
    assert fresh.load(path, load_optimizer=False) == {"note": "hello", "value": 3}
    assert fresh.alg.learning_rate == 2e-4 and not fresh.alg.optimizer.state
    assert_same_state(fresh.alg.actor_critic.state_dict(), runner.alg.actor_critic.state_dict())


def test_inference_policy_applies_the_normaliser(tmp_path):
    torch.manual_seed(0)
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(), None)
    runner.learn(1)
    policy = runner.get_inference_policy(device="cpu")
    obs = torch.randn(4, 46)
    n = runner.normalizer
    expected = runner.alg.actor_critic.actor((obs - n.mean) / (n.std + 1e-4))
    torch.testing.assert_close(policy(obs), expected)
    assert not runner.alg.actor_critic.training


def test_dagger_runner_teacher_uses_its_own_normaliser(tmp_path):
    teacher_runner, teacher_path = make_teacher_checkpoint(tmp_path)
    t_ckpt = torch.load(teacher_path, weights_only=True)
    assert t_ckpt["normalizer"]["mean"].abs().max() > 1.0  # non-trivial statistics (priv info ~ 5..10)
    torch.manual_seed(1)
    env = FakeMimicEnv(student=True)
    runner = OnPolicyDaggerRunner(
        env, small_train_cfg(student=True), str(tmp_path / "student"), teacher_path=teacher_path
    )
    assert runner.alg.actor_critic.actor.input_dim == 10 - 2 + 2 + 8  # student: 1 frame of 2
    assert runner.alg.actor_critic.critic.input_dim == 46 - 2 + 2 + 8  # critic: first 2 dims as motion
    assert_same_state(runner.teacher.state_dict(), t_ckpt["model_state_dict"])
    assert not any(p.requires_grad for p in runner.teacher.parameters())

    obs, priv = env.get_observations(), env.get_privileged_observations()
    with torch.inference_mode():
        runner._act(obs, priv)
    mean, std = t_ckpt["normalizer"]["mean"], t_ckpt["normalizer"]["std"]
    expected = teacher_runner.alg.actor_critic.act_inference((priv - mean) / (std + 1e-4))
    torch.testing.assert_close(runner.alg.transition.teacher_action_mean, expected)
    torch.testing.assert_close(
        runner.alg.transition.teacher_action_sigma, t_ckpt["model_state_dict"]["std"].expand(6, 3)
    )
    runner.alg.transition.clear()


def test_dagger_runner_learn_log_and_exact_resume(tmp_path):
    _, teacher_path = make_teacher_checkpoint(tmp_path)
    torch.manual_seed(1)
    env_a = FakeMimicEnv(student=True)
    cfg = small_train_cfg(save_interval=1, student=True)
    log_a = str(tmp_path / "a")
    runner_a = OnPolicyDaggerRunner(env_a, cfg, log_a, teacher_path=teacher_path)
    teacher_norm = {k: v.clone() for k, v in runner_a.teacher_normalizer.state_dict().items()}
    runner_a.learn(2)
    # the schedule advanced once per update: coef(2) of a cosine over 4 updates = 0.01 + 0.09 * 0.5
    assert runner_a.alg.dagger_counter == 2
    assert runner_a.alg.dagger_coef == pytest.approx(0.055)
    ckpt = torch.load(os.path.join(log_a, "model_2.pt"), weights_only=True)
    assert set(ckpt) == STUDENT_CKPT_KEYS
    assert ckpt["dagger"] == {"coef": pytest.approx(0.055), "counter": 2}
    assert ckpt["policy_cfg"]["num_observations"] == 10 and ckpt["policy_cfg"]["num_motion_steps"] == 1
    assert_same_state(ckpt["critic_normalizer"], teacher_norm)  # frozen copy of the teacher's statistics
    assert_same_state(runner_a.teacher_normalizer.state_dict(), teacher_norm)
    assert "model_state_dict" in ckpt and not any(k.startswith("teacher") for k in ckpt["model_state_dict"])

    acc, tags = tb_tags(log_a)
    assert {"Loss/kl_teacher_student", "Loss/dagger_coef", "Loss/bc_loss"} <= tags
    assert [e.value for e in acc.Scalars("Loss/dagger_coef")] == pytest.approx(
        [0.1, 0.01 + 0.09 * 0.5 * (1 + 0.7071067811865476)]
    )

    env_b = env_a.clone()
    runner_b = OnPolicyDaggerRunner(env_b, cfg, str(tmp_path / "b"), teacher_path=teacher_path)
    runner_b.load(os.path.join(log_a, "model_2.pt"))
    assert runner_b.alg.dagger_counter == 2 and runner_b.alg.dagger_coef == pytest.approx(0.055)
    assert runner_b.current_learning_iteration == 2
    _continue_and_compare(runner_a, runner_b, env_a)
    assert runner_a.alg.dagger_counter == runner_b.alg.dagger_counter == 3


def test_student_std_starts_at_the_teachers_when_asked(tmp_path):
    _, teacher_path = make_teacher_checkpoint(tmp_path)
    ckpt = torch.load(teacher_path, weights_only=False)
    teacher_std = torch.tensor([0.05, 0.2, 0.6])  # a trained teacher's spread: tight legs, loose arms
    ckpt["model_state_dict"]["std"] = teacher_std
    torch.save(ckpt, teacher_path)

    plain = OnPolicyDaggerRunner(
        FakeMimicEnv(student=True), small_train_cfg(student=True), None, teacher_path=teacher_path
    )
    torch.testing.assert_close(plain.alg.actor_critic.std.detach(), torch.ones(3))  # default: init_noise_std (TWIST)

    cfg = small_train_cfg(save_interval=1, student=True)
    cfg["policy"]["init_std_from_teacher"] = True
    torch.manual_seed(1)
    env = FakeMimicEnv(student=True)
    runner = OnPolicyDaggerRunner(env, cfg, str(tmp_path / "s"), teacher_path=teacher_path)
    std = runner.alg.actor_critic.std
    assert isinstance(std, torch.nn.Parameter) and std.requires_grad  # still learnt
    torch.testing.assert_close(std.detach(), teacher_std)
    torch.testing.assert_close(runner.teacher.std, teacher_std)  # a copy: the teacher stays as loaded
    # the KL's std part vanishes: KL = (mu_S - mu_T)^2 / (2 s_T^2) per dimension
    obs, priv = env.get_observations(), env.get_privileged_observations()
    with torch.no_grad():
        mu_s = runner.alg.actor_critic.act_inference(runner.normalizer.normalize(obs))
        mu_t = runner.teacher.act_inference(runner.teacher_normalizer.normalize(priv))
        kl = gaussian_kl(mu_s, std.expand_as(mu_s), mu_t, teacher_std.expand_as(mu_t))
    torch.testing.assert_close(kl, (mu_s - mu_t) ** 2 / (2 * teacher_std**2))

    runner.learn(1)
    with torch.no_grad():
        runner.alg.actor_critic.std.fill_(0.3)
    runner.save(str(tmp_path / "s" / "model_x.pt"))
    resumed = OnPolicyDaggerRunner(FakeMimicEnv(student=True), cfg, None, teacher_path=teacher_path)
    resumed.load(str(tmp_path / "s" / "model_x.pt"))
    torch.testing.assert_close(resumed.alg.actor_critic.std.detach(), torch.full((3,), 0.3))  # the checkpoint's

    cfg["policy"]["fix_action_std"] = True
    with pytest.raises(ValueError, match="init_std_from_teacher needs a learnt std"):
        OnPolicyDaggerRunner(FakeMimicEnv(student=True), cfg, None, teacher_path=teacher_path)
    teacher_cfg = small_train_cfg()
    teacher_cfg["policy"]["init_std_from_teacher"] = True
    with pytest.raises(ValueError, match="init_std_from_teacher is for students"):
        OnPolicyRunnerMimic(FakeMimicEnv(), teacher_cfg, None)


def test_dagger_runner_errors_name_the_teacher_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        OnPolicyDaggerRunner(
            FakeMimicEnv(student=True), small_train_cfg(student=True), None, teacher_path=str(tmp_path / "missing.pt")
        )
    with pytest.raises(ValueError, match="teacher_path"):
        OnPolicyDaggerRunner(FakeMimicEnv(student=True), small_train_cfg(student=True), None)


def test_runners_accept_the_g1_learner_configs(tmp_path):
    """class_to_dict of TWIST's config classes builds the runners without unknown-setting warnings."""
    import warnings

    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicPrivCfgPPO, G1MimicStuRLCfgDAgger
    from legged_gym.gym_utils.helpers import class_to_dict
    from legged_gym.gym_utils.task_registry import policy_cfg_with_obs_sizes

    _, teacher_path = make_teacher_checkpoint(tmp_path, iterations=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env, student_env = FakeMimicEnv(), FakeMimicEnv(student=True)
        teacher = OnPolicyRunnerMimic(env, policy_cfg_with_obs_sizes(class_to_dict(G1MimicPrivCfgPPO()), env), None)
        student = OnPolicyDaggerRunner(
            student_env,
            policy_cfg_with_obs_sizes(class_to_dict(G1MimicStuRLCfgDAgger()), student_env),
            None,
            teacher_path=teacher_path,
        )
    for runner in (teacher, student):
        alg = runner.alg
        assert (
            alg.clip_param,
            alg.num_learning_epochs,
            alg.num_mini_batches,
            alg.learning_rate,
            alg.desired_kl,
            alg.entropy_coef,
            alg.gamma,
            alg.lam,
            alg.max_grad_norm,
            alg.schedule,
        ) == (0.2, 5, 4, 2e-4, 0.008, 0.005, 0.99, 0.95, 1.0, "adaptive")
        assert runner.normalizer_update_iterations == 3000 and runner.num_steps_per_env == 24
        assert runner.save_interval == 500
        assert runner.policy_kwargs["actor_hidden_dims"] == [512, 512, 256, 128]
        assert runner.policy_kwargs["activation"] == "silu" and runner.policy_kwargs["layer_norm"]
    assert (student.alg.dagger_coef_init, student.alg.dagger_coef_min, student.alg.dagger_coef_anneal_steps) == (
        0.1,
        0.01,
        60000,
    )


def test_runner_sizes_come_from_the_policy_config_only():
    """The fake env has no task config: the motion part's size is the policy config's, or an error."""
    env = FakeMimicEnv()
    assert not hasattr(env, "cfg")
    cfg = small_train_cfg()
    cfg["policy"].update(num_motion_observations=20, num_motion_steps=10)  # any split the config asks for
    runner = OnPolicyRunnerMimic(env, cfg, None)
    assert (runner.policy_kwargs["num_motion_observations"], runner.policy_kwargs["num_motion_steps"]) == (20, 10)
    for missing in ("num_motion_observations", "num_motion_steps"):
        cfg = small_train_cfg()
        del cfg["policy"][missing]
        with pytest.raises(ValueError, match="policy config has no {}".format(missing)):
            OnPolicyRunnerMimic(env, cfg, None)
    cfg = small_train_cfg()
    cfg["policy"]["num_observations"] = 47
    with pytest.raises(ValueError, match="num_observations = 47, but the env's observations have 46"):
        OnPolicyRunnerMimic(env, cfg, None)


def test_train_entry_fills_the_policy_sizes_from_the_env_layout():
    from legged_gym.gym_utils.task_registry import policy_cfg_with_obs_sizes

    cfg = small_train_cfg(student=True)
    for key in ("num_observations", "num_critic_observations", "num_motion_observations", "num_motion_steps"):
        del cfg["policy"][key]
    cfg["teacher_policy"] = {"actor_hidden_dims": [32, 16]}
    filled = policy_cfg_with_obs_sizes(cfg, FakeMimicEnv(student=True))
    assert filled["policy"]["num_motion_observations"] == 2 and filled["policy"]["num_motion_steps"] == 1
    assert filled["teacher_policy"] == {
        "actor_hidden_dims": [32, 16],
        "num_observations": 46,
        "num_critic_observations": 46,
        "num_motion_observations": 40,
        "num_motion_steps": 20,
    }
    assert "num_motion_steps" not in cfg["policy"]  # the given dict is left as it was
    cfg["policy"]["num_motion_steps"] = 3
    with pytest.raises(ValueError, match="policy.num_motion_steps = 3, but the env's observation layout has 1"):
        policy_cfg_with_obs_sizes(cfg, FakeMimicEnv(student=True))


def test_teacher_checkpoint_without_policy_cfg_uses_teacher_policy(tmp_path):
    _, teacher_path = make_teacher_checkpoint(tmp_path, iterations=1)
    ckpt = torch.load(teacher_path, weights_only=True)
    del ckpt["policy_cfg"]
    bare = str(tmp_path / "bare.pt")
    torch.save(ckpt, bare)
    cfg = small_train_cfg(student=True)
    cfg["teacher_policy"] = small_train_cfg()["policy"]
    runner = OnPolicyDaggerRunner(FakeMimicEnv(student=True), cfg, None, teacher_path=bare)
    assert runner.teacher_policy_cfg["num_motion_observations"] == 40
    assert runner.teacher_policy_cfg["num_motion_steps"] == 20
    assert_same_state(runner.teacher.state_dict(), ckpt["model_state_dict"])


def weights_sha256(state_dict):
    """The teacher hash as documented: sha256 over name, dtype, shape and bytes of each entry, in name order."""
    import hashlib

    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].contiguous()
        h.update("{}|{}|{}|".format(key, t.dtype, tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def other_teacher(teacher_path, tmp_path):
    """A copy of the teacher checkpoint with one weight changed."""
    ckpt = torch.load(teacher_path, weights_only=True)
    ckpt["model_state_dict"]["std"] = ckpt["model_state_dict"]["std"] + 0.25
    path = str(tmp_path / "other_teacher" / "model_7.pt")
    os.makedirs(os.path.dirname(path))
    ckpt["iter"] = 7
    torch.save(ckpt, path)
    return path


def test_student_checkpoint_records_its_teacher_and_refuses_another(tmp_path, capsys):
    from rsl_rl.runners.on_policy_dagger_runner import TeacherMismatchError

    _, teacher_path = make_teacher_checkpoint(tmp_path)
    t_ckpt = torch.load(teacher_path, weights_only=True)
    torch.manual_seed(1)
    cfg = small_train_cfg(save_interval=100, student=True)
    runner = OnPolicyDaggerRunner(FakeMimicEnv(student=True), cfg, str(tmp_path / "s"), teacher_path=teacher_path)
    runner.learn(1)
    student_path = str(tmp_path / "s" / "model_1.pt")
    ckpt = torch.load(student_path, weights_only=True)  # plain types only
    expected_hash = weights_sha256(t_ckpt["model_state_dict"])
    assert len(expected_hash) == 64
    assert ckpt["teacher"] == {"path": os.path.abspath(teacher_path), "iter": 2, "sha256": expected_hash}

    # The same teacher weights under another file name: the same teacher.
    copy_path = str(tmp_path / "copy.pt")
    torch.save(t_ckpt, copy_path)
    same = OnPolicyDaggerRunner(FakeMimicEnv(student=True), cfg, None, teacher_path=copy_path)
    same.load(student_path)
    assert same.current_learning_iteration == 1

    # Another teacher: a one-line error naming both, unless allowed.
    other_path = other_teacher(teacher_path, tmp_path)
    assert weights_sha256(torch.load(other_path, weights_only=True)["model_state_dict"]) != expected_hash
    refused = OnPolicyDaggerRunner(FakeMimicEnv(student=True), cfg, None, teacher_path=other_path)
    with pytest.raises(TeacherMismatchError) as err:
        refused.load(student_path)
    message = str(err.value)
    assert "\n" not in message and "--allow_teacher_change" in message
    assert os.path.abspath(teacher_path) in message and os.path.abspath(other_path) in message
    assert "iteration 2" in message and "iteration 7" in message
    assert refused.current_learning_iteration == 0  # nothing was loaded

    allowed = OnPolicyDaggerRunner(
        FakeMimicEnv(student=True), cfg, str(tmp_path / "s2"), teacher_path=other_path, allow_teacher_change=True
    )
    capsys.readouterr()
    allowed.load(student_path)
    assert allowed.current_learning_iteration == 1
    assert "--allow_teacher_change" in capsys.readouterr().out
    allowed.learn(1)
    resaved = torch.load(str(tmp_path / "s2" / "model_2.pt"), weights_only=True)
    assert resaved["teacher"]["path"] == os.path.abspath(other_path) and resaved["teacher"]["iter"] == 7


def test_pure_ppo_student_has_no_dagger_term_even_after_resume(tmp_path):
    _, teacher_path = make_teacher_checkpoint(tmp_path)
    cfg = small_train_cfg(save_interval=1, student=True)
    torch.manual_seed(1)
    dagger = OnPolicyDaggerRunner(FakeMimicEnv(student=True), cfg, str(tmp_path / "d"), teacher_path=teacher_path)
    dagger.learn(2)
    assert dagger.alg.dagger_coef == pytest.approx(0.055)  # the schedule is on without pure_ppo

    torch.manual_seed(1)
    pure = OnPolicyDaggerRunner(
        FakeMimicEnv(student=True), cfg, str(tmp_path / "p"), teacher_path=teacher_path, pure_ppo=True
    )
    pure.load(str(tmp_path / "d" / "model_2.pt"))  # a checkpoint whose DAgger coefficient is 0.055
    assert pure.alg.dagger_coef == 0.0
    pure.learn(2)
    acc, tags = tb_tags(str(tmp_path / "p"))
    assert [e.value for e in acc.Scalars("Loss/dagger_coef")] == [0.0, 0.0]
    assert [e.value for e in acc.Scalars("Loss/bc_loss")] == [0.0, 0.0]
    assert all(e.value > 0 for e in acc.Scalars("Loss/kl_teacher_student"))  # the teacher is still there


def test_summary_line_every_interval_and_at_the_end(tmp_path, capsys):
    from rsl_rl.runners.on_policy_runner_mimic import summary_line

    line = summary_line(
        50,
        100,
        {
            "Perf/total_fps": 1234.4,
            "Train/mean_reward": 0.12345,
            "Train/mean_episode_length": 45.67,
            "Episode_rew_metrics/metric_completion": 0.5,
        },
    )
    assert line == ("iter 50/100 | 1234 steps/s | mean reward 0.1235 | mean episode length 45.7 | completion 0.500")
    assert summary_line(1, 3, {"Perf/total_fps": 10.0}) == (
        "iter 1/3 | 10 steps/s | mean reward - | mean episode length - | completion -"
    )

    cfg = small_train_cfg(save_interval=100)
    cfg["runner"]["summary_interval"] = 2
    torch.manual_seed(0)
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), cfg, None)
    capsys.readouterr()
    runner.learn(5)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("iter ")]
    assert [ln.split(" | ")[0] for ln in lines] == ["iter 2/5", "iter 4/5", "iter 5/5"]


class MirroredFakeEnv(FakeMimicEnv):
    """The fake env with mirror maps (an involution of its obs: the three joints reversed, the middle one
    negated, and of its actions likewise), for the symmetry loss's plumbing."""

    def symmetry_maps(self):
        n_ref = NUM_FRAMES * FRAME_DIM
        joints = [n_ref + 2, n_ref + 1, n_ref]
        perm = list(range(n_ref)) + joints + list(range(n_ref + 3, TEACHER_OBS))
        signs = [1.0] * TEACHER_OBS
        signs[n_ref + 1] = -1.0
        return (perm, signs), ([2, 1, 0], [1.0, -1.0, 1.0])


def test_symmetry_loss_is_logged_and_lowers_the_policys_asymmetry(tmp_path):
    asymmetry = []
    for coef in (0.0, 5.0):
        torch.manual_seed(0)
        cfg = small_train_cfg(save_interval=100)
        cfg["algorithm"]["symmetry_coef"] = coef
        env = MirroredFakeEnv()
        runner = OnPolicyRunnerMimic(env, cfg, str(tmp_path / str(coef)))
        runner.learn(4)
        alg = runner.alg
        if coef == 0.0:
            alg.set_symmetry(*env.symmetry_maps(), runner.normalizer)  # to measure it
        obs = runner.normalizer.normalize(env.get_observations())
        with torch.no_grad():
            asymmetry.append(alg._symmetry_loss(obs, alg.actor_critic.act_inference(obs)).item())
        _, tags = tb_tags(str(tmp_path / str(coef)))
        assert ("Loss/symmetry" in tags) == (coef > 0)
    assert asymmetry[1] < 0.5 * asymmetry[0]


def test_symmetry_loss_needs_an_env_with_mirror_maps():
    cfg = small_train_cfg(save_interval=100)
    cfg["algorithm"]["symmetry_coef"] = 1.0
    with pytest.raises(ValueError, match="FakeMimicEnv has no mirror maps"):
        OnPolicyRunnerMimic(FakeMimicEnv(), cfg, None)


@pytest.mark.parametrize("average_decay", [0.0, 0.5])
def test_student_state_estimator_learns_logs_and_resumes_exactly(tmp_path, average_decay):
    """policy.estimator_target (docs/learning.md#state-estimator): the estimator regresses the critic obs'
    privileged entries (the fake's two per-env constants, under the teacher's normaliser) with its own
    Adam; Loss/estimator is logged and falls; its optimizer (and, with algorithm.estimator_average_decay,
    its trained weights beside their average in model_state_dict) travel in the checkpoint for an exact resume."""
    _, teacher_path = make_teacher_checkpoint(tmp_path)
    cfg = small_train_cfg(save_interval=100, student=True)
    cfg["policy"]["estimator_target"] = [TEACHER_OBS - 2, TEACHER_OBS - 1]
    cfg["policy"]["estimator_hidden_dims"] = [16]
    cfg["algorithm"]["estimator_learning_rate"] = 1e-2
    cfg["algorithm"]["estimator_average_decay"] = average_decay
    torch.manual_seed(1)
    env_a = FakeMimicEnv(student=True)
    runner_a = OnPolicyDaggerRunner(env_a, cfg, str(tmp_path / "a"), teacher_path=teacher_path)
    estimator = runner_a.alg.actor_critic.actor.estimator
    in_ppo = {id(p) for g in runner_a.alg.optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in in_ppo for p in estimator.parameters())  # trained apart
    runner_a.learn(8)
    acc, tags = tb_tags(str(tmp_path / "a"))
    losses = [e.value for e in acc.Scalars("Loss/estimator")]
    assert len(losses) == 8 and losses[-1] < 0.2 * losses[0]
    # the estimate's bias per column, in the critic obs' units (its normaliser's std and eps)
    assert all(len(acc.Scalars("Loss/estimator_mean_error/{}".format(i))) == 8 for i in (0, 1))
    std = runner_a.critic_normalizer.std[-2:] + runner_a.critic_normalizer.eps
    scaled = runner_a._estimator_errors_in_units(
        {"estimator": 3.0, "estimator_mean_error/0": 0.5, "estimator_mean_error/1": -2.0}
    )
    assert scaled == pytest.approx(
        {
            "estimator": 3.0,
            "estimator_mean_error/0": 0.5 * float(std[0]),
            "estimator_mean_error/1": -2.0 * float(std[1]),
        }
    )
    # the logged loss is the estimator's error on the stored (student obs, teacher-normalised priv obs)
    obs = runner_a.normalizer.normalize(env_a.get_observations())
    target = runner_a.critic_normalizer.normalize(env_a.get_privileged_observations())[:, -2:]
    with torch.no_grad():
        now = (estimator(obs) - target).square().mean().item()
    assert now < 0.2 * losses[0]
    ckpt = torch.load(str(tmp_path / "a" / "model_8.pt"), weights_only=True)
    averaging = {"estimator_trained_weights"} if average_decay > 0 else set()
    assert set(ckpt) == STUDENT_CKPT_KEYS | {"estimator_optimizer_state_dict"} | averaging
    assert ckpt["policy_cfg"]["estimator_target"] == [TEACHER_OBS - 2, TEACHER_OBS - 1]
    if averaging:  # the actor's estimator holds the average, a step behind the trained weights
        saved = [v for k, v in ckpt["model_state_dict"].items() if k.startswith("actor.estimator.")]
        assert [w.shape for w in ckpt["estimator_trained_weights"]] == [w.shape for w in saved]
        assert not torch.allclose(ckpt["estimator_trained_weights"][0], saved[0])

    env_b = env_a.clone()
    runner_b = OnPolicyDaggerRunner(env_b, cfg, str(tmp_path / "b"), teacher_path=teacher_path)
    runner_b.load(str(tmp_path / "a" / "model_8.pt"))
    _continue_and_compare(runner_a, runner_b, env_a)
    assert_same_state(runner_a.alg.estimator_optimizer.state_dict(), runner_b.alg.estimator_optimizer.state_dict())
    if averaging:
        for a, b in zip(runner_a.alg.estimator_trained_weights, runner_b.alg.estimator_trained_weights):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    plain = OnPolicyDaggerRunner(
        FakeMimicEnv(student=True), small_train_cfg(student=True), None, teacher_path=teacher_path
    )
    with pytest.raises(RuntimeError, match="state estimator of 2 entries in the checkpoint, 0 here"):
        plain.load(str(tmp_path / "a" / "model_8.pt"))


class MirroredStudentEnv(FakeMimicEnv):
    """A student fake with mirror maps of its obs and privileged obs (the last privileged entry, which the
    estimator regresses, negated), for the plumbing of algorithm.estimator_mirror."""

    def symmetry_maps(self):
        return (list(range(STUDENT_OBS)), [1.0] * STUDENT_OBS), ([2, 1, 0], [1.0, -1.0, 1.0])

    def privileged_obs_mirror(self):
        return list(range(TEACHER_OBS)), [1.0] * (TEACHER_OBS - 1) + [-1.0]


def test_student_estimator_mirror_reads_the_envs_maps_under_the_runners_normalisers(tmp_path):
    _, teacher_path = make_teacher_checkpoint(tmp_path)
    cfg = small_train_cfg(save_interval=100, student=True)
    cfg["policy"]["estimator_target"] = [TEACHER_OBS - 2, TEACHER_OBS - 1]
    cfg["policy"]["estimator_hidden_dims"] = [16]
    cfg["algorithm"]["estimator_mirror"] = True
    env = MirroredStudentEnv(student=True)
    runner = OnPolicyDaggerRunner(env, cfg, str(tmp_path / "m"), teacher_path=teacher_path)
    obs_mirror, critic_mirror = runner.alg._estimator_mirrors
    assert obs_mirror.normalizer is runner.normalizer and critic_mirror.normalizer is runner.critic_normalizer
    assert (obs_mirror.perm.tolist(), obs_mirror.signs.tolist()) == env.symmetry_maps()[0]
    assert (critic_mirror.perm.tolist(), critic_mirror.signs.tolist()) == env.privileged_obs_mirror()
    runner.learn(2)
    acc, _ = tb_tags(str(tmp_path / "m"))
    assert len(acc.Scalars("Loss/estimator")) == 2
    with pytest.raises(ValueError, match="estimator_mirror: .* here an estimator and FakeMimicEnv"):
        OnPolicyDaggerRunner(FakeMimicEnv(student=True), cfg, None, teacher_path=teacher_path)
    del cfg["policy"]["estimator_target"]
    with pytest.raises(ValueError, match="estimator_mirror: .* here no estimator and MirroredStudentEnv"):
        OnPolicyDaggerRunner(MirroredStudentEnv(student=True), cfg, None, teacher_path=teacher_path)


def trained_estimating_student(tmp_path):
    """(runner, env, teacher path): a student with a state estimator of the last two privileged entries,
    trained 2 iterations so that its normalisers hold statistics."""
    _, teacher_path = make_teacher_checkpoint(tmp_path)
    cfg = small_train_cfg(student=True)
    cfg["policy"]["estimator_target"] = [TEACHER_OBS - 2, TEACHER_OBS - 1]
    cfg["policy"]["estimator_hidden_dims"] = [16]
    env = FakeMimicEnv(student=True)
    runner = OnPolicyDaggerRunner(env, cfg, None, teacher_path=teacher_path)
    runner.learn(2)
    return runner, env, teacher_path


def make_estimator_exact(runner, priv):
    """Stand the runner's estimator in by the exact answer on the batch `priv`: its two entries under the
    critic normaliser (read through ActorCriticMimic.estimate and act_inference)."""
    exact = runner.critic_normalizer.normalize(priv)[:, -2:]

    class ExactOnThisBatch(torch.nn.Module):
        def forward(self, x):
            return exact

    runner.alg.actor_critic.actor.estimator = ExactOnThisBatch()


def student_without_estimator(teacher_path):
    return OnPolicyDaggerRunner(
        FakeMimicEnv(student=True), small_train_cfg(student=True), None, teacher_path=teacher_path
    )


def test_inference_estimator_gives_the_estimated_entries_in_their_own_units(tmp_path):
    """get_inference_estimator: an estimator without error on the normalised entries it regresses
    (stood in for by the exact answer on one batch) gives the raw privileged entries back."""
    runner, env, teacher_path = trained_estimating_student(tmp_path)
    obs, priv = env.get_observations(), env.get_privileged_observations()
    assert float(runner.critic_normalizer.std[-2:].sub(1.0).abs().min()) > 1e-3  # undoing it changes the numbers
    make_estimator_exact(runner, priv)
    torch.testing.assert_close(runner.get_inference_estimator(device="cpu")(obs), priv[:, -2:])
    with pytest.raises(ValueError, match="no state estimator"):
        student_without_estimator(teacher_path).get_inference_estimator()


def test_policy_reading_truth_gives_the_actor_the_normalised_privileged_entries(tmp_path):
    """get_inference_policy_reading_truth: the actor reads the critic obs' estimated entries, normalised as
    the estimator learns them, in place of its estimate; so it acts as the inference policy does when the
    estimator is exact (stood in for by the exact answer on one batch), and otherwise differently."""
    runner, env, teacher_path = trained_estimating_student(tmp_path)
    obs, priv = env.get_observations(), env.get_privileged_observations()
    reading_truth = runner.get_inference_policy_reading_truth(device="cpu")
    inference = runner.get_inference_policy(device="cpu")
    assert not torch.allclose(reading_truth(obs, priv), inference(obs))  # the estimate is not exact yet
    make_estimator_exact(runner, priv)
    torch.testing.assert_close(reading_truth(obs, priv), inference(obs))
    with pytest.raises(ValueError, match="no state estimator"):
        student_without_estimator(teacher_path).get_inference_policy_reading_truth()


def test_train_entry_turns_estimator_fields_into_privileged_obs_indices():
    import types

    from legged_gym.envs.mdp.layout import LAYOUT
    from legged_gym.gym_utils.task_registry import policy_cfg_with_obs_sizes

    cfg = {"policy": {"estimator_fields": ["root_z", "base_lin_vel"]}}
    filled = policy_cfg_with_obs_sizes(cfg, types.SimpleNamespace(obs_layout=LAYOUT, obs_type="student"))
    # privileged obs = [20 future frames x 58, proprio 74, priv info: base_lin_vel 3, root_z 1, ...]
    start = 20 * 58 + 74
    assert filled["policy"]["estimator_target"] == [start + 3, start, start + 1, start + 2]
    with pytest.raises(ValueError, match="a state estimator is for students"):
        policy_cfg_with_obs_sizes(cfg, types.SimpleNamespace(obs_layout=LAYOUT, obs_type="priv"))
    with pytest.raises(ValueError, match=r"estimator fields \['base_vel'\]: expected names of the privileged info"):
        policy_cfg_with_obs_sizes(
            {"policy": {"estimator_fields": ["base_vel"]}},
            types.SimpleNamespace(obs_layout=LAYOUT, obs_type="student"),
        )
