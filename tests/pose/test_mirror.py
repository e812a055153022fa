"""pose.mirror: a clip's mirror image, checked by forward kinematics and rotation matrices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose import readers as rd
from pose import mirror
from pose.formats import load_clip, load_manifest, save_clip, write_manifest
from pose.g1_model import load_g1, twin_name

REFLECT = np.diag([1.0, -1.0, 1.0])  # the xz plane


def turning_clip(n=40, fps=30.0, seed=0):
    """A clip that walks forward while turning left, with distinct joint curves on both sides."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    root_pos = np.stack([0.8 * t, 0.3 * t**2, 0.76 + 0.02 * np.sin(5 * t)], axis=1)
    euler = np.stack([0.08 * np.sin(3 * t), 0.1 + 0.05 * np.cos(2 * t), 0.9 * t], axis=1)
    root_rot = Rotation.from_euler("xyz", euler).as_quat()
    dof = 0.4 * np.sin(t[:, None] * rng.uniform(1, 4, 23) + rng.uniform(0, 6, 23))
    dof = np.clip(dof, load_g1().dof_lower, load_g1().dof_upper)  # a real motion stays within the joint limits
    return rd.make_clip("<turning>", fps, root_pos, root_rot, dof)


def mirror_error(clip, mirrored):
    """Per body: the largest distance between a mirrored body and its reflected twin in the original."""
    names = clip["link_body_list"]
    twin = [names.index(twin_name(b)) for b in names]
    diff = mirrored["local_body_pos"] - clip["local_body_pos"][:, twin] @ REFLECT
    return np.linalg.norm(diff, axis=2).max(axis=0)


def test_body_positions_are_the_reflection_of_the_twins():
    """local_body_pos of the mirror comes from FK of its joints: each body must sit where its twin's
    reflection does, up to the model's own asymmetry (imu_in_torso is 4.5 mm off the midplane), measured
    in the zero pose, where the mirror is the identity."""
    clip = turning_clip()
    m = mirror.mirror_clip(clip)
    zero = rd.make_clip("<zero>", 30.0, np.zeros((2, 3)), np.tile([0.0, 0.0, 0.0, 1.0], (2, 1)), np.zeros((2, 23)))
    model_asymmetry = mirror_error(zero, zero)
    assert model_asymmetry.max() < 0.005
    assert np.all(mirror_error(clip, m) <= model_asymmetry + 1e-6)  # float32 storage
    assert m["link_body_list"] == clip["link_body_list"] and m["fps"] == clip["fps"]


def test_a_wrong_joint_sign_is_seen():
    """The check above can fail: one knee sign flipped moves the foot by centimetres."""
    clip = turning_clip()
    m = mirror.mirror_clip(clip)
    knee = load_g1().dof_names.index("right_knee_joint")
    dof = m["dof_pos"].copy()
    dof[:, knee] *= -1.0
    wrong = rd.make_clip("<wrong>", m["fps"], m["root_pos"], m["root_rot"], dof)
    assert mirror_error(clip, wrong).max() > 0.02


def test_root_is_reflected():
    clip = turning_clip()
    m = mirror.mirror_clip(clip)
    np.testing.assert_allclose(m["root_pos"], clip["root_pos"] @ REFLECT)
    r = Rotation.from_quat(clip["root_rot"]).as_matrix()
    rm = Rotation.from_quat(m["root_rot"]).as_matrix()
    np.testing.assert_allclose(rm, REFLECT @ r @ REFLECT, atol=1e-12)
    yaw = Rotation.from_quat(clip["root_rot"]).as_euler("xyz")[:, 2]
    yaw_m = Rotation.from_quat(m["root_rot"]).as_euler("xyz")[:, 2]
    assert yaw[-1] > 0.5 and np.allclose(yaw_m, -yaw)  # the left turn becomes a right turn


def test_mirroring_twice_gives_the_clip_back():
    clip = turning_clip()
    back = mirror.mirror_clip(mirror.mirror_clip(clip))
    for key in ("root_pos", "root_rot", "dof_pos"):
        np.testing.assert_allclose(back[key], clip[key], atol=1e-12)
    np.testing.assert_allclose(back["local_body_pos"], clip["local_body_pos"], atol=1e-6)  # float32


def test_cli_mirrors_a_manifest_keeping_weights(tmp_path):
    src = tmp_path / "src"
    save_clip(src / "a.pkl", turning_clip(seed=1))
    save_clip(src / "b.npz", turning_clip(seed=2))
    write_manifest(src / "manifest.yaml", ["a.pkl", "b.npz"], weights=[1.0, 3.0], descriptions=["walk", "turn"])
    assert mirror.main([str(src / "manifest.yaml"), str(tmp_path / "out")]) == 0
    entries = load_manifest(tmp_path / "out" / "manifest.yaml")
    assert [e.file.name for e in entries] == ["a_mirror.pkl", "b_mirror.npz"]
    assert [e.weight for e in entries] == [1.0, 3.0]
    assert entries[1].description == "mirror of b.npz: turn"
    expected = mirror.mirror_clip(load_clip(src / "b.npz"))
    np.testing.assert_allclose(load_clip(entries[1].file)["dof_pos"], expected["dof_pos"])


def test_cli_names_a_missing_clip(tmp_path, capsys):
    write_manifest(tmp_path / "manifest.yaml", ["missing.pkl"])
    assert mirror.main([str(tmp_path / "manifest.yaml"), str(tmp_path / "out")]) == 2
    assert "missing.pkl" in capsys.readouterr().err


@pytest.mark.parametrize("joint", ["left_hip_roll_joint", "waist_yaw_joint", "left_knee_joint"])
def test_joint_signs_follow_the_axes(joint):
    """Roll and yaw joints change sign under the reflection, pitch joints keep it."""
    g1 = load_g1()
    perm, signs = g1.dof_mirror_map()
    i = g1.dof_names.index(twin_name(joint))
    assert g1.dof_names[perm[i]] == joint
    assert signs[i] == (1.0 if "pitch" in joint or "knee" in joint else -1.0)


def test_duplicate_names_are_refused_before_anything_is_written(tmp_path, capsys):
    """Two clips of one stem (two folders) would both be <stem>_mirror: refused with nothing written, not
    after the first one."""
    save_clip(tmp_path / "a" / "walk.pkl", turning_clip(seed=1))
    save_clip(tmp_path / "b" / "walk.pkl", turning_clip(seed=2))
    write_manifest(tmp_path / "manifest.yaml", ["a/walk.pkl", "b/walk.pkl"])
    assert mirror.main([str(tmp_path / "manifest.yaml"), str(tmp_path / "out")]) == 2
    assert "walk_mirror.pkl" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_clip_without_description_is_described_as_a_mirror_only(tmp_path):
    save_clip(tmp_path / "a.pkl", turning_clip(seed=1))
    save_clip(tmp_path / "b.pkl", turning_clip(seed=2))
    write_manifest(tmp_path / "manifest.yaml", ["a.pkl", "b.pkl"], descriptions=["", "turn"])
    assert mirror.main([str(tmp_path / "manifest.yaml"), str(tmp_path / "out")]) == 0
    entries = load_manifest(tmp_path / "out" / "manifest.yaml")
    assert [e.description for e in entries] == ["mirror of a.pkl", "mirror of b.pkl: turn"]
