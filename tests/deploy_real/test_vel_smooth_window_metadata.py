"""The reference-velocity window a student was trained with (`motion.vel_smooth_window`) travels in its
export metadata (`vel_smooth_window`), so the deploy servers and the sim2sim benchmark stream what the
policy saw in training (docs/observations.md, Export metadata)."""

import json
import os

import pytest

from deploy_helpers import sim_student_step

from deploy_real.policy import Policy
from deploy_real.student_step import reference_vel_window
from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicStuRLCfg
from legged_gym.scripts.save_jit_stu_rlbc import deploy_metadata, export


def test_metadata_records_the_trained_window():
    assert deploy_metadata("g1")["vel_smooth_window"] == 19 == G1MimicStuRLCfg.motion.vel_smooth_window  # TWIST's
    assert deploy_metadata("g1", ["motion.vel_smooth_window=5"])["vel_smooth_window"] == 5
    last_wins = ["motion.vel_smooth_window=5", "motion.vel_smooth_window=1"]
    assert deploy_metadata("g1", last_wins)["vel_smooth_window"] == 1
    assert deploy_metadata("g1", ["rewards.scales.tracking_root_vel=2.0"])["vel_smooth_window"] == 19


def test_window_read_from_metadata():
    assert reference_vel_window(None) == 19 and reference_vel_window({}) == 19  # TWIST's exports
    assert reference_vel_window({"vel_smooth_window": 5}) == 5
    for bad in (4, 0, -3, True, "5", 5.0):
        with pytest.raises(ValueError, match="vel_smooth_window = "):
            reference_vel_window({"vel_smooth_window": bad})


def test_export_to_student_step_and_benchmark_settings(tmp_path):
    """Checkpoint --set items -> the exported files (each carries the metadata) -> StudentStep and the
    sim2sim benchmark's environment settings."""
    from deploy_helpers import save_random_student

    trained = ["motion.vel_smooth_window=5", "motion.student_relative_ref_yaw=true"]
    save_random_student(tmp_path / "model_7.pt", infos={"set": trained})
    out = export(tmp_path / "model_7.pt", tmp_path / "traced", "s")
    with open(out["json"]) as f:
        assert json.load(f)["vel_smooth_window"] == 5
    os.remove(out["json"])
    assert Policy(out["jit"], engine="torch").metadata()["vel_smooth_window"] == 5

    step = sim_student_step(out["jit"])
    assert step.vel_smooth_window == 5 and step.reference_yaw == "relative"
    assert "relative reference yaw, clip velocities over 5 frames" in step.describe()  # the servers' start line

    bench = pytest.importorskip("bench.bench_sim2sim_tracking")
    settings = bench.PolicySettings.of(out["jit"])
    assert settings == bench.PolicySettings(relative_ref_yaw=True, vel_smooth_window=5)
    cfg = G1MimicStuRLCfg()
    settings.apply(cfg)
    assert cfg.motion.vel_smooth_window == 5 and cfg.motion.student_relative_ref_yaw is True


def test_high_level_server_takes_the_window_from_the_policy(tmp_path):
    """--policy_path: the clips' velocity window is the export's; a --vel_smooth_window that disagrees stops
    the server with both values named; one that agrees is accepted."""
    from deploy_helpers import save_random_student

    from deploy_real.server_high_level_motion_lib import build_parser, clip_vel_window

    save_random_student(tmp_path / "model_2.pt", infos={"set": ["motion.vel_smooth_window=5"]})
    jit = export(tmp_path / "model_2.pt", tmp_path / "traced", "s")["jit"]
    parse = build_parser().parse_args
    assert clip_vel_window(parse(["--policy_path", jit]))[0] == 5
    assert clip_vel_window(parse(["--policy_path", jit, "--vel_smooth_window", "5"]))[0] == 5
    with pytest.raises(ValueError, match="--vel_smooth_window 7: .* was trained with 5"):
        clip_vel_window(parse(["--policy_path", jit, "--vel_smooth_window", "7"]))
