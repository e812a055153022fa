"""Real-time pacing of the 50 Hz server loops."""
from __future__ import annotations

import time


class Pacer:
    """`wait()` returns at t0 + k * dt on the monotonic clock, so the loop does not drift; a step more
    than one period late is not made up by a burst of steps: the schedule restarts from now."""

    def __init__(self, dt: float = 0.02) -> None:
        self.dt = float(dt)
        self.next_t = time.monotonic()
        self.overruns = 0

    def wait(self) -> None:
        self.next_t += self.dt
        delay = self.next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -self.dt:
            self.overruns += 1
            self.next_t = time.monotonic()
