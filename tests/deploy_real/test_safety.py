"""The reference gate (hold, blend, default) and the PD-target guard (README, "Deploy": safety)."""

import numpy as np
import pytest

from deploy_real.contract import default_mimic_vector, encode_floats, encode_meta
from deploy_real.safety import CLOCK_CHECK_CHANGES, PDTargetGuard, ReferenceGate, RefStatus
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


def gate(**settings):
    """A gate without the blend-in (a fresh message is given as it is): the freshness rules alone; the blend-in
    has tests of its own below."""
    return ReferenceGate(blend_in_s=0.0, **settings)


def test_default_until_the_first_valid_message():
    g = gate()
    out, status = g.update(None, None, now=0.0, wall_ms=0.0)
    assert status is RefStatus.DEFAULT and np.array_equal(out, DEFAULT)
    out, status = g.update(b"[1, 2]", None, now=0.02, wall_ms=20.0)
    assert status is RefStatus.DEFAULT and g.rejected == 1 and "expected 33 numbers" in g.last_error
    assert g.stale == 0  # nothing to be stale about before a first reference


def test_fresh_then_hold_then_blend_to_default():
    g = gate(max_age=0.1, hold_s=0.1, blend_s=1.0)
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
    g = gate(max_age=0.1, hold_s=0.1, blend_s=1.0)
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


def stream(g, frames, t0, seq0=1):
    """Feed `frames` as a live stream, one every 0.02 s from t0 (each with a new seq): [(out, status)]."""
    got = []
    for k, r in enumerate(frames):
        t = t0 + 0.02 * k
        got.append(g.update(msg(r), encode_meta(seq0 + k, 1000.0 * t), now=t, wall_ms=1000.0 * t))
    return got


def test_a_first_stream_is_blended_in_from_the_default():
    """The first fresh frames (a clip that starts away from the standing pose, turned 3 rad, moving) come in over
    0.5 s: at step k the reference is (1 - w) * default + w * the stream's frame k, w = k * 0.02 / 0.5, but for
    the yaw, the stream's from the first step (no turn from the default's 0 for an absolute-yaw policy to
    follow); from w = 1 on it is the stream's frame."""
    g = ReferenceGate(blend_in_s=0.5)
    frames = []
    for k in range(30):
        r = ref(0.1 + 0.004 * k)
        r[3] = 3.0
        frames.append(r)
    got = stream(g, frames, t0=10.0)
    for k in range(25):
        out, status = got[k]
        w = k * 0.02 / 0.5
        expected = (1 - w) * DEFAULT + w * frames[k]
        expected[3] = 3.0
        assert status is RefStatus.BLEND_IN
        np.testing.assert_allclose(out, expected, atol=1e-9)
    for k in range(25, 30):
        out, status = got[k]
        assert status is RefStatus.FRESH and np.allclose(out, frames[k])


def test_a_restarted_stream_is_blended_in_at_its_own_heading():
    """A stream facing 2.5 rad stops; the gate blends to the default at 2.5 rad. A new stream facing -2.8 rad
    is blended in over 0.5 s, at its own heading from the first step."""
    g = ReferenceGate(blend_in_s=0.5)
    r = ref(0.1)
    r[3] = 2.5
    stream(g, [r] * 30, t0=10.0)
    out, status = g.update(None, None, now=12.0, wall_ms=12000.0)
    assert status is RefStatus.DEFAULT and out[3] == 2.5
    r2 = ref(-0.1)
    r2[3] = -2.8
    got = stream(g, [r2] * 26, t0=12.02, seq0=100)
    out, status = got[10]  # w = 0.4
    assert status is RefStatus.BLEND_IN and out[3] == -2.8
    np.testing.assert_allclose(np.delete(out, 3), np.delete(0.6 * DEFAULT + 0.4 * r2, 3), atol=1e-9)
    assert all(o[3] == -2.8 for o, _ in got)
    assert [s for _, s in got] == [RefStatus.BLEND_IN] * 25 + [RefStatus.FRESH]
    assert np.allclose(got[-1][0], r2)


def test_a_link_that_drops_out_now_and_then_still_gets_fresh_steps():
    """0.36 s of stream, 0.26 s of nothing, again and again: the first burst is blended in from the default
    (0.5 s: all 18 steps); each outage holds 0.1 s and blends 0.16 s towards the default (w 0.16), so the next
    burst is blended in over 0.16 x 0.5 = 0.08 s (4 steps, from the vector given last) and the other 14 steps
    are the stream's."""
    g = ReferenceGate(blend_in_s=0.5, hold_s=0.1, blend_s=1.0)
    r = ref(0.2)
    t, seq, bursts = 10.0, 1, []
    for _ in range(20):
        got = stream(g, [r] * 18, t0=t, seq0=seq)
        bursts.append([s for _, s in got])
        t, seq = t + 0.36, seq + 18
        for k in range(13):
            g.update(None, None, now=t + 0.02 * k, wall_ms=1000.0 * (t + 0.02 * k))
        t += 0.26
    assert bursts[0] == [RefStatus.BLEND_IN] * 18
    for statuses in bursts[1:]:
        assert statuses == [RefStatus.BLEND_IN] * 4 + [RefStatus.FRESH] * 14


def test_a_stream_stopping_while_blending_in_holds_and_blends_from_what_was_given():
    """Stale in the middle of the blend-in: the reference held is the mix given last, not the stream's frame,
    and the blend to the default starts from it."""
    g = ReferenceGate(blend_in_s=0.5, hold_s=0.1, blend_s=1.0)
    r = ref(0.25)
    got = stream(g, [r] * 11, t0=10.0)  # w = 0.4 at the last one (10.2)
    given = got[-1][0]
    np.testing.assert_allclose(given, 0.6 * DEFAULT + 0.4 * r, atol=1e-9)
    out, status = g.update(None, None, now=10.28, wall_ms=10280.0)
    assert status is RefStatus.HOLD and np.array_equal(out, given)
    out, status = g.update(None, None, now=10.8, wall_ms=10800.0)  # 0.5 s into the blend to the default
    assert status is RefStatus.BLEND
    np.testing.assert_allclose(out, 0.5 * given + 0.5 * DEFAULT, atol=1e-9)


def test_a_stream_back_within_the_hold_or_mid_blend_out():
    """Back within the hold: the stream's frame at once (no blend-in). Back while blending to the default:
    blended in from the vector given last."""
    g = ReferenceGate(blend_in_s=0.5, hold_s=0.1, blend_s=1.0)
    r = ref(0.2)
    stream(g, [r] * 30, t0=10.0)  # fresh after 0.5 s; the last frame at 10.58
    out, status = stream(g, [r], t0=10.66, seq0=200)[0]  # 80 ms later
    assert status is RefStatus.FRESH and np.allclose(out, r)
    out, status = g.update(None, None, now=11.26, wall_ms=11260.0)  # hold over at 10.76, half way to the default
    assert status is RefStatus.BLEND
    r2 = ref(-0.2)
    back, status = stream(g, [r2], t0=11.28, seq0=300)[0]
    assert status is RefStatus.BLEND_IN and np.allclose(back, out)  # w = 0: the vector given last


def test_a_sender_clock_off_is_used_by_its_seq_changes_and_logged_once():
    """A second machine 300 ms ahead (no NTP): its first message waits for a change (its t_ms cannot say it is
    live), every seq change is fresh on this clock, and once CLOCK_CHECK_CHANGES changes have that offset one
    line names it and "sync clocks"."""
    lines = []
    g = gate(log=lines.append)
    r = ref(0.1)
    out, status = g.update(msg(r), encode_meta(1, 1300.0), now=0.0, wall_ms=1000.0)
    assert status is RefStatus.DEFAULT and lines == []
    n = CLOCK_CHECK_CHANGES
    for k in range(1, n + 1):
        assert lines == []
        out, status = g.update(msg(r), encode_meta(1 + k, 1300.0 + 20 * k), now=0.02 * k, wall_ms=1000.0 + 20 * k)
        assert status is RefStatus.FRESH and np.allclose(out, r)
    assert len(lines) == 1 and "300 ms ahead of this computer's clock (median of 25 messages): sync" in lines[0]
    assert lines[0].startswith("action_mimic_g1_meta.t_ms")
    # the sender stops: its seq freezes, stale after 0.1 s on this clock whatever its t_ms says
    t = 0.02 * n
    out, status = g.update(msg(r), encode_meta(1 + n, 1400.0), now=t + 0.11, wall_ms=1000.0 + 1000 * (t + 0.11))
    assert status is RefStatus.BLEND  # the hold (0.1 s after the last fresh step) is over too
    assert g.stale_reason == "action_mimic_g1_meta.seq {} unchanged for 0.11 s".format(1 + n)
    # 500 ms behind: the same, and no second line
    g2 = gate(log=lines.append)
    for k in range(n + 5):
        out, status = g2.update(msg(r), encode_meta(1 + k, 500.0 + 20 * k), now=0.02 * k, wall_ms=1000.0 + 20 * k)
    assert status is RefStatus.FRESH and len(lines) == 2 and "500 ms behind this computer's clock" in lines[1]


def test_late_steps_of_either_side_are_not_a_clock_offset():
    """Clocks in sync, but a few steps read 150 ms late (this computer descheduled) and a few messages arrive
    150 ms late (the sender's): the median offset stays within max_age, no "sync clocks" line."""
    lines = []
    g = gate(log=lines.append)
    r = ref(0.1)
    for k in range(4 * CLOCK_CHECK_CHANGES):
        late = 150.0 if k % 10 == 3 else (-150.0 if k % 10 == 7 else 0.0)
        out, status = g.update(
            msg(r), encode_meta(1 + k, 1000.0 + 20 * k), now=0.02 * k, wall_ms=1000.0 + 20 * k + late
        )
        assert status is RefStatus.FRESH or k == 0
    assert lines == []


def test_whats_in_redis_at_start_is_only_the_baseline():
    """A frame left by an earlier session (turned 2.5 rad, no meta key) is never used, nor its heading, until
    the value changes; a meta key seen first counts at once only when its t_ms is this clock's."""
    left = ref(0.2)
    left[3] = 2.5
    g = gate()
    for k in range(100):
        out, status = g.update(msg(left), None, now=0.02 * k, wall_ms=20.0 * k)
        assert status is RefStatus.DEFAULT and np.array_equal(out, DEFAULT)
    assert "unchanged since it was first read" in g.stale_reason and g.stale == 0
    new = ref(-0.1)
    out, status = g.update(msg(new), None, now=2.0, wall_ms=2000.0)
    assert status is RefStatus.FRESH and np.allclose(out, new)
    # a leftover meta key (sent an hour ago) beside the leftover frame: not used either
    g = gate()
    for k in range(10):
        _, status = g.update(msg(left), encode_meta(41, -3.6e6), now=0.02 * k, wall_ms=20.0 * k)
        assert status is RefStatus.DEFAULT
    assert g.stale_reason.startswith("action_mimic_g1_meta.seq 41 unchanged since it was first read")
    # a live stream of this machine, met mid-way: its first message counts
    g = gate()
    _, status = g.update(msg(new), encode_meta(41, 990.0), now=1.0, wall_ms=1000.0)
    assert status is RefStatus.FRESH


def test_a_leftover_meta_key_is_ignored_after_2_s_of_a_changing_reference():
    """A meta key frozen at seq 9 (its writer gone) beside a TWIST-style source that writes the reference
    alone: stale for 2 s, then the meta key is ignored with one line naming it and the reference is fresh
    while it changes; a meta key whose seq changes again is judged by it again."""
    lines = []
    g = gate(log=lines.append)
    meta = encode_meta(9, -5000.0)
    statuses = []
    for k in range(150):
        out, status = g.update(msg(ref(0.001 * k)), meta, now=0.02 * k, wall_ms=20.0 * k)
        statuses.append(status)
    first_fresh = statuses.index(RefStatus.FRESH)
    assert first_fresh == 100  # seq first read at 0 s, 2.0 s later
    assert set(statuses[:100]) == {RefStatus.DEFAULT} and set(statuses[100:]) == {RefStatus.FRESH}
    assert len(lines) == 1
    assert lines[0].startswith("action_mimic_g1_meta is stale: seq 9 unchanged for 2.0 s while action_mimic_g1 changes")
    np.testing.assert_allclose(out, ref(0.149))
    out, status = g.update(msg(ref(0.149)), meta, now=3.1, wall_ms=3100.0)  # the source stops: stale, as without meta
    assert status is RefStatus.BLEND
    assert g.stale_reason == "action_mimic_g1 unchanged for 0.12 s (no meta key: fresh while it changes)"
    _, status = g.update(msg(ref(0.3)), encode_meta(10, 3120.0), now=3.12, wall_ms=3120.0)
    assert status is RefStatus.FRESH and len(lines) == 2 and "seq changes again" in lines[1]
    _, status = g.update(msg(ref(0.31)), encode_meta(10, 3120.0), now=3.3, wall_ms=3300.0)
    assert status is RefStatus.BLEND  # judged by its seq again: unchanged for 0.18 s
    assert g.stale_reason == "action_mimic_g1_meta.seq 10 unchanged for 0.18 s"


def test_an_unchanged_message_is_validated_once(monkeypatch):
    """A rejected message left in Redis is not parsed again at every step (nor counted again)."""
    from deploy_real import safety

    calls = []
    validate = safety.validate_mimic
    monkeypatch.setattr(safety, "validate_mimic", lambda raw: calls.append(raw) or validate(raw))
    g = gate()
    bad = b"[" + b"1," * 32 + b"nope]"
    for k in range(50):
        g.update(bad, None, now=0.02 * k, wall_ms=20.0 * k)
    assert len(calls) == 1 and g.rejected == 1 and g.stale_reason.startswith("rejected: action_mimic_g1: not JSON")
    g.update(msg(ref(0.1)), None, now=1.0, wall_ms=1000.0)
    g.update(bad, None, now=1.02, wall_ms=1020.0)
    assert len(calls) == 3 and g.rejected == 2


def test_invalid_meta_and_invalid_reference_are_not_used():
    g = gate()
    r = ref(0.05)
    g.update(msg(r), encode_meta(1, 0.0), now=0.0, wall_ms=0.0)
    bad = r.copy()
    bad[10] = np.nan
    out, status = g.update(encode_floats(bad).encode(), encode_meta(2, 20.0), now=0.02, wall_ms=20.0)
    assert status is RefStatus.HOLD and np.allclose(out, r) and g.rejected == 1
    out, status = g.update(msg(ref(0.2)), b'{"seq": null}', now=0.04, wall_ms=40.0)
    assert status is RefStatus.HOLD and g.rejected == 2 and "seq" in g.last_error


def test_source_without_meta_is_fresh_while_it_changes():
    g = gate()
    out, status = g.update(msg(ref(0.09)), None, now=0.0, wall_ms=0.0)  # the baseline
    assert status is RefStatus.DEFAULT
    out, status = g.update(msg(ref(0.1)), None, now=0.02, wall_ms=20.0)
    assert status is RefStatus.FRESH and g.legacy
    out, status = g.update(msg(ref(0.1)), None, now=0.1, wall_ms=100.0)
    assert status is RefStatus.FRESH
    out, status = g.update(msg(ref(0.1)), None, now=0.15, wall_ms=150.0)  # unchanged for 0.13 s
    assert status is RefStatus.HOLD
    assert g.stale_reason == "action_mimic_g1 unchanged for 0.13 s (no meta key: fresh while it changes)"
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
    reasons = []
    for bad in (np.full(23, np.nan), np.r_[np.zeros(22), np.inf], np.zeros(5)):
        np.testing.assert_array_equal(guard.target(bad), q_big)
        reasons.append(guard.last_error)
    assert guard.nonfinite_actions == 3
    assert reasons == ["action[0] = nan", "action[22] = inf", "action of shape (5,), expected (23,)"]
