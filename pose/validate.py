"""Check motion clips and manifests: `python -m pose.validate PATH [PATH ...]`.

PATH is a clip (`.pkl` / `.npz`), a TWIST manifest (`.yaml` / `.yml`) or a folder (every `.pkl` /
`.npz` under it, recursively). Every clip is read and validated with `pose.formats` (keys present,
23 joints, 38 known bodies, finite values, root quaternions within 10 % of unit norm, fps > 0, at
least 2 frames) and `pose.plausibility` (quaternion order, units, bodies against forward kinematics,
floor, joint limits). Good clips print one summary line each:

    <file>: <T> frames, <fps> fps, <duration> s, mean root speed <v> m/s

Bad clips print `ERROR: <message>` (to stderr) where the message names the file, the key and what
was expected; a clip that is valid after a repair (quaternions renormalised) first prints
`WARNING: <message>` (to stderr). All clips of a manifest or folder are checked, also after an
error, including manifest entries whose file does not exist; a manifest or folder ends with a
`<path>: <n> clips, <v> valid, <b> bad` line. Exit status: 0 when everything is valid (warnings
included), 1 when any clip, manifest or folder is bad, 2 for a usage error.

The plausibility checks of `validate_clip` use forward kinematics (torch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np

from pose.formats import (
    MotionFileError,
    clips_in_folder,
    is_manifest,
    load_clip,
    load_manifest_lenient,
    warnings_as_lines,
)


def clip_summary(path, clip: dict) -> str:
    """One line describing a validated clip: frames, fps, duration, mean root speed (3-D, m/s)."""
    n = clip["root_pos"].shape[0]
    fps = float(clip["fps"])
    duration = (n - 1) / fps
    step = np.linalg.norm(np.diff(clip["root_pos"].astype(np.float64), axis=0), axis=1)
    speed = float(step.mean() * fps) if step.size else 0.0
    return "{}: {} frames, {:g} fps, {:.3f} s, mean root speed {:.3f} m/s".format(path, n, fps, duration, speed)


def validate_path(path, out=None, err=None) -> int:
    """Validate one clip, manifest or folder, printing summaries to `out`, warnings and errors to `err`.

    Returns the number of problems found (0 when everything is valid).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    missing = []  # type: List[MotionFileError]
    is_set = is_manifest(path) or Path(path).is_dir()
    if is_manifest(path):
        try:
            entries, missing = load_manifest_lenient(path)
        except MotionFileError as e:
            print("ERROR: {}".format(e), file=err)
            return 1
        files = [entry.file for entry in entries]
    elif Path(path).is_dir():
        try:
            files = clips_in_folder(path)
        except MotionFileError as e:
            print("ERROR: {}".format(e), file=err)
            return 1
    else:
        files = [path]
    for m in missing:
        print("ERROR: {}".format(m), file=err)
    errors = len(missing)
    with warnings_as_lines(lambda line: print(line, file=err)):
        for f in files:
            try:
                clip = load_clip(f)
            except MotionFileError as e:
                print("ERROR: {}".format(e), file=err)
                errors += 1
                continue
            print(clip_summary(f, clip), file=out)
    if is_set:
        total = len(files) + len(missing)
        print("{}: {} clips, {} valid, {} bad".format(path, total, total - errors, errors), file=out)
    return errors


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose.validate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="clip (.pkl/.npz), manifest (.yaml) or folder of clips"
    )
    args = parser.parse_args(argv)
    errors = 0
    for p in args.paths:
        errors += validate_path(p)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
