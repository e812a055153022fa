"""The 50 Hz server loops: real-time pacing, and stopping cleanly on Ctrl-C, SIGTERM, SIGHUP or SIGQUIT."""

from __future__ import annotations

import argparse
import signal
import time


class Pacer:
    """`wait()` returns at t0 + k * dt on the monotonic clock, so the loop does not drift; a step more
    than one period late is not made up by a burst of steps: the schedule restarts from now.

    `overruns` counts the steps whose work (from the previous `wait()`'s return, or the Pacer's creation,
    to this `wait()`) took longer than the period: every step of a loop slower than real time, not only
    those that end up a whole period late."""

    def __init__(self, dt: float = 0.02) -> None:
        self.dt = float(dt)
        self.next_t = time.monotonic()
        self.overruns = 0
        self._work_start = self.next_t

    def wait(self) -> None:
        now = time.monotonic()
        if now - self._work_start > self.dt:
            self.overruns += 1
        self.next_t += self.dt
        delay = self.next_t - now
        if delay > 0:
            time.sleep(delay)
        elif delay < -self.dt:
            self.next_t = now
        self._work_start = time.monotonic()


#: the signals that stop a server cleanly: Ctrl-C, `kill`, a closed terminal or lost SSH session, Ctrl-\\
#: (the last two would otherwise end the process at once: on the real robot without its damping commands)
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


class StopRequest:
    """Turns the `STOP_SIGNALS` into `requested = True`, so a loop ends its step and shuts down cleanly
    (the real-robot server damps for 0.5 s, the high-level server ramps to the default pose; all write
    their summaries)."""

    def __init__(self) -> None:
        self.requested = False
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self.requested = True


def seconds(text: str) -> float:
    """argparse type of a --duration: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("{!r}: expected a number of seconds > 0".format(text))
    return value
