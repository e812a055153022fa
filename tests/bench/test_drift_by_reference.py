"""bench/drift_by_reference.py: per-clip reference features against the root drift of eval.py results."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pose.readers import make_clip
from pose.formats import save_clip, write_manifest
from pose.g1_model import load_g1

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench"))

import drift_by_reference as dbr  # noqa: E402

FPS = 50.0


def clip(path, velocity_xy, yaw):
    """A clip whose pelvis faces `yaw` (rad, per frame) while the root moves with `velocity_xy` (m/s, per frame)."""
    velocity_xy = np.asarray(velocity_xy, dtype=float)
    n = len(velocity_xy)
    pos = np.zeros((n, 3))
    pos[:, :2] = np.cumsum(velocity_xy, axis=0) / FPS
    pos[:, 2] = 0.79
    yaw = np.broadcast_to(np.asarray(yaw, dtype=float), (n,))
    quat = np.stack([np.zeros(n), np.zeros(n), np.sin(yaw / 2), np.cos(yaw / 2)], axis=1)  # xyzw
    save_clip(path, make_clip(path, FPS, pos, quat, np.zeros((n, load_g1().num_dofs))))
    return path.name


@pytest.fixture
def motions(tmp_path):
    """Three 4-s clips facing +x: walking forward at 1.5 m/s; the same with 2 s of it backwards; standing."""
    n = int(4 * FPS)
    forward = np.tile([1.5, 0.0], (n, 1))
    backward = forward.copy()
    backward[n // 2 :] *= -1.0
    files = [
        clip(tmp_path / "forward.pkl", forward, 0.0),
        clip(tmp_path / "backward.pkl", backward, 0.0),
        clip(tmp_path / "stand.pkl", np.zeros((n, 2)), 0.7),
    ]
    return write_manifest(tmp_path / "manifest.yaml", files)


def eval_result(folder, drift):
    folder.mkdir()
    clips = [{"name": k, "root_drift_m": v} for k, v in drift.items()]
    (folder / "eval.json").write_text(json.dumps({"summary": {}, "clips": clips}))
    return str(folder)


def test_features_follow_the_reference_root(motions):
    lib = dbr.MotionLib(str(motions), smooth_window=5)
    features = {name: dbr.clip_features(lib, i, 1.0) for i, name in enumerate(lib.motion_names)}
    # forward: never off its heading; backward: half its 4 s (the turn's filtered frames aside)
    assert features["forward"]["backward_at_speed_s"] == 0.0 and features["forward"]["sideways_at_speed_s"] == 0.0
    assert features["backward"]["backward_at_speed_s"] == pytest.approx(2.0, abs=0.1)
    assert features["backward"]["sideways_at_speed_s"] == pytest.approx(2.0, abs=0.1)
    assert features["forward"]["mean_speed_mps"] == pytest.approx(1.5, abs=0.02)
    # a reversal keeps the speed (it passes 0 within the filter's few frames), a constant walk too (the
    # filtered velocity of the clip's last frames aside)
    assert features["backward"]["max_speed_change_mps"] < 0.2
    assert features["forward"]["max_speed_change_mps"] == pytest.approx(0.0, abs=0.05)
    assert features["stand"]["mean_speed_mps"] == pytest.approx(0.0, abs=1e-6)
    assert features["stand"]["backward_at_speed_s"] == 0.0
    # the last second: forward at +1.5 m/s, backwards at -1.5 m/s along where the pelvis faces
    assert features["forward"]["end_forward_mps"] == pytest.approx(1.5, abs=0.05)
    assert features["backward"]["end_forward_mps"] == pytest.approx(-1.5, abs=0.05)
    assert features["stand"]["end_forward_mps"] == pytest.approx(0.0, abs=1e-6)
    assert features["backward"]["end_speed_mps"] == pytest.approx(1.5, abs=0.05)


def test_a_start_from_rest_is_the_largest_speed_change(tmp_path):
    n = int(4 * FPS)
    velocity = np.zeros((n, 2))
    velocity[n // 2 :, 0] = 2.0  # 2 s standing, then 2 m/s: the 1-s mean speed goes from 0 to 2 within a second
    manifest = write_manifest(tmp_path / "start.yaml", [clip(tmp_path / "start.pkl", velocity, 0.0)])
    features = dbr.clip_features(dbr.MotionLib(str(manifest), smooth_window=5), 0, 1.0)
    assert features["max_speed_change_mps"] == pytest.approx(2.0, abs=0.05)
    assert features["mean_speed_mps"] == pytest.approx(1.0, abs=0.03)


def test_the_drift_is_averaged_over_results_and_split_by_backward_at_speed(motions, tmp_path, capsys):
    a = eval_result(tmp_path / "a", {"forward": 0.2, "backward": 1.0, "stand": 0.0, "other": 5.0})
    b = eval_result(tmp_path / "b", {"forward": 0.4, "backward": 0.6, "stand": 0.1})
    out = str(tmp_path / "out" / "drift")
    args = dbr.parse(
        ["--motion_file", str(motions), "--eval", a, "--eval", b, "--top", "1", "--end_split", "1.0", "--out", out]
    )
    record = dbr.main(args)
    rows = {r["name"]: r for r in record["clips"]}
    assert sorted(rows) == ["backward", "forward", "stand"]  # "other" is in one result only
    assert rows["forward"]["root_drift_m"] == pytest.approx(0.3) and rows["stand"]["root_drift_m"] == pytest.approx(
        0.05
    )
    s = record["summary"]
    assert s["above_split"] == {"clips": 1, "mean_root_drift_m": pytest.approx(0.8)}
    assert s["at_or_below_split"] == {"clips": 2, "mean_root_drift_m": pytest.approx(0.175)}
    # forward and backward end at 1.5 m/s (drifts 0.3 and 0.8), the standing clip at 0 (0.05)
    assert s["above_end_speed_split"] == {"clips": 2, "mean_root_drift_m": pytest.approx(0.55)}
    assert s["at_or_below_end_speed_split"] == {"clips": 1, "mean_root_drift_m": pytest.approx(0.05)}
    assert s["top"] == ["backward"] and s["top_share_of_drift"] == pytest.approx(0.8 / 1.15)
    drift = np.array([rows[n]["root_drift_m"] for n in ("forward", "backward", "stand")])
    speed = np.array([rows[n]["mean_speed_mps"] for n in ("forward", "backward", "stand")])
    assert s["correlation_with_drift"]["mean_speed_mps"] == pytest.approx(np.corrcoef(speed, drift)[0, 1])
    fit = s["fit_drift_m"]  # three clips, three parameters: the fit passes through every clip
    for name in rows:
        r = rows[name]
        predicted = (
            fit["intercept"]
            + fit["per_mps_of_mean_speed"] * r["mean_speed_mps"]
            + fit["per_s_of_backward_at_speed"] * r["backward_at_speed_s"]
        )
        assert predicted == pytest.approx(r["root_drift_m"], abs=1e-6)
    assert json.loads(Path(out + ".json").read_text())["summary"] == json.loads(json.dumps(s))
    assert Path(out + ".png").stat().st_size > 0
    assert "backward-at-speed > 0.3 s: 1 clips, drift 0.800 m" in capsys.readouterr().out


def test_clips_are_matched_by_eval_row_names_and_the_missing_ones_named(tmp_path, capsys):
    """A stem in two folders (a clip and its mirror set's namesake) is a row of eval.py named by its path
    from the folders' common parent (`eval_report.unique_clip_names`): both rows are analysed, not dropped.
    A clip that a result lacks is left out, named in a WARNING line and in `clips_left_out`."""
    n = int(4 * FPS)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    velocities = {
        "a/walk.pkl": [1.0, 0.0],
        "b/walk.pkl": [2.0, 0.0],
        "a/stand.pkl": [0.0, 0.0],
        "a/jog.pkl": [1.5, 0.0],
    }
    for name, velocity in velocities.items():
        clip(tmp_path / name, np.tile(velocity, (n, 1)), 0.0)
    manifest = write_manifest(tmp_path / "set.yaml", list(velocities))
    result = eval_result(tmp_path / "r", {"a/walk.pkl": 0.2, "b/walk.pkl": 0.6, "stand": 0.1})
    record = dbr.main(dbr.parse(["--motion_file", str(manifest), "--eval", result, "--out", str(tmp_path / "o")]))
    rows = {r["name"]: r for r in record["clips"]}
    assert sorted(rows) == ["a/walk.pkl", "b/walk.pkl", "stand"]
    assert rows["b/walk.pkl"]["mean_speed_mps"] == pytest.approx(2.0, abs=0.02)  # its own clip's features
    assert record["summary"]["mean_root_drift_m"] == pytest.approx(0.3)
    assert record["clips_left_out"] == ["jog"]
    assert "WARNING: 1 of the 4 clips of --motion_file" in capsys.readouterr().out


def test_a_run_of_a_results_file_is_read_and_bad_sources_are_named(tmp_path):
    results = tmp_path / "results.json"
    run = {"name": "T", "summary": {"root_drift_m": 0.3}, "clips": [{"name": "walk", "root_drift_m": 0.3}]}
    results.write_text(json.dumps({"runs": [run]}))
    assert dbr.read_clip_drift("{}:T".format(results)) == {"walk": 0.3}
    with pytest.raises(dbr.UsageError, match=r"no run 'S' in .*results.json \(runs: \['T'\]\)"):
        dbr.read_clip_drift("{}:S".format(results))
    with pytest.raises(dbr.UsageError, match="no eval.json there"):
        dbr.read_clip_drift(str(tmp_path / "missing"))
    commands = tmp_path / "cmg"
    commands.mkdir()
    (commands / "eval.json").write_text(json.dumps({"summary": {}, "commands": [{"name": "vx1.00_vy0.00_wz0.00"}]}))
    with pytest.raises(dbr.UsageError, match="cmg: no per-clip root_drift_m there"):
        dbr.read_clip_drift(str(commands))
