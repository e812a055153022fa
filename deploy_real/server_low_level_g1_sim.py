"""Low-level sim2sim server (TWIST's `server_low_level_g1_sim.py`): the student policy drives a MuJoCo G1.

    python deploy_real/server_low_level_g1_sim.py                      # shipped student, default Redis
    python deploy_real/server_low_level_g1_sim.py --policy_path run-1400-jit.pt --headless --duration 20 \
        --record_video sim2sim.mp4 --summary_json summary.json

Every 20 ms (50 Hz, paced on the monotonic clock without drift) it reads the robot state, GETs the
reference (`action_mimic_g1` and its meta key) and passes it through the safety gate
(`deploy_real.safety`), builds the 1155-D observation with the training environment's functions
(`deploy_real.observation`), runs the policy, turns its action into guarded PD targets, SETs
`state_body_g1` (74) and `state_hand_g1` (14), and runs 20 physics steps of 1 ms with the PD law
(`deploy_real.mujoco_g1`). A viewer follows the robot when a display works (not with --headless; a
display that does not, e.g. a DISPLAY with no X server, is tried first in a child process: one line, and
the server runs without a viewer). --record_video PATH writes an mp4 of the run when it ends (offscreen
rendering, 640x480, 50 fps); its OpenGL backend and writer are tried at start: a MUJOCO_GL set in the
environment that cannot render, or no imageio-ffmpeg, exits 2 at once with one line. A fall (pelvis
below 0.4 m) is logged when it happens, with its time, and so is the first step whose pelvis tilt exceeds
the real robot's `max_tilt_rad` (deploy_real/configs/g1.yaml: where the real server would have faulted
into damping). Steps slower than the 20-ms period are said at most once a second while they grow.
--policy_latency_ms MS (default 0, as TWIST's sim2sim) plays the delay between reading the state and
the motors getting the new targets (the real server computes for about 3 ms, `deploy_real/sim_robot.py`
plays the whole real path): the physics runs MS of the 20 ms on the previous targets, then the new ones.
--summary_json PATH is written at exit (before the video; a video that fails exits 1 with one line, the
summary kept): policy_steps, policy_hz, overruns, rejected, stale, fell, fell_at_s, max_tilt_rad,
tilt_fault_at_s, joint_err_rad (mean |q - q_ref| over the steps with a fresh or held reference; None
without any) and more (`LowLevelSim.summary`). Times are simulated seconds since the start.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file from any directory
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from typing import Callable, List, Optional  # noqa: E402

import numpy as np  # noqa: E402

from deploy_real.mujoco_g1 import FALL_HEIGHT  # noqa: E402
from deploy_real.pacing import Pacer, StopRequest, seconds  # noqa: E402
from deploy_real.redis_link import add_redis_argument  # noqa: E402
from deploy_real.runtime import ENGINES  # noqa: E402
from deploy_real.safety import BLEND_IN_S, RefStatus, tilt_angle  # noqa: E402

#: the reference states whose steps are scored by joint_err_rad: the stream's frame, or the last reference
#: given, held (not the blend-in from the default, the blend to it, or the standing on it)
TRACKED = (RefStatus.FRESH, RefStatus.HOLD)
#: the largest --policy_latency_ms: the policy period (targets later than that would be a period late)
MAX_LATENCY_MS = 20


def policy_latency(ms) -> int:
    """`ms` as a policy latency in whole ms, 0 to MAX_LATENCY_MS (one 20-ms period); ValueError otherwise.
    Also the argparse type of --policy_latency_ms here and of bench/bench_sim2sim_latency.py's --latencies_ms."""
    try:
        value = None if isinstance(ms, bool) else int(ms)
    except (TypeError, ValueError, OverflowError):
        value = None
    if value is None or value != float(ms) or not 0 <= value <= MAX_LATENCY_MS:
        raise ValueError("policy latency {!r}: expected a whole number of ms in [0, {}]".format(ms, MAX_LATENCY_MS))
    return value


def latency_argument(text: str) -> int:
    """argparse type of a policy latency (policy_latency)."""
    try:
        return policy_latency(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    from deploy_real.drift_feedback import add_server_arguments

    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--policy_path",
        default=None,
        help="exported student (.pt TorchScript or .onnx); default: the shipped assets/twist_general_motion_tracker.pt",
    )
    p.add_argument(
        "--xml_file", default=None, help="25-DOF MuJoCo model (default assets/g1/g1_sim2sim_with_wrist_roll.xml)"
    )
    add_redis_argument(p)
    p.add_argument(
        "--engine",
        default="auto",
        choices=ENGINES,
        help="what runs the observation and policy graphs: "
        "onnxruntime (when installed; about twice as fast), torch (TorchScript), auto (default)",
    )
    add_server_arguments(p)
    p.add_argument(
        "--policy_latency_ms",
        type=latency_argument,
        default=0,
        metavar="MS",
        help="the physics runs MS ms (0-{}) of each period on the previous targets (default 0)".format(MAX_LATENCY_MS),
    )
    p.add_argument("--headless", action="store_true", help="no viewer")
    p.add_argument(
        "--record_video",
        nargs="?",
        const="debug_sim.mp4",
        default=None,
        metavar="PATH",
        help="write an mp4 of the run at exit (without PATH: debug_sim.mp4, as TWIST)",
    )
    p.add_argument("--duration", type=seconds, default=None, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument("--summary_json", default=None, metavar="PATH", help="write the run's numbers at exit")
    return p


class LowLevelSim:
    """The server's state and one policy step; `run()` paces it in real time. Also used in-process by
    the tests and benchmarks (`policy_step(now, wall_ms)` with any clock)."""

    def __init__(
        self,
        policy_path=None,
        xml_file=None,
        link=None,
        engine: str = "auto",
        use_drift_feedback: bool = True,
        drift_feedback_gains=None,
        leg_odometry: bool = False,
        log=lambda msg: print("[low-level] " + msg, flush=True),
        policy_latency_ms: int = 0,
        reference_blend_in_s: float = BLEND_IN_S,
    ) -> None:
        from deploy_real.contract import deploy_joints
        from deploy_real.real_config import load_real_config
        from deploy_real.mujoco_g1 import DECIMATION, PHYSICS_DT, G1MujocoSim
        from deploy_real.student_step import StudentStep
        from pose.g1_model import load_g1

        #: physics steps of each period still on the previous targets, then the new ones for the rest
        self.latency_ms = policy_latency(policy_latency_ms)
        self.latency_substeps = int(round(self.latency_ms * 1e-3 / PHYSICS_DT))
        self.decimation = DECIMATION
        self._applied: Optional[np.ndarray] = None  # the targets the motors hold (None before the first step)
        self.sim = G1MujocoSim(xml_file)
        self.joints = j = deploy_joints()
        b, w = j.body_ids, j.wrist_ids
        g1 = load_g1()
        self.student = StudentStep(  # the action scale and clip: TWIST's (StudentStep's defaults)
            g1.default_dof_pos,
            j.lower[b],
            j.upper[b],
            j.lower[w],
            j.upper[w],
            policy_path,
            link,
            engine,
            use_drift_feedback=use_drift_feedback,
            drift_feedback_gains=drift_feedback_gains,
            leg_odometry=leg_odometry,
            log=log,
            joint_names=g1.dof_names,
            policy_dt=PHYSICS_DT * DECIMATION,
            blend_in_s=reference_blend_in_s,
        )
        self.link = link
        self.log = log
        self.steps = 0
        self.fell = False
        self.fell_at: Optional[float] = None  # simulated time (s) of the first step that ended fallen
        self.min_pelvis_height = float("inf")
        #: the real server's tilt limit (deploy_real/configs/g1.yaml, max_tilt_rad): beyond it, it faults
        self.tilt_limit = load_real_config().max_tilt_rad
        self.max_tilt = 0.0  # the largest pelvis tilt (rad) after any step
        self.tilt_fault_at: Optional[float] = None  # simulated time (s) of the first step beyond tilt_limit
        self._joint_err_sum = 0.0
        self._joint_err_n = 0
        self.qpos_log: List[np.ndarray] = []

    def policy_step(self, now: float, wall_ms: float, raw=None) -> np.ndarray:
        """One 50 Hz step; returns the 25 PD targets applied. `raw` = (mimic, meta) Redis values to use
        instead of Redis (benchmarks, tests)."""
        st = self.sim.state()
        out = self.student.step(st.base_ang_vel, st.base_quat_xyzw, st.dof_pos, st.dof_vel, now, wall_ms, raw)
        target = np.empty(25)
        target[self.joints.body_ids] = out.target23
        target[self.joints.wrist_ids] = out.wrists
        if self.latency_substeps and self._applied is not None:
            self.sim.step(self._applied, self.latency_substeps)
            self.sim.step(target, self.decimation - self.latency_substeps)
        else:
            self.sim.step(target)
        self._applied = target
        pelvis_height, dof_pos = self.sim.pelvis_height_and_joints()
        self.steps += 1
        self.min_pelvis_height = min(self.min_pelvis_height, pelvis_height)
        self._watch_falls(pelvis_height, tilt_angle(self.sim.pelvis_quat_wxyz()), float(self.sim.data.time))
        if out.status in TRACKED:
            self._joint_err_sum += float(np.mean(np.abs(dof_pos - out.mimic31[8:])))
            self._joint_err_n += 1
        return target

    def _watch_falls(self, pelvis_height: float, tilt: float, t: float) -> None:
        """After a step at simulated time `t`: latch and log the first fall and the first tilt beyond the
        real server's limit."""
        self.max_tilt = max(self.max_tilt, tilt)
        if tilt > self.tilt_limit and self.tilt_fault_at is None:
            self.tilt_fault_at = round(t, 3)
            self.log(
                "pelvis tilt {:.2f} rad at {:.2f} s, beyond the real robot's max_tilt_rad {:.2f} rad: the real "
                "server would have faulted here (damping)".format(tilt, t, self.tilt_limit)
            )
        if pelvis_height < FALL_HEIGHT and not self.fell:
            self.fell, self.fell_at = True, round(t, 3)
            self.log(
                "FELL at {:.2f} s: pelvis {:.2f} m above the floor (below {} m)".format(t, pelvis_height, FALL_HEIGHT)
            )

    def step_reference(self, k: int, ref33: np.ndarray) -> np.ndarray:
        """Policy step `k` fed `ref33` as a fresh message sent at that step, on the clock k * 0.02 s (no
        Redis, no wall clock: the benchmarks stream a clip's vectors this way); returns the PD targets."""
        from deploy_real.contract import encode_floats, encode_meta
        from legged_gym.envs.mdp.observations import POLICY_DT

        now = k * POLICY_DT
        return self.policy_step(now, now * 1000.0, raw=(encode_floats(ref33).encode(), encode_meta(k, now * 1000.0)))

    def summary(self, elapsed: float) -> dict:
        """The run's numbers. Times (`fell_at_s`, `tilt_fault_at_s`) are simulated seconds since the robot's
        start (None: never); `max_tilt_rad` is the largest pelvis tilt from upright seen, `tilt_limit_rad`
        the real config's max_tilt_rad; `joint_err_rad` is None when no step had a fresh or held reference
        (`joint_err_steps` of them)."""
        return {
            "policy_steps": self.steps,
            "policy_hz": self.steps / elapsed if elapsed > 0 else 0.0,
            "duration_s": elapsed,
            "rejected": self.student.gate.rejected,
            "stale": self.student.gate.stale,
            "fell": bool(self.fell),
            "fell_at_s": self.fell_at,
            "min_pelvis_height_m": self.min_pelvis_height,
            "max_tilt_rad": self.max_tilt,
            "tilt_limit_rad": self.tilt_limit,
            "tilt_fault_at_s": self.tilt_fault_at,
            "joint_err_rad": self._joint_err_sum / self._joint_err_n if self._joint_err_n else None,
            "joint_err_steps": self._joint_err_n,
            "reference_status_steps": dict(self.student.status_counts),
            "nonfinite_actions": self.student.guard.nonfinite_actions,
            "redis_errors": 0 if self.link is None else self.link.errors,
            "legacy_source": self.student.gate.legacy,
            "policy_latency_ms": self.latency_ms,
        }


def run(args) -> dict:
    from deploy_real.redis_link import RedisLink

    viewer = None
    link = RedisLink(args.redis_url)
    server = LowLevelSim(
        args.policy_path,
        args.xml_file,
        link,
        args.engine,
        not args.no_drift_feedback,
        args.drift_feedback_gains,
        args.leg_odometry,
        policy_latency_ms=args.policy_latency_ms,
    )
    print(
        "[low-level] {} | model {} | Redis {} | 50 Hz policy, 1 kHz physics{}".format(
            server.student.describe(),
            server.sim.xml_path,
            args.redis_url,
            ", targets {} ms after the state (--policy_latency_ms)".format(server.latency_ms)
            if server.latency_ms
            else "",
        ),
        flush=True,
    )
    if not args.headless:
        viewer = open_viewer(server.sim)
    stop = StopRequest()

    pacer = Pacer()
    overruns = OverrunNote(pacer)
    t0 = time.monotonic()
    try:
        while not stop.requested:
            now = time.monotonic()
            if args.duration is not None and now - t0 >= args.duration:
                break
            server.policy_step(now, time.time() * 1000.0)
            if args.record_video:
                server.qpos_log.append(server.sim.data.qpos.copy())
            if viewer is not None:
                if not viewer.is_running():
                    break
                viewer.sync()
            pacer.wait()
            overruns.check(server.steps)
    finally:
        elapsed = time.monotonic() - t0
        summary = server.summary(elapsed)
        summary["overruns"] = pacer.overruns
        if viewer is not None:
            viewer.close()
        link.close()
    print("[low-level] " + last_line(summary), flush=True)
    if args.summary_json:  # before the video: a video that fails must not take the run's numbers with it
        os.makedirs(os.path.dirname(os.path.abspath(args.summary_json)), exist_ok=True)
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=1)
    if args.record_video:
        try:
            write_video(server.sim, server.qpos_log, args.record_video)
        except Exception as e:  # mujoco.FatalError (OpenGL), OSError (the path), imageio's errors
            raise VideoError(
                "--record_video {}: not written ({}: {}){}".format(
                    args.record_video,
                    type(e).__name__,
                    str(e).strip() or "no message",
                    "; the summary is in {}".format(args.summary_json) if args.summary_json else "",
                )
            )
        print("[low-level] video: {}".format(os.path.abspath(args.record_video)), flush=True)
    return summary


class VideoError(Exception):
    """The run ended, its summary was written, but its video could not be (main: exit 1)."""


class OverrunNote:
    """At most once a second, while the count grows: how many steps were slower than the period."""

    def __init__(
        self, pacer: Pacer, every_s: float = 1.0, log: Callable[[str], None] = lambda msg: print(msg, flush=True)
    ) -> None:
        self.pacer, self.every_s, self.log = pacer, every_s, log
        self.said = 0
        self.next_at = time.monotonic()

    def check(self, steps: int) -> None:
        n = self.pacer.overruns
        if n > self.said and time.monotonic() >= self.next_at:
            self.said, self.next_at = n, time.monotonic() + self.every_s
            self.log(
                "[low-level] slower than real time: {} of {} steps took longer than the {:.0f}-ms period "
                "(a loaded computer, the viewer or a slow --engine; the robot's time runs slow)".format(
                    n, steps, 1000.0 * self.pacer.dt
                ),
            )


def last_line(summary: dict) -> str:
    """The server's last line: rate and overruns, the reference gate's counts, falls, tilt, joint error."""
    fall = "no fall" if summary["fell_at_s"] is None else "FELL at {:.2f} s".format(summary["fell_at_s"])
    tilt = "max tilt {:.2f} rad".format(summary["max_tilt_rad"])
    if summary["tilt_fault_at_s"] is not None:
        tilt += " (beyond the real robot's {:.2f} rad at {:.2f} s: the real server would have faulted there)".format(
            summary["tilt_limit_rad"], summary["tilt_fault_at_s"]
        )
    else:
        tilt += " (the real robot's limit: {:.2f} rad)".format(summary["tilt_limit_rad"])
    if summary["joint_err_rad"] is None:
        joints = "no reference: no joint error"
    else:
        joints = "mean |q - q_ref| {:.3f} rad over {} steps with a reference".format(
            summary["joint_err_rad"], summary["joint_err_steps"]
        )
    return (
        "{} policy steps in {:.1f} s ({:.1f} Hz; {} steps slower than the 20-ms period); rejected {} stale {} "
        "non-finite actions {}; {}; {}; {}".format(
            summary["policy_steps"],
            summary["duration_s"],
            summary["policy_hz"],
            summary.get("overruns", 0),
            summary["rejected"],
            summary["stale"],
            summary["nonfinite_actions"],
            fall,
            tilt,
            joints,
        )
    )


class _Replay:
    """What `render.VideoRecorder` draws: a model, a data and the root to follow."""

    def __init__(self, sim) -> None:
        self.mujoco, self.model = sim.mujoco, sim.model
        self.data = sim.mujoco.MjData(sim.model)

    def show(self, qpos) -> None:
        self.data.qpos[:] = qpos
        self.mujoco.mj_kinematics(self.model, self.data)

    def root_pos(self):
        return self.data.qpos[0:3].copy()


def write_video(sim, qpos_log, path, width: int = 640, height: int = 480) -> None:
    from legged_gym.scripts.render import VideoRecorder

    replay = _Replay(sim)
    recorder = VideoRecorder(path, replay, width=width, height=height)  # type: ignore[arg-type]  # duck-typed mirror
    flags = recorder.renderer.scene.flags  # no shadows and reflections: 4x faster in software OpenGL
    flags[sim.mujoco.mjtRndFlag.mjRND_SHADOW] = flags[sim.mujoco.mjtRndFlag.mjRND_REFLECTION] = False
    try:
        for q in qpos_log:
            replay.show(q)
            recorder.capture()
    finally:
        recorder.close()


def open_viewer(sim):
    """MuJoCo's passive viewer on `sim`, or None (one line) when there is no display or it does not work."""
    from legged_gym.scripts.render import display_problem

    problem = display_problem()
    if problem is not None:
        print("[low-level] {}: running without a viewer (--headless to say so)".format(problem), flush=True)
        return None
    import mujoco.viewer

    from legged_gym.scripts.render import follow_camera

    class Viewer:
        def __init__(self):
            self.handle = mujoco.viewer.launch_passive(sim.model, sim.data, show_left_ui=False, show_right_ui=False)

        def is_running(self):
            return self.handle.is_running()

        def sync(self):
            with self.handle.lock():
                follow_camera(mujoco, self.handle.cam, sim.data.qpos[0:3].copy())
            self.handle.sync()

        def close(self):
            self.handle.close()

    return Viewer()


def prepare_video() -> None:
    """--record_video, at start rather than after the run: the OpenGL backend chosen and tried (a MUJOCO_GL
    set in the environment that cannot render, or none working, raises RuntimeError) and the mp4 writer."""
    from legged_gym.scripts.render import require_video_writer, select_gl_backend

    select_gl_backend(check=True, log=lambda msg: print("[low-level] --record_video: " + msg, flush=True))
    require_video_writer()


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.record_video:
        try:
            prepare_video()
        except RuntimeError as e:
            print("server_low_level_g1_sim.py --record_video: {}".format(e), file=sys.stderr)
            return 2
    try:
        run(args)
    except VideoError as e:
        print("server_low_level_g1_sim.py: {}".format(e), file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print("server_low_level_g1_sim.py: {}".format(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
