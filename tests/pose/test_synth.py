"""The embedded default motion set (pose.synth): files, determinism, contact quality, speeds, limits.

The set is generated once per module through the CLI (`python -m pose.synth --out DIR`); contact
checks use their own stance definition (foot low over a short window), not the generator's labels.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, foot_points
from pose import formats, synth
from pose.g1_model import load_g1
from pose.kinematics import ForwardKinematics
from pose.utils.torch_utils import get_euler_xyz

FPS = 50
GROUND_TOL = 0.01  # m: "on the ground" and "below the ground" tolerance
STANCE_WINDOW = 2  # frames either side that must be low too
MAX_STANCE_SPEED = 0.03  # m/s


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    result = subprocess.run(
        [sys.executable, "-m", "pose.synth", "--out", str(out), "--seed", "0", "--fps", str(FPS)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def clips(synth_dir):
    return {name: formats.load_clip(synth_dir / (name + ".pkl")) for name in synth.CLIPS}


@pytest.fixture(scope="module")
def feet(clips):
    return foot_points(clips)


def _stance_mask(lowest):
    """Foot within GROUND_TOL of the ground on this frame and the STANCE_WINDOW frames around it."""
    low = lowest < GROUND_TOL
    mask = low.copy()
    for k in range(1, STANCE_WINDOW + 1):
        mask[k:] &= low[:-k]
        mask[:-k] &= low[k:]
    return mask


def _middle(c):
    n = len(c["root_pos"])
    return n // 4, 3 * n // 4


def _yaw(c):
    _, _, yaw = get_euler_xyz(torch.as_tensor(c["root_rot"], dtype=torch.float64))
    return np.unwrap(yaw.numpy())


def _forward_speed(c):
    """Mean root velocity along the heading over the middle half of the clip."""
    a, b = _middle(c)
    vel = np.gradient(c["root_pos"][:, :2], axis=0) * c["fps"]
    yaw = _yaw(c)
    return float((vel[:, 0] * np.cos(yaw) + vel[:, 1] * np.sin(yaw))[a:b].mean())


def _yaw_rate(c):
    a, b = _middle(c)
    yaw = _yaw(c)
    return float((yaw[b] - yaw[a]) * c["fps"] / (b - a))


# --- files ----------------------------------------------------------------------------------------


def test_every_clip_exists_and_loads(synth_dir, clips):
    entries = formats.load_manifest(synth_dir / "manifest.yaml")
    assert [e.file.name for e in entries] == [n + ".pkl" for n in synth.CLIPS]
    assert all(e.weight == 1.0 and e.description for e in entries)
    expected = {
        "stand",
        "squat",
        "arm_swing",
        "waist_twist",
        "walk_forward_0p5",
        "walk_forward_1p0",
        "walk_forward_1p5",
        "walk_sideways",
        "turn_in_place",
        "walk_turn",
    }
    assert set(clips) == expected
    for name, c in clips.items():
        assert c["fps"] == FPS
        duration = (len(c["root_pos"]) - 1) / c["fps"]
        assert 6.0 <= duration <= 10.0, (name, duration)
        assert c["link_body_list"] == list(load_g1().motion_bodies)


def test_same_seed_gives_identical_clips(synth_dir, tmp_path):
    names = ["stand", "walk_forward_1p0"]
    first = {n: synth.build_clip(n, seed=0, fps=FPS).clip for n in names}
    second = {n: synth.build_clip(n, seed=0, fps=FPS).clip for n in names}
    synth.generate(tmp_path, seed=0, fps=FPS, names=names)
    for n in names:
        again = formats.load_clip(tmp_path / (n + ".pkl"))
        cli = formats.load_clip(synth_dir / (n + ".pkl"))
        for key in ("root_pos", "root_rot", "dof_pos", "local_body_pos"):
            np.testing.assert_array_equal(first[n][key], second[n][key], err_msg="{} {}".format(n, key))
            np.testing.assert_array_equal(again[key], cli[key], err_msg="{} {}".format(n, key))
    other = synth.build_clip("stand", seed=1, fps=FPS).clip
    assert not np.allclose(other["root_pos"], first["stand"]["root_pos"])


def test_other_frame_rate(tmp_path):
    c = synth.build_clip("walk_forward_0p5", fps=30).clip
    assert c["fps"] == 30 and 6.0 <= (len(c["root_pos"]) - 1) / 30 <= 10.0
    assert abs(_forward_speed(c) - 0.5) < 0.05


# --- contact quality ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(synth.CLIPS))
def test_stance_feet_do_not_slide(feet, clips, name):
    pos, lowest = feet[name]
    fps = clips[name]["fps"]
    speed = np.zeros(lowest.shape)
    speed[1:-1] = np.linalg.norm(pos[2:, :, :2] - pos[:-2, :, :2], axis=-1) * fps / 2.0
    for side in range(2):
        stance = _stance_mask(lowest[:, side])
        stance[[0, -1]] = False  # no central difference there
        assert stance.mean() > 0.3, (name, side, "too few stance frames")
        worst = speed[stance, side].max()
        assert worst < MAX_STANCE_SPEED, "{}: foot {} slides at {:.4f} m/s in stance".format(name, side, worst)


@pytest.mark.parametrize("name", list(synth.CLIPS))
def test_feet_on_not_below_the_ground(feet, name):
    _, lowest = feet[name]
    assert lowest.min() > -GROUND_TOL, "{}: a foot is {:.4f} m below the ground".format(name, lowest.min())
    # always some foot carrying the robot (no flight phase), resting on the ground
    support = lowest.min(axis=1)
    assert np.abs(support).max() < GROUND_TOL, name
    stance = np.stack([_stance_mask(lowest[:, s]) for s in range(2)], -1)
    assert np.abs(lowest[stance]).max() < GROUND_TOL, name


# --- speeds, turn rates, heights, limits -----------------------------------------------------------


@pytest.mark.parametrize(
    "name,speed", [("walk_forward_0p5", 0.5), ("walk_forward_1p0", 1.0), ("walk_forward_1p5", 1.5)]
)
def test_walking_speed(clips, name, speed):
    c = clips[name]
    assert abs(_forward_speed(c) - speed) < 0.1 * speed, (name, _forward_speed(c))
    a, b = _middle(c)
    drift = c["root_pos"][b, 1] - c["root_pos"][a, 1]
    assert abs(drift) < 0.1, (name, drift)
    assert abs(_yaw_rate(c)) < 0.05


def test_sideways_walk_moves_along_y(clips):
    c = clips["walk_sideways"]
    a, b = _middle(c)
    d = c["root_pos"][b] - c["root_pos"][a]
    assert abs(d[1]) > 5 * abs(d[0]), d
    assert abs(d[1] * c["fps"] / (b - a) - 0.25) < 0.025
    assert abs(_yaw_rate(c)) < 0.05


@pytest.mark.parametrize("name,rate", [("turn_in_place", 0.6), ("walk_turn", -0.4)])
def test_turn_rate(clips, name, rate):
    c = clips[name]
    assert abs(_yaw_rate(c) - rate) < 0.1 * abs(rate), (name, _yaw_rate(c))


def test_turn_in_place_stays_in_place(clips):
    xy = clips["turn_in_place"]["root_pos"][:, :2]
    assert np.linalg.norm(xy - xy[0], axis=1).max() < 0.1


def test_walk_turn_forward_speed(clips):
    assert abs(_forward_speed(clips["walk_turn"]) - 0.8) < 0.08


@pytest.mark.parametrize("name", synth.WALK_CLIPS)
def test_walking_pelvis_height(clips, name):
    z = clips[name]["root_pos"][:, 2]
    assert 0.72 < z.min() and z.max() < 0.80, (name, z.min(), z.max())


@pytest.mark.parametrize("name", list(synth.CLIPS))
def test_joint_angles_within_limits(clips, name):
    model = load_g1()
    q = clips[name]["dof_pos"]
    tol = 1e-6  # float32 storage
    assert (q >= model.dof_lower - tol).all() and (q <= model.dof_upper + tol).all(), name


# --- IK accuracy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["walk_forward_1p5", "turn_in_place", "squat"])
def test_ik_reaches_planned_foot_poses(clips, name):
    built = synth.build_clip(name, seed=0, fps=FPS)
    assert built.ik_pos_err.max() < 1e-6 and built.ik_rot_err.max() < 1e-5
    plan = built.plan
    c = clips[name]  # stored float32 clip
    frames = np.linspace(0, len(plan.t) - 1, 25).astype(int)
    swing = np.where(~plan.feet.stance.all(axis=1))[0]
    if len(swing):
        frames = np.concatenate([frames, swing[:: max(1, len(swing) // 10)]])
    model = load_g1()
    fk = ForwardKinematics(model, bodies=model.feet, dtype=torch.float64)
    args = [torch.as_tensor(c[k][frames], dtype=torch.float64) for k in ("root_pos", "root_rot", "dof_pos")]
    pos, rot = fk(*args)
    err = np.linalg.norm(pos.numpy() - plan.feet.pos[frames], axis=-1)
    assert err.max() < 1e-3, "{}: foot misses its target by {:.2e} m".format(name, err.max())
    target = synth.yaw_matrix(plan.feet.yaw[frames])
    cos_angle = (np.einsum("fsij,fsij->fs", rot.numpy(), target) - 1.0) / 2.0
    assert np.arccos(np.clip(cos_angle, -1, 1)).max() < 1e-3, name


# --- the cached default set ------------------------------------------------------------------------


def test_default_motion_file_cache(tmp_path, monkeypatch):
    manifest = synth.default_motion_file(cache_dir=tmp_path)
    assert manifest == tmp_path / "manifest.yaml"
    assert len(formats.load_manifest(manifest)) == len(synth.CLIPS)
    stamp = json.loads((tmp_path / synth.STAMP_FILE).read_text())
    assert stamp["generator_version"] == synth.GENERATOR_VERSION
    mtime = (tmp_path / "stand.pkl").stat().st_mtime_ns
    assert synth.default_motion_file(cache_dir=tmp_path) == manifest
    assert (tmp_path / "stand.pkl").stat().st_mtime_ns == mtime  # reused, not regenerated
    monkeypatch.setattr(synth, "GENERATOR_VERSION", synth.GENERATOR_VERSION + 1)
    synth.default_motion_file(cache_dir=tmp_path)
    assert json.loads((tmp_path / synth.STAMP_FILE).read_text())["generator_version"] == synth.GENERATOR_VERSION
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".build")]


def test_default_motion_file_exists():
    manifest = synth.default_motion_file()
    assert manifest.is_file() and manifest.parent == synth.DEFAULT_CACHE_DIR
    assert len(formats.load_manifest(manifest)) == len(synth.CLIPS)
