"""Left-right mirror images of G1 clips (docs/motion_data.md#mirrored-clips).

    python -m pose.mirror SRC DST_FOLDER

SRC is a clip file or a manifest; every clip's mirror image is written to
`DST_FOLDER/<stem>_mirror<suffix>` with a `manifest.yaml` listing them (weights kept). The mirror is
the reflection through the world's xz plane, the one the symmetry loss uses (docs/learning.md):
root position (x, -y, z), the root rotation's axis (-x, y, -z) with its angle kept, joints swapped
with their left/right twins and roll / yaw joints negated (`G1Model.dof_mirror_map`); the body
positions are computed again by forward kinematics. A walk that curves left becomes one that curves
right: a set of motions no policy trained on the originals has seen, and a check of how much of a
policy's skill is mirror-symmetric.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np

from pose.readers import make_clip
from pose.formats import MotionFileError, load_clip, motion_sources, save_clip, write_manifest
from pose.g1_model import AXIAL_SIGNS, VECTOR_SIGNS, load_g1

#: the root quaternion's (x, y, z, w) under the mirror: its rotation axis is an axial vector, its angle stays
QUAT_XYZW_SIGNS = np.array(AXIAL_SIGNS + (1.0,))


def mirror_clip(clip: dict, path="<clip>") -> dict:
    """The mirror image of a canonical clip (same fps and length; `local_body_pos` by FK)."""
    perm, signs = load_g1().dof_mirror_map()
    dof_pos = np.asarray(clip["dof_pos"], dtype=np.float64)[:, list(perm)] * np.asarray(signs)
    root_pos = np.asarray(clip["root_pos"], dtype=np.float64) * np.array(VECTOR_SIGNS)
    root_rot = np.asarray(clip["root_rot"], dtype=np.float64) * QUAT_XYZW_SIGNS
    return make_clip(path, float(clip["fps"]), root_pos, root_rot, dof_pos)


def mirror_files(src, dst_folder) -> Path:
    """Mirror every clip of `src` (a clip or a manifest) into `dst_folder`; returns its manifest."""
    entries = motion_sources(src)
    names = ["{}_mirror{}".format(e.file.stem, e.file.suffix) for e in entries]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:  # before anything is written
        raise MotionFileError(
            "{}: several clips would be named {} (mirror them into separate folders)".format(src, ", ".join(repeated))
        )
    dst_folder = Path(dst_folder)
    dst_folder.mkdir(parents=True, exist_ok=True)
    for entry, name in zip(entries, names):
        save_clip(dst_folder / name, mirror_clip(load_clip(entry.file), entry.file))
    return write_manifest(
        dst_folder / "manifest.yaml",
        names,
        weights=[e.weight for e in entries],
        descriptions=[
            "mirror of {}".format(e.file.name) + (": {}".format(e.description) if e.description else "")
            for e in entries
        ],
    )


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pose.mirror", description=__doc__.split("\n")[0])
    p.add_argument("src", help="a clip (.pkl/.npz) or a manifest (.yaml)")
    p.add_argument("dst", help="output folder (gets <stem>_mirror clips and manifest.yaml)")
    args = p.parse_args(argv)
    try:
        manifest = mirror_files(args.src, args.dst)
    except MotionFileError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    print("mirrored into {}".format(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
