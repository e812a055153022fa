"""Low-level real server (TWIST's `server_low_level_g1_real.py`): the student policy drives the real G1 over DDS.

    python deploy_real/server_low_level_g1_real.py --net eno1                 # laptop wired to the robot
    python deploy_real/server_low_level_g1_real.py --net lo --domain_id 7 --summary_json run.json   # vs sim_robot

Before anything is sent: Unitree's built-in motion control must be off (`deploy_real.motion_mode`, a short
subprocess before this server's DDS domain: a mode active -> exit 2, put the robot in debug mode, L2+R2, or
pass --release_motion_mode; no motion switcher answering, a simulator -> a note, and on), and the first
valid LowState must come from a robot type in the config's `mode_machine` (a 29-motor G1 with the waist
unlocked; another -> exit 2, nothing sent). With --release_motion_mode the release comes last, once that
LowState has passed: a robot refused for its type is never released.

It reads `rt/lowstate` (unitree_hg LowState_; a message with a wrong CRC is ignored; one with a `crc` of 0,
no CRC set as unitree_mujoco publishes, is accepted with a note when the config's `mode_machine` lists
unitree_mujoco's 0, else ignored with a note: a real G1 always sets it) and writes `rt/lowcmd` (LowCmd_, CRC on
every message) at 50 Hz, through a state machine driven by the robot's remote:

    zero_torque --START--> move_to_default (2 s, linear) --> default_hold --A--> policy --SELECT--> damping, exit 0

- zero_torque: every motor q = dq = kp = kd = tau = 0 (the robot hangs in its gantry).
- move_to_default: from the pose at START to the default pose (training defaults, wrists at 0) in 2 s,
  with the config's Kp/Kd; then default_hold keeps it.
- policy: the student at 50 Hz, exactly as the sim2sim server: the training environment's observation
  (`deploy_real.observation`), the reference from Redis through the safety gate (`deploy_real.safety`),
  actions clipped to +-10, targets = default + 0.5 action clamped to the joint ranges; `state_body_g1`
  is written to Redis. The wrist motors hold 0 (Kp 20, Kd 1) except the wrist rolls, which follow the
  reference's wrist rolls at up to 5 rad/s (`student_step.WRIST_ROLL_MAX_STEP_RAD`).
- damping: every motor kp 0, kd 8, no torque.

Faults send the robot to damping, and it stays there (until SELECT or Ctrl-C, exit code 1): no valid
LowState for 50 ms, LowStates whose `tick` (the robot's state counter) has not advanced for 0.1 s once it
has been seen to advance (a stream that repeats one state; `lowstate_tick_timeout_s`, 0: off; simulator
bridges that publish a constant tick are not checked, with a note after 1 s), a LowState whose mode_machine
differs from the one the robot was heard with (another publisher on rt/lowstate), a non-finite state, a pelvis
tilt beyond 1 rad, an exception inside a step (its type, message and place are logged). SELECT in any
state, Ctrl-C or SIGTERM: damping for 0.5 s, then exit 0. Every commanded q is clamped to its joint range
and nothing non-finite is sent (a non-finite command becomes damping). An exception outside the steps sends damping for 0.5 s and exits 2; every way out
closes DDS first (left to the interpreter's exit, its deletion can hang the process). The reference
gate's counts (rejected, stale) and the non-finite actions are reported once a second while they grow
(`deploy_real.student_step`), and in the last line. Numbers: deploy_real/configs/g1.yaml.
--summary_json PATH writes at exit: states (in the order visited), policy_steps, faults, latency_p50_ms /
latency_p99_ms (LowState arrival -> LowCmd written, over the policy steps) and more.

A --policy_path whose export metadata disagrees with the config (action_scale, action_clip, the default
pose, the joint order, control_dt) or with the observation this server builds is refused before the state
machine starts, in one line naming the key and both values (`deploy_real.student_step.check_export_metadata`;
the config's Kp/Kd are not compared).
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file from any directory
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from typing import TYPE_CHECKING, FrozenSet, List, Optional  # noqa: E402

import numpy as np  # noqa: E402

from deploy_real.pacing import Pacer, StopRequest  # noqa: E402
from deploy_real.redis_link import add_redis_argument  # noqa: E402
from deploy_real.runtime import ENGINES  # noqa: E402
from deploy_real.safety import tilt_angle  # noqa: E402  (the sim2sim server reports the same tilt)
from deploy_real.unitree_msgs import LowCmd, LowState, parse_remote  # noqa: E402

if TYPE_CHECKING:
    from deploy_real.dds_link import RobotSide

ZERO_TORQUE, MOVE_TO_DEFAULT, DEFAULT_HOLD, POLICY, DAMPING = (
    "zero_torque",
    "move_to_default",
    "default_hold",
    "policy",
    "damping",
)
EXIT_OK, EXIT_FAULT, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from deploy_real.drift_feedback import add_server_arguments

    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--net", default="eno1", help="network interface wired to the robot (default eno1, as TWIST; lo for sim_robot)"
    )
    p.add_argument("--domain_id", type=int, default=0, help="DDS domain (the robot uses 0)")
    p.add_argument(
        "--policy_path",
        default=None,
        help="exported student (.pt TorchScript or .onnx); default: the shipped assets/twist_general_motion_tracker.pt",
    )
    p.add_argument(
        "--config",
        "--config_path",
        dest="config",
        default=None,
        help="robot config (default deploy_real/configs/g1.yaml)",
    )
    add_redis_argument(p)
    p.add_argument("--engine", default="auto", choices=ENGINES, help="what runs the observation and policy graphs")
    p.add_argument(
        "--device",
        default="cpu",
        help="TWIST's flag: the policy runs on the CPU here (--engine; about 1 ms a step), whatever it says",
    )
    add_server_arguments(p)
    p.add_argument(
        "--release_motion_mode",
        action="store_true",
        help="if Unitree's built-in motion control is active, release it (the motion switcher's ReleaseMode) "
        "instead of refusing to start; the robot must hang in its gantry",
    )
    p.add_argument("--summary_json", default=None, metavar="PATH", help="write the run's numbers at exit")
    return p


def state_fault(low: Optional[LowState], age: float, cfg) -> Optional[str]:
    """Why `low` (received `age` s ago) must stop the robot, or None."""
    if low is None or age > cfg.lowstate_timeout_s:
        return "no LowState for {:.0f} ms (limit {:.0f} ms)".format(1000 * age, 1000 * cfg.lowstate_timeout_s)
    n = len(cfg.motor_names)
    fields = (
        ("motor q", low.q[:n]),
        ("motor dq", low.dq[:n]),
        ("IMU quaternion", low.quat_wxyz),
        ("IMU gyroscope", low.gyro),
    )
    if not all(np.isfinite(v).all() for _, v in fields):
        for name, v in fields:
            bad = np.flatnonzero(~np.isfinite(v))
            if bad.size:
                return "non-finite state: {}[{}] = {}".format(name, bad[0], v[bad[0]])
    norm = float(np.linalg.norm(low.quat_wxyz))
    if not 0.5 < norm < 1.5:
        return "invalid IMU quaternion (norm {:.3f})".format(norm)
    tilt = tilt_angle(low.quat_wxyz)
    if tilt > cfg.max_tilt_rad:
        return "pelvis tilt {:.2f} rad beyond {:.2f} rad".format(tilt, cfg.max_tilt_rad)
    return None


TICK_NOTE_S = 1.0  # a tick that never advanced for this long is noted once (the frozen-state check is off)
#: policy steps in a row whose action is not usable (non-finite, wrong shape) before the policy is a fault: each
#: such step holds the last targets (`PDTargetGuard`), which a walking robot cannot live on for long (0.1 s)
MAX_UNUSABLE_ACTIONS = 5


class TickWatch:
    """Whether the robot's state is updating: a LowState's `tick` (the robot's counter) must advance. A stream
    that keeps arriving with one tick for `timeout_s` (a state that no longer updates, republished) is a fault
    once the tick has been seen to advance; before that, a tick that never changes (simulator bridges publish
    0 or a constant) is not checked, and noted once after TICK_NOTE_S. `timeout_s` 0: no check."""

    def __init__(self, timeout_s: float, log) -> None:
        self.timeout_s = timeout_s
        self.log = log
        self._tick: Optional[int] = None
        self._since = 0.0
        self.advanced = False
        self._noted = False

    def fault(self, tick: int, now: float) -> Optional[str]:
        """Why the state with `tick`, used at `now`, must stop the robot, or None."""
        if tick != self._tick:
            self.advanced = self.advanced or self._tick is not None
            self._tick, self._since = tick, now
            return None
        frozen_s = now - self._since
        if self.advanced and 0 < self.timeout_s < frozen_s:
            return "LowState tick frozen at {} for {:.0f} ms (limit {:.0f} ms): the state is not updating".format(
                tick, 1000 * frozen_s, 1000 * self.timeout_s
            )
        if not self.advanced and frozen_s > TICK_NOTE_S and not self._noted:
            self._noted = True
            self.log(
                "[real] the LowState tick has not advanced in {:.0f} s (stays {}; a simulator bridge?): "
                "a state that stops updating is caught by the other checks only".format(frozen_s, tick)
            )
        return None


class LowLevelReal:
    """The server's state machine and commands, independent of the transport: `step(low, age, now, wall_ms)`
    takes the newest LowState (None if none) and its age and returns the LowCmd to send. `run()` feeds it
    from DDS; the tests feed it directly."""

    def __init__(
        self,
        cfg,
        policy_path=None,
        link=None,
        engine: str = "auto",
        log=print,
        use_drift_feedback: bool = True,
        drift_feedback_gains=None,
        leg_odometry: bool = False,
    ) -> None:
        from deploy_real.contract import deploy_joints
        from deploy_real.student_step import StudentStep

        self.cfg = cfg
        self.log = log
        self.link = link
        b = cfg.body_motor_idx
        joints = deploy_joints()
        self.student = StudentStep(
            cfg.default_dof_pos,
            cfg.lower[b],
            cfg.upper[b],
            joints.lower[joints.wrist_ids],
            joints.upper[joints.wrist_ids],
            policy_path,
            link,
            engine,
            cfg.action_scale,
            cfg.action_clip,
            use_drift_feedback,
            drift_feedback_gains,
            leg_odometry,
            log=lambda msg: log("[real] " + msg),
            joint_names=[cfg.motor_names[m] for m in b],
            policy_dt=cfg.control_dt,
        )
        self.n_motors = len(cfg.motor_names)
        # the ranges as the float32 values the message carries, rounded inwards: a sent q is never outside
        lo, hi = cfg.lower.astype(np.float32), cfg.upper.astype(np.float32)
        lo = np.where(lo < cfg.lower, np.nextafter(lo, np.float32(np.inf)), lo)
        hi = np.where(hi > cfg.upper, np.nextafter(hi, np.float32(-np.inf)), hi)
        self._q_lower, self._q_upper = lo.astype(np.float64), hi.astype(np.float64)
        self.move_steps = max(int(round(cfg.move_to_default_s / cfg.control_dt)), 1)
        self.mode: Optional[str] = None
        self.states: List[str] = []
        self.faults: List[dict] = []
        self.exit_reason: Optional[str] = None
        self.mode_machine = 0
        self.t0: Optional[float] = None
        self._exit_at: Optional[float] = None
        self._move_from = cfg.default_pose.copy()
        self._move_k = 0
        self.policy_steps = 0
        self._joint_err_sum = 0.0
        self._joint_err_n = 0
        self.unsafe_commands = 0
        self._damping_error: Optional[str] = None  # the last exception of a step in damping
        self.ticks = TickWatch(cfg.lowstate_tick_timeout_s, log)
        self._buttons: FrozenSet[str] = frozenset()  # the remote's buttons down on the step before

    # --- state machine ------------------------------------------------------------------------------

    def _since_start(self, now: float) -> float:
        assert self.t0 is not None, "start() first"
        return now - self.t0

    def _enter(self, mode: str, now: float, why: str = "") -> None:
        self.mode = mode
        self.states.append(mode)
        self.log("[real] {:7.2f} s  -> {}{}".format(self._since_start(now), mode, " ({})".format(why) if why else ""))

    def start(self, low: LowState, now: float) -> None:
        """The first valid LowState: copy its mode_machine, start in zero_torque."""
        self.t0 = now
        self.mode_machine = int(low.mode_machine)
        self._buttons = parse_remote(low.wireless_remote)[0]  # a button down already is not a press
        self._enter(ZERO_TORQUE, now)

    def fault(self, reason: str, now: float) -> None:
        self.faults.append({"reason": reason, "state": self.mode, "t_s": round(self._since_start(now), 4)})
        self.log("[real] FAULT in {}: {} -> damping (SELECT or Ctrl-C to exit)".format(self.mode, reason))
        self._enter(DAMPING, now, "fault")

    def request_exit(self, reason: str, now: float) -> None:
        """SELECT, Ctrl-C or SIGTERM: damping for exit_damping_s, then `done()`."""
        if self._exit_at is not None:
            return
        self.exit_reason = reason
        self._exit_at = now + self.cfg.exit_damping_s
        if self.mode != DAMPING:
            self._enter(DAMPING, now, reason)

    def done(self, now: float) -> bool:
        return self._exit_at is not None and now >= self._exit_at

    def exit_code(self) -> int:
        return EXIT_FAULT if self.faults else EXIT_OK

    def step(self, low: Optional[LowState], age: float, now: float, wall_ms: float) -> LowCmd:
        """One 50 Hz step: faults, buttons, the command of the current state. An exception inside it is a
        fault: damping."""
        try:
            return self._step(low, age, now, wall_ms)
        except Exception as e:
            where = traceback.extract_tb(e.__traceback__)[-1]
            reason = "{}: {} (at {}:{} in {})".format(
                type(e).__name__, e, os.path.basename(where.filename), where.lineno, where.name
            )
            if self.mode != DAMPING:
                self.fault(reason, now)
                self.log("".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip())
            elif reason != self._damping_error:  # once, not at 50 Hz
                self.log("[real] {} in damping".format(reason))
            self._damping_error = reason
            cmd = LowCmd(self.mode_machine)
            cmd.mode[:] = 1
            self._damping(cmd)
            return cmd

    def _step(self, low: Optional[LowState], age: float, now: float, wall_ms: float) -> LowCmd:
        fresh = low if low is not None and age <= self.cfg.lowstate_timeout_s else None  # None: no recent LowState
        reason = state_fault(low, age, self.cfg)
        if reason is None:
            assert fresh is not None  # state_fault faults an old or missing LowState
            reason = self.ticks.fault(int(fresh.tick), now)
            if reason is None and int(fresh.mode_machine) != self.mode_machine:
                reason = (
                    "LowState mode_machine {} where the robot was heard with {} "
                    "(another publisher on rt/lowstate?)".format(int(fresh.mode_machine), self.mode_machine)
                )
        if reason is not None and self.mode != DAMPING:
            self.fault(reason, now)
        buttons = parse_remote(fresh.wireless_remote)[0] if fresh is not None else frozenset()
        pressed = buttons - self._buttons  # START and A act when pressed, not while held (or stuck)
        self._buttons = buttons
        if "select" in buttons:
            self.request_exit("select", now)
        elif self.mode == ZERO_TORQUE and "start" in pressed:
            assert fresh is not None  # the buttons were read from it
            self._move_from = np.clip(fresh.q[: self.n_motors], self.cfg.lower, self.cfg.upper)
            self._move_k = 0
            self._enter(MOVE_TO_DEFAULT, now)
        elif self.mode == DEFAULT_HOLD and "A" in pressed:
            self.student.restart()
            self._enter(POLICY, now)

        cmd = LowCmd(self.mode_machine)
        cmd.mode[:] = 1
        if self.mode == ZERO_TORQUE:
            pass
        elif self.mode == MOVE_TO_DEFAULT:
            self._move_k += 1
            w = min(self._move_k / self.move_steps, 1.0)
            self._pd(cmd, (1.0 - w) * self._move_from + w * self.cfg.default_pose)
            if self._move_k >= self.move_steps:
                self._enter(DEFAULT_HOLD, now)
        elif self.mode == DEFAULT_HOLD:
            self._pd(cmd, self.cfg.default_pose)
        elif self.mode == POLICY:
            assert low is not None  # a missing LowState faults into damping above
            targets = self._policy_targets(low, now, wall_ms)
            guard = self.student.guard
            if guard.unusable_in_a_row >= MAX_UNUSABLE_ACTIONS:
                self.fault(
                    "{} unusable policy actions in a row ({})".format(guard.unusable_in_a_row, guard.last_error), now
                )
                self._damping(cmd)
            else:
                self._pd(cmd, targets)
        else:
            self._damping(cmd)
        return self._finalize(cmd, now)

    # --- commands -----------------------------------------------------------------------------------

    def _pd(self, cmd: LowCmd, q29: np.ndarray) -> None:
        n = self.n_motors
        cmd.q[:n], cmd.kp[:n], cmd.kd[:n] = q29, self.cfg.kp, self.cfg.kd

    def _damping(self, cmd: LowCmd) -> None:
        cmd.q[:] = cmd.dq[:] = cmd.tau[:] = cmd.kp[:] = 0.0
        cmd.kd[: self.n_motors] = self.cfg.damping_kd

    def _finalize(self, cmd: LowCmd, now: float) -> LowCmd:
        """Every q inside its joint range, unused slots zero, nothing non-finite (else: damping)."""
        n = self.n_motors
        cmd.q[:n] = np.clip(cmd.q[:n], self._q_lower, self._q_upper)
        for a in (cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd):
            a[n:] = 0.0
        if not cmd.is_finite():
            self.unsafe_commands += 1
            if self.mode != DAMPING:
                self.fault("non-finite command", now)
            self._damping(cmd)
        return cmd

    def _policy_targets(self, low: LowState, now: float, wall_ms: float) -> np.ndarray:
        """The 29 motor targets of one policy step (the sim2sim server's step on the robot's state)."""
        cfg = self.cfg
        b = cfg.body_motor_idx
        w, x, y, z = low.quat_wxyz
        out = self.student.step(low.gyro, np.array([x, y, z, w]), low.q[b], low.dq[b], now, wall_ms)
        q29 = cfg.default_pose.copy()
        q29[b] = out.target23
        q29[list(cfg.wrist_roll_motor_idx)] = out.wrists
        self.policy_steps += 1
        self._joint_err_sum += float(np.mean(np.abs(low.q[b] - out.mimic31[8:])))
        self._joint_err_n += 1
        return q29

    def summary(self) -> dict:
        return {
            "states": list(self.states),
            "policy_steps": self.policy_steps,
            "faults": list(self.faults),
            "exit_reason": self.exit_reason,
            "rejected": self.student.gate.rejected,
            "stale": self.student.gate.stale,
            "reference_status_steps": dict(self.student.status_counts),
            "joint_err_rad": self._joint_err_sum / max(self._joint_err_n, 1),
            "nonfinite_actions": self.student.guard.nonfinite_actions,
            "unsafe_commands": self.unsafe_commands,
            "redis_errors": 0 if self.link is None else self.link.errors,
        }


def percentiles_ms(samples_s) -> dict:
    if not len(samples_s):
        return {"p50": None, "p99": None, "max": None}
    a = 1000.0 * np.asarray(samples_s)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


NO_CRC_NOTE = "[real] LowState without a CRC (crc 0, as unitree_mujoco publishes): accepted; values are still checked"
NO_CRC_IGNORED_NOTE = (
    "[real] LowState without a CRC (crc 0) ignored: a real G1 always sets it (is another publisher, such as "
    "unitree_mujoco, on rt/lowstate?). To run against unitree_mujoco, add its mode_machine 0 to `mode_machine` "
    "in the config (--config)"
)


def run(args) -> int:
    from deploy_real.dds_link import DdsDomain, RobotSide
    from deploy_real.motion_mode import PendingCheck
    from deploy_real.real_config import describe_mode_machine, load_real_config, mode_machine_problem
    from deploy_real.redis_link import RedisLink

    stop = StopRequest()
    # Unitree's built-in motion control must be off (`deploy_real.motion_mode`: a subprocess, the SDK's client
    # makes a DDS participant of its own). Only asking (no --release_motion_mode), it runs while the config,
    # Redis and the policy load, before this server's DDS. A release waits until they have loaded and the first
    # LowState has shown a robot type the config allows, so a broken config, a missing policy, a Redis that
    # does not answer or a robot of another type never leaves the robot released.
    pending = None if args.release_motion_mode else PendingCheck(args.domain_id, args.net, False)
    domain = robot = link = server = None
    latencies: List[float] = []
    sent = 0
    try:
        cfg = load_real_config(args.config)
        link = RedisLink(args.redis_url)
        server = LowLevelReal(
            cfg,
            args.policy_path,
            link,
            args.engine,
            use_drift_feedback=not args.no_drift_feedback,
            drift_feedback_gains=args.drift_feedback_gains,
            leg_odometry=args.leg_odometry,
        )
        if pending is not None:
            refused = _motion_mode_refusal(pending.verdict(), stop)
            if refused is not None:
                return refused
        if args.device != "cpu":
            print("[real] --device {}: TWIST's flag; the policy runs on the CPU here".format(args.device), flush=True)
        domain = DdsDomain(args.domain_id, args.net)
        robot = RobotSide(domain, accept_no_crc=0 in cfg.mode_machine)
        print(
            "[real] {} | config {} | DDS domain {} on {} | Redis {}".format(
                server.student.describe(),
                cfg.path,
                args.domain_id,
                args.net,
                args.redis_url,
            ),
            flush=True,
        )
        print("[real] waiting for rt/lowstate ...", flush=True)
        low, t_state, seq, last_note, no_crc_noted = None, 0.0, 0, time.monotonic(), False
        while not stop.requested:
            low, t_state, seq = robot.wait_newer(0, time.monotonic() + 0.2)
            no_crc_noted = _note_no_crc(robot, no_crc_noted)
            if low is not None:
                break
            if time.monotonic() - last_note > 2.0:
                print(
                    "[real] still waiting for rt/lowstate (received with a wrong CRC: {}, without a CRC: {}, "
                    "undecodable: {})".format(robot.crc_errors, robot.state_no_crc, robot.decode_errors),
                    flush=True,
                )
                last_note = time.monotonic()
        if low is None:
            print("[real] stopped before the robot was heard: nothing was sent", flush=True)
            return EXIT_OK
        problem = mode_machine_problem(low.mode_machine, cfg.mode_machine)
        if problem is not None:
            server.exit_reason = "mode_machine"
            print("server_low_level_g1_real.py: {}; nothing was sent".format(problem), file=sys.stderr, flush=True)
            return EXIT_ERROR
        if args.release_motion_mode:
            pending = PendingCheck(args.domain_id, args.net, True)
            refused = _motion_mode_refusal(pending.verdict(), stop)
            if refused is not None:
                return refused
            after, t_after, _ = robot.latest()  # the robot as it is after the release (a LowState stays once heard)
            if after is not None:
                low, t_state = after, t_after
        server.start(low, time.monotonic())
        print(
            "[real] robot heard (mode_machine {}, {}): zero torque. Remote: START = stand up to the default pose, "
            "A = policy, SELECT = damping and exit".format(
                server.mode_machine, describe_mode_machine(low.mode_machine)
            ),
            flush=True,
        )
        used_seq = 0
        pacer = Pacer(cfg.control_dt)
        while True:
            if server.mode != DAMPING:  # wait for a LowState newer than the last one used, up to the timeout
                low, t_state, seq = robot.wait_newer(used_seq, t_state + cfg.lowstate_timeout_s)
            else:
                low, t_state, seq = robot.latest()
            now = time.monotonic()
            if stop.requested:
                server.request_exit("interrupt", now)
            fresh = seq > used_seq
            used_seq = seq
            mode = server.mode
            cmd = server.step(low, now - t_state, now, time.time() * 1000.0)
            robot.send(cmd)
            sent += 1
            if not no_crc_noted:
                no_crc_noted = _note_no_crc(robot, no_crc_noted)
            if fresh and mode == POLICY and server.mode == POLICY:
                latencies.append(time.monotonic() - t_state)
            if server.done(now):
                break
            pacer.wait()
        return server.exit_code()
    finally:
        if pending is not None:  # (ended unless the config, Redis or the policy failed while it ran)
            pending.cancel()
        if robot is not None and server is not None and server.mode is not None and server.mode != DAMPING:
            _send_final_damping(server, robot)
        if domain is not None:
            domain.close()
        if link is not None:
            link.close()
        if server is not None and robot is not None:
            write_summary(server, robot, latencies, sent, args.summary_json)


def _send_final_damping(server: LowLevelReal, robot: RobotSide) -> None:
    """An exception out of the loop: damping for exit_damping_s at control_dt (as the other ways out, so one
    lost packet does not leave the robot on its last position target), paced by sleep, not the loop's pacer;
    the first failed send ends it."""
    cmd = LowCmd(server.mode_machine)
    cmd.mode[:] = 1
    server._damping(cmd)
    server.states.append(DAMPING)
    for _ in range(max(int(round(server.cfg.exit_damping_s / server.cfg.control_dt)), 1)):
        try:
            robot.send(cmd)
        except Exception as e:
            print("[real] the last damping commands could not be sent: {}".format(e), file=sys.stderr, flush=True)
            return
        time.sleep(server.cfg.control_dt)


def _motion_mode_refusal(verdict, stop: StopRequest) -> Optional[int]:
    """None when the motion switcher's verdict lets the server go on (printed); else the exit code, with why."""
    from deploy_real.motion_mode import NO_SDK

    if stop.requested:
        print("[real] stopped before any command: nothing was sent", flush=True)
        return EXIT_OK
    if verdict.outcome == NO_SDK:
        raise RuntimeError(verdict.message)
    if not verdict.go_on:
        print("server_low_level_g1_real.py: {}".format(verdict.message), file=sys.stderr, flush=True)
        return EXIT_ERROR
    print("[real] {}".format(verdict.message), flush=True)
    return None


def _note_no_crc(robot, noted: bool) -> bool:
    """Print NO_CRC_NOTE (or NO_CRC_IGNORED_NOTE) once, when the first LowState without a CRC has been
    accepted (or ignored); whether it was."""
    if not noted and robot.state_no_crc:
        print(NO_CRC_NOTE if robot.accept_no_crc else NO_CRC_IGNORED_NOTE, flush=True)
        return True
    return noted


def write_summary(server: LowLevelReal, robot, latencies: List[float], sent: int, path: Optional[str]) -> None:
    """The last line, and the --summary_json file."""
    summary = server.summary()
    lat = percentiles_ms(latencies)
    summary.update(
        {
            "latency_p50_ms": lat["p50"],
            "latency_p99_ms": lat["p99"],
            "latency_max_ms": lat["max"],
            "lowstate_received": robot.state_seq,
            "lowstate_crc_errors": robot.crc_errors,
            "lowstate_no_crc": robot.state_no_crc,
            "lowstate_tick_advanced": server.ticks.advanced,
            "lowcmd_sent": sent,
        }
    )
    print(
        "[real] states {}; {} policy steps; faults {}; rejected {} stale {} non-finite actions {}; "
        "latency p50 {} p99 {} ms".format(
            " -> ".join(summary["states"]),
            summary["policy_steps"],
            len(summary["faults"]),
            summary["rejected"],
            summary["stale"],
            summary["nonfinite_actions"],
            _fmt(lat["p50"]),
            _fmt(lat["p99"]),
        ),
        flush=True,
    )
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(summary, f, indent=1)


def _fmt(v) -> str:
    return "-" if v is None else "{:.2f}".format(v)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print("server_low_level_g1_real.py: {}".format(e), file=sys.stderr)
        return EXIT_ERROR
    except Exception:  # DDS is closed and the robot damped (run's finally): a traceback and exit 2
        traceback.print_exc()
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
