"""What stands between the wire and the motors (README, "Deploy": safety).

- `ReferenceGate`: which 33-D reference the policy gets at each policy step. A valid message is used when
  it is fresh: its meta key's `seq` changed within `max_age` (0.1 s), or, from a source without the meta
  key (TWIST's, GMR's), the message itself changed within `max_age`. Changes are timed on this machine's
  monotonic clock, never on the sender's: a sender on a second machine whose clock is off still works,
  and one that stops (or a Redis that stops delivering) is stale within 0.1 s. The sender's `t_ms` only
  (a) lets a meta key seen for the first time count at once when it is within `max_age` of this machine's
  wall clock (a live stream from this machine), and (b) is compared with this clock while the stream is
  live: a median offset of more than `max_age` over `CLOCK_CHECK_CHANGES` seq changes is logged once
  ("sync clocks"; a delay cannot be told from an offset, so it stops nothing; one late step of either side,
  a process descheduled on a loaded computer, moves no median). Whatever is in Redis when the gate starts
  (a server start, the real robot's A) is only the baseline: a message left by an earlier session never
  counts until it changes, so its pose and heading are never taken. A meta key whose `seq` has not
  changed for `META_LEFTOVER_S` (2 s) while the message keeps changing was left by another source: it is
  ignored (one log line naming it) until its `seq` changes again, and the message is judged by its changes. A message is validated once, when it
  changes (a rejected one is not parsed again every step).
  When no message is fresh (invalid, missing, stale, Redis unreachable), the last valid reference is held
  for up to `hold_s` (0.1 s), then the reference blends linearly to the default (standing) vector at the
  last reference's heading over `blend_s` (1 s) and stays there (standing still never asks for a turn).
  Until the first fresh message the default is used, so either server may start first. A stream that
  becomes fresh while the gate is on the default or blending to it (the first one, a restarted one) is
  blended in: over `blend_in_s` (0.5 s) the reference goes linearly from what the gate gave last to the
  stream's current frame (status BLEND_IN), so the policy never gets a step from the standing pose to a
  pose in the middle of a clip (a training episode starts on its reference). A stream back while the gate
  was blending to the default is blended in over the same share of `blend_in_s` as the blend out had
  reached (a link that drops out for 0.3 s now and then still gets FRESH steps). The yaw entry is the
  stream's from the first blended step: a heading blended from the default's would ask an absolute-yaw
  policy for a turn it cannot tell from a real one (a relative-yaw one aligns on the stream, `student_step`).
  `rejected`,
  `stale`, `last_error` and `stale_reason` say what went wrong, for the servers' reports.
- `tilt_angle`: the pelvis tilt from upright, from the IMU orientation: the real server faults into
  damping beyond the config's `max_tilt_rad`; the sim2sim server reports when its robot would have.
- `mix_references`: the one interpolation of two 33-D vectors with a turn between them (the high-level
  server's ramps, the CMG stream's stop): linear, the yaw along the shorter arc.
- `PDTargetGuard`: action -> PD targets. A non-finite action holds the last targets; actions are
  clipped to +-action_clip; every target is clamped to its joint range. Nothing non-finite or out of
  range leaves it.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from typing import Callable, Deque, Optional, Tuple, Union

import numpy as np
import torch

from deploy_real.contract import (
    MIMIC_KEY,
    MIMIC_META_KEY,
    MessageError,
    MimicMeta,
    default_mimic_vector,
    validate_meta,
    validate_mimic,
)
from legged_gym.envs.mdp.observations import REF_YAW_ENTRY
from pose.utils.torch_utils import wrap_angle

MAX_REF_AGE_S = 0.1
HOLD_S = 0.1
BLEND_S = 1.0
BLEND_IN_S = 0.5
#: a meta key whose seq stays unchanged this long while the reference message changes is another source's leftover
META_LEFTOVER_S = 2.0
#: seq changes of a live stream over whose median t_ms offset from this clock the "sync clocks" line is decided
CLOCK_CHECK_CHANGES = 25


class RefStatus(enum.Enum):
    FRESH = "fresh"  # a valid message of at most max_age
    HOLD = "hold"  # the last valid reference, kept for up to hold_s
    BLEND = "blend"  # blending from the last valid reference to the default
    DEFAULT = "default"  # the default reference (at start, or after a blend)
    BLEND_IN = "blend_in"  # blending from the default (or a blend to it) into a stream that became fresh


def mix_references(start: np.ndarray, end: np.ndarray, w: float) -> np.ndarray:
    """(1 - w) * start + w * end for 33-D (or 31-D) reference vectors, the yaw entry turned from start's by w
    times the shorter arc to end's (wrapped into [-pi, pi)), so no blend turns the long way round."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    out = (1.0 - w) * start + w * end
    turn = wrap_angle(torch.tensor(end[REF_YAW_ENTRY] - start[REF_YAW_ENTRY], dtype=torch.float64))
    out[REF_YAW_ENTRY] = float(wrap_angle(start[REF_YAW_ENTRY] + w * turn))
    return out


def _as_bytes(raw) -> bytes:
    return bytes(raw) if isinstance(raw, (bytes, bytearray)) else str(raw).encode()


class ReferenceGate:
    """See the module docstring. Times are the caller's: `now` monotonic s, `wall_ms` wall clock ms.
    `log` gets the one-off lines (a leftover meta key, a sender's clock off)."""

    def __init__(
        self,
        default: Optional[np.ndarray] = None,
        max_age: float = MAX_REF_AGE_S,
        hold_s: float = HOLD_S,
        blend_s: float = BLEND_S,
        blend_in_s: float = BLEND_IN_S,
        log: Callable[[str], None] = print,
    ) -> None:
        self.default = default_mimic_vector() if default is None else np.asarray(default, dtype=np.float64)
        self.max_age, self.hold_s, self.blend_s = float(max_age), float(hold_s), float(blend_s)
        self.blend_in_s = float(blend_in_s)
        self.log = log
        self.last_valid: Optional[np.ndarray] = None
        self.last_valid_time = -np.inf  # monotonic time of the last fresh message
        self._raw: Optional[bytes] = None  # the message last read (None: none yet) and its validation
        self._parsed: Union[np.ndarray, MessageError, None] = None
        self._raw_change = -np.inf  # when the message last changed (the first one read is the baseline)
        self._raw_meta: Optional[bytes] = None  # the meta key last read and its validation
        self._meta: Union[MimicMeta, MessageError, None] = None
        self._seq: Optional[int] = None
        self._seq_since = -np.inf  # when the current seq was first read
        self._seq_change = -np.inf  # when the seq last changed (its first value: only if its t_ms is now)
        self.meta_ignored = False  # the meta key is another source's leftover
        self._clock_warned = False
        self._clock_offsets: Deque[float] = deque(maxlen=CLOCK_CHECK_CHANGES)  # ms, of the last live seq changes
        self.rejected = 0  # invalid messages (each distinct message counted once)
        self.stale = 0  # policy steps without a fresh reference after the first one
        self.legacy = False  # a message was judged without a meta key
        self.last_error: Optional[str] = None  # the last rejection
        self.stale_reason = ""  # why the last step had no fresh message
        self._blend_from: Optional[np.ndarray] = None
        self._blend_to = self.default  # the default at the heading of the reference the blend starts from
        #: (the vector it starts from, its start time, its length in s)
        self._blend_in: Optional[Tuple[np.ndarray, float, float]] = None
        self._blend_out_w = 0.0  # how far the last blend to the default got (1: reached)
        self._given: Tuple[np.ndarray, RefStatus] = (self.default, RefStatus.DEFAULT)  # the last update's answer

    def update(self, raw_mimic, raw_meta, now: float, wall_ms: float) -> Tuple[np.ndarray, RefStatus]:
        """The reference to use now and why. raw_mimic/raw_meta: the Redis values (None if missing or
        Redis is unreachable)."""
        ref = self._fresh(raw_mimic, raw_meta, now, wall_ms)
        out, status = self._fresh_or_blend_in(ref, now) if ref is not None else self._stale_reference(now)
        self._given = (out, status)
        return out.copy(), status

    def _fresh_or_blend_in(self, ref: np.ndarray, now: float) -> Tuple[np.ndarray, RefStatus]:
        """A fresh stream's frame, or while blending in, the mix of the vector the blend-in started from and it.
        The reference held and blended from when the stream stops is the one given."""
        given, given_status = self._given
        if given_status in (RefStatus.DEFAULT, RefStatus.BLEND):
            share = 1.0 if given_status is RefStatus.DEFAULT else self._blend_out_w
            self._blend_in = (given, now, share * self.blend_in_s)
        out, status = ref, RefStatus.FRESH
        if self._blend_in is not None:
            start, t0, length = self._blend_in
            w = (now - t0) / length if length > 0.0 else 1.0
            if w < 1.0 - 1e-9:  # (the tolerance: steps of exactly 0.02 s end it on the step due)
                out, status = (1.0 - w) * start + w * ref, RefStatus.BLEND_IN
                out[REF_YAW_ENTRY] = ref[REF_YAW_ENTRY]  # the stream's heading (module docstring)
            else:
                self._blend_in = None
        self.last_valid, self.last_valid_time, self._blend_from = out, now, None
        return out, status

    def _stale_reference(self, now: float) -> Tuple[np.ndarray, RefStatus]:
        """No fresh message: the default before the first one, else hold, then blend to the default."""
        if self.last_valid is None:
            return self.default, RefStatus.DEFAULT
        self.stale += 1
        since = now - self.last_valid_time
        if since <= self.hold_s:
            return self.last_valid, RefStatus.HOLD
        if self._blend_from is None:
            self._blend_from = self.last_valid.copy()
            self._blend_to = self.default.copy()
            self._blend_to[REF_YAW_ENTRY] = self._blend_from[REF_YAW_ENTRY]  # the 33-D vector's yaw: same index
        w = min((since - self.hold_s) / self.blend_s, 1.0)
        self._blend_out_w = w
        out = (1.0 - w) * self._blend_from + w * self._blend_to
        return out, (RefStatus.BLEND if w < 1.0 else RefStatus.DEFAULT)

    def _validated(self, validate, raw: bytes):
        try:
            return validate(raw)
        except MessageError as e:
            self.rejected += 1
            self.last_error = str(e)
            return e

    def _fresh(self, raw_mimic, raw_meta, now: float, wall_ms: float) -> Optional[np.ndarray]:
        if raw_mimic is None:
            self.stale_reason = "no {} (key missing, or Redis unreachable)".format(MIMIC_KEY)
            return None
        raw = _as_bytes(raw_mimic)
        if raw != self._raw:
            if self._raw is not None:
                self._raw_change = now
            self._raw = raw
            self._parsed = self._validated(validate_mimic, raw)
        meta = None
        if raw_meta is not None:
            raw_meta = _as_bytes(raw_meta)
            if raw_meta != self._raw_meta:
                self._raw_meta = raw_meta
                self._meta = self._validated(validate_meta, raw_meta)
            meta = self._meta
        for parsed in (self._parsed, meta):
            if isinstance(parsed, MessageError):
                self.stale_reason = "rejected: {}".format(parsed)
                return None
        assert isinstance(self._parsed, np.ndarray)
        if meta is not None:
            assert isinstance(meta, MimicMeta)
            self._track_seq(meta, now, wall_ms)
            if not self.meta_ignored:
                if now - self._seq_change <= self.max_age:
                    return self._parsed
                self.stale_reason = "{}.seq {} {}".format(
                    MIMIC_META_KEY, meta.seq, self._unchanged(self._seq_change, now)
                )
                return None
        self.legacy = True
        if now - self._raw_change <= self.max_age:
            return self._parsed
        self.stale_reason = "{} {} (no meta key: fresh while it changes)".format(
            MIMIC_KEY, self._unchanged(self._raw_change, now)
        )
        return None

    @staticmethod
    def _unchanged(last_change: float, now: float) -> str:
        if last_change == -np.inf:
            return "unchanged since it was first read (a value left from before counts once it changes)"
        return "unchanged for {:.2f} s".format(now - last_change)

    def _check_clock(self, off_ms: float) -> None:
        """Logs "sync clocks" once, when the median offset of the last CLOCK_CHECK_CHANGES live seq changes
        is beyond max_age."""
        self._clock_offsets.append(off_ms)
        if len(self._clock_offsets) < CLOCK_CHECK_CHANGES:
            return
        median = float(np.median(self._clock_offsets))
        if abs(median) > 1000.0 * self.max_age:
            self._clock_warned = True
            self.log(
                "{}.t_ms of the live stream is {:.0f} ms {} this computer's clock (median of {} messages): sync "
                "clocks (chrony/NTP) between the sender and this computer. The stream is used (freshness is judged "
                "by its seq changing, on this clock), but its delay cannot be checked".format(
                    MIMIC_META_KEY, abs(median), "behind" if median > 0 else "ahead of", CLOCK_CHECK_CHANGES
                )
            )

    def _track_seq(self, meta: MimicMeta, now: float, wall_ms: float) -> None:
        off_ms = wall_ms - meta.t_ms  # > 0: the message looks old (sender's clock behind, or a delay)
        if meta.seq != self._seq:
            live = self._seq is not None  # a change seen here, not the first value read
            self._seq, self._seq_since = meta.seq, now
            if live or abs(off_ms) <= 1000.0 * self.max_age:
                self._seq_change = now
            if live and self.meta_ignored:
                self.meta_ignored = False
                self.log("{}.seq changes again: judging {} by it".format(MIMIC_META_KEY, MIMIC_KEY))
            if live and not self._clock_warned:
                self._check_clock(off_ms)
        elif (
            not self.meta_ignored
            and now - self._seq_since >= META_LEFTOVER_S
            and now - self._raw_change <= self.max_age
        ):
            self.meta_ignored = True
            self.log(
                "{} is stale: seq {} unchanged for {:.1f} s while {} changes (a leftover of an earlier source?); "
                "ignored until its seq changes: {} is fresh while it changes".format(
                    MIMIC_META_KEY, meta.seq, now - self._seq_since, MIMIC_KEY, MIMIC_KEY
                )
            )


def tilt_angle(quat_wxyz: np.ndarray) -> float:
    """Angle (rad) between the pelvis z axis and the world's vertical, from the IMU orientation."""
    w, x, y, z = np.asarray(quat_wxyz, dtype=np.float64) / np.linalg.norm(quat_wxyz)
    return float(math.acos(min(max(1.0 - 2.0 * (x * x + y * y), -1.0), 1.0)))


class PDTargetGuard:
    """Actions -> PD targets that are always finite and inside the joint ranges."""

    def __init__(self, default_dof_pos, lower, upper, action_scale: float = 0.5, action_clip: float = 10.0) -> None:
        self.default = np.asarray(default_dof_pos, dtype=np.float64)
        self.lower, self.upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
        self.action_scale, self.action_clip = float(action_scale), float(action_clip)
        self.last_target = np.clip(self.default, self.lower, self.upper)
        self.nonfinite_actions = 0
        self.unusable_in_a_row = 0  # the actions not used since the last one used
        self.last_error: Optional[str] = None  # what was wrong with the last action not used

    def target(self, action) -> np.ndarray:
        """PD targets of `action` (the raw policy output), or the last targets if it is not finite."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.default.shape or not np.all(np.isfinite(a)):
            self.nonfinite_actions += 1
            self.unusable_in_a_row += 1
            if a.shape != self.default.shape:
                self.last_error = "action of shape {}, expected {}".format(a.shape, self.default.shape)
            else:
                i = int(np.flatnonzero(~np.isfinite(a))[0])
                self.last_error = "action[{}] = {}".format(i, a[i])
            return self.last_target.copy()
        self.unusable_in_a_row = 0
        c = self.action_clip  # np.minimum / np.maximum: what np.clip does, at half its cost on 23 values
        q = self.default + self.action_scale * np.minimum(np.maximum(a, -c), c)
        self.last_target = np.minimum(np.maximum(q, self.lower), self.upper)
        return self.last_target.copy()
