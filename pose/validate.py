"""Check motion clips and manifests: `python -m pose.validate PATH [PATH ...]`.

PATH is a clip (`.pkl` / `.npz`) or a TWIST manifest (`.yaml` / `.yml`). Every clip is read and
validated with `pose.formats` (keys present, 23 joints, 38 known bodies, finite values, unit
quaternions, fps > 0, at least 2 frames). Good clips print one summary line each:

    <file>: <T> frames, <fps> fps, <duration> s, mean root speed <v> m/s

Bad clips print `ERROR: <message>` (to stderr) where the message names the file, the key and what
was expected. All clips of a manifest are checked, also after an error, including entries whose file
does not exist. Exit status: 0 when everything is valid, 1 when any clip or manifest is bad, 2 for a
usage error.

Deliberately torch-free so it starts fast.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import numpy as np

from pose.formats import MotionFileError, is_manifest, load_clip, load_manifest_lenient


def clip_summary(path, clip: dict) -> str:
    """One line describing a validated clip: frames, fps, duration, mean root speed (3-D, m/s)."""
    n = clip["root_pos"].shape[0]
    fps = float(clip["fps"])
    duration = (n - 1) / fps
    step = np.linalg.norm(np.diff(clip["root_pos"].astype(np.float64), axis=0), axis=1)
    speed = float(step.mean() * fps) if step.size else 0.0
    return "{}: {} frames, {:g} fps, {:.3f} s, mean root speed {:.3f} m/s".format(path, n, fps, duration, speed)


def validate_path(path, out=None, err=None) -> int:
    """Validate one clip or manifest, printing summaries to `out` and errors to `err`.

    Returns the number of problems found (0 when everything is valid).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    errors = 0
    if is_manifest(path):
        try:
            entries, missing = load_manifest_lenient(path)
        except MotionFileError as e:
            print("ERROR: {}".format(e), file=err)
            return 1
        for e in missing:
            print("ERROR: {}".format(e), file=err)
        errors += len(missing)
        files = [entry.file for entry in entries]
    else:
        files = [path]
    for f in files:
        try:
            clip = load_clip(f)
        except MotionFileError as e:
            print("ERROR: {}".format(e), file=err)
            errors += 1
            continue
        print(clip_summary(f, clip), file=out)
    if is_manifest(path):
        total = len(files) + len(missing)
        print("{}: {} clips, {} valid, {} bad".format(path, total, total - errors, errors), file=out)
    return errors


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose.validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="clip (.pkl/.npz) or manifest (.yaml)")
    args = parser.parse_args(argv)
    errors = 0
    for p in args.paths:
        errors += validate_path(p)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
