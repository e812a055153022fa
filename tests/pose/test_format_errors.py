"""Errors of files that are not what they look like: each one line naming the file, what was found and what
to do (pose.formats.load_clip / read_pickle, MotionLib, pose.convert)."""

from __future__ import annotations

import pickle
import re
import shlex

import numpy as np
import pytest
import torch

from pose import convert as cv
from pose.formats import MotionFileError, load_clip
from pose.g1_model import load_g1
from pose.utils.motion_lib_pkl import MotionLib


def gmr29_pkl(path, n=40, fps=30.0):
    """A 29-joint GMR clip (real-motor order, no body positions): pose.convert reads it, load_clip does not."""
    t = np.arange(n) / fps
    clip = {
        "fps": fps,
        "root_pos": np.stack([0.5 * t, 0.0 * t, 0.78 + 0.0 * t], axis=1),
        "root_rot": np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)),
        "dof_pos": 0.1 * np.sin(t[:, None] + np.arange(len(load_g1().real_motor_joints))[None, :]),
        "local_body_pos": None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(clip, f)
    return path


def suggested_command(message: str):
    """The `python -m pose.convert ...` command of an error message, split as a shell would."""
    commands = re.findall(r"`(python -m pose\.convert [^`]*)`", message)
    assert len(commands) == 1, message
    return shlex.split(commands[0])


def test_suggested_command_quotes_a_path_with_spaces(tmp_path):
    src = gmr29_pkl(tmp_path / "dir with space" / "gmr 29.pkl")
    with pytest.raises(MotionFileError) as e:
        load_clip(src)
    msg = str(e.value)
    assert "`python -m pose.convert '{}' OUT.pkl`".format(src) in msg and "\n" not in msg
    args = suggested_command(msg)
    assert args[:3] == ["python", "-m", "pose.convert"] and args[3:] == [str(src), "OUT.pkl"]
    assert cv.main([args[3], str(tmp_path / "out.pkl")]) == 0  # pasted, it converts the file
    load_clip(tmp_path / "out.pkl")

    motions = {"a": pickle.loads(src.read_bytes()), "b": pickle.loads(src.read_bytes())}
    several = tmp_path / "dir with space" / "two motions.pkl"
    several.write_bytes(pickle.dumps(motions))
    with pytest.raises(MotionFileError, match="holds 2 motions") as e:
        cv.convert_file(several)
    assert suggested_command(str(e.value))[3:] == [str(several), "DST_FOLDER"]


def test_torch_save_file_named_pkl_is_named_as_a_zip_archive(tmp_path, capsys):
    src = tmp_path / "clip.pkl"
    torch.save({"fps": 30, "root_pos": torch.zeros(50, 3)}, src)  # the default zip format
    assert src.read_bytes()[:4] == b"PK\x03\x04"
    for load in (load_clip, MotionLib):
        with pytest.raises(MotionFileError) as e:
            load(src)
        msg = str(e.value)
        assert msg.startswith("{}: is a zip archive, not a pickle".format(src)) and "\n" not in msg, msg
        assert "written by torch.save" in msg and "tensor.numpy()" in msg and "pickle or joblib" in msg
        assert "damaged" not in msg and "persistent" not in msg
    assert cv.main([str(src), str(tmp_path / "out.pkl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: {}: is a zip archive".format(src)) and len(err.splitlines()) == 1

    npz = tmp_path / "arrays.pkl"
    with open(npz, "wb") as f:
        np.savez(f, fps=np.float64(30), dof_pos=np.zeros((5, 23)))
    with pytest.raises(MotionFileError, match=r"arrays\.pkl: is a zip archive, .*an \.npz file .*rename it to \.npz"):
        load_clip(npz)


SMPLX_KEYS = ["betas", "gender", "mocap_frame_rate", "poses", "trans"]


def test_human_body_smpl_npz_is_not_asked_for_fps(tmp_path):
    """A raw AMASS SMPL-X file given to MotionLib: the keys found, and that it must be retargeted first,
    not a missing fps."""
    src = tmp_path / "amass_smplx.npz"
    n = 20
    np.savez(
        src,
        poses=np.zeros((n, 165)),
        trans=np.zeros((n, 3)),
        betas=np.zeros(16),
        mocap_frame_rate=np.float64(120),
        gender=np.array("neutral"),
    )
    with pytest.raises(MotionFileError) as e:
        MotionLib(src)
    msg = str(e.value)
    expected = "{}: not a robot clip of a known format: found keys {}; ".format(src, SMPLX_KEYS)
    assert msg.startswith(expected), msg
    assert "human-body SMPL/SMPL-X motion" in msg and "retarget it to the G1 first (e.g. with GMR)" in msg
    assert "python -m pose.convert" in msg and "'fps'" not in msg and "\n" not in msg
    with pytest.raises(MotionFileError, match=r"cannot tell the format: .*found keys .*retarget it to the G1 first"):
        cv.convert_file(src)

    other = tmp_path / "other.npz"
    np.savez(other, frames=np.zeros((n, 3)))
    with pytest.raises(
        MotionFileError, match=r"other\.npz: not a robot clip of a known format: found keys \['frames'\]"
    ):
        load_clip(other)

    clip = tmp_path / "no_fps.pkl"  # a clip that only lacks its frame rate still says so
    clip.write_bytes(pickle.dumps({"root_pos": np.zeros((n, 3)), "dof_pos": np.zeros((n, 23))}))
    with pytest.raises(MotionFileError, match=r"no_fps\.pkl: key 'fps': missing"):
        load_clip(clip)
