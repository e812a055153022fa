"""Which reference motions a policy drifts on: per-clip root drift of eval.py results against what the
reference root does in each clip.

    python bench/drift_by_reference.py --motion_file M --eval DIR [--eval DIR2 ...] [--vel_smooth_window 5]
        [--speed 1.0] [--split 0.3] [--end_split 2.0] [--top 10] --out bench/results/NAME

--eval takes an eval.py output folder (its eval.json) or `FILE.json:RUN`, a run of a bench/results
tracking-quality file (its "runs" list); with several, a clip's drift is their mean (clips in all of
them; clips of --motion_file that a result lacks are left out, named in a WARNING line and in
`clips_left_out`). Clips are matched by eval.py's row names (`eval_report.unique_clip_names`). The reference's root velocity is the motion library's (the box filter of --vel_smooth_window taps,
as training reads it), taken in the root's heading frame (`metrics.heading_frame_velocity`). Per clip:

- `mean_speed_mps`: mean horizontal root speed;
- `backward_at_speed_s`: seconds in which the root moves faster than --speed m/s more than 90 degrees
  away from where the pelvis faces (running backwards, or the middle of a turn-around at speed);
- `sideways_at_speed_s`: the same beyond 45 degrees;
- `max_speed_change_mps`: the largest change of the 1-s mean speed within one second (a sprint start, a
  sudden stop);
- `mean_yaw_rate_radps`: mean |yaw rate| of the root;
- `end_speed_mps`: the mean horizontal speed over the clip's last second: the drift is taken at the
  clip's end, where a robot that follows the reference a time t late is t x this speed away;
- `end_forward_mps`: the mean forward velocity over the clip's last second (negative: it ends running
  backwards). eval.py's `root_lag_m` is taken along the reference's heading, so on a clip that ends
  running backwards a negative lag is the robot behind the reference on its path.

Printed and written (NAME.json, NAME.png): each feature's correlation with the drift across clips, a
least-squares fit drift ~ 1 + mean speed + backward-at-speed seconds, the clips with more than --split
seconds of backward-at-speed against the others, the clips that end faster than --end_split m/s against
the others, and the --top clips by drift.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Sequence  # noqa: E402

import numpy  # noqa: E402
import torch  # noqa: E402

from legged_gym.envs.mdp.metrics import heading_frame_velocity  # noqa: E402
from legged_gym.gym_utils.helpers import UsageError, run_script  # noqa: E402
from legged_gym.scripts.eval_report import read_result_source, unique_clip_names  # noqa: E402
from pose.utils.motion_lib_pkl import MotionLib  # noqa: E402

FEATURES = (
    "mean_speed_mps",
    "backward_at_speed_s",
    "sideways_at_speed_s",
    "max_speed_change_mps",
    "mean_yaw_rate_radps",
    "end_speed_mps",
    "end_forward_mps",
)


def read_clip_drift(source: str) -> Dict[str, float]:
    """Clip name -> root_drift_m of an eval.py folder or of `FILE.json:RUN` (a run of a bench/results file)."""
    result = read_result_source(source, "--eval")
    clips = result.get("clips")
    if not isinstance(clips, list) or not all(
        isinstance(c, dict) and "name" in c and "root_drift_m" in c for c in clips
    ):
        raise UsageError(
            "--eval {}: no per-clip root_drift_m there (a motion-clip evaluation of eval.py)".format(source)
        )
    return {str(c["name"]): float(c["root_drift_m"]) for c in clips}


def moving_mean(x: numpy.ndarray, taps: int) -> numpy.ndarray:
    """Centred mean over `taps` samples, the window shrinking at the ends."""
    kernel = numpy.ones(taps)
    return numpy.convolve(x, kernel, mode="same") / numpy.convolve(numpy.ones_like(x), kernel, mode="same")


def clip_features(lib: MotionLib, clip: int, speed_threshold: float) -> Dict[str, float]:
    """The features of the module docstring for clip `clip` of `lib`, over its frames."""
    fps = float(lib.get_motion_fps()[clip])
    n = int(lib.get_motion_num_frames()[clip]) - 1  # frames 0 .. n-1: the last has no velocity of its own
    times = (torch.arange(n, dtype=torch.float32) + 0.5) / fps  # mid-frame: the lower frame's velocity, no rounding
    ids = torch.full((n,), clip, dtype=torch.long)
    _, root_rot, root_vel, root_ang_vel = lib.calc_motion_frame(ids, times)[:4]
    v = heading_frame_velocity(root_rot, root_vel).numpy().astype(numpy.float64)  # (forward, left)
    speed = numpy.hypot(v[:, 0], v[:, 1])
    off_heading = numpy.abs(numpy.arctan2(v[:, 1], v[:, 0]))
    fast = speed > speed_threshold
    second = max(1, int(round(fps)))
    mean_1s = moving_mean(speed, second)
    change = numpy.abs(mean_1s[second:] - mean_1s[:-second]) if n > second else numpy.zeros(1)
    return {
        "mean_speed_mps": float(speed.mean()),
        "backward_at_speed_s": float((fast & (off_heading > numpy.pi / 2)).sum() / fps),
        "sideways_at_speed_s": float((fast & (off_heading > numpy.pi / 4)).sum() / fps),
        "max_speed_change_mps": float(change.max()),
        "mean_yaw_rate_radps": float(root_ang_vel[:, 2].abs().mean()),
        "end_speed_mps": float(speed[-second:].mean()),
        "end_forward_mps": float(v[-second:, 0].mean()),
    }


def correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation; 0 when either side is constant."""
    x, y = numpy.asarray(x, dtype=float), numpy.asarray(y, dtype=float)
    if x.std() == 0 or y.std() == 0:
        return 0.0
    return float(numpy.corrcoef(x, y)[0, 1])


def analyse(rows: List[dict], split: float, end_split: float, top: int) -> dict:
    """The summary of the module docstring from per-clip rows (name, root_drift_m and the FEATURES)."""
    drift = numpy.array([r["root_drift_m"] for r in rows])
    column = {k: numpy.array([r[k] for r in rows]) for k in FEATURES}
    design = numpy.column_stack([numpy.ones(len(rows)), column["mean_speed_mps"], column["backward_at_speed_s"]])
    coef = numpy.linalg.lstsq(design, drift, rcond=None)[0]
    above = column["backward_at_speed_s"] > split
    fast_end = column["end_speed_mps"] > end_split

    def group(mask):
        return {"clips": int(mask.sum()), "mean_root_drift_m": float(drift[mask].mean()) if mask.any() else None}

    order = numpy.argsort(-drift)
    total = float(drift.sum())
    return {
        "clips": len(rows),
        "mean_root_drift_m": float(drift.mean()),
        "correlation_with_drift": {k: correlation(column[k], drift) for k in FEATURES},
        "fit_drift_m": {
            "intercept": float(coef[0]),
            "per_mps_of_mean_speed": float(coef[1]),
            "per_s_of_backward_at_speed": float(coef[2]),
        },
        "split_backward_at_speed_s": split,
        "above_split": group(above),
        "at_or_below_split": group(~above),
        "end_speed_split_mps": end_split,
        "above_end_speed_split": group(fast_end),
        "at_or_below_end_speed_split": group(~fast_end),
        "top": [rows[i]["name"] for i in order[:top]],
        "top_share_of_drift": float(drift[order[:top]].sum() / total) if total > 0 else 0.0,
        "mean_root_drift_m_without_top": float(drift[order[top:]].mean()) if len(rows) > top else None,
    }


def plot(rows: List[dict], out_png: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    points = ax.scatter(
        [r["backward_at_speed_s"] for r in rows],
        [r["root_drift_m"] for r in rows],
        c=[r["mean_speed_mps"] for r in rows],
        cmap="viridis",
    )
    fig.colorbar(points, ax=ax, label="mean reference speed (m/s)")
    ax.set_xlabel("reference moving > 90 deg off its heading at speed (s)")
    ax.set_ylabel("root drift at the clip's end (m)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def main(args) -> dict:
    if args.vel_smooth_window < 1 or args.vel_smooth_window % 2 == 0:
        raise UsageError("--vel_smooth_window {}: expected an odd number >= 1".format(args.vel_smooth_window))
    if args.top < 1:
        raise UsageError("--top {}: expected at least 1".format(args.top))
    drifts = [read_clip_drift(source) for source in args.eval]
    lib = MotionLib(args.motion_file, device="cpu", smooth_window=args.vel_smooth_window)
    names = unique_clip_names(lib.motion_names, lib.motion_files)  # eval.py's row names
    rows, left_out = [], []
    for i, name in enumerate(names):
        if all(name in d for d in drifts):
            row = {"name": name, "root_drift_m": float(numpy.mean([d[name] for d in drifts]))}
            row.update(clip_features(lib, i, args.speed))
            rows.append(row)
        else:
            left_out.append(name)
    if left_out:
        print(
            "WARNING: {} of the {} clips of --motion_file {} are not in every --eval result and are left out "
            "(e.g. {})".format(len(left_out), len(names), args.motion_file, ", ".join(left_out[:3]))
        )
    if len(rows) < 3:
        raise UsageError(
            "--eval: only {} clip(s) of --motion_file {} are in every result (clip names: {})".format(
                len(rows), args.motion_file, names[:5]
            )
        )
    summary = analyse(rows, args.split, args.end_split, args.top)
    record = {
        "benchmark": "root drift against the reference root's motion, per clip",
        "date": datetime.date.today().isoformat(),
        "device": "cpu",
        "command": "python bench/drift_by_reference.py " + " ".join(sys.argv[1:]),
        "motion_file": args.motion_file,
        "eval": list(args.eval),
        "vel_smooth_window": args.vel_smooth_window,
        "speed_threshold_mps": args.speed,
        "summary": summary,
        "clips_left_out": left_out,
        "clips": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(record, f, indent=1)
    plot(rows, args.out + ".png", "{} clips; drift mean {:.3f} m".format(len(rows), summary["mean_root_drift_m"]))
    print("{} clips, mean drift {:.3f} m".format(len(rows), summary["mean_root_drift_m"]))
    for k, r in summary["correlation_with_drift"].items():
        print("  correlation with drift  {:<22} {:+.2f}".format(k, r))
    fit = summary["fit_drift_m"]
    print(
        "  fit: drift = {:.3f} m + {:.3f} m per m/s of mean speed + {:.3f} m per s of backward-at-speed".format(
            fit["intercept"], fit["per_mps_of_mean_speed"], fit["per_s_of_backward_at_speed"]
        )
    )
    above, below = summary["above_split"], summary["at_or_below_split"]
    fmt = lambda g: "-" if g["mean_root_drift_m"] is None else "{:.3f} m".format(g["mean_root_drift_m"])  # noqa: E731
    print(
        "  backward-at-speed > {} s: {} clips, drift {}; the others: {} clips, drift {}".format(
            args.split, above["clips"], fmt(above), below["clips"], fmt(below)
        )
    )
    fast, slow = summary["above_end_speed_split"], summary["at_or_below_end_speed_split"]
    print(
        "  ending faster than {} m/s: {} clips, drift {}; the others: {} clips, drift {}".format(
            args.end_split, fast["clips"], fmt(fast), slow["clips"], fmt(slow)
        )
    )
    print("  top {} by drift ({:.0%} of the total):".format(args.top, summary["top_share_of_drift"]))
    by_name = {r["name"]: r for r in rows}
    for name in summary["top"]:
        r = by_name[name]
        print(
            "    {:<32} drift {:.3f} m, ends at {:+.2f} m/s forward".format(
                name, r["root_drift_m"], r["end_forward_mps"]
            )
        )
    print("Wrote {0}.json and {0}.png".format(args.out))
    return record


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--motion_file", required=True, help="the manifest the results were evaluated on")
    p.add_argument("--eval", action="append", required=True, help="eval.py output folder, or FILE.json:RUN")
    p.add_argument("--vel_smooth_window", type=int, default=5, help="velocity filter taps (the recipe's 5)")
    p.add_argument("--speed", type=float, default=1.0, help="m/s: 'at speed' above this")
    p.add_argument("--split", type=float, default=0.3, help="s of backward-at-speed that splits the clips")
    p.add_argument("--end_split", type=float, default=2.0, help="m/s of end speed that splits the clips")
    p.add_argument("--top", type=int, default=10, help="clips listed by drift")
    p.add_argument("--out", required=True, help="output path without extension (.json and .png)")
    return p.parse_args(argv)


if __name__ == "__main__":
    run_script("drift_by_reference.py", main, parse())
