"""`python -m pose.validate` on good and bad clips and manifests (run as a subprocess)."""
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pose.formats import save_clip, write_manifest
from pose.g1_model import load_g1

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = load_g1()
BODIES = list(MODEL.motion_bodies)


def good_clip(n=30, fps=30.0, speed=(0.5, 0.0, 0.0)):
    rng = np.random.default_rng(0)
    t = np.arange(n) / fps
    return {
        "fps": fps,
        "root_pos": np.stack([speed[0] * t, speed[1] * t, 0.8 + speed[2] * t], axis=1),
        "root_rot": np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)),
        "dof_pos": rng.normal(scale=0.1, size=(n, MODEL.num_dofs)),
        "local_body_pos": rng.normal(scale=0.3, size=(n, len(BODIES), 3)),
        "link_body_list": list(BODIES),
    }


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
    "quat_norm": (_with(root_rot=lambda c: c["root_rot"] * 1.01), "root_rot", r"quaternion norm off"),
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
    assert any(str(manifest) in l and "'motions[2].file'" in l and "missing.pkl" in l and "does not exist" in l for l in errors)


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
