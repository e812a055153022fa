"""The 50 Hz loops' pacing (`deploy_real.pacing.Pacer`): every step whose work takes longer than the period
is an overrun, and the sim2sim server says so at most once a second while the count grows."""

import time

from deploy_real.pacing import Pacer
from deploy_real.server_low_level_g1_sim import OverrunNote

DT = 0.02


def paced(work_s, dt=DT):
    """A Pacer after one step per entry of `work_s` (that step's work: a time.sleep of so many seconds),
    and the seconds they took."""
    pacer = Pacer(dt)
    t0 = time.monotonic()
    for w in work_s:
        if w:
            time.sleep(w)
        pacer.wait()
    return pacer, time.monotonic() - t0


def test_every_step_slower_than_the_period_is_an_overrun():
    # 25 ms of work per 20-ms step: each step is late (before: only the steps a whole period late, 2-3 of 10)
    pacer, _ = paced([0.025] * 10)
    assert pacer.overruns == 10


def test_steps_within_the_period_are_paced_and_not_overruns():
    pacer, took = paced([0.0] * 10)
    assert pacer.overruns == 0
    assert took >= 9 * DT  # it waited for the schedule


def test_one_slow_step_is_one_overrun_and_the_schedule_catches_up():
    # one step of 45 ms (more than a period late: the schedule restarts from then), then quick steps
    pacer, took = paced([0.045] + [0.0] * 6)
    assert pacer.overruns == 1
    assert took >= 0.045 + 5 * DT  # the quick steps after it were paced again, not a burst


class _Counts:
    dt = DT
    overruns = 0


def test_the_overrun_note_is_said_at_most_once_a_period_while_it_grows():
    pacer, lines = _Counts(), []
    note = OverrunNote(pacer, every_s=0.3, log=lines.append)  # type: ignore[arg-type]
    note.check(1)
    assert lines == []  # nothing grew
    pacer.overruns = 2
    note.check(5)
    assert len(lines) == 1 and "slower than real time: 2 of 5 steps took longer than the 20-ms period" in lines[0]
    pacer.overruns = 3
    note.check(6)  # grew, but within the period of the last note
    assert len(lines) == 1
    time.sleep(0.35)
    note.check(7)
    assert len(lines) == 2 and "3 of 7 steps" in lines[1]
    time.sleep(0.35)
    note.check(8)  # did not grow
    assert len(lines) == 2
