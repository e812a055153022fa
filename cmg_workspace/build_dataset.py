"""Build the CMG training data set.

    python -m cmg_workspace.build_dataset --out FILE [SRC ...] [--fps 50] [--seq_len 30] [--stride 15]
        [--command_window 1.0] [--replication 1.8:36,1.4:24,0.3:6 | none] [--no_mirror]
        [--filter_locomotion] [--std_floor 0.1] [--stats_from CKPT]

SRC: `embedded` (the embedded default motion set), `locomotion` (the synthetic jogging/running
set), a TWIST manifest, a motion file or a folder of them (see `cmg_workspace.sources`). Default:
`embedded locomotion`, plus the folder named by the environment variable CMG_LAFAN_DIR when it is
set (e.g. the Unitree LAFAN1 G1 CSV release). Steps and options: `cmg_workspace.dataset`.
Prints a progress bar and a summary (clips, windows, speed histogram, command range). A file that
cannot be read is reported (`failed: FILE: ...`), left out and listed again in the summary, and the
exit status is then 1 (2 when nothing could be built), as `python -m pose.convert` treats a folder.

`--stats_from CKPT` stores the normalisation statistics of an existing CMG (checkpoint, run folder or
release) instead of the data's own, so that model can be fine-tuned on the new data
(`python -m cmg_workspace.train --init CKPT`, which refuses data with other statistics); the summary
then prints the largest difference between the two, in the checkpoint's standard deviations.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from cmg_workspace.dataset import BuildConfig, build, parse_replication, stats_difference, summary_lines
from cmg_workspace.sources import SourceClip, list_sources, read_source_file
from pose.cmg.checkpoint import load_cmg
from pose.formats import MotionFileError

LAFAN_ENV = "CMG_LAFAN_DIR"


#: The synthetic sets a data set is built from by default (`steady` is the steady-pelvis variant set).
DEFAULT_SYNTH_SOURCES = ("embedded", "locomotion")


def default_sources() -> List[str]:
    """`embedded locomotion`, plus $CMG_LAFAN_DIR when it names a folder (`steady` on request)."""
    out = list(DEFAULT_SYNTH_SOURCES)
    extra = os.environ.get(LAFAN_ENV)
    if extra:
        if not Path(extra).is_dir():
            raise MotionFileError("{}={}: not a folder".format(LAFAN_ENV, extra))
        out.append(extra)
    return out


def readable_clips(
    files: Sequence[Tuple[str, Path]], failed: List[str], report: Callable[[str], object] = print
) -> Iterator[SourceClip]:
    """The clips of `files` that can be read; the message of each file that cannot is appended to
    `failed` and passed to `report` (the file is skipped, as `python -m pose.convert` skips it in a folder)."""
    for name, path in files:
        try:
            yield read_source_file(name, path)
        except MotionFileError as e:
            failed.append(str(e))
            report("failed: {}".format(e))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cmg_workspace.build_dataset", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "sources",
        nargs="*",
        metavar="SRC",
        help="embedded, locomotion, a manifest, a motion file or a folder (default: embedded locomotion "
        "[+ ${}])".format(LAFAN_ENV),
    )
    p.add_argument("--out", required=True, help="output file (.pt)")
    cfg = BuildConfig()
    p.add_argument("--fps", type=float, default=cfg.fps, help="every clip is resampled to this rate (the policy rate)")
    p.add_argument("--seq_len", type=int, default=cfg.seq_len, help="transitions per window")
    p.add_argument("--stride", type=int, default=None, help="frames between window starts (default: seq_len / 2)")
    p.add_argument("--command_window", type=float, default=cfg.command_window, help="command averaging window (s)")
    p.add_argument(
        "--replication",
        default=",".join("{:g}:{}".format(*x) for x in cfg.replication),
        help="SPEED:COUNT,...: windows faster than SPEED m/s count COUNT times (first match); 'none'",
    )
    p.add_argument("--no_mirror", action="store_true", help="no mirrored copies")
    p.add_argument("--filter_locomotion", action="store_true", help="keep only locomotion clips (percentile tests)")
    p.add_argument("--std_floor", type=float, default=cfg.std_floor, help="lower bound of the state std")
    p.add_argument(
        "--stats_from",
        default=None,
        metavar="CKPT",
        help="normalise with this CMG's statistics (to fine-tune it on this data), not the data's own",
    )
    p.add_argument("--no_progress", action="store_true")
    args = p.parse_args(argv)
    from tqdm import tqdm

    try:
        config = BuildConfig(
            fps=args.fps,
            seq_len=args.seq_len,
            stride=args.stride or max(1, args.seq_len // 2),
            command_window=args.command_window,
            replication=parse_replication(args.replication),
            mirror=not args.no_mirror,
            std_floor=args.std_floor,
            filter_locomotion=args.filter_locomotion,
        )
        t0 = time.perf_counter()
        sources = args.sources or default_sources()
        files = list_sources(sources)
        failed: List[str] = []
        clips = readable_clips(files, failed, lambda message: tqdm.write(message, file=sys.stderr))
        data = build(
            clips,
            config,
            progress=lambda it: tqdm(it, total=len(files), desc="clips", unit="clip", disable=args.no_progress),
        )
        own_stats = data.stats
        if args.stats_from:
            loaded = load_cmg(args.stats_from)
            if abs(loaded.fps - config.fps) > 1e-6:
                raise ValueError("{}: a {} fps CMG, the data is {} fps".format(loaded.path, loaded.fps, config.fps))
            data = dataclasses.replace(data, stats=loaded.stats, config={**data.config, "stats_from": str(loaded.path)})
        out = data.save(args.out)
    except (MotionFileError, ValueError, OSError) as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    print("sources: {}".format(" ".join(str(s) for s in sources)))
    for line in summary_lines(data):
        print(line)
    if failed:
        print("{} of {} files failed and are not in the data:".format(len(failed), len(files)))
        for message in failed:
            print("  failed: {}".format(message))
    if args.stats_from:
        print(
            "statistics of {}: the data's own differ by up to {:.2f} std (mean) and a factor {:.2f} (std)".format(
                args.stats_from, *stats_difference(own_stats, data.stats)
            )
        )
    print("wrote {} ({:.1f} MB, {:.1f} s)".format(out, out.stat().st_size / 1e6, time.perf_counter() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
