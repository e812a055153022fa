"""Cost of one CMG reference frame on the CPU: what the high-level server with --cmg does every 50 Hz
step besides Redis (`deploy_real.cmg_reference.CMGReference.next`: one CMG step, the root, forward
kinematics of the key bodies, the 33-D vector), under a command that changes every second.

    python bench/bench_cmg_reference.py [--frames 5000] [--cmg_model PATH] [--out bench/results/...json]

Prints p50/p99/max (ms, wall clock and the thread's CPU time) and the share of the 20-ms period; writes
them to --out when given. Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name  # noqa: E402
from deploy_real.cmg_reference import CMGReference  # noqa: E402

COMMANDS = ((0.5, 0.0, 0.0), (1.5, 0.2, 0.3), (3.0, -0.2, -0.5), (0.0, 0.0, 0.8))  # one a second, in turn


def summary(ms: np.ndarray) -> dict:
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "mean": float(ms.mean()),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--cmg_model", default=None, help="default: the shipped assets/cmg/cmg.pt")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    cmg = CMGReference(args.cmg_model, COMMANDS[0])
    for _ in range(50):  # warm-up
        cmg.next()
    ms, cpu_ms = np.empty(args.frames), np.empty(args.frames)
    for k in range(args.frames):
        command = np.array(COMMANDS[(k // 50) % len(COMMANDS)], dtype=np.float64)
        t, c = time.perf_counter(), time.thread_time()
        cmg.set_command(command)
        cmg.next()
        ms[k], cpu_ms[k] = (time.perf_counter() - t) * 1e3, (time.thread_time() - c) * 1e3
    result = {
        "benchmark": "CMG reference frame on the CPU (CMGReference.set_command + next, no Redis)",
        "date": datetime.date.today().isoformat(),
        "device_name": device_name(torch.device("cpu")),
        "command": "python bench/bench_cmg_reference.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "cmg_model": os.path.relpath(cmg.model_path, REPO_ROOT),
        "frames": args.frames,
        "frame_ms": summary(ms),
        "frame_cpu_ms": summary(cpu_ms),
        "share_of_20ms_period_p99": float(np.percentile(ms, 99)) / 20.0,
        "load_average_1min": os.getloadavg()[0],
        "note": "frame_ms: wall clock; frame_cpu_ms: CPU time of the thread (what the frame costs without "
        "waiting for other processes on a shared machine)",
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
