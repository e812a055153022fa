"""pose.plausibility through validate_clip / load_clip: files of the right shapes that do not mean what the
clip format says (scalar-first quaternions, centimetres, bodies in another frame or order, a floor
elsewhere, joints in another order) are refused or warned about, naming the file and the key; the
embedded motions pass without a word."""

from __future__ import annotations

import functools
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
from pose.synth import build_clip, default_motion_file
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


SCALAR_FIRST_ERROR = (
    r"x\.pkl: key 'root_rot': the pelvis is (upside down|tilted \d+ deg) in most frames but upright read as "
    r"\(w, x, y, z\) .*scalar-first \(w, x, y, z\); reorder them to \(x, y, z, w\)$"
)


@functools.lru_cache(maxsize=None)
def _synthetic(name):
    return build_clip(name, seed=0, fps=30.0).clip


def synthetic(name, heading_deg, tilt=None):
    """A synthetic clip (`pose.synth`, 30 fps) turned about the vertical so it faces `heading_deg` and moves
    that way, its pelvis further rotated by `tilt` (a scipy Rotation, body frame), root_rot stored (x, y, z, w)."""
    clip = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in _synthetic(name).items()}
    yaw = Rotation.from_euler("z", heading_deg, degrees=True)
    rot = yaw * Rotation.from_quat(clip["root_rot"])
    clip["root_pos"] = yaw.apply(clip["root_pos"])
    clip["root_rot"] = (rot if tilt is None else rot * tilt).as_quat()  # scipy: (x, y, z, w)
    return clip


def scalar_first(clip):
    out = dict(clip)
    out["root_rot"] = clip["root_rot"][:, [3, 0, 1, 2]]  # (w, x, y, z)
    return out


HEADINGS = (0, 60, 100, 135, 150, 170, 180, 190, 250, -30, -60, -100, -135, -170)


@pytest.mark.parametrize("heading", HEADINGS)
def test_scalar_first_walk_refused_or_warned_at_every_heading(heading):
    """A walk facing and moving towards `heading`, stored (w, x, y, z): its (x, y, z, w) reading turns by
    180 deg - heading about x (heading 0), so it is tilted away from 180 deg (refused) and upright near it,
    facing away from the travel (a warning, since a walk backwards looks so)."""
    clip = scalar_first(synthetic("walk_forward_1p0", heading))
    misread = Rotation.from_quat(clip["root_rot"])  # scipy reads (x, y, z, w): the loader's reading
    up = float(np.median(misread.apply([0.0, 0.0, 1.0])[:, 2]))
    assert up == pytest.approx(-np.cos(np.radians(heading)), abs=0.05)  # the tilt is 180 deg - heading
    facing = misread.apply([1.0, 0.0, 0.0])[:, :2]
    travel = clip["root_pos"][-1, :2] - clip["root_pos"][0, :2]
    tilt = np.degrees(np.arccos(up))
    if tilt > 40:
        with pytest.raises(MotionFileError, match=SCALAR_FIRST_ERROR):
            validate_clip(clip, "x.pkl")
        return
    if tilt < 25:  # upright and facing 0 deg, moving towards 180 +- 25 deg
        assert np.all(facing @ travel < 0)
        (msg,) = messages(clip)
        assert msg.startswith("x.pkl: key 'root_rot': the pelvis faces against the direction of travel on ")
        assert msg.endswith(
            "reorder them to (x, y, z, w) unless the clip really moves backwards (which reads the same)"
        )
        return
    try:  # 25-40 deg: either
        caught = messages(clip)
    except MotionFileError as e:
        assert "scalar-first" in str(e)
    else:
        assert len(caught) == 1 and "key 'root_rot'" in caught[0] and "scalar-first" in caught[0]


@pytest.mark.parametrize("heading", HEADINGS)
def test_walk_stored_right_passes_at_every_heading(heading):
    assert messages(synthetic("walk_forward_1p0", heading)) == []


@pytest.mark.parametrize("heading", (0, 45, 90, 180, -135))
def test_backwards_walk_passes_but_scalar_first_one_does_not(heading):
    """A walk backwards faces against its travel; facing 0 deg it reads like a forward walk stored
    (w, x, y, z) facing 180 deg, but its feet stay planted under this reading and slide under the other."""
    clip = synthetic("walk_backward", heading)
    facing = Rotation.from_quat(clip["root_rot"]).apply([1.0, 0.0, 0.0])[:, :2]
    assert np.mean(facing @ (clip["root_pos"][-1, :2] - clip["root_pos"][0, :2]) < 0) == 1.0
    assert messages(clip) == []
    if heading != 180:
        with pytest.raises(MotionFileError, match=SCALAR_FIRST_ERROR):
            validate_clip(scalar_first(clip), "x.pkl")
        return
    # Stored (w, x, y, z) facing 180 deg it reads upright facing 0 deg, along the travel: the sliding feet tell.
    (msg,) = messages(scalar_first(clip))
    assert msg.startswith(
        "x.pkl: key 'root_rot': the body in contact with the floor slides but not read as (w, x, y, z)"
    )
    assert msg.endswith("reorder them to (x, y, z, w) unless its contacts really slide")


@pytest.mark.parametrize("heading", (0, 90, 180, 270))
@pytest.mark.parametrize("axis", ("x", "y"))
def test_pelvis_pitched_or_rolled_25_deg_for_a_while_passes(heading, axis):
    """25 deg of pitch (or roll) over the middle half of a walk, or 30 deg throughout: no new word."""
    clip = synthetic("walk_forward_1p0", heading)
    n = len(clip["root_rot"])
    angle = np.zeros(n)
    angle[n // 4 : 3 * n // 4] = 25.0
    tilt = Rotation.from_euler(axis, angle[:, None], degrees=True)
    clip["root_rot"] = (Rotation.from_quat(clip["root_rot"]) * tilt).as_quat()
    assert messages(clip) == []
    rolled = synthetic("walk_forward_1p0", heading, Rotation.from_euler(axis, 30, degrees=True))
    assert messages(rolled) == []


@pytest.mark.parametrize("heading", (0, 90))
def test_a_body_lying_on_its_side_is_not_taken_for_wxyz(heading):
    """Lying on the right side facing 0 deg has the root rotation of an upright body facing 90 deg stored
    (w, x, y, z); read so, its legs would be under the floor."""
    clip = synthetic("stand", heading, Rotation.from_euler("x", 90, degrees=True))
    rot = Rotation.from_quat(np.repeat(clip["root_rot"], 38, axis=0))
    world_z = clip["root_pos"][:, None, 2] + rot.apply(clip["local_body_pos"].reshape(-1, 3))[:, 2].reshape(-1, 38)
    clip["root_pos"][:, 2] -= np.median(world_z.min(axis=1))  # lying on the floor
    assert messages(clip) == []


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


@pytest.mark.parametrize("lift", [0.5, 0.15, -0.15])
def test_floor_elsewhere_warns(lift):
    """Feet 0.15 m above the floor already make the height termination end a tracked clip's episodes: warned."""
    clip = walk()
    n, b = clip["local_body_pos"].shape[:2]
    rotated = Rotation.from_quat(np.repeat(clip["root_rot"], b, axis=0)).apply(clip["local_body_pos"].reshape(-1, 3))
    world_z = clip["root_pos"][:, None, 2] + rotated.reshape(n, b, 3)[..., 2]
    floor = float(np.median(world_z.min(axis=1)))
    assert abs(floor) < 0.01  # the walk stands on the floor
    clip["root_pos"][:, 2] += lift
    (msg,) = messages(clip)
    assert "x.pkl: key 'root_pos': the lowest body's median height is {:.3f} m".format(floor + lift) in msg


def test_feet_a_few_centimetres_off_the_floor_do_not_warn():
    clip = walk()
    clip["root_pos"][:, 2] += 0.05
    assert messages(clip) == []


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
