"""The checkpoint reader (rsl_rl/utils/checkpoint.py): TWIST's checkpoints resume, serve as teachers and
students with TWIST's actions; unreadable files give one error naming them; no code runs from a file;
Train/total_timesteps goes on after a resume."""

import pytest
import torch
from rsl_rl_fakes import FakeMimicEnv, single_thread, small_train_cfg  # noqa: F401
from twist_format import (
    random_normalizer,
    random_twist_policy,
    save_twist_checkpoint,
    twist_optimizer_state,
)

from rsl_rl.runners import OnPolicyDaggerRunner, OnPolicyRunnerMimic
from rsl_rl.utils.checkpoint import CheckpointError, read_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")

# The fake env's sizes (rsl_rl_fakes) with small_train_cfg's network, as TWIST's constructor takes them.
TEACHER_SIZES = dict(num_obs=46, num_critic_obs=46, frame_dim=2, steps=20, num_actions=3, hidden=[32, 16], latent=8)
STUDENT_SIZES = dict(num_obs=10, num_critic_obs=46, frame_dim=2, steps=1, num_actions=3, hidden=[32, 16], latent=8)


def obs_batch(n, width, seed):
    return 3.0 * torch.randn(n, width, generator=torch.Generator().manual_seed(seed))


def twist_teacher(path, iteration_in_file=0):
    """A TWIST teacher checkpoint at `path`: (its network, its normaliser, its optimizer state)."""
    policy = random_twist_policy(0, **TEACHER_SIZES)
    normalizer = random_normalizer(46, seed=1)
    optimizer = twist_optimizer_state(policy, obs_batch(8, 46, seed=2))
    # TWIST's teacher also pickles a critic normaliser object; this one has no _mean_sq yet
    save_twist_checkpoint(path, policy, normalizer, random_normalizer(46, 3, with_mean_sq=False), optimizer)
    return policy, normalizer, optimizer


def twist_actions(policy, normalizer, obs):
    with torch.no_grad():
        return policy.actor(normalizer.normalize(obs))


def test_a_twist_teacher_resumes_with_its_actions_iteration_counters_and_optimizer(tmp_path):
    path = tmp_path / "model_300.pt"
    policy, normalizer, twist_state = twist_teacher(path)
    env = FakeMimicEnv()
    runner = OnPolicyRunnerMimic(env, small_train_cfg(), None)
    assert runner.load(str(path)) is None  # TWIST's infos
    # TWIST's load: the iteration from the file name ("iter" 0), global and env-step counters N x 24
    assert runner.current_learning_iteration == 300
    assert (env.global_counter, env.total_env_steps_counter, env.common_step_counter) == (7200, 7200, 0)
    obs = obs_batch(5, 46, seed=4)
    torch.testing.assert_close(runner.get_inference_policy()(obs), twist_actions(policy, normalizer, obs))
    with torch.no_grad():
        normed = normalizer.normalize(obs)
        torch.testing.assert_close(runner.alg.actor_critic.evaluate(normed), policy.evaluate(normed))
    torch.testing.assert_close(runner.alg.actor_critic.std.detach(), policy.std.detach())
    assert runner.normalizer.count.item() == 1001
    torch.testing.assert_close(runner.normalizer.running_mean_sq, normalizer._mean_sq.double())
    # TWIST's Adam state, parameter by parameter (same order), and its learning rate
    ours = runner.alg.optimizer
    assert runner.alg.learning_rate == 3e-4
    for i, p in enumerate(ours.param_groups[0]["params"]):
        torch.testing.assert_close(ours.state[p]["exp_avg"], twist_state["state"][i]["exp_avg"])

    # the same weights saved in this project's format and loaded natively act the same
    runner.save(str(tmp_path / "native.pt"))
    native = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(), None)
    native.load(str(tmp_path / "native.pt"))
    torch.testing.assert_close(native.get_inference_policy()(obs), twist_actions(policy, normalizer, obs))

    runner.learn(1)  # and training goes on from iteration 300
    assert runner.current_learning_iteration == 301 and env.total_env_steps_counter == 7200 + 5


def test_the_reader_converts_twists_normaliser_and_reads_the_sizes_off_the_weights(tmp_path):
    path = tmp_path / "model_40.pt"
    twist_teacher(path)
    critic = random_normalizer(46, 3, with_mean_sq=False)
    ckpt = read_checkpoint(path)
    assert ckpt["policy_cfg"] == {
        "num_observations": 46,
        "num_critic_observations": 46,
        "num_motion_observations": 40,
        "num_motion_steps": 20,
        "num_actions": 3,
        "actor_hidden_dims": [32, 16],
        "critic_hidden_dims": [32, 16],
        "motion_latent_dim": 8,
        "layer_norm": True,
    }
    c = ckpt["critic_normalizer"]
    assert c["count"].dtype == torch.float64 and c["count"].shape == () and c["count"].item() == 1003
    torch.testing.assert_close(c["mean"], critic._mean.detach())
    torch.testing.assert_close(c["std"], critic._std.detach())
    # no _mean_sq: TWIST's update starts from std^2 + mean^2
    expected = critic._std.detach().double() ** 2 + critic._mean.detach().double() ** 2
    torch.testing.assert_close(c["running_mean_sq"], expected)
    assert ckpt["iter"] == 40 and ckpt["env_counters"] == {"global_counter": 960, "total_env_steps_counter": 960}


def test_twist_checkpoints_serve_as_teacher_and_as_student(tmp_path):
    teacher_path = tmp_path / "teacher" / "model_300.pt"
    teacher_path.parent.mkdir()
    teacher, teacher_norm, _ = twist_teacher(teacher_path)
    student = random_twist_policy(5, **STUDENT_SIZES)
    student_norm, critic_norm = random_normalizer(10, seed=6), random_normalizer(46, seed=7)
    student_path = tmp_path / "model_20.pt"
    save_twist_checkpoint(student_path, student, student_norm, critic_norm, iteration=20)

    runner = OnPolicyDaggerRunner(
        FakeMimicEnv(student=True), small_train_cfg(student=True), None, teacher_path=str(teacher_path)
    )
    priv = obs_batch(5, 46, seed=8)
    with torch.no_grad():
        got = runner.teacher.act_inference(runner.teacher_normalizer.normalize(priv))
    torch.testing.assert_close(got, twist_actions(teacher, teacher_norm, priv))
    assert runner.teacher_info["iter"] == 300

    runner.load(str(student_path))
    assert runner.current_learning_iteration == 20
    obs = obs_batch(5, 10, seed=9)
    torch.testing.assert_close(runner.get_inference_policy()(obs), twist_actions(student, student_norm, obs))
    # TWIST's DAgger runner normalises the critic's input with the teacher's normaliser; the critic normaliser
    # it saves is never used: the runner keeps its copy of the teacher's
    assert not torch.allclose(critic_norm._std.detach(), teacher_norm._std.detach())
    torch.testing.assert_close(runner.critic_normalizer.std, teacher_norm._std.detach())
    torch.testing.assert_close(runner.critic_normalizer.mean, teacher_norm._mean.detach())
    runner.learn(1)
    assert runner.current_learning_iteration == 21


def test_train_total_timesteps_go_on_after_a_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.manual_seed(0)
    first = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(save_interval=100), str(tmp_path / "a"))
    first.learn(2)
    steps = 5 * 6  # num_steps_per_env x num_envs
    assert torch.load(str(tmp_path / "a" / "model_2.pt"), weights_only=True)["total_timesteps"] == 2 * steps
    # resumed with more envs: the total goes on from the saved one, with this run's steps per iteration
    resumed = OnPolicyRunnerMimic(FakeMimicEnv(num_envs=4), small_train_cfg(save_interval=100), str(tmp_path / "b"))
    resumed.load(str(tmp_path / "a" / "model_2.pt"))
    resumed.learn(1)
    acc = EventAccumulator(str(tmp_path / "b"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("Train/total_timesteps")] == [(3, 2 * steps + 5 * 4)]
    # a file without the total (TWIST's): its iterations at this run's steps per iteration
    twist_teacher(tmp_path / "model_300.pt")
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(), None)
    runner.load(str(tmp_path / "model_300.pt"))
    assert runner.tot_timesteps == 300 * steps


def native_checkpoint(tmp_path):
    runner = OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(), None)
    path = tmp_path / "model_1.pt"
    runner.save(str(path))
    return path


def test_unreadable_files_give_one_error_naming_the_file(tmp_path):
    data = native_checkpoint(tmp_path).read_bytes()
    truncated = tmp_path / "model_2.pt"
    truncated.write_bytes(data[: len(data) // 2])
    empty, junk = tmp_path / "model_3.pt", tmp_path / "model_4.pt"
    empty.write_bytes(b"")
    junk.write_bytes(b"not a checkpoint\n" * 20)
    for path in (truncated, empty, junk):
        with pytest.raises(CheckpointError) as err:
            OnPolicyRunnerMimic(FakeMimicEnv(), small_train_cfg(), None).load(str(path))
        assert str(err.value).startswith("{}: not a readable checkpoint (truncated or corrupt?)".format(path))
        assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="teacher.pt: not a readable checkpoint"):
        (tmp_path / "teacher.pt").write_bytes(data[:100])
        OnPolicyDaggerRunner(
            FakeMimicEnv(student=True), small_train_cfg(student=True), None, teacher_path=str(tmp_path / "teacher.pt")
        )

    exported = tmp_path / "S1-5-jit.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(exported))
    with pytest.raises(CheckpointError, match="S1-5-jit.pt: an exported TorchScript model, not a training checkpoint"):
        read_checkpoint(exported)
    (tmp_path / "S1-5.onnx").write_bytes(b"\x08\x07")
    with pytest.raises(CheckpointError, match="S1-5.onnx: an ONNX model, not a training checkpoint"):
        read_checkpoint(tmp_path / "S1-5.onnx")
    torch.save({"weights": torch.ones(2)}, str(tmp_path / "other.pt"))
    with pytest.raises(
        CheckpointError, match=r"other.pt: not a training checkpoint .*no model_state_dict / normalizer"
    ):
        read_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="missing.pt: no such file"):
        read_checkpoint(tmp_path / "missing.pt")


class Payload:
    """Unpickling this object would call print (what a malicious file would do with os.system)."""

    def __reduce__(self):
        return (print, ("code from the checkpoint ran",))


def test_no_code_runs_from_a_checkpoint(tmp_path, capsys):
    path = tmp_path / "model_1.pt"
    torch.save({"model_state_dict": {}, "normalizer": {}, "extra": Payload()}, str(path))
    with pytest.raises(CheckpointError, match=r"model_1.pt: holds Python objects \((builtins\.)?print\)"):
        read_checkpoint(path)
    assert "code from the checkpoint ran" not in capsys.readouterr().out


def test_a_torch_without_named_safe_globals_reads_twist_files_through_the_restricted_unpickler(
    tmp_path, monkeypatch, capsys
):
    """torch < 2.6 (TWIST's Python 3.8 has at most 2.4): weights_only refuses TWIST's pickled normaliser, so
    the file is read again by RestrictedUnpickler, to the same checkpoint; code in a file still never runs."""
    twist_path = tmp_path / "model_300.pt"
    _, normalizer, _ = twist_teacher(twist_path)
    native = native_checkpoint(tmp_path)
    expected = read_checkpoint(twist_path)  # through torch's safe_globals
    monkeypatch.delattr(torch.serialization, "safe_globals")
    got = read_checkpoint(twist_path)
    assert got.keys() == expected.keys() and got["iter"] == 300
    for key in ("model_state_dict", "normalizer", "critic_normalizer"):
        torch.testing.assert_close(got[key], expected[key])
    torch.testing.assert_close(got["normalizer"]["std"], normalizer._std.detach())
    assert read_checkpoint(native)["iter"] == 0  # this project's files need nothing of it
    twist_with_code = tmp_path / "payload" / "model_1.pt"
    twist_with_code.parent.mkdir()
    twist_teacher(twist_with_code)
    ckpt = torch.load(str(twist_with_code), weights_only=False)
    ckpt["extra"] = Payload()
    torch.save(ckpt, str(twist_with_code))
    with pytest.raises(CheckpointError, match=r"model_1.pt: holds Python objects \(builtins.print\)"):
        read_checkpoint(twist_with_code)
    assert "code from the checkpoint ran" not in capsys.readouterr().out


def test_numpy_values_in_a_checkpoint_are_read_with_and_without_named_safe_globals(tmp_path, monkeypatch):
    """Other runners put numpy scalars and arrays in a checkpoint (its infos, say; pickled under numpy 1's
    module names or numpy 2's): read as they were written, by torch's safe_globals and by RestrictedUnpickler;
    object arrays stay refused by both."""
    import numpy as np

    path = native_checkpoint(tmp_path)
    ckpt = torch.load(str(path), weights_only=True)
    infos = {
        "best": np.float64(1.5),
        "iterations": np.int64(300),
        "clipped": np.bool_(True),
        "gains": np.arange(3, dtype=np.float32),
        "names": np.array(["walk", "run"]),
    }
    ckpt["infos"] = infos
    torch.save(ckpt, str(path))
    objects = tmp_path / "objects" / "model_1.pt"
    objects.parent.mkdir()
    torch.save(dict(ckpt, infos={"items": np.array(["a", 1], dtype=object)}), str(objects))

    def assert_infos(got):
        assert got.keys() == infos.keys()
        for key, value in infos.items():
            assert type(got[key]) is type(value) and got[key].dtype == value.dtype
            np.testing.assert_array_equal(got[key], value)

    assert_infos(read_checkpoint(path)["infos"])
    with pytest.raises(CheckpointError, match=r"model_1.pt: sets the state of a numpy.dtypes.ObjectDType, which"):
        read_checkpoint(objects)
    monkeypatch.delattr(torch.serialization, "safe_globals")
    assert_infos(read_checkpoint(path)["infos"])
    with pytest.raises(CheckpointError, match="model_1.pt: sets the state of a ndarray, which"):
        read_checkpoint(objects)


def test_the_restricted_unpickler_reads_numpy_1s_module_names():
    """numpy 1 pickles its scalars' rebuilder as numpy.core.multiarray.scalar, numpy 2 as numpy._core...: both."""
    import io
    import pickle

    import numpy as np

    from rsl_rl.utils.checkpoint import RestrictedUnpickler

    data = pickle.dumps(np.float64(2.5), protocol=2)
    for module in (b"numpy.core.multiarray", b"numpy._core.multiarray"):
        renamed = data.replace(b"numpy._core.multiarray", module).replace(b"numpy.core.multiarray", module)
        assert module in renamed
        assert RestrictedUnpickler(io.BytesIO(renamed)).load() == np.float64(2.5)


def test_a_twist_normaliser_that_clips_is_refused(tmp_path):
    normalizer = random_normalizer(46, seed=1)
    normalizer._clip = 5.0
    save_twist_checkpoint(tmp_path / "model_1.pt", random_twist_policy(0, **TEACHER_SIZES), normalizer)
    with pytest.raises(CheckpointError, match="normalizer: the normaliser uses eps 0.0001 and clip 5"):
        read_checkpoint(tmp_path / "model_1.pt")


def test_the_restricted_unpickler_reads_protocol_2_builtins_and_refuses_other_globals():
    """torch.save pickles with protocol 2, which names builtins `__builtin__` (a TWIST normaliser's
    nn.Module attributes hold a set): resolved; any global outside the allowed ones is refused."""
    import io
    import pickle

    from rsl_rl.utils.checkpoint import RestrictedUnpickler

    data = pickle.dumps({"buffers": {"a", "b"}, "dtype": torch.float32}, protocol=2)
    assert b"__builtin__" in data
    assert RestrictedUnpickler(io.BytesIO(data)).load() == {"buffers": {"a", "b"}, "dtype": torch.float32}
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL (os|posix|nt).system was not an allowed global"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(__import__("os").system, protocol=2))).load()


def test_a_twist_checkpoint_without_normaliser_is_named_as_one(tmp_path):
    """TWIST's runner trained with normalize_obs False saves no normaliser: the error says so (before, it named
    the keys of the converted file, as if it were no TWIST checkpoint)."""
    save_twist_checkpoint(tmp_path / "model_1000.pt", random_twist_policy(0, **TEACHER_SIZES), None)
    with pytest.raises(CheckpointError, match=r"model_1000.pt: a checkpoint of TWIST's runner without an observation"):
        read_checkpoint(tmp_path / "model_1000.pt")


def test_the_restricted_unpickler_sets_no_state_on_what_it_resolves():
    """BUILD on an allowed global (a torch function, the stand-in class) would change it for the whole process:
    refused, and the function is left as it was; a state on an OrderedDict made by the load is fine."""
    import io
    import pickle

    from rsl_rl.utils import checkpoint

    tamper = b"\x80\x02ctorch._utils\n_rebuild_parameter\n}X\x03\x00\x00\x00pwnK\x01sb."
    with pytest.raises(pickle.UnpicklingError, match="BUILD of a function was not allowed"):
        checkpoint.RestrictedUnpickler(io.BytesIO(tamper)).load()
    assert not hasattr(torch._utils._rebuild_parameter, "pwn")
    stand_in = b"\x80\x02crsl_rl.utils.normalizer\nNormalizer\n}X\x08\x00\x00\x00__init__K\x01sb."
    with pytest.raises(pickle.UnpicklingError, match="BUILD of a type was not allowed"):
        checkpoint.RestrictedUnpickler(io.BytesIO(stand_in)).load()
    assert "__init__" not in vars(checkpoint.TwistNormalizer)
    state_dict = __import__("collections").OrderedDict(w=1)
    state_dict._metadata = {"": {"version": 1}}  # type: ignore[attr-defined]
    loaded = checkpoint.RestrictedUnpickler(io.BytesIO(pickle.dumps(state_dict, protocol=2))).load()
    assert loaded == state_dict and loaded._metadata == {"": {"version": 1}}
