"""Motion sources of the CMG dataset: anything `pose` reads, as 29-joint clips.

A source is one of

- `embedded`: the embedded default motion set (`pose.synth.default_motion_file()`);
- `locomotion`: the synthetic locomotion set (jogging, running, lateral, backward and turning
  variants; `pose.synth_locomotion.locomotion_motion_file()`);
- `steady`: the moving clips of both synthetic sets with the pelvis steady on the path (no sway,
  roll or yaw swing; `pose.synth_locomotion.steady_motion_file()`): under a root integrated from
  the smoothed command, as the CMG's references move, their stance feet stay still;
- a TWIST manifest (`.yaml`), a clip or source file (`.pkl`, `.npz`, `.csv`), or a folder (every
  `.csv`, `.npz` and `.pkl` under it, hidden files left out), in any format `python -m pose.convert` reads: TWIST clips
  (23 or 29 joints), Unitree LAFAN1 G1 CSV (30 fps), AMASS-retargeted G1 NPZ, BeyondMimic NPZ, a
  PHC/ASAP motion file of one motion (a file of several: `python -m pose.convert` splits it first).

Every file is read and validated by `pose.readers` (the same checks and one-line errors naming the
file, key and what was expected); the wrist joints, which `pose` drops, are read back from files
that have them, and are zero for 23-joint clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, List, Optional, Tuple

import numpy as np

from pose.cmg.joints import from_23, joint_names, wrist_indices
from pose.readers import CONVERTERS, ROOT_COLUMNS, detect_format, joint_order_from_bodies, phc_motion_joints
from pose.formats import MotionFileError, files_in_folder, is_manifest, load_manifest, read_npz, read_pickle

SYNTH_SETS = ("embedded", "locomotion", "steady")
SOURCE_SUFFIXES = (".csv", ".npz", ".pkl")


@dataclass
class SourceClip:
    """One motion at its own frame rate: root pose and 29 joints in real-robot order."""

    name: str
    fps: float
    root_pos: np.ndarray  # (T, 3) world
    root_rot: np.ndarray  # (T, 4) xyzw
    dof_pos: np.ndarray  # (T, 29)
    has_wrists: bool


def synth_manifest(name: str) -> Path:
    if name == "embedded":
        from pose.synth import default_motion_file

        return default_motion_file()
    if name == "locomotion":
        from pose.synth_locomotion import locomotion_motion_file

        return locomotion_motion_file()
    if name == "steady":
        from pose.synth_locomotion import steady_motion_file

        return steady_motion_file()
    raise ValueError("unknown synthetic set {!r} (expected one of {})".format(name, ", ".join(SYNTH_SETS)))


def source_files(src: str) -> List[Tuple[str, Path]]:
    """(clip name, file) pairs of one source; raises MotionFileError when it names nothing."""
    if src in SYNTH_SETS:
        return [("{}/{}".format(src, e.file.stem), e.file) for e in load_manifest(synth_manifest(src))]
    path = Path(src)
    if path.is_dir():
        files = files_in_folder(path, SOURCE_SUFFIXES)
        if not files:
            raise MotionFileError(
                "{}: no motion files in this folder (expected {})".format(path, ", ".join(SOURCE_SUFFIXES))
            )
        return [("{}/{}".format(path.name, p.relative_to(path).with_suffix("").as_posix()), p) for p in files]
    if not path.exists():
        raise MotionFileError(
            "{}: does not exist (a source is {}, a manifest, a motion file or a folder)".format(
                path, " or ".join(SYNTH_SETS)
            )
        )
    if is_manifest(path):
        return [("{}/{}".format(path.stem, e.file.stem), e.file) for e in load_manifest(path)]
    return [(path.stem, path)]


def _wrist_columns(path: Path, fmt: str) -> Optional[np.ndarray]:
    """(T, 6) wrist joints (real-robot order) of a source file that has them, else None."""
    names = joint_names()
    wrists = [names[i] for i in wrist_indices()]
    if fmt == "lafan_csv":  # 7 root columns, then the 29 joints in real-robot order
        cols = [len(ROOT_COLUMNS) + names.index(w) for w in wrists]
        return np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2, usecols=cols)
    if fmt == "phc_pkl":
        q = phc_motion_joints(path)
        return q[:, [names.index(w) for w in wrists]] if q.shape[1] == len(names) else None
    if fmt == "twist29_pkl":
        data: Any = read_npz(path) if path.suffix.lower() == ".npz" else read_pickle(path)
        q = np.asarray(data["dof_pos"], dtype=np.float64)
        return q[:, [names.index(w) for w in wrists]] if q.shape[1] == len(names) else None
    data = read_npz(path)
    if fmt == "amass_npz":
        q, key = np.asarray(data["dof_positions"], dtype=np.float64), "dof_names"
    else:  # beyondmimic_npz: joints, optionally after root xyz + quat wxyz
        q, key = np.asarray(data["joint_pos"], dtype=np.float64), "joint_names"
    if key in data:
        file_names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(data[key]).tolist()]
        file_names = [n if n.endswith("_joint") else n + "_joint" for n in file_names]
        q = q[:, q.shape[1] - len(file_names) :]
    elif q.shape[1] == len(names) and fmt == "beyondmimic_npz":  # joints only: their order told by the bodies
        file_names = joint_order_from_bodies(path, q, data["body_pos_w"], data["body_quat_w"])
    elif q.shape[1] in (len(names), len(names) + 7):
        file_names, q = list(names), q[:, q.shape[1] - len(names) :]
    else:
        return None
    if not all(w in file_names for w in wrists):
        return None
    return q[:, [file_names.index(w) for w in wrists]]


def read_source_file(name: str, path: Path) -> SourceClip:
    """One file as a SourceClip (validated by `pose.convert`, wrists read back where present)."""
    path = Path(path)
    fmt = detect_format(path)
    clip = CONVERTERS[fmt](path)
    wrists = _wrist_columns(path, fmt)
    if wrists is not None:
        if wrists.shape[0] != clip["dof_pos"].shape[0] or not np.isfinite(wrists).all():
            raise MotionFileError(
                "{}: wrist joints: expected {} finite frames, got shape {}".format(
                    path, clip["dof_pos"].shape[0], wrists.shape
                )
            )
    dof = from_23(np.asarray(clip["dof_pos"], dtype=np.float64), wrists)
    return SourceClip(
        name,
        float(clip["fps"]),
        np.asarray(clip["root_pos"], dtype=np.float64),
        np.asarray(clip["root_rot"], dtype=np.float64),
        dof,
        wrists is not None,
    )


def list_sources(sources: Iterable[str]) -> List[Tuple[str, Path]]:
    """All (clip name, file) pairs of `sources`, in order; names made unique."""
    out, seen = [], set()
    for src in sources:
        for name, path in source_files(str(src)):
            unique, k = name, 1
            while unique in seen:
                k += 1
                unique = "{}#{}".format(name, k)
            seen.add(unique)
            out.append((unique, path))
    return out
