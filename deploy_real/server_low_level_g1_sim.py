"""Low-level sim2sim server (TWIST's `server_low_level_g1_sim.py`): the student policy drives a MuJoCo G1.

    python deploy_real/server_low_level_g1_sim.py                      # shipped student, default Redis
    python deploy_real/server_low_level_g1_sim.py --policy_path run-1400-jit.pt --headless --duration 20 \
        --record_video sim2sim.mp4 --summary_json summary.json

Every 20 ms (50 Hz, paced on the monotonic clock without drift) it reads the robot state, GETs the
reference (`action_mimic_g1` and its meta key) and passes it through the safety gate
(`deploy_real.safety`), builds the 1155-D observation with the training environment's functions
(`deploy_real.observation`), runs the policy, turns its action into guarded PD targets, SETs
`state_body_g1` (74) and `state_hand_g1` (14), and runs 20 physics steps of 1 ms with the PD law
(`deploy_real.mujoco_g1`). A viewer follows the robot when a display exists (not with --headless);
--record_video PATH writes an mp4 of the run when it ends (offscreen rendering, 640x480, 50 fps).
--summary_json PATH writes at exit: policy_steps, policy_hz, rejected, stale, fell (pelvis below 0.4 m
at any time), joint_err_rad (mean |q - q_ref| over the policy steps with a reference) and more.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file from any directory
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from typing import List, Optional  # noqa: E402

import numpy as np  # noqa: E402

from deploy_real.mujoco_g1 import FALL_HEIGHT  # noqa: E402
from deploy_real.pacing import Pacer, StopRequest, seconds  # noqa: E402
from deploy_real.redis_link import add_redis_argument  # noqa: E402
from deploy_real.runtime import ENGINES  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    from deploy_real.drift_feedback import add_gains_argument

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
    p.add_argument(
        "--no_drift_feedback",
        action="store_true",
        help="play a student trained with the drift feedback in its block without it (its metadata's drift_feedback)",
    )
    add_gains_argument(p)
    p.add_argument("--headless", action="store_true", help="no viewer")
    p.add_argument("--record_video", default=None, metavar="PATH", help="write an mp4 of the run at exit")
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
        log=lambda msg: print("[low-level] " + msg, flush=True),
    ) -> None:
        from deploy_real.contract import deploy_joints
        from deploy_real.mujoco_g1 import G1MujocoSim
        from deploy_real.student_step import StudentStep
        from pose.g1_model import load_g1

        self.sim = G1MujocoSim(xml_file)
        self.joints = j = deploy_joints()
        b, w = j.body_ids, j.wrist_ids
        self.student = StudentStep(
            load_g1().default_dof_pos,
            j.lower[b],
            j.upper[b],
            j.lower[w],
            j.upper[w],
            policy_path,
            link,
            engine,
            use_drift_feedback=use_drift_feedback,
            drift_feedback_gains=drift_feedback_gains,
            log=log,
        )
        self.link = link
        self.steps = 0
        self.fell = False
        self.min_pelvis_height = float("inf")
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
        self.sim.step(target)
        pelvis_height, dof_pos = self.sim.pelvis_height_and_joints()
        self.steps += 1
        self.min_pelvis_height = min(self.min_pelvis_height, pelvis_height)
        self.fell |= pelvis_height < FALL_HEIGHT
        self._joint_err_sum += float(np.mean(np.abs(dof_pos - out.mimic31[8:])))
        self._joint_err_n += 1
        return target

    def step_reference(self, k: int, ref33: np.ndarray) -> np.ndarray:
        """Policy step `k` fed `ref33` as a fresh message sent at that step, on the clock k * 0.02 s (no
        Redis, no wall clock: the benchmarks stream a clip's vectors this way); returns the PD targets."""
        from deploy_real.contract import encode_floats, encode_meta
        from legged_gym.envs.mdp.observations import POLICY_DT

        now = k * POLICY_DT
        return self.policy_step(now, now * 1000.0, raw=(encode_floats(ref33).encode(), encode_meta(k, now * 1000.0)))

    def summary(self, elapsed: float) -> dict:
        return {
            "policy_steps": self.steps,
            "policy_hz": self.steps / elapsed if elapsed > 0 else 0.0,
            "duration_s": elapsed,
            "rejected": self.student.gate.rejected,
            "stale": self.student.gate.stale,
            "fell": bool(self.fell),
            "min_pelvis_height_m": self.min_pelvis_height,
            "joint_err_rad": self._joint_err_sum / max(self._joint_err_n, 1),
            "reference_status_steps": dict(self.student.status_counts),
            "nonfinite_actions": self.student.guard.nonfinite_actions,
            "redis_errors": 0 if self.link is None else self.link.errors,
            "legacy_source": self.student.gate.legacy,
        }


def run(args) -> dict:
    from deploy_real.redis_link import RedisLink

    viewer = None
    link = RedisLink(args.redis_url)
    server = LowLevelSim(
        args.policy_path, args.xml_file, link, args.engine, not args.no_drift_feedback, args.drift_feedback_gains
    )
    print(
        "[low-level] {} | model {} | Redis {} | 50 Hz policy, 1 kHz physics".format(
            server.student.describe(),
            server.sim.xml_path,
            args.redis_url,
        ),
        flush=True,
    )
    if not args.headless:
        viewer = open_viewer(server.sim)
    stop = StopRequest()

    pacer = Pacer()
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
    finally:
        elapsed = time.monotonic() - t0
        summary = server.summary(elapsed)
        summary["overruns"] = pacer.overruns
        if viewer is not None:
            viewer.close()
        link.close()
    print(
        "[low-level] {} policy steps in {:.1f} s ({:.1f} Hz); rejected {} stale {} non-finite actions {}; fell {}; "
        "mean |q - q_ref| {:.3f} rad".format(
            summary["policy_steps"],
            elapsed,
            summary["policy_hz"],
            summary["rejected"],
            summary["stale"],
            summary["nonfinite_actions"],
            summary["fell"],
            summary["joint_err_rad"],
        ),
        flush=True,
    )
    if args.record_video:
        write_video(server.sim, server.qpos_log, args.record_video)
        print("[low-level] video: {}".format(os.path.abspath(args.record_video)), flush=True)
    if args.summary_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.summary_json)), exist_ok=True)
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


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
    from legged_gym.scripts.render import has_display

    if not has_display():
        print("[low-level] no display: running without a viewer (--headless to say so)", flush=True)
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


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.record_video:
        from legged_gym.scripts.render import select_gl_backend

        try:
            select_gl_backend()
        except RuntimeError as e:
            print("server_low_level_g1_sim.py --record_video: {}".format(e), file=sys.stderr)
            return 2
    try:
        run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print("server_low_level_g1_sim.py: {}".format(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
