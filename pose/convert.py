"""Convert retargeted G1 motion files to the canonical 23-DOF TWIST clip (docs/motion_data.md, Converters).

    python -m pose.convert SRC DST [--format auto|lafan_csv|beyondmimic_npz|amass_npz|twist29_pkl|phc_pkl]
                                   [--fps F] [--src-fps F] [--segment SECONDS] [--suffix .pkl|.npz]
                                   [--joint-order training|unitree23|real|isaaclab] [--root-quat xyzw|wxyz]
                                   [--no-progress]

SRC is one file (DST: a `.pkl` or `.npz` file, or a folder) or a folder (DST: a folder that receives
every convertible file, same relative paths, plus a TWIST manifest `manifest.yaml`). The source formats
and what every reader does (joints by name, quaternions normalised, `--fps` resampling, bodies by
forward kinematics) are in `pose.readers`; `--src-fps` overrides a file's own frame rate. `--joint-order`
names the order of 23 unnamed joint columns (TWIST's training order or Unitree's 23-DOF G1's), which a
file without `local_body_pos` cannot tell (`pose.readers._order_of_23`), or of 29 (the real-motor order,
the default, or Isaac Lab's: `pose.readers._order_of_29`); other files ignore it.
`--root-quat wxyz` reads the root quaternion of a format that stores it xyzw (lafan_csv columns 3:7,
twist29_pkl / phc_pkl `root_rot`) as written scalar-first, (w, x, y, z), and reorders it on read
(`pose.readers.root_quat_xyzw`); the formats that store it wxyz (beyondmimic_npz, amass_npz) refuse it.
A file of several motions (`phc_pkl`) gives one clip per motion, `<DST stem>_<name><suffix>`, listed in a
`manifest.yaml` beside them; a motion that cannot be converted is reported as `FILE[name]: ...` and
skipped.
`--segment SECONDS` cuts every converted clip into consecutive pieces of SECONDS (`split_clip`: a last
piece shorter than half a segment joins the one before, so no frame is lost), written as
`<stem>_seg000<suffix>`, `<stem>_seg001<suffix>`, ... and listed in `manifest.yaml` (also for one file,
whose DST is then a folder, or a file name whose stem the pieces take): evaluation plays every clip from
its start, so long recordings are cut to segments of equal length first.
Clip files already there are overwritten. A `manifest.yaml` already there is updated, never replaced
(`pose.formats.update_manifest`): its entries, weights and descriptions are kept, an entry for a file
written again is replaced by the new one, its weight kept (one line says so), the new clips are added; one that cannot be
read as a manifest stops the conversion before anything is written (status 2).
Every problem raises `MotionFileError` naming the file, the key or column, and what was expected;
the command line prints it as one line and exits with status 2 (1 when some files of a folder, or some
motions of a PHC-style file, failed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from pose.formats import (
    CLIP_SUFFIXES,
    ManifestUpdate,
    MotionFileError,
    file_error,
    files_in_folder,
    manifest_to_update,
    save_clip,
    update_manifest,
    warnings_as_lines,
)
from pose.readers import (
    CONVERTERS,
    FORMATS,
    JOINT_ORDERS_23,
    JOINT_ORDERS_29,
    LAFAN_FPS,
    ROOT_QUAT_ORDERS,
    SUFFIXES,
    read_clips,
    source_format,
)


def split_clip(clip: dict, seconds: float, path="<clip>") -> List[dict]:
    """`clip` cut into consecutive pieces of `seconds`: frames [k n, (k + 1) n) with n = round(seconds *
    fps); a last piece shorter than n / 2 joins the previous one (a clip shorter than 1.5 segments stays
    whole). Every array with one row per frame is cut; the rest (fps, body names) is copied."""
    if not (isinstance(seconds, (int, float)) and np.isfinite(seconds) and seconds > 0):
        raise file_error(path, "--segment", "expected a positive number of seconds, got {}".format(seconds))
    n_frames = clip["dof_pos"].shape[0]
    n = max(int(round(seconds * clip["fps"])), 2)
    starts = list(range(0, n_frames, n))
    if len(starts) > 1 and n_frames - starts[-1] < n / 2:
        starts.pop()
    bounds = starts[1:] + [n_frames]
    return [
        {
            k: (v[a:b] if isinstance(v, np.ndarray) and v.ndim > 0 and v.shape[0] == n_frames else v)
            for k, v in clip.items()
        }
        for a, b in zip(starts, bounds)
    ]


def segment_paths(dst: Path, count: int) -> List[Path]:
    """Where the `count` pieces of a clip bound for `dst` go: `<stem>_seg<k:03d><suffix>` beside it."""
    return [dst.with_name("{}_seg{:03d}{}".format(dst.stem, k, dst.suffix)) for k in range(count)]


def output_path(src, dst) -> Path:
    """Where `convert_file(src, dst)` writes: `dst`, or `dst/<src stem>.pkl` when `dst` is a folder."""
    dst = Path(dst)
    if dst.is_dir():
        dst = dst / (Path(src).stem + ".pkl")
    if dst.suffix.lower() not in CLIP_SUFFIXES:
        raise file_error(dst, None, "output must end in .pkl or .npz")
    return dst


class Written(NamedTuple):
    path: Path
    label: str  # what the file holds of its source: "", "motion NAME", "10 s piece 3", ...
    clip: dict


def write_clips(dst, clips: Sequence[Tuple[str, dict]], segment: Optional[float] = None, src=None) -> List[Written]:
    """Write the (name, clip) pairs of one source bound for `dst`: an unnamed clip to `dst`, a named one
    to `<dst stem>_<name><suffix>` beside it; each cut into pieces of `segment` seconds when given
    (`split_clip`, `segment_paths`)."""
    dst = Path(dst)
    out: List[Written] = []
    for name, clip in clips:
        target = dst.with_name("{}_{}{}".format(dst.stem, name, dst.suffix)) if name else dst
        label = "motion {}".format(name) if name else ""
        if segment is None:
            save_clip(target, clip)
            out.append(Written(target, label, clip))
            continue
        pieces = split_clip(clip, segment, src if src is not None else target)
        for k, (path, piece) in enumerate(zip(segment_paths(target, len(pieces)), pieces)):
            save_clip(path, piece)
            out.append(Written(path, ", ".join(x for x in (label, "{:g} s piece {}".format(segment, k)) if x), piece))
    return out


def convert_source(
    src,
    dst,
    fmt: str = "auto",
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    segment: Optional[float] = None,
    progress: bool = False,
    before_listed: Optional[Callable[[], object]] = None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> Tuple[List[Written], List[MotionFileError]]:
    """Convert every motion of one source file (`read_clips`) and write it as it comes (`write_clips`,
    `dst` a clip file or an existing folder; a progress bar over the motions when `progress` and they
    take more than a second). `before_listed` is called once before the first clip is written when the
    clips are of the kind listed in a manifest (pieces of `segment`, motions by name), to check that
    manifest first. Returns
    what was written and the motions that could not be converted (a PHC-style file of several motions
    loses only its broken ones); a source that cannot be read at all raises."""
    from tqdm import tqdm

    clips = read_clips(src, fmt, fps, src_fps, joint_order, root_quat)
    dst = output_path(src, dst)
    written: List[Written] = []
    failed: List[MotionFileError] = []
    # the bar shows only once a file takes more than a second: a dataset of many motions, not one clip
    for name, clip in tqdm(clips, desc="convert", unit="motion", disable=not progress, leave=False, delay=1.0):
        if isinstance(clip, MotionFileError):
            failed.append(clip)
            continue
        if before_listed is not None and (name or segment is not None):
            before_listed()
            before_listed = None
        written.extend(write_clips(dst, [(name, clip)], segment, src))
    return written, failed


def convert_file(
    src,
    dst=None,
    fmt: str = "auto",
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    segment: Optional[float] = None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> dict:
    """Convert a file of one motion; write it to `dst` (`.pkl`/`.npz`, or into an existing folder) when
    given, cut into pieces of `segment` seconds when given (`split_clip`, `segment_paths`). Files of
    several motions: `convert_source`.

    Returns the validated canonical clip (whole)."""
    src = Path(src)
    fmt = source_format(src, fmt)
    if dst is not None:
        dst = output_path(src, dst)
    clip = CONVERTERS[fmt](src, fps=fps, src_fps=src_fps, joint_order=joint_order, root_quat=root_quat)
    if dst is not None:
        write_clips(dst, [("", clip)], segment, src)
    return clip


class FolderResult(NamedTuple):
    manifest: Optional[Path]
    converted: List[Path]
    failed: List[Tuple[Path, str]]
    manifest_update: Optional[ManifestUpdate] = None  # what became of a manifest already there


def manifest_report(update: ManifestUpdate) -> Tuple[str, List[str]]:
    """How the command line names a manifest it wrote: "manifest PATH", or for one it updated "manifest
    PATH updated, not replaced (...)"; and the line naming the entries it replaced, if any."""
    if not update.existed:
        return "manifest {}".format(update.path), []
    text = "manifest {} updated, not replaced ({} of its entries kept, {} added, {} replaced)".format(
        update.path, update.kept, update.added, len(update.replaced)
    )
    if not update.replaced:
        return text, []
    names = ", ".join(update.replaced[:3]) + (", ..." if len(update.replaced) > 3 else "")
    line = "{}: replaced its entries for {} file(s) written again ({}) by the new ones (weights kept)".format(
        update.path, len(update.replaced), names
    )
    return text, [line]


def convert_folder(
    src,
    dst,
    fmt: str = "auto",
    fps: Optional[float] = None,
    src_fps: Optional[float] = None,
    suffix: str = ".pkl",
    progress: bool = True,
    strict: bool = False,
    segment: Optional[float] = None,
    joint_order: Optional[str] = None,
    root_quat: str = "xyzw",
) -> FolderResult:
    """Convert every convertible file under `src` (recursively) into `dst` (same relative paths,
    `suffix`; one clip per motion of a PHC-style file; cut into pieces of `segment` seconds when given)
    and write the TWIST manifest `dst/manifest.yaml`, or update the one there (`update_manifest`; one
    that cannot be read raises before anything is written). A file or motion that fails is reported and
    skipped (raised when `strict`); the manifest lists the written clips."""
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise file_error(src, None, "folder does not exist")
    if suffix not in CLIP_SUFFIXES:
        raise file_error(dst, "--suffix", "expected .pkl or .npz, got {!r}".format(suffix))
    wanted = SUFFIXES[fmt] if fmt in SUFFIXES else (".csv", ".npz", ".pkl")
    dst_abs = dst.resolve()
    files = [p for p in files_in_folder(src, wanted) if dst_abs not in p.resolve().parents]
    if not files:
        raise file_error(src, None, "no convertible files (expected {})".format(", ".join(wanted)))
    manifest_to_update(dst / "manifest.yaml")  # a manifest there that cannot be kept: stop before writing
    converted: List[Path] = []
    descriptions: List[str] = []
    failed: List[Tuple[Path, str]] = []
    claimed = set()
    for f in tqdm(files, desc="convert", unit="file", disable=not progress):
        rel = f.relative_to(src).with_suffix(suffix)
        try:
            if rel in claimed:
                raise file_error(f, None, "skipped: output {} was already written from another source file".format(rel))
            written, errors = convert_source(
                f,
                dst / rel,
                fmt=fmt,
                fps=fps,
                src_fps=src_fps,
                segment=segment,
                joint_order=joint_order,
                root_quat=root_quat,
            )
            if errors and strict:
                raise errors[0]
        except MotionFileError as e:
            if strict:
                raise
            failed.append((f, str(e)))
            tqdm.write("failed: {}".format(e), file=sys.stderr)
            continue
        claimed.add(rel)
        for err in errors:
            failed.append((f, str(err)))
            tqdm.write("failed: {}".format(err), file=sys.stderr)
        for w in written:
            converted.append(w.path.relative_to(dst))
            source = "converted from {}".format(f.relative_to(src).as_posix())
            descriptions.append("{}, {}".format(source, w.label) if w.label else source)
    if not converted:
        return FolderResult(None, converted, failed)
    update = update_manifest(dst / "manifest.yaml", [r.as_posix() for r in converted], descriptions=descriptions)
    return FolderResult(update.path, converted, failed, update)


def convert(src, dst, fmt: str = "auto", fps: Optional[float] = None, src_fps: Optional[float] = None, **kw):
    """`convert_folder` when `src` is a folder, else `convert_file`."""
    if Path(src).is_dir():
        return convert_folder(src, dst, fmt=fmt, fps=fps, src_fps=src_fps, **kw)
    return convert_file(
        src,
        dst,
        fmt=fmt,
        fps=fps,
        src_fps=src_fps,
        segment=kw.get("segment"),
        joint_order=kw.get("joint_order"),
        root_quat=kw.get("root_quat", "xyzw"),
    )


# --- CLI ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pose.convert",
        description="Convert G1 motion files (Unitree LAFAN1 CSV, BeyondMimic/holosoma NPZ, AMASS-retargeted NPZ, "
        "TWIST/GMR pkl, PHC/ASAP pkl) to 23-DOF TWIST clips.",
    )
    p.add_argument("src", help="source file, or folder (converted recursively)")
    p.add_argument("dst", help="output .pkl/.npz file, or folder (when SRC is a folder; gets manifest.yaml)")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS, help="source format (default: detect)")
    p.add_argument("--fps", type=float, default=None, help="resample to this frame rate (default: keep)")
    p.add_argument(
        "--src-fps",
        type=float,
        default=None,
        help="source frame rate (CSV default {:g}; overrides a file's own fps)".format(LAFAN_FPS),
    )
    p.add_argument(
        "--segment",
        type=float,
        default=None,
        metavar="SECONDS",
        help="cut every clip into consecutive pieces of SECONDS (<stem>_seg000..., listed in manifest.yaml)",
    )
    p.add_argument("--suffix", default=".pkl", choices=CLIP_SUFFIXES, help="output suffix in folder mode")
    p.add_argument(
        "--joint-order",
        default=None,
        choices=JOINT_ORDERS_23 + JOINT_ORDERS_29,
        help="order of unnamed joint columns: 23 in a file without local_body_pos, TWIST's training order or "
        "Unitree's 23-DOF G1 (GMR's unitree_g1_23dof); 29, the real-motor order (default) or Isaac Lab's",
    )
    p.add_argument(
        "--root-quat",
        default="xyzw",
        choices=ROOT_QUAT_ORDERS,
        help="order of the root quaternion of a format that stores it xyzw (lafan_csv columns 3:7, twist29_pkl / "
        "phc_pkl root_rot): wxyz for files written scalar-first, reordered on read (default: xyzw); "
        "beyondmimic_npz and amass_npz store wxyz and refuse it",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (folder mode, or a file of many motions)"
    )
    args = p.parse_args(argv)
    from tqdm import tqdm

    try:
        with warnings_as_lines(lambda line: tqdm.write(line, file=sys.stderr)):
            return _run(args)
    except MotionFileError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2


def _run(args) -> int:
    """The conversion `main` asked for; returns the exit status."""
    if Path(args.src).is_dir():
        res = convert_folder(
            args.src,
            args.dst,
            fmt=args.format,
            fps=args.fps,
            src_fps=args.src_fps,
            suffix=args.suffix,
            progress=not args.no_progress,
            segment=args.segment,
            joint_order=args.joint_order,
            root_quat=args.root_quat,
        )
        text, lines = manifest_report(res.manifest_update) if res.manifest_update else ("", [])
        print("converted {} clips into {}{}".format(len(res.converted), args.dst, ", " + text if text else ""))
        for line in lines:
            print(line)
        if res.failed:
            print("{} files or motions failed:".format(len(res.failed)), file=sys.stderr)
            for f, msg in res.failed:
                print("  {}".format(msg), file=sys.stderr)
            return 1
        return 0
    dst = Path(args.dst)
    if not dst.suffix:  # a folder, made if missing
        dst.mkdir(parents=True, exist_ok=True)
    written, failed = convert_source(
        args.src,
        dst,
        fmt=args.format,
        fps=args.fps,
        src_fps=args.src_fps,
        segment=args.segment,
        progress=not args.no_progress,
        before_listed=lambda: manifest_to_update(output_path(args.src, dst).parent / "manifest.yaml"),
        joint_order=args.joint_order,
        root_quat=args.root_quat,
    )
    if len(written) == 1 and not written[0].label and not failed:
        clip = written[0].clip
        print("wrote {} ({} frames at {:g} fps)".format(written[0].path, clip["dof_pos"].shape[0], clip["fps"]))
        return 0
    if written:
        source = Path(args.src).name
        update = update_manifest(
            written[0].path.parent / "manifest.yaml",
            [w.path.name for w in written],
            descriptions=["{}, {}".format(source, w.label) for w in written],
        )
        what = written[0].path.name
        if len(written) > 1:
            what = "{} clips ({} ... {})".format(len(written), what, written[-1].path.name)
        text, lines = manifest_report(update)
        print("wrote {}, {}".format(what, text))
        for line in lines:
            print(line)
    for e in failed:
        print("failed: {}".format(e), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
