"""Motion clip and manifest files: reading, writing and validation (docs/motion_data.md).

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
Root quaternions a little off unit norm (common in public TWIST/GMR files, 1-2.5 %) are renormalised
with one `MotionFileWarning` per file; only clearly broken ones (norm off 1 by more than 10 %, zero,
NaN/inf) are rejected. `fps` may be any positive float (29.98, 59.99).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import importlib
import io
import lzma
import os
import pickle
import shlex
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import yaml

from pose.g1_model import load_g1
from pose.motion_errors import MotionFileError, MotionFileWarning, file_error

CLIP_KEYS = ("fps", "root_pos", "root_rot", "dof_pos", "local_body_pos", "link_body_list")
CLIP_SUFFIXES = (".pkl", ".npz")
CLIP_FILE = "clip file (.pkl or .npz)"  # what `require_file` names for a clip
# Root quaternion norms off 1 by more than QUAT_NORM_WARN are renormalised with a warning, by more
# than QUAT_NORM_MAX (or not finite) rejected; smaller deviations (float32 rounding) are renormalised silently.
QUAT_NORM_WARN = 1e-3
QUAT_NORM_MAX = 0.1


@contextlib.contextmanager
def warnings_as_lines(write: Callable[[str], None]):
    """Within the block, show warnings as the one line `WARNING: <message>` passed to `write`,
    instead of Python's two-line format, and every `MotionFileWarning` each time it is raised.
    For command-line tools."""

    def show(message, category, filename, lineno, file=None, line=None):
        write("WARNING: {}".format(message))

    with warnings.catch_warnings():
        warnings.simplefilter("always", MotionFileWarning)
        warnings.showwarning = show
        yield


# --- restricted unpickling ------------------------------------------------------------------------

# (module, name) pairs a numpy pickle needs; numpy 2 writes `numpy._core`, numpy 1 `numpy.core`.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
}
# Path objects (PBHC keys its motions by the source file's Path) come back as their text.
_PATH_CLASSES = {
    "PurePath": PurePosixPath,
    "Path": PurePosixPath,
    "PurePosixPath": PurePosixPath,
    "PosixPath": PurePosixPath,
    "PureWindowsPath": PureWindowsPath,
    "WindowsPath": PureWindowsPath,
}
# joblib.dump writes each array as this wrapper (its state: dtype, shape, order) followed by the raw bytes.
_JOBLIB_ARRAY = ("joblib.numpy_pickle", "NumpyArrayWrapper")
# The whole stream of a compressed joblib file starts with its compressor's magic bytes.
_JOBLIB_COMPRESSION = (
    (b"\x78", zlib.decompress),
    (b"\x1f\x8b", gzip.decompress),
    (b"BZh", bz2.decompress),
    (b"\xfd7zXZ", lzma.decompress),
    (b"]\x00\x00", lzma.decompress),  # lzma "alone": properties byte, then the dictionary size
)


def _latin1_encode(obj, encoding="latin1", errors="strict"):
    """Stand-in for `_codecs.encode`, which protocol 0-2 pickles use to rebuild `bytes` (e.g. the
    raw data of a numpy array); only the latin-1 round trip that pickle writes is allowed."""
    if encoding not in ("latin1", "latin-1") or not isinstance(obj, str):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin-1 text in a motion clip")
    return obj.encode("latin1", errors)


def _new_joblib_array(cls, base, state):
    """Stand-in for `copyreg._reconstructor`, which protocol 0-1 pickles use to make an object; only
    joblib's array wrapper may be made that way."""
    if cls is not _JoblibArray or base is not object or state is not None:
        raise pickle.UnpicklingError("copyreg._reconstructor is only allowed for joblib's arrays in a motion clip")
    return _JoblibArray()


def _path_text(cls):
    def build(*parts):
        if not all(isinstance(x, str) for x in parts):
            raise pickle.UnpicklingError("a pickled path must be made of text")
        return str(cls(*parts))

    return build


class _JoblibArray:
    """Stands for joblib's NumpyArrayWrapper while unpickling: BUILD gives it the array's description
    (`dtype`, `shape`, `order`, optional alignment padding); `read` takes the array's bytes that
    follow in the stream."""

    def read(self, unpickler) -> np.ndarray:
        state = self.__dict__
        dtype, shape, order = state.get("dtype"), state.get("shape"), state.get("order", "C")
        if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple) or order not in ("C", "F"):
            raise pickle.UnpicklingError("a joblib array without a numpy dtype, a shape and an order C or F")
        if state.get("subclass", np.ndarray) is not np.ndarray:
            raise pickle.UnpicklingError("a joblib array of a class other than numpy.ndarray")
        if not all(isinstance(n, int) and n >= 0 for n in shape):
            raise pickle.UnpicklingError("a joblib array with the shape {}".format(shape))
        raw = unpickler.raw_file
        if dtype.hasobject:  # joblib pickles such arrays again, inside the stream
            array = _RestrictedUnpickler(raw).load()
            if not isinstance(array, np.ndarray):
                raise pickle.UnpicklingError("a joblib object array that is not an array")
            return array
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = raw.read(1)
            raw.read(int.from_bytes(padding, "little") if padding else 0)
        count = int(np.prod(shape, dtype=np.int64))
        data = raw.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise pickle.UnpicklingError("a joblib array cut short: the file is truncated")
        array = np.frombuffer(data, dtype=dtype).copy()
        return array.reshape(shape[::-1]).T if order == "F" else array.reshape(shape)


class _RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """Rebuilds numpy arrays and scalars, builtin containers, paths (as text) and joblib's arrays;
    any other global is refused, so a pickle cannot run code. The Python unpickler, because joblib's
    arrays need a BUILD that reads their bytes from the stream."""

    stack: List[object]  # pickle._Unpickler's, typed for mypy

    def __init__(self, file):
        super().__init__(file)
        self.raw_file = file

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) in (("builtins", "bytes"), ("__builtin__", "bytes")):  # empty bytes, protocol < 3
            return bytes
        if (module, name) == _JOBLIB_ARRAY:
            return _JoblibArray
        if (module, name) in (("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")):
            return _new_joblib_array
        if (module, name) in (("builtins", "object"), ("__builtin__", "object")):
            return object
        if module in ("pathlib", "pathlib._local") and name in _PATH_CLASSES:
            return _path_text(_PATH_CLASSES[name])
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError("global {}.{} is not allowed in a motion clip".format(module, name))
        for candidate in (  # numpy 2's name first: importing numpy.core there warns (an error under -W error)
            module.replace("numpy.core", "numpy._core"),
            module,
            module.replace("numpy._core", "numpy.core"),
        ):
            try:
                return getattr(importlib.import_module(candidate), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError("cannot resolve {}.{}".format(module, name))

    def _load_build(self):
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        if isinstance(self.stack[-1], _JoblibArray):  # the class's read: the state cannot replace it
            self.stack[-1] = _JoblibArray.read(self.stack[-1], self)

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]
    dispatch[pickle.BUILD[0]] = _load_build  # type: ignore[assignment]


def safe_load_pickle(path) -> object:
    """Unpickle a file that may only contain numpy arrays/scalars, builtin containers and paths:
    a plain pickle, or a joblib file (`joblib.dump`, uncompressed or compressed with zlib, gzip,
    bz2, xz or lzma), as PHC/ASAP-style motion files are."""
    with open(path, "rb") as f:
        data = f.read()
    for magic, decompress in _JOBLIB_COMPRESSION:
        if data.startswith(magic):
            data = decompress(data)
            break
    return _RestrictedUnpickler(io.BytesIO(data)).load()


# A zip archive's first bytes: `torch.save` (its default format since torch 1.6) and `numpy.savez` write one.
ZIP_MAGIC = b"PK\x03\x04"


def _zip_instead_of_pickle(path) -> Optional[MotionFileError]:
    """The MotionFileError for a `.pkl` that is a zip archive (a `torch.save` file, or an `.npz` with the
    wrong extension), which the unpickler would call damaged; None when it does not start as one."""
    with open(path, "rb") as f:
        if f.read(len(ZIP_MAGIC)) != ZIP_MAGIC:
            return None
    try:
        with zipfile.ZipFile(path) as z:
            members = [n.rsplit("/", 1)[-1] for n in z.namelist()]
    except (zipfile.BadZipFile, OSError, ValueError):
        members = []
    if any(n.endswith(".npy") for n in members):
        what = "numpy arrays (.npy members): an .npz file with the wrong extension, rename it to .npz"
    elif "data.pkl" in members:
        what = "written by torch.save (its default zip format): save the motion's arrays as numpy (tensor.numpy()) "
        what += "with pickle or joblib instead"
    else:
        what = "a torch.save file (save the motion's arrays as numpy, tensor.numpy(), with pickle or joblib "
        what += "instead) or an .npz with the wrong extension (rename it to .npz)"
    return file_error(
        path,
        None,
        "is a zip archive, not a pickle (expected a TWIST/GMR clip or a PHC-style motion file: a dict, pickled or "
        "joblib-dumped): {}".format(what),
    )


def read_pickle(path) -> object:
    """`safe_load_pickle`, with any failure (not a pickle, truncated, forbidden global) as a
    one-line MotionFileError naming the file and what was expected; a zip archive (`torch.save`'s
    default format, or an `.npz` named `.pkl`) is named as one."""
    try:
        zipped = _zip_instead_of_pickle(path)
        if zipped is not None:
            raise zipped
        return safe_load_pickle(path)
    except MotionFileError:
        raise
    except Exception as e:
        hint = ""
        if "torch" in str(e):
            hint = " (torch tensors: save the arrays as numpy, e.g. tensor.numpy())"
        elif not isinstance(e, pickle.UnpicklingError) or "not allowed" not in str(e):
            hint = " (the file is damaged or cut short: copy or export it again)"
        raise file_error(
            path,
            None,
            "cannot read as a pickle of numpy arrays (expected a TWIST/GMR clip or a PHC-style motion file: a dict, "
            "pickled or joblib-dumped): {}: {}{}".format(type(e).__name__, e, hint),
        )


# The globals a pickled numpy array needs (numpy 1 and 2 names): all that an object array of names may use.
_ARRAY_GLOBALS = {(m, n) for m, n in _ALLOWED_GLOBALS if n in ("ndarray", "dtype", "_reconstruct")}


class _ArrayUnpickler(_RestrictedUnpickler):
    """Rebuilds a numpy array and nothing else (the elements of an object array are plain pickle values)."""

    def find_class(self, module, name):
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError("global {}.{} is not allowed in an array of names".format(module, name))
        return super().find_class(module, name)


def _name_array(z, key: str) -> Optional[np.ndarray]:
    """The `.npz` member `key` of the open archive `z` when it is a 1-D object array of str (names saved as
    `np.array(names, dtype=object)`), as a str array: its header read, its pickle unpickled by `_ArrayUnpickler`
    (no code runs); None for anything else."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    member = key + ".npy" if key + ".npy" in z.zip.namelist() else key
    try:
        with z.zip.open(member) as f:
            version = np.lib.format.read_magic(f)
            if version not in readers:
                return None
            shape, _, dtype = readers[version](f)
            if len(shape) != 1 or dtype != np.dtype(object):
                return None
            array = _ArrayUnpickler(io.BytesIO(f.read())).load()
    except Exception:  # not a pickle of an array: refused by the caller
        return None
    if not isinstance(array, np.ndarray) or array.shape != shape or not all(isinstance(x, str) for x in array):
        return None
    return array.astype(str)


def open_npz(path):
    """`np.load` of an `.npz` file without pickle; MotionFileError when it is not a zip archive."""
    if not zipfile.is_zipfile(path):
        raise file_error(
            path, None, "not an .npz file (expected a zip archive of numpy arrays, as written by numpy.savez)"
        )
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # damaged archive
        raise file_error(path, None, "cannot read .npz file: {}: {}".format(type(e).__name__, e))


def read_npz(path) -> Dict[str, object]:
    """All arrays of an `.npz` file, read without pickle (see `open_npz`).

    A key holding Python objects (which would need pickle) maps to a MotionFileError instead of an
    array, unless it is a 1-D array of str (names saved with dtype=object, `_name_array`): callers raise
    it only when they use that key.
    """
    out = {}  # type: Dict[str, object]
    with open_npz(path) as z:
        for k in z.files:
            try:
                out[k] = z[k]
            except ValueError:  # an object array: read only as names, never unpickled otherwise
                names = _name_array(z, k)
                out[k] = (
                    names
                    if names is not None
                    else file_error(path, k, "holds Python objects, which need pickle; expected numbers or strings")
                )
            except Exception as e:  # damaged member
                raise file_error(path, k, "cannot read from the .npz file: {}: {}".format(type(e).__name__, e))
    return out


# --- clips -------------------------------------------------------------------------------------------


def normalise_quaternions(q: np.ndarray, path, key: Optional[str] = "root_rot") -> np.ndarray:
    """Quaternions (T, 4) scaled to unit norm: the one rule for every clip reader and converter.

    Norms off 1 by more than QUAT_NORM_WARN give one MotionFileWarning naming `path`, `key` and the
    largest deviation; a norm off by more than QUAT_NORM_MAX, zero or not finite raises
    MotionFileError naming `path`, `key` and the first such frame.
    """
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=1)
    dev = np.abs(norm - 1.0)
    bad = ~(dev <= QUAT_NORM_MAX)  # also NaN
    if bad.any():
        i = int(np.argmax(bad))
        raise file_error(
            path,
            key,
            "quaternion at frame {} has norm {:.4g}, expected 1 (+-{:g}) ({} frame(s) affected)".format(
                i, norm[i], QUAT_NORM_MAX, int(bad.sum())
            ),
        )
    worst = float(dev.max())
    if worst > QUAT_NORM_WARN:
        msg = "quaternion norms off 1 by up to {:.3g}: renormalised".format(worst)
        warnings.warn(str(file_error(path, key, msg)), MotionFileWarning, stacklevel=2)
    return q / norm[:, None]


def _array(clip, key, path, shape_tail, what):
    if key not in clip:
        raise file_error(path, key, "missing (a clip needs {})".format(", ".join(CLIP_KEYS)))
    if clip[key] is None:
        raise file_error(path, key, "is None: expected an array of shape (T, {})".format(what))
    try:
        a = np.asarray(clip[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise file_error(
            path, key, "expected a numeric array of shape (T, {}), got {}".format(what, type(clip[key]).__name__)
        )
    if a.ndim != 1 + len(shape_tail) or tuple(a.shape[1:]) != tuple(shape_tail):
        raise file_error(path, key, "expected shape (T, {}), got {}".format(what, tuple(a.shape)))
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    if bad.any():
        raise file_error(
            path, key, "NaN or inf at frame {} ({} frames affected)".format(int(np.argmax(bad)), int(bad.sum()))
        )
    return a


def body_names(names) -> List[str]:
    """Body or joint names as text: a list or array of str or bytes (numpy's "S" arrays)."""
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(names).reshape(-1).tolist()]


def joint_name(name) -> str:
    """A G1 joint's full name: with the `_joint` suffix that files may leave out."""
    name = str(name).strip()
    return name if name.endswith("_joint") else name + "_joint"


def validate_clip(clip: dict, path="<clip>") -> dict:
    """Check a clip dict and return it normalised: float32 arrays, float fps (need not be an
    integer), unit root quaternions (`normalise_quaternions`), bodies in model order; then check that
    it means what the format says (`pose.plausibility.check_clip`: quaternion order, units, bodies
    against forward kinematics, floor, joint limits).

    Raises MotionFileError naming `path`, the key and what was expected.
    """
    model = load_g1()
    if not isinstance(clip, dict):
        raise file_error(
            path, None, "expected a dict with keys {}, got {}".format(", ".join(CLIP_KEYS), type(clip).__name__)
        )
    for key in CLIP_KEYS:
        if isinstance(clip.get(key), MotionFileError):  # unreadable key of an .npz (see read_npz)
            raise clip[key]
    if "fps" not in clip:
        raise file_error(path, "fps", "missing (frame rate in Hz)")
    try:
        fps = float(np.asarray(clip["fps"]).reshape(()))
    except (TypeError, ValueError):
        raise file_error(path, "fps", "expected a positive number, got {!r}".format(clip["fps"]))
    if not np.isfinite(fps) or fps <= 0:
        raise file_error(path, "fps", "expected a positive number, got {}".format(fps))
    nd = model.num_dofs
    nb = len(model.motion_bodies)
    root_pos = _array(clip, "root_pos", path, (3,), "3")
    root_rot = _array(clip, "root_rot", path, (4,), "4 (quaternion xyzw)")
    dof_pos = _array(clip, "dof_pos", path, (nd,), "{} joints in training order".format(nd))
    local_body_pos = _array(clip, "local_body_pos", path, (nb, 3), "{}, 3".format(nb))
    n = root_pos.shape[0]
    for key, a in (("root_rot", root_rot), ("dof_pos", dof_pos), ("local_body_pos", local_body_pos)):
        if a.shape[0] != n:
            raise file_error(path, key, "has {} frames but root_pos has {}".format(a.shape[0], n))
    if n < 2:
        raise file_error(path, "root_pos", "expected at least 2 frames, got {}".format(n))
    root_rot = normalise_quaternions(root_rot, path, "root_rot")
    if clip.get("link_body_list") is None:
        raise file_error(path, "link_body_list", "missing (the {} body names of local_body_pos)".format(nb))
    names = body_names(clip["link_body_list"])
    unknown = [x for x in names if x not in model.motion_bodies]
    if unknown:
        raise file_error(
            path,
            "link_body_list",
            "unknown body names {} (expected the G1 motion bodies {})".format(unknown, list(model.motion_bodies)),
        )
    missing = [x for x in model.motion_bodies if x not in names]
    if missing or len(names) != nb:
        raise file_error(
            path, "link_body_list", "expected the {} G1 motion bodies once each, missing {}".format(nb, missing)
        )
    for key in ("joint_names", "dof_names"):
        if clip.get(key) is not None and [joint_name(n) for n in body_names(clip[key])] != list(model.dof_names):
            raise file_error(path, key, "not the {} training joints in training order".format(nd))
    local_body_pos = local_body_pos[:, [names.index(x) for x in model.motion_bodies]]
    from pose.plausibility import check_clip  # torch, for forward kinematics

    check_clip(path, root_pos, root_rot, dof_pos, local_body_pos)
    return {
        "fps": fps,
        "root_pos": root_pos.astype(np.float32),
        "root_rot": root_rot.astype(np.float32),
        "dof_pos": dof_pos.astype(np.float32),
        "local_body_pos": local_body_pos.astype(np.float32),
        "link_body_list": list(model.motion_bodies),
    }


def files_in_folder(folder, suffixes) -> List[Path]:
    """Every file under `folder` (recursively, sorted by path) whose suffix is one of `suffixes`, hidden
    files and folders (a leading dot: editor back-ups, macOS `._` resource forks) left out."""
    folder = Path(folder)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def clips_in_folder(folder) -> List[Path]:
    """Every clip file (`CLIP_SUFFIXES`) under `folder` (`files_in_folder`); MotionFileError naming the
    folder when there is none."""
    files = files_in_folder(folder, CLIP_SUFFIXES)
    if not files:
        raise file_error(folder, None, "no clips (.pkl or .npz) in this folder")
    return files


def require_file(path, what: str) -> Path:
    """`path` as a Path; MotionFileError naming it when it does not exist or is a folder.
    `what` names the expected file in the message, e.g. "manifest"."""
    path = Path(path)
    if path.is_dir():
        raise file_error(path, None, "is a folder, expected a {}".format(what))
    if not path.is_file():
        raise file_error(path, None, "{} does not exist".format(what))
    return path


def read_clip_file(path) -> dict:
    """Raw dict of a `.pkl` or `.npz` clip file, without validation."""
    path = require_file(path, CLIP_FILE)
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        data = read_pickle(path)
    elif suffix == ".npz":
        data = read_npz(path)
    elif suffix == ".csv":
        raise file_error(
            path,
            None,
            "a CSV is not a clip (expected .pkl or .npz); if it is a LAFAN1-style G1 motion, convert it first with "
            "`python -m pose.convert {} OUT.pkl` (docs/motion_data.md, Converters)".format(shlex.quote(str(path))),
        )
    else:
        raise file_error(path, None, "unknown clip format {!r} (expected .pkl or .npz)".format(suffix))
    if not isinstance(data, dict):
        raise file_error(path, None, "expected a dict of arrays, got {}".format(type(data).__name__))
    return data


# Keys that say a file holds a G1 motion: a clip's, or those of a format `pose.convert` reads.
_ROBOT_MOTION_KEYS = (
    "root_pos",
    "root_rot",
    "dof_pos",
    "local_body_pos",
    "link_body_list",
    "root_trans_offset",
    "root_trans",
    "root_quat",
    "dof",
    "joint_pos",
    "dof_positions",
    "body_pos_w",
    "body_positions",
    "qpos",
)
# Keys of human-body SMPL / SMPL-H / SMPL-X motions (AMASS and the tools around it): no robot joints.
SMPL_KEYS = ("poses", "trans", "betas", "pose_body", "root_orient", "mocap_framerate", "mocap_frame_rate", "gender")


def smpl_hint(keys) -> str:
    """The advice ("; retarget it ...") for a file whose `keys` look like a human-body SMPL motion (two
    SMPL keys or more); "" for other keys."""
    if len(set(map(str, keys)) & set(SMPL_KEYS)) < 2:
        return ""
    return (
        "; these are the keys of a human-body SMPL/SMPL-X motion (AMASS): retarget it to the G1 first (e.g. with "
        "GMR), then convert the result with `python -m pose.convert`"
    )


def _unknown_layout(path, data: dict) -> Optional[MotionFileError]:
    """The MotionFileError for a dict that holds no G1 motion of a known layout (none of a clip's keys nor
    of a format `pose.convert` reads, not a dict of motions): the keys found, and what to do."""
    if any(k in data for k in _ROBOT_MOTION_KEYS) or (data and all(isinstance(v, dict) for v in data.values())):
        return None
    keys = sorted(map(str, data))
    advice = smpl_hint(keys) or (
        "; expected a clip's keys ({}) or those of a G1 motion file that `python -m pose.convert` reads (a "
        "human-body SMPL file must be retargeted to the G1 first, e.g. with GMR)".format(", ".join(CLIP_KEYS))
    )
    return file_error(
        path,
        None,
        "not a robot clip of a known format: found keys {}{} (docs/motion_data.md, Converters)".format(keys, advice),
    )


def _needs_conversion(data: dict) -> bool:
    """Whether `data` is a motion file `pose.convert` reads rather than a canonical clip: a GMR clip
    (29 joints, or no body positions), a clip of another model's bodies, a PHC-style motion, a dict
    of motions by name, a BeyondMimic or AMASS-G1 NPZ."""
    if data and all(isinstance(v, dict) for v in data.values()):
        return True
    if any(k in data for k in ("root_trans_offset", "root_trans", "dof", "joint_pos", "qpos", "dof_positions")):
        return True  # PHC-style, BeyondMimic, holosoma and AMASS-G1 keys
    if any(data.get(k) is not None for k in ("joint_names", "dof_names")):
        return True  # named joints: the converter maps them onto the training order
    model = load_g1()
    dof = data.get("dof_pos")
    if dof is not None and np.ndim(dof) == 2 and np.shape(dof)[1] == len(model.real_motor_joints):
        return True
    bodies = data.get("link_body_list")
    if bodies is not None and not isinstance(bodies, MotionFileError):
        if sorted(body_names(bodies)) != sorted(model.motion_bodies):
            return True  # another model's bodies: the converter recomputes them by forward kinematics
    # no bodies, or bodies without their names: the converter recomputes them by forward kinematics
    return "dof_pos" in data and (data.get("local_body_pos") is None or data.get("link_body_list") is None)


def load_clip(path) -> dict:
    """Read and validate one clip file (`.pkl` or `.npz`); a file in a layout `pose.convert` reads gets
    that command in its error, a file of no known layout (e.g. a human-body SMPL motion) the keys found."""
    data = read_clip_file(path)
    try:
        return validate_clip(data, path)
    except MotionFileError as e:
        unknown = _unknown_layout(path, data)
        if unknown is not None:
            raise unknown from None
        if not _needs_conversion(data):
            raise
        out = "OUT_FOLDER" if all(isinstance(v, dict) for v in data.values()) else "OUT.pkl"
        hint = "this is a motion file of another layout: convert it first with `python -m pose.convert {} {}`"
        hint = hint.format(shlex.quote(str(path)), out)
        raise MotionFileError("{}; {} (docs/motion_data.md, Converters)".format(e, hint)) from None


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
        raise file_error(path, None, "unknown clip format {!r} (expected .pkl or .npz)".format(path.suffix))
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

    A relative `root_path` is taken relative to the manifest's folder (`manifest_root`). Every entry's file
    must exist.
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


def _manifest_data(path: Path, may_be_empty: bool = False) -> dict:
    """The YAML of the TWIST manifest `path`, its structure checked: a mapping with a `motions` list (not empty
    unless `may_be_empty`: then an empty file or list is a manifest of no motions) of mappings with a `file`
    key. MotionFileError naming the key otherwise."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise file_error(path, None, "not valid YAML: {}".format(e))
    if data is None and may_be_empty:
        data = {"root_path": ".", "motions": []}
    if not isinstance(data, dict) or "motions" not in data:
        raise file_error(
            path, "motions", "missing (a manifest has root_path and motions: [{file, weight, description}])"
        )
    motions = [] if data["motions"] is None and may_be_empty else data["motions"]
    if not isinstance(motions, list) or not (motions or may_be_empty):
        raise file_error(path, "motions", "expected a non-empty list of {file, weight, description}")
    for i, m in enumerate(motions):
        if not isinstance(m, dict) or "file" not in m:
            raise file_error(path, "motions[{}]".format(i), "expected a mapping with a 'file' key, got {!r}".format(m))
    return dict(data, motions=motions)


def manifest_root(path: Path, data: dict) -> Path:
    """The folder a manifest's files are relative to: its `root_path` ("." when missing; `~` and environment
    variables expanded), relative to the manifest's folder, or to the working directory where only that
    folder exists (TWIST's reading of a relative root_path)."""
    value = data.get("root_path") or "."
    if not isinstance(value, str):
        raise file_error(path, "root_path", "expected a folder path, got {!r}".format(value))
    root = Path(os.path.expandvars(os.path.expanduser(value)))
    if root.is_absolute():
        return root
    beside = path.parent / root
    return root.resolve() if not beside.is_dir() and root.is_dir() else beside


def _read_manifest(path, missing: Optional[List[MotionFileError]]) -> List[ManifestEntry]:
    path = require_file(path, "manifest")
    data = _manifest_data(path)
    root = manifest_root(path, data)
    entries = []
    for i, m in enumerate(data["motions"]):
        key = "motions[{}]".format(i)
        try:
            weight = float(m.get("weight", 1.0))
        except (TypeError, ValueError):
            raise file_error(path, key + ".weight", "expected a number >= 0, got {!r}".format(m.get("weight")))
        if not np.isfinite(weight) or weight < 0:
            raise file_error(path, key + ".weight", "expected a number >= 0, got {}".format(weight))
        file = root / str(m["file"])
        if not file.is_file():  # the one message for pose.validate and MotionLib
            err = file_error(path, key + ".file", "{} does not exist (root_path {})".format(file, root))
            if missing is None:
                raise err
            missing.append(err)
            continue
        entries.append(ManifestEntry(file, weight, str(m.get("description", ""))))
    if entries and sum(e.weight for e in entries) <= 0:
        raise file_error(path, "motions", "all weights are zero")
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


class ManifestUpdate(NamedTuple):
    """What `update_manifest` did: `existed` False when it wrote a new manifest; else the entries of the
    manifest already there `kept` as they were, those `added`, and the files (as it listed them) whose
    entries were `replaced` by the new ones."""

    path: Path
    existed: bool
    kept: int
    added: int
    replaced: List[str]


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def manifest_to_update(path) -> Optional[dict]:
    """The content of the manifest `path` that a tool is about to write into a folder, for `update_manifest`
    to keep: None when there is none. MotionFileError naming it when it cannot be read as a TWIST manifest
    (not YAML, no `motions` list, an entry without `file`): the tool must then stop before writing anything,
    as that manifest could only be replaced, and the user's entries lost."""
    path = Path(path)
    if not path.exists():
        return None
    todo = "fix it or move it away, then run again (nothing was written)"
    if not path.is_file():
        raise file_error(path, None, "exists and is not a file, so no manifest can be written there: " + todo)
    try:
        data = _manifest_data(path, may_be_empty=True)
    except MotionFileError as e:
        raise MotionFileError("{}; so the new clips cannot be added to it: {}".format(_one_line(e), todo)) from None
    try:
        manifest_root(path, data)
    except MotionFileError as e:
        raise MotionFileError("{}: {}".format(_one_line(e), todo)) from None
    return data


def update_manifest(path, files, descriptions=None) -> ManifestUpdate:
    """Write the TWIST manifest `path` listing `files` (relative to its folder; weight 1, `descriptions`),
    keeping the manifest already there (`manifest_to_update`): its entries, weights, descriptions,
    `root_path` and other keys stay, an entry for a file of `files` is replaced in place by the new one
    (its weight kept), the other files are added at the end (weight 1). Without a manifest there, `write_manifest`."""
    path = Path(path)
    descriptions = descriptions or ["general movement"] * len(files)
    data = manifest_to_update(path)
    if data is None:
        write_manifest(path, files, descriptions=descriptions)
        return ManifestUpdate(path, False, 0, len(files), [])
    folder = path.parent.resolve()
    root = manifest_root(path.resolve(), data)

    def where(file) -> Path:
        return (root / str(file)).resolve()

    motions = list(data["motions"])
    index: Dict[Path, int] = {}
    for i, m in enumerate(motions):
        index.setdefault(where(m["file"]), i)
    replaced: List[str] = []
    added = 0
    for f, d in zip(files, descriptions):
        target = (folder / str(f)).resolve()
        listed = Path(os.path.relpath(str(target), str(root.resolve()))).as_posix()
        entry = {"file": listed, "weight": 1.0, "description": d}
        if target in index:
            old = motions[index[target]]
            replaced.append(str(old["file"]))
            entry["weight"] = old.get("weight", 1.0)  # the user's weighting of that clip stays
            motions[index[target]] = entry
        else:
            index[target] = len(motions)
            motions.append(entry)
            added += 1
    data["motions"] = motions
    tmp = path.with_name(".{}.tmp".format(path.name))  # written whole, then moved over the old one
    with open(tmp, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    os.replace(str(tmp), str(path))
    return ManifestUpdate(path, True, len(data["motions"]) - added - len(replaced), added, replaced)


def motion_sources(path) -> List[ManifestEntry]:
    """The clips named by a manifest, or the one clip `path` with weight 1."""
    if is_manifest(path):
        return load_manifest(path)
    return [ManifestEntry(require_file(path, CLIP_FILE), 1.0, "single clip")]
