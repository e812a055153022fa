"""Motion clip and manifest files: reading, writing and validation (SPEC 6.1-6.2).

A clip is a dict with TWIST's keys:
  fps             float > 0
  root_pos        (T, 3)     pelvis position, world, metres
  root_rot        (T, 4)     pelvis orientation, quaternion xyzw
  dof_pos         (T, 23)    joint angles, training order
  local_body_pos  (T, 38, 3) body positions relative to the root, in the root frame
  link_body_list  38 names   body names of local_body_pos

Clips are stored as `.pkl` (TWIST/GMR files; read with a restricted unpickler that only rebuilds
numpy arrays and plain containers, so a pickle cannot run code) or `.npz` with the same keys.
Every reader validates and raises `MotionFileError` naming the file, the key and what was expected.
"""
from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple

import numpy as np
import yaml

from pose.g1_model import load_g1

CLIP_KEYS = ("fps", "root_pos", "root_rot", "dof_pos", "local_body_pos", "link_body_list")
QUAT_NORM_TOL = 1e-3


class MotionFileError(ValueError):
    """A motion clip or manifest that cannot be used; the message names file, key and expectation."""


# --- restricted unpickling ------------------------------------------------------------------------

# (module, name) pairs a numpy pickle needs; numpy 2 writes `numpy._core`, numpy 1 `numpy.core`.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
}


def _latin1_encode(obj, encoding="latin1", errors="strict"):
    """Stand-in for `_codecs.encode`, which protocol 0-2 pickles use to rebuild `bytes` (e.g. the
    raw data of a numpy array); only the latin-1 round trip that pickle writes is allowed."""
    if encoding not in ("latin1", "latin-1") or not isinstance(obj, str):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin-1 text in a motion clip")
    return obj.encode("latin1", errors)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError("global {}.{} is not allowed in a motion clip".format(module, name))
        for candidate in (module, module.replace("numpy._core", "numpy.core"), module.replace("numpy.core", "numpy._core")):
            try:
                return getattr(importlib.import_module(candidate), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError("cannot resolve {}.{}".format(module, name))


def safe_load_pickle(path) -> object:
    """Unpickle a file that may only contain numpy arrays/scalars and builtin containers."""
    with open(path, "rb") as f:
        data = f.read()
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


# --- clips -------------------------------------------------------------------------------------------


def _err(path, key, msg) -> MotionFileError:
    where = "{}: key {!r}: ".format(path, key) if key else "{}: ".format(path)
    return MotionFileError(where + msg)


def _array(clip, key, path, shape_tail, what):
    if key not in clip:
        raise _err(path, key, "missing (a clip needs {})".format(", ".join(CLIP_KEYS)))
    try:
        a = np.asarray(clip[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise _err(path, key, "expected a numeric array of shape (T, {}), got {}".format(what, type(clip[key]).__name__))
    if a.ndim != 1 + len(shape_tail) or tuple(a.shape[1:]) != tuple(shape_tail):
        raise _err(path, key, "expected shape (T, {}), got {}".format(what, tuple(a.shape)))
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    if bad.any():
        raise _err(path, key, "NaN or inf at frame {} ({} frames affected)".format(int(np.argmax(bad)), int(bad.sum())))
    return a


def validate_clip(clip: dict, path="<clip>") -> dict:
    """Check a clip dict and return it normalised: float32 arrays, float fps, bodies in model order.

    Raises MotionFileError naming `path`, the key and what was expected.
    """
    model = load_g1()
    if not isinstance(clip, dict):
        raise _err(path, None, "expected a dict with keys {}, got {}".format(", ".join(CLIP_KEYS), type(clip).__name__))
    if "fps" not in clip:
        raise _err(path, "fps", "missing (frame rate in Hz)")
    try:
        fps = float(np.asarray(clip["fps"]).reshape(()))
    except (TypeError, ValueError):
        raise _err(path, "fps", "expected a positive number, got {!r}".format(clip["fps"]))
    if not np.isfinite(fps) or fps <= 0:
        raise _err(path, "fps", "expected a positive number, got {}".format(fps))
    nd = model.num_dofs
    nb = len(model.motion_bodies)
    root_pos = _array(clip, "root_pos", path, (3,), "3")
    root_rot = _array(clip, "root_rot", path, (4,), "4 (quaternion xyzw)")
    dof_pos = _array(clip, "dof_pos", path, (nd,), "{} joints in training order".format(nd))
    local_body_pos = _array(clip, "local_body_pos", path, (nb, 3), "{}, 3".format(nb))
    n = root_pos.shape[0]
    for key, a in (("root_rot", root_rot), ("dof_pos", dof_pos), ("local_body_pos", local_body_pos)):
        if a.shape[0] != n:
            raise _err(path, key, "has {} frames but root_pos has {}".format(a.shape[0], n))
    if n < 2:
        raise _err(path, "root_pos", "expected at least 2 frames, got {}".format(n))
    norm_err = np.abs(np.linalg.norm(root_rot, axis=1) - 1.0)
    if (norm_err > QUAT_NORM_TOL).any():
        i = int(np.argmax(norm_err > QUAT_NORM_TOL))
        raise _err(path, "root_rot", "quaternion norm off by {:.3g} (> {}) at frame {}".format(norm_err[i], QUAT_NORM_TOL, i))
    if "link_body_list" not in clip:
        raise _err(path, "link_body_list", "missing (the {} body names of local_body_pos)".format(nb))
    names = [str(x) for x in clip["link_body_list"]]
    unknown = [x for x in names if x not in model.motion_bodies]
    if unknown:
        raise _err(path, "link_body_list", "unknown body names {} (expected the G1 motion bodies {})".format(unknown, list(model.motion_bodies)))
    missing = [x for x in model.motion_bodies if x not in names]
    if missing or len(names) != nb:
        raise _err(path, "link_body_list", "expected the {} G1 motion bodies once each, missing {}".format(nb, missing))
    order = [names.index(x) for x in model.motion_bodies]
    return {
        "fps": fps,
        "root_pos": root_pos.astype(np.float32),
        "root_rot": (root_rot / np.linalg.norm(root_rot, axis=1, keepdims=True)).astype(np.float32),
        "dof_pos": dof_pos.astype(np.float32),
        "local_body_pos": local_body_pos[:, order].astype(np.float32),
        "link_body_list": list(model.motion_bodies),
    }


def read_clip_file(path) -> dict:
    """Raw dict of a `.pkl` or `.npz` clip file, without validation."""
    path = Path(path)
    if not path.is_file():
        raise _err(path, None, "file does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".pkl":
            data = safe_load_pickle(path)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        else:
            raise _err(path, None, "unknown clip format {!r} (expected .pkl or .npz)".format(suffix))
    except MotionFileError:
        raise
    except Exception as e:  # corrupt archive, truncated pickle, forbidden global, ...
        raise _err(path, None, "cannot read {} file: {}: {}".format(suffix, type(e).__name__, e))
    if not isinstance(data, dict):
        raise _err(path, None, "expected a dict of arrays, got {}".format(type(data).__name__))
    return data


def load_clip(path) -> dict:
    """Read and validate one clip file (`.pkl` or `.npz`)."""
    return validate_clip(read_clip_file(path), path)


def save_clip(path, clip: dict) -> Path:
    """Validate and write a clip as `.pkl` (plain dict of numpy arrays) or `.npz`, chosen by suffix."""
    path = Path(path)
    clip = validate_clip(clip, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npz":
        arrays = dict(clip)
        arrays["fps"] = np.float64(clip["fps"])
        arrays["link_body_list"] = np.array(clip["link_body_list"])
        np.savez(path, **arrays)
    elif path.suffix.lower() == ".pkl":
        with open(path, "wb") as f:
            pickle.dump(clip, f, protocol=4)
    else:
        raise _err(path, None, "unknown clip format {!r} (expected .pkl or .npz)".format(path.suffix))
    return path


# --- manifests ---------------------------------------------------------------------------------------


class ManifestEntry(NamedTuple):
    file: Path
    weight: float
    description: str


def is_manifest(path) -> bool:
    return Path(path).suffix.lower() in (".yaml", ".yml")


def load_manifest(path) -> List[ManifestEntry]:
    """Entries of a TWIST manifest (`root_path`, `motions: [{file, weight, description}]`).

    A relative `root_path` is taken relative to the manifest's folder. Every entry's file must exist.
    """
    return _read_manifest(path, None)


def load_manifest_lenient(path) -> Tuple[List[ManifestEntry], List[MotionFileError]]:
    """Like `load_manifest`, but entries whose file does not exist are returned as errors (one
    `MotionFileError` each, same message as `load_manifest` raises) instead of stopping at the
    first. Structural problems (not YAML, no `motions`, bad weight, all weights zero) still raise.
    Used by `python -m pose.validate` to report every bad entry.
    """
    missing = []  # type: List[MotionFileError]
    entries = _read_manifest(path, missing)
    return entries, missing


def _read_manifest(path, missing: Optional[List[MotionFileError]]) -> List[ManifestEntry]:
    path = Path(path)
    if not path.is_file():
        raise _err(path, None, "manifest does not exist")
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise _err(path, None, "not valid YAML: {}".format(e))
    if not isinstance(data, dict) or "motions" not in data:
        raise _err(path, "motions", "missing (a manifest has root_path and motions: [{file, weight, description}])")
    root = Path(data.get("root_path") or ".")
    if not root.is_absolute():
        root = path.parent / root
    motions = data["motions"]
    if not isinstance(motions, list) or not motions:
        raise _err(path, "motions", "expected a non-empty list of {file, weight, description}")
    entries = []
    for i, m in enumerate(motions):
        key = "motions[{}]".format(i)
        if not isinstance(m, dict) or "file" not in m:
            raise _err(path, key, "expected a mapping with a 'file' key, got {!r}".format(m))
        try:
            weight = float(m.get("weight", 1.0))
        except (TypeError, ValueError):
            raise _err(path, key + ".weight", "expected a number >= 0, got {!r}".format(m.get("weight")))
        if not np.isfinite(weight) or weight < 0:
            raise _err(path, key + ".weight", "expected a number >= 0, got {}".format(weight))
        file = root / str(m["file"])
        if not file.is_file():
            err = _err(path, key + ".file", "{} does not exist (root_path {})".format(file, root))
            if missing is None:
                raise err
            missing.append(err)
            continue
        entries.append(ManifestEntry(file, weight, str(m.get("description", ""))))
    if entries and sum(e.weight for e in entries) <= 0:
        raise _err(path, "motions", "all weights are zero")
    return entries


def write_manifest(path, files, weights=None, descriptions=None, root_path: Optional[str] = ".") -> Path:
    """Write a TWIST manifest; `files` are relative to `root_path` (relative to the manifest folder)."""
    path = Path(path)
    weights = weights or [1.0] * len(files)
    descriptions = descriptions or ["general movement"] * len(files)
    data = {
        "root_path": root_path,
        "motions": [
            {"file": str(f), "weight": float(w), "description": d} for f, w, d in zip(files, weights, descriptions)
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return path


def motion_sources(path) -> List[ManifestEntry]:
    """The clips named by a manifest, or the one clip `path` with weight 1."""
    if is_manifest(path):
        return load_manifest(path)
    p = Path(path)
    if not p.is_file():
        raise _err(p, None, "motion file does not exist")
    return [ManifestEntry(p, 1.0, "single clip")]
