"""Latency of the low-level server's policy step on the CPU: Redis GET of the reference and its meta,
the safety gate, the 1155-D observation, policy inference, the PD targets and the Redis SET of the
state (the 20 physics steps that follow in sim2sim are timed apart: the real robot has none), and the
policy graph alone (`policy_inference_ms`).

    python bench/bench_deploy_step.py [--steps 10000] [--policy_path ...] [--engine auto|onnxruntime|torch]
                                      [--background_load N] [--out bench/results/...json]

A real redis-server on a free loopback port; a fresh 33-D reference and meta are written before every
step (not timed), as the high-level server does. --background_load N runs N other processes that keep a
core busy each (`busy_processes`) for the whole measurement: a robot computer doing other work. Writes
p50/p99/max (ms) to the JSON. Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import List

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, write_result  # noqa: E402

WARMUP_STEPS = 200  # untimed steps before each measurement


@contextmanager
def busy_processes(n: int):
    """n Python processes, each spinning on one core, for the duration of the block (yields them)."""
    procs: List[subprocess.Popen] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def main(argv=None) -> dict:
    from deploy_real.contract import MIMIC_KEY, MIMIC_META_KEY, encode_floats, encode_meta
    from deploy_real.motion_reference import reference_vectors
    from deploy_real.policy import SHIPPED_POLICY
    from deploy_real.redis_link import PrivateRedis, RedisLink
    from deploy_real.runtime import ENGINES
    from deploy_real.server_low_level_g1_sim import LowLevelSim
    from pose.synth import default_motion_file
    from pose.utils.motion_lib_pkl import MotionLib

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--policy_path", default=str(SHIPPED_POLICY))
    p.add_argument("--engine", default="auto", choices=ENGINES, help="what runs the observation and policy graphs")
    p.add_argument("--background_load", type=int, default=0, metavar="N", help="N busy processes during the timing")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.background_load < 0:
        p.error("--background_load {}: expected a number of processes >= 0".format(args.background_load))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = PrivateRedis(port)
    link = RedisLink("redis://127.0.0.1:{}/0".format(port), start_private=False)
    server = LowLevelSim(args.policy_path, link=link, engine=args.engine)
    lib = MotionLib(default_motion_file(), device="cpu")
    refs = reference_vectors(lib, 5, np.arange(400) * 0.02 + 0.02)  # a walking clip, looped
    physics = {"s": 0.0}
    step = server.sim.step

    def timed_step(target, substeps=20):
        t = time.perf_counter()
        step(target, substeps)
        physics["s"] = time.perf_counter() - t

    server.sim.step = timed_step

    def measure(steps: int, physics_on: bool):
        lat, phys = np.zeros(steps), np.zeros(steps)
        server.sim.reset()
        for k in range(steps + WARMUP_STEPS):
            wall_ms = time.time() * 1000.0
            link.set_many({MIMIC_KEY: encode_floats(refs[k % len(refs)]), MIMIC_META_KEY: encode_meta(k, wall_ms)})
            physics["s"] = 0.0
            t0 = time.perf_counter()
            server.policy_step(time.monotonic(), wall_ms)
            total = time.perf_counter() - t0
            if physics_on and server.sim.state().pelvis_height < 0.5:
                server.sim.reset()
            if k >= WARMUP_STEPS:
                lat[k - WARMUP_STEPS] = total - physics["s"]
                phys[k - WARMUP_STEPS] = physics["s"]
        return lat * 1e3, phys * 1e3

    def stats(ms):
        return {
            "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max()),
            "mean": float(ms.mean()),
        }

    def measure_inference(steps: int) -> np.ndarray:
        """The policy graph alone (what a larger network, e.g. a state estimator, adds), on a fixed observation."""
        policy = server.student.policy
        obs = np.zeros(policy.num_obs, dtype=np.float32)
        lat = np.zeros(steps)
        for k in range(steps + WARMUP_STEPS):
            t0 = time.perf_counter()
            policy(obs)
            if k >= WARMUP_STEPS:
                lat[k - WARMUP_STEPS] = time.perf_counter() - t0
        return lat * 1e3

    with busy_processes(args.background_load):
        ms, phys = measure(args.steps, physics_on=True)
        server.sim.step = lambda target, substeps=20: None  # as on the real robot: no physics in the process
        ms_alone, _ = measure(args.steps, physics_on=False)
        ms_inference = measure_inference(args.steps)
    link.close()
    redis.stop()
    result = {
        "benchmark": "low-level policy step latency (observation + inference + Redis GET/SET)",
        "date": datetime.date.today().isoformat(),
        "device_name": device_name(torch.device("cpu")),
        "command": "python bench/bench_deploy_step.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "steps": args.steps,
        "policy_step_ms": stats(ms),
        "policy_step_ms_without_physics_in_process": stats(ms_alone),
        "physics_20_substeps_ms": stats(phys),
        "policy_inference_ms": stats(ms_inference),
        "note": "policy_step_ms: in the sim2sim server, between its physics steps (physics timed apart); "
        "without_physics_in_process: the same step with no simulation in the process (the real robot's case); "
        "policy_inference_ms: the policy graph alone on a fixed observation (part of both)",
        "target": "p99 <= 2 ms",
        "policy": Path(args.policy_path).name,
        "engine": server.student.policy.engine,
        "torch_threads": torch.get_num_threads(),
        "background_load_processes": args.background_load,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))
    out = (
        Path(args.out)
        if args.out
        else REPO_ROOT / "bench" / "results" / "deploy_step_cpu_{}.json".format(result["date"])
    )
    write_result(out, result, indent=1)
    return result


if __name__ == "__main__":
    main()
