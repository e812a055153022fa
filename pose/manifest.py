"""Combine clips, folders of clips and manifests into one TWIST manifest (docs/motion_data.md, Motion sets).

    python -m pose.manifest OUT.yaml SRC [SRC ...]

Each SRC is a manifest (`.yaml`/`.yml`: its entries, with their weights and descriptions), a folder
(every `.pkl`/`.npz` clip under it, sorted by path, weight 1) or one clip file (weight 1). OUT.yaml
lists them all in the order given, by paths relative to its own folder (`root_path: .`), so it may
sit anywhere; nothing is copied. A clip listed twice (the same file from two sources) or a source
that is missing, empty or of another kind is an error naming it; the command line prints it as one
line and exits with status 2. For example, the tracking set of the README (the embedded clips plus
the LAFAN1 G1 retargets cut into 10-s segments):

    python -m pose.synth --out set/embedded
    python -m pose.convert LAFAN_DIR set/lafan --fps 50 --segment 10
    python -m pose.manifest set/manifest.yaml set/embedded/manifest.yaml set/lafan/manifest.yaml
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from pose.formats import (
    CLIP_FILE,
    CLIP_SUFFIXES,
    ManifestEntry,
    MotionFileError,
    clips_in_folder,
    is_manifest,
    load_manifest,
    require_file,
    write_manifest,
)


def entries_of(source) -> List[ManifestEntry]:
    """The manifest entries a SRC stands for (see the module doc)."""
    path = Path(source)
    if is_manifest(path):
        return load_manifest(path)
    if path.is_dir():
        return [ManifestEntry(f, 1.0, "") for f in clips_in_folder(path)]
    require_file(path, CLIP_FILE)
    if path.suffix.lower() not in CLIP_SUFFIXES:
        raise MotionFileError(
            "{}: expected a manifest (.yaml), a folder of clips or a clip file ({})".format(path, CLIP_FILE)
        )
    return [ManifestEntry(path, 1.0, "")]


def combine(out, sources: Sequence) -> Path:
    """Write the manifest `out` listing the entries of every source in order; returns its path."""
    out = Path(out)
    if not is_manifest(out):
        raise MotionFileError("{}: the combined manifest must be a .yaml file".format(out))
    seen: Dict[Path, str] = {}
    entries: List[ManifestEntry] = []
    for source in sources:
        for entry in entries_of(source):
            key = entry.file.resolve()
            if key in seen:
                raise MotionFileError("{}: listed twice (by {} and by {})".format(entry.file, seen[key], source))
            seen[key] = str(source)
            entries.append(entry)
    folder = out.parent.resolve()
    files = [os.path.relpath(str(e.file.resolve()), str(folder)) for e in entries]
    return write_manifest(
        out,
        [Path(f).as_posix() for f in files],
        weights=[e.weight for e in entries],
        descriptions=[e.description for e in entries],
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose.manifest", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", metavar="OUT.yaml", help="the manifest to write")
    parser.add_argument("sources", nargs="+", metavar="SRC", help="manifest (.yaml), folder of clips or clip file")
    args = parser.parse_args(argv)
    try:
        path = combine(args.out, args.sources)
    except MotionFileError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    print("wrote {} ({} clips)".format(path, len(load_manifest(path))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
