"""Model files through the scripts (CPU, mjwarp): TWIST's checkpoints resume through train.py, teach a
student, play and export with TWIST's actions; a checkpoint or export of another task, a truncated file,
a training checkpoint or ONNX file given as an export, stop before anything is built with one line;
--use_jit --checkpoint N; a new run into a folder with checkpoints; --sim / --num_envs mistakes; TWIST's
--no_wandb and --rl_device; shell scripts without their device."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("mujoco_warp")

from conftest import REPO_ROOT  # noqa: E402
from legged_gym.gym_utils import helpers  # noqa: E402
from legged_gym.gym_utils.helpers import UsageError  # noqa: E402
from legged_gym.gym_utils.task_registry import task_registry  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rsl_rl"))  # TWIST's format: tests/rsl_rl
from twist_format import (  # noqa: E402
    random_normalizer,
    random_twist_policy,
    save_twist_checkpoint,
    twist_optimizer_state,
)

HIDDEN = [512, 512, 256, 128]
G1_TEACHER = dict(num_obs=1318, num_critic_obs=1318, frame_dim=58, steps=20, num_actions=23, hidden=HIDDEN, latent=128)
G1_STUDENT = dict(num_obs=1155, num_critic_obs=1318, frame_dim=31, steps=1, num_actions=23, hidden=HIDDEN, latent=128)
SMALL = ["--num_envs", "2", "--max_iterations", "1", "--sim", "mjwarp"]
STUDENT_DESC = "a student policy of 1155 observations (1 reference frame of 31), 23 actions"
TEACHER_DESC = "1318 observations (20 reference frames of 58), 23 actions"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("legged_gym_logs")


@pytest.fixture
def log_root(logs, monkeypatch):
    monkeypatch.setenv("LEGGED_GYM_LOG_DIR", str(logs))
    return logs


def run(cmd, logs, check=True):
    env = dict(os.environ, LEGGED_GYM_LOG_DIR=str(logs), PYTHON=sys.executable)
    out = subprocess.run(cmd, cwd=str(logs), env=env, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(
            "{} failed:\n{}\n{}".format(" ".join(map(str, cmd)), out.stdout[-3000:], out.stderr[-3000:])
        )
    return out


def script(name):
    return str(REPO_ROOT / name)


def load(path):
    return torch.load(str(path), map_location="cpu", weights_only=True)


def one_line_error(out):
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    return out.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def twist_teacher(logs):
    """TWIST's teacher checkpoint g1_priv_mimic/TW/model_100.pt: (path, its network, its normaliser)."""
    path = logs / "g1_priv_mimic" / "TW" / "model_100.pt"
    path.parent.mkdir(parents=True)
    policy = random_twist_policy(0, **G1_TEACHER)
    normalizer = random_normalizer(1318, seed=1)
    optimizer = twist_optimizer_state(policy, torch.randn(4, 1318, generator=torch.Generator().manual_seed(2)))
    save_twist_checkpoint(path, policy, normalizer, random_normalizer(1318, seed=2), optimizer)
    return path, policy, normalizer


@pytest.fixture(scope="module")
def student_checkpoint(logs):
    """This project's student checkpoint g1_stu_rl/S1/model_2.pt (random weights)."""
    from rsl_rl.modules import ActorCriticMimic
    from rsl_rl.utils.normalizer import Normalizer

    cfg = dict(task_registry.policy_sizes("g1_stu_rl"), num_critic_observations=1318)
    path = logs / "g1_stu_rl" / "S1" / "model_2.pt"
    path.parent.mkdir(parents=True)
    state = {"model_state_dict": ActorCriticMimic(**cfg).state_dict(), "normalizer": Normalizer(1155).state_dict()}
    torch.save(dict(state, iter=2, policy_cfg=cfg), str(path))
    return path


def test_a_twist_teacher_resumes_through_train_py(twist_teacher, logs):
    cmd = [sys.executable, script("legged_gym/scripts/train.py"), "--exptid", "TW2", "--resumeid", "TW"]
    out = run(cmd + SMALL + ["--device", "cpu"], logs)
    assert "Loaded iteration 100" in out.stdout
    ckpt = load(logs / "g1_priv_mimic" / "TW2" / "model_101.pt")
    assert ckpt["iter"] == 101
    # TWIST's counters (100 x 24 env steps) and one more iteration of 24 steps on 2 envs
    assert ckpt["env_counters"]["total_env_steps_counter"] == 101 * 24
    assert ckpt["total_timesteps"] == 101 * 24 * 2
    assert ckpt["normalizer"]["count"].item() == 1001 + 24 * 2  # TWIST's count went on


def test_a_twist_teacher_teaches_a_student(twist_teacher, logs):
    run(["bash", script("train_student.sh"), "S_of_TW", "TW", "cpu"] + SMALL, logs)
    teacher = load(logs / "g1_stu_rl" / "S_of_TW" / "model_1.pt")["teacher"]
    assert teacher["path"] == str(twist_teacher[0]) and teacher["iter"] == 100


def test_a_twist_teacher_plays(twist_teacher, logs):
    cmd = [sys.executable, script("legged_gym/scripts/play.py"), "--exptid", "TW", "--steps", "3", "--headless"]
    out = run(cmd + ["--record_log", "--sim", "mjwarp", "--device", "cpu"], logs)
    assert "Loaded iteration 100" in out.stdout and "Playing 3 steps of g1_priv_mimic" in out.stdout
    assert (logs / "env_logs" / "g1_priv_mimic-TW-100.json").is_file()


def test_play_with_a_display_that_does_not_work(twist_teacher, logs):
    """A stale DISPLAY (no X server at :99): play goes on without a viewer, with a note (GLFW would end
    the process from C when the viewer opens); a MUJOCO_GL that cannot render a video stops it at start."""
    cmd = [sys.executable, script("legged_gym/scripts/play.py"), "--exptid", "TW", "--steps", "3"]
    cmd += ["--sim", "mjwarp", "--device", "cpu"]
    env = dict(os.environ, LEGGED_GYM_LOG_DIR=str(logs), DISPLAY=":99")
    env.pop("MUJOCO_GL", None)
    out = subprocess.run(cmd, cwd=str(logs), env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "play.py: display :99 does not work" in out.stdout and "running without a viewer" in out.stdout
    assert "Playing 3 steps of g1_priv_mimic" in out.stdout
    env = dict(env, MUJOCO_GL="glfw")
    out = subprocess.run(cmd + ["--record_video"], cwd=str(logs), env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith("play.py --record_video: MUJOCO_GL=glfw (set in the environment)")
    )


def test_a_twist_student_exports_with_twists_actions(log_root):
    from legged_gym.scripts import save_jit_stu_rlbc

    path = log_root / "g1_stu_rl" / "TWS" / "model_50.pt"
    path.parent.mkdir(parents=True)
    policy = random_twist_policy(3, **G1_STUDENT)
    normalizer = random_normalizer(1155, seed=4)
    save_twist_checkpoint(path, policy, normalizer, random_normalizer(1318, seed=5))
    out = save_jit_stu_rlbc.main(["--exptid", "TWS"])
    assert out["jit"] == str(path.parent / "traced" / "TWS-50-jit.pt")
    jit = torch.jit.load(out["jit"])
    obs = 3.0 * torch.randn(4, 1155, generator=torch.Generator().manual_seed(6))
    obs[:, ::9] *= 100.0  # beyond the +-100 clip of training, which the export applies
    with torch.no_grad():
        expected = policy.actor(normalizer.normalize(obs.clamp(-100.0, 100.0)))
        torch.testing.assert_close(jit(obs), expected, rtol=1e-5, atol=1e-5)


def test_export_errors_are_one_plain_line(log_root):
    from legged_gym.scripts import save_jit_stu_rlbc

    path = log_root / "g1_stu_rl" / "NOCFG" / "model_1.pt"
    path.parent.mkdir(parents=True)
    torch.save({"model_state_dict": {}, "normalizer": {}, "iter": 1}, str(path))
    with pytest.raises(SystemExit) as err:
        save_jit_stu_rlbc.main(["--exptid", "NOCFG"])
    assert str(err.value) == (
        "save_jit_stu_rlbc.py: {}: checkpoint has no 'policy_cfg' entry (have: ['iter', 'model_state_dict', "
        "'normalizer'])".format(path)
    )


def test_checkpoints_of_another_task_stop_before_building(student_checkpoint, twist_teacher, logs):
    s1 = student_checkpoint
    expect_task = "{} holds {}; task g1_priv_mimic expects {}: this is a student run; use --task g1_stu_rl".format(
        s1, STUDENT_DESC, TEACHER_DESC
    )
    resume = ["--resumeid", "S1", "--resume_proj_name", "g1_stu_rl", "--sim", "mjwarp"]
    out = run(["bash", script("train_teacher.sh"), "T3", "cpu"] + resume, logs, False)
    assert one_line_error(out).startswith("train.py: " + expect_task)
    assert not (logs / "g1_priv_mimic" / "T3").exists()
    common = [
        "--task",
        "g1_priv_mimic",
        "--proj_name",
        "g1_stu_rl",
        "--exptid",
        "S1",
        "--device",
        "cpu",
        "--sim",
        "mjwarp",
    ]
    out = run([sys.executable, script("legged_gym/scripts/play.py")] + common, logs, False)
    assert one_line_error(out).startswith("play.py: " + expect_task)
    out = run(
        [sys.executable, script("legged_gym/scripts/eval.py")] + common + ["--out", str(logs / "eval")], logs, False
    )
    assert one_line_error(out).startswith("eval.py: " + expect_task)
    teacher = ["--teacher_proj_name", "g1_stu_rl", "--sim", "mjwarp"]
    out = run(["bash", script("train_student.sh"), "S12", "S1", "cpu"] + teacher, logs, False)
    assert one_line_error(out) == (
        "train.py: {} holds {}; the teacher of task g1_stu_rl reads {}: this is a student run (task g1_stu_rl); "
        "--teacher_exptid (and --teacher_proj_name) must name a teacher run".format(s1, STUDENT_DESC, TEACHER_DESC)
    )
    assert not (logs / "g1_stu_rl" / "S12").exists()
    # a TWIST teacher (its sizes read off its weights) played as a student
    args = helpers.get_args(["--task", "g1_stu_rl", "--exptid", "TW", "--sim", "mjwarp"])
    with pytest.raises(
        UsageError, match="holds a teacher policy of 1318 .* this is a teacher run; use --task g1_priv_mimic"
    ):
        task_registry.check_checkpoint(twist_teacher[0], args)

    broken = logs / "g1_priv_mimic" / "T_broken" / "model_3.pt"
    broken.parent.mkdir()
    broken.write_bytes(twist_teacher[0].read_bytes()[:5000])
    out = run(
        [sys.executable, script("legged_gym/scripts/play.py"), "--exptid", "T_broken", "--sim", "mjwarp"], logs, False
    )
    assert one_line_error(out).startswith(
        "play.py: {}: not a readable checkpoint (truncated or corrupt?)".format(broken)
    )


def resolve(argv):
    from legged_gym.scripts import play

    args = helpers.get_args(argv + ["--sim", "mjwarp", "--device", "cpu"], parser=play.parser())
    return play.resolve_model(args, task_registry.get_cfgs(args.task)[1])


def test_policy_path_says_what_the_file_is(student_checkpoint, log_root, tmp_path):
    student = ["--task", "g1_stu_rl", "--policy_path"]
    with pytest.raises(UsageError, match="model_2.pt: a training checkpoint, not an exported model: play or evaluate"):
        resolve(student + [str(student_checkpoint)])
    (tmp_path / "S1-2.onnx").write_bytes(b"\x08\x07")
    with pytest.raises(UsageError, match="S1-2.onnx: an ONNX model; play.py and eval.py run the TorchScript export"):
        resolve(student + [str(tmp_path / "S1-2.onnx")])
    (tmp_path / "junk.pt").write_bytes(b"junk" * 10)
    with pytest.raises(UsageError, match="junk.pt: not a TorchScript model"):
        resolve(student + [str(tmp_path / "junk.pt")])
    # a teacher-wide export (no metadata: the error of the model's own graph)
    wide = tmp_path / "T1-9-jit.pt"
    torch.jit.script(torch.nn.Linear(1318, 23)).save(str(wide))
    with pytest.raises(
        UsageError, match=r"T1-9-jit.pt: the exported model does not take the 1155 observations of task g1_stu_rl \("
    ):
        resolve(student + [str(wide)])
    # ... and with metadata that records its width: the tasks of that width
    (tmp_path / "T1-9.json").write_text('{"input": {"shape": ["batch", 1318]}}')
    with pytest.raises(
        UsageError,
        match=r"does not take the 1155 observations of task g1_stu_rl: it takes 1318; use --task g1_cmg_fast \(or .*g1_priv_mimic\)$",
    ):
        resolve(student + [str(wide)])
    assert resolve(["--task", "g1_priv_mimic", "--policy_path", str(wide)]) == wide


def test_use_jit_plays_the_export_of_the_checkpoint_asked_for(log_root):
    traced = log_root / "g1_stu_rl" / "SJ" / "traced"
    traced.mkdir(parents=True)
    for it in (2, 10):
        torch.jit.script(torch.nn.Linear(1155, 23)).save(str(traced / "SJ-{}-jit.pt".format(it)))
    base = ["--task", "g1_stu_rl", "--exptid", "SJ", "--use_jit"]
    assert resolve(base) == traced / "SJ-10-jit.pt"
    assert resolve(base + ["--checkpoint", "2"]) == traced / "SJ-2-jit.pt"
    with pytest.raises(UsageError) as err:
        resolve(base + ["--checkpoint", "5"])
    assert str(err.value) == (
        "{}: no export of checkpoint 5 (have: SJ-10-jit.pt, SJ-2-jit.pt); run: bash to_jit.sh SJ g1_stu_rl "
        "--checkpoint 5".format(traced)
    )


def test_a_new_run_into_a_folder_with_checkpoints_stops(log_root):
    from legged_gym.scripts import train

    run_dir = log_root / "g1_priv_mimic" / "T_old"
    run_dir.mkdir(parents=True)
    for it in (500, 1000):
        (run_dir / "model_{}.pt".format(it)).write_bytes(b"")

    def args(*extra):
        return helpers.get_args(["--exptid", "T_old", "--device", "cpu"] + SMALL + list(extra), parser=train.parser())

    with pytest.raises(UsageError) as err:
        train.train(args())
    assert str(err.value) == (
        "{} already holds the checkpoints of a run (model_500.pt, model_1000.pt): pick a new --exptid, continue "
        "that run with --resume (or --resumeid T_old), or pass --reuse_exptid to train into it anyway".format(run_dir)
    )
    assert train.check_run_folder(args("--reuse_exptid"), None) is None
    assert train.check_run_folder(args("--resume"), run_dir / "model_1000.pt") is None  # continues that run
    with pytest.raises(UsageError, match="already holds the checkpoints"):  # resumes another run into it
        other = log_root / "g1_priv_mimic" / "T_other" / "model_5.pt"
        other.parent.mkdir()
        other.write_bytes(b"")
        train.check_run_folder(args("--resumeid", "T_other"), other)


def test_sim_and_num_envs_mistakes(capsys):
    with pytest.raises(SystemExit) as err:
        helpers.get_args(["--num_envs", "0"])
    assert err.value.code == 2 and "argument --num_envs: expected a positive integer, got 0" in capsys.readouterr().err
    from legged_gym.simulator import available_backends

    if "isaacgym" in available_backends():
        pytest.skip("Isaac Gym imports here")
    with pytest.raises(
        UsageError, match="^--sim isaacgym: its simulator does not import on this machine; use --sim mjwarp$"
    ):
        helpers.check_sim("isaacgym")


def test_twists_no_wandb_and_rl_device_flags(capsys):
    _, train_cfg = task_registry.get_cfgs("g1_priv_mimic")
    args = helpers.get_args(["--wandb", "--no_wandb", "--rl_device", "cuda:0", "--device", "cpu"])
    assert "Note: --rl_device cuda:0 is ignored: --device cpu runs simulation and learning" in capsys.readouterr().out
    assert helpers.update_train_cfg_from_args(train_cfg, args).runner.wandb is False
    args = helpers.get_args(["--wandb", "--device", "cpu"])
    assert helpers.update_train_cfg_from_args(train_cfg, args).runner.wandb is True


def test_shell_scripts_without_their_device_print_the_usage(logs):
    out = run(["bash", script("train_teacher.sh"), "T14", "--num_envs", "2"], logs, False)
    assert out.returncode == 2 and out.stderr.splitlines() == [
        "train_teacher.sh: argument 2 is the flag '--num_envs': the positional arguments come first",
        "usage: bash train_teacher.sh <exptid> <device> [extra train.py args...]",
    ]
    out = run(["bash", script("train_student.sh"), "S1", "T1", "--sim", "mjwarp"], logs, False)
    assert out.returncode == 2 and "usage: bash train_student.sh" in out.stderr
