"""bench/bench_sim2sim_tracking.py: the tracking benchmark's metrics (legged_gym/scripts/eval.py
`step_errors`) on the deploy server's MuJoCo loop, for a 1-s walk played by the shipped student."""

import pytest
import torch

from legged_gym.scripts.eval import step_errors

from legged_gym.scripts.eval_report import METRIC_KEYS
from pose.utils.torch_utils import quat_rotate


def yaw_quat(yaw):
    return torch.tensor([[0.0, 0.0, torch.sin(torch.tensor(yaw / 2)), torch.cos(torch.tensor(yaw / 2))]])


def test_step_errors_of_a_robot_beside_its_reference():
    """The same pose 1 m to the side: world errors 1 m, root-relative 0; joint and velocity errors as given."""
    q = yaw_quat(0.4)
    ref_root = torch.tensor([[0.5, -0.2, 0.8]])
    local = torch.randn(1, 12, 3, generator=torch.Generator().manual_seed(0)) * 0.3
    ref_body = ref_root.unsqueeze(1) + quat_rotate(q.expand(12, 4), local[0]).unsqueeze(0)
    shift = torch.tensor([0.0, 1.0, 0.0])
    key = [0, 3, 5]
    ref_dof, dof = torch.zeros(1, 23), torch.full((1, 23), 0.1)
    errors = step_errors(
        ref_root + shift,
        q,
        torch.tensor([[1.0, 0.0, 0.0]]),
        dof,
        ref_body[:, key] + shift,
        ref_body + shift,
        ref_root,
        q,
        torch.tensor([[1.0, 0.6, 0.8]]),
        ref_dof,
        ref_body[:, key],
        ref_body,
    )
    for name, expected in (("kb_world", 1.0), ("all_world", 1.0), ("kb_local", 0.0), ("all_local", 0.0)):
        torch.testing.assert_close(errors[name], torch.tensor([expected]), atol=1e-5, rtol=0, msg=name)
    torch.testing.assert_close(errors["joint"], torch.tensor([0.1]))
    torch.testing.assert_close(errors["root_vel"], torch.tensor([1.0]))


@pytest.mark.parametrize("start_yaw", [0.0, 2.0])
def test_sim2sim_clip_reports_the_eval_metrics_of_a_finished_walk(tmp_path, start_yaw):
    """The walk as synthesised (facing +x) and turned by 2 rad about the origin: the robot starts facing
    the clip, so its heading error stays small and the drift is that of the walk itself."""
    pytest.importorskip("mujoco")
    from scipy.spatial.transform import Rotation as R

    bench = pytest.importorskip("bench.bench_sim2sim_tracking")
    from deploy_real.policy import SHIPPED_POLICY
    from pose.formats import load_clip, motion_sources, save_clip
    from pose.synth import default_motion_file
    from pose.utils.motion_lib_pkl import MotionLib

    sources = {e.file.stem: e.file for e in motion_sources(default_motion_file())}
    clip = load_clip(sources["walk_forward_0p5"])
    n = int(round(1.0 * clip["fps"])) + 1
    for key in ("root_pos", "root_rot", "dof_pos", "local_body_pos"):
        clip[key] = clip[key][:n]
    turn = R.from_euler("z", start_yaw)
    clip["root_pos"] = turn.apply(clip["root_pos"])  # local_body_pos is root-relative: unchanged
    clip["root_rot"] = (turn * R.from_quat(clip["root_rot"])).as_quat()
    save_clip(tmp_path / "walk.pkl", clip)
    lib = MotionLib(str(tmp_path / "walk.pkl"), device="cpu")
    key_idx = lib.get_key_body_idx(bench.G1.key_bodies)
    score, evals = bench.sim2sim_clip(SHIPPED_POLICY, lib, 0, key_idx)
    assert set(evals) == set(METRIC_KEYS)
    assert score["completion"] == 1.0 and evals["completion"] == 1.0  # a finished clip, on both scores
    assert evals["success_rate"] == 1.0
    # both accumulations average metrics.joint_error over the same steps of the same states
    assert evals["joint_error_rad"] == pytest.approx(score["joint_err_rad"], rel=1e-5)
    assert 0.0 < evals["mpkpe_local_mm"] < 100.0 and 0.0 < evals["mpkpe_global_mm"] < 200.0
    # the benchmark's own key-body score (root-relative, the reference's local bodies) is the same quantity
    assert evals["mpkpe_local_mm"] == pytest.approx(1000.0 * score["keybody_err_m"], rel=1e-3)
    assert 0.0 <= evals["root_drift_m"] < 0.5  # a 1-s walk at 0.5 m/s
    assert evals["root_heading_error_rad"] < 0.2 and score["heading_err_rad"] < 0.2


def test_policy_settings_take_other_drift_feedback_gains(tmp_path):
    """--drift_feedback_gains: the export's feedback settings with the given gains, on both sides (the env's
    ref_correction here; the deploy server's in sim2sim_clip), and --leg_odometry's odometry; refused for a
    policy without the feedback."""
    import json
    import shutil
    from types import SimpleNamespace

    bench = pytest.importorskip("bench.bench_sim2sim_tracking")
    from deploy_real.policy import SHIPPED_POLICY, Policy

    trained = {"pos_gain": 1.0, "yaw_gain": 1.0, "max_speed": 1.0, "max_yaw_rate": 1.0, "full_speed": 0.0}
    shutil.copy(SHIPPED_POLICY, tmp_path / "fb.pt")
    meta = dict(Policy(SHIPPED_POLICY, engine="torch").metadata() or {}, drift_feedback=trained)
    (tmp_path / "fb.json").write_text(json.dumps(meta))  # read beside the model instead of its own metadata
    assert bench.PolicySettings.of(tmp_path / "fb.pt").drift_feedback == trained
    settings = bench.PolicySettings.of(tmp_path / "fb.pt", (2.0, 0.5))
    assert settings.drift_feedback == dict(trained, pos_gain=2.0, yaw_gain=0.5)
    cfg = SimpleNamespace(motion=SimpleNamespace(ref_correction=SimpleNamespace()))
    settings.apply(cfg)
    assert (cfg.motion.ref_correction.pos_gain, cfg.motion.ref_correction.yaw_gain) == (2.0, 0.5)
    assert cfg.motion.student_ref_correction and cfg.motion.student_odometry == "estimate"
    with pytest.raises(ValueError, match="has no drift_feedback in its metadata"):
        bench.PolicySettings.of(SHIPPED_POLICY, (2.0, 0.5))
    # --leg_odometry: the env dead-reckons on the legs too; refused without the feedback
    bench.PolicySettings.of(tmp_path / "fb.pt", leg_odometry=True).apply(cfg)
    assert cfg.motion.student_odometry == "legs"
    with pytest.raises(ValueError, match="--leg_odometry: .* has no drift_feedback"):
        bench.PolicySettings.of(SHIPPED_POLICY, leg_odometry=True)


def test_a_motion_set_with_a_clip_no_step_plays_is_refused_first(tmp_path):
    """A clip of 2 frames at 50 fps (0.02 s) has no step to play on either side (0 steps: completion 0/0 and
    a NaN summary before): the benchmark refuses the set, naming the clip, before it runs anything."""
    import numpy as np

    bench = pytest.importorskip("bench.bench_sim2sim_tracking")
    from pose import readers
    from pose.formats import MotionFileError, save_clip, write_manifest

    for name, frames in (("ok", 51), ("blip", 2)):
        root_pos, root_rot = np.tile([0.0, 0.0, 0.76], (frames, 1)), np.tile([0.0, 0.0, 0.0, 1.0], (frames, 1))
        save_clip(tmp_path / (name + ".pkl"), readers.make_clip(name, 50.0, root_pos, root_rot, np.zeros((frames, 23))))
    manifest = write_manifest(tmp_path / "set.yaml", ["ok.pkl", "blip.pkl"])
    with pytest.raises(MotionFileError, match=r"clip 1 \(.*blip.pkl: 2 frames at 50 fps, 0.0200 s\)"):
        bench.main(["--motion_file", str(manifest), "--clips", "0", "--out", str(tmp_path / "out.json")])
    assert not (tmp_path / "out.json").exists()


def test_clips_selects_ids_of_the_set_and_warns_about_repeats_among_them(capsys):
    """--clips: every clip without it; an id outside the set is refused with the set's range; a file listed
    twice is warned about only when both listings are played."""
    bench = pytest.importorskip("bench.bench_sim2sim_tracking")

    files = ["a.pkl", "b.pkl", "a.pkl"]
    assert bench.selected_clips(None, files) == [0, 1, 2]
    assert "1 clip file(s) listed more than once" in capsys.readouterr().out
    assert bench.selected_clips([1, 0], files) == [1, 0]
    assert capsys.readouterr().out == ""
    assert bench.selected_clips([0, 0], files) == [0, 0]
    assert "listed more than once" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"--clips \[3, -1\]: the motion set has clips 0 to 2"):
        bench.selected_clips([0, 3, -1], files)
