"""Where a CMG's foot slide comes from: heel and toe contact through the stance (CPU, numpy).

    python bench/cmg_stance_anatomy.py [--model assets/cmg/cmg.pt] [--commands 0.5,0,0 1,0,0 ...]
        [--data cmg_workspace/data/steady.pt --clips steady/walk_forward_1p0_steady ...] --out FILE.json

For each command a 10-s rollout from the standing pose (as `python -m cmg_workspace.evaluate` makes
it: root integrated from the command) and, with --data, a second one from the data's state whose
command is nearest (a window's first frame, unmirrored: a start inside a gait) and each named
training clip under its own commands, are cut into stance transitions exactly as
`cmg_workspace.metrics` counts them (the lowest sole point of frame k on the same foot at k + 1;
the first 2 s of a rollout skipped). Each transition's
contact point is a heel or a toe point (the foot's two rearmost or two foremost sole points in the
root frame). Reported per command: the share of stance transitions on a toe, the median slide on
heel and on toe transitions, and where the heel contact begins and ends along the root's x axis
(medians over the stances; the distance between them is how far the planted heel travels under the
pelvis, which at a steady speed v is v times the heel-contact time when the heel does not slide).
Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path
from typing import List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_result  # noqa: E402
from cmg_workspace.dataset import CMGData  # noqa: E402
from cmg_workspace.evaluate import SKIP_SECONDS  # noqa: E402
from cmg_workspace.metrics import sole_points_in_root_frame  # noqa: E402
from cmg_workspace.rollout import generate  # noqa: E402
from pose.cmg.checkpoint import load_cmg  # noqa: E402
from pose.cmg.joints import NUM_JOINTS, to_23  # noqa: E402
from pose.utils.cmg_motion_lib import SHIPPED_CMG  # noqa: E402


def anatomy(points: np.ndarray, foot_of: np.ndarray, commands: np.ndarray, dt: float, skip: int) -> dict:
    """Stance measures of one motion: points (T, P, 3) in the root frame, commands (T, 3)."""
    lowest = points[..., 2].argmin(-1)
    x = points[..., 0]
    toe = np.zeros(points.shape[:2], dtype=bool)
    for f in np.unique(foot_of):
        idx = np.flatnonzero(foot_of == f)
        order = np.argsort(x[:, idx], axis=1)
        toe[np.arange(len(x))[:, None], idx[order[:, len(idx) // 2 :]]] = True
    slide, on_toe, strikes, offs = [], [], [], []
    heel_run: List[float] = []
    for k in range(skip, len(points) - 1):
        a = lowest[k]
        stance = foot_of[lowest[k + 1]] == foot_of[a]
        heel = stance and not toe[k, a]
        if heel:
            heel_run.append(float(x[k, a]))
        elif heel_run:
            strikes.append(heel_run[0])
            offs.append(heel_run[-1])
            heel_run = []
        if not stance:
            continue
        vx, vy, wz = commands[k]
        d = (points[k + 1, a] - points[k, a]) / dt
        p = points[k + 1, a]
        slide.append(float(np.hypot(vx + d[0] - wz * p[1], vy + d[1] + wz * p[0])))
        on_toe.append(bool(toe[k, a]))
    slide_a, toe_a = np.asarray(slide), np.asarray(on_toe, dtype=bool)

    def median(values) -> float:
        return float(np.median(values)) if len(values) else float("nan")

    return {
        "stance_transitions": int(len(slide_a)),
        "toe_share": float(toe_a.mean()) if len(toe_a) else float("nan"),
        "slide_mps_median": median(slide_a),
        "slide_mps_median_heel": median(slide_a[~toe_a]),
        "slide_mps_median_toe": median(slide_a[toe_a]),
        "heel_strike_x_m": median(strikes),
        "heel_off_x_m": median(offs),
        "heel_travel_m": median(np.asarray(strikes) - np.asarray(offs)) if strikes else float("nan"),
        "stances": len(strikes),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(SHIPPED_CMG))
    p.add_argument("--commands", nargs="+", default=["0.5,0,0", "1,0,0", "2,0,0", "3,0,0", "1,0.3,0", "1,0,0.5"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--data", default=None, help="a CMG data set (build_dataset) for the training clips' baseline")
    p.add_argument("--clips", nargs="*", default=[], help="clip names of --data (first-copy windows, unmirrored)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    cmg = load_cmg(args.model)
    dt = 1.0 / cmg.fps
    skip = int(round(SKIP_SECONDS * cmg.fps))
    commands = np.array([[float(v) for v in c.split(",")] for c in args.commands], dtype=np.float32)
    steps = int(round(args.seconds * cmg.fps))

    def rollouts_from(start: np.ndarray) -> List[dict]:
        with torch.no_grad():
            st = cmg.stats.tensors("cpu")
            motion = generate(cmg.model, st, torch.as_tensor(start), torch.as_tensor(commands), steps)
        points, foot_of = sole_points_in_root_frame(to_23(motion[..., :NUM_JOINTS]).double().numpy())
        return [
            {
                "command": [round(float(v), 4) for v in c],
                **anatomy(points[i], foot_of, np.repeat(c[None], len(points[i]), 0), dt, skip),
            }
            for i, c in enumerate(commands)
        ]

    rollouts = rollouts_from(np.asarray(cmg.standing_pose, dtype=np.float32))
    clips, from_data = [], []
    if args.data:
        data = CMGData.load(args.data)
        # each command also from the data's state whose command is nearest (unmirrored windows' first frames)
        first = data.motion[~data.mirrored, 0]
        first_cmd = data.command[~data.mirrored, 0]
        nearest = np.abs(first_cmd[None] - commands[:, None]).sum(-1).argmin(1)
        from_data = rollouts_from(first[nearest])
        for r, i in zip(from_data, nearest):
            r["start_command"] = first_cmd[i].round(3).tolist()
        stride = int(data.config.get("stride", 15))
        for name in args.clips:
            k = data.clip_names.index(name)
            windows = np.flatnonzero((data.clip_index == k) & ~data.mirrored)
            frames = np.concatenate([data.motion[i, :stride] for i in windows])
            cmds = np.concatenate([data.command[i, :stride] for i in windows])
            pts, feet = sole_points_in_root_frame(to_23(torch.as_tensor(frames[:, :NUM_JOINTS])).double().numpy())
            clips.append(
                {"clip": name, "command_mean": cmds.mean(0).round(3).tolist(), **anatomy(pts, feet, cmds, dt, 0)}
            )
    result = {
        "benchmark": "CMG stance anatomy: heel and toe contact of generated and training strides",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "device_name": platform.processor() or "cpu",
        "command": " ".join(["python", "bench/cmg_stance_anatomy.py"] + (sys.argv[1:] if argv is None else list(argv))),
        "model": str(args.model),
        "rollouts": rollouts,
        "rollouts_from_data_state": from_data,
        "training_clips": clips,
    }
    write_result(Path(args.out), result, indent=2)
    for r in rollouts + [dict(r, clip="{} from data".format(r["command"])) for r in from_data] + clips:
        label = r.get("clip") or str(r["command"])
        print(
            "{:40s} toe share {:.2f}  slide heel {:.2f} toe {:.2f} m/s  heel x {:+.3f} -> {:+.3f} m".format(
                label,
                r["toe_share"],
                r["slide_mps_median_heel"],
                r["slide_mps_median_toe"],
                r["heel_strike_x_m"],
                r["heel_off_x_m"],
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
