"""The training workflow end to end on CPU (mjwarp on warp's CPU device, 4 envs, 2 iterations):
train_teacher.sh -> train_student.sh (distilling from that teacher) -> resume through train.py
--resumeid -> to_jit.sh (TorchScript + ONNX) -> play.py --record_video; and the error for a
missing teacher checkpoint.

Every run writes under a temporary log root: the scripts read the environment variable
LEGGED_GYM_LOG_DIR (default legged_gym/logs). The shell scripts run from another working directory
with PYTHON set to this interpreter.
"""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco_warp")

from conftest import REPO_ROOT, checkpoint_estimate  # noqa: E402
from legged_gym.gym_utils import helpers  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402

TEACHER, STUDENT = "pytest_teacher", "pytest_student"
SMALL = ["--num_envs", "4", "--max_iterations", "2", "--sim", "mjwarp"]
ITERATIONS = 2
STEPS_PER_ENV, NUM_ENVS = 24, 4
# the teacher's --set items: one that shapes what the policy sees, one that only shapes training
TEACHER_SET = ["--set", "motion.ref_correction.pos_gain=0.5", "--set", "rewards.scales.tracking_root_vel=1.5"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("legged_gym_logs")


@pytest.fixture(scope="module")
def cwd(tmp_path_factory):
    return tmp_path_factory.mktemp("elsewhere")  # the scripts must not depend on the caller's cwd


def run(cmd, logs, cwd, check=True, timeout=600):
    env = dict(os.environ, LEGGED_GYM_LOG_DIR=str(logs), PYTHON=sys.executable)
    out = subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(
            "{} failed ({}):\n{}\n{}".format(
                " ".join(map(str, cmd)), out.returncode, out.stdout[-3000:], out.stderr[-5000:]
            )
        )
    return out


def script(name):
    return str(REPO_ROOT / name)


def load(path):
    return torch.load(str(path), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def teacher_run(logs, cwd):
    out = run(["bash", script("train_teacher.sh"), TEACHER, "cpu"] + SMALL + TEACHER_SET, logs, cwd)
    return logs / "g1_priv_mimic" / TEACHER, out


@pytest.fixture(scope="module")
def student_run(teacher_run, logs, cwd):
    out = run(["bash", script("train_student.sh"), STUDENT, TEACHER, "cpu"] + SMALL, logs, cwd)
    return logs / "g1_stu_rl" / STUDENT, out


@pytest.fixture(scope="module")
def exported(student_run, logs, cwd):
    out = run(["bash", script("to_jit.sh"), STUDENT, "g1_stu_rl"], logs, cwd)
    return student_run[0] / "traced", out


def test_teacher_trains_through_the_shell_script(teacher_run):
    run_dir, out = teacher_run
    assert sorted(p.name for p in run_dir.glob("model_*.pt")) == ["model_{}.pt".format(ITERATIONS)]
    assert list(run_dir.glob("events.out.tfevents.*")), "no TensorBoard events in {}".format(run_dir)
    ckpt = load(run_dir / "model_{}.pt".format(ITERATIONS))
    assert ckpt["iter"] == ITERATIONS
    assert ckpt["policy_cfg"]["num_observations"] == 1318 and ckpt["policy_cfg"]["num_motion_steps"] == 20
    assert ckpt["normalizer"]["count"].item() == ITERATIONS * STEPS_PER_ENV * NUM_ENVS
    assert ckpt["env_counters"]["total_env_steps_counter"] == ITERATIONS * STEPS_PER_ENV
    # the --set items and the task, for play.py, eval.py and the exporter
    assert ckpt["infos"] == {"set": TEACHER_SET[1::2], "task": "g1_priv_mimic"}
    # nothing went to the repository's own log folder
    assert not (Path(helpers.LEGGED_GYM_ROOT_DIR) / "logs" / "g1_priv_mimic" / TEACHER).exists()
    # console: one header line, a summary line for the last iteration, no warp module-load lines
    assert "Training g1_priv_mimic: backend mjwarp, device cpu, {} envs, ".format(NUM_ENVS) in out.stdout
    summary = [ln for ln in out.stdout.splitlines() if ln.startswith("iter {}/{} | ".format(ITERATIONS, ITERATIONS))]
    assert len(summary) == 1 and "steps/s | mean reward " in summary[0], out.stdout
    assert not re.search(r"Module .* load on device", out.stdout + out.stderr), out.stdout + out.stderr


def test_student_distils_from_the_teachers_checkpoint(teacher_run, student_run):
    run_dir, out = student_run
    teacher_ckpt = teacher_run[0] / "model_{}.pt".format(ITERATIONS)
    assert "Loading teacher policy from {}".format(teacher_ckpt) in out.stdout
    # the student's command leaves out the teacher's observation setting (rewards do not count)
    assert (
        "WARNING: {} was trained with --set motion.ref_correction.pos_gain=0.5; this command does not repeat "
        "them (absent or another value): the teacher would see".format(teacher_ckpt)
        in out.stdout
    )
    assert sorted(p.name for p in run_dir.glob("model_*.pt")) == ["model_{}.pt".format(ITERATIONS)]
    assert list(run_dir.glob("events.out.tfevents.*"))
    ckpt = load(run_dir / "model_{}.pt".format(ITERATIONS))
    assert ckpt["iter"] == ITERATIONS
    cfg = ckpt["policy_cfg"]
    assert (cfg["num_observations"], cfg["num_critic_observations"], cfg["num_motion_observations"]) == (1155, 1318, 31)
    assert ckpt["dagger"] is not None


def test_resume_continues_at_the_saved_iteration(teacher_run, logs, cwd, monkeypatch):
    from legged_gym.gym_utils.task_registry import task_registry

    saved = load(teacher_run[0] / "model_{}.pt".format(ITERATIONS))
    # What train.py builds for --resumeid: the runner restored at the saved iteration, normaliser and counters.
    monkeypatch.setenv("LEGGED_GYM_LOG_DIR", str(logs))
    args = helpers.get_args(
        ["--task", "g1_priv_mimic", "--exptid", "unused", "--resumeid", TEACHER, "--device", "cpu"] + SMALL
    )
    env, _ = task_registry.make_env("g1_priv_mimic", args)
    runner, train_cfg = task_registry.make_alg_runner(env, "g1_priv_mimic", args, log_root=None)
    assert train_cfg.runner.resume_path == str(teacher_run[0] / "model_{}.pt".format(ITERATIONS))
    assert runner.current_learning_iteration == ITERATIONS
    for key, value in saved["normalizer"].items():
        torch.testing.assert_close(runner.normalizer.state_dict()[key], value, rtol=0, atol=0)
    for key, value in saved["env_counters"].items():
        assert getattr(env, key) == value
    del runner, env

    # ... and training through train.py goes on from there, in a new experiment folder.
    out = run(
        [
            sys.executable,
            script("legged_gym/scripts/train.py"),
            "--task",
            "g1_priv_mimic",
            "--proj_name",
            "g1_priv_mimic",
            "--exptid",
            TEACHER + "_resumed",
            "--resumeid",
            TEACHER,
            "--checkpoint",
            "-1",
            "--device",
            "cpu",
            "--num_envs",
            "4",
            "--max_iterations",
            "1",
            "--sim",
            "mjwarp",
        ],
        logs,
        cwd,
    )
    assert "Loaded iteration {}".format(ITERATIONS) in out.stdout
    resumed_dir = logs / "g1_priv_mimic" / (TEACHER + "_resumed")
    assert sorted(p.name for p in resumed_dir.glob("model_*.pt")) == ["model_{}.pt".format(ITERATIONS + 1)]
    resumed = load(resumed_dir / "model_{}.pt".format(ITERATIONS + 1))
    assert resumed["iter"] == ITERATIONS + 1
    assert resumed["env_counters"]["total_env_steps_counter"] == (ITERATIONS + 1) * STEPS_PER_ENV
    # the normaliser kept its statistics and added one iteration of samples
    assert resumed["normalizer"]["count"].item() == saved["normalizer"]["count"].item() + STEPS_PER_ENV * NUM_ENVS


def python_policy(ckpt_path):
    from rsl_rl.modules import ActorCriticMimic
    from rsl_rl.utils.normalizer import Normalizer

    ckpt = load(ckpt_path)
    ac = ActorCriticMimic(**ckpt["policy_cfg"])
    ac.load_state_dict(ckpt["model_state_dict"])
    normalizer = Normalizer(ckpt["policy_cfg"]["num_observations"])
    normalizer.load_state_dict(ckpt["normalizer"])
    ac.eval()
    return lambda obs: ac.actor(normalizer.normalize(obs.clamp(-100.0, 100.0)))


def test_torchscript_and_onnx_exports_match_the_python_policy(student_run, exported):
    traced, out = exported
    base = traced / "{}-{}".format(STUDENT, ITERATIONS)
    jit_path, onnx_path, json_path = [Path(str(base) + s) for s in ("-jit.pt", ".onnx", ".json")]
    for p in (jit_path, onnx_path, json_path):
        assert p.is_file(), "{} not written; to_jit.sh said:\n{}".format(p, out.stdout)
    reference = python_policy(student_run[0] / "model_{}.pt".format(ITERATIONS))
    jit = torch.jit.load(str(jit_path))

    import onnx
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    for batch in (1, 5):
        obs = 3.0 * torch.randn(batch, 1155, generator=gen)
        obs[:, ::7] *= 100.0  # beyond the +-100 observation clip of training, which the export applies too
        with torch.no_grad():
            expected = reference(obs)
            assert expected.shape == (batch, 23)
            assert (jit(obs) - expected).abs().max().item() < 1e-5
        got = session.run(["actions"], {"obs": obs.numpy()})[0]
        assert np.abs(got - expected.numpy()).max() < 1e-5
    with pytest.raises(Exception, match="1155"):
        jit(torch.zeros(2, 1154))

    meta = {p.key: json.loads(p.value) for p in onnx.load(str(onnx_path)).metadata_props}
    assert meta == {k: v for k, v in json.loads(json_path.read_text()).items()}
    from pose.g1_model import load_g1

    g1 = load_g1()
    assert meta["joint_names"] == list(g1.dof_names) and len(meta["default_joint_pos"]) == 23
    np.testing.assert_allclose(meta["default_joint_pos"], g1.default_dof_pos)
    np.testing.assert_allclose(meta["kp"], g1.kp)
    np.testing.assert_allclose(meta["kd"], g1.kd)
    np.testing.assert_allclose(meta["torque_limit_training"], 0.9 * g1.effort)
    np.testing.assert_allclose(meta["torque_limit_robot"], g1.effort)
    assert meta["action_scale"] == 0.5 and meta["action_clip"] == 10.0
    layout = meta["obs_layout"]
    assert (layout["mimic"], layout["proprio"], layout["history"]) == ([0, 31], [31, 105], [105, 1155])
    assert layout["history_len"] == 10 and layout["history_order"].startswith("oldest first")


def test_a_student_with_a_state_estimator_trains_and_exports(teacher_run, logs, cwd):
    """policy.estimator_fields (docs/learning.md#state-estimator): the student's actor estimates the root
    velocity from its obs; the checkpoint holds the estimator and its optimizer; the export (which builds the
    network from the checkpoint's policy_cfg) traces obs -> action with the estimator inside."""
    estimator = ["--set", "policy.estimator_fields=[base_lin_vel]"]
    run(["bash", script("train_student.sh"), "pytest_estimator", TEACHER, "cpu"] + SMALL + estimator, logs, cwd)
    ckpt_path = logs / "g1_stu_rl" / "pytest_estimator" / "model_{}.pt".format(ITERATIONS)
    ckpt = load(ckpt_path)
    assert ckpt["policy_cfg"]["estimator_target"] == [1160 + 74 + i for i in range(3)]
    assert "actor.estimator.0.weight" in ckpt["model_state_dict"] and "estimator_optimizer_state_dict" in ckpt
    run(["bash", script("to_jit.sh"), "pytest_estimator", "g1_stu_rl"], logs, cwd)
    jit = torch.jit.load(str(ckpt_path.parent / "traced" / "pytest_estimator-{}-jit.pt".format(ITERATIONS)))
    obs = torch.randn(3, 1155, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (jit(obs) - python_policy(ckpt_path)(obs)).abs().max().item() < 1e-5


def short_clip(tmp_path, seconds=0.5):
    """A manifest of the first `seconds` of the embedded standing clip."""
    from pose.formats import load_clip, motion_sources, save_clip, write_manifest
    from pose.synth import default_motion_file

    source = next(e.file for e in motion_sources(default_motion_file()) if e.file.stem == "stand")
    clip = load_clip(source)
    n = int(round(seconds * clip["fps"])) + 1
    for key in ("root_pos", "root_rot", "dof_pos", "local_body_pos"):
        clip[key] = clip[key][:n]
    save_clip(tmp_path / "stand.pkl", clip)
    return write_manifest(tmp_path / "manifest.yaml", ["stand.pkl"])


def test_a_student_with_the_drift_feedback_is_evaluated_with_dead_reckoning(
    teacher_run, student_run, logs, cwd, tmp_path
):
    """motion.student_ref_correction with a state estimator: eval.py plays it with the simulator's position
    or, with motion.student_odometry=estimate, with the position dead-reckoned from the estimator's
    base_lin_vel (other numbers then), with --use_jit from the export's base_velocity (the same numbers);
    refused for a student without an estimator, checkpoint or export."""
    feedback = TEACHER_SET + ["--set", "motion.student_ref_correction=true"]
    estimator = ["--set", "policy.estimator_fields=[base_lin_vel]"]
    run(
        ["bash", script("train_student.sh"), "pytest_feedback", TEACHER, "cpu"] + SMALL + feedback + estimator,
        logs,
        cwd,
    )
    motions = short_clip(tmp_path)
    base = [sys.executable, str(REPO_ROOT / "legged_gym/scripts/eval.py"), "--task", "g1_stu_rl", "--teacher_exptid"]
    base += [TEACHER, "--device", "cpu", "--sim", "mjwarp", "--motion_file", str(motions), "--num_envs_per_clip", "2"]
    base += ["--rand", "none"] + feedback
    results = {}
    for odometry in ("simulator", "estimate"):
        out_dir = tmp_path / odometry
        odometry_set = ["--set", "motion.student_odometry=" + odometry]
        # the estimator's fields are not repeated for the checkpoint: eval.py builds its network with them
        out = run(base + ["--exptid", "pytest_feedback", "--out", str(out_dir)] + odometry_set, logs, cwd)
        assert "--set policy.estimator_fields=[base_lin_vel]: its network is built with them" in out.stdout
        results[odometry] = json.loads((out_dir / "eval.json").read_text())
    summaries = {odometry: result["summary"] for odometry, result in results.items()}
    assert summaries["simulator"]["root_drift_m"] != summaries["estimate"]["root_drift_m"]
    assert "odometry" not in results["simulator"]  # the simulator's position: nothing dead-reckoned
    dead_reckoned_error = results["estimate"]["odometry"]["summary"]["odometry_error_m"]
    assert dead_reckoned_error > 0
    # the export (what the deploy servers dead-reckon with) gives the estimate eval.py integrates
    run(["bash", script("to_jit.sh"), "pytest_feedback", "g1_stu_rl"], logs, cwd)
    run_dir = logs / "g1_stu_rl" / "pytest_feedback"
    jit = torch.jit.load(str(run_dir / "traced" / "pytest_feedback-{}-jit.pt".format(ITERATIONS)))
    meta = json.loads((run_dir / "traced" / "pytest_feedback-{}.json".format(ITERATIONS)).read_text())
    assert meta["drift_feedback"]["pos_gain"] == 0.5  # TEACHER_SET's
    obs = torch.randn(4, 1155, generator=torch.Generator().manual_seed(3)) * 0.5
    expected = checkpoint_estimate(load(run_dir / "model_{}.pt".format(ITERATIONS)), obs)  # base_lin_vel only
    with torch.no_grad():
        torch.testing.assert_close(jit.base_velocity(obs), expected, atol=1e-5, rtol=1e-5)
    estimate = ["--set", "motion.student_odometry=estimate"]
    jit_dir = tmp_path / "estimate_jit"
    run(base + estimator + ["--exptid", "pytest_feedback", "--use_jit", "--out", str(jit_dir)] + estimate, logs, cwd)
    export_result = json.loads((jit_dir / "eval.json").read_text())
    from_export = export_result["summary"]
    for key in ("root_drift_m", "root_lag_m", "mpkpe_global_mm", "mpkpe_local_mm", "joint_error_rad"):
        assert from_export[key] == pytest.approx(summaries["estimate"][key], rel=1e-3, abs=1e-4), key
    # dead-reckoned there too (on this standing clip the drift alone may come within 1e-4 m of the simulator's)
    assert export_result["odometry"]["summary"]["odometry_error_m"] == pytest.approx(dead_reckoned_error, rel=1e-3)
    # motion.student_odometry=legs: the export's estimate checked against the legs' kinematics (the standing
    # robot's legs say about 0, what the untrained estimate hardly does), their share reported
    legs_dir = tmp_path / "legs_jit"
    legs = ["--set", "motion.student_odometry=legs"]
    out = run(base + estimator + ["--exptid", "pytest_feedback", "--use_jit", "--out", str(legs_dir)] + legs, logs, cwd)
    assert "the legs' velocity on" in out.stdout
    legs_odometry = json.loads((legs_dir / "eval.json").read_text())["odometry"]["summary"]
    assert 0.0 < legs_odometry["leg_velocity_share"] <= 1.0
    assert legs_odometry["odometry_error_m"] != pytest.approx(dead_reckoned_error, rel=1e-3)
    # the same export without its --set items repeated: eval.py adopts them from its metadata (the feedback and
    # its gains), dead-reckons with its estimate, and gets the same numbers
    bare = base[: base.index("--rand") + 2]
    adopted_dir = tmp_path / "estimate_jit_adopted"
    out = run(
        bare + estimator + ["--exptid", "pytest_feedback", "--use_jit", "--out", str(adopted_dir)] + estimate, logs, cwd
    )
    assert "--set motion.student_ref_correction=true" in out.stdout and "played with them" in out.stdout
    adopted = json.loads((adopted_dir / "eval.json").read_text())["summary"]
    for key in ("root_drift_m", "mpkpe_local_mm", "joint_error_rad"):
        assert adopted[key] == pytest.approx(from_export[key], rel=1e-4, abs=1e-6), key
    estimate += ["--out", str(tmp_path / "x")]
    out = run(base + ["--exptid", STUDENT] + estimate, logs, cwd, check=False)
    assert out.returncode == 1 and "estimates base_lin_vel" in out.stderr.strip().splitlines()[-1], out.stderr[-2000:]
    run(["bash", script("to_jit.sh"), STUDENT, "g1_stu_rl"], logs, cwd)
    out = run(base + ["--exptid", STUDENT, "--use_jit"] + estimate, logs, cwd, check=False)
    assert out.returncode == 1 and "method base_velocity" in out.stderr.strip().splitlines()[-1], out.stderr[-2000:]


def read_frames(path):
    import imageio

    reader = imageio.get_reader(str(path))
    try:
        return [np.asarray(f) for f in reader]
    finally:
        reader.close()


@pytest.fixture(scope="module")
def offscreen_gl():
    from legged_gym.scripts import render

    if os.environ.get("MUJOCO_GL"):
        ok, reason = render.probe_gl_backend(os.environ["MUJOCO_GL"])
        if not ok:
            pytest.skip("no offscreen OpenGL backend: " + reason)
        return os.environ["MUJOCO_GL"]
    backend, reasons = render.find_offscreen_backend()
    if backend is None and not render.has_display():
        pytest.skip("no offscreen OpenGL backend for MuJoCo: " + "; ".join(reasons))
    return backend


def test_play_records_a_video_of_the_teacher(teacher_run, logs, cwd, offscreen_gl):
    out = run(
        [
            "bash",
            script("play_teacher.sh"),
            TEACHER,
            "--steps",
            "12",
            "--sim",
            "mjwarp",
            "--device",
            "cpu",
            "--headless",
        ],
        logs,
        cwd,
    )
    # played without the teacher's observation setting: a warning names it (not the reward weight)
    warning = [ln for ln in out.stdout.splitlines() if ln.startswith("WARNING: ")]
    assert len(warning) == 1 and "--set motion.ref_correction.pos_gain=0.5;" in warning[0], out.stdout
    assert "tracking_root_vel" not in warning[0]
    video = logs / "videos" / "g1_priv_mimic-{}-{}.mp4".format(TEACHER, ITERATIONS)  # named after the checkpoint
    assert video.is_file() and video.stat().st_size > 0, out.stdout
    frames = read_frames(video)
    assert len(frames) == 12 and frames[0].shape == (960, 1440, 3)
    assert any(np.abs(f.astype(int) - frames[0].astype(int)).mean() > 0.5 for f in frames[1:])


def test_play_runs_the_exported_student(exported, logs, cwd, offscreen_gl):
    out = run(
        [
            "bash",
            script("play_student.sh"),
            STUDENT,
            TEACHER,
            "--use_jit",
            "--steps",
            "6",
            "--sim",
            "mjwarp",
            "--device",
            "cpu",
            "--headless",
            "--record_log",
        ],
        logs,
        cwd,
    )
    assert (
        "Loading exported model from {}".format(exported[0] / "{}-{}-jit.pt".format(STUDENT, ITERATIONS)) in out.stdout
    )
    # the exported model's video and log do not overwrite the checkpoint's (`...-<iteration>.mp4`)
    assert len(read_frames(logs / "videos" / "g1_stu_rl-{}-{}-jit.mp4".format(STUDENT, ITERATIONS))) == 6
    assert not (logs / "videos" / "g1_stu_rl-{}-{}.mp4".format(STUDENT, ITERATIONS)).exists()
    log = json.loads((logs / "env_logs" / "g1_stu_rl-{}-{}-jit.json".format(STUDENT, ITERATIONS)).read_text())
    assert len(log["steps"]) == 6 and len(log["steps"][0]["dof_pos"]) == 23


def test_eval_and_play_take_an_export_by_its_path(exported, logs, cwd, tmp_path):
    """--policy_path FILE: an export outside any run folder (as the shipped student is) is evaluated and played
    with no --exptid, with the numbers of the same export found through its run (--exptid --use_jit)."""
    own = tmp_path / "my_student.pt"
    own.write_bytes((exported[0] / "{}-{}-jit.pt".format(STUDENT, ITERATIONS)).read_bytes())
    base = [sys.executable, str(REPO_ROOT / "legged_gym/scripts/eval.py"), "--task", "g1_stu_rl", "--device", "cpu"]
    base += ["--sim", "mjwarp", "--motion_file", str(short_clip(tmp_path)), "--rand", "none"]
    run(base + ["--policy_path", str(own), "--out", str(tmp_path / "by_path")], logs, cwd)
    run(base + ["--exptid", STUDENT, "--use_jit", "--out", str(tmp_path / "by_run")], logs, cwd)
    by_path = json.loads((tmp_path / "by_path" / "eval.json").read_text())
    by_run = json.loads((tmp_path / "by_run" / "eval.json").read_text())
    assert by_path["checkpoint"] == str(own)
    for key in ("mpkpe_local_mm", "joint_error_rad", "root_drift_m", "completion"):
        assert by_path["summary"][key] == pytest.approx(by_run["summary"][key], rel=1e-4, abs=1e-6), key
    assert by_path["settings"] == []  # a defaults-trained student: nothing to adopt
    # an export whose metadata says it saw 5-tap reference velocities is evaluated with them
    from legged_gym.envs.mdp.layout import export_metadata_sidecar
    from legged_gym.scripts.save_jit_stu_rlbc import read_export_metadata

    windowed = tmp_path / "windowed" / "my_student.pt"
    windowed.parent.mkdir()
    windowed.write_bytes(own.read_bytes())
    export_metadata_sidecar(windowed).write_text(json.dumps(dict(read_export_metadata(own), vel_smooth_window=5)))
    out = run(base + ["--policy_path", str(windowed), "--out", str(tmp_path / "windowed_eval")], logs, cwd)
    assert "trained with --set motion.vel_smooth_window=5: played with them" in out.stdout
    assert json.loads((tmp_path / "windowed_eval" / "eval.json").read_text())["settings"] == [
        "motion.vel_smooth_window=5"
    ]
    out = run(
        base + ["--policy_path", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")], logs, cwd, check=False
    )
    assert out.returncode == 1 and "--policy_path {}: no such file".format(tmp_path / "missing.pt") in out.stderr
    play = [sys.executable, str(REPO_ROOT / "legged_gym/scripts/play.py"), "--task", "g1_stu_rl", "--policy_path"]
    out = run(
        play + [str(own), "--steps", "3", "--sim", "mjwarp", "--device", "cpu", "--headless", "--record_log"], logs, cwd
    )
    assert "Loading exported model from {}".format(own) in out.stdout
    log = json.loads((logs / "env_logs" / "g1_stu_rl-my_student.json").read_text())
    assert len(log["steps"]) == 3


def test_missing_teacher_checkpoint_names_the_path(logs, cwd, monkeypatch):
    out = run(
        ["bash", script("train_student.sh"), "pytest_orphan", "no_such_teacher", "cpu"] + SMALL, logs, cwd, check=False
    )
    assert out.returncode != 0
    expected = str(logs / "g1_priv_mimic" / "no_such_teacher" / "model_<latest>.pt")
    assert expected in out.stderr, out.stderr
    assert not (logs / "g1_stu_rl" / "pytest_orphan").exists()

    from legged_gym.gym_utils.task_registry import task_registry

    monkeypatch.setenv("LEGGED_GYM_LOG_DIR", str(logs))
    args = helpers.get_args(
        [
            "--task",
            "g1_stu_rl",
            "--teacher_exptid",
            "no_such_teacher",
            "--teacher_checkpoint",
            "7",
            "--teacher_proj_name",
            "other_proj",
            "--sim",
            "mjwarp",
        ]
    )
    with pytest.raises(FileNotFoundError, match=re.escape(str(logs / "other_proj" / "no_such_teacher" / "model_7.pt"))):
        task_registry.teacher_checkpoint(args)
    with pytest.raises(FileNotFoundError, match="--teacher_exptid"):
        task_registry.teacher_checkpoint(helpers.get_args(["--task", "g1_stu_rl", "--sim", "mjwarp"]))


def test_shell_scripts_print_their_usage(logs, cwd):
    for name, nargs in (
        ("train_teacher.sh", 2),
        ("train_student.sh", 3),
        ("to_jit.sh", 1),
        ("play_teacher.sh", 1),
        ("play_student.sh", 2),
    ):
        out = run(["bash", script(name)], logs, cwd, check=False)
        assert out.returncode == 2 and "usage: bash {}".format(name) in out.stderr


def test_log_root_follows_the_environment_variable_and_cli_overrides_the_train_cfg(tmp_path, monkeypatch):
    from legged_gym.gym_utils.task_registry import task_registry

    monkeypatch.delenv("LEGGED_GYM_LOG_DIR", raising=False)
    assert helpers.log_root() == os.path.join(helpers.LEGGED_GYM_ROOT_DIR, "logs")
    monkeypatch.setenv("LEGGED_GYM_LOG_DIR", str(tmp_path))
    assert helpers.experiment_dir("g1_stu_rl", "S1") == str(tmp_path / "g1_stu_rl" / "S1")

    task_registry.ensure_registered("g1_stu_rl")
    _, train_cfg = task_registry.get_cfgs("g1_stu_rl")
    args = helpers.get_args(
        [
            "--task",
            "g1_stu_rl",
            "--exptid",
            "S1",
            "--seed",
            "7",
            "--max_iterations",
            "3",
            "--resumeid",
            "S0",
            "--checkpoint",
            "100",
            "--sim",
            "mjwarp",
        ]
    )
    helpers.update_train_cfg_from_args(train_cfg, args)
    assert (
        train_cfg.seed,
        train_cfg.runner.max_iterations,
        train_cfg.runner.resume,
        train_cfg.runner.checkpoint,
        train_cfg.runner.run_name,
    ) == (7, 3, True, 100, "S1")
    assert task_registry.get_cfgs("g1_stu_rl")[1].runner.max_iterations == 30002  # the class is untouched
    # --resumeid S0 reads <log root>/<resume_proj_name or proj_name>/S0/model_100.pt
    (tmp_path / "other" / "S0").mkdir(parents=True)
    (tmp_path / "other" / "S0" / "model_100.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        task_registry.resume_checkpoint(args, train_cfg)
    args.resume_proj_name = "other"
    assert task_registry.resume_checkpoint(args, train_cfg) == tmp_path / "other" / "S0" / "model_100.pt"


def assert_one_line_error(out, expected, logs, exptid="pytest_mistake", proj="g1_priv_mimic"):
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1] == expected, out.stderr
    assert not (logs / proj / exptid).exists()  # a failed start leaves no run folder


def test_user_mistakes_end_with_one_line(logs, cwd, tmp_path):
    train = [sys.executable, script("legged_gym/scripts/train.py"), "--exptid", "pytest_mistake"] + SMALL
    csv = tmp_path / "walk.csv"
    csv.write_text("0\n")
    out = run(train + ["--device", "cpu", "--motion_file", str(csv)], logs, cwd, check=False)
    assert_one_line_error(
        out,
        "train.py: --motion_file {}: a .csv motion must be converted first: python -m "
        "pose.convert {} <clip.pkl or folder> (then pass the clip or the folder's "
        "manifest.yaml)".format(csv, csv),
        logs,
    )

    missing = tmp_path / "nowhere" / "twist.yaml"
    out = run(train + ["--device", "cpu", "--motion_file", str(missing)], logs, cwd, check=False)
    assert_one_line_error(out, "train.py: --motion_file {}: no such file".format(missing), logs)

    # a manifest naming a clip that does not exist: pose's MotionFileError, raised while building the env
    manifest = tmp_path / "broken.yaml"
    manifest.write_text("root_path: .\nmotions:\n  - file: gone.pkl\n    weight: 1.0\n")
    out = run(train + ["--device", "cpu", "--motion_file", str(manifest)], logs, cwd, check=False)
    assert_one_line_error(out, out.stderr.strip().splitlines()[-1], logs)
    assert out.stderr.strip().splitlines()[-1].startswith("train.py: ")
    assert str(tmp_path / "gone.pkl") in out.stderr
    # --debug: the same mistake with its traceback
    out = run(train + ["--device", "cpu", "--motion_file", str(manifest), "--debug"], logs, cwd, check=False)
    assert out.returncode != 0 and "Traceback" in out.stderr and "MotionFileError" in out.stderr

    # --set: a setting that does not exist, and one of the train config with a value of the wrong type
    out = run(
        train + ["--device", "cpu", "--set", "motion.adaptive_sampling=true", "--set", "motoin.x=1"],
        logs,
        cwd,
        check=False,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("train.py: --set motoin.x=1: no settings group 'motoin'")
    out = run(train + ["--device", "cpu", "--set", "algorithm.learning_rate=fast"], logs, cwd, check=False)
    assert_one_line_error(
        out,
        "train.py: --set algorithm.learning_rate=fast: expected a float like the current value 0.0002, got 'fast'",
        logs,
    )

    out = run(train + ["--device", "cpu", "--eval_student"], logs, cwd, check=False)
    assert_one_line_error(
        out,
        "train.py: --eval_student: task 'g1_priv_mimic' has no teacher (only student tasks "
        "such as g1_stu_rl train with a DAgger term)",
        logs,
    )

    if not torch.cuda.is_available():
        out = run(train + ["--device", "cuda:0"], logs, cwd, check=False)
        assert_one_line_error(
            out, "train.py: --device cuda:0: CUDA is not available on this machine; use --device cpu", logs
        )
        play = [sys.executable, script("legged_gym/scripts/play.py"), "--exptid", "pytest_mistake", "--sim", "mjwarp"]
        out = run(play + ["--device", "cuda:0"], logs, cwd, check=False)
        assert_one_line_error(
            out, "play.py: --device cuda:0: CUDA is not available on this machine; use --device cpu", logs
        )


def test_resuming_a_student_against_another_teacher_stops(teacher_run, student_run, logs, cwd):
    other = logs / "g1_priv_mimic" / "pytest_other_teacher"
    other.mkdir()
    ckpt = load(teacher_run[0] / "model_{}.pt".format(ITERATIONS))
    ckpt["model_state_dict"]["std"] = ckpt["model_state_dict"]["std"] + 0.1
    ckpt["iter"] = 5
    torch.save(ckpt, str(other / "model_5.pt"))
    student_ckpt = student_run[0] / "model_{}.pt".format(ITERATIONS)
    recorded = load(student_ckpt)["teacher"]
    assert recorded["path"] == str(teacher_run[0] / "model_{}.pt".format(ITERATIONS)) and recorded["iter"] == ITERATIONS

    out = run(
        [
            sys.executable,
            script("legged_gym/scripts/train.py"),
            "--task",
            "g1_stu_rl",
            "--exptid",
            "pytest_student_2",
            "--resumeid",
            STUDENT,
            "--teacher_exptid",
            "pytest_other_teacher",
            "--device",
            "cpu",
        ]
        + SMALL,
        logs,
        cwd,
        check=False,
    )
    line = out.stderr.strip().splitlines()[-1]
    assert_one_line_error(out, line, logs, exptid="pytest_student_2", proj="g1_stu_rl")
    assert line.startswith(
        "train.py: {} was trained against teacher {} (iteration {}, sha256 {})".format(
            student_ckpt, recorded["path"], ITERATIONS, recorded["sha256"][:12]
        )
    ), line
    assert "this run loads teacher {} (iteration 5, ".format(other / "model_5.pt") in line
    assert line.endswith("pass --allow_teacher_change to continue with the new teacher")


def test_play_output_names_carry_the_checkpoint():
    from legged_gym.scripts import play

    assert play.output_stem("g1_stu_rl", "S1", Path("/l/g1_stu_rl/S1/model_500.pt"), False) == "g1_stu_rl-S1-500"
    assert (
        play.output_stem("g1_stu_rl", "S1", Path("/l/g1_stu_rl/S1/traced/S1-500-jit.pt"), True)
        == "g1_stu_rl-S1-500-jit"
    )
    # --policy_path without --exptid: the model file's name
    assert play.output_stem("g1_stu_rl", None, Path("assets/twist_general_motion_tracker.pt"), True) == (
        "g1_stu_rl-twist_general_motion_tracker"
    )


def test_play_records_10_s_of_video_also_headless():
    """A video lasts the recording episode (10 s: 500 steps), whatever the env's episode length: with
    --headless that is the longest clip's (here 8 s), without it 10 s; --record_log alone records one env
    episode, plain play 100."""
    from argparse import Namespace

    from legged_gym.scripts import play

    def steps(record_video, record_log, max_episode_length):
        args = Namespace(record_video=record_video, record_log=record_log)
        return play.default_steps(args, 10.0, max_episode_length, 0.02)

    assert steps(True, False, 400) == steps(True, True, 400) == steps(True, False, 500) == 500
    assert steps(False, True, 400) == 400 and steps(False, False, 400) == 40000


@pytest.mark.parametrize("infos", [None, {"set": []}, {"set": ["motion.ref_correction.pos_gain=1.0"]}])
def test_play_warns_only_about_recorded_env_settings_it_does_not_repeat(tmp_path, capsys, infos):
    from argparse import Namespace

    ckpt = tmp_path / "model_1.pt"
    # a checkpoint's entries that every reader needs, and infos (TWIST's checkpoints hold infos None)
    torch.save({"model_state_dict": {}, "normalizer": {}, "infos": infos}, str(ckpt))
    helpers.warn_unrepeated_settings(ckpt, Namespace(task="g1_priv_mimic", overrides=[]))
    out = capsys.readouterr().out
    if infos and infos["set"]:
        assert out.startswith("WARNING: {} was trained with --set motion.ref_correction.pos_gain=1.0;".format(ckpt))
    else:
        assert out == ""
    helpers.warn_unrepeated_settings(
        ckpt, Namespace(task="g1_priv_mimic", overrides=["motion.ref_correction.pos_gain=1.0"])
    )
    assert capsys.readouterr().out == ""


def _save_export(path, meta):
    """A TorchScript file with export metadata inside, as save_jit_stu_rlbc.py writes it (None: TWIST's, without)."""
    from legged_gym.envs.mdp.layout import EXPORT_METADATA_FILE

    extra = {} if meta is None else {EXPORT_METADATA_FILE: json.dumps(meta)}
    torch.jit.script(torch.nn.Identity()).save(str(path), _extra_files=extra)


def test_export_settings_are_the_inverse_of_the_metadata():
    from legged_gym.scripts import save_jit_stu_rlbc as export

    for trained in (
        [],
        ["motion.student_relative_ref_yaw=true", "motion.vel_smooth_window=5"],
        [
            "motion.student_ref_correction=true",
            "motion.ref_correction.pos_gain=2.0",
            "motion.ref_correction.yaw_gain=0.5",
        ],
    ):
        meta = {
            "reference_yaw": export.reference_yaw(trained),
            "vel_smooth_window": export.vel_smooth_window(trained),
            "drift_feedback": export.drift_feedback(trained),
        }
        items = export.export_settings(meta)
        assert export.reference_yaw(items) == meta["reference_yaw"]
        assert export.vel_smooth_window(items) == meta["vel_smooth_window"]
        assert export.drift_feedback(items) == meta["drift_feedback"]
    assert export.export_settings({}) == []  # an export without these keys stands for nothing


def test_play_of_an_export_adopts_the_observation_it_was_trained_with(tmp_path, capsys):
    """play.py / eval.py --use_jit: the export's observation settings (its metadata) that the command leaves
    out join its --set items, named in one line; a --set of the command that contradicts one wins, warned."""
    from argparse import Namespace

    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicStuRLCfg
    from legged_gym.envs.mdp.drift_feedback import SETTINGS
    from legged_gym.scripts import play

    defaults = G1MimicStuRLCfg.motion.ref_correction
    feedback = {k: float(getattr(defaults, k)) for k in SETTINGS}
    feedback.update(pos_gain=2.0, yaw_gain=2.0)
    assert float(defaults.pos_gain) != 2.0 and float(defaults.yaw_gain) != 2.0
    assert not G1MimicStuRLCfg.motion.student_relative_ref_yaw and G1MimicStuRLCfg.motion.vel_smooth_window != 5
    meta = {"reference_yaw": "relative", "vel_smooth_window": 5, "drift_feedback": feedback}
    model = tmp_path / "S1-100-jit.pt"
    _save_export(model, meta)
    expected = [
        "motion.student_relative_ref_yaw=true",
        "motion.vel_smooth_window=5",
        "motion.student_ref_correction=true",
        "motion.ref_correction.pos_gain=2.0",
        "motion.ref_correction.yaw_gain=2.0",
    ]
    args = Namespace(task="g1_stu_rl", overrides=["motion.vel_smooth_window=5", "domain_rand.push_robots=false"])
    play.adopt_export_settings(model, args)
    adopted = [item for item in expected if item != "motion.vel_smooth_window=5"]  # given already
    assert args.overrides == adopted + ["motion.vel_smooth_window=5", "domain_rand.push_robots=false"]
    assert (
        capsys.readouterr().out
        == "{} was exported from a student trained with {}: played with them (a --set of this command would win)\n".format(
            model, " ".join("--set " + item for item in adopted)
        )
    )
    args = Namespace(task="g1_stu_rl", overrides=list(expected))
    play.adopt_export_settings(model, args)
    assert args.overrides == expected and capsys.readouterr().out == ""
    # the JSON beside the model wins, as on the deploy servers: without the feedback there, a command with it is
    # warned and keeps it
    side = dict(meta, drift_feedback=None)
    (tmp_path / "S1-100.json").write_text(json.dumps(side))
    args = Namespace(task="g1_stu_rl", overrides=list(expected))
    play.adopt_export_settings(model, args)
    out = capsys.readouterr().out
    assert args.overrides == expected
    assert out.startswith(
        "WARNING: {} was exported from a student trained with --set motion.student_ref_correction=false;".format(model)
    ), out
    twist = tmp_path / "twist-jit.pt"
    _save_export(twist, None)
    args = Namespace(task="g1_stu_rl", overrides=[])
    play.adopt_export_settings(twist, args)
    assert capsys.readouterr().out == "" and args.overrides == []
    (tmp_path / "S1-100.json").write_text("[1, 2")  # a broken copy beside the model is named, not skipped
    with pytest.raises(ValueError, match=r"S1-100.json: the export metadata is not JSON"):
        play.adopt_export_settings(model, Namespace(task="g1_stu_rl", overrides=[]))


def test_a_checkpoint_is_played_with_the_observation_it_was_trained_with(capsys):
    """Of a checkpoint's recorded --set items, those that shape the student's observation (the settings its
    export would carry) are adopted; the others (rewards, a termination) only warned about."""
    from argparse import Namespace

    from legged_gym.scripts import play
    from legged_gym.scripts.save_jit_stu_rlbc import observation_settings

    trained = ["motion.student_relative_ref_yaw=true", "termination.max_root_drift=1.2", "motion.vel_smooth_window=5"]
    items = observation_settings(trained)
    assert "motion.student_relative_ref_yaw=true" in items and "motion.vel_smooth_window=5" in items
    assert not any(item.startswith("termination.") for item in items)
    args = Namespace(task="g1_stu_rl", overrides=[])
    play.adopt_trained_settings(items, args, "S was trained")
    assert args.overrides == ["motion.student_relative_ref_yaw=true", "motion.vel_smooth_window=5"]
    assert capsys.readouterr().out.startswith(
        "S was trained with --set motion.student_relative_ref_yaw=true --set motion.vel_smooth_window=5: played"
    )


def test_a_checkpoint_is_played_with_the_network_it_was_trained_with(capsys):
    """Of a checkpoint's recorded --set items, those that shape its network (`play.NETWORK_SETTINGS`) and
    that the command does not set are adopted; one the command sets keeps the command's value; training-only
    policy items and settings this task does not have (a setting renamed since) are left out."""
    from argparse import Namespace

    from legged_gym.scripts import play

    trained = ["policy.estimator_fields=[base_lin_vel]", "motion.vel_smooth_window=5", "policy.init_noise_std=0.5"]
    trained += ["policy.init_std_from_teacher=true", "policy.renamed_since=[1]", "policy.estimator_hidden_dims=[64]"]
    args = Namespace(task="g1_stu_rl", overrides=["policy.estimator_hidden_dims=[32]"])
    play.adopt_network_settings(trained, args, "S was trained")
    assert args.overrides == ["policy.estimator_fields=[base_lin_vel]", "policy.estimator_hidden_dims=[32]"]
    assert capsys.readouterr().out == (
        "S was trained with --set policy.estimator_fields=[base_lin_vel]: its network is built with them\n"
        "WARNING: S was trained with --set policy.estimator_hidden_dims=[64]; this command gives --set "
        "policy.estimator_hidden_dims=[32] instead, which is used: the weights may not load into that network, "
        "or act otherwise than in training.\n"
    )
    # the same value given again (1 and 1.0 agree as values) is neither adopted twice nor warned about
    args = Namespace(task="g1_stu_rl", overrides=["policy.action_std=1"])
    play.adopt_network_settings(["policy.action_std=1.0"], args, "S was trained")
    assert args.overrides == ["policy.action_std=1"]
    assert capsys.readouterr().out == ""
    play.adopt_network_settings(["motion.vel_smooth_window=5"], args, "S was trained")
    assert capsys.readouterr().out == ""


def test_student_teacher_gap_plays_a_clip_with_either_policy_acting(student_run, logs, cwd, tmp_path):
    gap = [sys.executable, script("bench/student_teacher_gap.py"), "--task", "g1_stu_rl", "--exptid", STUDENT]
    gap += ["--teacher_exptid", TEACHER, "--device", "cpu", "--sim", "mjwarp", "--num_envs", "2", "--seconds", "0.3"]
    results = {}
    for actor in ("student", "teacher"):
        out_file = tmp_path / "{}.json".format(actor)
        run(gap + ["--actor", actor, "--out", str(out_file)], logs, cwd)
        results[actor] = json.loads(out_file.read_text())
        assert out_file.with_suffix(".png").is_file()
    student, teacher = results["student"], results["teacher"]
    assert student["teacher_checkpoint"] == str(logs / "g1_priv_mimic" / TEACHER / "model_{}.pt".format(ITERATIONS))
    assert 1 <= len(student["steps"]) <= round(0.3 / student["dt_s"])
    # step 0 is measured on the reset state, before either policy acted: the same for both actors
    assert student["steps"][0] == teacher["steps"][0]
    assert student["steps"][0]["root_displacement_m"] == 0.0
    assert all(row["gap"] >= row["gap_legs"] >= 0.0 for row in student["steps"])
    # the mean displacement vector (start's heading frame) is no longer than the mean distance
    assert all(
        math.hypot(r["root_forward_m"], r["root_left_m"]) <= r["root_displacement_m"] + 1e-4 for r in student["steps"]
    )
    assert list(student["joint_bias"]) == list(load_g1().dof_names)
    # the actor drives the robot: after a few steps the two trajectories part
    assert student["steps"][-1]["root_displacement_m"] != teacher["steps"][-1]["root_displacement_m"]

    out = run(gap + ["--clip", "moonwalk", "--out", str(tmp_path / "x.json")], logs, cwd, check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith("student_teacher_gap.py: --clip moonwalk: not in the motion file")
    )
