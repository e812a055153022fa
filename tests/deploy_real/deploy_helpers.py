"""Helpers of the deploy tests: the servers as separate processes (the Redis fixtures are in tests/conftest.py)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOW_LEVEL = REPO_ROOT / "deploy_real" / "server_low_level_g1_sim.py"
HIGH_LEVEL = REPO_ROOT / "deploy_real" / "server_high_level_motion_lib.py"


def start_server(script, args, cwd, log_path):
    """A deploy server as a separate process, as the README starts it (from any directory)."""
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, str(script)] + [str(a) for a in args], cwd=str(cwd), stdout=log, stderr=subprocess.STDOUT
    ), log


REAL_SERVER = REPO_ROOT / "deploy_real" / "server_low_level_g1_real.py"


def start_module(module, args, cwd, log_path):
    """`python -m module args` as a separate process, from any directory (the repository on PYTHONPATH)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "-m", module] + [str(a) for a in args],
        cwd=str(cwd),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    ), log


def stop(proc, log, timeout=60):
    """SIGINT (Ctrl-C) to a server still running, then its exit status; closes its log."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        log.close()
    return rc


def wait_for(predicate, timeout, what, poll=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError("timed out waiting for " + what)
