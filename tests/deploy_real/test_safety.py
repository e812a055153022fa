"""The reference gate (hold, blend, default) and the PD-target guard (README, "Deploy": safety)."""

import numpy as np
import pytest

from deploy_real.contract import default_mimic_vector, encode_floats, encode_meta
from deploy_real.safety import PDTargetGuard, ReferenceGate, RefStatus
from pose.g1_model import load_g1

G1 = load_g1()
DEFAULT = default_mimic_vector()


def ref(offset):
    r = DEFAULT.copy()
    r[8:31] += offset  # a pose near the default
    r[0] = 0.75
    return r


def msg(r):
    return encode_floats(r).encode()


def test_default_until_the_first_valid_message():
    g = ReferenceGate()
    out, status = g.update(None, None, now=0.0, wall_ms=0.0)
    assert status is RefStatus.DEFAULT and np.array_equal(out, DEFAULT)
    out, status = g.update(b"[1, 2]", None, now=0.02, wall_ms=20.0)
    assert status is RefStatus.DEFAULT and g.rejected == 1 and "expected 33 numbers" in g.last_error
    assert g.stale == 0  # nothing to be stale about before a first reference


def test_fresh_then_hold_then_blend_to_default():
    g = ReferenceGate(max_age=0.1, hold_s=0.1, blend_s=1.0)
    r = ref(0.1)
    out, status = g.update(msg(r), encode_meta(1, 1000.0), now=10.0, wall_ms=1000.0)
    assert status is RefStatus.FRESH and np.allclose(out, r)
    # the same message (same seq) 60 ms later: still fresh
    out, status = g.update(msg(r), encode_meta(1, 1000.0), now=10.06, wall_ms=1060.0)
    assert status is RefStatus.FRESH
    # 150 ms after it was sent: stale; held (last valid at t=10.06, 0.09 s ago)
    out, status = g.update(msg(r), encode_meta(1, 1000.0), now=10.15, wall_ms=1150.0)
    assert status is RefStatus.HOLD and np.allclose(out, r)
    # Redis unreachable: 0.1 s hold ends at 10.16, then a linear blend over 1 s
    out, status = g.update(None, None, now=10.66, wall_ms=1660.0)
    assert status is RefStatus.BLEND
    np.testing.assert_allclose(out, 0.5 * r + 0.5 * DEFAULT, atol=1e-12)
    out, status = g.update(None, None, now=11.2, wall_ms=2200.0)
    assert status is RefStatus.DEFAULT and np.allclose(out, DEFAULT)
    assert g.stale == 3
    # a new message brings the reference back at once
    r2 = ref(-0.1)
    out, status = g.update(msg(r2), encode_meta(2, 2220.0), now=11.22, wall_ms=2220.0)
    assert status is RefStatus.FRESH and np.allclose(out, r2)


def test_blend_to_the_default_keeps_the_last_heading():
    """A reference facing 2.5 rad goes stale: the body blends to the default, the yaw stays at 2.5 (the
    default's is 0), through the blend and after it; a later stale spell starts from its own heading."""
    g = ReferenceGate(max_age=0.1, hold_s=0.1, blend_s=1.0)
    r = ref(0.1)
    r[3] = 2.5
    g.update(msg(r), encode_meta(1, 1000.0), now=10.0, wall_ms=1000.0)
    out, status = g.update(None, None, now=10.6, wall_ms=1600.0)
    expected = 0.5 * r + 0.5 * DEFAULT
    expected[3] = 2.5
    assert status is RefStatus.BLEND
    np.testing.assert_allclose(out, expected, atol=1e-12)
    out, status = g.update(None, None, now=11.5, wall_ms=2500.0)
    expected = DEFAULT.copy()
    expected[3] = 2.5
    assert status is RefStatus.DEFAULT and np.allclose(out, expected)
    r2 = ref(0.0)
    r2[3] = -1.0
    g.update(msg(r2), encode_meta(2, 2520.0), now=11.52, wall_ms=2520.0)
    out, status = g.update(None, None, now=13.0, wall_ms=4000.0)
    assert status is RefStatus.DEFAULT and out[3] == -1.0


def test_sender_time_too_old_or_in_the_future_is_stale():
    g = ReferenceGate()
    out, status = g.update(msg(ref(0.1)), encode_meta(1, 1000.0), now=0.0, wall_ms=1200.0)
    assert status is RefStatus.DEFAULT
    out, status = g.update(msg(ref(0.1)), encode_meta(2, 5000.0), now=0.02, wall_ms=1220.0)
    assert status is RefStatus.DEFAULT


def test_invalid_meta_and_invalid_reference_are_not_used():
    g = ReferenceGate()
    r = ref(0.05)
    g.update(msg(r), encode_meta(1, 0.0), now=0.0, wall_ms=0.0)
    bad = r.copy()
    bad[10] = np.nan
    out, status = g.update(encode_floats(bad).encode(), encode_meta(2, 20.0), now=0.02, wall_ms=20.0)
    assert status is RefStatus.HOLD and np.allclose(out, r) and g.rejected == 1
    out, status = g.update(msg(ref(0.2)), b'{"seq": null}', now=0.04, wall_ms=40.0)
    assert status is RefStatus.HOLD and g.rejected == 2 and "seq" in g.last_error


def test_source_without_meta_is_fresh_while_it_changes():
    g = ReferenceGate()
    out, status = g.update(msg(ref(0.1)), None, now=0.0, wall_ms=0.0)
    assert status is RefStatus.FRESH and g.legacy
    out, status = g.update(msg(ref(0.1)), None, now=0.08, wall_ms=80.0)
    assert status is RefStatus.FRESH
    out, status = g.update(msg(ref(0.1)), None, now=0.15, wall_ms=150.0)  # unchanged for 0.15 s
    assert status is RefStatus.HOLD
    out, status = g.update(msg(ref(0.12)), None, now=0.17, wall_ms=170.0)
    assert status is RefStatus.FRESH


def test_guard_clips_actions_clamps_targets_and_holds_on_non_finite():
    lower, upper = G1.dof_lower, G1.dof_upper
    guard = PDTargetGuard(G1.default_dof_pos, lower, upper)
    a = np.zeros(23)
    a[0] = 1.0
    q = guard.target(a)
    assert q[0] == pytest.approx(G1.default_dof_pos[0] + 0.5)
    np.testing.assert_allclose(q[1:], G1.default_dof_pos[1:])
    a = np.full(23, 1e6)  # clipped to +-10, then clamped to the joint ranges
    q_big = guard.target(a)
    expected = np.clip(G1.default_dof_pos + 5.0, lower, upper)
    np.testing.assert_allclose(q_big, expected)
    assert np.all(q_big <= upper) and np.all(q_big >= lower)
    for bad in (np.full(23, np.nan), np.r_[np.zeros(22), np.inf], np.zeros(5)):
        np.testing.assert_array_equal(guard.target(bad), q_big)
    assert guard.nonfinite_actions == 3
