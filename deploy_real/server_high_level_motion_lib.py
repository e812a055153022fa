"""High-level motion server (TWIST's `server_high_level_motion_lib.py`): streams a clip's reference to Redis.

    python deploy_real/server_high_level_motion_lib.py                          # clip 0 of the embedded set
    python deploy_real/server_high_level_motion_lib.py --motion_file clip.pkl --vis
    python deploy_real/server_high_level_motion_lib.py --motion_file data/twist_dataset.yaml --motion_id 12
    python deploy_real/server_high_level_motion_lib.py --loop --duration 60     # every clip in turn
    python deploy_real/server_high_level_motion_lib.py --cmg --vx 1.0 --yaw_rate 0.2  # CMG locomotion, no end
    python deploy_real/server_high_level_motion_lib.py --policy_path S1-1400-jit.pt  # velocity window of that export

At 50 Hz, paced on the monotonic clock without drift, step k SETs `action_mimic_g1` (the 33-D reference
of the clip at time (k + 1) * 0.02 s, as TWIST), `action_mimic_g1_meta` ({"seq", "t_ms"}) and
`action_hand_g1` (14 zeros) in one transaction, the meta key to expire after `STREAM_TTL_MS` (1 s), and
deletes the meta key when it ends: a stream that stops, even killed, leaves no meta key that another
source's reference (TWIST's, GMR's, without the meta key) would be judged by. The reference itself stays,
as TWIST's server leaves it: the default standing vector after a clean end (TWIST's low-level server reads
`action_mimic_g1` every step and stops, on the robot to zero torque, when it is missing), the last frame
after a kill (which this project's low-level servers, seeing no meta key and a value that no longer
changes, do not take for a live stream). --motion_id K plays clip K once; --loop plays every clip of
the set in turn until --duration or Ctrl-C, blending 0.5 s between clips (each clip turned to continue
from the heading the previous one reached, so the blend never asks for a turn). --cmg streams the CMG's
locomotion under the velocity command --vx --vy --yaw_rate (`deploy_real.cmg_reference`; the generator
of --cmg_model, default the shipped assets/cmg/cmg.pt; --cmg_foot_lock for a policy trained with the
foot lock) until --duration or Ctrl-C; a client changes the
command live by SETting `command_velocity_g1` to a JSON list [vx, vy, yaw_rate]; [0, 0, 0] stands. With
--policy_path a student of the CMG tasks, its export metadata sets the accepted command band, the
generator, the foot lock and the reference height of its training. At the end of the clip, at
--duration, or on Ctrl-C / SIGTERM, the reference ramps linearly to the default standing vector over 2 s
(keeping the last heading) and that is set. Ramps turn the yaw along the shorter arc. --vis shows the
reference in a MuJoCo viewer (the kinematic model) when a display exists.
A clip to play (--motion_id's, or every clip with --loop) of at most 0.02 s has no step to stream: it is
refused before anything is streamed (exit status 2, naming it). A clip not at 50 fps gets one warning: the
velocity window counts frames (docs/motion_data.md#reference-velocities).
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file from any directory
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import time  # noqa: E402
from typing import Iterator, List, Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from deploy_real.contract import (
    COMMAND_UNITS,
    HAND_ACTION_KEY,
    MIMIC_KEY,
    MIMIC_META_KEY,  # noqa: E402
    NUM_HAND,
    VELOCITY_COMMAND_KEY,
    default_mimic_vector,
    encode_floats,
    encode_meta,
)
from deploy_real.pacing import Pacer, StopRequest, seconds  # noqa: E402
from deploy_real.redis_link import add_redis_argument  # noqa: E402
from deploy_real.safety import mix_references  # noqa: E402
from legged_gym.envs.mdp.observations import POLICY_DT, REF_YAW_ENTRY  # noqa: E402
from pose.utils.torch_utils import wrap_angle  # noqa: E402

EXIT_RAMP_S = 2.0
CLIP_BLEND_S = 0.5
#: the streamed keys expire this long after their last write
STREAM_TTL_MS = 1000
#: the yaw entry of the 33-D vector (the wrist rolls are inserted after the root entries: same index)
YAW = REF_YAW_ENTRY
COMMAND_FLAGS = ("--vx", "--vy", "--yaw_rate")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--motion_file",
        default=None,
        help="a clip (.pkl/.npz) or a TWIST YAML manifest (default: the embedded motion set)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--motion_id", type=int, default=None, help="play clip K of the set once (default 0)")
    group.add_argument("--loop", action="store_true", help="play every clip in turn, again and again")
    p.add_argument(
        "--cmg",
        action="store_true",
        help="stream CMG locomotion under a velocity command instead of "
        "clips (changed live through the Redis key {})".format(VELOCITY_COMMAND_KEY),
    )
    p.add_argument(
        "--cmg_model",
        default=None,
        metavar="PATH",
        help="with --cmg: a CMG checkpoint or run folder (default: the shipped assets/cmg/cmg.pt)",
    )
    p.add_argument(
        "--cmg_foot_lock",
        action="store_true",
        default=None,
        help="with --cmg: hold the stance foot of the frames by leg IK (pose/cmg/foot_lock.py), "
        "for a policy trained with motion.cmg_foot_lock",
    )
    for flag, unit in zip(COMMAND_FLAGS, COMMAND_UNITS):
        p.add_argument(
            flag,
            type=float,
            default=None,
            metavar=unit,
            help="with --cmg: the initial {} in {} (default 0)".format(flag[2:], unit),
        )
    p.add_argument(
        "--vel_smooth_window",
        type=int,
        default=None,
        metavar="TAPS",
        help="moving average over the clips' velocities: the policy's training value of "
        "motion.vel_smooth_window (default: --policy_path's, else TWIST's 19; docs/motion_data.md#reference-velocities)",
    )
    p.add_argument(
        "--policy_path",
        default=None,
        metavar="EXPORT",
        help="the exported student the low-level server runs: --vel_smooth_window from its metadata; with "
        "--cmg, a CMG student's command band, foot lock and reference height (metadata `cmg`)",
    )
    p.add_argument("--vis", action="store_true", help="show the reference in a MuJoCo viewer (needs a display)")
    add_redis_argument(p)
    p.add_argument("--duration", type=seconds, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--robot", default="g1", choices=["g1"], help="TWIST's flag (only the G1)")
    p.add_argument(
        "--steps",
        type=twist_steps,
        default="1",
        help="TWIST's flag: frames ahead of the current one, comma-separated, only the first used; 1, the next "
        "frame, which the students are trained on",
    )
    return p


def twist_steps(text: str) -> str:
    """argparse type of TWIST's --steps: a comma list whose first entry (the one TWIST streams) is 1."""
    first = text.split(",")[0].strip()
    if first != "1":
        raise argparse.ArgumentTypeError(
            "{!r}: the stream is the reference's next frame (1), the frame the students are trained to see".format(text)
        )
    return text


def wrap(angle):
    """Angles (float or array) wrapped into [-pi, pi), by the environment's `wrap_angle`."""
    return wrap_angle(torch.as_tensor(angle, dtype=torch.float64)).numpy()


def ramp(start: np.ndarray, end: np.ndarray, seconds: float, dt: float = POLICY_DT) -> Iterator[np.ndarray]:
    """Linear interpolation from `start` to `end` in round(seconds / dt) steps, `end` included; the yaw
    entry along the shorter arc, so a ramp never turns the reference the long way round."""
    n = max(int(round(seconds / dt)), 1)
    for i in range(1, n):
        yield mix_references(start, end, i / n)
    yield np.array(end, dtype=np.float64)


def exit_ramp(last: np.ndarray) -> Iterator[np.ndarray]:
    """From the last reference to the default standing vector over EXIT_RAMP_S, keeping the last heading:
    standing still must not ask the robot to turn back to the stream's yaw 0."""
    standing = default_mimic_vector()
    standing[YAW] = last[YAW]
    return ramp(last, standing, EXIT_RAMP_S)


def continue_heading(refs: np.ndarray, heading: float) -> np.ndarray:
    """A clip's reference vectors turned about the vertical so the first one faces `heading`: only the
    yaw entry depends on the clip's heading (velocities are in the root frame), so it is shifted and wrapped."""
    out = np.array(refs, dtype=np.float64)
    out[:, YAW] = wrap(out[:, YAW] + (heading - out[0, YAW]))
    return out


def clip_frames(motion_lib, motion_id: int) -> Tuple[np.ndarray, np.ndarray]:
    """(the clip's reference vectors (T, 33) for steps 0..T-1, their clip times (T,)): step k carries the
    clip at time (k + 1) * 0.02 s (TWIST's step 1), for the steps an environment episode plays before it
    times out at the clip's end (`clip_steps.clip_step_times`). The motion library reads a time at or
    past the end as the next loop (the first frame again, docs/decisions.md K5), so streaming it would send
    the clip's first pose and heading as its last frame. T = 0 for a clip of at most 0.02 s (`run` refuses
    it: `clip_steps.check_playable`)."""
    from deploy_real.motion_reference import reference_vectors
    from legged_gym.envs.mdp.clip_steps import clip_step_times

    times = clip_step_times(float(motion_lib.get_motion_length([motion_id])[0])).double().numpy()
    return reference_vectors(motion_lib, motion_id, times), times


def reference_stream(motion_lib, motion_id: Optional[int], loop: bool) -> Iterator[Tuple[np.ndarray, int, float]]:
    """(33-D vector, motion id, clip time) for every 50 Hz step: one clip, or all in turn forever."""
    if not loop:
        refs, times = clip_frames(motion_lib, motion_id or 0)
        for r, t in zip(refs, times):
            yield r, motion_id or 0, float(t)
        return
    last = None
    while True:
        for mid in range(motion_lib.num_motions()):
            refs, times = clip_frames(motion_lib, mid)
            if last is not None:  # the next clip continues from the heading reached: no turn in the blend
                refs = continue_heading(refs, float(last[YAW]))
                for r in ramp(last, refs[0], CLIP_BLEND_S):
                    yield r, mid, float(times[0])
            for r, t in zip(refs, times):
                yield r, mid, float(t)
            last = refs[-1]


class Publisher:
    """Writes the reference and its meta key in one transaction, with a growing sequence number, the meta key
    to expire after STREAM_TTL_MS; `end()` deletes the meta key (the last reference stays, as in TWIST)."""

    def __init__(self, link) -> None:
        self.link = link
        self.seq = 0
        self.hand = encode_floats(np.zeros(NUM_HAND))

    def publish(self, ref: np.ndarray) -> bool:
        self.seq += 1
        return self.link.set_many(
            {
                MIMIC_KEY: encode_floats(ref),
                MIMIC_META_KEY: encode_meta(self.seq, time.time() * 1000.0),
                HAND_ACTION_KEY: self.hand,
            },
            expire_ms={MIMIC_META_KEY: STREAM_TTL_MS},
        )

    def end(self) -> bool:
        return self.link.delete(MIMIC_META_KEY)


class MocapViewer:
    """The reference on the kinematic model (`g1_mocap_with_wrist_roll.xml`), camera following the pelvis."""

    def __init__(self, motion_lib) -> None:
        import mujoco
        import mujoco.viewer

        from legged_gym.scripts.render import follow_camera
        from pose.g1_model import ASSETS_DIR

        self.mujoco, self.follow_camera, self.motion_lib = mujoco, follow_camera, motion_lib
        self.model = mujoco.MjModel.from_xml_path(str(ASSETS_DIR / "g1" / "g1_mocap_with_wrist_roll.xml"))
        self.data = mujoco.MjData(self.model)
        self.handle = mujoco.viewer.launch_passive(self.model, self.data, show_left_ui=False, show_right_ui=False)

    def show(self, motion_id: int, t: float) -> None:
        from deploy_real.motion_reference import mocap_qpos

        self.data.qpos[:] = mocap_qpos(self.motion_lib, motion_id, t)
        self.mujoco.mj_forward(self.model, self.data)
        with self.handle.lock():
            self.follow_camera(self.mujoco, self.handle.cam, self.data.qpos[0:3].copy())
        self.handle.sync()

    def close(self) -> None:
        self.handle.close()


def load_motions(motion_file: Optional[str], vel_smooth_window: int = 19):
    from pose.synth import default_motion_file
    from pose.utils.motion_lib_pkl import MotionLib

    return MotionLib(motion_file or default_motion_file(), device="cpu", smooth_window=vel_smooth_window)


def clip_vel_window(args) -> Tuple[int, str]:
    """The clips' velocity window and where it comes from: --vel_smooth_window, else the metadata of
    --policy_path (`vel_smooth_window`), else TWIST's 19. ValueError when the two flags disagree."""
    if args.policy_path is None:
        return (19, "TWIST's default") if args.vel_smooth_window is None else (args.vel_smooth_window, "given")
    from deploy_real.policy import Policy
    from deploy_real.student_step import reference_vel_window

    trained = reference_vel_window(Policy(args.policy_path).metadata())
    if args.vel_smooth_window is not None and args.vel_smooth_window != trained:
        raise ValueError(
            "--vel_smooth_window {}: {} was trained with {} (its export metadata)".format(
                args.vel_smooth_window, args.policy_path, trained
            )
        )
    return trained, "the metadata of {}".format(args.policy_path)


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """--cmg excludes the clip flags; the CMG flags need --cmg."""
    cmg_only = [f for f in COMMAND_FLAGS + ("--cmg_model", "--cmg_foot_lock") if getattr(args, f[2:]) is not None]
    if not args.cmg and cmg_only:
        parser.error("{}: only with --cmg".format(" ".join(cmg_only)))
    clip_flags = [
        f
        for f, given in (
            ("--motion_file", args.motion_file is not None),
            ("--motion_id", args.motion_id is not None),
            ("--loop", args.loop),
        )
        if given
    ]
    if args.cmg and clip_flags:
        parser.error("--cmg streams generated locomotion, not clips: drop {}".format(" ".join(clip_flags)))


def cmg_settings(args) -> dict:
    """CMGReference's keyword arguments: --cmg_model and --cmg_foot_lock, or, for --policy_path a student of the
    CMG tasks, its training's (export metadata `cmg`): its command band, generator, foot lock and reference
    height. ValueError when a flag contradicts the metadata or the generator it names is not here."""
    settings = {"model": args.cmg_model, "foot_lock": bool(args.cmg_foot_lock)}
    if args.policy_path is None:
        return settings
    from deploy_real.policy import Policy

    trained = (Policy(args.policy_path).metadata() or {}).get("cmg")  # (TWIST's exports carry none)
    if trained is None:
        print(
            "[high-level] {} records no CMG training (a clip student, or exported before 2026-12-05): the CMG's "
            "whole command range".format(args.policy_path),
            flush=True,
        )
        return settings
    if args.cmg_foot_lock is not None and bool(trained["foot_lock"]) is not True:
        raise ValueError("--cmg_foot_lock: {} was trained without the foot lock".format(args.policy_path))
    if args.cmg_model is None and trained["model"] is not None:
        if not os.path.exists(trained["model"]):
            raise ValueError(
                "{} was trained on the CMG {}, not here: pass its copy as --cmg_model".format(
                    args.policy_path, trained["model"]
                )
            )
        settings["model"] = trained["model"]
    elif args.cmg_model is not None and trained["model"] is None:
        print(
            "[high-level] {} was trained on the shipped CMG; streaming --cmg_model {}".format(
                args.policy_path, args.cmg_model
            ),
            flush=True,
        )
    settings.update(
        foot_lock=bool(trained["foot_lock"]),
        band=(trained["command_low"], trained["command_high"]),
        height=float(trained["height"]),
        height_from_fk=bool(trained["height_from_fk"]),
    )
    return settings


def cmg_stream(cmg, link) -> Tuple[Iterator[Tuple[np.ndarray, int, float]], str]:
    """The CMG's stream under the live command of `command_velocity_g1`, and what it streams."""
    from deploy_real.cmg_reference import CommandInput, describe

    what = (
        "CMG locomotion of {} ({}; change it live: SET {} '[vx, vy, yaw_rate]' within {} {} .. {}, or "
        "[0, 0, 0] to stand)".format(
            cmg.model_path,
            describe(cmg.command),
            VELOCITY_COMMAND_KEY,
            cmg.range_name,
            np.round(cmg.low, 3).tolist(),
            np.round(cmg.high, 3).tolist(),
        )
    )
    commands = CommandInput(link, cmg.command, cmg.low, cmg.high, dt=cmg.lib.dt, range_name=cmg.range_name)
    return cmg.stream(commands), what


def clip_stream(motion_lib, args) -> Tuple[Iterator[Tuple[np.ndarray, int, float]], str]:
    """The stream of --motion_id / --loop, and what it streams."""
    what = (
        "every clip in turn"
        if args.loop
        else "clip {} ({})".format(args.motion_id or 0, motion_lib.motion_names[args.motion_id or 0])
    )
    what += " of {}".format(
        motion_lib.motion_files[0] if motion_lib.num_motions() == 1 else "{} clips".format(motion_lib.num_motions())
    )
    return reference_stream(motion_lib, args.motion_id, args.loop), what


def run(args) -> int:
    from deploy_real.redis_link import RedisLink
    from legged_gym.scripts.render import display_problem

    cmg = None
    if args.cmg:
        from deploy_real.cmg_reference import CMGReference

        cmg = CMGReference(command=[getattr(args, f[2:]) or 0.0 for f in COMMAND_FLAGS], **cmg_settings(args))
    if cmg is None:
        window, source = clip_vel_window(args)
        print("[high-level] clip velocities over {} frames ({})".format(window, source), flush=True)
        motion_lib = load_motions(args.motion_file, window)
    else:
        motion_lib = cmg.lib
    if args.motion_id is not None and not 0 <= args.motion_id < motion_lib.num_motions():
        raise ValueError(
            "--motion_id {}: the motion set has clips 0..{} ({})".format(
                args.motion_id, motion_lib.num_motions() - 1, ", ".join(motion_lib.motion_names)
            )
        )
    if cmg is None:
        from legged_gym.envs.mdp.clip_steps import check_playable, window_rate_warning

        played = None if args.loop else [args.motion_id or 0]
        check_playable(motion_lib, played)
        warning = window_rate_warning(motion_lib, played)
        if warning is not None:
            print("[high-level] {}".format(warning), flush=True)
    link = RedisLink(args.redis_url)
    stream, what = cmg_stream(cmg, link) if cmg is not None else clip_stream(motion_lib, args)
    publisher = Publisher(link)
    viewer = None
    if args.vis:
        problem = display_problem()  # a DISPLAY with no X server would end this process from C
        if problem is None:
            viewer = MocapViewer(motion_lib)
        else:
            print("[high-level] --vis: {}, streaming without a viewer".format(problem), flush=True)
    print("[high-level] streaming {} at 50 Hz to {}".format(what, args.redis_url), flush=True)
    stop = StopRequest()

    pacer = Pacer()
    t0 = time.monotonic()
    last = default_mimic_vector()
    steps = 0
    try:
        for ref, mid, t in stream:
            if stop.requested or (args.duration is not None and time.monotonic() - t0 >= args.duration):
                break
            publisher.publish(ref)
            last = ref
            steps += 1
            if viewer is not None:
                viewer.show(mid, t)
            pacer.wait()
        print(
            "[high-level] {} steps streamed; ramping to the default pose over {:.0f} s".format(steps, EXIT_RAMP_S),
            flush=True,
        )
        for ref in exit_ramp(last):
            publisher.publish(ref)
            pacer.wait()
    finally:
        if viewer is not None:
            viewer.close()
        publisher.end()
        link.close()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    try:
        return run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print("server_high_level_motion_lib.py: {}".format(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
