"""RedisLink against a real redis-server: error replies (out of memory, READONLY, NOAUTH) and a service that
is not Redis are survived like a lost connection, logged once with the server's message, and leave no
unread reply behind; values longer than asked are read only in part; the --redis_url errors."""

import socket
import threading
import time

import pytest
import redis

from deploy_real.redis_link import TIMEOUT_S, RedisLink


@pytest.fixture
def link(redis_server):
    lines = []
    link = RedisLink(redis_server.url, start_private=False, log=lines.append)
    link.lines = lines
    yield link
    link.close()


def admin(redis_server, **kwargs):
    return redis.Redis(port=redis_server.port, socket_timeout=2, **kwargs)


def test_error_replies_hold_like_a_lost_connection_and_are_logged_once(redis_server, link):
    r = admin(redis_server)
    r.set("a", "1")
    r.set("b", "2")
    assert link.exchange({"s": "x"}, ["a", "b", "missing"], 100) == [b"1", b"2", None]
    r.config_set("maxmemory", 1)  # every write refused: OOM
    try:
        for _ in range(20):
            assert link.exchange({"s": "y"}, ["a", "b"], 100) is None
            assert link.set_many({"a": "3"}) is False
    finally:
        r.config_set("maxmemory", 0)
    assert link.errors == 40
    assert len(link.lines) == 1, link.lines
    assert link.lines[0].startswith("[redis] no usable answer from {} (OutOfMemoryError: ".format(link.url))
    assert "maxmemory" in link.lines[0]
    # back: each value where it belongs (no reply of the failed calls left unread on the connection)
    for k in range(5):
        r.set("b", str(k))
        assert link.exchange({"s": str(k)}, ["a", "b"], 100) == [b"1", str(k).encode()]
    assert r.get("s") == b"4" and link.lines[-1] == "[redis] reconnected to {}".format(link.url)
    # READONLY: a replica (of a master that is not there) refuses writes
    r.execute_command("REPLICAOF", "127.0.0.1", "1")
    try:
        assert link.exchange({"s": "z"}, ["a"], 100) is None
        assert link.set_many({"a": "z"}) is False
        assert link.delete("a") is False
    finally:
        r.execute_command("REPLICAOF", "NO", "ONE")
    assert "(ReadOnlyError: You can't write against a read only replica.)" in link.lines[-1]
    assert link.exchange({"s": "w"}, ["a"], 100) == [b"1"]
    # NOAUTH: a password set while the link runs (its next connection is refused)
    link.set_many({"a": "4"})
    r.config_set("requirepass", "secret")
    try:
        r.client_kill_filter(_type="normal", skipme=True)  # the link's connections go; it connects anew
        for _ in range(2):
            assert link.exchange({}, ["a"], 100) is None
        assert "(AuthenticationError: " in link.lines[-1]  # the server asks for a password
    finally:
        admin(redis_server, password="secret").config_set("requirepass", "")
    assert link.exchange({}, ["a"], 100) == [b"4"]
    # an error of one command inside the transaction (a list where a string is read)
    r.rpush("lst", "1")
    assert link.exchange({}, ["a", "lst"], 100) is None
    assert "WRONGTYPE" in link.lines[-1]


def test_a_redis_that_does_not_answer_costs_each_call_its_timeout(redis_server, link):
    """A Redis that keeps the connection but does not answer (writes paused): each call gives up after the link's
    timeout, half the 20-ms control period (a 50 Hz loop keeps its rate; with the 50 ms before, it ran at 19 Hz
    on states older than the real server's 50-ms limit), is counted and logged once; once Redis answers, the
    next call reads."""
    from deploy_real.real_config import load_real_config

    assert link.client.connection_pool.connection_kwargs["socket_timeout"] == TIMEOUT_S
    assert TIMEOUT_S <= 0.5 * load_real_config().control_dt
    r = admin(redis_server)
    r.set("a", "1")
    r.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
    try:
        t0 = time.monotonic()
        for _ in range(20):
            assert link.exchange({"s": "x"}, ["a"], 100) is None
        elapsed = time.monotonic() - t0
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
    assert elapsed < 2.5  # ended by the timeouts, not by the 5-s pause
    assert link.errors == 20 and len(link.lines) == 1 and "TimeoutError" in link.lines[0], link.lines
    assert link.exchange({"s": "y"}, ["a"], 100) == [b"1"]
    assert r.get("s") == b"y"


def test_values_are_read_up_to_max_bytes_plus_one(redis_server, link):
    r = admin(redis_server)
    r.set("big", b"x" * 40_000_000)
    r.set("small", b"y" * 100)
    r.set("empty", b"")
    big, small, empty = link.exchange({}, ["big", "small", "empty"], 100)
    assert big == b"x" * 101 and small == b"y" * 100 and empty is None


def test_a_service_that_is_not_redis_is_named_at_start():
    """Something else answers on the port (an HTTP server, say): the error says what it answered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def answer():
        for _ in range(4):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(RuntimeError) as e:
            RedisLink("redis://127.0.0.1:{}/0".format(port), log=lambda msg: None)
    finally:
        server.close()
    assert str(e.value).startswith("no Redis answers at redis://127.0.0.1:{}/0 (InvalidResponse: ".format(port))


@pytest.mark.parametrize(
    "url, error",
    [
        ("redis://localhost:99999/0", "--redis_url 'redis://localhost:99999/0': Port out of range 0-65535"),
        ("redis://localhost:port/0", "--redis_url 'redis://localhost:port/0': Port could not be cast"),
        ("http://localhost:6379", "--redis_url 'http://localhost:6379': expected redis://host:port/db"),
    ],
)
def test_a_bad_url_names_the_flag(url, error):
    with pytest.raises(ValueError) as e:
        RedisLink(url)
    assert str(e.value).startswith(error)
