"""How much of a motion set's motion the smoothed reference velocities keep, per smoothing window.

    python bench/bench_reference_velocities.py [--motion_file M] [--windows 19 9 5 3 1] [--out FILE.json]

MotionLib smooths the clips' finite-difference velocities with a moving average of `smooth_window`
taps (TWIST: 19; the env's `motion.vel_smooth_window`). For every clip and window this compares the
smoothed joint velocities and root angular velocities with the unsmoothed ones (the forward
differences of the frames the policy is asked to track): `corr` = <smoothed, raw> / (|smoothed| |raw|)
over all frames and channels, `ratio` = |smoothed| / |raw| (1 and 1: the velocities agree with the
positions). Prints one line per window (medians over the clips) and writes the JSON
(docs/motion_data.md#reference-velocities).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose.synth import default_motion_file  # noqa: E402
from pose.utils.motion_lib_pkl import MotionLib  # noqa: E402


def clip_velocities(lib: MotionLib, clip: int):
    """(joint velocities (F, 23), root angular velocities (F, 3)) of every frame of one clip."""
    fps = float(lib.get_motion_fps([clip])[0])
    frames = int(round(float(lib.get_motion_length([clip])[0]) * fps)) + 1
    times = (torch.arange(frames - 1, dtype=torch.float32) + 0.01) / fps  # just after each frame
    ids = torch.full_like(times, clip, dtype=torch.long)
    f = lib.calc_motion_frame(ids, times)
    return f[5], f[3]


def agreement(smoothed: torch.Tensor, raw: torch.Tensor) -> dict:
    s, r = smoothed.double().flatten(), raw.double().flatten()
    norm = float(r.norm())
    if norm < 1e-9:
        return {"corr": None, "ratio": None}
    return {"corr": float(s @ r) / max(float(s.norm()) * norm, 1e-12), "ratio": float(s.norm()) / norm}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure(motion_file: str, windows) -> dict:
    raw = MotionLib(motion_file, device="cpu", smooth_window=1)
    raw_vel = [clip_velocities(raw, c) for c in range(raw.num_motions())]
    out = {}
    for window in windows:
        lib = MotionLib(motion_file, device="cpu", smooth_window=window)
        clips = []
        for c, (dof_raw, ang_raw) in enumerate(raw_vel):
            dof, ang = clip_velocities(lib, c)
            clips.append(
                {
                    "clip": lib.motion_names[c],
                    "joint_vel": agreement(dof, dof_raw),
                    "root_ang_vel": agreement(ang, ang_raw),
                }
            )
        summary = {
            key: {m: median(row[key][m] for row in clips) for m in ("corr", "ratio")}
            for key in ("joint_vel", "root_ang_vel")
        }
        out[str(window)] = {"median": summary, "clips": clips}
        print(
            "window {:>2}: joint velocities corr {:.2f} ratio {:.2f}; root angular velocity corr {:.2f} ratio {:.2f} "
            "(medians over {} clips)".format(
                window,
                summary["joint_vel"]["corr"],
                summary["joint_vel"]["ratio"],
                summary["root_ang_vel"]["corr"],
                summary["root_ang_vel"]["ratio"],
                len(clips),
            )
        )
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--motion_file", default=None, help="clip or manifest (default: the embedded motion set)")
    p.add_argument("--windows", type=int, nargs="+", default=[19, 9, 5, 3, 1], help="odd numbers of taps")
    p.add_argument("--out", default=None, help="JSON file to write")
    args = p.parse_args(argv)
    motion_file = str(args.motion_file or default_motion_file())
    result = {
        "benchmark": "reference velocities: smoothed vs forward differences of the frames",
        "date": datetime.date.today().isoformat(),
        "command": "python bench/bench_reference_velocities.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "motion_file": "embedded set (pose.synth)" if args.motion_file is None else motion_file,
        "windows": measure(motion_file, args.windows),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print("wrote", args.out)
    return result


if __name__ == "__main__":
    main()
