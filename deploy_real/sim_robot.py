"""A simulated G1 that speaks the real robot's DDS messages, so the real server runs unmodified against it.

    python -m deploy_real.sim_robot --net lo --press START@3 A@7 SELECT@30      # then, in another terminal:
    python deploy_real/server_low_level_g1_real.py --net lo

MuJoCo at 1 kHz (`deploy_real.mujoco_g1`: the 25-joint sim2sim model) behind the robot's topics:

- `rt/lowstate` (unitree_hg LowState_, CRC filled in, 500 Hz as on the robot): motor q, dq, tau of the 29
  motors (the wrist pitch/yaw motors, welded in the model, read 0), the pelvis IMU (quaternion wxyz, gyro,
  accelerometer, rpy), tick (ms), mode_machine, and wireless_remote carrying the emulated buttons.
- `rt/lowcmd` (LowCmd_): a command with a wrong CRC is dropped and counted, as the robot does; the newest
  valid one is applied every physics step: per motor tau = tau_ff + kp (q* - q) + kd (dq* - dq), clipped
  to the joint's effort limit (a motor with mode 0 gives no torque). Until the first command: no torque.

Remote: `--press BUTTON@SECONDS[:HOLD]` holds a button (START, SELECT, A, B, X, Y, L1, L2, R1, R2, F1, F2,
up, down, left, right) from SECONDS after start for HOLD s (default 0.3); `--keyboard` also reads button
names from stdin, one a line. Gantry: the pelvis hangs fixed at the standing height (a virtual gantry, as
a real G1 is started) until the first A press, when the robot is let go on its feet (`--release_s S`
releases at S instead; `--release_s 0` starts free). `--summary_json PATH` writes at exit:
`lowcmd_received`, `crc_errors`, `fell` (pelvis below 0.4 m after the release; `fell_at_s`: when, s
after start) and more.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from typing import List, Optional, Tuple

import numpy as np

from deploy_real.mujoco_g1 import FALL_HEIGHT
from deploy_real.pacing import StopRequest, seconds
from deploy_real.unitree_msgs import NUM_MOTOR_SLOTS, LowState, button_bit, encode_remote

PHYSICS_HZ = 1000
LOWSTATE_HZ = 500
DEFAULT_HOLD_S = 0.3
#: LowState_.mode_machine of the simulated robot (the robot's type code; the server copies it into LowCmd_).
SIM_MODE_MACHINE = 5


def parse_press(text: str) -> Tuple[str, float, float]:
    """ "A@7" or "A@7:0.5" -> (button name, start s, hold s)."""
    try:
        name, when = text.split("@")
        start, _, hold = when.partition(":")
        button_bit(name)
        return name, float(start), float(hold) if hold else DEFAULT_HOLD_S
    except ValueError as e:
        raise argparse.ArgumentTypeError("--press {!r}: expected BUTTON@SECONDS[:HOLD] ({})".format(text, e))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deploy_real.sim_robot",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--net", default="lo", help="network interface (default lo)")
    p.add_argument("--domain_id", type=int, default=0, help="DDS domain (the robot uses 0)")
    p.add_argument(
        "--xml_file", default=None, help="25-DOF MuJoCo model (default assets/g1/g1_sim2sim_with_wrist_roll.xml)"
    )
    p.add_argument("--headless", action="store_true", help="no viewer")
    p.add_argument("--duration", type=seconds, default=None, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument(
        "--press",
        type=parse_press,
        nargs="*",
        default=[],
        metavar="BUTTON@SECONDS[:HOLD]",
        help="emulated remote presses, seconds after start",
    )
    p.add_argument("--keyboard", action="store_true", help="also read button names from stdin, one a line")
    p.add_argument(
        "--release_s",
        type=float,
        default=None,
        metavar="S",
        help="let go of the gantry at S s (default: at the first A press; 0: no gantry)",
    )
    p.add_argument("--summary_json", default=None, metavar="PATH", help="write the run's numbers at exit")
    return p


def quat_to_rpy(q_wxyz: np.ndarray) -> np.ndarray:
    w, x, y, z = q_wxyz
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return np.array([roll, pitch, yaw])


class Remote:
    """Which buttons are down at a time: the --press schedule plus presses typed on stdin."""

    def __init__(self, presses, keyboard: bool = False) -> None:
        self.presses = list(presses)
        self._lock = threading.Lock()
        self._typed: List[Tuple[str, float]] = []
        self._now = 0.0
        if keyboard:
            threading.Thread(target=self._read_stdin, daemon=True).start()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            name = line.strip()
            if not name:
                continue
            try:
                button_bit(name)
            except ValueError as e:
                print("[sim_robot] {}".format(e), flush=True)
                continue
            with self._lock:
                self._typed.append((name, self._now))

    def pressed(self, t: float) -> List[str]:
        with self._lock:
            self._now = t
            typed = list(self._typed)
        down = [n for n, start, hold in self.presses if start <= t < start + hold]
        return down + [n for n, start in typed if start <= t < start + DEFAULT_HOLD_S]

    def first_press(self, name: str) -> Optional[float]:
        times = [start for n, start, _ in self.presses if n.lower() == name.lower()]
        return min(times) if times else None


class SimRobot:
    """MuJoCo G1 + the robot's message handling; `physics_step()` and `lowstate()` are called by `run()`."""

    def __init__(self, xml_file=None, release_s: Optional[float] = None) -> None:
        from deploy_real.mujoco_g1 import G1MujocoSim
        from pose.g1_model import load_g1

        self.sim = G1MujocoSim(xml_file)
        names25 = list(self.sim.joints.names)
        motors = list(load_g1().real_motor_joints)
        #: motor slot of each of the 25 simulated joints
        self.joint_motor = np.array([motors.index(n) for n in names25])
        self.q_des = np.zeros(25)
        self.dq_des = np.zeros(25)
        self.kp = np.zeros(25)
        self.kd = np.zeros(25)
        self.tau_ff = np.zeros(25)
        self.enabled = np.zeros(25)
        self.tau = np.zeros(25)
        self.release_s = release_s
        self.pinned = release_s is None or release_s > 0
        self.released_at: Optional[float] = None if self.pinned else 0.0
        self._pin_qpos = self.sim.data.qpos[0:7].copy()
        self.steps = 0
        self.fell = False
        self.fell_at: Optional[float] = None  # time (s since start) of the first fall
        self.min_pelvis_height = float("inf")
        self.nonfinite_cmds = 0
        self.commands_applied = 0

    def apply(self, cmd) -> None:
        """The command of the 25 simulated motors from a valid LowCmd (a non-finite one is dropped)."""
        if not cmd.is_finite():
            self.nonfinite_cmds += 1
            return
        m = self.joint_motor
        self.q_des, self.dq_des, self.tau_ff = cmd.q[m], cmd.dq[m], cmd.tau[m]
        self.kp, self.kd = cmd.kp[m], cmd.kd[m]
        self.enabled = (cmd.mode[m] != 0).astype(np.float64)
        self.commands_applied += 1

    def release(self, t: float) -> None:
        if self.pinned:
            self.pinned = False
            self.released_at = t
            print("[sim_robot] {:.2f} s: gantry released".format(t), flush=True)

    def physics_step(self, t: float) -> None:
        """One physics step at time `t` (s since start) with the PD law of the current command."""
        q, dq = self.sim.joint_pos_vel()
        self.tau = self.enabled * (self.tau_ff + self.kp * (self.q_des - q) + self.kd * (self.dq_des - dq))
        d = self.sim.data
        if self.pinned:
            d.qpos[0:7] = self._pin_qpos
            d.qvel[0:6] = 0.0
        self.sim.physics_step(self.tau)
        self.steps += 1
        if not self.pinned:
            z = float(d.qpos[2])
            self.min_pelvis_height = min(self.min_pelvis_height, z)
            if z < FALL_HEIGHT and not self.fell:
                self.fell, self.fell_at = True, t

    def lowstate(self, pressed) -> bytes:
        s = LowState()
        s.tick = self.steps & 0xFFFFFFFF
        s.mode_machine = SIM_MODE_MACHINE
        quat, gyro, acc = self.sim.imu()
        s.quat_wxyz, s.gyro, s.accel, s.rpy = quat, gyro, acc, quat_to_rpy(quat)
        q, dq = self.sim.joint_pos_vel()
        s.q = np.zeros(NUM_MOTOR_SLOTS)
        s.dq = np.zeros(NUM_MOTOR_SLOTS)
        s.tau_est = np.zeros(NUM_MOTOR_SLOTS)
        s.q[self.joint_motor], s.dq[self.joint_motor] = q, dq
        s.tau_est[self.joint_motor] = np.clip(self.tau, -self.sim.torque_limit, self.sim.torque_limit)
        s.wireless_remote = encode_remote(pressed)
        return s.encode()


def run(args) -> dict:
    from deploy_real.dds_link import DdsDomain, SimSide

    robot = SimRobot(args.xml_file, args.release_s)
    remote = Remote(args.press, args.keyboard)
    release_at = args.release_s if args.release_s is not None else remote.first_press("A")
    domain = DdsDomain(args.domain_id, args.net)
    side = SimSide(domain)
    viewer = None
    if not args.headless:
        from deploy_real.server_low_level_g1_sim import open_viewer

        viewer = open_viewer(robot.sim)
    stop = StopRequest()
    print(
        "[sim_robot] G1 {} at {} Hz on DDS domain {} ({}): rt/lowstate at {} Hz, listening on rt/lowcmd; {}".format(
            robot.sim.xml_path,
            PHYSICS_HZ,
            args.domain_id,
            args.net,
            LOWSTATE_HZ,
            "in the gantry until {}".format(
                "the first A press" if args.release_s is None else "{} s".format(release_at)
            )
            if robot.pinned
            else "free",
        ),
        flush=True,
    )
    dt = 1.0 / PHYSICS_HZ
    state_every = PHYSICS_HZ // LOWSTATE_HZ
    view_every = PHYSICS_HZ // 50
    sent = 0
    overruns = 0
    t0 = time.monotonic()
    base, base_steps = t0, 0  # the schedule: step k is due at base + (k - base_steps) dt
    pressed: List[str] = []
    try:
        while not stop.requested:
            now = time.monotonic()
            t = now - t0
            if args.duration is not None and t >= args.duration:
                break
            due = base_steps + int((now - base) / dt) + 1
            if due - robot.steps > 50:  # more than 50 ms behind real time: restart the schedule from now
                overruns += 1
                base, base_steps, due = now, robot.steps, robot.steps + 1
            while robot.steps < due:
                cmd = side.take_cmd()
                if cmd is not None:
                    robot.apply(cmd)
                if release_at is not None and robot.pinned and t >= release_at:
                    robot.release(t)
                robot.physics_step(t)
                if robot.steps % state_every == 0:
                    pressed = remote.pressed(t)
                    side.publish(robot.lowstate(pressed))
                    sent += 1
                if viewer is not None and robot.steps % view_every == 0:
                    if not viewer.is_running():
                        stop.requested = True
                        break
                    viewer.sync()
            delay = base + (robot.steps - base_steps) * dt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        wall = time.monotonic() - t0
        if viewer is not None:
            viewer.close()
        domain.close()
    realtime_factor = robot.steps * dt / wall if wall > 0 else 0.0
    summary = {
        "lowcmd_received": side.received,
        "crc_errors": side.crc_errors,
        "fell": bool(robot.fell),
        "fell_at_s": robot.fell_at,
        "lowcmd_applied": robot.commands_applied,
        "nonfinite_cmds": robot.nonfinite_cmds,
        "lowstate_sent": sent,
        "physics_steps": robot.steps,
        "wall_s": wall,
        "realtime_factor": realtime_factor,
        "overruns": overruns,
        "released_at_s": robot.released_at,
        "min_pelvis_height_m": robot.min_pelvis_height if robot.released_at is not None else None,
    }
    print(
        "[sim_robot] {:.1f} s, {} physics steps ({:.2f} x real time); LowCmd received {} (CRC errors {}); fell {}".format(
            wall, robot.steps, realtime_factor, side.received, side.crc_errors, summary["fell"]
        ),
        flush=True,
    )
    if args.summary_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.summary_json)), exist_ok=True)
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print("sim_robot: {}".format(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
