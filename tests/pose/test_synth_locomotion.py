"""The synthetic locomotion set (pose.synth_locomotion): jogging and running with flight phases,
lateral, backward and turning variants. Generated once through the CLI; contacts are measured with
the training model's foot capsules, independently of the generator's own stance labels."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, foot_points
from pose import formats, synth
from pose.g1_model import load_g1
from pose.kinematics import FootGeometry, ForwardKinematics
from pose.synth_locomotion import GRAVITY, LOCOMOTION_CLIPS, LOCOMOTION_VERSION, RUN_CLIPS, locomotion_motion_file
from pose.utils.torch_utils import get_euler_xyz

FPS = 50
GROUND_TOL = 0.01  # m
MAX_STANCE_SPEED = 0.03  # m/s
WALK_CLIPS = tuple(n for n in LOCOMOTION_CLIPS if n not in RUN_CLIPS)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_locomotion")
    result = subprocess.run(
        [sys.executable, "-m", "pose.synth", "--set", "locomotion", "--out", str(out), "--fps", str(FPS)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    entries = formats.load_manifest(out / "manifest.yaml")
    assert [e.file.stem for e in entries] == list(LOCOMOTION_CLIPS)
    return {e.file.stem: formats.load_clip(e.file) for e in entries}


@pytest.fixture(scope="module")
def feet(clips):
    return foot_points(clips)


def _stance(lowest, window=1):
    low = lowest < GROUND_TOL
    mask = low.copy()
    for k in range(1, window + 1):
        mask[k:] &= low[:-k]
        mask[:-k] &= low[k:]
    return mask


def _middle(n):
    return n // 4, 3 * n // 4


def _heading_velocity(c):
    """Mean (forward, left) root velocity in the heading frame and yaw rate, middle half."""
    a, b = _middle(len(c["root_pos"]))
    _, _, yaw = get_euler_xyz(torch.as_tensor(c["root_rot"], dtype=torch.float64))
    yaw = np.unwrap(yaw.numpy())
    vel = np.gradient(c["root_pos"][:, :2], axis=0) * c["fps"]
    fwd = vel[:, 0] * np.cos(yaw) + vel[:, 1] * np.sin(yaw)
    left = -vel[:, 0] * np.sin(yaw) + vel[:, 1] * np.cos(yaw)
    return fwd[a:b].mean(), left[a:b].mean(), (yaw[b] - yaw[a]) * c["fps"] / (b - a)


def test_set_is_separate_from_the_default_set():
    assert not set(LOCOMOTION_CLIPS) & set(synth.CLIPS)
    assert set(synth.clip_sets()) == {"default", "locomotion", "steady"}
    assert len(RUN_CLIPS) >= 5 and all(n.startswith(("jog", "run")) for n in RUN_CLIPS)


def test_clip_lengths(clips):
    for name, c in clips.items():
        assert c["fps"] == FPS
        assert 6.0 <= (len(c["root_pos"]) - 1) / FPS <= 12.0, name


@pytest.mark.parametrize("name", list(LOCOMOTION_CLIPS))
def test_stance_feet_do_not_slide_and_stay_on_the_ground(feet, clips, name):
    pos, lowest = feet[name]
    assert lowest.min() > -GROUND_TOL, "{}: a foot is {:.4f} m below the ground".format(name, lowest.min())
    speed = np.zeros(lowest.shape)
    speed[1:-1] = np.linalg.norm(pos[2:, :, :2] - pos[:-2, :, :2], axis=-1) * FPS / 2.0
    for side in range(2):
        stance = _stance(lowest[:, side])
        stance[[0, -1]] = False
        assert stance.mean() > 0.2, (name, side)
        worst = speed[stance, side].max()
        assert worst < MAX_STANCE_SPEED, "{}: foot {} slides at {:.4f} m/s in stance".format(name, side, worst)


@pytest.mark.parametrize("name", RUN_CLIPS)
def test_running_has_ballistic_flight_phases(feet, clips, name):
    _, lowest = feet[name]
    a, b = _middle(len(lowest))
    airborne = (lowest > GROUND_TOL).all(axis=1)
    share = airborne[a:b].mean()
    assert 0.15 < share < 0.6, (name, share)
    # in the middle of a flight (airborne at k-1, k, k+1) the pelvis falls with gravity
    mid = np.flatnonzero(airborne[a - 1 : b - 1] & airborne[a:b] & airborne[a + 1 : b + 1]) + a
    assert len(mid) > 5, name
    z = clips[name]["root_pos"][:, 2]
    acc = (z[mid + 1] - 2 * z[mid] + z[mid - 1]) * FPS**2
    np.testing.assert_allclose(acc, -GRAVITY, rtol=0.05, err_msg=name)


@pytest.mark.parametrize("name", WALK_CLIPS)
def test_walking_variants_always_have_a_foot_on_the_ground(feet, name):
    _, lowest = feet[name]
    assert np.abs(lowest.min(axis=1)).max() < GROUND_TOL, name


@pytest.mark.parametrize("name", list(LOCOMOTION_CLIPS))
def test_velocity_follows_the_command(clips, name):
    vx, vy, wz = LOCOMOTION_CLIPS[name].command
    fwd, left, rate = _heading_velocity(clips[name])
    assert abs(fwd - vx) < 0.05 * max(abs(vx), 1.0), (name, fwd)
    assert abs(left - vy) < 0.05, (name, left)
    assert abs(rate - wz) < 0.1 * max(abs(wz), 0.5), (name, rate)


def test_speeds_cover_half_to_three_and_a_half_metres_per_second():
    speeds = sorted(np.hypot(*LOCOMOTION_CLIPS[n].command[:2]) for n in RUN_CLIPS)
    assert speeds[0] <= 1.5 and speeds[-1] >= 3.5
    assert max(np.diff(speeds)) <= 0.5


def _stride(pos, lowest, c):
    """Mean distance (m) between successive touchdowns of the left foot, middle half."""
    a, b = _middle(len(lowest))
    on = _stance(lowest[:, 0])
    touchdowns = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    touchdowns = touchdowns[(touchdowns >= a) & (touchdowns < b)]
    return float(np.mean(np.linalg.norm(np.diff(pos[touchdowns, 0, :2], axis=0), axis=1)))


def test_running_strides_are_longer_than_walking_strides(feet, clips):
    walk = synth.build_clip("walk_forward_1p5", fps=FPS).clip
    model = load_g1()
    args = [torch.as_tensor(walk[k], dtype=torch.float64) for k in ("root_pos", "root_rot", "dof_pos")]
    w_pos = ForwardKinematics(model, bodies=model.feet, dtype=torch.float64)(*args)[0].numpy()
    w_low = FootGeometry(model, dtype=torch.float64).lowest_points(*args).numpy()
    walk_stride = _stride(w_pos, w_low, walk)
    run_stride = _stride(*feet["run_forward_3p5"], clips["run_forward_3p5"])
    jog_stride = _stride(*feet["jog_forward_2p0"], clips["jog_forward_2p0"])
    assert walk_stride < jog_stride < run_stride, (walk_stride, jog_stride, run_stride)
    assert run_stride > 1.4


@pytest.mark.parametrize("name", RUN_CLIPS)
def test_arms_swing_against_each_other(clips, name):
    model = load_g1()
    q = clips[name]["dof_pos"]
    a, b = _middle(len(q))
    left = q[a:b, model.dof_names.index("left_shoulder_pitch_joint")]
    right = q[a:b, model.dof_names.index("right_shoulder_pitch_joint")]
    assert np.ptp(left) > 0.4 and np.ptp(right) > 0.4, name
    assert np.corrcoef(left, right)[0, 1] < -0.8, name


@pytest.mark.parametrize("name", list(LOCOMOTION_CLIPS))
def test_joint_angles_within_limits(clips, name):
    model = load_g1()
    q = clips[name]["dof_pos"]
    assert (q >= model.dof_lower - 1e-6).all() and (q <= model.dof_upper + 1e-6).all(), name


def test_ik_reaches_pitched_swing_feet():
    built = synth.build_clip("run_forward_3p0", seed=0, fps=FPS)
    assert built.ik_pos_err.max() < 1e-6 and built.ik_rot_err.max() < 1e-5
    plan = built.plan
    assert plan.feet.pitch is not None and plan.feet.pitch.max() > 0.4  # toes down in the swing
    assert (plan.feet.pitch[plan.feet.stance] == 0).all()
    swing = np.flatnonzero(~plan.feet.stance[:, 0])[::7]
    model = load_g1()
    fk = ForwardKinematics(model, bodies=model.feet, dtype=torch.float64)
    c = built.clip
    args = [torch.as_tensor(c[k][swing], dtype=torch.float64) for k in ("root_pos", "root_rot", "dof_pos")]
    _, rot = fk(*args)
    # forward pitch of the left foot = -asin of the z component of its x axis
    pitch = -np.arcsin(rot[:, 0, 2, 0].numpy())
    np.testing.assert_allclose(pitch, plan.feet.pitch[swing, 0], atol=1e-4)


def test_cache(tmp_path):
    manifest = locomotion_motion_file(cache_dir=tmp_path)
    assert manifest == tmp_path / "manifest.yaml"
    assert [e.file.stem for e in formats.load_manifest(manifest)] == list(LOCOMOTION_CLIPS)
    stamp = json.loads((tmp_path / synth.STAMP_FILE).read_text())
    assert stamp["clips"] == list(LOCOMOTION_CLIPS) and stamp["generator_version"] == synth.GENERATOR_VERSION
    assert stamp["locomotion_version"] == LOCOMOTION_VERSION
    mtime = (tmp_path / "run_forward_2p5.pkl").stat().st_mtime_ns
    assert locomotion_motion_file(cache_dir=tmp_path) == manifest
    assert (tmp_path / "run_forward_2p5.pkl").stat().st_mtime_ns == mtime


def test_steady_pelvis_clips_keep_the_feet_still_under_the_command_root():
    """The steady set (`STEADY_CLIPS`, the CMG data's variant): every moving clip of both sets, the
    pelvis on the path without sway, roll or yaw swing. Measured as the CMG evaluation measures a
    training clip (`cmg_workspace.evaluate.clip_baseline`: the root integrated from the smoothed
    command), the stance foot of a steady walk stays still where the original's slides; both keep
    their own-root contacts and the same path."""
    from cmg_workspace.evaluate import clip_baseline
    from cmg_workspace.sources import SourceClip
    from pose.cmg.joints import from_23
    from pose.synth_locomotion import STEADY_CLIPS

    moving = [n for n, s in {**synth.CLIPS, **LOCOMOTION_CLIPS}.items() if any(s.command)]
    assert list(STEADY_CLIPS) == [n + "_steady" for n in moving]
    kin = synth.SynthKinematics(load_g1())
    out = {}
    for name in ("walk_forward_1p0", "walk_forward_1p0_steady"):
        built = synth.build_clip(name, kin=kin)
        c = built.clip
        assert built.ik_pos_err.max() < 1e-6
        source = SourceClip(
            name, float(c["fps"]), c["root_pos"], c["root_rot"], from_23(np.asarray(c["dof_pos"])), False
        )
        out[name] = clip_baseline(name, source, 50.0)
        rpy = get_euler_xyz(torch.as_tensor(c["root_rot"], dtype=torch.float64))
        out[name]["roll_range"] = float(rpy[0].max() - rpy[0].min())
    plain, steady = out["walk_forward_1p0"], out["walk_forward_1p0_steady"]
    assert plain["foot_slide_own_root_mps"] < 1e-3 and steady["foot_slide_own_root_mps"] < 1e-3
    assert plain["foot_slide_mps"] > 0.2 and steady["foot_slide_mps"] < 0.05, (plain, steady)
    assert steady["speed_error_rel"] < 0.05
    assert steady["roll_range"] < 1e-6 < plain["roll_range"]
