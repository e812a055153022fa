"""bench/learning_curves.py reads a run's TensorBoard events into curves and a summary."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import load_bench_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "learning_curves.py"


def write_run(run_dir: Path, iterations: int):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir))
    for it in range(1, iterations + 1):
        writer.add_scalar("Episode_rew_metrics/metric_completion", it / iterations, it)
        writer.add_scalar("Episode_rew_metrics/metric_tracking_joint_dof", 10.0 * it, it)
        writer.add_scalar("Episode_rew_metrics/metric_keybody_distance", 1.0 / it, it)
        writer.add_scalar("Episode_rew_metrics/metric_root_drift", 0.5 * it, it)
        writer.add_scalar("Policy/mean_noise_std", 1.0, it)
        writer.add_scalar("Loss/estimator", 2.0 / it, it)
    writer.close()


def test_curves_scale_tracking_rewards_to_per_step_and_summarise(tmp_path):
    lc = load_bench_script("learning_curves")
    write_run(tmp_path / "run", 40)
    scalars, minutes = lc.read_scalars(tmp_path / "run")
    assert minutes >= 0.0
    data = lc.curves(scalars)
    assert data["episode_length_fraction_of_clip"][0] == (1, pytest.approx(1 / 40))
    # metric_tracking_* is the episode sum per second of clip; x policy dt gives the mean per step.
    assert data["tracking_joint_dof_per_step"][4] == (5, pytest.approx(50.0 * lc.POLICY_DT))
    assert data["kl_student_teacher"] == []
    assert data["state_estimator_mse"][3] == (4, pytest.approx(0.5))
    assert data["root_drift_m"][2] == (3, pytest.approx(1.5))
    summary = lc.summary(data, window=10, early_iteration=20)
    distance = summary["keybody_distance_m"]
    assert distance["first"] == pytest.approx(1.0)
    assert distance["at_iteration_20"] == pytest.approx(1 / 20)
    assert distance["last_mean"] == pytest.approx(sum(1.0 / i for i in range(31, 41)) / 10)
    assert distance["last_iteration"] == 40
    assert "kl_student_teacher" not in summary


def test_cmg_runs_get_the_command_velocity_error_relative_to_the_commanded_speed(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    lc = load_bench_script("learning_curves")
    writer = SummaryWriter(str(tmp_path / "run"))
    for it in range(1, 6):
        writer.add_scalar("Episode_rew_metrics/metric_tracking_cmd_yaw", 5.0 * it, it)
        writer.add_scalar("Episode_rew_metrics/metric_cmd_vel_error", 0.1 * it, it)
        writer.add_scalar("Episode_rew_metrics/metric_cmd_mean_vel_error", 0.05 * it, it)
        writer.add_scalar("Episode_rew_metrics/metric_cmd_speed", 2.0, it)
        writer.add_scalar("Episode_rew_metrics/metric_cmd_mean_yaw_rate_error", 0.2 * it, it)
    writer.close()
    data = lc.curves(lc.read_scalars(tmp_path / "run")[0])
    assert data["cmd_vel_error_mps"][2] == (3, pytest.approx(0.3))
    assert data["cmd_vel_error_relative"][2] == (3, pytest.approx(0.15))
    assert data["cmd_mean_vel_error_mps"][2] == (3, pytest.approx(0.15))
    assert data["cmd_mean_vel_error_relative"][3] == (4, pytest.approx(0.1))
    assert "cmd_vel_error_relative" not in lc.curves({})
    assert "cmd_mean_vel_error_mps" not in lc.curves({})
    assert data["cmd_mean_yaw_rate_error_radps"][1] == (2, pytest.approx(0.4))
    assert "cmd_mean_yaw_rate_error_radps" not in lc.curves({})
    assert data["tracking_cmd_yaw_per_step"][1] == (2, pytest.approx(10.0 * lc.POLICY_DT))
    lc.plot(data, tmp_path / "curves.png", "cmg")  # the panel of the command-velocity errors
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_command_line_writes_json_and_png(tmp_path):
    write_run(tmp_path / "run", 25)
    out = tmp_path / "results" / "curves"
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "run"),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--command",
            "pytest",
            "--extra",
            '{"iterations": 25}',
        ],
        check=True,
        capture_output=True,
    )
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["device"] == "cpu" and result["command"] == "pytest" and result["iterations"] == 25
    assert result["summary"]["episode_length_fraction_of_clip"]["last_iteration"] == 25
    assert out.with_suffix(".png").stat().st_size > 0


def test_training_minutes_add_up_collection_and_learning_and_find_an_iteration(tmp_path):
    """Every iteration 6 s of collection and 3 s of learning: 0.15 min each; 0.5 min is first reached at
    iteration 4 (0.6 min), 10 min never in 25 iterations; a bad --at_minutes is refused by argparse."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "run"))
    for it in range(1, 26):
        writer.add_scalar("Perf/collection time", 6.0, it)
        writer.add_scalar("Perf/learning_time", 3.0, it)
    writer.close()
    out = tmp_path / "curves"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "run"), "--out", str(out), "--at_minutes", "0.5,10"],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.with_suffix(".json").read_text())
    minutes = result["curves"]["training_minutes"]
    assert [step for step, _ in minutes] == list(range(1, 26))
    assert [m for _, m in minutes] == pytest.approx([0.15 * k for k in range(1, 26)], rel=1e-6)
    assert result["iteration_at_minutes"] == {"0.5": 4, "10": None}
    assert "0.5 min: iteration 4" in done.stdout and "10 min: iteration - (the run is shorter)" in done.stdout
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "run"), "--out", str(out), "--at_minutes", "5,ten"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "expected comma-separated minutes" in bad.stderr


def test_result_text_one_line_per_curve_at_float32_precision():
    lc = load_bench_script("learning_curves")
    steps = range(1, 301)
    values = [1.0 / 3.0 * s + 1e-9 for s in steps]  # float64 values with more digits than a float32 holds
    result = {"benchmark": "learning curves", "summary": {"a": {"last_mean": 1.0 / 3.0}}, "curves": {}}
    result["curves"]["a_curve"] = [(s, v) for s, v in zip(steps, values)]
    result["curves"]["empty"] = []
    text = lc.result_text(result)
    lines = text.splitlines()
    assert len([line for line in lines if line.lstrip().startswith('"a_curve": [[1,')]) == 1
    assert len(lines) < 20  # 300 points would take 1,200 lines at an indent of 1
    back = json.loads(text)
    assert back["summary"] == result["summary"]  # untouched outside the curves
    assert back["curves"]["empty"] == []
    assert [s for s, _ in back["curves"]["a_curve"]] == list(steps)
    read = np.array([v for _, v in back["curves"]["a_curve"]])
    assert np.array_equal(read.astype(np.float32), np.array(values, dtype=np.float32))
    assert len(text) < len(json.dumps(result, indent=1)) / 2
