"""What stands between the wire and the motors (README, "Deploy": safety).

- `ReferenceGate`: which 33-D reference the policy gets at each policy step. A valid message whose
  sender time and arrival are at most `max_age` (0.1 s) old is used. When none is (invalid, missing,
  stale, Redis unreachable), the last valid reference is held for up to `hold_s` (0.1 s), then the
  reference blends linearly to the default (standing) vector at the last reference's heading over
  `blend_s` (1 s) and stays there (standing still never asks for a turn). Until the first valid message
  the default is used, so either server may start first.
- `PDTargetGuard`: action -> PD targets. A non-finite action holds the last targets; actions are
  clipped to +-action_clip; every target is clamped to its joint range. Nothing non-finite or out of
  range leaves it.
"""

from __future__ import annotations

import enum
from typing import Optional, Tuple

import numpy as np

from deploy_real.contract import MessageError, MimicMeta, default_mimic_vector, validate_meta, validate_mimic
from legged_gym.envs.mdp.observations import REF_YAW_ENTRY

MAX_REF_AGE_S = 0.1
HOLD_S = 0.1
BLEND_S = 1.0


class RefStatus(enum.Enum):
    FRESH = "fresh"  # a valid message of at most max_age
    HOLD = "hold"  # the last valid reference, kept for up to hold_s
    BLEND = "blend"  # blending from the last valid reference to the default
    DEFAULT = "default"  # the default reference (at start, or after a blend)


class ReferenceGate:
    """See the module docstring. Times are the caller's: `now` monotonic s, `wall_ms` wall clock ms."""

    def __init__(
        self,
        default: Optional[np.ndarray] = None,
        max_age: float = MAX_REF_AGE_S,
        hold_s: float = HOLD_S,
        blend_s: float = BLEND_S,
    ) -> None:
        self.default = default_mimic_vector() if default is None else np.asarray(default, dtype=np.float64)
        self.max_age, self.hold_s, self.blend_s = float(max_age), float(hold_s), float(blend_s)
        self.last_valid: Optional[np.ndarray] = None
        self.last_valid_time = -np.inf  # monotonic time of the last fresh message
        self._last_seq: Optional[int] = None
        self._seq_time = -np.inf  # monotonic time the meta's seq last changed
        self._last_raw: Optional[bytes] = None
        self._last_change = -np.inf  # monotonic time the message last changed
        self.rejected = 0  # invalid messages (each distinct message counted once)
        self.stale = 0  # policy steps without a fresh reference after the first one
        self.legacy = False  # a source without the meta key was seen
        self.last_error: Optional[str] = None
        self._blend_from: Optional[np.ndarray] = None
        self._blend_to = self.default  # the default at the heading of the reference the blend starts from

    def update(self, raw_mimic, raw_meta, now: float, wall_ms: float) -> Tuple[np.ndarray, RefStatus]:
        """The reference to use now and why. raw_mimic/raw_meta: the Redis values (None if missing or
        Redis is unreachable)."""
        ref = self._fresh(raw_mimic, raw_meta, now, wall_ms)
        if ref is not None:
            self.last_valid, self.last_valid_time, self._blend_from = ref, now, None
            return ref, RefStatus.FRESH
        if self.last_valid is None:
            return self.default.copy(), RefStatus.DEFAULT
        self.stale += 1
        since = now - self.last_valid_time
        if since <= self.hold_s:
            return self.last_valid.copy(), RefStatus.HOLD
        if self._blend_from is None:
            self._blend_from = self.last_valid.copy()
            self._blend_to = self.default.copy()
            self._blend_to[REF_YAW_ENTRY] = self._blend_from[REF_YAW_ENTRY]  # the 33-D vector's yaw: same index
        w = min((since - self.hold_s) / self.blend_s, 1.0)
        out = (1.0 - w) * self._blend_from + w * self._blend_to
        return out, (RefStatus.BLEND if w < 1.0 else RefStatus.DEFAULT)

    def _fresh(self, raw_mimic, raw_meta, now: float, wall_ms: float) -> Optional[np.ndarray]:
        if raw_mimic is None:
            return None
        raw = bytes(raw_mimic) if isinstance(raw_mimic, (bytes, bytearray)) else str(raw_mimic).encode()
        changed = raw != self._last_raw
        if changed:
            self._last_raw, self._last_change = raw, now
        try:
            ref = validate_mimic(raw)
            meta = validate_meta(raw_meta) if raw_meta is not None else None
        except MessageError as e:
            if changed:
                self.rejected += 1
                self.last_error = str(e)
            return None
        if meta is None:  # a TWIST-era source: fresh while the message keeps changing
            self.legacy = True
            return ref if now - self._last_change <= self.max_age else None
        return ref if self._meta_fresh(meta, now, wall_ms) else None

    def _meta_fresh(self, meta: MimicMeta, now: float, wall_ms: float) -> bool:
        if meta.seq != self._last_seq:
            self._last_seq = meta.seq
            self._seq_time = now
        age_sender = (wall_ms - meta.t_ms) / 1000.0
        return -self.max_age <= age_sender <= self.max_age and now - self._seq_time <= self.max_age


class PDTargetGuard:
    """Actions -> PD targets that are always finite and inside the joint ranges."""

    def __init__(self, default_dof_pos, lower, upper, action_scale: float = 0.5, action_clip: float = 10.0) -> None:
        self.default = np.asarray(default_dof_pos, dtype=np.float64)
        self.lower, self.upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
        self.action_scale, self.action_clip = float(action_scale), float(action_clip)
        self.last_target = np.clip(self.default, self.lower, self.upper)
        self.nonfinite_actions = 0

    def target(self, action) -> np.ndarray:
        """PD targets of `action` (the raw policy output), or the last targets if it is not finite."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.default.shape or not np.all(np.isfinite(a)):
            self.nonfinite_actions += 1
            return self.last_target.copy()
        c = self.action_clip  # np.minimum / np.maximum: what np.clip does, at half its cost on 23 values
        q = self.default + self.action_scale * np.minimum(np.maximum(a, -c), c)
        self.last_target = np.minimum(np.maximum(q, self.lower), self.upper)
        return self.last_target.copy()
