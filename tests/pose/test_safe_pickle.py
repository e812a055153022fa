"""pose.formats.safe_load_pickle / read_pickle: plain pickles and joblib dumps (PHC/ASAP-style motion files)
read back exactly, without running anything a pickle asks for.

The files are written by pickle and by joblib itself (joblib.dump, every compressor the reader knows), and the
arrays read back are compared with the ones written.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pytest

from pose.formats import MotionFileError, read_pickle, safe_load_pickle

joblib = pytest.importorskip("joblib")  # a dev dependency (pyproject.toml); the reader itself does not import it


def arrays():
    rng = np.random.default_rng(0)
    return {
        "root_trans_offset": rng.normal(size=(7, 3)).astype(np.float32),
        "dof": rng.normal(size=(7, 23)),
        "fortran": np.asfortranarray(rng.normal(size=(5, 4))),
        "big_endian": rng.normal(size=(6,)).astype(">f8"),
        "ints": np.arange(12, dtype=np.int16).reshape(3, 4),
        "empty": np.zeros((0, 3)),
        "scalar_array": np.array(2.5),
        "names": np.array(["pelvis", "torso_link"]),
        "objects": np.array([1, "a", None], dtype=object),
        "fps": 30,
        "note": "text",
    }


def assert_same(got: dict, want: dict):
    assert set(got) == set(want)
    for k, v in want.items():
        if isinstance(v, np.ndarray):
            assert isinstance(got[k], np.ndarray) and got[k].shape == v.shape, k
            # the same type and size; the byte order is numpy's to keep or make native
            assert (got[k].dtype.kind, got[k].dtype.itemsize) == (v.dtype.kind, v.dtype.itemsize), k
            assert got[k].tolist() == v.tolist(), k
        else:
            assert got[k] == v, k


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_joblib_files_read_back_exactly(tmp_path, compress):
    want = {"walk_01": arrays(), "run_02": {"dof": np.ones((2, 29))}}
    joblib.dump(want, tmp_path / "motions.pkl", compress=compress)
    got = safe_load_pickle(tmp_path / "motions.pkl")
    assert list(got) == ["walk_01", "run_02"]
    assert_same(got["walk_01"], want["walk_01"])
    assert_same(got["run_02"], want["run_02"])


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_joblib_and_pickle_every_protocol(tmp_path, protocol):
    want = arrays()
    del want["objects"]  # joblib pickles object arrays with protocol 2 whatever the file's protocol
    joblib.dump(want, tmp_path / "j.pkl", protocol=protocol)
    assert_same(safe_load_pickle(tmp_path / "j.pkl"), want)
    with open(tmp_path / "p.pkl", "wb") as f:
        pickle.dump(want, f, protocol=protocol)
    assert_same(safe_load_pickle(tmp_path / "p.pkl"), want)


def test_paths_come_back_as_text(tmp_path):
    """PBHC keys its motions by the source file's Path."""
    data = {Path("/data/amass/walk-01 (fast).npz"): {"dof": np.zeros((2, 23))}, "w": PureWindowsPath(r"C:\m\a.npz")}
    for protocol in (2, 4):
        with open(tmp_path / "p.pkl", "wb") as f:
            pickle.dump(data, f, protocol=protocol)
        got = safe_load_pickle(tmp_path / "p.pkl")
        assert list(got) == [str(PurePosixPath("/data/amass/walk-01 (fast).npz")), "w"]
        assert got["w"] == r"C:\m\a.npz"


class RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch {}".format(self.marker),))


@pytest.mark.parametrize("where", ["beside the arrays", "inside an object array"])
def test_joblib_file_cannot_run_code(tmp_path, where):
    marker = tmp_path / "ran"
    evil = RunsCommand(marker)
    payload = {"dof": np.zeros((2, 23))}
    payload["x"] = evil if where == "beside the arrays" else np.array([evil], dtype=object)
    joblib.dump(payload, tmp_path / "evil.pkl")
    with pytest.raises(MotionFileError, match=r"evil\.pkl.*system is not allowed"):
        read_pickle(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_truncated_joblib_file_is_a_clear_error(tmp_path):
    joblib.dump({"dof": np.zeros((400, 23))}, tmp_path / "whole.pkl")
    data = (tmp_path / "whole.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(MotionFileError, match=r"cut\.pkl.*truncated"):
        read_pickle(tmp_path / "cut.pkl")


def test_damaged_pickle_is_named_as_damaged(tmp_path):
    """Bytes changed inside a plain pickle fail deep in the unpickler (a KeyError of its memo, an
    EOFError, ...): the error says what that means."""
    data = pickle.dumps({"fps": 30, "dof_pos": np.zeros((10, 23))})
    (tmp_path / "damaged.pkl").write_bytes(data[: len(data) // 2] + bytes(20) + data[len(data) // 2 :])
    (tmp_path / "empty.pkl").write_bytes(b"")
    for name in ("damaged.pkl", "empty.pkl"):
        with pytest.raises(MotionFileError, match=name.replace(".", r"\.") + ".*damaged or cut short"):
            read_pickle(tmp_path / name)
