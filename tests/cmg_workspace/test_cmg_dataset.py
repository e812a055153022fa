"""CMG dataset builder on the embedded motion set: windows, velocities, commands, mirroring, replication,
statistics, resampling, 29-joint sources, the command line."""

import subprocess
import sys

import numpy as np
import pytest

from cmg_helpers import REPO_ROOT, build_embedded, embedded_clips
from cmg_workspace.dataset import BuildConfig, CMGData, build, replication_count
from cmg_workspace.sources import read_source_file
from pose import formats, synth
from pose.cmg import joints
from pose.formats import MotionFileError
from pose.g1_model import load_g1

FPS = 50.0


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmg_data") / "embedded.pt"
    build_embedded(path)
    return CMGData.load(path)


@pytest.fixture(scope="module")
def raw_clips():
    """The embedded clips as stored (23 joints, 50 fps), by name."""
    return {e.file.stem: formats.load_clip(e.file) for e in formats.load_manifest(synth.default_motion_file())}


def _windows_of(data, name, mirrored=False):
    k = data.clip_names.index("embedded/" + name)
    return np.flatnonzero((data.clip_index == k) & (data.mirrored == mirrored))


def test_windows_are_consecutive_frames_with_half_overlap(data, raw_clips):
    assert sorted(data.clip_names) == sorted("embedded/" + n for n in synth.CLIPS)
    assert data.motion.shape[1:] == (31, 58) and data.command.shape[1:] == (30, 3)
    for name, clip in raw_clips.items():
        n_frames = len(clip["dof_pos"])
        idx = _windows_of(data, name)
        assert len(idx) == (n_frames - 31) // 15 + 1, name
        q23 = clip["dof_pos"]
        for w, start in ((idx[0], 0), (idx[1], 15), (idx[-1], 15 * (len(idx) - 1))):
            np.testing.assert_allclose(
                joints.to_23(data.motion[w, :, :29]), q23[start : start + 31], atol=1e-6, err_msg=name
            )
        assert np.all(data.motion[idx][:, :, [19, 20, 21, 26, 27, 28]] == 0)  # no wrists in a 23-joint clip


def test_joint_velocities_are_central_differences(data, raw_clips):
    q = raw_clips["walk_forward_1p0"]["dof_pos"].astype(np.float64)
    w = _windows_of(data, "walk_forward_1p0")[3]  # frames 45 .. 75
    expected = (q[46:76] - q[44:74]) * FPS / 2.0
    np.testing.assert_allclose(joints.to_23(data.motion[w, :30, 29:]), expected, atol=1e-4)


@pytest.mark.parametrize(
    "name", ["walk_forward_1p0", "walk_forward_1p5", "walk_sideways", "walk_turn", "turn_in_place"]
)
def test_commands_follow_the_clips_steady_velocity(data, name):
    idx = _windows_of(data, name)
    middle = idx[len(idx) // 2 - 1 : len(idx) // 2 + 2]  # about the middle second of the clip
    cmd = data.command[middle].reshape(-1, 3).mean(0)
    np.testing.assert_allclose(cmd, synth.CLIPS[name].command, atol=0.06, err_msg=name)


def test_standing_clip_commands_are_near_zero(data):
    cmd = data.command[_windows_of(data, "stand")]
    assert np.abs(cmd).max() < 0.05


def test_mirrored_windows(data):
    orig, mirr = _windows_of(data, "walk_turn"), _windows_of(data, "walk_turn", mirrored=True)
    assert len(orig) == len(mirr)
    np.testing.assert_allclose(data.motion[mirr], joints.mirror_motion(data.motion[orig]), atol=0)
    np.testing.assert_allclose(data.command[mirr][..., 1:], -data.command[orig][..., 1:])
    np.testing.assert_allclose(data.command[mirr][..., 0], data.command[orig][..., 0])
    assert data.mirrored.sum() * 2 == len(data.mirrored)


def test_statistics(data):
    motion = data.motion.reshape(-1, 58).astype(np.float64)
    mean, std = motion.mean(0), motion.std(0)
    np.testing.assert_allclose(data.stats.motion_mean, mean, atol=1e-5)
    np.testing.assert_allclose(data.stats.motion_std, np.maximum(std, 0.1), rtol=1e-5, atol=1e-6)
    wrists = [19, 20, 21, 26, 27, 28]
    assert np.all(data.stats.motion_std[wrists] == np.float32(0.1)) and np.all(data.stats.motion_mean[wrists] == 0)
    # mirrored data: left and right statistics agree, roll/yaw means vanish
    perm, signs = joints.mirror_map()
    np.testing.assert_allclose(
        data.stats.motion_mean[:29], np.array(signs) * data.stats.motion_mean[:29][perm], atol=1e-5
    )
    np.testing.assert_allclose(data.stats.motion_std[:29], data.stats.motion_std[:29][perm], rtol=1e-4)
    cmd = data.command.reshape(-1, 3)
    np.testing.assert_array_equal(data.stats.command_min, cmd.min(0))
    np.testing.assert_array_equal(data.stats.command_max, cmd.max(0))
    np.testing.assert_allclose(data.stats.command_min[1:], -data.stats.command_max[1:])


def test_standing_pose_is_still(data):
    vel = data.standing_pose[29:]
    assert np.linalg.norm(vel) < 0.5
    q23 = joints.to_23(data.standing_pose[:29])
    assert np.abs(q23 - load_g1().default_dof_pos).max() < 0.3


def test_replication_counts_and_weighted_stats(tmp_path):
    np.testing.assert_array_equal(replication_count([0.0, 0.2, 0.5, 1.0, 1.5, 2.0, 3.5]), [1, 1, 6, 6, 24, 36, 36])
    data = build_embedded(tmp_path / "rep.pt", replication=((1.0, 3),))
    np.testing.assert_array_equal(data.repeats, np.where(data.speed > 1.0, 3, 1))
    assert (data.repeats == 3).any() and (data.repeats == 1).any()
    frames = np.repeat(data.motion, data.repeats, axis=0).reshape(-1, 58).astype(np.float64)
    np.testing.assert_allclose(data.stats.motion_mean, frames.mean(0), atol=1e-5)
    np.testing.assert_allclose(data.stats.motion_std, np.maximum(frames.std(0), 0.1), rtol=1e-4, atol=1e-6)


def test_29_joint_csv_is_resampled_to_50_fps_and_keeps_its_wrists(tmp_path):
    """A Unitree-LAFAN-style CSV (30 fps, 29 joints) walking straight at 1 m/s."""
    model = load_g1()
    t = np.arange(91) / 30.0  # 3 s
    q29 = np.tile(joints.from_23(model.default_dof_pos[None]), (len(t), 1))
    q29[:, 19] = 0.3 * np.sin(t)  # left wrist roll
    q29[:, 28] = -0.2 * t  # right wrist yaw
    root = np.stack([t, np.zeros_like(t), np.full_like(t, 0.78)], 1)
    quat = np.tile([0.0, 0.0, 0.0, 1.0], (len(t), 1))
    np.savetxt(tmp_path / "walk.csv", np.concatenate([root, quat, q29], 1), delimiter=",")
    clip = read_source_file("walk", tmp_path / "walk.csv")
    assert clip.has_wrists and clip.fps == 30.0
    from cmg_workspace.dataset import clip_features

    motion, command = clip_features(clip, FPS, command_window=1.0)
    t50 = np.arange(151) / FPS
    assert motion.shape == (151, 58)
    np.testing.assert_allclose(motion[:, 19], 0.3 * np.sin(t50), atol=1e-4)
    np.testing.assert_allclose(motion[:, 28], -0.2 * t50, atol=1e-9)
    np.testing.assert_allclose(motion[1:-1, 29 + 28], -0.2, atol=1e-9)
    np.testing.assert_allclose(command, np.tile([1.0, 0.0, 0.0], (151, 1)), atol=1e-5)  # float32 clip storage


def test_29_joint_phc_file_keeps_its_wrists(tmp_path):
    """A PHC/ASAP-style joblib file of one motion (root_trans_offset, root_rot xyzw, dof (T, 29)) is a CMG
    source like the CSV above; a file of several motions is refused with the command that splits it."""
    joblib = pytest.importorskip("joblib")
    model = load_g1()
    t = np.arange(61) / 30.0
    q29 = np.tile(joints.from_23(model.default_dof_pos[None]), (len(t), 1))
    q29[:, 20] = 0.25 * np.cos(t)  # left wrist pitch
    motion = {
        "root_trans_offset": np.stack([t, np.zeros_like(t), np.full_like(t, 0.78)], 1),
        "root_rot": np.tile([0.0, 0.0, 0.0, 1.0], (len(t), 1)),
        "dof": q29,
        "fps": 30,
    }
    joblib.dump({"walk": motion}, tmp_path / "walk.pkl")
    clip = read_source_file("walk", tmp_path / "walk.pkl")
    assert clip.has_wrists and clip.fps == 30.0
    np.testing.assert_allclose(clip.dof_pos, q29, atol=1e-6)
    joblib.dump({"walk": motion, "again": motion}, tmp_path / "two.pkl")
    with pytest.raises(MotionFileError, match=r"two\.pkl: holds 2 motions.*pose\.convert"):
        read_source_file("two", tmp_path / "two.pkl")


def test_isaac_lab_ordered_beyondmimic_npz_keeps_its_wrists(tmp_path):
    """BeyondMimic's csv_to_npz writes the joints in Isaac Lab's order without names: the wrists are read from
    the columns of that order (told by the bodies), not from the real-motor order's."""
    import torch

    from pose.readers import isaac_lab_joint_order
    from pose.kinematics import ForwardKinematics

    model = load_g1()
    t = np.arange(61) / 30.0
    q29 = np.tile(joints.from_23(model.default_dof_pos[None]), (len(t), 1))
    q29[:, 3] += 0.3 * np.sin(t)  # left knee
    q29[:, 21] = 0.4 * np.sin(2 * t)  # left wrist yaw
    q29[:, 26] = -0.1 * t  # right wrist roll
    root = np.stack([t, np.zeros_like(t), np.full_like(t, 0.78)], 1)
    quat_xyzw = np.tile([0.0, 0.0, 0.0, 1.0], (len(t), 1))
    fk = ForwardKinematics(bodies=model.body_names, dtype=torch.float64)
    args = (torch.from_numpy(root), torch.from_numpy(quat_xyzw), torch.from_numpy(joints.to_23(q29)))
    isaac = [list(model.real_motor_joints).index(n) for n in isaac_lab_joint_order()]
    np.savez(
        tmp_path / "bm.npz",
        fps=np.array([30.0]),
        joint_pos=q29[:, isaac],
        body_pos_w=fk(*args)[0].numpy(),
        body_quat_w=fk.body_quat(*args).numpy()[..., [3, 0, 1, 2]],
    )
    clip = read_source_file("bm", tmp_path / "bm.npz")
    assert clip.has_wrists
    np.testing.assert_allclose(clip.dof_pos, q29, atol=1e-6)


def test_unknown_source_names_the_path(tmp_path):
    with pytest.raises(MotionFileError, match="nothing_here"):
        from cmg_workspace.sources import list_sources

        list_sources([str(tmp_path / "nothing_here")])


def test_a_folder_source_leaves_hidden_files_out(tmp_path):
    """macOS resource forks (`._walk.pkl`) and files in hidden folders are not motions."""
    from cmg_workspace.sources import source_files

    (tmp_path / "clips" / ".trash").mkdir(parents=True)
    for name in ("walk.pkl", "._walk.pkl", ".trash/old.pkl", "notes.txt"):
        (tmp_path / "clips" / name).write_bytes(b"x")
    assert source_files(str(tmp_path / "clips")) == [("clips/walk", tmp_path / "clips" / "walk.pkl")]


def test_command_line(tmp_path):
    out = tmp_path / "d.pt"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cmg_workspace.build_dataset",
            "--out",
            str(out),
            "embedded",
            "--no_progress",
            "--replication",
            "1.0:4",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "clips: 10 used, 0 skipped" in r.stdout and "mean command speed" in r.stdout and "command range" in r.stdout
    data = CMGData.load(out)
    assert data.config["fps"] == 50.0 and data.config["seq_len"] == 30 and data.config["stride"] == 15
    assert int(data.repeats.sum()) == int(np.where(data.speed > 1.0, 4, 1).sum())
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "cmg_workspace.build_dataset",
            "--out",
            str(tmp_path / "x.pt"),
            str(tmp_path / "missing.yaml"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr and "Traceback" not in bad.stderr


def test_stats_from_a_checkpoint_lets_it_be_fine_tuned_on_new_data(tmp_path, capsys):
    """--stats_from stores a CMG's statistics instead of the data's own (which load_cmg would refuse),
    reports how far apart they are, and refuses a CMG of another frame rate by name."""
    from conftest import tiny_cmg
    from cmg_workspace import build_dataset
    from pose.cmg.checkpoint import load_cmg
    from pose.cmg.stats import StatsMismatchError

    ckpt = tiny_cmg(tmp_path / "tiny.pt")
    own_path, reused_path = tmp_path / "own.pt", tmp_path / "reused.pt"
    assert build_dataset.main(["--out", str(own_path), "embedded", "--no_progress"]) == 0
    capsys.readouterr()
    argv = ["--out", str(reused_path), "embedded", "--no_progress", "--stats_from", str(ckpt)]
    assert build_dataset.main(argv) == 0
    printed = capsys.readouterr().out
    own, reused = CMGData.load(own_path), CMGData.load(reused_path)
    np.testing.assert_array_equal(reused.motion, own.motion)
    ckpt_stats = load_cmg(ckpt).stats
    for key in ("motion_mean", "motion_std", "command_min", "command_max"):
        np.testing.assert_array_equal(getattr(reused.stats, key), getattr(ckpt_stats, key))
    load_cmg(ckpt, data_stats=reused.stats)  # accepted
    with pytest.raises(StatsMismatchError):
        load_cmg(ckpt, data_stats=own.stats)
    shift = np.max(np.abs(own.stats.motion_mean - ckpt_stats.motion_mean) / ckpt_stats.motion_std)
    assert "differ by up to {:.2f} std".format(shift) in printed
    assert reused.config["stats_from"] == str(ckpt)
    code = build_dataset.main(["--out", str(tmp_path / "x.pt"), "embedded", "--no_progress", "--fps", "25"] + argv[-2:])
    assert code == 2 and "tiny.pt" in capsys.readouterr().err
    missing = build_dataset.main(["--out", str(tmp_path / "y.pt"), "embedded", "--stats_from", str(tmp_path / "no.pt")])
    assert missing == 2 and "no.pt" in capsys.readouterr().err


def test_a_broken_file_among_good_ones_is_reported_and_left_out(tmp_path, capsys):
    """A folder of a good 29-joint CSV and an unreadable pickle: the data holds the CSV's windows
    alone, the summary names the broken file, exit status 1; nothing readable: 2, one line."""
    from cmg_workspace import build_dataset

    folder = tmp_path / "clips"
    folder.mkdir()
    t = np.arange(91) / 30.0  # 3 s of a 30-fps CSV: 151 frames at 50 fps, windows start at 0, 15, ..., 120 -> 9
    q29 = np.tile(joints.from_23(load_g1().default_dof_pos[None]), (len(t), 1))
    root = np.stack([t, np.zeros_like(t), np.full_like(t, 0.78)], 1)
    quat = np.tile([0.0, 0.0, 0.0, 1.0], (len(t), 1))
    np.savetxt(folder / "walk.csv", np.concatenate([root, quat, q29], 1), delimiter=",")
    (folder / "broken.pkl").write_bytes(b"not a pickle")
    out = tmp_path / "d.pt"
    assert build_dataset.main(["--out", str(out), str(folder), "--no_progress"]) == 1
    captured = capsys.readouterr()
    assert "failed: {}".format(folder / "broken.pkl") in captured.err  # as it happens
    assert "1 of 2 files failed" in captured.out and "failed: {}".format(folder / "broken.pkl") in captured.out
    data = CMGData.load(out)
    assert data.clip_names == ["clips/walk"] and len(data.motion) == 2 * 9  # and the mirrored copies
    assert build_dataset.main(["--out", str(tmp_path / "x.pt"), str(folder / "broken.pkl"), "--no_progress"]) == 2
    assert "broken.pkl" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


def test_a_truncated_dataset_file_is_refused_naming_it(tmp_path, data):
    path = tmp_path / "d.pt"
    data.save(path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="d.pt: cannot read as a CMG dataset"):
        CMGData.load(path)


def test_a_command_the_data_hardly_vary_is_reported():
    """Standing clips only: every command component spans almost nothing, and the command scaling divides
    by that span, so the summary warns naming them; the embedded set (walks, turns) gets no warning."""
    from cmg_workspace.dataset import NARROW_COMMAND_RANGE, summary_lines

    clips = embedded_clips()
    stand = build([c for c in clips if "stand" in c.name], BuildConfig(replication=()))
    span = stand.command.reshape(-1, 3).max(0) - stand.command.reshape(-1, 3).min(0)
    narrow = [n for n, w in zip(("vx", "vy", "wz"), span) if w < NARROW_COMMAND_RANGE]
    assert narrow  # the stand clip hardly moves
    (warning,) = [line for line in summary_lines(stand) if line.startswith("WARNING")]
    assert "hardly vary " + " and ".join(narrow) in warning
    whole = build(clips, BuildConfig(replication=()))
    assert not [line for line in summary_lines(whole) if line.startswith("WARNING")]
