"""Benchmark of the motion data layer: MotionLib.calc_motion_frame for N x 20 queries (the
teacher's 20 future frames for N envs) and batched forward kinematics for N poses (and its chain
for N and N x 96 poses with the 3 x 3 products either way).

    python bench/bench_pose.py [--devices cpu cuda] [--num_envs 4096] [--num_clips 1000]

Writes one JSON per device to bench/results/ (date, device, command, timings). Not a test: the
numbers are for the README and for spotting regressions.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, write_result  # noqa: E402

# The teacher's 20 future frames (docs/observations.md), in policy steps of POLICY_DT (0.02 s).
from legged_gym.envs.mdp.layout import TAR_OBS_STEPS  # noqa: E402
from legged_gym.simulator.base import POLICY_DT  # noqa: E402
from pose.formats import load_clip, motion_sources  # noqa: E402
from pose.kinematics import ForwardKinematics  # noqa: E402
from pose.synth import default_motion_file  # noqa: E402
from pose.utils.motion_lib_pkl import MotionLib  # noqa: E402


def timed(fn, device: torch.device, reps: int, warmup: int = 5):
    """Median and 90th-percentile wall time of fn() in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"median_ms": times[len(times) // 2], "p90_ms": times[int(0.9 * (len(times) - 1))], "reps": reps}


def bench_device(device: torch.device, clips, args) -> dict:
    torch.manual_seed(0)
    t0 = time.perf_counter()
    lib = MotionLib.from_clips(clips, device=device)
    build_s = time.perf_counter() - t0
    n = args.num_envs
    offsets = torch.tensor(TAR_OBS_STEPS, device=device, dtype=torch.float32) * POLICY_DT

    def query():
        ids = lib.sample_motions(n)
        t = lib.sample_time(ids)
        ids20 = ids.repeat_interleave(len(TAR_OBS_STEPS))
        t20 = (t[:, None] + offsets[None, :]).reshape(-1)
        return lib.calc_motion_frame(ids20, t20)

    fk = ForwardKinematics(device=device)
    ids = lib.sample_motions(n)
    _, root_rot, _, _, dof_pos, _, _ = lib.calc_motion_frame(ids, lib.sample_time(ids))
    root_pos = torch.zeros(n, 3, device=device)
    return {
        "device": str(device),
        "device_name": device_name(device),
        "num_envs": n,
        "queries_per_call": n * len(TAR_OBS_STEPS),
        "library": {"clips": lib.num_motions(), "frames": lib.num_frames_total(), "build_s": round(build_s, 3)},
        "calc_motion_frame_4096x20": timed(query, device, args.reps),
        "fk_local_body_pos": timed(lambda: fk.local_body_pos(dof_pos), device, args.reps),
        "fk_world": timed(lambda: fk(root_pos, root_rot, dof_pos), device, args.reps),
        # the chain's 3 x 3 products both ways (ForwardKinematics._chain: sums on CUDA, matrix
        # products on the CPU), for N poses and for the CMG library's pool refresh (N x 96 poses)
        "fk_chain_products": {
            "{}_{}".format(way, size): timed(
                lambda: fk._chain(poses, elementwise=way == "sums"), device, max(args.reps // 10, 3)
            )
            for size, poses in (("n", dof_pos), ("n_x96", dof_pos.repeat(96, 1)))
            for way in ("matrix", "sums")
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--num_envs", type=int, default=4096)
    parser.add_argument("--motion_file", default=None, help="manifest or clip (default: the embedded synthetic set)")
    parser.add_argument(
        "--num_clips", type=int, default=1000, help="tile the clips to this many (a dataset-sized library)"
    )
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--out_dir", default=str(REPO_ROOT / "bench" / "results"))
    args = parser.parse_args()

    motion_file = args.motion_file or default_motion_file()
    base = [load_clip(e.file) for e in motion_sources(motion_file)]
    clips = [base[i % len(base)] for i in range(max(args.num_clips, len(base)))]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    for dev in args.devices:
        device = torch.device(dev)
        result = {
            "benchmark": "pose (MotionLib.calc_motion_frame, forward kinematics)",
            "date": date,
            "command": " ".join(["python"] + sys.argv),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "motion_file": str(Path(motion_file).relative_to(REPO_ROOT))
            if Path(motion_file).is_relative_to(REPO_ROOT)
            else str(motion_file),
            **bench_device(device, clips, args),
        }
        out = Path(args.out_dir) / "pose_{}_{}.json".format(device.type, date)
        write_result(out, result, indent=2)
        print(json.dumps(result, indent=2))
        print("wrote", out)


if __name__ == "__main__":
    main()
