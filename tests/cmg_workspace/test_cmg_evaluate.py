"""CMG evaluation: the measures on motions with known answers, and the command line on a small model."""

import json

import numpy as np
import pytest
import torch

from cmg_helpers import build_embedded, train_small
from conftest import tiny_cmg
from cmg_workspace import evaluate
from cmg_workspace.dataset import heading
from cmg_workspace.metrics import divergence, joint_limit_metrics, locomotion_metrics, sole_points_in_root_frame
from cmg_workspace.rollout import integrate_root
from pose import formats, synth
from pose.cmg.checkpoint import load_cmg
from pose.g1_model import load_g1
from pose.kinematics import FootGeometry, ForwardKinematics

DT = 0.02


def _clip(name):
    manifest = synth.default_motion_file()
    return formats.load_clip(manifest.parent / (name + ".pkl"))


def _feet_in_heading_frame(c, a, b):
    """Feet of a clip relative to its root in the root's heading frame (the clip's pelvis tilts,
    so the full root rotation is used), and the heading."""
    model = load_g1()
    fk = ForwardKinematics(model, bodies=model.feet, dtype=torch.float64)
    args = [torch.as_tensor(c[k][a:b], dtype=torch.float64) for k in ("root_pos", "root_rot", "dof_pos")]
    world = fk(*args)[0].numpy() - c["root_pos"][a:b, None, :]
    yaw = heading(c["root_rot"][a:b])
    cy, sy = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    feet = np.stack(
        [cy * world[..., 0] + sy * world[..., 1], -sy * world[..., 0] + cy * world[..., 1], world[..., 2]], -1
    )
    return feet[None], yaw[None]


@pytest.mark.parametrize("name,speed", [("walk_forward_1p0", 1.0), ("walk_forward_1p5", 1.5), ("walk_turn", 0.8)])
def test_synthetic_walk_has_planted_feet_and_its_speed(name, speed):
    """The embedded walks (stance feet fixed by construction) over their steady part (2.5-6 s)."""
    c = _clip(name)
    a, b = int(2.5 / DT), int(6.0 / DT)
    feet, yaw = _feet_in_heading_frame(c, a, b)
    m = locomotion_metrics(feet, c["root_pos"][None, a:b], yaw, np.array([synth.CLIPS[name].command]), DT)
    assert m["foot_slide_mps"][0] < 0.05, m
    assert m["speed_error_rel"][0] < 0.1, m
    assert abs(m["implied_speed_mps"][0] - speed) < 0.1 * speed


def test_turn_in_place_implies_no_speed():
    c = _clip("turn_in_place")
    a, b = int(2.5 / DT), int(6.0 / DT)
    feet, yaw = _feet_in_heading_frame(c, a, b)
    m = locomotion_metrics(feet, c["root_pos"][None, a:b], yaw, np.array([[0.0, 0.0, 0.6]]), DT)
    assert m["foot_slide_mps"][0] < 0.05
    # the pelvis only sways (about 0.1 m/s): the implied speed is that, not a walking speed
    sway = np.median(np.linalg.norm(np.diff(c["root_pos"][a:b, :2], axis=0), axis=1)) / DT
    assert sway < 0.2 and abs(m["implied_speed_mps"][0] - sway) < 0.03, (sway, m)
    assert np.isnan(m["speed_error_rel"][0])  # below 0.5 m/s: no relative error


def test_frozen_pose_dragged_by_the_root():
    """A standing pose carried at 1 m/s: the feet slide at 1 m/s and imply no speed (error 1)."""
    q = np.tile(load_g1().default_dof_pos, (101, 1))[None]
    commands = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    root, yaw = integrate_root(torch.as_tensor(commands), 100, DT)
    points, foot_of = sole_points_in_root_frame(q)
    points = np.repeat(points, 2, axis=0)
    m = locomotion_metrics(points, root.numpy(), yaw.numpy(), commands, DT, foot_of=foot_of)
    np.testing.assert_allclose(m["foot_slide_mps"][0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(m["foot_slide_mps_mean"][0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(m["implied_speed_mps"][0], 0.0, atol=1e-9)
    np.testing.assert_allclose(m["speed_error_rel"][0], 1.0, rtol=1e-6)
    lowest = np.argmin(points[0, 0, :, 2])
    r = np.linalg.norm(points[0, 0, lowest, :2])  # turning at 1 rad/s: the contact point circles the root
    np.testing.assert_allclose(m["foot_slide_mps"][1], r, rtol=1e-3)
    np.testing.assert_allclose(m["implied_speed_mps"][1], r, rtol=1e-3)


def test_foot_rolling_over_its_planted_toe_does_not_slide():
    """A foot pivoting about its toe (heel rising, as in a push-off) with the root carried so the toe
    stays put: the sole-point measure reads no slide, while the ankle itself moves."""
    model = load_g1()
    geometry = FootGeometry(model, dtype=torch.float64)
    n = 26
    q = np.tile(model.default_dof_pos, (n, 1))
    ankle = [i for i, name in enumerate(model.dof_names) if name == "left_ankle_pitch_joint"][0]
    q[:, ankle] += np.linspace(0.0, 0.5, n)  # the left foot rolls about its toe
    zero_pos, upright = (
        torch.zeros(n, 3, dtype=torch.float64),
        torch.tensor([[0.0, 0.0, 0.0, 1.0]] * n, dtype=torch.float64),
    )
    sole = geometry.sole_points(zero_pos, upright, torch.as_tensor(q)).numpy()  # (n, P, 3) root frame
    left = np.flatnonzero(geometry.foot_of.numpy() == 0)
    toe = left[np.argmax(sole[0, left, 0])]
    # root motion that keeps the left toe still in the world and drops the left foot lowest
    root = np.zeros((1, n, 3))
    root[0, :, :2] = sole[0, toe, :2] - sole[:, toe, :2]
    points = sole.copy()
    points[:, :, 2] -= np.where(geometry.foot_of.numpy() == 0, 0.05, 0.0)[None]  # right foot higher
    points[:, toe, 2] -= 0.01  # the toe is the contact point throughout
    m = locomotion_metrics(points[None], root, np.zeros((1, n)), np.zeros((1, 3)), DT, foot_of=geometry.foot_of.numpy())
    assert m["stance_share"][0] == 1.0
    assert m["foot_slide_mps"][0] < 1e-9
    fk = ForwardKinematics(model, bodies=model.feet, dtype=torch.float64)
    ankle_pos = fk.local_body_pos(torch.as_tensor(q))[:, 0].numpy() + np.concatenate(
        [root[0, :, :2], np.zeros((n, 1))], 1
    )
    assert np.median(np.linalg.norm(np.diff(ankle_pos[:, :2], axis=0), axis=1)) / DT > 0.05


def test_root_integration():
    pos, yaw = integrate_root(torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.0, 0.5]], dtype=torch.float64), 50, DT)
    np.testing.assert_allclose(pos[0, -1, :2].numpy(), [1.0, 0.5])
    np.testing.assert_allclose(yaw[1, -1].item(), 0.5)
    # Euler steps along the heading: sum_k (cos, sin)(0.01 k) x 0.02
    k = np.arange(50)
    np.testing.assert_allclose(pos[1, -1, :2].numpy(), [np.cos(0.01 * k).sum() * DT, np.sin(0.01 * k).sum() * DT])
    assert (pos[:, :, 2] == 0.75).all()


def test_divergence_and_joint_limits():
    x = np.zeros((3, 10, 58))
    x[1, 4, 7] = np.nan
    x[2, 6, 3] = 11.0
    d = divergence(x, 10.0, DT)
    assert d["diverged"].tolist() == [False, True, True]
    assert (
        np.isnan(d["diverged_at"][0])
        and d["diverged_at"][1] == pytest.approx(0.08)
        and d["diverged_at"][2] == pytest.approx(0.12)
    )
    model = load_g1()
    q = np.tile(model.default_dof_pos, (2, 4, 1))
    q[1, :2, 3] = model.dof_upper[3] + 0.2
    lim = joint_limit_metrics(q)
    np.testing.assert_allclose(lim["limit_violation_frac"], [0.0, 0.5])
    np.testing.assert_allclose(lim["limit_violation_max_rad"], [0.0, 0.2], atol=1e-12)


def test_command_line_on_a_small_model(tmp_path):
    data = build_embedded(tmp_path / "d.pt")
    assert train_small(tmp_path / "d.pt", tmp_path / "run", 1, "--batch_size", "512") == 0  # one batch
    out = tmp_path / "eval"
    assert (
        evaluate.main(
            [
                str(tmp_path / "run"),
                "--out",
                str(out),
                "--vx",
                "0",
                "1",
                "3",
                "--vy",
                "0",
                "--wz",
                "0",
                "0.5",
                "--seconds",
                "2",
                "--baseline",
                "embedded",
            ]
        )
        == 0
    )
    result = json.loads((out / "eval.json").read_text())
    rows = result["commands"]
    assert [r["command"] for r in rows] == [[vx, 0.0, wz] for vx in (0.0, 1.0, 3.0) for wz in (0.0, 0.5)]
    lo, hi = data.stats.command_min - 1e-3, data.stats.command_max + 1e-3
    for r in rows:
        c = np.array(r["command"])
        assert r["in_band"] == bool(((c >= lo) & (c <= hi)).all())
        assert r["diverged"] in (True, False) and r["limit_violation_frac"] >= 0
        if not r["diverged"]:
            assert r["foot_slide_mps"] >= 0 and r["implied_speed_mps"] >= 0
        assert (r["speed_error_rel"] is None) == (np.linalg.norm(c[:2]) < 0.5 or r["diverged"])
    band = [r for r in rows if r["in_band"]]
    s = result["summary"]
    assert s["commands"] == len(band) and result["summary_all"]["commands"] == 6
    slides = [r["foot_slide_mps"] for r in band if r["foot_slide_mps"] is not None]
    assert s["foot_slide_mps_median"] == pytest.approx(float(np.median(slides)))
    assert s["diverged"] == sum(r["diverged"] for r in band)
    assert s["targets_met"] == (
        s["foot_slide_mps_median"] <= 0.1 and (s["speed_error_rel_median"] or 0) <= 0.15 and s["diverged"] == 0
    )
    base = result["data_baseline"]
    clips = {r["clip"]: r for r in base["clips"]}
    assert len(clips) == len(synth.CLIPS)
    for name in (
        "walk_forward_1p0",
        "walk_forward_1p5",
    ):  # planted feet under their own root, not under the integrated one
        r = clips["embedded/" + name]
        assert r["foot_slide_own_root_mps"] < 0.01 and r["foot_slide_mps"] > 0.1, r
        assert r["command_median"][0] == pytest.approx(synth.CLIPS[name].command[0], abs=0.05)
    moving = [
        r["foot_slide_mps"]
        for r in base["clips"]
        if np.linalg.norm(r["command_median"][:2]) >= 0.5 or abs(r["command_median"][2]) >= 0.3
    ]
    assert base["moving_clips"] == len(moving) and base["foot_slide_mps_median_moving"] == pytest.approx(
        float(np.median(moving))
    )
    pytest.importorskip("matplotlib")
    assert (out / "eval.png").stat().st_size > 10000


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert evaluate.main([str(tmp_path / "nope.pt"), "--out", str(tmp_path / "e")]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_foot_lock_evaluation_reports_the_generator_alone_and_the_lock(tmp_path):
    """--foot_lock: the measures of the locked frames, the generator's own slide beside them, and the
    lock's saturation and IK miss, summarised over the band like the other measures."""
    ckpt = tiny_cmg(tmp_path / "tiny.pt", standing_noise=0.3)
    args = [str(ckpt), "--vx", "0", "0.5", "1", "--vy", "0", "--wz", "0", "--seconds", "2", "--baseline", "none"]
    assert evaluate.main(args + ["--out", str(tmp_path / "plain")]) == 0
    assert evaluate.main(args + ["--out", str(tmp_path / "lock"), "--foot_lock"]) == 0
    plain = json.loads((tmp_path / "plain" / "eval.json").read_text())
    lock = json.loads((tmp_path / "lock" / "eval.json").read_text())
    assert plain["foot_lock"] is None and lock["foot_lock"]["max_shift_m"] == pytest.approx(0.08)
    for p, r in zip(plain["commands"], lock["commands"]):
        assert r["foot_slide_mps_unlocked"] == pytest.approx(p["foot_slide_mps"], nan_ok=True)
        assert 0.0 <= r["foot_lock_saturated_frac"] <= 1.0 and r["foot_lock_ik_error_max_m"] >= 0.0
        assert "foot_lock_saturated_frac" not in p
    s = lock["summary_all"]
    assert s["foot_slide_mps_median_unlocked"] == pytest.approx(plain["summary_all"]["foot_slide_mps_median"])
    assert s["foot_lock_saturated_frac_mean"] == pytest.approx(
        float(np.mean([r["foot_lock_saturated_frac"] for r in lock["commands"]]))
    )
    means = [r["foot_slide_mps_mean"] for r in lock["commands"] if r["foot_slide_mps_mean"] is not None]
    assert s["foot_slide_mps_mean_median"] == pytest.approx(float(np.median(means)))


def test_too_short_rollouts_and_unreadable_baselines_are_one_line_errors(tmp_path, capsys):
    """Rollouts no longer than the second left out, and a baseline source that does not exist, are
    refused before any rollout, naming what is wrong; nothing is written."""
    ckpt = str(evaluate.SHIPPED_MODEL)
    assert evaluate.main([ckpt, "--out", str(tmp_path / "e"), "--seconds", "1", "--baseline", "none"]) == 2
    assert capsys.readouterr().err.startswith("error: rollouts of 1 s")
    with pytest.raises(ValueError, match="rollouts of 0.5 s"):
        evaluate.evaluate(load_cmg(ckpt), np.zeros((1, 3)), seconds=0.5)
    missing = tmp_path / "no_such_clips"
    assert evaluate.main([ckpt, "--out", str(tmp_path / "e"), "--baseline", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "does not exist" in err
    assert not (tmp_path / "e").exists()
