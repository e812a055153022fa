"""LowState -> LowCmd latency of the real server (deploy_real/server_low_level_g1_real.py) over loopback DDS.

    python bench/bench_real_server_latency.py [--steps 3000] [--out bench/results/...json]

This script plays the robot: it publishes the G1's LowState (a standing robot) on a DDS domain of its own
on `lo`, presses START, then A on the emulated remote, and measures the server in its policy state while
the high-level server streams every clip of the embedded set through a real Redis (both servers as
separate processes, as deployed). Two runs of `--steps` policy steps each:

1. robot rate: LowState at 500 Hz, as the G1 sends it. Reported: the server's own measure, from the
   arrival of the LowState it used (in its DDS callback) to its LowCmd written (`latency_*_ms` of its
   --summary_json).
2. one LowState per policy period, half a period after the server's tick (so that the server is waiting
   for it): each LowCmd is paired with the one LowState it was computed from, and the robot side's
   latency is measured here, from LowState written to LowCmd received (both DDS hops included).

Writes p50/p99/max (ms) to the JSON. Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import cpu_model, write_result  # noqa: E402


def stats(ms) -> dict:
    ms = np.asarray(ms, dtype=np.float64)
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "mean": float(ms.mean()),
        "n": int(ms.size),
    }


class EmulatedRobot:
    """A standing G1 on DDS: LowState out (500 Hz, or one at a time), LowCmd arrival times in."""

    def __init__(self, domain_id: int) -> None:
        from deploy_real.dds_link import LOWCMD_TOPIC, LOWSTATE_TOPIC, DdsDomain
        from pose.g1_model import load_g1

        self.domain = DdsDomain(domain_id, "lo")
        self._write = self.domain.writer(LOWSTATE_TOPIC, "LowState_")
        self._cond = threading.Condition()
        self.cmd_times = []
        self._reader = self.domain.reader(LOWCMD_TOPIC, "LowCmd_", self._on_cmd)
        g1 = load_g1()
        self.pose = np.zeros(29)
        self.pose[[list(g1.real_motor_joints).index(n) for n in g1.dof_names]] = g1.default_dof_pos
        self.buttons = []
        self._streaming = threading.Event()
        self._tick = itertools.count(1)

    def _on_cmd(self, data: bytes, now: float) -> None:
        with self._cond:
            self.cmd_times.append(now)
            self._cond.notify_all()

    def publish(self) -> float:
        from deploy_real.unitree_msgs import LowState, encode_remote

        s = LowState()
        s.tick, s.mode_machine = next(self._tick), 5
        s.q[:29] = self.pose
        s.wireless_remote = encode_remote(self.buttons)
        raw = s.encode()
        t = time.monotonic()
        self._write(raw)
        return t

    def stream(self, hz: float = 500.0) -> None:
        self._streaming.set()

        def loop():
            while self._streaming.is_set():
                self.publish()
                time.sleep(1.0 / hz)

        threading.Thread(target=loop, daemon=True).start()

    def stop_stream(self) -> None:
        self._streaming.clear()
        time.sleep(0.01)

    def next_cmd_after(self, t: float, timeout: float):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                later = [c for c in self.cmd_times[-4:] if c > t]
                if later:
                    return later[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def run_once(paired: bool, steps: int, policy_path, workdir: Path, domain_id: int) -> dict:
    import redis as redis_py

    from deploy_real.contract import BODY_STATE_KEY
    from deploy_real.redis_link import PrivateRedis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    private = PrivateRedis(port)
    url = "redis://127.0.0.1:{}/0".format(port)
    summary = workdir / "real_{}.json".format("paired" if paired else "stream")
    log_path = workdir / "real.log"
    args = [
        sys.executable,
        str(REPO_ROOT / "deploy_real" / "server_low_level_g1_real.py"),
        "--net",
        "lo",
        "--domain_id",
        str(domain_id),
        "--redis_url",
        url,
        "--summary_json",
        str(summary),
    ]
    if policy_path:
        args += ["--policy_path", str(policy_path)]
    log = open(log_path, "w")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    high = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "deploy_real" / "server_high_level_motion_lib.py"),
            "--redis_url",
            url,
            "--loop",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    robot = EmulatedRobot(domain_id)
    latencies = []
    try:
        wait_for(lambda: "waiting for rt/lowstate" in log_path.read_text(), 120, "the real server")
        robot.stream(500.0)
        wait_for(lambda: len(robot.cmd_times) > 5, 20, "zero-torque commands")
        robot.buttons = ["start"]
        time.sleep(0.3)
        robot.buttons = []
        time.sleep(2.2)
        robot.buttons = ["A"]
        time.sleep(0.3)
        robot.buttons = []
        client = redis_py.Redis(port=port)
        wait_for(lambda: client.get(BODY_STATE_KEY) is not None, 20, "the policy state")
        time.sleep(1.0)
        if not paired:
            time.sleep(steps * 0.02)
            robot.stop_stream()
        else:
            robot.stop_stream()
            time.sleep(0.03)  # the server waits for the next LowState: one now locks the phase
            t_pub = robot.publish()
            t_cmd = robot.next_cmd_after(t_pub, 0.06)
            slot = t_cmd + 0.010  # half a period after the server's tick
            while len(latencies) < steps:
                slot += 0.02
                delay = slot - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                t_pub = robot.publish()
                t_cmd = robot.next_cmd_after(t_pub, 0.045)
                if t_cmd is None:
                    raise RuntimeError("no LowCmd within 45 ms of a LowState")
                latencies.append(1000.0 * (t_cmd - t_pub))
            robot.stream(500.0)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    finally:
        robot.stop_stream()
        for p in (server, high):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()
        private.stop()
    result = json.loads(summary.read_text())
    if result["faults"]:
        raise RuntimeError("the server faulted: {}".format(result["faults"]))
    out = {
        "policy_steps": result["policy_steps"],
        "server_latency_ms": {
            "p50": result["latency_p50_ms"],
            "p99": result["latency_p99_ms"],
            "max": result["latency_max_ms"],
        },
        "reference_status_steps": result["reference_status_steps"],
    }
    if paired:
        out["robot_side_latency_ms"] = stats(latencies)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3000, help="policy steps measured in each run")
    p.add_argument("--policy_path", default=None, help="default: the shipped student")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    base = random.SystemRandom().randrange(10, 150)
    with tempfile.TemporaryDirectory() as tmp:
        stream = run_once(False, args.steps, args.policy_path, Path(tmp), base)
        paired = run_once(True, args.steps, args.policy_path, Path(tmp), base + 1)
    from importlib import metadata

    result = {
        "benchmark": "real server LowState -> LowCmd latency over loopback DDS (policy state, 50 Hz)",
        "date": datetime.date.today().isoformat(),
        "device": "{} ({} cores)".format(cpu_model(), os.cpu_count()),
        "command": "python bench/bench_real_server_latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cyclonedds": metadata.version("cyclonedds"),
        "python": platform.python_version(),
        "robot_rate_500hz": stream,
        "one_state_per_period": paired,
        "note": "server_latency_ms: measured inside the server, from the arrival of the LowState it used (its DDS "
        "callback) to its LowCmd written; robot_side_latency_ms: measured by the emulated robot, from "
        "LowState written to LowCmd received (both DDS hops). Each step includes the Redis round trip, "
        "the observation and the policy (the high-level server streaming every clip in the same machine).",
    }
    print(json.dumps(result, indent=1))
    out = (
        Path(args.out)
        if args.out
        else REPO_ROOT / "bench" / "results" / "real_server_latency_{}.json".format(result["date"])
    )
    write_result(out, result, indent=1)
    return result


if __name__ == "__main__":
    main()
