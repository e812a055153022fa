"""10,000 malformed messages through a real Redis while the low-level server steps: it never exits and
never sends a non-finite or out-of-range PD target (or torque) to the simulated motors."""

import json
import time

import numpy as np
import redis

from deploy_real.contract import MIMIC_KEY, MIMIC_META_KEY, default_mimic_vector, encode_floats, encode_meta
from deploy_real.redis_link import RedisLink
from deploy_real.safety import RefStatus
from deploy_real.server_low_level_g1_sim import LowLevelSim

N_MESSAGES = 10_000


def malformed(rng, k, wall_ms):
    """(mimic value or None, meta value or None, is_valid) of message k: mostly broken, some valid."""
    v = list(default_mimic_vector() + rng.normal(scale=0.05, size=33) * (np.arange(33) >= 8))
    meta = encode_meta(k, wall_ms)
    kind = k % 16
    if kind == 0:
        return encode_floats(v), meta, True
    if kind == 1:
        return encode_floats(v[: rng.integers(0, 33)]), meta, False
    if kind == 2:
        return encode_floats(v + [0.0] * int(rng.integers(1, 5))), meta, False
    if kind in (3, 4, 5):
        bad = [float("nan"), float("inf"), -float("inf"), 1e6, -1e6, 1e30][int(rng.integers(0, 6))]
        v[int(rng.integers(0, 33))] = bad
        return json.dumps(v), meta, False
    if kind == 6:
        v[int(rng.integers(0, 33))] = "0.1"
        return json.dumps(v), meta, False
    if kind == 7:
        v[int(rng.integers(0, 33))] = None
        return json.dumps(v), meta, False
    if kind == 8:
        junk = ["null", "", "[]", "{}", "garbage", '"[1,2]"', "[[1]]", "\x00\xff", "[" * 3000]
        return junk[int(rng.integers(0, len(junk)))], meta, False
    if kind == 9:
        return encode_floats(v), encode_meta(k, wall_ms - 500.0), False  # stale by its send time
    if kind == 10:
        return encode_floats(v), encode_meta(k, wall_ms + 5000.0), False  # from the future
    if kind == 11:
        return (
            encode_floats(v),
            ['{"seq": "x"}', "nan", "[]", '{"seq": 1, "t_ms": null}', "{" * 2000][int(rng.integers(0, 5))],
            False,
        )
    if kind == 12:
        return None, meta, False  # reference key missing
    if kind == 13:
        return encode_floats(v), None, None  # no meta: a TWIST-era source (valid while it changes)
    if kind == 14:
        v[8 + int(rng.integers(0, 25))] += float(rng.choice([-1, 1])) * 4.0  # a joint far out of range
        return encode_floats(v), meta, False
    v[0] = float(rng.choice([0.0, -1.0, 3.0]))  # implausible root height
    return encode_floats(v), meta, False


def test_malformed_messages_never_reach_the_motors(redis_server):
    link = RedisLink(redis_server.url, start_private=False)
    server = LowLevelSim(link=link)
    sim = server.sim
    lower, upper = server.joints.lower, server.joints.upper
    applied = {"n": 0}
    step = sim.step

    def checked_step(target, substeps=20):
        assert target.shape == (25,)
        assert np.all(np.isfinite(target)), target
        assert np.all(target >= lower) and np.all(target <= upper), target
        applied["n"] += 1
        for _ in range(substeps):
            step(target, 1)
            ctrl = sim.data.ctrl
            assert np.all(np.isfinite(ctrl)) and np.all(np.abs(ctrl) <= sim.torque_limit + 1e-9)

    sim.step = checked_step
    rng = np.random.default_rng(0)
    # the test's own client, without the link's short timeouts: a loaded machine may make Redis answer
    # late, which the server under test must live with (it holds) and the test's writes must outlast
    client = redis.Redis(port=redis_server.port)
    base_ms = time.time() * 1000.0
    for k in range(N_MESSAGES):
        now = k * 0.02
        wall_ms = base_ms + now * 1000.0
        mimic, meta, _ = malformed(rng, k, wall_ms)
        pipe = client.pipeline(transaction=True)
        pipe.delete(MIMIC_KEY, MIMIC_META_KEY)
        if mimic is not None:
            pipe.set(MIMIC_KEY, mimic)
        if meta is not None:
            pipe.set(MIMIC_META_KEY, meta)
        pipe.execute()
        server.policy_step(now, wall_ms)
        if sim.state().pelvis_height < 0.3:  # fallen after a long garbage spell: stand it up again
            sim.reset()
    assert applied["n"] == N_MESSAGES
    # the malformed ones were rejected and counted; the valid ones were used
    assert server.student.gate.rejected > N_MESSAGES // 2
    used = [server.student.status_counts.get(s.value, 0) for s in (RefStatus.FRESH, RefStatus.BLEND_IN)]
    assert sum(used) >= N_MESSAGES // 16  # (blended in after each spell long enough to blend to the default)
    assert server.student.status_counts[RefStatus.HOLD.value] > 0
    # the state key was written at every step and is a 74-float list
    assert len(json.loads(client.get("state_body_g1"))) == 74
    client.close()
    link.close()
