"""The real server, unmodified, over real DDS on loopback: against sim_robot (MuJoCo behind rt/lowstate and
rt/lowcmd) and against LowStates that this test publishes itself. Every LowCmd on the wire is recorded
here and checked: a CRC that the unitree SDK accepts, finite, inside the joint ranges of the facts table.
Each test uses its own DDS domain, so parallel runs on one machine do not meet."""

import functools
import itertools
import json
import random
import signal
import threading
import time

import numpy as np
import pytest
import redis
import deploy_helpers
from deploy_helpers import HIGH_LEVEL, REAL_SERVER, real_config_copy, start_module, start_server

pytest.importorskip(
    "cyclonedds", reason="the real-robot stack (bash deploy_real/setup_real.sh; pip install -e .[real])"
)
pytest.importorskip(
    "unitree_sdk2py", reason="the real-robot stack (bash deploy_real/setup_real.sh; pip install -e .[real])"
)

from deploy_real.contract import BODY_STATE_KEY  # noqa: E402
from deploy_real.dds_link import LOWCMD_TOPIC, LOWSTATE_TOPIC, DdsDomain  # noqa: E402
from deploy_real.motion_mode import UNREACHABLE_MESSAGE  # noqa: E402
from deploy_real.server_low_level_g1_real import NO_CRC_IGNORED_NOTE, NO_CRC_NOTE  # noqa: E402
from deploy_real.unitree_msgs import LowCmd, LowState, encode_remote  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402

WALK_CLIP = 5  # walk_forward_1p0 of the embedded set
_DOMAINS = itertools.count(random.SystemRandom().randrange(10, 150))


def motor_limits():
    g1 = load_g1()
    ranges = [g1.joint_by_name(n)[1].range for n in g1.real_motor_joints]
    return np.array([r[0] for r in ranges]), np.array([r[1] for r in ranges])


class Wire:
    """This test's own DDS participant: records every LowCmd (arrival time, bytes) and can play the robot."""

    def __init__(self, domain_id):
        self.domain_id = domain_id
        self.domain = DdsDomain(domain_id, "lo")
        self.lock = threading.Lock()
        self.cmds = []
        self.reader = self.domain.reader(LOWCMD_TOPIC, "LowCmd_", self._on_cmd)
        self._write_state = None
        self._thread = None
        self._stop = threading.Event()
        self.robot_buttons = []
        self.mode_machine = 5  # LowState_.mode_machine: the robot's type (5: g1_29dof_rev_1_0)
        self.no_crc = False  # publish LowStates with crc 0, as unitree_mujoco's bridge does
        self.quat_wxyz = (1.0, 0.0, 0.0, 0.0)  # the pelvis IMU's orientation
        self.bad_crc_buttons = None  # also publish LowStates with a wrong CRC carrying these buttons
        self.bad_sent = 0
        self.frozen_tick = None  # publish this tick instead of a counter (a state that stopped updating)

    def _on_cmd(self, data, now):
        with self.lock:
            self.cmds.append((now, data))

    def decoded(self, since=-np.inf):
        with self.lock:
            cmds = [(t, d) for t, d in self.cmds if t >= since]
        return [(t,) + LowCmd.decode(d) for t, d in cmds]

    def play_robot(self):
        """Publish a standing robot's LowState at 500 Hz (buttons: `robot_buttons`) until `close()`."""
        self._write_state = self.domain.writer(LOWSTATE_TOPIC, "LowState_")
        g1 = load_g1()
        pose = np.zeros(29)
        pose[[list(g1.real_motor_joints).index(n) for n in g1.dof_names]] = g1.default_dof_pos

        def loop():
            for tick in itertools.count(1):
                if self._stop.is_set():
                    return
                s = LowState()
                s.tick = tick if self.frozen_tick is None else self.frozen_tick
                s.mode_machine = self.mode_machine
                s.q[:29] = pose
                s.quat_wxyz = np.array(self.quat_wxyz)
                s.wireless_remote = encode_remote(self.robot_buttons)
                self._write_state(s.encode(crc=0) if self.no_crc else s.encode())
                if self.bad_crc_buttons is not None and tick % 2 == 0:
                    bad = LowState()  # START pressed, tilted, non-finite: all of it must be ignored
                    bad.tick, bad.mode_machine = tick, 5
                    bad.q[:29] = np.nan
                    bad.quat_wxyz = np.array([0.0, 1.0, 0.0, 0.0])
                    bad.wireless_remote = encode_remote(self.bad_crc_buttons)
                    raw = bad.encode()
                    self._write_state(raw[:-4] + bytes([raw[-4] ^ 0xFF]) + raw[-3:])
                    self.bad_sent += 1
                time.sleep(0.002)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def press_start(self, since=-np.inf):
        """Hold START until the LowCmds (from `since`) show the move to the default pose, then release it."""
        self.robot_buttons = ["start"]
        wait_for(lambda: any(np.all(c.kp[:12] > 0) for _, c, _ in self.decoded(since)), 5, "the move to default")
        self.robot_buttons = []
        time.sleep(0.3)

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


@pytest.fixture
def wire():
    w = Wire(next(_DOMAINS))
    yield w
    w.close()


#: polls every 0.02 s: the DDS checks below time events within a few 2-ms steps
wait_for = functools.partial(deploy_helpers.wait_for, poll=0.02)


def start_real_server(wire, redis_url, tmp_path, extra_args=(), script=REAL_SERVER):
    summary = tmp_path / "real.json"
    proc, log = start_server(
        script,
        ["--net", "lo", "--domain_id", wire.domain_id, "--redis_url", redis_url, "--summary_json", summary]
        + list(extra_args),
        tmp_path,
        tmp_path / "real.log",
    )
    try:
        wait_for(
            lambda: "waiting for rt/lowstate" in (tmp_path / "real.log").read_text() or proc.poll() is not None,
            120,
            "the real server to start",
        )
    except AssertionError:
        proc.kill()
        raise
    assert proc.poll() is None, (tmp_path / "real.log").read_text()
    return proc, log, summary


def finish(proc, log, timeout=30, sig=None):
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def is_damping(cmd):
    return np.all(cmd.kp == 0) and np.all(cmd.kd[:29] == 8.0) and np.all(cmd.tau == 0)


def is_zero_torque(cmd):
    return all(np.all(a == 0) for a in (cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd))


def assert_commands_safe(decoded):
    lower, upper = motor_limits()
    assert decoded
    for _, cmd, crc_ok in decoded:
        assert crc_ok
        for a in (cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd):
            assert np.all(np.isfinite(a))
        assert np.all(cmd.q[:29] >= lower) and np.all(cmd.q[:29] <= upper)  # as float32 on the wire


def assert_sdk_accepts_crc(wire, every=10):
    """The unitree SDK's own CRC of every `every`-th recorded command equals its crc field."""
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_
    from unitree_sdk2py.utils.crc import CRC

    with wire.lock:
        raws = [d for _, d in wire.cmds][::every]
    for raw in raws:
        msg = LowCmd_.deserialize(raw)
        assert msg.crc == CRC().Crc(msg)


def run_until_fault(wire, redis_url, tmp_path, perturb, what, heard="robot heard", extra_args=()):
    """Start the server, play the robot until the log says `heard`, press START, `perturb()` the wire, wait
    for the fault (`what`, for the timeout message) and stop with Ctrl-C, which must exit 1 after a fault.
    Returns (the summary, the log, the monotonic time of the perturbation)."""
    real, real_log, summary = start_real_server(wire, redis_url, tmp_path, extra_args)
    log = tmp_path / "real.log"
    try:
        wire.play_robot()
        wait_for(lambda: heard in log.read_text(), 20, "the robot heard")
        wire.press_start()
        t_perturbed = time.monotonic()
        perturb()
        wait_for(lambda: "FAULT" in log.read_text(), 5, what)
        assert finish(real, real_log, sig=signal.SIGINT) == 1, log.read_text()
    finally:
        if real.poll() is None:
            real.kill()
    return json.loads(summary.read_text()), log.read_text(), t_perturbed


def test_fsm_by_remote_policy_tracks_a_walking_clip_on_sim_robot(wire, redis_server, tmp_path):
    """The whole state machine driven by sim_robot's emulated buttons; in the policy state the shipped student
    tracks a walking clip streamed by the high-level server through Redis, and the robot stays upright.
    sim_robot runs MuJoCo in real time next to three other processes; on a loaded 2-core machine its LowState
    stream can pause for more than the robot's 50 ms, so this run allows 250 ms (the 50-ms fault itself is
    tested with the default config in test_sim_robot_killed_during_the_policy_damping_within_100_ms)."""
    url = redis_server.url
    config = real_config_copy(tmp_path, "lowstate_timeout_s: 0.05", "lowstate_timeout_s: 0.25")
    real, real_log, summary = start_real_server(wire, url, tmp_path, ["--config", config])
    sim, sim_log = start_module(
        "deploy_real.sim_robot",
        [
            "--net",
            "lo",
            "--domain_id",
            wire.domain_id,
            "--headless",
            "--duration",
            24,
            "--press",
            "START@1",
            "A@4",
            "SELECT@22",
            "--summary_json",
            tmp_path / "sim.json",
        ],
        tmp_path,
        tmp_path / "sim.log",
    )
    try:
        wait_for(lambda: redis.Redis(port=redis_server.port).get(BODY_STATE_KEY) is not None, 60, "the policy state")
        high, high_log = start_server(
            HIGH_LEVEL, ["--redis_url", url, "--motion_id", WALK_CLIP], tmp_path, tmp_path / "high.log"
        )
        assert finish(high, high_log, timeout=60) == 0, (tmp_path / "high.log").read_text()
        assert finish(real, real_log, timeout=60) == 0, (tmp_path / "real.log").read_text()
        assert finish(sim, sim_log, timeout=60) == 0, (tmp_path / "sim.log").read_text()
    finally:
        for p in (real, sim):
            if p.poll() is None:
                p.kill()
    result = json.loads(summary.read_text())
    robot = json.loads((tmp_path / "sim.json").read_text())
    assert result["states"] == ["zero_torque", "move_to_default", "default_hold", "policy", "damping"]
    assert result["faults"] == [] and result["exit_reason"] == "select"
    assert 800 <= result["policy_steps"] <= 950  # A at 4 s, SELECT at 22 s: 18 s at 50 Hz
    assert result["reference_status_steps"]["fresh"] >= 450  # the 8-s clip + 2-s ramp arrived
    assert result["rejected"] == 0 and result["unsafe_commands"] == 0
    assert result["joint_err_rad"] < 0.15
    assert result["latency_p50_ms"] < 10.0  # LowState arrival -> LowCmd written (bench: ~3-4 ms)
    assert robot["crc_errors"] == 0 and robot["lowcmd_received"] >= 0.95 * result["lowcmd_sent"]
    assert robot["released_at_s"] == pytest.approx(4.0, abs=0.2)
    assert robot["fell_at_s"] is None or robot["fell_at_s"] > 22.0, robot  # upright until SELECT's damping
    decoded = wire.decoded()
    assert_commands_safe(decoded)
    assert_sdk_accepts_crc(wire)
    assert is_damping(decoded[-1][1])
    assert sum(is_damping(c) for _, c, _ in decoded) >= 20  # 0.5 s of damping before the exit


def test_sim_robot_killed_during_the_policy_damping_within_100_ms(wire, redis_server, tmp_path):
    real, real_log, summary = start_real_server(wire, redis_server.url, tmp_path)
    sim, sim_log = start_module(
        "deploy_real.sim_robot",
        ["--net", "lo", "--domain_id", wire.domain_id, "--headless", "--duration", 60, "--press", "START@0.5", "A@3"],
        tmp_path,
        tmp_path / "sim.log",
    )
    try:
        wait_for(lambda: redis.Redis(port=redis_server.port).get(BODY_STATE_KEY) is not None, 60, "the policy state")
        time.sleep(1.0)
        killed_at = time.monotonic()
        sim.kill()
        sim.wait(timeout=10)
        sim_log.close()
        wait_for(lambda: any(is_damping(c) for _, c, _ in wire.decoded(killed_at)), 5, "a damping command")
        first_damping = min(t for t, c, _ in wire.decoded(killed_at) if is_damping(c))
        assert first_damping - killed_at <= 0.1
        time.sleep(0.3)
        assert all(is_damping(c) for t, c, _ in wire.decoded(first_damping))  # and it stays there
        assert finish(real, real_log, sig=signal.SIGINT) == 1, (tmp_path / "real.log").read_text()  # a fault: exit 1
    finally:
        for p in (real, sim):
            if p.poll() is None:
                p.kill()
    result = json.loads(summary.read_text())
    assert result["states"] == ["zero_torque", "move_to_default", "default_hold", "policy", "damping"]
    assert len(result["faults"]) == 1 and result["faults"][0]["state"] == "policy"
    assert result["faults"][0]["reason"].startswith("no LowState for")
    assert_commands_safe(wire.decoded())


def test_a_lowstate_with_a_wrong_crc_is_ignored(wire, redis_server, tmp_path):
    real, real_log, summary = start_real_server(wire, redis_server.url, tmp_path)
    try:
        wire.play_robot()
        wait_for(lambda: len(wire.decoded()) > 10, 20, "the server's zero-torque commands")
        wire.bad_crc_buttons = ["start"]  # + NaN joints, upside down: with a wrong CRC
        wait_for(lambda: wire.bad_sent > 250, 10, "states with a wrong CRC")
        bad_until = time.monotonic()
        assert all(is_zero_torque(c) for _, c, _ in wire.decoded())  # still zero torque: nothing was acted on
        wire.bad_crc_buttons = None
        wire.press_start(since=bad_until)  # a valid START is
        assert finish(real, real_log, sig=signal.SIGINT) == 0, (tmp_path / "real.log").read_text()
    finally:
        if real.poll() is None:
            real.kill()
    result = json.loads(summary.read_text())
    assert result["states"] == ["zero_torque", "move_to_default", "damping"] and result["faults"] == []
    assert result["lowstate_crc_errors"] >= wire.bad_sent - 5 and result["lowstate_crc_errors"] > 250
    assert_commands_safe(wire.decoded())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl_c", "terminal_closed"])
def test_ctrl_c_damps_and_exits_cleanly(wire, redis_server, tmp_path, sig):
    """Ctrl-C, and SIGHUP (the terminal or SSH session that ran the server is lost), both damp for 0.5 s
    before the exit; SIGHUP's default action would end the process with the hold pose's stiff targets as
    the last command on the wire."""
    real, real_log, summary = start_real_server(wire, redis_server.url, tmp_path)
    try:
        wire.play_robot()
        wait_for(lambda: len(wire.decoded()) > 5, 20, "the server's zero-torque commands")
        wire.robot_buttons = ["start"]
        time.sleep(0.3)
        wire.robot_buttons = []
        time.sleep(2.5)  # the 2-s move, then the hold
        hold = wire.decoded()[-1][1]
        assert np.all(hold.kp[:29] > 0) and not is_damping(hold)
        interrupted_at = time.monotonic()
        assert finish(real, real_log, sig=sig, timeout=10) == 0, (tmp_path / "real.log").read_text()
    finally:
        if real.poll() is None:
            real.kill()
    first_damping = min(t for t, c, _ in wire.decoded(interrupted_at) if is_damping(c))
    assert first_damping - interrupted_at <= 0.1
    damping = wire.decoded(first_damping)
    assert all(is_damping(c) for _, c, _ in damping)
    assert 15 <= len(damping) <= 40  # 0.5 s of damping at 50 Hz, then the exit
    result = json.loads(summary.read_text())
    assert result["states"] == ["zero_torque", "move_to_default", "default_hold", "damping"]
    assert result["exit_reason"] == "interrupt" and result["faults"] == []
    assert_commands_safe(wire.decoded())


def _to_policy(wire):
    """The test's robot: START, the 2-s move, then A (the policy)."""
    wire.play_robot()
    wait_for(lambda: len(wire.decoded()) > 5, 20, "the server's zero-torque commands")
    wire.robot_buttons = ["start"]
    time.sleep(0.3)
    wire.robot_buttons = []
    time.sleep(2.2)
    wire.robot_buttons = ["A"]
    time.sleep(0.3)
    wire.robot_buttons = []


def test_a_reference_no_float_holds_is_reported_and_the_policy_goes_on(wire, redis_server, tmp_path):
    """A 400-digit integer in the reference during the policy: rejected and reported once (no fault, no
    exception), the robot stands on the default; the last line and the summary count it."""
    real, real_log, summary = start_real_server(wire, redis_server.url, tmp_path)
    log = tmp_path / "real.log"
    try:
        _to_policy(wire)
        wait_for(lambda: "-> policy" in log.read_text(), 5, "the policy")
        redis.Redis(port=redis_server.port).set("action_mimic_g1", "[" + ",".join([str(10**400)] + ["0.1"] * 32) + "]")
        wait_for(lambda: "last rejection" in log.read_text(), 5, "the report")
        time.sleep(1.5)
        assert real.poll() is None
        assert finish(real, real_log, sig=signal.SIGINT) == 0, log.read_text()
    finally:
        if real.poll() is None:
            real.kill()
    out = log.read_text()
    assert (
        out.count(
            "[real] reference default: rejected 1 stale 0 non-finite actions 0; "
            "last rejection: action_mimic_g1[0]: an integer of 1329 bits, beyond any float"
        )
        == 1
    )
    assert "FAULT" not in out and "Traceback" not in out
    assert "faults 0; rejected 1 stale 0 non-finite actions 0; latency" in out.splitlines()[-1]
    result = json.loads(summary.read_text())
    assert result["states"] == ["zero_torque", "move_to_default", "default_hold", "policy", "damping"]
    assert result["rejected"] == 1 and result["faults"] == [] and result["exit_reason"] == "interrupt"
    assert_commands_safe(wire.decoded())


def test_an_exception_outside_the_steps_damps_closes_dds_and_exits(wire, redis_server, tmp_path):
    """The server's loop raises (injected into its pacing, 3 s after start): damping for 0.5 s, DDS closed,
    the traceback, exit 2 within seconds; the process does not hang on cyclonedds' threads."""
    script = tmp_path / "failing_server.py"
    script.write_text(
        "import sys\n"
        "sys.path.insert(0, {!r})\n"
        "from deploy_real import pacing\n"
        "from deploy_real.server_low_level_g1_real import main\n"
        "wait, calls = pacing.Pacer.wait, []\n"
        "def failing(self):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 150:\n"
        "        raise OverflowError('injected')\n"
        "    wait(self)\n"
        "pacing.Pacer.wait = failing\n"
        "sys.exit(main(sys.argv[1:]))\n".format(str(deploy_helpers.REPO_ROOT))
    )
    real, real_log, summary = start_real_server(wire, redis_server.url, tmp_path, script=script)
    try:
        wire.play_robot()
        wait_for(lambda: len(wire.decoded()) > 5, 20, "the server's zero-torque commands")
        wire.robot_buttons = ["start"]
        assert finish(real, real_log, timeout=20) == 2, (tmp_path / "real.log").read_text()
    finally:
        if real.poll() is None:
            real.kill()
    out = (tmp_path / "real.log").read_text()
    assert "OverflowError: injected" in out.splitlines()[-1]
    wait_for(lambda: is_damping(wire.decoded()[-1][1]), 5, "the damping commands")  # DDS delivers after the exit
    decoded = wire.decoded()
    last_other = max(i for i, (_, c, _) in enumerate(decoded) if not is_damping(c))
    assert last_other > 5  # the zero-torque, move and hold commands came first
    assert len(decoded) - 1 - last_other >= 20  # then 0.5 s of damping (25 commands) from the hold
    assert_commands_safe(decoded)
    result = json.loads(summary.read_text())
    assert result["states"] == ["zero_torque", "move_to_default", "default_hold", "damping"]


def assert_motion_switcher_unreachable_noted(out):
    """The motion switcher check ran (no motion switcher on loopback: one note) before the server's DDS."""
    assert out.count("[real] " + UNREACHABLE_MESSAGE) == 1, out
    assert out.index(UNREACHABLE_MESSAGE) < out.index("waiting for rt/lowstate")


@pytest.mark.parametrize("release", [False, True], ids=["ask", "release"])
def test_a_robot_of_another_type_is_refused_before_any_command(wire, redis_server, tmp_path, release):
    """mode_machine 4 (g1_23dof_rev_1_0: no waist roll or pitch, which the policy drives): after the first
    LowState the server exits 2 naming the problem, and not one LowCmd goes on the wire. With
    --release_motion_mode the motion switcher is never asked: a refused robot is not released."""
    wire.mode_machine = 4
    extra = ["--release_motion_mode"] if release else []
    real, real_log, summary = start_real_server(wire, redis_server.url, tmp_path, extra)
    log = tmp_path / "real.log"
    try:
        wire.play_robot()
        assert finish(real, real_log, timeout=20) == 2, log.read_text()
    finally:
        if real.poll() is None:
            real.kill()
    time.sleep(0.5)  # a LowCmd written before the exit would have arrived by now
    out = log.read_text()
    assert "the robot's mode_machine is 4 (g1_23dof_rev_1_0: a 23-DoF G1" in out
    assert "add 4 to `mode_machine` in the config" in out and "nothing was sent" in out
    assert "robot heard" not in out and "Traceback" not in out
    if release:
        assert UNREACHABLE_MESSAGE not in out
    else:
        assert_motion_switcher_unreachable_noted(out)
    assert wire.decoded() == []
    result = json.loads(summary.read_text())
    assert result["lowcmd_sent"] == 0 and result["states"] == [] and result["exit_reason"] == "mode_machine"
    assert result["lowstate_received"] >= 1


def test_the_release_comes_after_the_robot_type_is_checked(wire, redis_server, tmp_path):
    """--release_motion_mode on a robot of an allowed type: the release (no motion switcher on loopback: one
    note) runs once the first LowState has been checked, before the first command; Ctrl-C exits 0."""
    real, real_log, summary = start_real_server(wire, redis_server.url, tmp_path, ["--release_motion_mode"])
    log = tmp_path / "real.log"
    try:
        wire.play_robot()
        wait_for(lambda: "robot heard" in log.read_text(), 40, "the robot heard")
        wait_for(lambda: len(wire.decoded()) > 5, 20, "the server's zero-torque commands")
        assert finish(real, real_log, sig=signal.SIGINT, timeout=10) == 0, log.read_text()
    finally:
        if real.poll() is None:
            real.kill()
    out = log.read_text()
    assert out.count("[real] " + UNREACHABLE_MESSAGE) == 1, out
    assert out.index("waiting for rt/lowstate") < out.index(UNREACHABLE_MESSAGE) < out.index("robot heard")
    assert is_zero_torque(wire.decoded()[0][1])
    assert json.loads(summary.read_text())["states"] == ["zero_torque", "damping"]


def test_lowstates_that_stop_updating_are_a_fault(wire, redis_server, tmp_path):
    """The robot keeps publishing at 500 Hz, but one state: its tick no longer advances. Damping after
    lowstate_tick_timeout_s (0.1 s), though every LowState is fresh."""

    def freeze():
        wire.frozen_tick = 7

    result, _, t_frozen = run_until_fault(wire, redis_server.url, tmp_path, freeze, "the frozen-tick fault")
    assert result["states"] == ["zero_torque", "move_to_default", "damping"] and result["lowstate_tick_advanced"]
    assert len(result["faults"]) == 1 and result["faults"][0]["reason"].startswith("LowState tick frozen at 7")
    damped = [t for t, c, _ in wire.decoded(since=t_frozen) if np.all(c.kp == 0) and np.all(c.kd[:29] > 0)]
    assert damped and 0.1 <= damped[0] - t_frozen < 0.3  # 100 ms + a step, with margin for a loaded machine
    assert_commands_safe(wire.decoded())


def test_lowstates_without_a_crc_are_accepted_with_one_note_and_still_checked(wire, redis_server, tmp_path):
    """The robot publishes LowStates with crc 0 (unitree_mujoco's bridge never sets it) and the config lists
    unitree_mujoco's mode_machine 0: the server hears it, notes it once, acts on its buttons, and still faults
    on what it carries (here the pelvis upside down)."""
    wire.no_crc = True

    def upside_down():  # a fault, CRC or not
        wire.quat_wxyz = (0.0, 1.0, 0.0, 0.0)

    heard = "robot heard (mode_machine 5, g1_29dof_rev_1_0"
    config = real_config_copy(tmp_path, "mode_machine: [5, 11, 13, 15]", "mode_machine: [0, 5, 11, 13, 15]")
    result, out, _ = run_until_fault(
        wire, redis_server.url, tmp_path, upside_down, "the tilt fault", heard, ["--config", config]
    )
    assert out.count(NO_CRC_NOTE) == 1
    assert out.index(NO_CRC_NOTE) < out.index("robot heard")
    assert_motion_switcher_unreachable_noted(out)
    assert result["states"] == ["zero_torque", "move_to_default", "damping"]
    assert len(result["faults"]) == 1 and result["faults"][0]["reason"].startswith("pelvis tilt")
    assert result["lowstate_crc_errors"] == 0
    assert result["lowstate_no_crc"] == result["lowstate_received"] > 100
    assert_commands_safe(wire.decoded())


def test_lowstates_without_a_crc_are_ignored_unless_the_config_lists_mode_machine_0(wire, redis_server, tmp_path):
    """With the default config (a real G1, which always sets the CRC) LowStates with crc 0 are ignored: the
    server notes it once, says how many while it waits, never hears the robot, never acts on its START and
    sends nothing."""
    wire.no_crc = True
    wire.robot_buttons = ["start"]
    real, real_log, summary = start_real_server(wire, redis_server.url, tmp_path)
    log = tmp_path / "real.log"
    try:
        wire.play_robot()
        wait_for(lambda: "without a CRC: " in log.read_text(), 20, "the waiting note")
        assert finish(real, real_log, sig=signal.SIGINT) == 0, log.read_text()
    finally:
        if real.poll() is None:
            real.kill()
    out = log.read_text()
    assert out.count(NO_CRC_IGNORED_NOTE) == 1 and NO_CRC_NOTE not in out
    assert "robot heard" not in out and "nothing was sent" in out
    waiting = [line for line in out.splitlines() if "still waiting for rt/lowstate" in line]
    assert int(waiting[-1].split("without a CRC: ")[1].split(",")[0]) > 500  # 500 Hz for more than 2 s
    assert wire.decoded() == []
    result = json.loads(summary.read_text())
    assert result["lowstate_received"] == 0 and result["lowstate_no_crc"] > 500 and result["lowcmd_sent"] == 0
