"""The real server's state machine and commands (LowLevelReal), fed LowStates directly, without DDS: the
remote's buttons, the move to the default pose, the policy step against the sim2sim server's, the faults,
and that no command is ever non-finite or outside the joint ranges."""

import json
import math
import re

import numpy as np
import pytest

from deploy_real.contract import MAX_MESSAGE_BYTES, MIMIC_KEY, MIMIC_META_KEY, encode_floats, encode_meta
from deploy_real.real_config import load_real_config
from deploy_real.server_low_level_g1_real import (
    DAMPING,
    DEFAULT_HOLD,
    MOVE_TO_DEFAULT,
    POLICY,
    ZERO_TORQUE,
    LowLevelReal,
)
from deploy_real.unitree_msgs import LowState, encode_remote

DT = 0.02


@pytest.fixture(scope="module")
def cfg():
    return load_real_config()


def make_server(cfg, link=None):
    return LowLevelReal(cfg, link=link, engine="torch", log=lambda *a: None)


def state(cfg, buttons=(), q=None, quat=(1.0, 0.0, 0.0, 0.0), tick=0):
    s = LowState()
    s.mode_machine, s.tick = 5, tick
    s.q[:29] = cfg.default_pose if q is None else q
    s.quat_wxyz = np.array(quat, dtype=np.float64)
    s.wireless_remote = encode_remote(buttons)
    return s


class Clock:
    def __init__(self):
        self.t = 100.0

    def tick(self):
        self.t += DT
        return self.t


def run_steps(server, clock, low, n, age=0.002):
    return [server.step(low, age, clock.tick(), clock.t * 1000.0) for _ in range(n)]


def assert_safe(cfg, cmd):
    for a in (cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd):
        assert np.all(np.isfinite(a))
    q32 = cmd.q[:29].astype(np.float32).astype(np.float64)  # what the message carries
    assert np.all(q32 >= cfg.lower) and np.all(q32 <= cfg.upper)
    assert np.all(cmd.q[29:] == 0) and np.all(cmd.kp[29:] == 0) and np.all(cmd.kd[29:] == 0)


def test_the_remote_drives_zero_torque_move_hold_policy_damping(cfg):
    server, clock = make_server(cfg), Clock()
    hanging = np.clip(np.linspace(-0.5, 0.5, 29), cfg.lower, cfg.upper)  # some pose in the gantry
    server.start(state(cfg, q=hanging), clock.t)
    for cmd in run_steps(server, clock, state(cfg, ["A"], q=hanging), 3):  # A means nothing in zero torque
        assert server.mode == ZERO_TORQUE and cmd.mode_machine == 5
        assert np.all(cmd.mode[:29] == 1)
        for a in (cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd):
            assert np.all(a == 0)

    cmds = run_steps(server, clock, state(cfg, ["start"], q=hanging), 1)
    cmds += run_steps(server, clock, state(cfg, q=hanging), 99)
    assert server.mode == DEFAULT_HOLD
    pose = cfg.default_pose
    for k, cmd in enumerate(cmds, start=1):  # 2 s = 100 steps of 0.02 s, linear from the pose at START
        np.testing.assert_allclose(cmd.q[:29], hanging + k / 100.0 * (pose - hanging), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(cmd.kp[:29], cfg.kp)
        np.testing.assert_array_equal(cmd.kd[:29], cfg.kd)
    for cmd in run_steps(server, clock, state(cfg, ["start"]), 5):  # START means nothing in the hold
        assert server.mode == DEFAULT_HOLD
        np.testing.assert_allclose(cmd.q[:29], pose)

    cmds = run_steps(server, clock, state(cfg, ["A"]), 1) + run_steps(server, clock, state(cfg), 20)
    assert server.mode == POLICY and server.policy_steps == 21
    for cmd in cmds:
        assert_safe(cfg, cmd)
        for m in (20, 21, 27, 28):  # wrist pitch / yaw: held at 0 with Kp 20, Kd 1
            assert (cmd.q[m], cmd.kp[m], cmd.kd[m]) == (0.0, 20.0, 1.0)
        assert (cmd.kp[19], cmd.kd[19], cmd.kp[26], cmd.kd[26]) == (20.0, 1.0, 20.0, 1.0)
        assert np.all(cmd.tau == 0) and np.all(cmd.dq == 0)

    cmd = run_steps(server, clock, state(cfg, ["select"]), 1)[0]
    t_select = clock.t
    assert server.mode == DAMPING and server.exit_reason == "select"
    assert np.all(cmd.kp == 0) and np.all(cmd.kd[:29] == 8.0) and np.all(cmd.q == 0) and np.all(cmd.tau == 0)
    assert not server.done(t_select + 0.49) and server.done(t_select + 0.5)
    assert server.exit_code() == 0 and server.faults == []
    assert server.states == [ZERO_TORQUE, MOVE_TO_DEFAULT, DEFAULT_HOLD, POLICY, DAMPING]


class ReferenceLink:
    """A test double of RedisLink.exchange: serves one reference with a fresh meta key."""

    def __init__(self, ref33):
        self.ref, self.seq, self.errors, self.sets = encode_floats(ref33), 0, 0, []

    def exchange(self, sets, gets, max_bytes):
        assert gets == [MIMIC_KEY, MIMIC_META_KEY] and max_bytes == MAX_MESSAGE_BYTES
        self.sets.append(sets)
        self.seq += 1
        return [self.ref.encode(), encode_meta(self.seq, self.now_ms).encode()]


def test_policy_step_gives_the_sim2sim_servers_targets_for_the_same_robot_state(cfg):
    """The real server, fed the MuJoCo robot's state as LowStates (motor order, wxyz quaternion), computes
    the same PD targets as the sim2sim server does from that state, with the same reference."""
    from deploy_real.contract import default_mimic_vector
    from deploy_real.server_low_level_g1_sim import LowLevelSim
    from pose.g1_model import load_g1

    ref = default_mimic_vector()
    ref[8 + 3] += 0.3  # some reference away from the default: left knee
    ref[8 + 16] += 0.2  # left shoulder roll
    ref[27], ref[32] = 0.3, -0.25  # the wrist rolls
    sim = LowLevelSim(engine="torch")
    link = ReferenceLink(ref)
    real = make_server(cfg, link)
    motors = list(load_g1().real_motor_joints)
    motor_of_joint = [motors.index(n) for n in sim.joints.names]
    clock = Clock()
    real.start(state(cfg), clock.t)
    real.mode, real.states = POLICY, real.states + [POLICY]  # straight to the policy
    for _ in range(30):  # the stream blended in over 0.5 s (25 steps), then fresh
        st = sim.sim.state()
        q25, dq25 = sim.sim.joint_pos_vel()
        low = LowState()
        low.mode_machine = 5
        low.q[motor_of_joint], low.dq[motor_of_joint] = q25, dq25
        x, y, z, w = st.base_quat_xyzw
        low.quat_wxyz, low.gyro = np.array([w, x, y, z]), st.base_ang_vel
        now = clock.tick()
        link.now_ms = now * 1000.0
        cmd = real.step(low, 0.001, now, now * 1000.0)
        target25 = sim.policy_step(now, now * 1000.0, raw=(link.ref.encode(), encode_meta(link.seq, link.now_ms)))
        np.testing.assert_allclose(cmd.q[motor_of_joint], target25, atol=1e-5)
    assert real.student.status_counts == {"blend_in": 25, "fresh": 5}
    assert (cmd.q[19], cmd.q[26]) == pytest.approx((0.3, -0.25), abs=1e-6)
    body = json.loads(link.sets[-1]["state_body_g1"])
    assert len(body) == 74


def _policy_server(cfg, clock):
    server = make_server(cfg)
    server.start(state(cfg), clock.t)
    run_steps(server, clock, state(cfg, ["start"]), 100)
    run_steps(server, clock, state(cfg, ["A"]), 2)
    assert server.mode == POLICY
    return server


def _assert_damping_for_good(cfg, server, clock, reason):
    assert server.mode == DAMPING and server.faults[0]["reason"].startswith(reason), server.faults
    # faults stay: fresh states and START / A change nothing
    for buttons in (["start"], ["A"], []):
        cmd = run_steps(server, clock, state(cfg, buttons), 1)[0]
        assert server.mode == DAMPING and np.all(cmd.kp == 0) and np.all(cmd.kd[:29] == cfg.damping_kd)
    assert server.exit_code() == 1 and not server.done(clock.t + 10)
    run_steps(server, clock, state(cfg, ["select"]), 1)
    assert server.done(clock.t + 0.5)


def test_start_and_a_act_on_a_press_not_while_held(cfg):
    """A START already down when the server starts (a stuck button) does not move the robot; A held through
    the 2-s move does not start the policy when the hold begins (the robot may still be in its gantry):
    each acts on being pressed, in its state."""
    clock = Clock()
    server = make_server(cfg)
    server.start(state(cfg, ["start"]), clock.t)
    run_steps(server, clock, state(cfg, ["start"]), 10)
    assert server.mode == ZERO_TORQUE
    run_steps(server, clock, state(cfg), 1)
    run_steps(server, clock, state(cfg, ["start"]), 1)  # pressed
    assert server.mode == MOVE_TO_DEFAULT
    run_steps(server, clock, state(cfg, ["A"]), 99 + 20)  # A down from the move into 0.4 s of the hold
    assert server.mode == DEFAULT_HOLD
    run_steps(server, clock, state(cfg), 1)
    run_steps(server, clock, state(cfg, ["A"]), 1)  # pressed in the hold
    assert server.mode == POLICY and server.states == [ZERO_TORQUE, MOVE_TO_DEFAULT, DEFAULT_HOLD, POLICY]


def test_a_policy_whose_actions_stay_unusable_is_a_fault(cfg):
    """A non-finite action holds the last targets (`PDTargetGuard`); four in a row are ridden out, a usable
    action in between starts the count again, the fifth in a row is a fault: damping, not stiff targets
    held for good."""
    clock = Clock()
    server = _policy_server(cfg, clock)
    policy = server.student.policy
    nan_steps = set(range(0, 4)) | set(range(5, 10))  # steps 0-3 and 5-9: one usable action at step 4

    class SometimesNaN:
        def __init__(self):
            self.k = 0

        def __getattr__(self, name):  # base_velocity and the other attributes: the policy's
            return getattr(policy, name)

        def __call__(self, obs):
            action = policy(obs)
            self.k += 1
            return np.full_like(action, np.nan) if self.k - 1 in nan_steps else action

    server.student.policy = SometimesNaN()
    for k in range(9):
        cmd = run_steps(server, clock, state(cfg), 1)[0]
        assert server.mode == POLICY, k
        assert_safe(cfg, cmd)
    cmd = run_steps(server, clock, state(cfg), 1)[0]  # the fifth NaN action in a row
    assert_safe(cfg, cmd)
    assert np.all(cmd.kp == 0) and np.all(cmd.kd[:29] == cfg.damping_kd)
    _assert_damping_for_good(cfg, server, clock, "5 unusable policy actions in a row (action[0] = nan)")


def test_no_lowstate_for_50_ms_is_a_fault(cfg):
    clock = Clock()
    server = _policy_server(cfg, clock)
    run_steps(server, clock, state(cfg), 1, age=0.049)
    assert server.mode == POLICY
    run_steps(server, clock, state(cfg), 1, age=0.051)
    _assert_damping_for_good(cfg, server, clock, "no LowState")


def test_a_state_whose_tick_stops_advancing_is_a_fault_after_100_ms(cfg):
    """LowStates keep arriving (age 2 ms) but carry one tick: the robot's state no longer updates."""
    assert cfg.lowstate_tick_timeout_s == 0.1
    clock = Clock()
    server = _policy_server(cfg, clock)
    for tick in range(1, 6):  # advancing: seen as a live counter
        run_steps(server, clock, state(cfg, tick=10 * tick), 1)
    assert server.mode == POLICY and server.ticks.advanced
    run_steps(server, clock, state(cfg, tick=50), 5)  # 20 ... 100 ms since the tick last changed
    assert server.mode == POLICY
    run_steps(server, clock, state(cfg, tick=50), 1)  # 120 ms
    _assert_damping_for_good(cfg, server, clock, "LowState tick frozen at 50 for 120 ms (limit 100 ms)")


def test_the_tick_check_is_off_at_a_timeout_of_0(cfg):
    import dataclasses

    clock = Clock()
    server = _policy_server(dataclasses.replace(cfg, lowstate_tick_timeout_s=0.0), clock)
    run_steps(server, clock, state(cfg, tick=1), 1)
    run_steps(server, clock, state(cfg, tick=2), 50)  # 1 s on one tick after it advanced
    assert server.mode == POLICY and server.faults == [] and server.ticks.advanced


def test_a_tick_that_never_advances_is_not_checked_and_noted_once(cfg):
    """Simulator bridges publish a constant tick (0, or 1): no fault, one note after 1 s."""
    lines = []
    clock = Clock()
    server = LowLevelReal(cfg, engine="torch", log=lines.append)
    server.start(state(cfg, tick=1), clock.t)
    run_steps(server, clock, state(cfg, tick=1), 150)  # 3 s in zero torque
    assert server.mode == ZERO_TORQUE and server.faults == [] and not server.ticks.advanced
    notes = [line for line in lines if "tick has not advanced" in line]
    assert len(notes) == 1 and "stays 1" in notes[0], lines


@pytest.mark.parametrize("mode", [ZERO_TORQUE, POLICY])
def test_a_lowstate_of_another_robot_type_after_the_first_is_a_fault(cfg, mode):
    """The robot was heard with mode_machine 5: a LowState with another value (another publisher on the topic,
    unitree_mujoco's 0 say) is not acted on: damping for good, in any state."""
    clock = Clock()
    if mode == POLICY:
        server = _policy_server(cfg, clock)
    else:
        server = make_server(cfg)
        server.start(state(cfg), clock.t)
    other = state(cfg, ["start"])
    other.mode_machine = 0
    run_steps(server, clock, other, 1)
    _assert_damping_for_good(cfg, server, clock, "LowState mode_machine 0 where the robot was heard with 5")
    assert server.states[-1] == DAMPING and server.states[-2] == mode


@pytest.mark.parametrize(
    "field, index, value", [("q", 3, np.nan), ("dq", 28, np.inf), ("gyro", 1, -np.inf), ("quat_wxyz", 0, np.nan)]
)
def test_non_finite_state_is_a_fault(cfg, field, index, value):
    clock = Clock()
    server = _policy_server(cfg, clock)
    low = state(cfg)
    getattr(low, field)[index] = value
    run_steps(server, clock, low, 1)
    _assert_damping_for_good(cfg, server, clock, "non-finite state")


def test_tilt_beyond_1_rad_is_a_fault(cfg):
    clock = Clock()
    server = _policy_server(cfg, clock)
    for angle in (0.9, -0.95):  # about x (roll), then y (pitch): within the limit
        quat = (
            (math.cos(angle / 2), math.sin(angle / 2), 0.0, 0.0)
            if angle > 0
            else (math.cos(angle / 2), 0.0, math.sin(angle / 2), 0.0)
        )
        run_steps(server, clock, state(cfg, quat=quat), 1)
        assert server.mode == POLICY
    run_steps(server, clock, state(cfg, quat=(math.cos(0.55), 0.0, math.sin(0.55), 0.0)), 1)  # 1.1 rad pitch
    _assert_damping_for_good(cfg, server, clock, "pelvis tilt 1.10 rad")


@pytest.mark.parametrize("mode_steps", [0, 50, 101, 110])
def test_interrupt_in_any_state_damps_then_exits_cleanly(cfg, mode_steps):
    clock = Clock()
    server = make_server(cfg)
    server.start(state(cfg), clock.t)
    run_steps(server, clock, state(cfg, ["start"] if mode_steps else []), min(mode_steps, 101))
    if mode_steps > 101:
        run_steps(server, clock, state(cfg, ["A"]), mode_steps - 101)
    before = server.mode
    server.request_exit("interrupt", clock.t)
    cmd = run_steps(server, clock, state(cfg), 1)[0]
    assert server.mode == DAMPING and server.states[-2] == before and np.all(cmd.kd[:29] == 8.0)
    assert server.exit_code() == 0 and server.done(clock.t + 0.5)


def test_no_command_is_ever_non_finite_or_out_of_range(cfg):
    """Hostile states (poses far outside the ranges, huge velocities) and a hostile policy (NaN, inf,
    huge outputs; at most 3 unusable actions in a row, which the server rides out): every command stays
    finite and inside the joint ranges."""
    rng = np.random.default_rng(0)
    clock = Clock()
    server = make_server(cfg)
    policy = server.student.policy

    def hostile(obs):
        a = policy(obs)
        kind = rng.integers(0, 4) if server.student.guard.unusable_in_a_row < 3 else 3
        if kind == 1:
            a[rng.integers(0, 23)] = np.nan
        elif kind == 2:
            a[rng.integers(0, 23)] = np.inf * rng.choice([-1, 1])
        elif kind == 3:
            a = a * 1e6
        return a

    server.student.policy = hostile
    wild = cfg.lower - 1.0 + (cfg.upper - cfg.lower + 2.0) * rng.random(29)
    server.start(state(cfg, q=wild), clock.t)
    cmds = run_steps(server, clock, state(cfg, ["start"], q=wild), 101)
    cmds += run_steps(server, clock, state(cfg, ["A"]), 1)
    for _ in range(200):
        low = state(cfg, q=cfg.lower - 0.5 + (cfg.upper - cfg.lower + 1.0) * rng.random(29))
        low.dq[:29] = rng.normal(size=29) * 100.0
        cmds += run_steps(server, clock, low, 1)
    assert server.mode == POLICY and server.student.guard.nonfinite_actions > 20
    for cmd in cmds:
        assert_safe(cfg, cmd)


def test_an_exception_in_a_step_is_a_fault_damping_until_select(cfg):
    """Whatever raises inside a policy step (here the policy itself) sends the robot to damping for good, with
    one line naming the exception and where it was raised, then its traceback."""
    clock = Clock()
    lines = []
    server = LowLevelReal(cfg, engine="torch", log=lines.append)
    server.start(state(cfg), clock.t)
    run_steps(server, clock, state(cfg, ["start"]), 100)
    run_steps(server, clock, state(cfg, ["A"]), 2)
    assert server.mode == POLICY

    def broken(obs):
        return {}["missing"]

    server.student.policy = broken
    cmd = run_steps(server, clock, state(cfg), 1)[0]
    assert np.all(cmd.kp == 0) and np.all(cmd.kd[:29] == cfg.damping_kd) and np.all(cmd.q == 0)
    reason = server.faults[0]["reason"]
    assert reason.startswith("KeyError: 'missing' (at test_real_fsm.py:") and reason.endswith(" in broken)")
    fault_line = [line for line in lines if "FAULT" in line]
    assert fault_line == ["[real] FAULT in policy: {} -> damping (SELECT or Ctrl-C to exit)".format(reason)]
    assert lines[-1].startswith("Traceback (most recent call last):") and lines[-1].endswith("KeyError: 'missing'")
    _assert_damping_for_good(cfg, server, clock, "KeyError")


def test_reference_problems_are_reported_once_a_second_with_their_reason(cfg, redis_server):
    """Through a real Redis: a frame left from before is not used after A; a message with a 400-digit integer is
    rejected (no exception); a source that stops is stale; a NaN action is held. Each shows in the once-a-second
    line while its count grows, with its reason, and not after; the summary has the counts."""
    import redis

    from deploy_real.contract import default_mimic_vector
    from deploy_real.redis_link import RedisLink

    r = redis.Redis(port=redis_server.port)
    left = default_mimic_vector()
    left[3] = 2.5  # a frame of an earlier session, turned
    r.set(MIMIC_KEY, encode_floats(left))
    link = RedisLink(redis_server.url, start_private=False)
    lines = []
    clock = Clock()
    server = LowLevelReal(cfg, link=link, engine="torch", log=lines.append)
    server.start(state(cfg), clock.t)
    run_steps(server, clock, state(cfg, ["start"]), 100)
    run_steps(server, clock, state(cfg, ["A"]), 60)
    assert server.mode == POLICY and server.student.status_counts == {"default": 60}
    assert not [line for line in lines if "reference" in line]  # nothing wrong: standing on the default

    huge = "[" + ",".join([str(10**400)] + ["0.1"] * 32) + "]"
    r.set(MIMIC_KEY, huge)
    run_steps(server, clock, state(cfg), 60)
    reports = [line for line in lines if line.startswith("[real] reference ")]
    assert reports == [
        "[real] reference default: rejected 1 stale 0 non-finite actions 0; "
        "last rejection: action_mimic_g1[0]: an integer of 1329 bits, beyond any float"
    ]
    frame = default_mimic_vector()
    for k in range(50):  # a TWIST-style source: the reference alone, changing
        frame[8] = -0.1 - 0.001 * k
        r.set(MIMIC_KEY, encode_floats(frame))
        run_steps(server, clock, state(cfg), 1)
    run_steps(server, clock, state(cfg), 150)  # it stops
    # the 50 changes (the first 25 blended in from the default), then the last one for its 0.1 s (5 steps; 4
    # where 0.02 s steps add up to just over 0.1)
    counts = server.student.status_counts
    assert counts["blend_in"] == 25 and counts["fresh"] in (29, 30) and server.mode == POLICY
    reports = [line for line in lines if line.startswith("[real] reference ")]
    assert len(reports) == 4 and all(": rejected 1 stale " in line for line in reports[1:])
    assert reports[1].startswith("[real] reference blend: ") and reports[-1].startswith("[real] reference default: ")
    assert "last rejection" not in "".join(reports[1:])  # the rejection is not repeated after it stopped
    assert (
        reports[-1].endswith("(no meta key: fresh while it changes)")
        and "; not fresh: action_mimic_g1 unchanged for" in reports[-1]
    )
    stale = server.student.gate.stale
    policy = server.student.policy
    server.student.policy = lambda obs: np.full(23, np.nan, dtype=np.float32)
    run_steps(server, clock, state(cfg), 3)
    server.student.policy = policy
    run_steps(server, clock, state(cfg), 50)
    reports = [line for line in lines if line.startswith("[real] reference ")]
    assert re.fullmatch(
        r"\[real\] reference default: rejected 1 stale \d+ non-finite actions 3; not fresh: action_mimic_g1 unchanged "
        r"for [0-9.]+ s \(no meta key: fresh while it changes\); last non-finite action: action\[0\] = nan",
        reports[-1],
    )
    summary = server.summary()
    assert (summary["rejected"], summary["stale"], summary["nonfinite_actions"]) == (1, stale + 53, 3)
    link.close()
