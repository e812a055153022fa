"""legged_gym/scripts/eval.py end to end on CPU (mjwarp on warp's CPU device): a teacher trained for one
iteration, evaluated on two 1-s clips cut from the embedded motion set (K = 1 env per clip): eval.json,
eval.png, the console tables (--compare); and the env pieces it relies on: `reset_to_motions` and the
privileged info of the nominal physics with --rand none.

Runs write under a temporary log root (LEGGED_GYM_LOG_DIR), as in test_scripts.py.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco_warp")

from conftest import REPO_ROOT  # noqa: E402

TEACHER = "pytest_eval_teacher"
CLIPS = ("stand", "squat")
CLIP_SECONDS = 1.0


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("eval_logs")


@pytest.fixture(scope="module")
def short_motions(tmp_path_factory):
    """Manifest of the first CLIP_SECONDS of two embedded clips."""
    from pose.formats import load_clip, motion_sources, save_clip, write_manifest
    from pose.synth import default_motion_file

    out = tmp_path_factory.mktemp("short_motions")
    sources = {entry.file.stem: entry.file for entry in motion_sources(default_motion_file())}
    files = []
    for name in CLIPS:
        clip = load_clip(sources[name])
        n = int(round(CLIP_SECONDS * clip["fps"])) + 1
        for key in ("root_pos", "root_rot", "dof_pos", "local_body_pos"):
            clip[key] = clip[key][:n]
        save_clip(out / (name + ".pkl"), clip)
        files.append(name + ".pkl")
    return write_manifest(out / "manifest.yaml", files)


def run(cmd, logs, check=True, timeout=900):
    env = dict(os.environ, LEGGED_GYM_LOG_DIR=str(logs))
    out = subprocess.run(cmd, cwd=str(logs), env=env, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(
            "{} failed ({}):\n{}\n{}".format(
                " ".join(map(str, cmd)), out.returncode, out.stdout[-3000:], out.stderr[-5000:]
            )
        )
    return out


@pytest.fixture(scope="module")
def teacher(logs, short_motions):
    run(
        [
            sys.executable,
            str(REPO_ROOT / "legged_gym/scripts/train.py"),
            "--task",
            "g1_priv_mimic",
            "--exptid",
            TEACHER,
            "--device",
            "cpu",
            "--sim",
            "mjwarp",
            "--num_envs",
            "2",
            "--max_iterations",
            "1",
            "--motion_file",
            str(short_motions),
        ],
        logs,
    )
    return logs / "g1_priv_mimic" / TEACHER


def eval_cmd(short_motions, out_dir, *extra):
    return [
        sys.executable,
        str(REPO_ROOT / "legged_gym/scripts/eval.py"),
        "--task",
        "g1_priv_mimic",
        "--exptid",
        TEACHER,
        "--device",
        "cpu",
        "--sim",
        "mjwarp",
        "--motion_file",
        str(short_motions),
        "--num_envs_per_clip",
        "1",
        "--out",
        str(out_dir),
    ] + list(extra)


def check_metrics(row):
    from legged_gym.scripts.eval_report import METRIC_KEYS

    assert set(METRIC_KEYS) <= set(row), row
    assert all(np.isfinite(row[k]) for k in METRIC_KEYS), row
    assert 0.0 <= row["success_rate"] <= 1.0 and 0.0 < row["completion"] <= 1.0
    for key in METRIC_KEYS[2:]:
        assert key == "root_lag_m" or row[key] >= 0.0, (key, row)  # the lag is signed
    # the drift's parts: per env lag^2 + lateral^2 = drift^2, so neither mean exceeds the drift's
    assert (
        abs(row["root_lag_m"]) <= row["root_drift_m"] + 1e-6
        and row["root_drift_lateral_m"] <= row["root_drift_m"] + 1e-6
    )
    # errors in their units: millimetres for positions, a policy of one iteration is off but not by 10 m
    assert row["mpkpe_global_mm"] < 10000.0 and row["mpkpe_local_mm"] < 10000.0
    assert row["joint_error_rad"] < 3.0 and row["root_drift_m"] < 10.0
    assert row["root_heading_error_rad"] <= math.pi + 1e-6  # wrapped


def test_eval_writes_scores_plot_and_comparison(teacher, logs, short_motions, tmp_path):
    from legged_gym.scripts.eval_report import METRIC_KEYS

    out = run(eval_cmd(short_motions, tmp_path / "play"), logs)
    result = json.loads((tmp_path / "play" / "eval.json").read_text())
    assert (tmp_path / "play" / "eval.png").stat().st_size > 0
    for key in ("summary", "clips", "command", "date", "checkpoint", "task", "rand"):
        assert key in result
    assert result["task"] == "g1_priv_mimic" and result["rand"] == "play"
    assert result["checkpoint"].endswith(os.path.join(TEACHER, "model_1.pt"))
    assert [(c["clip"], c["name"]) for c in result["clips"]] == list(enumerate(CLIPS))
    for row in result["clips"] + [result["summary"]]:
        check_metrics(row)
    for row in result["clips"]:  # K = 1: success is 0 or 1, and a success played the whole clip
        assert row["success_rate"] in (0.0, 1.0)
        if row["success_rate"] == 1.0:
            assert row["completion"] == 1.0
    for key in METRIC_KEYS:
        assert result["summary"][key] == pytest.approx(np.mean([c[key] for c in result["clips"]]))
    for row in result["clips"] + [result["summary"]]:  # 1-s clips: the drift x 10 s / 1 s
        assert row["root_drift_per_10s_m"] == pytest.approx(10.0 * row["root_drift_m"], rel=1e-5)
    assert result["checkpoint_iteration"] == 1
    table = out.stdout
    assert "mean" in table and all(name in table for name in CLIPS)

    # --rand none against the first run: the comparison table
    out = run(eval_cmd(short_motions, tmp_path / "none", "--rand", "none", "--compare", str(tmp_path / "play")), logs)
    other = json.loads((tmp_path / "none" / "eval.json").read_text())
    assert other["rand"] == "none"
    for row in other["clips"] + [other["summary"]]:
        check_metrics(row)
    lines = out.stdout.splitlines()
    header = ["metric", "this", "other", "difference", "ratio", "in_25pct", "noise", "beyond"]
    head = [i for i, line in enumerate(lines) if line.split() == header]
    assert len(head) == 1, out.stdout
    rows = {line.split()[0]: line.split()[1:] for line in lines[head[0] + 2 : head[0] + 2 + len(METRIC_KEYS)]}
    assert set(rows) == set(METRIC_KEYS), out.stdout
    stored = other["compared_with"]
    assert stored["file"] == str(tmp_path / "play" / "eval.json") and stored["tolerance"] == 0.25
    warning = "WARNING: --rand none against --rand play: other randomisation"
    assert stored["warnings"] == [warning] and warning in lines and stored["shared_rows"] is None
    # one env per clip: no spread to estimate the noise from
    assert all(v is None for v in other["summary_standard_error"].values())
    assert "standard error" not in out.stdout
    for key, (this, that, diff, ratio, within, noise, beyond) in rows.items():
        assert (noise, beyond) == ("-", "-") and stored["metrics"][key]["beyond_noise"] is None
        a, b = other["summary"][key], result["summary"][key]
        assert float(this) == pytest.approx(a, abs=1e-3)
        assert float(that) == pytest.approx(b, abs=1e-3)
        assert float(diff) == pytest.approx(float(this) - float(that), abs=2e-3)
        assert ratio == ("-" if b == 0 else "{:.3f}".format(a / b))
        # the student target: success and completion at least 0.75 x, errors at most 1.25 x the other's;
        # the drift's parts (lag, lateral) and the drift per 10 s are not judged, the drift is
        ok = a >= 0.75 * b if key in ("success_rate", "completion") else a <= 1.25 * b
        if key in ("root_drift_per_10s_m", "root_lag_m", "root_drift_lateral_m"):
            ok = None
        assert within == {True: "yes", False: "no", None: "-"}[ok]
        assert stored["metrics"][key]["within_tolerance"] is ok and stored["metrics"][key]["other"] == b


def test_clips_from_several_folders_are_also_summarised_per_folder(tmp_path):
    from legged_gym.scripts.eval import summarize
    from legged_gym.scripts.eval_report import METRIC_KEYS, format_table

    names = ["a1", "a2", "b1"]
    files = [
        str(tmp_path / "set/embedded/a1.pkl"),
        str(tmp_path / "set/embedded/a2.pkl"),
        str(tmp_path / "set/lafan/b1.pkl"),
    ]
    clip_of_env = torch.tensor([0, 0, 1, 1, 2, 2])
    values = torch.tensor([1.0, 3.0, 5.0, 7.0, 10.0, 20.0])  # clip means 2, 6, 15
    per_env = {key: values * (k + 1) for k, key in enumerate(METRIC_KEYS)}
    result = summarize(per_env, clip_of_env, names, files)
    assert list(result["groups"]) == ["embedded", "lafan"]
    for k, key in enumerate(METRIC_KEYS):
        assert result["groups"]["embedded"][key] == pytest.approx(4.0 * (k + 1))  # mean of 2 and 6
        assert result["groups"]["lafan"][key] == pytest.approx(15.0 * (k + 1))
        assert result["summary"][key] == pytest.approx(23.0 / 3.0 * (k + 1))
    assert result["groups"]["embedded"]["clips"] == 2 and result["groups"]["lafan"]["clips"] == 1
    table = format_table(result)
    assert "embedded/ (2)" in table and "lafan/ (1)" in table
    assert "groups" not in summarize(
        per_env, clip_of_env, names, [str(tmp_path / f) for f in ("x.pkl", "y.pkl", "z.pkl")]
    )


def test_summary_over_clips_median_p90_and_max_of_the_clip_means():
    from legged_gym.scripts.eval import summarize
    from legged_gym.scripts.eval_report import METRIC_KEYS, format_table

    clip_means = [0.1, 0.2, 0.15, 1.7, 0.3, 0.25]  # one heavy clip carries the mean
    clip_of_env = torch.arange(6).repeat_interleave(2)
    drift = torch.tensor([[m - 0.05, m + 0.05] for m in clip_means]).flatten()
    gap = torch.tensor([float("nan")] * 2 + [1.0] * 10)  # the first clip unmeasured: left out
    per_env = dict({key: drift for key in METRIC_KEYS}, mpkpe_local_mm=gap)
    result = summarize(per_env, clip_of_env, list("abcdef"))
    spread = result["summary_over_clips"]["root_drift_m"]
    assert spread["median"] == pytest.approx(np.percentile(clip_means, 50))
    assert spread["p90"] == pytest.approx(np.percentile(clip_means, 90))
    assert spread["max"] == pytest.approx(1.7)
    assert spread["median"] < result["summary"]["root_drift_m"] < spread["p90"]
    assert result["summary_over_clips"]["mpkpe_local_mm"] == pytest.approx({"median": 1.0, "p90": 1.0, "max": 1.0})
    none = summarize({"m": torch.full((2,), float("nan"))}, torch.tensor([0, 1]), ["a", "b"], keys=("m",))
    assert none["summary_over_clips"] == {"m": None}
    rows = {line[5:18].strip(): line for line in format_table(result).splitlines()}  # index 4 + 1, name 13
    assert "{:.3f}".format(spread["median"]) in rows["median clip"]
    assert "{:.3f}".format(spread["p90"]) in rows["90th pct clip"]


def test_summary_standard_errors_come_from_the_spread_between_a_clips_envs():
    from legged_gym.scripts.eval import summarize
    from legged_gym.scripts.eval_report import METRIC_KEYS, format_table

    clip_of_env = torch.tensor([0, 0, 0, 1, 1, 1])
    success = torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    error = torch.tensor([1.0, 2.0, 4.0, 10.0, float("nan"), 14.0])  # clip 1: two finite values
    lonely = torch.tensor([1.0, float("nan"), float("nan"), 3.0, 5.0, 7.0])  # clip 0: one finite value
    per_env = dict({key: error for key in METRIC_KEYS}, success_rate=success, root_drift_m=lonely)
    result = summarize(per_env, clip_of_env, ["a", "b"])
    se = result["summary_standard_error"]
    var_a = np.var([1.0, 0.0, 1.0], ddof=1)  # the second clip's envs all succeed: no spread
    assert se["success_rate"] == pytest.approx(math.sqrt(var_a / 3) / 2)
    assert se["mpkpe_local_mm"] == pytest.approx(math.sqrt(np.var([1.0, 2.0, 4.0], ddof=1) / 3 + 8.0 / 2) / 2)
    assert se["root_drift_m"] is None  # a clip with one value has no spread to measure
    assert result["summary"]["mpkpe_local_mm"] == pytest.approx((7.0 / 3 + 12.0) / 2)
    table = format_table(result)
    se_row = [line for line in table.splitlines() if "standard error" in line]
    assert len(se_row) == 1 and "{:.3f}".format(se["mpkpe_local_mm"]) in se_row[0]
    # one env per clip: nothing to estimate
    one = summarize({"success_rate": success[:2]}, torch.tensor([0, 1]), ["a", "b"], keys=("success_rate",))
    assert one["summary_standard_error"] == {"success_rate": None}
    # an unmeasured clip (all NaN: no value, left out of the mean) is left out of the standard error too
    gap = summarize(
        {"m": torch.tensor([float("nan"), float("nan"), 2.0, 4.0])}, torch.tensor([0, 0, 1, 1]), ["a", "b"], keys=("m",)
    )
    assert gap["summary"]["m"] == pytest.approx(3.0)
    assert gap["summary_standard_error"]["m"] == pytest.approx(math.sqrt(2.0 / 2))


def test_comparison_says_whether_a_difference_is_beyond_the_noise():
    from legged_gym.scripts.eval_report import compare_summaries, format_comparison

    def run(success, se):
        return {"summary": {"success_rate": success}, "summary_standard_error": {"success_rate": se}}

    base = run(0.85, 0.012)
    far, near = compare_summaries(run(0.90, 0.016), base), compare_summaries(run(0.87, 0.016), base)
    assert far["success_rate"]["difference_standard_error"] == pytest.approx(0.02)  # hypot(0.016, 0.012)
    assert far["success_rate"]["beyond_noise"] is True  # 0.05 > 2 x 0.02
    assert near["success_rate"]["beyond_noise"] is False  # 0.02 < 0.04
    row = [line.split() for line in format_comparison(run(0.90, 0.016), base, "base").splitlines()]
    assert ["success_rate", "0.900", "0.850", "+0.050", "1.059", "yes", "0.040", "yes"] in row
    # an eval.json without standard errors (K = 1, or written before them)
    old = compare_summaries(run(0.90, 0.016), {"summary": {"success_rate": 0.85}})
    assert old["success_rate"]["difference_standard_error"] is None and old["success_rate"]["beyond_noise"] is None
    assert old["success_rate"]["difference"] == pytest.approx(0.05)


def test_eval_usage_errors(logs, tmp_path):
    out = run(
        [
            sys.executable,
            str(REPO_ROOT / "legged_gym/scripts/eval.py"),
            "--exptid",
            "nothing_here",
            "--device",
            "cpu",
            "--sim",
            "mjwarp",
            "--out",
            str(tmp_path),
        ],
        logs,
        check=False,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("eval.py: "), out.stderr
    out = run(
        [
            sys.executable,
            str(REPO_ROOT / "legged_gym/scripts/eval.py"),
            "--exptid",
            "x",
            "--device",
            "cpu",
            "--sim",
            "mjwarp",
            "--out",
            str(tmp_path),
            "--compare",
            str(tmp_path / "none"),
        ],
        logs,
        check=False,
    )
    assert out.returncode == 1 and "--compare" in out.stderr


def test_true_estimate_needs_a_checkpoint_with_a_state_estimator(logs, tmp_path):
    """--true_estimate: refused with an exported model (which reads its own estimate) before anything is
    built, and for a checkpoint without a state estimator (the runner's ValueError as a usage error); the
    actor is given the env's privileged observation of the moment it acts."""
    from legged_gym.gym_utils.helpers import UsageError
    from legged_gym.scripts.eval import truth_reading_policy

    out = run(
        [sys.executable, str(REPO_ROOT / "legged_gym/scripts/eval.py"), "--policy_path", str(tmp_path / "x.pt")]
        + ["--true_estimate", "--device", "cpu", "--sim", "mjwarp", "--out", str(tmp_path)],
        logs,
        check=False,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "--true_estimate: needs a checkpoint" in out.stderr.strip().splitlines()[-1], out.stderr

    class Runner:
        def __init__(self, has_estimator):
            self.has_estimator = has_estimator

        def get_inference_policy_reading_truth(self, device):
            if not self.has_estimator:
                raise ValueError("this policy has no state estimator")
            return lambda obs, critic_obs: obs + critic_obs

    class Env:
        device = "cpu"
        privileged = torch.zeros(2, 3)

        def get_privileged_observations(self):
            return self.privileged

    env = Env()
    policy = truth_reading_policy(Runner(True), env)
    env.privileged = torch.full((2, 3), 5.0)  # the observation of the step the policy acts on
    torch.testing.assert_close(policy(torch.ones(2, 3)), torch.full((2, 3), 6.0))
    with pytest.raises(UsageError, match="--true_estimate: this policy has no state estimator"):
        truth_reading_policy(Runner(False), env)


def test_reset_to_motions_and_nominal_privileged_info(short_motions):
    """--rand none: the robot starts on frame 0 of the given clip, and the privileged block holds the
    nominal physics (friction of the model, no added mass, motor strength 1), not zeros."""
    from legged_gym.envs.mdp.layout import LAYOUT
    from legged_gym.gym_utils.helpers import get_args
    from legged_gym.gym_utils.task_registry import task_registry
    from legged_gym.scripts.eval import configure_env_cfg

    env_cfg, _ = task_registry.get_cfgs("g1_priv_mimic")
    configure_env_cfg(env_cfg, "none", 2)
    args = get_args(
        ["--task", "g1_priv_mimic", "--device", "cpu", "--sim", "mjwarp", "--motion_file", str(short_motions)]
    )
    env, _ = task_registry.make_env("g1_priv_mimic", args, env_cfg)
    ids = torch.tensor([1, 0])
    env.reset_to_motions(env.all_env_ids, ids)
    assert env._motion_ids.tolist() == [1, 0] and env._motion_time_offsets.tolist() == [0.0, 0.0]
    assert env.episode_length_buf.tolist() == [0, 0]
    root_pos, root_rot = env._motion_lib.calc_motion_frame(ids, torch.zeros(2))[:2]
    expected = root_pos + env.episode_init_origin
    torch.testing.assert_close(env._ref_root_pos, expected)
    torch.testing.assert_close(env.root_states[:, 0:2], expected[:, 0:2], atol=1e-5, rtol=0)  # no xy noise
    torch.testing.assert_close(env.root_states[:, 3:7], root_rot, atol=1e-5, rtol=0)
    torch.testing.assert_close(env.dof_pos, env._ref_dof_pos, atol=1e-5, rtol=0)  # no joint noise

    priv = env.privileged_obs_buf[:, LAYOUT.teacher.slices["priv_info"]]
    s = LAYOUT.priv_info.slices
    assert priv.abs().sum() > 0
    torch.testing.assert_close(priv[:, s["root_z"]], env.root_states[:, 2:3])
    friction = env.sim.friction if hasattr(env.sim, "friction") else torch.ones(2)
    torch.testing.assert_close(priv[:, s["friction"]].flatten(), friction.flatten().float())
    assert priv[:, s["mass_params"]].abs().max() == 0 and priv[:, s["kp_strength"]].abs().max() == 0
    assert priv[:, s["kd_strength"]].abs().max() == 0

    # the step errors at the reset state: on the reference (0.05 m above it), joints exact
    from legged_gym.scripts.eval import env_step_errors

    errors = env_step_errors(env)
    torch.testing.assert_close(errors["kb_world"], torch.full((2,), 0.05), atol=2e-3, rtol=0)
    torch.testing.assert_close(errors["all_world"], torch.full((2,), 0.05), atol=2e-3, rtol=0)
    assert errors["kb_local"].max() < 2e-3 and errors["all_local"].max() < 2e-3
    assert errors["joint"].max() < 1e-5


def make_eval_env(short_motions, task="g1_priv_mimic", configure=None, **termination):
    """An env as eval.py makes it (--rand none, one env per clip); `configure(env_cfg)` changes more."""
    from legged_gym.gym_utils.helpers import get_args
    from legged_gym.gym_utils.task_registry import task_registry
    from legged_gym.scripts.eval import configure_env_cfg

    env_cfg, _ = task_registry.get_cfgs(task)
    configure_env_cfg(env_cfg, "none", 2)
    for key, value in termination.items():
        setattr(env_cfg.termination, key, value)
    if configure is not None:
        configure(env_cfg)
    args = get_args(
        ["--task", task, "--device", "cpu", "--sim", "mjwarp", "--motion_file", str(short_motions)]
        + ["--headless"]  # as eval.py: episodes end at the clip's end
    )
    return task_registry.make_env(task, args, env_cfg)[0]


def test_evaluate_measures_first_episodes_to_failure_or_clip_end(short_motions):
    """A zero-action policy: with a termination that always fires, every env fails at its first step
    (completion = 1 step of 50, no success); with every termination off, every clip is played to its end."""
    from legged_gym.scripts.eval import evaluate
    from legged_gym.scripts.eval_report import METRIC_KEYS

    zero = lambda obs: torch.zeros(obs.shape[0], 23)  # noqa: E731
    env = make_eval_env(short_motions, root_height_diff_threshold=-1.0)
    result = evaluate(env, zero, 1)
    for row in result["clips"]:
        assert row["success_rate"] == 0.0
        assert row["completion"] == pytest.approx(env.dt / CLIP_SECONDS)
        assert row["failure_causes"]["height"] == 1.0 and row["failure_causes"]["keybody_error"] == 0.0
        assert "drift" not in row["failure_causes"]  # off in this task
    assert result["summary"]["failure_causes"]["height"] == 1.0
    del env

    env = make_eval_env(
        short_motions,
        torso_contact_force=1e9,
        termination_roll=1e9,
        termination_pitch=1e9,
        root_height_diff_threshold=1e9,
        max_root_vel=1e9,
        pose_termination=False,
    )
    result = evaluate(env, zero, 1)
    assert [row["completion"] for row in result["clips"]] == [1.0, 1.0]
    for row in result["clips"]:
        assert row["success_rate"] in (0.0, 1.0)
        assert all(np.isfinite(row[k]) for k in METRIC_KEYS)
        # nothing can fail: a clip is unsuccessful only by its key-body error
        assert sum(v for k, v in row["failure_causes"].items() if k != "keybody_error") == 0.0
        assert row["failure_causes"]["keybody_error"] == 1.0 - row["success_rate"]
    assert env.pre_reset_callback is None


def dead_reckoned_student(env_cfg):
    env_cfg.motion.ref_correction.pos_gain = env_cfg.motion.ref_correction.yaw_gain = 1.0
    env_cfg.motion.student_ref_correction = True
    env_cfg.motion.student_odometry = "estimate"


def test_evaluate_reports_a_dead_reckoned_students_odometry(short_motions, tmp_path):
    """With a velocity estimator, eval's "odometry": a constant offset added to the simulator's base
    velocity comes back as each clip's and each folder's estimate bias; the dead-reckoned position's error
    at the episode's end is small from the true velocity (forward Euler only) and, with the offset, the
    offset's horizontal speed x the time played; without an estimator there is no "odometry"."""
    from legged_gym.scripts.eval import OdometryTracker, evaluate, odometry_lines
    from pose.formats import write_manifest

    for name in CLIPS:  # each clip in a folder of its own
        (tmp_path / name).mkdir()
        shutil.copy(short_motions.parent / (name + ".pkl"), tmp_path / name)
    two_folders = write_manifest(tmp_path / "manifest.yaml", [name + "/" + name + ".pkl" for name in CLIPS])
    zero = lambda obs: torch.zeros(obs.shape[0], 23)  # noqa: E731
    offset = torch.tensor([0.3, -0.2, 0.1])
    errors = {}
    for name, added in (("true", torch.zeros(3)), ("offset", offset)):
        env = make_eval_env(two_folders, "g1_stu_rl", dead_reckoned_student)
        result = evaluate(env, zero, 1, velocity_estimator=lambda obs, env=env, added=added: env.base_lin_vel + added)
        odometry = result["odometry"]
        assert [row["name"] for row in odometry["clips"]] == [row["name"] for row in result["clips"]]
        assert list(odometry["groups"]) == list(CLIPS)
        for row in odometry["clips"] + list(odometry["groups"].values()):
            bias = [row["estimate_bias_{}_mps".format(axis)] for axis in "xyz"]
            np.testing.assert_allclose(bias, added.tolist(), atol=1e-5)
        errors[name] = [row["odometry_error_m"] for row in odometry["clips"]]
        played = [row["completion"] * CLIP_SECONDS for row in result["clips"]]
        assert set(odometry["summary"]) == set(OdometryTracker.KEYS)
        lines = odometry_lines(odometry).splitlines()
        assert lines[0].startswith("odometry (dead-reckoned): position error")
        assert [line.split("/")[0].strip() for line in lines[1:]] == list(CLIPS)  # a line per folder
        for line in lines[1:]:  # the folder's bias as printed, to 3 decimals
            printed = line.split("bias x, y, z ")[1].split(" m/s")[0].split(", ")
            np.testing.assert_allclose([float(v) for v in printed], added.tolist(), atol=1e-3)
        del env
    assert max(errors["true"]) < 0.01
    # the robot stays upright over these 1-s clips, so the offset's horizontal part moves the odometry
    # by its speed x the time played (its vertical part by almost nothing)
    speed = float(offset[:2].norm())
    for with_offset, seconds in zip(errors["offset"], played):
        assert with_offset == pytest.approx(speed * seconds, rel=0.05)
    env = make_eval_env(short_motions)
    assert "odometry" not in evaluate(env, zero, 1)


def dead_reckoned_on_legs(env_cfg):
    dead_reckoned_student(env_cfg)
    env_cfg.motion.student_odometry = "legs"
    env_cfg.motion.leg_odometry_gate = 0.3


def test_evaluate_with_leg_odometry_takes_the_legs_velocity_within_the_gate(short_motions):
    """motion.student_odometry = "legs" (gate 0.3 m/s): an estimate 0.2 m/s off the simulator's base velocity
    lies within the gate of the standing robot's legs, whose velocity replaces it on (nearly) every step, so
    the dead-reckoned position stays close where the estimate alone carries it 0.2 m/s x the time played; one
    0.5 m/s off lies beyond the gate and is integrated as it is. eval.json reports the share of steps."""
    from legged_gym.scripts.eval import OdometryTracker, evaluate, odometry_lines

    zero = lambda obs: torch.zeros(obs.shape[0], 23)  # noqa: E731
    for offset, legs_expected in ((0.2, True), (0.5, False)):
        env = make_eval_env(short_motions, "g1_stu_rl", dead_reckoned_on_legs)
        added = torch.tensor([offset, 0.0, 0.0])
        result = evaluate(env, zero, 1, velocity_estimator=lambda obs, env=env: env.base_lin_vel + added)
        odometry = result["odometry"]
        assert set(odometry["summary"]) == set(OdometryTracker.KEYS) | {OdometryTracker.LEGS_KEY}
        assert "the legs' velocity on" in odometry_lines(odometry).splitlines()[0]
        for row, clip in zip(odometry["clips"], result["clips"]):
            played = clip["completion"] * CLIP_SECONDS
            if legs_expected:
                assert row[OdometryTracker.LEGS_KEY] > 0.9  # all but the first step and a foot's shuffle
                assert abs(row["estimate_bias_x_mps"]) < 0.05 and row["odometry_error_m"] < 0.2 * played / 4
            else:
                assert row[OdometryTracker.LEGS_KEY] == 0.0
                assert row["estimate_bias_x_mps"] == pytest.approx(offset, abs=1e-5)
                assert row["odometry_error_m"] == pytest.approx(offset * played, rel=0.05)
        del env


def test_odometry_tracker_keeps_each_first_episodes_last_error_and_mean_bias():
    """Pure tracker: the bias is the mean estimate error over the steps an env was active; the position
    error is the one of its first episode's last step (a non-finite one keeps the step before's); an
    env never given an estimate has NaN (left out of the means)."""
    from legged_gym.scripts.eval import OdometryTracker

    t = OdometryTracker(3, "cpu")
    true = torch.zeros(3, 3)
    both, first = torch.tensor([True, True, False]), torch.tensor([True, False, False])
    t.estimate_given(torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [9.0, 9.0, 9.0]]), true, both)
    t.observe_end(torch.tensor([0.1, 0.2, 9.0]), both)
    t.estimate_given(torch.tensor([[3.0, 0.0, -1.0], [5.0, 5.0, 5.0], [9.0, 9.0, 9.0]]), true, first)
    t.observe_end(torch.tensor([float("nan"), 0.7, 9.0]), first)
    out = t.per_env()
    assert out["estimate_bias_x_mps"][:2].tolist() == [2.0, 0.0]
    assert out["estimate_bias_y_mps"][:2].tolist() == [0.0, 2.0]
    assert out["estimate_bias_z_mps"][:2].tolist() == [-0.5, 0.0]
    assert out["odometry_error_m"][:2].tolist() == pytest.approx([0.1, 0.2])
    assert all(math.isnan(float(v[2])) for v in out.values())


def test_first_episode_tracker_keeps_the_causes_of_each_first_failure():
    """Pure tracker: causes count only on the step an env's first episode fails (not a time-out)."""
    from legged_gym.scripts.eval import FAILURE_KEYS, FirstEpisodeTracker

    t = FirstEpisodeTracker(4, "cpu", ("torso_contact", "orientation", "height", "root_speed", "pose"))
    zeros = {name: torch.zeros(4) for name in ("kb_world", "kb_local", "all_world", "all_local", "joint", "root_vel")}
    no = torch.zeros(4, dtype=torch.bool)

    def mask(*ids):
        m = no.clone()
        m[list(ids)] = True
        return m

    causes = {"torso_contact": mask(0, 2), "orientation": mask(0, 1), "height": no, "root_speed": no, "pose": mask(3)}
    # step 1: env 0 fails (torso contact and orientation), env 1 ends at its clip's end (orientation ignored)
    t.observe_step(zeros, mask(0, 1), mask(1), torch.zeros(4, 2), torch.zeros(4), causes)
    # step 2: env 0 fails again (already ended: ignored), env 3 fails by pose
    t.observe_step(zeros, mask(0, 3), no, torch.zeros(4, 2), torch.zeros(4), causes)
    # step 3: env 2 is over the key-body limit and then finishes its clip
    errors = dict(zeros, kb_local=torch.tensor([0.0, 0.0, 0.3, 0.0]))
    t.observe_step(errors, mask(2), mask(2), torch.zeros(4, 2), torch.zeros(4), None)
    out = t.failures_per_env()
    assert tuple(out) == tuple(k for k in FAILURE_KEYS if k != "drift")
    assert out["torso_contact"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["orientation"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["pose"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert out["keybody_error"].tolist() == [0.0, 0.0, 1.0, 0.0]


def test_first_episode_tracker_measures_only_the_measured_steps():
    """Pure tracker: root_drift_m, root_lag_m and root_drift_lateral_m come from the offset passed on the
    last step of an env's first episode (its norm, minus its forward part, its absolute left part; for an
    env still playing, the latest step's). A step
    outside `measured` (eval.py's env path: a time-out, where the reference has looped to the clip's first
    frame) counts for completion only: the error means, the key-body limit and root_heading_error_rad
    stop at the step before. Later steps change nothing."""
    from legged_gym.scripts.eval import FirstEpisodeTracker

    t = FirstEpisodeTracker(3, "cpu", ())
    no = torch.zeros(3, dtype=torch.bool)
    steps = [  # (reset, time_out): env 0 fails at step 1, env 1 times out at step 1, env 2 plays on
        (no, no),
        (torch.tensor([True, True, False]), torch.tensor([False, True, False])),
        (torch.tensor([True, True, False]), torch.tensor([True, True, False])),
    ]
    for k, (reset, time_out) in enumerate(steps):
        errors = {name: torch.full((3,), 0.1 * (k + 1)) for name in ("kb_world", "all_world", "all_local", "root_vel")}
        errors["kb_local"] = torch.tensor([0.0, 0.0 if k == 0 else 9.0, 0.0])  # env 1: 9 m on its time-out step
        errors["joint"] = torch.tensor([1.0, 2.0, 3.0]) * (k + 1)
        # (forward, left) of norms 1, 2, 3 x (k + 1): env 0 behind and to the left, env 1 ahead and to the right
        offset = torch.tensor([[-0.6, 0.8], [1.2, -1.6], [1.8, 2.4]]) * (k + 1)
        heading = torch.tensor([0.1, 0.2, 0.3]) * (k + 1)
        t.observe_step(errors, reset, time_out, offset, heading, measured=~(reset & time_out))
    out = t.per_env(torch.full((3,), 0.1), 0.02)
    assert out["root_drift_m"].tolist() == pytest.approx([2.0, 4.0, 9.0])  # env 2: its third step's
    assert out["root_lag_m"].tolist() == pytest.approx([1.2, -2.4, -5.4])
    assert out["root_drift_lateral_m"].tolist() == pytest.approx([1.6, 3.2, 7.2])
    assert out["root_heading_error_rad"].tolist() == pytest.approx([0.2, 0.2, 0.9])
    assert out["joint_error_rad"].tolist() == pytest.approx([(1.0 + 2.0) / 2, 2.0, (3.0 + 6.0 + 9.0) / 3])
    # env 1 played its clip to the end: 1 (the env counts the time-out step, here 2 x 0.02 s of a 0.1-s clip)
    assert out["completion"].tolist() == pytest.approx([0.4, 1.0, 0.6])
    assert out["success_rate"].tolist() == [0.0, 1.0, 0.0]  # env 1 finished within the limit where measured
    assert out["root_drift_per_10s_m"].tolist() == pytest.approx([200.0, 400.0, 900.0])  # x 10 s / 0.1 s


def test_first_episode_tracker_ends_a_diverged_env_as_a_failure_with_the_step_before():
    """Pure tracker: a step with a NaN (a diverged simulation) ends that env's first episode as a failure of
    cause `non_finite`, even on a time-out step; its errors, drift and heading stay those of its last finite
    step, so the clip's means keep the env and none of them turns NaN. The other env plays on untouched."""
    from legged_gym.scripts.eval import NON_FINITE, STEP_ERRORS, FirstEpisodeTracker

    t = FirstEpisodeTracker(2, "cpu", ("height",))
    no = torch.zeros(2, dtype=torch.bool)
    nan = float("nan")
    for k, (joint_0, offset_0, ends) in enumerate(((0.1, 0.3, False), (0.3, 0.5, False), (nan, nan, True))):
        errors = {name: torch.full((2,), 0.01) for name in STEP_ERRORS}
        errors["joint"] = torch.tensor([joint_0, 0.2])
        offset = torch.tensor([[offset_0, 0.0], [0.0, 0.1 * (k + 1)]])
        time_out = torch.tensor([ends, ends])  # the NaN step is also env 0's time-out step: still a failure
        t.observe_step(errors, time_out, time_out, offset, torch.tensor([0.1, 0.2]), {"height": no})
    out, failures = t.per_env(torch.full((2,), 0.1), 0.02), t.failures_per_env()
    assert tuple(failures) == ("height", NON_FINITE, "keybody_error")
    assert failures[NON_FINITE].tolist() == [1.0, 0.0]
    assert out["success_rate"].tolist() == [0.0, 1.0]
    assert out["joint_error_rad"].tolist() == pytest.approx([0.2, 0.2])  # env 0: (0.1 + 0.3) / 2
    assert out["root_drift_m"].tolist() == pytest.approx([0.5, 0.3])
    assert out["completion"].tolist() == pytest.approx([0.6, 1.0])  # env 0: 3 steps x 0.02 s of 0.1 s
    assert all(torch.isfinite(v).all() for v in out.values())


def test_first_episode_tracker_splits_a_looped_time_out_along_the_heading_before(monkeypatch):
    """`observe` on the env path: on the time-out step the env's reference has looped to the clip's first
    frame (its yaw the first frame's), so the drift there is split along the reference heading of the step
    before. A stand-in env (only the attributes `observe` reads; the step errors stubbed): the reference
    faces +y at the origin, the robot 0.5 m then 1.0 m behind it; on the looped step the reference yaw
    reads 0, which would call the same 1.0 m a lateral drift."""
    from types import SimpleNamespace

    from legged_gym.scripts import eval as eval_script
    from pose.utils.torch_utils import quat_from_euler_xyz

    def quat_of_yaw(yaw):
        zero = torch.zeros(1)
        return quat_from_euler_xyz(zero, zero, torch.tensor([yaw]))

    monkeypatch.setattr(
        eval_script, "env_step_errors", lambda env: {name: torch.zeros(1) for name in eval_script.STEP_ERRORS}
    )
    tracker = eval_script.FirstEpisodeTracker(1, "cpu", ())
    for robot_y, ref_yaw, ended in ((-0.5, math.pi / 2, False), (-1.0, 0.0, True)):
        flag = torch.tensor([ended])
        env = SimpleNamespace(
            reset_buf=flag,
            time_out_buf=flag,
            root_states=torch.tensor([[0.0, robot_y, 0.8]]),
            _ref_root_pos=torch.tensor([[0.0, 0.0, 0.8]]),
            _ref_root_rot=quat_of_yaw(ref_yaw),
            base_quat=quat_of_yaw(math.pi / 2),
            failure_causes=lambda: {},
        )
        tracker.observe(env)
    out = tracker.per_env(torch.ones(1), 0.02)
    assert out["root_drift_m"].tolist() == pytest.approx([1.0])
    assert out["root_lag_m"].tolist() == pytest.approx([1.0]) and out["root_drift_lateral_m"].tolist() == pytest.approx(
        [0.0], abs=1e-6
    )
    assert out["root_heading_error_rad"].tolist() == pytest.approx([0.0], abs=1e-6)  # from the step before too


def test_eval_compare_judges_two_finished_results(tmp_path, capsys):
    """legged_gym/scripts/eval_compare.py: a student's result against its teacher's, both finished (as when
    they ran at once): the printed row and the stored "compared_with" hold hand-computed ratios, the student
    target's verdict per metric, and the rest of the student's eval.json is kept."""
    from legged_gym.scripts import eval_compare

    def write(folder, summary, se, **extra):
        (tmp_path / folder).mkdir()
        result = {"summary": summary, "summary_standard_error": se, "clips": [{"clip": 0}], **extra}
        (tmp_path / folder / "eval.json").write_text(json.dumps(result))

    write(
        "teacher",
        {"success_rate": 0.8, "root_drift_m": 0.4, "root_lag_m": 0.2},
        {"success_rate": 0.01, "root_drift_m": 0.03},
    )
    write(
        "student",
        {"success_rate": 0.7, "root_drift_m": 0.6, "root_lag_m": 0.5},
        {"success_rate": 0.02, "root_drift_m": 0.04},
        task="s",
    )
    record = eval_compare.main([str(tmp_path / "student"), str(tmp_path / "teacher"), "--write"])
    drift, success = record["metrics"]["root_drift_m"], record["metrics"]["success_rate"]
    assert drift["ratio"] == pytest.approx(1.5) and drift["within_tolerance"] is False  # 0.6 > 1.25 x 0.4
    assert drift["difference_standard_error"] == pytest.approx(0.05) and drift["beyond_noise"] is True
    assert success["ratio"] == pytest.approx(0.875) and success["within_tolerance"] is True  # 0.7 >= 0.75 x 0.8
    lag = record["metrics"]["root_lag_m"]  # a part of the drift: compared, not judged against the target
    assert lag["ratio"] == pytest.approx(2.5) and lag["within_tolerance"] is None and lag["beyond_noise"] is None
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["root_drift_m", "0.600", "0.400", "+0.200", "1.500", "no", "0.100", "yes"] in rows
    assert ["root_lag_m", "0.500", "0.200", "+0.300", "2.500", "-", "-", "-"] in rows
    assert "within 25% on 1 of 2 judged metrics; not on root_drift_m (x1.50)".split() in rows
    stored = json.loads((tmp_path / "student" / "eval.json").read_text())
    assert stored["compared_with"] == {**record, "file": str(tmp_path / "teacher" / "eval.json")}
    assert stored["task"] == "s" and stored["clips"] == [{"clip": 0}]
    # without --write nothing is stored
    before = (tmp_path / "teacher" / "eval.json").read_text()
    eval_compare.main([str(tmp_path / "teacher"), str(tmp_path / "student")])
    assert (tmp_path / "teacher" / "eval.json").read_text() == before


def test_eval_compare_refuses_what_is_not_a_result(tmp_path):
    from legged_gym.scripts import eval_compare

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "eval.json").write_text('{"clips": []}')
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "eval.json").write_text('{"summary": ')
    for this, other, message in (
        ("notes", "broken", 'eval.json is not an eval.py result (no "summary" mapping)'),
        ("broken", "notes", "eval.json is not JSON"),
        ("missing", "notes", "THIS {}: no eval.json there".format(tmp_path / "missing")),
    ):
        with pytest.raises(SystemExit) as e:
            eval_compare.main([str(tmp_path / this), str(tmp_path / other)])
        assert str(e.value).startswith("eval_compare.py: ") and message in str(e.value)


def test_eval_compare_shows_where_two_results_differ_per_group_and_clip(tmp_path, capsys):
    """--clips KEY: per folder group both results have, and the --top clips of the same name with the
    largest |difference|, hand-computed; a clip in one result only is named, not compared; a key one result
    lacks (an older eval.json) and a bad --top are refused before anything is printed."""
    from legged_gym.scripts import eval_compare

    def write(folder, drifts, groups, **summary):
        (tmp_path / folder).mkdir()
        clips = [{"clip": i, "name": n, "root_drift_m": d} for i, (n, d) in enumerate(drifts.items())]
        result = {"summary": dict(root_drift_m=0.0, **summary), "clips": clips, "groups": groups}
        (tmp_path / folder / "eval.json").write_text(json.dumps(result))

    write(
        "a", {"walk": 0.2, "run": 1.5, "sprint": 0.9, "stand": 0.05}, {"lafan": {"root_drift_m": 0.8}}, root_lag_m=0.1
    )
    write("b", {"walk": 0.3, "run": 1.0, "sprint": 0.95, "squat": 0.1}, {"lafan": {"root_drift_m": 0.7}})
    eval_compare.main([str(tmp_path / "a"), str(tmp_path / "b"), "--clips", "root_drift_m", "--top", "2"])
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    start = lines.index("root_drift_m per clip (3 in both; only in one: squat, stand)".split())
    assert lines[start + 1 : start + 6] == [
        ["group", "this", "other", "difference"],
        ["lafan", "0.800", "0.700", "+0.100"],
        "the 2 clips with the largest difference:".split(),
        ["name", "this", "other", "difference"],
        ["run", "1.500", "1.000", "+0.500"],
    ]
    assert lines[start + 6] == ["walk", "0.200", "0.300", "-0.100"]  # |-0.1| > |-0.05| of sprint
    for extra, message in (
        (["--clips", "root_lag_m"], "--clips root_lag_m: not a metric that both results hold"),
        (["--clips", "root_drift_m", "--top", "0"], "--top 0: expected at least 1"),
    ):
        with pytest.raises(SystemExit) as e:
            eval_compare.main([str(tmp_path / "a"), str(tmp_path / "b")] + extra)
        assert message in str(e.value)
    assert "compared with" not in capsys.readouterr().out  # refused before the comparison


def test_eval_compare_pairs_the_clips_and_reads_runs_of_results_files(tmp_path, capsys):
    """--paired: per metric the mean of the per-clip differences over the clips of the same name, its
    standard error (numpy's sample standard deviation / sqrt(n)) and the clips lower and higher; THIS may be
    a run of a bench/results file (FILE.json:RUN); a missing run, a run without a summary and --write on a
    run are refused by name."""
    from legged_gym.scripts import eval_compare, eval_report

    def result(drifts, errors):
        clips = [
            {"clip": i, "name": n, "root_drift_m": d, "mpkpe_local_mm": e}
            for i, (n, d, e) in enumerate(zip(drifts, drifts.values(), errors))
        ]
        return {"summary": {"root_drift_m": 0.0, "mpkpe_local_mm": 0.0}, "clips": clips}

    this = result({"walk": 0.2, "run": 1.5, "sprint": 0.9, "stand": 0.05}, [30.0, 41.0, 44.0, 20.0])
    other = result({"walk": 0.3, "run": 1.0, "sprint": 0.95, "squat": 0.1}, [33.0, 40.0, 47.0, 25.0])
    results = tmp_path / "results.json"
    runs = [{"name": "T8", **this}, {"name": "bare", "clips": []}, {"name": "S", "summary": this["summary"]}]
    results.write_text(json.dumps({"runs": runs}))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "eval.json").write_text(json.dumps(other))
    eval_compare.main(["{}:T8".format(results), str(tmp_path / "b"), "--paired"])
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    start = lines.index("paired per clip, this - other (3 in both; only in one: squat, stand)".split())
    drift = np.array([0.2 - 0.3, 1.5 - 1.0, 0.9 - 0.95])  # walk, run, sprint
    error = np.array([30.0 - 33.0, 41.0 - 40.0, 44.0 - 47.0])
    expected = {}
    for key, d in (("mpkpe_local_mm", error), ("root_drift_m", drift)):
        se = d.std(ddof=1) / np.sqrt(3)
        expected[key] = [key, "{:+.4f}".format(d.mean()), "{:.4f}".format(se), str((d < 0).sum()), str((d > 0).sum())]
    assert sorted(lines[start + 2 : start + 4]) == sorted(expected.values())
    paired = eval_report.paired_differences(this, other)["metrics"]["root_drift_m"]
    assert paired["mean"] == pytest.approx(drift.mean()) and paired["rows"] == 3
    assert (paired["lower"], paired["higher"]) == (2, 1)
    for args, message in (
        (["{}:T9".format(results), str(tmp_path / "b")], "THIS {0}:T9: no run 'T9' in {0} (runs: ['T8', 'bare', 'S'])"),
        ([str(tmp_path / "b"), "{}:S".format(results), "--paired"], "--paired: the other result has no per-clip rows"),
        (["{}:bare".format(results), str(tmp_path / "b")], "run 'bare' of {} has no \"summary\" mapping"),
        (["{}:T8".format(results), str(tmp_path / "b"), "--write"], "is a run of a results file"),
    ):
        with pytest.raises(SystemExit) as e:
            eval_compare.main(args)
        assert message.format(results) in str(e.value)
    assert json.loads(results.read_text())["runs"][0] == {"name": "T8", **this}  # nothing written


def test_eval_compare_averages_several_results_joined_by_plus(tmp_path, capsys):
    """THIS and OTHER joined by "+": compared as the clip-by-clip mean of their results (one run's last
    checkpoints), the summary the mean of theirs; other clips, a result without rows and --write on a
    mean are refused by name."""
    from legged_gym.scripts import eval_compare, eval_report

    drifts = {"a1": [0.2, 1.5, 0.9], "a2": [0.4, 1.1, 0.7], "b1": [0.3, 1.0, 1.0], "b2": [0.1, 1.2, 0.8]}
    for name, d in drifts.items():
        clips = [{"clip": i, "name": n, "root_drift_m": v} for i, (n, v) in enumerate(zip(("walk", "run", "jump"), d))]
        folder = tmp_path / name
        folder.mkdir()
        result = {"summary": {"root_drift_m": sum(d) / 3}, "summary_standard_error": {"root_drift_m": 0.1}}
        (folder / "eval.json").write_text(json.dumps(dict(result, clips=clips, task="g1_stu_rl")))
    a, b = "{0}/a1+{0}/a2".format(tmp_path), "{0}/b1+{0}/b2".format(tmp_path)
    eval_compare.main([a, b, "--paired"])
    out = capsys.readouterr().out
    per_clip = (np.array(drifts["a1"]) + drifts["a2"]) / 2 - (np.array(drifts["b1"]) + drifts["b2"]) / 2
    (row,) = [line.split() for line in out.splitlines() if line.startswith("root_drift_m") and len(line.split()) == 5]
    assert row[1:3] == ["{:+.4f}".format(per_clip.mean()), "{:.4f}".format(per_clip.std(ddof=1) / np.sqrt(3))]
    assert "compared with " + b in out
    mean = eval_report.mean_result(
        [json.loads((tmp_path / n / "eval.json").read_text()) for n in ("a1", "a2")], ["a1", "a2"], "THIS"
    )
    assert mean["summary"]["root_drift_m"] == pytest.approx(np.mean(drifts["a1"] + drifts["a2"]))
    assert [c["root_drift_m"] for c in mean["clips"]] == pytest.approx([0.3, 1.3, 0.8])
    assert (
        "summary_standard_error" not in mean and mean["averaged_over"] == ["a1", "a2"] and mean["task"] == "g1_stu_rl"
    )
    (tmp_path / "c").mkdir()
    other_clips = [{"clip": 0, "name": "stand", "root_drift_m": 0.1}]
    (tmp_path / "c" / "eval.json").write_text(json.dumps({"summary": {"root_drift_m": 0.1}, "clips": other_clips}))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "eval.json").write_text(json.dumps({"summary": {"root_drift_m": 0.1}}))
    for args, message in (
        (["{0}/a1+{0}/c".format(tmp_path), b], "THIS {0}/c: other clips than {0}/a1".format(tmp_path)),
        ([a, "{0}/b1+{0}/d".format(tmp_path)], "OTHER {}/d: no per-clip rows to average".format(tmp_path)),
        ([a, b, "--write"], "--write: stores into THIS's eval.json; {} is several results".format(a)),
    ):
        with pytest.raises(SystemExit) as e:
            eval_compare.main(args)
        assert message in str(e.value)


RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def assert_paired_from_rows(path, expected, this_sources, other_sources, keys):
    """eval_compare's paired differences of `this_sources` against `other_sources` (FILE:RUN, joined by "+"
    for a mean) give the committed comparison `expected` on `keys`, over the 87 clips."""
    from legged_gym.scripts import eval_compare, eval_report

    this = eval_compare.read_sources("+".join("{}:{}".format(path, run) for run in this_sources), "THIS")
    other = eval_compare.read_sources("+".join("{}:{}".format(path, run) for run in other_sources), "OTHER")
    paired = eval_report.paired_differences(this, other)
    assert paired["rows"] == 87
    for key in keys:
        got = paired["metrics"][key]
        assert got["mean"] == pytest.approx(expected[key]["mean"], rel=1e-3, abs=1e-5)
        assert got["standard_error"] == pytest.approx(expected[key]["standard_error"], rel=1e-2)


def test_committed_paired_comparisons_come_again_from_their_runs():
    """The paired comparisons of bench/results/student_feedback_gains_and_estimator_mirror_10min_h100_2026-12-06.json
    (computed with numpy from the evaluations when the file was written) come again from its runs' per-clip
    rows through eval_compare's "+" means: each checkpoint set's mean against the other's."""
    path = RESULTS / "student_feedback_gains_and_estimator_mirror_10min_h100_2026-12-06.json"
    data = json.loads(path.read_text())
    cases = {
        "G_played_2_minus_A_played_1_last_four": (
            "student_gains2_{}_trained_gains_2_played_gains_2_play",
            "student_A_{}_trained_gains_1_played_gains_1_play",
        ),
        "M_minus_A_played_1_last_four": (
            "student_mirror_{}_trained_gains_1_played_gains_1_play",
            "student_A_{}_trained_gains_1_played_gains_1_play",
        ),
    }
    for comparison, (this_run, other_run) in cases.items():
        expected = data["paired_per_clip"][comparison]
        this_its, other_its = expected["checkpoints"]
        assert_paired_from_rows(
            path,
            expected,
            [this_run.format(c) for c in this_its],
            [other_run.format(c) for c in other_its],
            ("root_drift_m", "mpkpe_local_mm", "success_rate"),
        )


def test_committed_leg_odometry_comparisons_come_again_from_their_runs():
    """bench/results/student_leg_odometry_cpu_2026-12-07.json: its paired comparisons (numpy when the file was
    written) come again from the runs' per-clip rows through eval_compare, and the odometry error's from its
    `odometry_clips` rows."""
    path = RESULTS / "student_leg_odometry_cpu_2026-12-07.json"
    data = json.loads(path.read_text())
    cases = {
        "A_legs_minus_estimate": ("student_A_511_dead_reckoned_legs", "student_A_511_dead_reckoned_estimate"),
        "B_legs_minus_simulator_position": ("student_B_755_dead_reckoned_legs", "student_B_755_simulator_position"),
        "A_gains_2_legs_minus_teacher_gains_1": ("student_A_511_gains_2_dead_reckoned_legs", "teacher_T_gains_1"),
        "B_gains_2_legs_minus_teacher_gains_2": ("student_B_755_gains_2_dead_reckoned_legs", "teacher_T_gains_2"),
        "A_gains_2_legs_gate_0.2_minus_gate_0.3": (
            "student_A_511_gains_2_dead_reckoned_legs_gate_0.2",
            "student_A_511_gains_2_dead_reckoned_legs",
        ),
    }
    for comparison, (this_run, other_run) in cases.items():
        expected = data["paired_per_clip"][comparison]
        assert_paired_from_rows(
            path, expected, [this_run], [other_run], ("root_drift_m", "mpkpe_global_mm", "success_rate")
        )
    runs = {run["name"]: run for run in data["runs"]}
    for comparison in ("A_legs_minus_estimate", "A_gains_2_legs_gate_0.2_minus_gate_0.3"):
        error = [
            np.array([row["odometry_error_m"] for row in runs[run]["odometry_clips"]]) for run in cases[comparison]
        ]
        assert float((error[0] - error[1]).mean()) == pytest.approx(
            data["paired_per_clip"][comparison]["odometry_error_m"]["mean"], abs=1e-4
        )


@pytest.mark.parametrize(
    "file, clip_counts",
    [
        ("student_kl_weight_annealed_10min_h100_2026-12-07.json", (87,)),
        ("student_target_third_pair_10min_h100_2026-12-07.json", (87,)),
        ("held_out_locomotion_cpu_2026-12-07.json", (12,)),
        ("student_more_motion_10min_h100_2026-12-07.json", (87, 6)),
    ],
)
def test_committed_student_comparisons_match_numpy_over_their_rows(file, clip_counts):
    """The 2026-12-07 student results (on the training set, the held-out locomotion set or parts of it, the
    sizes `clip_counts`): their paired comparisons (written through eval_compare's paired_differences) agree with
    numpy over the runs' per-clip rows, each side the per-clip mean of its checkpoints, a several-checkpoint one
    stored under its "+" name; and their ratios to the teacher, where given, are the runs' summaries divided."""
    data = json.loads((RESULTS / file).read_text())
    rows = {run["name"]: {c["name"]: c for c in run["clips"]} for run in data["runs"]}
    for name, expected in data["paired_differences"].items():
        this, other = ([rows[run] for run in side.split("+")] for side in name.split(" - "))
        clips = sorted(this[0])
        assert len(clips) in clip_counts and all(sorted(r) == clips for r in this + other)
        for key in ("root_drift_m", "mpkpe_local_mm", "success_rate"):
            d = np.array([np.mean([r[c][key] for r in this]) - np.mean([r[c][key] for r in other]) for c in clips])
            assert expected[key]["mean"] == pytest.approx(d.mean(), abs=1e-4)
            assert expected[key]["standard_error"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), abs=1e-4)
            assert (expected[key]["lower"], expected[key]["higher"]) == (int((d < 0).sum()), int((d > 0).sum()))
    summaries = {run["name"]: run["summary"] for run in data["runs"]}
    for name, ratios in data.get("ratios_to_the_teacher", {}).items():
        student, teacher = name.split(" / ")
        for key, ratio in ratios.items():
            assert ratio == pytest.approx(summaries[student][key] / summaries[teacher][key], abs=1e-4)


def standing_clip(frames, fps):
    """A clip of `frames` frames at `fps` standing still (the canonical clip format, validated)."""
    from pose import readers

    root_pos = np.tile([0.0, 0.0, 0.76], (frames, 1))
    root_rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 1))
    return readers.make_clip("<stand>", fps, root_pos, root_rot, np.zeros((frames, 23)))


def test_evaluate_refuses_clips_no_step_would_measure():
    """A clip of at most 0.02 s ends on the env's first step, which is never measured (the time-out step):
    2 frames at 50 fps (0.02 s) and 3 at 120 fps (0.0167 s) are refused, named with their frames and length,
    before the env is touched; 2 frames at 30 fps (0.033 s) have one measured step and are not."""
    from types import SimpleNamespace

    from legged_gym.scripts.eval import evaluate
    from pose.formats import MotionFileError
    from pose.utils.motion_lib_pkl import MotionLib

    clips = [standing_clip(51, 50.0), standing_clip(2, 50.0), standing_clip(2, 30.0), standing_clip(3, 120.0)]
    files = ["/set/long.pkl", "/set/two50.pkl", "/set/two30.pkl", "/set/three120.pkl"]
    lib = MotionLib.from_clips(clips, names=files)
    env = SimpleNamespace(_motion_lib=lib)  # evaluate refuses before reading anything else
    with pytest.raises(MotionFileError) as e:
        evaluate(env, None, 1)
    message = str(e.value)
    assert "clip 1 (/set/two50.pkl: 2 frames at 50 fps, 0.0200 s)" in message
    assert "clip 3 (/set/three120.pkl: 3 frames at 120 fps, 0.0167 s)" in message
    assert "long.pkl" not in message and "two30.pkl" not in message
    assert "longer than one policy step (0.02 s)" in message


def test_a_finished_clip_completes_and_an_unmeasured_env_has_no_errors():
    """Completion is 1 for a clip played to its end also when its last played step is the clip's last frame
    before the time-out (the sim2sim benchmark: 49 steps of 0.02 s of a 1-s clip, 0.98 by time); an env
    without a measured step has NaN errors, which the summary leaves out of the clip means, the summary and
    its standard error, as it does every NaN."""
    from legged_gym.scripts.eval import STEP_ERRORS, FirstEpisodeTracker, summarize

    t = FirstEpisodeTracker(3, "cpu", ())
    errors = {name: torch.full((3,), 0.5) for name in STEP_ERRORS}
    # env 0: 49 measured steps, the last one its clip's last frame, ended as a time-out (sim2sim_clip's way)
    # env 1: times out on its first step, unmeasured (a clip eval.py refuses); env 2: like env 0
    for k in range(49):
        last = torch.tensor([k == 48, k == 0, k == 48])
        measured = torch.tensor([True, k != 0, True])
        t.observe_step(errors, last, last, torch.zeros(3, 2), torch.zeros(3), measured=measured)
    out = t.per_env(torch.ones(3), 0.02)
    assert out["completion"].tolist() == [1.0, 1.0, 1.0]  # 49 x 0.02 / 1 would be 0.98
    assert out["joint_error_rad"][0] == pytest.approx(0.5)
    assert all(math.isnan(float(out[key][1])) for key, _ in STEP_ERRORS.values())
    result = summarize(out, torch.tensor([0, 1, 1]), ["a", "b"])
    assert result["clips"][1]["joint_error_rad"] == pytest.approx(0.5)  # env 1's NaN left out of clip b
    assert result["summary"]["mpkpe_local_mm"] == pytest.approx(500.0)
    assert result["summary_standard_error"]["joint_error_rad"] is None  # clip b has one value: no spread
    assert not any(
        isinstance(v, float) and math.isnan(v) for row in result["clips"] + [result["summary"]] for v in row.values()
    )


def test_clip_names_are_unique_and_printed_whole():
    """Clips of the same file stem in two folders are told apart by their paths from the folders' common
    parent, a file listed twice by a count; the table prints every name whole, however long, so ten
    10-s segments of one take (names that differ in their last digit) stay ten rows."""
    from legged_gym.scripts.eval import summarize
    from legged_gym.scripts.eval_report import METRIC_KEYS, format_table, repeated_files_warning, unique_clip_names

    files = ["/s/lafan/walk1.pkl", "/s/lafan_mirror/walk1.pkl", "/s/embedded/stand.pkl", "/s/lafan/walk1.pkl"]
    names = [Path(f).stem for f in files]
    assert unique_clip_names(names, files) == [
        "lafan/walk1.pkl",
        "lafan_mirror/walk1.pkl",
        "stand",
        "lafan/walk1.pkl (2)",
    ]
    assert unique_clip_names(["a", "b"], ["/x/a.pkl", "/y/b.pkl"]) == ["a", "b"]
    # a file listed twice, alone with its stem: its name is the stem, as in a set that lists it once
    assert unique_clip_names(["run", "stand", "run"], ["/s/run.pkl", "/s/stand.pkl", "/s/run.pkl"]) == [
        "run",
        "stand",
        "run (2)",
    ]
    warning = repeated_files_warning(files)
    assert warning is not None and "1 clip file(s) listed more than once (e.g. /s/lafan/walk1.pkl, 2 times)" in warning
    assert repeated_files_warning(["/x/a.pkl", "/y/a.pkl"]) is None

    segments = ["walk1_subject1_seg{:03d}".format(i) for i in range(10)]
    per_env = {key: torch.arange(10, dtype=torch.float32) for key in METRIC_KEYS}
    table = format_table(summarize(per_env, torch.arange(10), segments)).splitlines()
    printed = [line.split()[1] for line in table[2:12]]
    assert printed == segments
    assert len({len(line) for line in table[:12]}) == 1  # one column width for all


def test_eval_png_of_many_clips_grows_in_height(tmp_path):
    """87 clips: one horizontal bar per clip and panel, the figure taller than wide and narrower than
    1300 px (one row of vertical bars was 5420 x 800)."""
    from PIL import Image

    from legged_gym.scripts.eval import summarize
    from legged_gym.scripts.eval_report import METRIC_KEYS, plot

    names = ["sprint1_subject4_seg{:03d}".format(i) for i in range(87)]
    per_env = {key: torch.rand(87) for key in METRIC_KEYS}
    plot(summarize(per_env, torch.arange(87), names), tmp_path / "eval.png", "title")
    width, height = Image.open(tmp_path / "eval.png").size
    assert height > width and width < 1300 and height > 87 * 15


def results(task, rand, motion_file, clips, se=None):
    """An eval.json of clips {name: (success, drift)}, its summary the mean over them."""
    rows = [
        {"clip": i, "name": n, "success_rate": s, "root_drift_m": d, "root_lag_m": 0.0}
        for i, (n, (s, d)) in enumerate(clips.items())
    ]
    summary = {k: float(np.mean([r[k] for r in rows])) for k in ("success_rate", "root_drift_m", "root_lag_m")}
    return {
        "task": task,
        "rand": rand,
        "motion_file": motion_file,
        "summary": summary,
        "summary_standard_error": se or {k: 0.01 for k in summary},
        "clips": rows,
    }


def test_comparison_warns_about_unrelated_runs_and_judges_the_shared_clips():
    """Another --rand, another motion set and an unrelated task each get a WARNING line; a student against
    its teacher's task does not. Another clip set: judged on the clips both hold, each side's mean over them
    (hand-computed), without standard errors; the verdict says so."""
    from legged_gym.scripts.eval_report import comparison_record, format_comparison

    teacher = results("g1_priv_mimic", "play", "set/m.yaml", {"a": (1.0, 0.2), "b": (1.0, 0.4), "c": (0.0, 3.0)})
    student = results("g1_stu_rl", "play", "set/./m.yaml", {"a": (1.0, 0.3), "b": (0.5, 0.4), "c": (0.0, 2.0)})
    record = comparison_record(student, teacher, "t/eval.json")
    assert record["warnings"] == [] and record["shared_rows"] is None  # the student target itself
    assert record["metrics"]["root_drift_m"]["difference_standard_error"] == pytest.approx(math.hypot(0.01, 0.01))

    other = results("g1_cmg_fast", "none", "lafan/m.yaml", {"b": (1.0, 0.0), "a": (0.5, 0.5), "z": (1.0, 9.0)})
    record = comparison_record(student, other, "o/eval.json")
    warnings = record["warnings"]
    assert len(warnings) == 4 and all(w.startswith("WARNING: ") for w in warnings)
    assert "task g1_stu_rl against g1_cmg_fast" in warnings[0]
    assert "--rand play against --rand none" in warnings[1]
    assert "motion_file set/./m.yaml against lafan/m.yaml" in warnings[2]
    assert "1 (c) only in this result, 1 (z) only in the other, 2 in both" in warnings[3]
    assert record["shared_rows"] == 2
    drift, success = record["metrics"]["root_drift_m"], record["metrics"]["success_rate"]
    assert drift["this"] == pytest.approx((0.3 + 0.4) / 2) and drift["other"] == pytest.approx((0.5 + 0.0) / 2)
    assert success["this"] == pytest.approx(0.75) and success["other"] == pytest.approx(0.75)
    assert drift["within_tolerance"] is False and success["within_tolerance"] is True
    assert drift["difference_standard_error"] is None and drift["beyond_noise"] is None
    lines = format_comparison(student, other, "o/eval.json").splitlines()
    assert lines[1:5] == warnings
    assert (
        lines[-1]
        == "within 25% on 1 of 2 judged metrics; not on root_drift_m (x1.40) (over the 2 clips both results hold)"
    )
    # nothing in common: the summaries as they are
    apart = comparison_record(student, results("g1_stu_rl", "play", "set/m.yaml", {"q": (1.0, 1.0)}), "x")
    assert apart["shared_rows"] is None and "nothing in common" in apart["warnings"][0]
    assert apart["metrics"]["root_drift_m"]["this"] == pytest.approx(student["summary"]["root_drift_m"])


def test_drift_per_10s_is_compared_not_judged():
    from legged_gym.scripts.eval_report import compare_summaries

    this = {"summary": {"root_drift_m": 0.5, "root_drift_per_10s_m": 0.6}}
    rows = compare_summaries(this, {"summary": {"root_drift_m": 0.2, "root_drift_per_10s_m": 0.25}})
    assert rows["root_drift_per_10s_m"]["ratio"] == pytest.approx(2.4)
    assert (
        rows["root_drift_per_10s_m"]["within_tolerance"] is None and rows["root_drift_m"]["within_tolerance"] is False
    )


def test_eval_compare_refuses_to_match_clips_of_one_name(tmp_path):
    """An eval.json written before clip names were made unique may name two clips alike: --clips refuses it
    rather than matching one of them."""
    from legged_gym.scripts import eval_compare

    for folder, names in (("a", ["walk", "walk", "run"]), ("b", ["walk", "run"])):
        (tmp_path / folder).mkdir()
        clips = [{"clip": i, "name": n, "root_drift_m": 0.1 * i} for i, n in enumerate(names)]
        (tmp_path / folder / "eval.json").write_text(json.dumps({"summary": {"root_drift_m": 0.1}, "clips": clips}))
    with pytest.raises(SystemExit) as e:
        eval_compare.main([str(tmp_path / "a"), str(tmp_path / "b"), "--clips", "root_drift_m"])
    assert "this result names several clips alike (walk)" in str(e.value)
