"""bench/train_demo.sh (the GPU training demonstration) end to end on CPU with 4 envs and 1 iteration
per stage, then bench/learning_curves.py on its student run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mujoco_warp")

ROOT = Path(__file__).resolve().parents[2]


def test_demo_trains_teacher_then_student_and_its_curves_are_readable(tmp_path):
    from pose.synth import default_motion_file

    out = tmp_path / "demo"
    stand = default_motion_file().parent / "stand.pkl"
    env = dict(
        os.environ,
        LEGGED_GYM_LOG_DIR=str(tmp_path / "logs"),
        PYTHON=sys.executable,
        TRAIN_ARGS="--motion_file {}".format(stand),
        EVAL_MOTION_FILE=str(stand),
        EVAL_ARGS="--num_envs_per_clip 1",
        TEACHER_ARGS="--set policy.init_noise_std=0.7",
        STUDENT_ARGS="--set algorithm.dagger_coef=1.0 --set policy.init_noise_std=0.4",
    )
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "train_demo.sh"), str(out), "1", "1", "cpu", "4"],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    logs = "".join((out / name).read_text()[-3000:] for name in ("teacher.log", "student.log") if (out / name).exists())
    assert done.returncode == 0, done.stderr + logs
    assert (out / "teacher" / "model_1.pt").is_file()
    assert list((out / "teacher").glob("events.out.tfevents.*"))
    assert list((out / "student").glob("events.out.tfevents.*"))
    for stage in ("teacher", "student"):  # TRAIN_ARGS reached both runs: trained on the one clip
        assert "4 envs, 1 motions" in (out / "{}.log".format(stage)).read_text()
    for stage in ("teacher", "student"):  # EVAL_MOTION_FILE: each stage played from the clip's start
        result = json.loads((out / "eval_{}".format(stage) / "eval.json").read_text())
        assert [c["name"] for c in result["clips"]] == ["stand"], (out / "eval_{}.log".format(stage)).read_text()[
            -2000:
        ]
    assert "eval_teacher" in (out / "eval_student.log").read_text()  # compared with the teacher

    curves = learning_curves(out / "student", tmp_path / "student_curves")
    assert [step for step, _ in curves["kl_student_teacher"]] == [1]
    assert curves["kl_student_teacher"][0][1] > 0.0
    assert [step for step, _ in curves["action_std"]] == [1]
    # STUDENT_ARGS reached the student only (the teacher's PPO config has no dagger_coef: it would have
    # failed), TEACHER_ARGS the teacher only: each run's action std after one update is near its own start
    assert abs(curves["action_std"][0][1] - 0.4) < 0.05
    teacher_curves = learning_curves(out / "teacher", tmp_path / "teacher_curves")
    assert abs(teacher_curves["action_std"][0][1] - 0.7) < 0.05


def learning_curves(run_dir, out):
    """The curves bench/learning_curves.py reads from a run's TensorBoard log (it writes <out>.json)."""
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "learning_curves.py"), str(run_dir), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return json.loads(out.with_suffix(".json").read_text())["curves"]


def test_demo_prints_its_usage():
    done = subprocess.run(["bash", str(ROOT / "bench" / "train_demo.sh")], capture_output=True, text=True)
    assert done.returncode == 2 and "usage: bash bench/train_demo.sh" in done.stderr
