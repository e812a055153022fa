"""How much delay between reading the robot's state and the motors getting the new targets a deployed student
takes in sim2sim: the clips of a motion set played through the sim2sim server's loop at each
--policy_latency_ms (`deploy_real.server_low_level_g1_sim`, physics on the previous targets for that share of
the 20-ms period), scored with the tracking benchmark's metrics (`bench/bench_sim2sim_tracking.sim2sim_clip`:
eval.py's success rate, completion, MPKPE, joint error, root drift).

    python bench/bench_sim2sim_latency.py [--policy_path EXPORT] [--motion_file MANIFEST] [--clips 0 5]
        [--latencies_ms 0 5 10 15 20] [--out bench/results/sim2sim_latency_<date>.json]

For scale: the real server's own computation takes 2.7 ms (p50), 3.7 ms (p99) on the CI machine
(bench/bench_real_server_latency.py); the DDS link and the motor drivers add to it. Writes the JSON.
Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, write_result  # noqa: E402
from bench.bench_sim2sim_cmg import display_path  # noqa: E402
from bench.bench_sim2sim_tracking import G1, PolicySettings, sim2sim_clip  # noqa: E402
from legged_gym.scripts.eval_report import METRIC_KEYS, unique_clip_names  # noqa: E402

SUMMARY_KEYS = ("success_rate", "completion", "mpkpe_local_mm", "joint_error_rad", "root_drift_m")


def main(argv=None) -> dict:
    from deploy_real.policy import SHIPPED_POLICY
    from deploy_real.server_low_level_g1_sim import latency_argument
    from legged_gym.envs.mdp.clip_steps import check_playable
    from pose.synth import default_motion_file
    from pose.utils.motion_lib_pkl import MotionLib

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy_path", default=str(SHIPPED_POLICY))
    p.add_argument("--motion_file", default=None, help="default: the embedded motion set")
    p.add_argument("--clips", type=int, nargs="*", default=None, help="clip ids (default: all)")
    p.add_argument("--latencies_ms", type=latency_argument, nargs="+", default=[0, 5, 10, 15, 20])
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    motion_file = str(args.motion_file or default_motion_file())
    settings = PolicySettings.of(args.policy_path)
    lib = MotionLib(motion_file, device="cpu", smooth_window=settings.vel_smooth_window)
    clips = args.clips if args.clips is not None else list(range(lib.num_motions()))
    check_playable(lib, clips)
    names = unique_clip_names(lib.motion_names, lib.motion_files)
    key_idx = lib.get_key_body_idx(G1.key_bodies)
    t0 = time.time()
    sweep = []
    for ms in args.latencies_ms:
        per_clip = {names[c]: sim2sim_clip(args.policy_path, lib, c, key_idx, policy_latency_ms=ms)[1] for c in clips}
        mean = {k: float(np.mean([m[k] for m in per_clip.values()])) for k in METRIC_KEYS}
        sweep.append({"policy_latency_ms": ms, "summary": mean, "clips": per_clip})
        print(
            "latency {:>2} ms: ".format(ms) + ", ".join("{} {:.3f}".format(k, mean[k]) for k in SUMMARY_KEYS),
            flush=True,
        )
    result = {
        "benchmark": "sim2sim tracking against the policy latency",
        "date": datetime.date.today().isoformat(),
        "device_name": device_name(torch.device("cpu")),
        "command": "python bench/bench_sim2sim_latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "policy": display_path(args.policy_path),
        "motion_file": "embedded set (pose.synth)" if args.motion_file is None else args.motion_file,
        "policy_settings": settings._asdict(),
        "sim2sim": "deploy_real LowLevelSim: MuJoCo {}, 1 kHz physics, full torque limits, sim2sim model".format(
            __import__("mujoco").__version__
        ),
        "sweep": sweep,
        "wall_s": time.time() - t0,
    }
    out = Path(args.out or REPO_ROOT / "bench" / "results" / "sim2sim_latency_{}.json".format(result["date"]))
    write_result(out, result, indent=1)
    print("wrote {}".format(out), flush=True)
    return result


if __name__ == "__main__":
    main()
