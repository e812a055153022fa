"""pose.plausibility through validate_clip / load_clip: files of the right shapes that do not mean what the
clip format says (scalar-first quaternions, centimetres, bodies in another frame or order, a floor
elsewhere, joints in another order) are refused or warned about, naming the file and the key; the
embedded motions pass without a word."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose import convert as cv
from pose.formats import (
    MotionFileError,
    MotionFileWarning,
    clips_in_folder,
    load_clip,
    motion_sources,
    validate_clip,
    write_manifest,
)
from pose.g1_model import load_g1
from pose.synth import default_motion_file
from pose.utils.motion_lib_pkl import MotionLib

MODEL = load_g1()


def walk():
    """A real clip of the embedded set (a walk), as float64 arrays."""
    entry = next(e for e in motion_sources(default_motion_file()) if "walk" in e.file.name)
    clip = load_clip(entry.file)
    return {k: (np.asarray(v, dtype=np.float64) if k not in ("fps", "link_body_list") else v) for k, v in clip.items()}


def messages(clip, path="x.pkl"):
    """validate_clip's MotionFileWarnings for `clip`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_clip(clip, path)
    return [str(w.message) for w in caught if w.category is MotionFileWarning]


def write_pkl(path, clip):
    with open(path, "wb") as f:
        pickle.dump(clip, f)
    return path


def test_embedded_motions_pass_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", MotionFileWarning)
        assert MotionLib(default_motion_file()).num_motions() == 10


def test_scalar_first_root_quaternions_refused():
    clip = walk()
    clip["root_rot"] = clip["root_rot"][:, [3, 0, 1, 2]]  # (w, x, y, z), as some GMR forks save qpos[3:7]
    with pytest.raises(MotionFileError, match=r"x\.pkl: key 'root_rot': the pelvis is upside down .*scalar-first"):
        validate_clip(clip, "x.pkl")


@pytest.mark.filterwarnings("ignore::pose.formats.MotionFileWarning")  # the floor: the body stands on its head
def test_a_real_upside_down_pose_is_not_taken_for_wxyz():
    """A handstand: the pelvis upside down under either reading is left alone by the quaternion-order check."""
    clip = walk()
    flip = Rotation.from_euler("y", np.pi)
    clip["root_rot"] = (Rotation.from_quat(clip["root_rot"]) * flip).as_quat()
    validate_clip(clip, "x.pkl")


def test_centimetres_refused():
    clip = walk()
    clip["root_pos"] = clip["root_pos"] * 100.0
    with pytest.raises(MotionFileError, match=r"key 'root_pos': median root height 7\d\.\d+ m .*centimetres"):
        validate_clip(clip, "x.pkl")


def test_world_frame_body_positions_refused():
    clip = walk()
    world = clip["root_pos"][:, None] + Rotation.from_quat(np.repeat(clip["root_rot"], 38, axis=0)).apply(
        clip["local_body_pos"].reshape(-1, 3)
    ).reshape(-1, 38, 3)
    clip["local_body_pos"] = world
    with pytest.raises(
        MotionFileError, match=r"x\.pkl: key 'local_body_pos': \d\.\d+ m on average .*pose\.convert x\.pkl"
    ):
        validate_clip(clip, "x.pkl")


def test_bodies_in_another_order_than_named_refused():
    clip = walk()
    clip["local_body_pos"] = clip["local_body_pos"][:, ::-1]  # link_body_list unchanged
    with pytest.raises(MotionFileError, match=r"key 'local_body_pos'"):
        validate_clip(clip, "x.pkl")


def test_another_models_bodies_warn():
    """Bodies 3 cm off forward kinematics (another G1 description): loaded, with one warning."""
    clip = walk()
    clip["local_body_pos"] = clip["local_body_pos"] + [0.03, 0.0, 0.0]
    (msg,) = messages(clip)
    assert msg.startswith("x.pkl: key 'local_body_pos': 0.030 m on average")


def test_floor_elsewhere_warns():
    clip = walk()
    clip["root_pos"][:, 2] += 0.5
    (msg,) = messages(clip)
    assert "x.pkl: key 'root_pos': the lowest body's median height is 0.5" in msg


def test_joints_in_another_order_warn():
    """Columns reversed: knees and elbows land on joints whose range they leave; the warning names them."""
    clip = walk()
    assert messages(clip) == []
    clip["dof_pos"] = clip["dof_pos"][:, ::-1].copy()
    clip["local_body_pos"] = None  # recomputed below from the (wrong) joints, as a converter would
    from pose.readers import make_clip

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_clip("x.pkl", clip["fps"], clip["root_pos"], clip["root_rot"], clip["dof_pos"])
    (msg,) = [str(w.message) for w in caught if "joints beyond" in str(w.message)]
    beyond = (clip["dof_pos"] < MODEL.dof_lower - 0.2) | (clip["dof_pos"] > MODEL.dof_upper + 0.2)
    named = [MODEL.dof_names[j] for j in np.flatnonzero(beyond.mean(axis=0) > 0.05)]
    assert named and all(n in msg for n in named)


def test_bytes_body_names_read():
    clip = walk()
    clip["link_body_list"] = np.array(clip["link_body_list"], dtype="S")
    np.testing.assert_array_equal(
        validate_clip(clip, "x.pkl")["local_body_pos"], walk()["local_body_pos"].astype(np.float32)
    )


def test_clip_with_joint_names_in_another_order_is_sent_to_the_converter(tmp_path):
    clip = walk()
    perm = np.random.default_rng(0).permutation(MODEL.num_dofs)
    clip["dof_pos"] = clip["dof_pos"][:, perm]
    clip["joint_names"] = [MODEL.dof_names[i] for i in perm]
    path = write_pkl(tmp_path / "named.pkl", clip)
    with pytest.raises(MotionFileError, match=r"key 'joint_names': not the 23 training joints.*pose\.convert"):
        load_clip(path)
    out = cv.convert_file(path)
    np.testing.assert_allclose(out["dof_pos"], walk()["dof_pos"], atol=1e-6)


def test_none_body_positions_named(tmp_path):
    clip = walk()
    clip["local_body_pos"] = None  # GMR writes None
    with pytest.raises(MotionFileError, match=r"key 'local_body_pos': is None.*pose\.convert"):
        load_clip(write_pkl(tmp_path / "gmr.pkl", clip))


def test_csv_in_a_manifest_names_the_converter(tmp_path):
    (tmp_path / "walk.csv").write_text("0,0,0.8\n")
    manifest = write_manifest(tmp_path / "m.yaml", ["walk.csv"])
    with pytest.raises(MotionFileError, match=r"walk\.csv: a CSV is not a clip .*python -m pose\.convert"):
        MotionLib(manifest)


def test_hidden_files_left_out_of_folders(tmp_path):
    src = next(e.file for e in motion_sources(default_motion_file()))
    (tmp_path / "clips").mkdir()
    good = tmp_path / "clips" / "a.pkl"
    good.write_bytes(src.read_bytes())
    (tmp_path / "clips" / "._a.pkl").write_bytes(b"\x00\x05\x16\x07")  # a macOS resource fork
    (tmp_path / "clips" / ".cache").mkdir()
    (tmp_path / "clips" / ".cache" / "b.pkl").write_bytes(src.read_bytes())
    assert clips_in_folder(tmp_path / "clips") == [good]
    result = cv.convert_folder(tmp_path / "clips", tmp_path / "out", progress=False)
    assert [p.name for p in result.converted] == ["a.pkl"] and not result.failed
