"""pose.convert: every source format to the 23-DOF TWIST clip, checked against independent expectations.

Synthetic inputs carry a known root trajectory and 29 distinct joint curves; the expected 23 joints
are the 29 minus the wrist columns 19-21 and 26-28 of the real-motor order (hard-coded here on purpose, so
the converter's by-name mapping is checked against an index table), resampling is checked
against numpy.interp and scipy's Slerp.
"""

from __future__ import annotations

import functools
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.spatial.transform import Rotation, Slerp

from pose import convert as cv
from pose import readers as rd
from pose.formats import MotionFileError, MotionFileWarning, load_clip, load_manifest
from pose.g1_model import load_g1
from pose.kinematics import ForwardKinematics
from pose.synth import build_clip

REPO_ROOT = Path(__file__).resolve().parents[2]
WRIST_COLUMNS_29 = [19, 20, 21, 26, 27, 28]  # real-motor order: left wrist 19-21, right wrist 26-28


class Motion:
    """Known synthetic motion: root path, root rotation (xyzw and wxyz), 29 joints in motor order."""

    def __init__(self, n=61, fps=30.0):
        t = np.arange(n) / fps
        self.fps = fps
        self.root_pos = np.stack([0.6 * t, 0.2 * np.sin(t), 0.78 + 0.03 * np.cos(3 * t)], axis=1)
        euler = np.stack([0.1 * np.sin(2 * t), 0.05 * np.cos(t), 1.5 * t], axis=1)
        self.xyzw = Rotation.from_euler("xyz", euler).as_quat()  # scipy order is xyzw
        self.wxyz = self.xyzw[:, [3, 0, 1, 2]]
        j = np.arange(29)[None, :]
        self.q29 = 0.3 * np.sin(2.0 * t[:, None] + 0.7 * j) + 0.01 * j
        self.q23 = np.delete(self.q29, WRIST_COLUMNS_29, axis=1)


def check_clip(clip, m: Motion, fps=None):
    assert clip["fps"] == (fps or m.fps)
    assert clip["dof_pos"].shape == (len(m.root_pos), 23)
    assert clip["local_body_pos"].shape == (len(m.root_pos), 38, 3)
    np.testing.assert_allclose(clip["root_pos"], m.root_pos, atol=1e-5)
    np.testing.assert_allclose(clip["root_rot"], m.xyzw, atol=1e-5)
    np.testing.assert_allclose(clip["dof_pos"], m.q23, atol=1e-5)
    check_fk(clip)


def check_fk(clip):
    expected = ForwardKinematics().local_body_pos(torch.tensor(clip["dof_pos"], dtype=torch.float32)).numpy()
    np.testing.assert_allclose(clip["local_body_pos"], expected, atol=1e-5)
    assert list(clip["link_body_list"]) == list(load_g1().motion_bodies)


def write_csv(path, m: Motion, n_cols=36):
    data = np.concatenate([m.root_pos, m.xyzw, m.q29], axis=1)[:, :n_cols]
    np.savetxt(path, data, delimiter=",", fmt="%.10f")
    return path


# The G1's 29 motors as an Isaac Lab articulation lists them (breadth-first), written out here on purpose so
# that the converter's derivation from the kinematic tree is checked against an independent list.
ISAAC_LAB_ORDER = [
    "left_hip_pitch", "right_hip_pitch", "waist_yaw", "left_hip_roll", "right_hip_roll", "waist_roll",
    "left_hip_yaw", "right_hip_yaw", "waist_pitch", "left_knee", "right_knee", "left_shoulder_pitch",
    "right_shoulder_pitch", "left_ankle_pitch", "right_ankle_pitch", "left_shoulder_roll", "right_shoulder_roll",
    "left_ankle_roll", "right_ankle_roll", "left_shoulder_yaw", "right_shoulder_yaw", "left_elbow", "right_elbow",
    "left_wrist_roll", "right_wrist_roll", "left_wrist_pitch", "right_wrist_pitch", "left_wrist_yaw",
    "right_wrist_yaw",
]  # fmt: skip


def simulator_body_names(seed=1):
    """Every G1 body as a simulator lists them: the root first, the others in a shuffled order."""
    model = load_g1()
    others = [b.name for b in model.bodies[1:]]
    return [model.bodies[0].name] + [others[i] for i in np.random.default_rng(seed).permutation(len(others))]


def simulator_bodies(m: Motion, seed=1):
    """World positions and wxyz quaternions (T, B, .) of the bodies `simulator_body_names(seed)`, by
    forward kinematics of the motion."""
    fk = ForwardKinematics(bodies=simulator_body_names(seed), dtype=torch.float64)
    args = (torch.from_numpy(m.root_pos), torch.from_numpy(m.xyzw), torch.from_numpy(m.q23))
    pos, quat = fk(*args)[0].numpy(), fk.body_quat(*args).numpy()
    return pos, quat[..., [3, 0, 1, 2]]


def beyondmimic_npz(path, m: Motion, with_root=True, names=True, order="real-motor"):
    """BeyondMimic / holosoma NPZ; without names and root columns the joints are in `order` (real-motor as
    mjlab writes them, Isaac Lab's as BeyondMimic's csv_to_npz does) and the bodies come from FK."""
    motor = list(load_g1().real_motor_joints)
    if names:  # a shuffled joint order, half of the names without the `_joint` suffix
        perm = np.random.default_rng(0).permutation(29)
        joint_names = [motor[i][: -len("_joint")] if k % 2 else motor[i] for k, i in enumerate(perm)]
        q = m.q29[:, perm]
    elif order == "Isaac Lab":
        q = m.q29[:, [motor.index(n + "_joint") for n in ISAAC_LAB_ORDER]]
    else:
        q = m.q29
    arrays = {"fps": np.array([m.fps])}
    if with_root:
        arrays["joint_pos"] = np.concatenate([m.root_pos, 1.02 * m.wxyz, q], axis=1)  # unnormalised quat
    else:
        arrays["joint_pos"] = q
        arrays["body_pos_w"], arrays["body_quat_w"] = simulator_bodies(m)
    if names:
        arrays["joint_names"] = np.array(joint_names)
    np.savez(path, **arrays)
    return path


def amass_npz(path, m: Motion, body_names=True, drop=None):
    """AMASS-retargeted G1 NPZ; with body_names the pelvis is the third body (found by name), without
    them the first."""
    motor = list(load_g1().real_motor_joints)
    perm = np.random.default_rng(2).permutation(29)
    pos, rot = simulator_bodies(m, seed=3)  # the pelvis first
    order = [1, 2, 0] + list(range(3, pos.shape[1])) if body_names else list(range(pos.shape[1]))
    pos, rot = pos[:, order], rot[:, order]
    bodies = [simulator_body_names(seed=3)[i] for i in order]
    arrays = {
        "fps": np.float64(m.fps),
        "dof_names": np.array([motor[i] for i in perm]),
        "dof_positions": m.q29[:, perm],
        "body_positions": pos,
        "body_rotations": rot,
    }
    if body_names:
        arrays["body_names"] = np.array(bodies)
    for k in drop or ():
        arrays.pop(k)
    np.savez(path, **arrays)
    return path


def twist_pkl(path, m: Motion, dofs=29):
    """A TWIST/GMR clip; its `local_body_pos` those of the motion 5 mm off (as another G1 description puts
    them), which tell a 23-column file's joint order and must be recomputed."""
    local = ForwardKinematics(dtype=torch.float64).local_body_pos(torch.from_numpy(m.q23)).numpy()
    clip = {
        "fps": int(m.fps),
        "root_pos": m.root_pos,
        "root_rot": m.xyzw,
        "dof_pos": m.q29 if dofs == 29 else m.q23,
        "local_body_pos": local + 0.005,
        "link_body_list": list(load_g1().motion_bodies),
    }
    with open(path, "wb") as f:
        pickle.dump(clip, f)
    return path


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "pose.convert"] + [str(a) for a in args],
        cwd=str(REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- each format -------------------------------------------------------------------------------------


def test_training_columns_drop_wrists_by_name():
    model = load_g1()
    cols = rd.training_columns(model.real_motor_joints)
    assert cols == [i for i in range(29) if i not in WRIST_COLUMNS_29]
    assert rd.training_columns(model.dof_names) == list(range(23))


def test_lafan_csv(tmp_path):
    m = Motion()
    src = write_csv(tmp_path / "walk.csv", m)
    assert rd.detect_format(src) == "lafan_csv"
    check_clip(cv.convert_file(src, tmp_path / "walk.pkl"), m)
    check_clip(load_clip(tmp_path / "walk.pkl"), m)
    assert cv.convert_file(src, src_fps=60)["fps"] == 60.0


def test_joint_values_in_degrees_are_refused_and_nothing_is_written(tmp_path):
    """A LAFAN CSV whose joint columns are degrees has no bodies to check them against (its bodies come from
    forward kinematics of the same values): the values themselves, beyond one turn, give it away."""
    m = Motion()
    m.q29 = np.degrees(m.q29)  # up to 0.57 rad -> 33 "rad"
    src = write_csv(tmp_path / "deg.csv", m)
    with pytest.raises(
        MotionFileError, match=r"key 'dof_pos': \w+_joint reaches 3\d\.\d+ rad, beyond one turn .* degrees"
    ):
        cv.convert_file(src, tmp_path / "deg.pkl")
    assert not (tmp_path / "deg.pkl").exists()


def test_beyondmimic_npz_with_root_and_joint_names(tmp_path):
    m = Motion()
    src = beyondmimic_npz(tmp_path / "bm.npz", m)
    assert rd.detect_format(src) == "beyondmimic_npz"
    with pytest.warns(MotionFileWarning) as caught:
        clip = cv.convert_file(src, tmp_path / "out.npz")
    check_clip(clip, m)  # wxyz -> xyzw and normalised (the input quaternions have norm 1.02)
    assert [str(w.message) for w in caught] == [
        "{}: key 'joint_pos': quaternion norms off 1 by up to 0.02: renormalised".format(src)
    ]
    check_clip(load_clip(tmp_path / "out.npz"), m)


@pytest.mark.parametrize("order", ["real-motor", "Isaac Lab"])
def test_beyondmimic_npz_joints_only_order_told_by_the_bodies(tmp_path, order):
    """No joint names (BeyondMimic's csv_to_npz, mjlab): the joint order is the one whose FK matches the
    bodies; the root is body 0."""
    m = Motion()
    src = beyondmimic_npz(tmp_path / "bm.npz", m, with_root=False, names=False, order=order)
    check_clip(cv.convert_file(src), m)


def test_isaac_lab_joint_order_from_the_tree():
    assert list(rd.isaac_lab_joint_order()) == [n + "_joint" for n in ISAAC_LAB_ORDER]


def test_beyondmimic_npz_bodies_of_no_known_order_are_an_error(tmp_path):
    m = Motion()
    src = beyondmimic_npz(tmp_path / "bm.npz", m, with_root=False, names=False)
    with np.load(src) as z:
        arrays = dict(z)
    arrays["joint_pos"] = arrays["joint_pos"][:, np.random.default_rng(5).permutation(29)]  # some other order
    np.savez(src, **arrays)
    with pytest.raises(MotionFileError, match=r"bm\.npz: key 'joint_pos': no joint_names, .*fit no known joint order"):
        cv.convert_file(src)


@pytest.mark.parametrize("fault", ["xyzw", "cm"])
def test_beyondmimic_npz_bodies_in_another_frame_name_the_frame_not_the_joint_order(tmp_path, fault):
    """Body quaternions stored xyzw, or positions in centimetres: both joint orders miss by decimetres, so the
    error names the bodies' frame instead of asking for joint_names."""
    m = Motion()
    src = beyondmimic_npz(tmp_path / "bm.npz", m, with_root=False, names=False)
    with np.load(src) as z:
        arrays = dict(z)
    if fault == "xyzw":
        arrays["body_quat_w"] = arrays["body_quat_w"][..., [1, 2, 3, 0]]
    else:
        arrays["body_pos_w"] = 100.0 * arrays["body_pos_w"]
    np.savez(src, **arrays)
    with pytest.raises(MotionFileError) as e:
        cv.convert_file(src)
    msg = str(e.value)
    assert msg.startswith("{}: no joint_names, and neither known joint order".format(src)), msg
    assert "(real-motor 0." in msg and ", Isaac Lab 0." in msg
    assert "the joint order is not the likely problem: is body 0 the pelvis, are the rotations wxyz, are the " in msg
    assert "positions in metres? (joint_pos, body_pos_w, body_quat_w)" in msg
    assert "add joint_names" not in msg and "\n" not in msg


def test_amass_npz_root_is_pelvis_by_name(tmp_path):
    m = Motion()
    src = amass_npz(tmp_path / "amass.npz", m)
    assert rd.detect_format(src) == "amass_npz"
    check_clip(cv.convert_file(src, tmp_path / "amass.pkl"), m)


def test_amass_npz_without_body_names_uses_body0(tmp_path):
    m = Motion()
    check_clip(cv.convert_file(amass_npz(tmp_path / "amass.npz", m, body_names=False)), m)


def test_twist_pkl_29_and_23_dofs(tmp_path):
    m = Motion()
    src = twist_pkl(tmp_path / "gmr29.pkl", m)
    assert rd.detect_format(src) == "twist29_pkl"
    clip = cv.convert_file(src, tmp_path / "out.pkl")
    check_clip(clip, m)
    check_clip(cv.convert_file(twist_pkl(tmp_path / "clip23.pkl", m, dofs=23)), m)
    # A converted canonical clip (.npz) converts again to itself.
    cv.convert_file(src, tmp_path / "canon.npz")
    assert rd.detect_format(tmp_path / "canon.npz") == "twist29_pkl"
    check_clip(cv.convert_file(tmp_path / "canon.npz"), m)


def test_29_unnamed_columns_in_isaac_labs_order(tmp_path):
    """A pickle of 29 unnamed joint columns in Isaac Lab's order (an Isaac Lab export written without names):
    read in the real-motor order, a squat's knees and hips land on hip-roll and ankle columns beyond their
    limits, and in Isaac Lab's order none is, so it is refused naming the flag; with `--joint-order isaaclab`
    it converts to the clip; the same clip in the real-motor order converts without the flag."""
    from pose.synth import default_motion_file

    clip = load_clip(default_motion_file().parent / "squat.pkl")
    model = load_g1()
    motors = list(model.real_motor_joints)
    q29 = np.zeros((len(clip["dof_pos"]), 29))
    q29[:, [motors.index(n) for n in model.dof_names]] = clip["dof_pos"]
    isaac = q29[:, [motors.index(n) for n in rd.isaac_lab_joint_order()]]
    root = dict(fps=clip["fps"], root_pos=clip["root_pos"], root_rot=clip["root_rot"])
    for name, q in (("isaac.pkl", isaac), ("real.pkl", q29)):
        with open(tmp_path / name, "wb") as f:
            pickle.dump(dict(root, dof_pos=q), f)
    with pytest.raises(
        MotionFileError,
        match=r"isaac\.pkl: key 'dof_pos': 29 joint columns without names: .*"
        r"beyond the G1's joint limits .* give `--joint-order isaaclab`",
    ):
        cv.convert_file(tmp_path / "isaac.pkl")
    for name, order in (("isaac.pkl", "isaaclab"), ("real.pkl", None)):
        out = cv.convert_file(tmp_path / name, joint_order=order)
        np.testing.assert_allclose(out["dof_pos"], clip["dof_pos"], atol=1e-6)


def test_npz_of_mujoco_bodies_takes_the_pelvis_not_the_world_body(tmp_path):
    """holosoma's MuJoCo writer saves `data.xpos` / `data.xquat`: body 0 is the world body, at the origin and
    unrotated; `joint_pos` is `qpos[7:]` (29 joints, no root). The root is the pelvis, by name or, without
    names, the body after the world body."""
    m = Motion()
    pos, quat = simulator_bodies(m)
    n = len(m.root_pos)
    world_pos = np.concatenate([np.zeros((n, 1, 3)), pos], axis=1)
    world_quat = np.concatenate([np.tile([1.0, 0.0, 0.0, 0.0], (n, 1, 1)), quat], axis=1)
    motor = list(load_g1().real_motor_joints)
    arrays = dict(fps=np.array([m.fps]), joint_pos=m.q29, body_pos_w=world_pos, body_quat_w=world_quat)
    named = dict(arrays, joint_names=np.array(motor), body_names=np.array(["world"] + simulator_body_names()))
    np.savez(tmp_path / "named.npz", **named)
    check_clip(cv.convert_file(tmp_path / "named.npz"), m)
    np.savez(tmp_path / "unnamed.npz", **arrays)
    check_clip(cv.convert_file(tmp_path / "unnamed.npz"), m)


def test_npz_whose_bodies_contradict_its_joints_is_refused(tmp_path):
    """Named joints, but the bodies' quaternions stored xyzw (not wxyz): the file's bodies are decimetres
    from where its joints and root put the links, so it is refused rather than converted with a turned root."""
    m = Motion()
    pos, quat = simulator_bodies(m)
    motor = list(load_g1().real_motor_joints)
    arrays = dict(fps=np.array([m.fps]), joint_pos=m.q29, joint_names=np.array(motor), body_pos_w=pos)
    np.savez(tmp_path / "xyzw.npz", body_quat_w=quat[..., [1, 2, 3, 0]], **arrays)
    with pytest.raises(MotionFileError, match=r"xyzw\.npz: the bodies are .* m on average .* rotations wxyz"):
        cv.convert_file(tmp_path / "xyzw.npz")


@pytest.mark.parametrize("key", ["joint_names", "dof_names"])
@pytest.mark.parametrize("store", ["list", "object_array", "bytes_array"])
def test_pkl_joint_names_give_the_column_order(tmp_path, key, store):
    """A GMR/PHC-style pickle that names its joints (here in Isaac Lab's order) is read by name, not by its
    column count."""
    m = Motion()
    motor = list(load_g1().real_motor_joints)
    order = [n + "_joint" for n in ISAAC_LAB_ORDER]
    names = {"list": order, "object_array": np.array(order, dtype=object), "bytes_array": np.array(order, dtype="S")}
    path = _pkl_edit(tmp_path / "named.pkl", m, dof_pos=m.q29[:, [motor.index(n) for n in order]])
    with open(path, "rb") as f:
        clip = pickle.load(f)
    clip[key] = names[store]
    with open(path, "wb") as f:
        pickle.dump(clip, f)
    check_clip(cv.convert_file(path), m)


def test_pkl_joint_names_of_another_count_refused(tmp_path):
    m = Motion()
    path = _pkl_edit(tmp_path / "x.pkl", m, joint_names=list(load_g1().dof_names))  # 23 names, 29 columns
    with pytest.raises(MotionFileError, match=r"x\.pkl: key 'joint_names': has 23 names but dof_pos has 29 columns"):
        cv.convert_file(path)


@pytest.mark.parametrize("dofs", [29, 23])
def test_pkl_joints_stored_with_a_trailing_axis(tmp_path, dofs):
    m = Motion()
    q = m.q29 if dofs == 29 else m.q23
    check_clip(cv.convert_file(_pkl_edit(tmp_path / "x.pkl", m, dof_pos=q[:, :, None])), m)


def test_pkl_with_ordered_dict_reads(tmp_path):
    """Some writers store the motion as a collections.OrderedDict: harmless, read as a dict."""
    import collections

    m = Motion()
    with open(twist_pkl(tmp_path / "x.pkl", m), "rb") as f:
        clip = pickle.load(f)
    with open(tmp_path / "x.pkl", "wb") as f:
        pickle.dump(collections.OrderedDict(clip), f)
    check_clip(cv.convert_file(tmp_path / "x.pkl"), m)


def test_resampling_to_one_frame_says_so(tmp_path):
    m = Motion(n=2, fps=120.0)
    with pytest.raises(
        MotionFileError, match=r"key '--fps': 2 frames at 120 fps last 0\.008333 s: resampled to 30 fps"
    ):
        cv.convert_file(twist_pkl(tmp_path / "x.pkl", m), fps=30.0)


# --- resampling --------------------------------------------------------------------------------------


def expected_resample(m: Motion, fps):
    n_src = len(m.root_pos)
    duration = (n_src - 1) / m.fps
    n = int(np.floor(duration * fps)) + 1
    t_src, t = np.arange(n_src) / m.fps, np.arange(n) / fps
    pos = np.stack([np.interp(t, t_src, m.root_pos[:, k]) for k in range(3)], axis=1)
    q23 = np.stack([np.interp(t, t_src, m.q23[:, k]) for k in range(23)], axis=1)
    quat = Slerp(t_src, Rotation.from_quat(m.xyzw))(t).as_quat()
    return pos, quat, q23


def check_resampled(clip, m, fps):
    pos, quat, q23 = expected_resample(m, fps)
    assert clip["fps"] == fps
    assert clip["dof_pos"].shape == (len(pos), 23)
    np.testing.assert_allclose(clip["root_pos"], pos, atol=1e-5)
    np.testing.assert_allclose(clip["dof_pos"], q23, atol=1e-5)
    dot = np.abs(np.sum(clip["root_rot"].astype(np.float64) * quat, axis=1))  # q and -q are one rotation
    np.testing.assert_allclose(dot, 1.0, atol=1e-6)
    check_fk(clip)


@pytest.mark.parametrize("fps", [50.0, 20.0, 30.0, 7.0])
def test_resample_matches_interp_and_slerp(tmp_path, fps):
    m = Motion(n=46)  # 1.5 s at 30 Hz: 50 Hz -> 76 frames, 20 Hz -> 31, 7 Hz -> 11
    clip = cv.convert_file(twist_pkl(tmp_path / "c.pkl", m), fps=fps)
    check_resampled(clip, m, fps)


def test_float_fps_kept_and_resampled(tmp_path):
    m = Motion(n=31, fps=29.98)
    src = _pkl_edit(tmp_path / "c.pkl", m, fps=29.98)
    check_clip(cv.convert_file(src), m)  # fps 29.98 kept
    clip = cv.convert_file(src, fps=50.0)
    assert clip["dof_pos"].shape[0] == 51  # floor(30 / 29.98 * 50) + 1
    check_resampled(clip, m, 50.0)


def test_cli_single_file_with_resampling(tmp_path):
    m = Motion()
    src = write_csv(tmp_path / "run.csv", m)
    dst = tmp_path / "out" / "run.npz"
    res = run_cli(src, dst, "--format", "lafan_csv", "--src-fps", "30", "--fps", "50")
    assert res.returncode == 0, res.stderr
    assert "101 frames" in res.stdout  # 2 s at 50 Hz
    check_resampled(load_clip(dst), m, 50.0)


# --- folders -----------------------------------------------------------------------------------------


def make_folder(root: Path, m: Motion):
    (root / "sub").mkdir(parents=True)
    write_csv(root / "a_lafan.csv", m)
    beyondmimic_npz(root / "b_bm.npz", m)
    amass_npz(root / "sub" / "c_amass.npz", m)
    twist_pkl(root / "d_gmr.pkl", m)
    (root / "notes.txt").write_text("not a motion")
    return ["a_lafan.pkl", "b_bm.pkl", "d_gmr.pkl", "sub/c_amass.pkl"]


def test_cli_folder_writes_manifest(tmp_path):
    m = Motion()
    expected = make_folder(tmp_path / "src", m)
    dst = tmp_path / "dst"
    res = run_cli(tmp_path / "src", dst, "--no-progress")
    assert res.returncode == 0, res.stderr
    entries = load_manifest(dst / "manifest.yaml")
    assert sorted(e.file.relative_to(dst).as_posix() for e in entries) == sorted(expected)
    for e in entries:
        check_clip(load_clip(e.file), m)


def test_folder_reports_bad_files_and_keeps_the_rest(tmp_path):
    m = Motion()
    make_folder(tmp_path / "src", m)
    write_csv(tmp_path / "src" / "z_bad.csv", m, n_cols=35)
    res = cv.convert_folder(tmp_path / "src", tmp_path / "dst", fps=50, suffix=".npz", progress=False)
    assert len(res.converted) == 4
    assert [f.name for f, _ in res.failed] == ["z_bad.csv"] and "36 columns" in res.failed[0][1]
    entries = load_manifest(res.manifest)
    assert len(entries) == 4 and all(e.file.suffix == ".npz" for e in entries)
    for e in entries:
        check_resampled(load_clip(e.file), m, 50.0)
    with pytest.raises(MotionFileError, match="z_bad.csv"):
        cv.convert_folder(tmp_path / "src", tmp_path / "dst2", progress=False, strict=True)


# --- bad inputs --------------------------------------------------------------------------------------


def _csv_with(path, m, edit):
    lines = open(write_csv(path, m)).read().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def _set_field(row, col, value):
    def edit(lines):
        fields = lines[row].split(",")
        fields[col] = value
        lines[row] = ",".join(fields)

    return edit


def _npz_edit(path, builder, m, **changes):
    builder(path, m)
    data = dict(np.load(path))
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v(data[k]) if callable(v) else v
    np.savez(path, **data)
    return path


def _nan_at(row, col):
    def f(a):
        a = a.copy()
        a[row, col] = np.nan
        return a

    return f


def _zero_cols(row, cols):
    def f(a):
        a = a.copy()
        a[row, cols] = 0.0
        return a

    return f


BAD_INPUTS = {
    "csv_35_columns": (lambda p, m: write_csv(p / "x.csv", m, n_cols=35), ["x.csv", "36 columns", "got 35"]),
    "csv_ragged_line": (
        lambda p, m: _csv_with(p / "x.csv", m, lambda ls: ls.__setitem__(3, ls[3].rsplit(",", 1)[0])),
        ["x.csv", "line 4 has 35 columns"],
    ),
    "csv_header": (
        lambda p, m: _csv_with(p / "x.csv", m, lambda ls: ls.insert(0, "x,y,z" + ",c" * 33)),
        ["x.csv", "line 1, column 0 (root_x)", "no header"],
    ),
    "csv_nan_knee": (
        lambda p, m: _csv_with(p / "x.csv", m, _set_field(5, 10, "nan")),
        ["x.csv", "frame 5", "column 10 (left_knee_joint)"],
    ),
    "bm_unknown_joint": (
        lambda p, m: _npz_edit(
            p / "x.npz", beyondmimic_npz, m, joint_names=lambda a: np.array(["left_wrist_bogus"] + list(a[1:]))
        ),
        ["x.npz", "'joint_names'", "left_wrist_bogus"],
    ),
    "bm_wrong_columns": (
        lambda p, m: _npz_edit(p / "x.npz", beyondmimic_npz, m, joint_names=None, joint_pos=lambda a: a[:, :30]),
        ["x.npz", "'joint_pos'", "(T, 36)"],
    ),
    "bm_missing_fps": (
        lambda p, m: _npz_edit(p / "x.npz", beyondmimic_npz, m, fps=None),
        ["x.npz", "'fps'", "missing"],
    ),
    "amass_missing_rotations": (
        lambda p, m: amass_npz(p / "x.npz", m, drop=["body_rotations"]),
        ["x.npz", "'body_rotations'", "missing"],
    ),
    "amass_nan_joint": (
        lambda p, m: _npz_edit(p / "x.npz", amass_npz, m, dof_positions=_nan_at(7, 0)),
        ["x.npz", "'dof_positions'", "frame 7"],
    ),
    "amass_no_pelvis": (
        lambda p, m: _npz_edit(
            p / "x.npz", amass_npz, m, body_names=np.array(["b{}".format(i) for i in range(len(load_g1().bodies))])
        ),
        ["x.npz", "'body_names'", "pelvis"],
    ),
    "pkl_25_dofs": (
        lambda p, m: _pkl_edit(p / "x.pkl", m, dof_pos=m.q29[:, :25]),
        ["x.pkl", "'dof_pos'", "expected 29", "got 25"],
    ),
    "pkl_missing_root_rot": (lambda p, m: _pkl_edit(p / "x.pkl", m, root_rot=None), ["x.pkl", "'root_rot'", "missing"]),
    "pkl_quat_norm_2": (
        lambda p, m: _pkl_edit(p / "x.pkl", m, root_rot=2.0 * m.xyzw),
        ["x.pkl: key 'root_rot': quaternion at frame 0 has norm 2, expected 1 (+-0.1)"],
    ),
    "bm_zero_quat": (
        lambda p, m: _npz_edit(p / "x.npz", beyondmimic_npz, m, joint_pos=_zero_cols(7, [3, 4, 5, 6])),
        ["x.npz: key 'joint_pos': quaternion at frame 7 has norm 0,"],
    ),
    "npz_unknown_keys": (
        lambda p, m: np.savez(p / "x.npz", foo=np.zeros(3)) or p / "x.npz",
        ["x.npz", "cannot tell the format", "foo"],
    ),
    "unknown_suffix": (
        lambda p, m: (p / "x.bvh").write_text("HIERARCHY") and p / "x.bvh",
        ["x.bvh", "unknown motion format"],
    ),
}


def _pkl_edit(path, m, **changes):
    twist_pkl(path, m)
    with open(path, "rb") as f:
        clip = pickle.load(f)
    for k, v in changes.items():
        if v is None:
            clip.pop(k)
        else:
            clip[k] = v
    with open(path, "wb") as f:
        pickle.dump(clip, f)
    return path


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_name_file_and_key(tmp_path, case):
    make, fragments = BAD_INPUTS[case]
    src = make(tmp_path, Motion())
    with pytest.raises(MotionFileError) as info:
        cv.convert_file(src, tmp_path / "out.pkl")
    for frag in fragments:
        assert frag in str(info.value), str(info.value)
    assert not (tmp_path / "out.pkl").exists()


def test_bad_output_suffix_and_fps(tmp_path):
    src = write_csv(tmp_path / "x.csv", Motion())
    with pytest.raises(MotionFileError, match=r"out\.txt.*\.pkl or \.npz"):
        cv.convert_file(src, tmp_path / "out.txt")
    with pytest.raises(MotionFileError, match="--fps"):
        cv.convert_file(src, fps=-5)
    with pytest.raises(MotionFileError, match="--src-fps"):
        cv.convert_file(src, src_fps=0)


def phc_motion(m: Motion, dofs=23, pos_key="root_trans_offset", rot_key="root_rot", dof_key="dof", column=False):
    """A motion as PHC / ASAP / PBHC write it: root xyzw quaternion, joints in real-motor order (29) or
    training order (23; their 23-DOF G1), extra keys the converter ignores."""
    q = m.q29 if dofs == 29 else m.q23
    n = len(m.root_pos)
    return {
        pos_key: m.root_pos.astype(np.float32),
        rot_key: m.xyzw,
        dof_key: q[:, :, None] if column else q,
        "pose_aa": np.zeros((n, 27, 3), dtype=np.float32),
        "contact_mask": np.ones((n, 2)),
        "fps": int(m.fps),
    }


def test_phc_pkl_one_motion_pbhc_layout(tmp_path):
    """PBHC pickles {Path of the source: motion} with plain pickle."""
    m = Motion()
    src = tmp_path / "walk_g1.pkl"
    with open(src, "wb") as f:
        pickle.dump({Path("/amass/KIT/walk 01.npz"): phc_motion(m)}, f, protocol=pickle.HIGHEST_PROTOCOL)
    assert rd.detect_format(src) == "phc_pkl"
    check_clip(cv.convert_file(src, tmp_path / "out.pkl"), m)
    check_clip(load_clip(tmp_path / "out.pkl"), m)


@pytest.mark.parametrize(
    "keys",
    [
        dict(dofs=29),
        dict(dofs=23, column=True),  # PHC's (T, J, 1)
        dict(dofs=29, pos_key="root_trans", rot_key="root_quat", dof_key="dof_pos"),
    ],
)
def test_phc_pkl_single_motion_key_variants(tmp_path, keys):
    joblib = pytest.importorskip("joblib")
    m = Motion()
    joblib.dump(phc_motion(m, **keys), tmp_path / "one.pkl")
    assert rd.detect_format(tmp_path / "one.pkl") == "phc_pkl"
    [(name, clip)] = rd.read_clips(tmp_path / "one.pkl")
    assert name == ""
    check_clip(clip, m)


def test_phc_pkl_many_motions_cli_keeps_the_good_ones(tmp_path):
    """An ASAP-style joblib file of motions by name: one clip per motion, a broken motion reported by name
    (exit status 1) without losing the others."""
    joblib = pytest.importorskip("joblib")
    walk, run = Motion(n=61), Motion(n=100, fps=50.0)
    bad = phc_motion(Motion())
    bad["dof"] = bad["dof"].copy()
    bad["dof"][7, 3] = np.nan
    motions = {"0-KIT_3_walking slow08_poses": phc_motion(walk, dofs=29), "run/fast.npz": phc_motion(run), "bad": bad}
    joblib.dump(motions, tmp_path / "asap.pkl", compress=3)
    assert rd.detect_format(tmp_path / "asap.pkl") == "phc_pkl"
    with pytest.raises(MotionFileError, match=r"asap\.pkl: holds 3 motions.*one clip per motion"):
        cv.convert_file(tmp_path / "asap.pkl")

    res = run_cli(tmp_path / "asap.pkl", tmp_path / "out")
    assert res.returncode == 1
    assert "asap.pkl[bad]: key 'dof': NaN or inf at frame 7, column 3 (left_knee_joint)" in res.stderr, res.stderr
    entries = load_manifest(tmp_path / "out" / "manifest.yaml")
    assert [e.file.name for e in entries] == ["asap_0-KIT_3_walking_slow08_poses.pkl", "asap_fast.pkl"]
    check_clip(load_clip(entries[0].file), walk)
    check_clip(load_clip(entries[1].file), run)

    res = run_cli(tmp_path / "asap.pkl", tmp_path / "seg", "--segment", "1", "--fps", "50")
    assert res.returncode == 1
    names = [e.file.name for e in load_manifest(tmp_path / "seg" / "manifest.yaml")]
    assert names == ["asap_0-KIT_3_walking_slow08_poses_seg000.pkl", "asap_0-KIT_3_walking_slow08_poses_seg001.pkl"] + [
        "asap_fast_seg00{}.pkl".format(k) for k in range(2)
    ]


def test_phc_pkl_in_a_folder_and_dict_of_gmr_clips(tmp_path):
    joblib = pytest.importorskip("joblib")
    m = Motion()
    (tmp_path / "src").mkdir()
    joblib.dump({"a": phc_motion(m), "b": phc_motion(m, dofs=29)}, tmp_path / "src" / "set.pkl")
    gmr = {"fps": 30, "root_pos": m.root_pos, "root_rot": m.xyzw, "dof_pos": m.q29, "local_body_pos": None}
    with open(tmp_path / "src" / "gmr_by_name.pkl", "wb") as f:
        pickle.dump({"c": gmr}, f)
    write_csv(tmp_path / "src" / "walk.csv", m)
    res = cv.convert_folder(tmp_path / "src", tmp_path / "dst", progress=False)
    assert res.failed == []
    assert [p.as_posix() for p in res.converted] == ["gmr_by_name_c.pkl", "set_a.pkl", "set_b.pkl", "walk.pkl"]
    entries = load_manifest(res.manifest)
    assert entries[1].description == "converted from set.pkl, motion a"
    for e in entries:
        check_clip(load_clip(e.file), m)


def test_load_clip_names_the_converter_for_source_layouts(tmp_path):
    """Training on or playing a source file of another layout directly: the error says to convert it first."""
    joblib = pytest.importorskip("joblib")
    m = Motion()
    joblib.dump({"a": phc_motion(m)}, tmp_path / "phc.pkl")
    twist_pkl(tmp_path / "gmr29.pkl", m)
    bodies = list(load_g1().motion_bodies)
    bodies[5] = "left_knee_link_of_another_model"
    _pkl_edit(tmp_path / "other_bodies.pkl", m, dof_pos=m.q23, link_body_list=bodies)
    beyondmimic_npz(tmp_path / "bm.npz", m, with_root=False, names=False)
    amass_npz(tmp_path / "amass.npz", m)
    sources = ("phc.pkl", "gmr29.pkl", "other_bodies.pkl", "bm.npz", "amass.npz")
    for src in (tmp_path / name for name in sources):
        with pytest.raises(
            MotionFileError, match=r"convert it first with `python -m pose\.convert .*{}".format(src.name)
        ):
            load_clip(src)
    check_clip(cv.convert_file(tmp_path / "other_bodies.pkl"), m)  # the bodies recomputed by FK
    with pytest.raises(MotionFileError) as e:
        load_clip(_pkl_edit(tmp_path / "nan.pkl", m, dof_pos=m.q23, root_pos=np.full_like(m.root_pos, np.nan)))
    assert "pose.convert" not in str(e.value)  # a canonical clip's own fault: no hint


@pytest.mark.parametrize("suffix", [".pkl", ".npz", ".csv"])
def test_cli_unreadable_bytes_one_line(tmp_path, suffix):
    src = tmp_path / ("junk" + suffix)
    src.write_bytes(np.random.default_rng(4).bytes(1000))
    res = run_cli(src, tmp_path / "out.pkl")
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.splitlines()) == 1, res.stderr
    assert res.stderr.startswith("error: {}: ".format(src)) and "expected" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and "allow_pickle" not in res.stderr
    assert not (tmp_path / "out.pkl").exists()


def test_cli_off_norm_quaternions_one_warning_line(tmp_path):
    m = Motion()
    src = _pkl_edit(tmp_path / "gmr.pkl", m, root_rot=0.98 * m.xyzw)
    res = run_cli(src, tmp_path / "out.pkl")
    assert res.returncode == 0, res.stderr
    assert res.stderr == "WARNING: {}: key 'root_rot': quaternion norms off 1 by up to 0.02: renormalised\n".format(src)
    check_clip(load_clip(tmp_path / "out.pkl"), m)


def test_cli_error_exit_code_and_message(tmp_path, capsys):
    src = write_csv(tmp_path / "short.csv", Motion(), n_cols=30)
    assert cv.main([str(src), str(tmp_path / "out.pkl")]) == 2
    err = capsys.readouterr().err
    assert "short.csv" in err and "36 columns" in err
    assert "Traceback" not in err


# --- --segment ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_frames, seconds, expected_lengths",
    [
        (100, 1.0, [30, 30, 40]),  # tail of 10 frames (< 15) joins the last piece
        (105, 1.0, [30, 30, 30, 15]),  # tail of 15 frames (= half a segment) stays a piece
        (40, 1.0, [40]),  # shorter than 1.5 segments: whole
    ],
)
def test_split_clip_pieces_cover_the_clip_in_order(n_frames, seconds, expected_lengths):
    m = Motion(n=n_frames)
    clip = rd.make_clip("<m>", m.fps, m.root_pos, m.xyzw, m.q23)
    pieces = cv.split_clip(clip, seconds)
    assert [p["dof_pos"].shape[0] for p in pieces] == expected_lengths
    for key in ("root_pos", "root_rot", "dof_pos", "local_body_pos"):
        np.testing.assert_array_equal(np.concatenate([p[key] for p in pieces]), clip[key])
    assert all(p["fps"] == clip["fps"] and p["link_body_list"] == clip["link_body_list"] for p in pieces)


def test_cli_segment_single_file_and_folder(tmp_path):
    m = Motion(n=100)
    write_csv(tmp_path / "walk.csv", m)
    res = run_cli(tmp_path / "walk.csv", tmp_path / "pieces", "--segment", "1")
    assert res.returncode == 0, res.stderr
    entries = load_manifest(tmp_path / "pieces" / "manifest.yaml")
    assert [e.file.name for e in entries] == ["walk_seg000.pkl", "walk_seg001.pkl", "walk_seg002.pkl"]
    starts = np.cumsum([0, 30, 30])
    for e, a in zip(entries, starts):
        piece = load_clip(e.file)
        np.testing.assert_allclose(piece["root_pos"], m.root_pos[a : a + piece["root_pos"].shape[0]], atol=1e-5)
        np.testing.assert_allclose(piece["dof_pos"], m.q23[a : a + piece["dof_pos"].shape[0]], atol=1e-5)
    (tmp_path / "src" / "sub").mkdir(parents=True)
    write_csv(tmp_path / "src" / "sub" / "run.csv", m)
    write_csv(tmp_path / "src" / "jog.csv", Motion(n=61))
    res = run_cli(tmp_path / "src", tmp_path / "dst", "--segment", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    files = sorted(
        e.file.relative_to(tmp_path / "dst").as_posix() for e in load_manifest(tmp_path / "dst" / "manifest.yaml")
    )
    assert files == [
        "jog_seg000.pkl",
        "jog_seg001.pkl",
        "sub/run_seg000.pkl",
        "sub/run_seg001.pkl",
        "sub/run_seg002.pkl",
    ]
    res = run_cli(tmp_path / "walk.csv", tmp_path / "bad", "--segment", "-2")
    assert res.returncode == 2 and "--segment" in res.stderr and "positive" in res.stderr


# --- a manifest already in the output folder ---------------------------------------------------------


USER_MANIFEST = """root_path: .
note: the user's own key
motions:
  - file: mine.pkl
    weight: 3.0
    description: my curated clip
"""


def user_folder(folder: Path, m: Motion) -> Path:
    """A folder holding the user's clip and manifest (weight 3, a description and a key of their own)."""
    folder.mkdir(parents=True)
    cv.convert_file(write_csv(folder.parent / "mine.csv", m), folder / "mine.pkl")
    (folder / "manifest.yaml").write_text(USER_MANIFEST)
    return folder / "manifest.yaml"


def test_cli_updates_the_manifest_already_in_the_folder(tmp_path, capsys):
    """Several motions, --segment pieces, a folder: the clips written are added to the manifest there, whose
    entries, weights and descriptions stay; an entry for a file written again is replaced, and one line says
    so."""
    m = Motion()
    manifest = user_folder(tmp_path / "set", m)
    with open(tmp_path / "two.pkl", "wb") as f:
        pickle.dump({"a": phc_motion(m), "b": phc_motion(m, dofs=29)}, f)
    assert cv.main([str(tmp_path / "two.pkl"), str(tmp_path / "set"), "--no-progress"]) == 0
    expected = "wrote 2 clips (two_a.pkl ... two_b.pkl), manifest {} updated, not replaced (1 of its entries kept, "
    assert capsys.readouterr().out == expected.format(manifest) + "2 added, 0 replaced)\n"
    entries = load_manifest(manifest)
    assert [(e.file.name, e.weight, e.description) for e in entries] == [
        ("mine.pkl", 3.0, "my curated clip"),
        ("two_a.pkl", 1.0, "two.pkl, motion a"),
        ("two_b.pkl", 1.0, "two.pkl, motion b"),
    ]
    assert "note: the user's own key" in manifest.read_text()
    listed = yaml.safe_load(manifest.read_text())
    listed["motions"][1]["weight"] = 2.5  # the user weights a converted clip
    manifest.write_text(yaml.safe_dump(listed, sort_keys=False))

    assert cv.main([str(tmp_path / "two.pkl"), str(tmp_path / "set"), "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("(1 of its entries kept, 0 added, 2 replaced)")
    assert out[1:] == [
        "{}: replaced its entries for 2 file(s) written again (two_a.pkl, two_b.pkl) by the new ones "
        "(weights kept)".format(manifest)
    ]
    entries = load_manifest(manifest)
    assert [(e.file.name, e.weight) for e in entries] == [("mine.pkl", 3.0), ("two_a.pkl", 2.5), ("two_b.pkl", 1.0)]

    write_csv(tmp_path / "walk.csv", Motion(n=100))
    assert cv.main([str(tmp_path / "walk.csv"), str(tmp_path / "set"), "--segment", "1"]) == 0
    assert "(3 of its entries kept, 3 added, 0 replaced)" in capsys.readouterr().out
    (tmp_path / "src").mkdir()
    write_csv(tmp_path / "src" / "jog.csv", m)
    assert cv.main([str(tmp_path / "src"), str(tmp_path / "set"), "--no-progress"]) == 0
    assert (
        "manifest {} updated, not replaced (6 of its entries kept, 1 added".format(manifest) in capsys.readouterr().out
    )
    entries = load_manifest(manifest)
    assert [e.file.name for e in entries] == ["mine.pkl", "two_a.pkl", "two_b.pkl"] + [
        "walk_seg00{}.pkl".format(k) for k in range(3)
    ] + ["jog.pkl"]
    assert (entries[0].weight, entries[0].description) == (3.0, "my curated clip")
    check_clip(load_clip(entries[-1].file), m)


@pytest.mark.parametrize(
    "text", ["motions: [mine.pkl\n", "just some text\n", "motions: mine.pkl\n", "motions:\n  - mine.pkl\n"]
)
def test_cli_refuses_a_manifest_it_cannot_keep_before_writing(tmp_path, capsys, text):
    """A manifest.yaml there that cannot be read as one: status 2, one line naming it, nothing written; a
    conversion that writes no manifest (one clip) is not stopped by it."""
    (tmp_path / "set").mkdir()
    manifest = tmp_path / "set" / "manifest.yaml"
    manifest.write_text(text)
    (tmp_path / "src").mkdir()
    walk = write_csv(tmp_path / "src" / "walk.csv", Motion(n=100))
    for args in ([walk, tmp_path / "set", "--segment", "1"], [tmp_path / "src", tmp_path / "set", "--no-progress"]):
        assert cv.main([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: {}: ".format(manifest)) and len(err.splitlines()) == 1, err
        assert "nothing was written" in err
        assert manifest.read_text() == text and [p.name for p in manifest.parent.iterdir()] == ["manifest.yaml"]
    assert cv.main([str(walk), str(tmp_path / "set")]) == 0
    assert manifest.read_text() == text and (tmp_path / "set" / "walk.pkl").is_file()


def test_update_manifest_keeps_its_root_path(tmp_path):
    """New files are listed relative to the manifest's root_path; an entry naming the same file through
    it is replaced in place, its weight kept."""
    from pose.formats import update_manifest

    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("root_path: clips\nmotions:\n- {file: walk.pkl, weight: 2.0}\n- {file: run.pkl, weight: 0.5}\n")
    update = update_manifest(manifest, ["clips/run.pkl", "new.pkl"], ["run again", "new"])
    assert (update.existed, update.kept, update.added, update.replaced) == (True, 1, 1, ["run.pkl"])
    data = yaml.safe_load(manifest.read_text())
    assert data["root_path"] == "clips"
    assert data["motions"] == [
        {"file": "walk.pkl", "weight": 2.0},
        {"file": "run.pkl", "weight": 0.5, "description": "run again"},
        {"file": "../new.pkl", "weight": 1.0, "description": "new"},
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.yaml"]  # no temporary file left


# --- joint orders of other G1 models; npz names saved as objects; holosoma's qpos ------------------------

# Unitree's 23-DOF G1 (GMR's unitree_g1_23dof) writes its columns in this order; as indices into the 29
# real-motor columns, written out here on purpose: legs 0-11, waist yaw 12, then per arm shoulder pitch, roll,
# yaw, elbow and wrist roll (left 15-19, right 22-26).
UNITREE23_COLUMNS_29 = list(range(13)) + [15, 16, 17, 18, 19, 22, 23, 24, 25, 26]
WAIST_ROLL_PITCH_23 = [13, 14]  # training order


def unitree23_motion():
    """A motion of Unitree's 23-DOF G1: the known motion with its waist roll and pitch (which that robot
    lacks) at 0; `q` its 23 columns as the robot writes them."""
    m = Motion()
    m.q29[:, [13, 14]] = 0.0  # real-motor waist roll, pitch
    m.q23 = np.delete(m.q29, WRIST_COLUMNS_29, axis=1)
    m.q = m.q29[:, UNITREE23_COLUMNS_29]
    return m


def gmr_pkl(path, m: Motion, q, local_body_pos=None):
    """A GMR clip (scripts/smplx_to_robot.py: no bodies; smplx_to_robot_dataset.py: `local_body_pos` by forward
    kinematics of its robot, root at the origin and unrotated, every body of the model)."""
    clip = {"fps": 30, "root_pos": m.root_pos, "root_rot": m.xyzw, "dof_pos": q, "local_body_pos": local_body_pos}
    clip["link_body_list"] = None if local_body_pos is None else simulator_body_names()
    with open(path, "wb") as f:
        pickle.dump(clip, f)
    return path


def all_local_bodies(m: Motion):
    return ForwardKinematics(bodies=simulator_body_names(), dtype=torch.float64).local_body_pos(torch.from_numpy(m.q23))


def test_other_joint_orders_written_out():
    motor = list(load_g1().real_motor_joints)
    assert list(rd.unitree_23dof_joint_order()) == [motor[i] for i in UNITREE23_COLUMNS_29]
    hand = ["thumb_0", "thumb_1", "thumb_2", "middle_0", "middle_1", "index_0", "index_1"]  # GMR's hand XML
    left, right = (["{}_hand_{}_joint".format(s, j) for j in hand] for s in ("left", "right"))
    assert list(rd.g1_with_hands_joint_order()) == motor[:22] + left + motor[22:] + right


def test_23_unnamed_columns_without_bodies_need_the_joint_order(tmp_path):
    """GMR's unitree_g1_23dof clip without bodies: the same 23 columns as a training-order clip, so the
    converter asks which; given, Unitree's order maps onto the training joints, waist roll and pitch at 0
    with a warning."""
    m = unitree23_motion()
    src = gmr_pkl(tmp_path / "g1_23.pkl", m, m.q)
    with pytest.raises(MotionFileError) as e:
        cv.convert_file(src)
    msg = str(e.value)
    assert msg.startswith("{}: key 'dof_pos': 23 joint columns without joint names".format(src)), msg
    assert "`--joint-order training` or `--joint-order unitree23`" in msg and "\n" not in msg
    with pytest.warns(MotionFileWarning) as caught:
        check_clip(cv.convert_file(src, joint_order="unitree23"), m)
    assert [str(w.message) for w in caught] == [
        "{}: key 'dof_pos': no waist_roll_joint or waist_pitch_joint (a motion of Unitree's 23-DOF G1, whose "
        "waist turns in yaw only): set to 0".format(src)
    ]
    train = Motion()
    check_clip(cv.convert_file(gmr_pkl(tmp_path / "train.pkl", train, train.q23), joint_order="training"), train)

    res = run_cli(src, tmp_path / "out.pkl")
    assert res.returncode == 2 and "--joint-order unitree23" in res.stderr and len(res.stderr.splitlines()) == 1
    res = run_cli(src, tmp_path / "out.pkl", "--joint-order", "unitree23")
    assert res.returncode == 0, res.stderr
    check_clip(load_clip(tmp_path / "out.pkl"), m)


@pytest.mark.parametrize("order", ["training", "unitree23"])
@pytest.mark.parametrize("layout", ["gmr_pkl", "amass_npz"])
def test_23_unnamed_columns_order_told_by_the_bodies(tmp_path, order, layout):
    """23 unnamed columns with bodies (GMR's dataset script's local_body_pos, an AMASS-G1 npz's world
    bodies): the order whose forward kinematics fits them, without a flag; a --joint-order that contradicts
    them is refused."""
    m = unitree23_motion() if order == "unitree23" else Motion()
    q = m.q if order == "unitree23" else m.q23
    if layout == "gmr_pkl":
        src = gmr_pkl(tmp_path / "x.pkl", m, q, all_local_bodies(m).numpy())
    else:
        pos, rot = simulator_bodies(m)
        src = tmp_path / "x.npz"
        np.savez(src, fps=np.float64(m.fps), dof_positions=q, body_positions=pos, body_rotations=rot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotionFileWarning)  # the waist of Unitree's 23-DOF G1
        check_clip(cv.convert_file(src), m)
        other = "training" if order == "unitree23" else "unitree23"
        expected = r"fit the joint order {} better than --joint-order {} \(.*\): is --joint-order {} right\?"
        with pytest.raises(MotionFileError, match=expected.format(order, other, other)):
            cv.convert_file(src, joint_order=other)


def test_23_columns_of_a_motion_that_cannot_tell_the_orders_apart_give_the_clip_of_both(tmp_path):
    """Arms and waist still at 0: both orders put the links where the bodies are, and give the same training
    angles (the columns they disagree on are all 0), so the clip is read without --joint-order."""
    m = Motion()
    m.q29[:, 13:] = 0.0
    m.q23 = np.delete(m.q29, WRIST_COLUMNS_29, axis=1)
    src = gmr_pkl(tmp_path / "still.pkl", m, m.q23, all_local_bodies(m).numpy())
    check_clip(cv.convert_file(src), m)
    check_clip(cv.convert_file(src, joint_order="training"), m)


def test_23_columns_whose_orders_fit_alike_but_give_other_angles_are_refused(tmp_path):
    """Only the right elbow moves (the last column): forward kinematics places links up to the elbows, so both
    orders fit the bodies alike, but Unitree's order reads that column as the wrist roll (dropped) and the
    elbow as 0: the order matters and cannot be told, so --joint-order is asked for."""
    m = Motion()
    m.q29[:, 12:] = 0.0
    m.q29[:, 25] = 0.4 + 0.3 * np.sin(np.arange(len(m.q29)) / 5.0)  # right elbow (real-motor order)
    m.q23 = np.delete(m.q29, WRIST_COLUMNS_29, axis=1)
    src = gmr_pkl(tmp_path / "elbow.pkl", m, m.q23, all_local_bodies(m).numpy())
    with pytest.raises(MotionFileError, match=r"elbow\.pkl: key 'dof_pos': .*alike .*--joint-order training"):
        cv.convert_file(src)
    check_clip(cv.convert_file(src, joint_order="training"), m)


def test_phc_23_unnamed_columns_are_the_training_order(tmp_path):
    """PHC / ASAP write their 23-DOF G1 in the training order: no flag needed; --joint-order still applies."""
    m = Motion()
    with open(tmp_path / "asap.pkl", "wb") as f:
        pickle.dump(phc_motion(m), f)
    check_clip(cv.convert_file(tmp_path / "asap.pkl"), m)
    u = unitree23_motion()
    motion = phc_motion(u)
    motion["dof"] = u.q
    with open(tmp_path / "u23.pkl", "wb") as f:
        pickle.dump(motion, f)
    with pytest.warns(MotionFileWarning, match="waist_roll_joint or waist_pitch_joint"):
        check_clip(cv.convert_file(tmp_path / "u23.pkl", joint_order="unitree23"), u)


def test_gmr_with_hands_43_columns_drop_the_hands_with_a_warning(tmp_path):
    m = Motion()
    hand = 0.5 + np.arange(7)[None, :] * np.ones((len(m.root_pos), 1))  # values no G1 joint has here
    q43 = np.concatenate([m.q29[:, :22], hand, m.q29[:, 22:], -hand], axis=1)
    src = gmr_pkl(tmp_path / "hands.pkl", m, q43)
    with pytest.warns(MotionFileWarning) as caught:
        check_clip(cv.convert_file(src), m)
    assert [str(w.message) for w in caught] == [
        "{}: key 'dof_pos': 43 joint columns without names: read as GMR's unitree_g1_with_hands (the 29 motors, "
        "7 hand joints after each wrist); the 14 hand joints are dropped".format(src)
    ]


def test_npz_names_saved_as_object_arrays_are_read(tmp_path):
    """GMR forks save dof_names / body_names with dtype=object: read as names (no code can run); any other
    object array stays refused."""
    m = Motion()
    src = amass_npz(tmp_path / "amass.npz", m)
    with np.load(src) as z:
        arrays = dict(z)
    for k in ("dof_names", "body_names"):
        arrays[k] = np.array(arrays[k].tolist(), dtype=object)
    np.savez(src, **arrays)
    check_clip(cv.convert_file(src), m)

    refused = "key 'dof_names': holds Python objects, which need pickle; expected numbers or strings"
    marker = tmp_path / "ran"

    class Opens:  # unpickling it would call open(marker, "w")
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for bad in ([1, "left_knee_joint"], [["a"], ["b"]], [Opens()]):
        arrays["dof_names"] = np.empty(len(bad), dtype=object)
        arrays["dof_names"][:] = bad
        np.savez(src, **arrays)
        with pytest.raises(MotionFileError, match=re.escape(refused)):
            cv.convert_file(src)
    assert not marker.exists()


def test_holosoma_qpos_npz(tmp_path):
    """holosoma's retargeter: np.savez(qpos=(T, 36) MuJoCo qpos [root xyz, quat wxyz, 29 joints in
    real-motor order], fps, human_joints, cost)."""
    m = Motion()
    n = len(m.root_pos)
    src = tmp_path / "holosoma.npz"
    qpos = np.concatenate([m.root_pos, m.wxyz, m.q29], axis=1)
    np.savez(src, qpos=qpos, fps=30, human_joints=np.zeros((n, 22, 3)), cost=np.zeros(n))
    assert rd.detect_format(src) == "beyondmimic_npz"
    check_clip(cv.convert_file(src), m)
    np.savez(src, qpos=m.q29, fps=30)
    with pytest.raises(MotionFileError, match=r"holosoma\.npz: key 'qpos': expected shape \(T, 36\)"):
        cv.convert_file(src)


# --- --root-quat wxyz: root quaternions written scalar-first under a key the format defines as xyzw ---------


@functools.lru_cache(maxsize=None)
def _synth(name):
    return build_clip(name, seed=0, fps=30.0).clip


def synth_twist_pkl(path, name, heading_deg=0.0, wxyz=False):
    """A TWIST clip of `pose.synth` (30 fps, with its `local_body_pos`) turned about the vertical by
    `heading_deg`, `root_rot` stored (x, y, z, w), or (w, x, y, z) when `wxyz`, as some GMR forks save qpos[3:7]."""
    clip = dict(_synth(name))
    yaw = Rotation.from_euler("z", heading_deg, degrees=True)
    clip["root_pos"] = yaw.apply(clip["root_pos"])
    rot = (yaw * Rotation.from_quat(clip["root_rot"])).as_quat()  # scipy: (x, y, z, w)
    clip["root_rot"] = rot[:, [3, 0, 1, 2]] if wxyz else rot
    with open(path, "wb") as f:
        pickle.dump(clip, f)
    return path


def assert_same_clip(a, b):
    assert a["fps"] == b["fps"]
    for key in ("root_rot", "root_pos", "dof_pos", "local_body_pos"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-5, err_msg=key)


def test_root_quat_wxyz_walk_turning_refused_without_the_option_and_read_with_it(tmp_path, capsys):
    """A walk turning right (heading 0 to -120 deg) stored (w, x, y, z) under `root_rot`: refused as
    scalar-first, the error naming `--root-quat wxyz`; with it, the clip of the same walk stored (x, y, z, w)."""
    xyzw = synth_twist_pkl(tmp_path / "xyzw.pkl", "walk_turn")
    wxyz = synth_twist_pkl(tmp_path / "wxyz.pkl", "walk_turn", wxyz=True)
    heading = Rotation.from_quat(_synth("walk_turn")["root_rot"]).as_euler("zyx", degrees=True)[:, 0]
    assert heading.max() > -1.0 and heading.min() < -90.0  # frames facing several directions
    with pytest.raises(MotionFileError) as e:
        cv.convert_file(wxyz)
    msg = str(e.value)
    assert msg.startswith("{}: key 'root_rot': the pelvis is tilted ".format(wxyz)), msg
    assert "`python -m pose.convert SRC DST --root-quat wxyz`" in msg
    assert msg.endswith("the quaternions look scalar-first (w, x, y, z); reorder them to (x, y, z, w)"), msg
    assert cv.main([str(wxyz), str(tmp_path / "refused.pkl")]) == 2
    assert "--root-quat wxyz" in capsys.readouterr().err and not (tmp_path / "refused.pkl").exists()

    expected = cv.convert_file(xyzw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MotionFileWarning)
        assert_same_clip(cv.convert_file(wxyz, root_quat="wxyz"), expected)
        assert cv.main([str(wxyz), str(tmp_path / "out.pkl"), "--root-quat", "wxyz"]) == 0
    assert capsys.readouterr().out.startswith("wrote {}".format(tmp_path / "out.pkl"))
    assert_same_clip(load_clip(tmp_path / "out.pkl"), expected)
    assert_same_clip(cv.convert_file(xyzw, root_quat="xyzw"), expected)  # the default, given


def test_root_quat_wxyz_walk_facing_180_deg(tmp_path):
    """Stored (w, x, y, z) facing 180 deg, a walk reads upright facing 0 deg (only a warning, since a walk
    backwards looks so); with --root-quat wxyz it faces 180 deg, as the clip stored (x, y, z, w), without a word."""
    xyzw = synth_twist_pkl(tmp_path / "xyzw.pkl", "walk_forward_1p0", 180.0)
    wxyz = synth_twist_pkl(tmp_path / "wxyz.pkl", "walk_forward_1p0", 180.0, wxyz=True)
    with pytest.warns(MotionFileWarning) as caught:
        cv.convert_file(wxyz)
    (msg,) = [str(w.message) for w in caught]
    assert "facing about 180 deg; convert the file with `python -m pose.convert SRC DST --root-quat wxyz` or " in msg
    with warnings.catch_warnings():
        warnings.simplefilter("error", MotionFileWarning)
        clip = cv.convert_file(wxyz, root_quat="wxyz")
    facing = Rotation.from_quat(clip["root_rot"]).apply([1.0, 0.0, 0.0])[:, :2]
    heading = np.degrees(np.arctan2(facing[:, 1], facing[:, 0]))
    assert np.all(np.abs(heading) > 170.0)  # facing 180 deg (+-10: the walk's sway), not 0
    assert_same_clip(clip, cv.convert_file(xyzw))


def test_root_quat_wxyz_on_a_file_stored_xyzw_is_told(tmp_path):
    """The reverse mistake: a file stored (x, y, z, w) converted with --root-quat wxyz. Turning, it reads tilted
    but upright as stored: refused, naming the fix. Facing 0 deg, it reads upright facing 180 deg, walking
    backwards: a warning (a backwards walk reads the same). Either way the default converts it."""
    turning = synth_twist_pkl(tmp_path / "turning.pkl", "walk_turn")
    with pytest.raises(MotionFileError) as e:
        cv.convert_file(turning, root_quat="wxyz")
    msg = str(e.value)
    assert msg.startswith("{}: key 'root_rot': the pelvis is ".format(turning)), msg
    assert "in most frames but upright read as stored, (x, y, z, w) (median up-axis z " in msg
    assert msg.endswith(
        "the file's quaternions look (x, y, z, w) already, not scalar-first; convert it without --root-quat wxyz"
    ), msg

    forward = synth_twist_pkl(tmp_path / "forward.pkl", "walk_forward_1p0")
    with pytest.warns(MotionFileWarning) as caught:
        cv.convert_file(forward, root_quat="wxyz")
    (msg,) = [str(w.message) for w in caught]
    assert "the pelvis faces against the direction of travel on " in msg
    assert "but along it read as stored, (x, y, z, w) (" in msg
    assert msg.endswith(
        "the file's quaternions look (x, y, z, w) already, not scalar-first, facing about 0 deg; convert it "
        "without --root-quat wxyz unless the clip really moves backwards (which reads the same)"
    ), msg
    with warnings.catch_warnings():
        warnings.simplefilter("error", MotionFileWarning)
        cv.convert_file(turning)
        cv.convert_file(forward)


@pytest.mark.parametrize("layout", ["beyondmimic_root", "beyondmimic_bodies", "holosoma_qpos", "amass_npz"])
def test_root_quat_wxyz_refused_for_formats_that_store_wxyz(tmp_path, capsys, layout):
    """BeyondMimic / holosoma / AMASS-G1 files store the root quaternion wxyz by their format and are read so:
    --root-quat wxyz is refused, naming the option and the file, not ignored; the default reads them."""
    m = Motion()
    src = tmp_path / "x.npz"
    if layout == "beyondmimic_root":
        beyondmimic_npz(src, m)
    elif layout == "beyondmimic_bodies":
        beyondmimic_npz(src, m, with_root=False, names=False)
    elif layout == "holosoma_qpos":
        np.savez(src, qpos=np.concatenate([m.root_pos, m.wxyz, m.q29], axis=1), fps=30)
    else:
        amass_npz(src, m)
    fmt = "amass_npz" if layout == "amass_npz" else "beyondmimic_npz"
    expected = "{}: key '--root-quat': wxyz is for files of the formats that store the root quaternion xyzw "
    expected += "(lafan_csv, twist29_pkl, phc_pkl) written scalar-first; this {} file already stores it wxyz"
    with pytest.raises(MotionFileError, match=re.escape(expected.format(src, fmt))):
        cv.convert_file(src, root_quat="wxyz")
    with pytest.raises(MotionFileError, match=r"key '--root-quat': expected one of xyzw, wxyz, got 'zyxw'"):
        cv.convert_file(src, root_quat="zyxw")
    assert cv.main([str(src), str(tmp_path / "out.pkl"), "--root-quat", "wxyz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + expected.format(src, fmt)) and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out.pkl").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotionFileWarning)  # beyondmimic_npz's quaternion norm 1.02
        check_clip(cv.convert_file(src, root_quat="xyzw"), m)


def test_root_quat_wxyz_lafan_csv_and_folder(tmp_path, capsys):
    """A LAFAN-style CSV written root xyz, quat wxyz, 29 joints converts with --root-quat wxyz like the CSV
    written xyzw, also in folder mode (where a BeyondMimic NPZ beside it is refused and reported)."""
    m = Motion()
    wxyz = tmp_path / "src" / "walk.csv"
    wxyz.parent.mkdir()
    np.savetxt(wxyz, np.concatenate([m.root_pos, m.wxyz, m.q29], axis=1), delimiter=",", fmt="%.10f")
    expected = cv.convert_file(write_csv(tmp_path / "xyzw.csv", m))
    check_clip(expected, m)
    clip = cv.convert_file(wxyz, root_quat="wxyz")
    assert_same_clip(clip, expected)
    assert cv.main([str(wxyz), str(tmp_path / "walk.pkl"), "--root-quat", "wxyz"]) == 0
    assert_same_clip(load_clip(tmp_path / "walk.pkl"), expected)
    with pytest.raises(MotionFileError, match=r"short\.csv: expected 36 columns \(root xyz, root quat wxyz, 29 "):
        cv.convert_file(write_csv(tmp_path / "short.csv", m, n_cols=35), root_quat="wxyz")

    beyondmimic_npz(tmp_path / "src" / "bm.npz", m)
    res = cv.convert_folder(tmp_path / "src", tmp_path / "dst", progress=False, root_quat="wxyz")
    assert [p.as_posix() for p in res.converted] == ["walk.pkl"]
    assert [f.name for f, _ in res.failed] == ["bm.npz"] and "key '--root-quat'" in res.failed[0][1]
    assert_same_clip(load_clip(tmp_path / "dst" / "walk.pkl"), expected)
    assert cv.main([str(tmp_path / "src"), str(tmp_path / "dst2"), "--root-quat", "wxyz", "--no-progress"]) == 1
    assert "bm.npz: key '--root-quat': wxyz is for files" in capsys.readouterr().err
    assert_same_clip(load_clip(tmp_path / "dst2" / "walk.pkl"), expected)


def test_root_quat_wxyz_phc_pkl(tmp_path):
    """A PHC-style file of several motions whose `root_rot` / `root_quat` are stored (w, x, y, z)."""
    m = Motion()
    motions = {"a": phc_motion(m), "b": phc_motion(m, dofs=29, rot_key="root_quat")}
    motions["a"]["root_rot"] = m.wxyz
    motions["b"]["root_quat"] = m.wxyz
    with open(tmp_path / "set.pkl", "wb") as f:
        pickle.dump(motions, f)
    clips = list(rd.read_clips(tmp_path / "set.pkl", root_quat="wxyz"))
    assert [name for name, _ in clips] == ["a", "b"]
    for _, clip in clips:
        check_clip(clip, m)
    written, failed = cv.convert_source(tmp_path / "set.pkl", tmp_path / "out.pkl", root_quat="wxyz")
    assert failed == [] and [w.path.name for w in written] == ["out_a.pkl", "out_b.pkl"]
    for w in written:
        check_clip(load_clip(w.path), m)
