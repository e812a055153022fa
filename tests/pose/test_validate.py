"""`python -m pose.validate` on good and bad clips and manifests (run as a subprocess)."""

import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pose.formats import MotionFileError, save_clip, write_manifest
from pose.g1_model import load_g1
from pose.kinematics import ForwardKinematics
from pose.utils.motion_lib_pkl import MotionLib

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = load_g1()
BODIES = list(MODEL.motion_bodies)


def good_clip(n=30, fps=30.0, speed=(0.5, 0.0, 0.0)):
    rng = np.random.default_rng(0)
    t = np.arange(n) / fps
    clip = {
        "fps": fps,
        "root_pos": np.stack([speed[0] * t, speed[1] * t, 0.8 + speed[2] * t], axis=1),
        "root_rot": np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)),
        "dof_pos": rng.normal(scale=0.1, size=(n, MODEL.num_dofs)),
        "local_body_pos": None,  # forward kinematics of dof_pos, below
        "link_body_list": list(BODIES),
    }
    clip["local_body_pos"] = ForwardKinematics().local_body_pos(torch.as_tensor(clip["dof_pos"])).numpy()
    return clip


def write_raw_pkl(path, clip):
    """Write a clip without validation (pose.formats.save_clip would refuse a bad one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(clip, f, protocol=4)
    return path


def run_validate(*paths):
    proc = subprocess.run(
        [sys.executable, "-m", "pose.validate"] + [str(p) for p in paths],
        cwd=str(REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_good_clips_and_summary(tmp_path):
    pkl = save_clip(tmp_path / "walk.pkl", good_clip(n=31, fps=30.0, speed=(0.6, 0.8, 0.0)))
    npz = save_clip(tmp_path / "stand.npz", good_clip(n=101, fps=50.0, speed=(0.0, 0.0, 0.0)))
    rc, out, err = run_validate(pkl, npz)
    assert rc == 0, err
    assert err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(str(pkl))
    assert "31 frames" in lines[0] and "30 fps" in lines[0] and "1.000 s" in lines[0]
    assert "mean root speed 1.000 m/s" in lines[0]  # |(0.6, 0.8, 0)| = 1
    assert lines[1].startswith(str(npz))
    assert "101 frames" in lines[1] and "50 fps" in lines[1] and "2.000 s" in lines[1]
    assert "mean root speed 0.000 m/s" in lines[1]


def test_good_manifest(tmp_path):
    save_clip(tmp_path / "a.pkl", good_clip())
    save_clip(tmp_path / "b.npz", good_clip(n=10))
    manifest = write_manifest(tmp_path / "set.yaml", ["a.pkl", "b.npz"])
    rc, out, err = run_validate(manifest)
    assert rc == 0, err
    assert "a.pkl: 30 frames" in out and "b.npz: 10 frames" in out
    assert "2 clips, 2 valid, 0 bad" in out


def _without(key):
    c = good_clip()
    del c[key]
    return c


def _with(**changes):
    c = good_clip()
    for key, fn in changes.items():
        c[key] = fn(c)
    return c


def _nan_at(key, index, value):
    def fn(c):
        a = np.array(c[key], dtype=np.float64)
        a[index] = value
        return a

    return fn


BAD_CLIPS = {
    # name: (clip, key named in the message, regex for what was expected)
    "missing_key": (_without("dof_pos"), "dof_pos", r"missing"),
    "wrong_joint_count": (_with(dof_pos=lambda c: np.zeros((30, 29))), "dof_pos", r"23 joints.*\(30, 29\)"),
    "nan": (_with(root_pos=_nan_at("root_pos", (5, 1), np.nan)), "root_pos", r"NaN or inf at frame 5"),
    "inf": (_with(dof_pos=_nan_at("dof_pos", (7, 3), np.inf)), "dof_pos", r"NaN or inf at frame 7"),
    "quat_norm": (
        _with(root_rot=lambda c: c["root_rot"] * 2.0),
        "root_rot",
        r"quaternion at frame 0 has norm 2, expected 1 \(\+-0\.1\) \(30 frame",
    ),
    "quat_norm_one_frame": (
        _with(root_rot=_nan_at("root_rot", (12, 3), 0.85)),
        "root_rot",
        r"frame 12 has norm 0\.85,.*\(1 frame",
    ),
    "quat_zero": (_with(root_rot=_nan_at("root_rot", 4, 0.0)), "root_rot", r"quaternion at frame 4 has norm 0,"),
    "quat_nan": (_with(root_rot=_nan_at("root_rot", (3, 0), np.nan)), "root_rot", r"NaN or inf at frame 3"),
    "fps_missing": (_without("fps"), "fps", r"missing"),
    "fps_zero": (_with(fps=lambda c: 0.0), "fps", r"positive number"),
    "fps_negative": (_with(fps=lambda c: -30.0), "fps", r"positive number"),
    "one_frame": (
        _with(**{k: (lambda k: lambda c: c[k][:1])(k) for k in ("root_pos", "root_rot", "dof_pos", "local_body_pos")}),
        "root_pos",
        r"at least 2 frames",
    ),
    "unknown_body": (
        _with(link_body_list=lambda c: ["banana_link"] + list(BODIES[1:])),
        "link_body_list",
        r"unknown body names \['banana_link'\]",
    ),
    "wrong_body_shape": (_with(local_body_pos=lambda c: np.zeros((30, 37, 3))), "local_body_pos", r"38, 3"),
    # bodies without their names: missing, and the converter (which recomputes them) is named
    "body_names_none": (
        _with(link_body_list=lambda c: None),
        "link_body_list",
        r"missing \(the 38 body names.*python -m pose.convert",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_CLIPS))
def test_bad_clip(tmp_path, name):
    clip, key, expected = BAD_CLIPS[name]
    path = write_raw_pkl(tmp_path / "{}.pkl".format(name), clip)
    rc, out, err = run_validate(path)
    assert rc == 1
    assert out == ""
    assert str(path) in err, err
    assert "'{}'".format(key) in err, err
    assert re.search(expected, err), err


def test_bad_npz_clip(tmp_path):
    clip = good_clip()
    clip["dof_pos"] = np.zeros((30, 21))
    path = tmp_path / "short.npz"
    np.savez(path, **{k: np.asarray(v) for k, v in clip.items()})
    rc, _, err = run_validate(path)
    assert rc == 1 and str(path) in err and "'dof_pos'" in err


def test_unreadable_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle at all")
    rc, _, err = run_validate(junk)
    assert rc == 1 and str(junk) in err and "cannot read" in err
    gone = tmp_path / "gone.pkl"
    rc, _, err = run_validate(gone)
    assert rc == 1 and str(gone) in err and "does not exist" in err
    rand = tmp_path / "rand.npz"
    rand.write_bytes(np.random.default_rng(0).bytes(500))
    rc, _, err = run_validate(rand)
    assert (
        rc == 1
        and err
        == "ERROR: {}: not an .npz file (expected a zip archive of numpy arrays, as written by numpy.savez)\n".format(
            rand
        )
    )


def test_missing_paths_same_line_as_motion_lib(tmp_path):
    """A missing clip or manifest: one line naming the path, the same text from MotionLib."""
    for gone in (tmp_path / "gone.pkl", tmp_path / "gone.yaml"):
        rc, out, err = run_validate(gone)
        with pytest.raises(MotionFileError) as info:
            MotionLib(gone)
        assert rc == 1 and out == ""
        assert err == "ERROR: {}\n".format(info.value)
        assert str(info.value).startswith("{}: ".format(gone)) and str(info.value).endswith("does not exist")


def test_missing_manifest_entry_same_message_as_motion_lib(tmp_path):
    save_clip(tmp_path / "a.pkl", good_clip())
    manifest = write_manifest(tmp_path / "set.yaml", ["a.pkl", "sub/gone.pkl"])
    rc, out, err = run_validate(manifest)
    with pytest.raises(MotionFileError) as info:
        MotionLib(manifest)
    expected = "{}: key 'motions[1].file': {} does not exist (root_path {})".format(
        manifest, tmp_path / "sub" / "gone.pkl", tmp_path
    )
    assert str(info.value) == expected
    assert rc == 1 and err == "ERROR: {}\n".format(expected)
    assert "2 clips, 1 valid, 1 bad" in out


def _off_norm_quats(n, norms):
    """Random upright unit quaternions (xyzw: a turning pelvis) and the same scaled by `norms` (one per frame)."""
    yaw = np.random.default_rng(3).uniform(-np.pi, np.pi, size=n)
    q = np.stack([0 * yaw, 0 * yaw, np.sin(yaw / 2), np.cos(yaw / 2)], axis=1)
    return q, q * np.asarray(norms, dtype=np.float64)[:, None]


def test_slightly_off_quaternions_warn_once_and_are_valid(tmp_path):
    """Public TWIST/GMR clips have root quaternion norms 1-2.5 % off 1: renormalised, one warning."""
    clip = good_clip(n=30)
    _, clip["root_rot"] = _off_norm_quats(30, np.linspace(0.99, 0.975, 30))  # worst: 1 - 0.975 = 0.025
    path = write_raw_pkl(tmp_path / "gmr.pkl", clip)
    rc, out, err = run_validate(path)
    assert rc == 0, err
    assert err == "WARNING: {}: key 'root_rot': quaternion norms off 1 by up to 0.025: renormalised\n".format(path)
    assert out.startswith("{}: 30 frames".format(path))


def test_float_fps_accepted(tmp_path):
    path = write_raw_pkl(tmp_path / "clip.pkl", good_clip(n=31, fps=29.98))
    rc, out, err = run_validate(path)
    assert rc == 0 and err == ""
    assert "31 frames, 29.98 fps, 1.001 s" in out  # 30 / 29.98 = 1.00067 s


def test_folder_validates_every_clip(tmp_path):
    good = save_clip(tmp_path / "clips" / "good.npz", good_clip())
    bad = write_raw_pkl(tmp_path / "clips" / "sub" / "bad.pkl", BAD_CLIPS["wrong_joint_count"][0])
    (tmp_path / "clips" / "notes.txt").write_text("not a clip")
    rc, out, err = run_validate(tmp_path / "clips")
    assert rc == 1
    assert out.splitlines() == [
        "{}: 30 frames, 30 fps, 0.967 s, mean root speed 0.500 m/s".format(good),
        "{}: 2 clips, 1 valid, 1 bad".format(tmp_path / "clips"),
    ]
    assert len(err.splitlines()) == 1 and err.startswith("ERROR: {}: key 'dof_pos'".format(bad))
    rc, out, err = run_validate(tmp_path / "clips" / "sub" / ".." / ".." / "clips" / "sub")
    assert rc == 1 and "1 clips, 0 valid, 1 bad" in out
    (tmp_path / "empty").mkdir()
    rc, out, err = run_validate(tmp_path / "empty")
    assert rc == 1 and err == "ERROR: {}: no clips (.pkl or .npz) in this folder\n".format(tmp_path / "empty")


def test_manifest_reports_every_bad_clip(tmp_path):
    save_clip(tmp_path / "clips" / "good.pkl", good_clip())
    write_raw_pkl(tmp_path / "clips" / "nan.pkl", BAD_CLIPS["nan"][0])
    write_raw_pkl(tmp_path / "clips" / "joints.pkl", BAD_CLIPS["wrong_joint_count"][0])
    manifest = write_manifest(
        tmp_path / "set.yaml",
        ["clips/nan.pkl", "clips/good.pkl", "clips/missing.pkl", "clips/joints.pkl"],
    )
    rc, out, err = run_validate(manifest)
    assert rc == 1
    assert "good.pkl: 30 frames" in out
    assert "4 clips, 1 valid, 3 bad" in out
    errors = [l for l in err.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 3, err
    assert any("nan.pkl" in l and "'root_pos'" in l and "NaN" in l for l in errors)
    assert any("joints.pkl" in l and "'dof_pos'" in l for l in errors)
    assert any(
        str(manifest) in l and "'motions[2].file'" in l and "missing.pkl" in l and "does not exist" in l for l in errors
    )


def test_bad_manifests(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("root_path: .\nmotions: []\n")
    rc, _, err = run_validate(empty)
    assert rc == 1 and str(empty) in err and "'motions'" in err and "non-empty" in err
    no_motions = tmp_path / "nomotions.yaml"
    no_motions.write_text("root_path: .\n")
    rc, _, err = run_validate(no_motions)
    assert rc == 1 and str(no_motions) in err and "'motions'" in err
    bad_weight = tmp_path / "weight.yaml"
    bad_weight.write_text("root_path: .\nmotions:\n  - file: a.pkl\n    weight: -1\n")
    rc, _, err = run_validate(bad_weight)
    assert rc == 1 and "'motions[0].weight'" in err


def test_usage_error():
    rc, _, err = run_validate()
    assert rc == 2 and "usage" in err.lower()
