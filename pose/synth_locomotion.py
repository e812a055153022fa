"""Synthetic locomotion set: jogging and running gaits with flight phases, and lateral, backward and
turning variants, 0.4-3.5 m/s; made with the same kinematics as the embedded default set.

The embedded default set (`pose.synth.CLIPS`) walks at 0.5-1.5 m/s; the CMG (velocity-command
motion generator, `cmg_workspace`) needs 0.5-3.5 m/s. This set is kept separate so that the
default set, which the policies and their tests use, keeps its clips unchanged:

    python -m pose.synth --set locomotion --out DIR       # clips + manifest.yaml
    locomotion_motion_file()                               # cached in assets/motions/synth_locomotion/

Running gait (`run_gait_for`), all in continuous time:

- a step period (touchdown to touchdown) of 0.30 s at 1.5 m/s down to 0.23 s at 3.5 m/s;
- a stance short enough for the flat stance foot to stay within the leg's reach while the pelvis
  passes over it (`RUN_REACH` m of travel), so every step has a flight phase (no foot on the
  ground) of 0.10-0.12 s; the foot lands a little ahead of its hip and leaves further behind;
- stance feet are flat and fixed on the ground; a swing foot rises 0.10-0.13 m, pitches toes-down
  early in the swing (heel kicked up) and is flat again before it lands;
- the pelvis height follows the contact schedule: a ballistic parabola in flight (gravity 9.81)
  and a sine-shaped dip in stance that reverses the vertical velocity (C1 at every touchdown and
  take-off); it runs lower than it walks (0.70-0.71 m at mid-stance) and leans forward with speed;
- arms swing against the legs with bent elbows, the waist counter-rotates the pelvis yaw.

The footstep plan, swing arcs, leg IK and clip checks are `pose.synth`'s: a running gait is a
`pose.synth.Gait` whose `double_support` is negative (minus the flight time), so the stance is
shorter than the step period and the swing longer.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Dict

import numpy as np

from pose.g1_model import ASSETS_DIR
from pose.synth import (
    CLIPS,
    LEFT,
    RIGHT,
    STAND_HEIGHT,
    BodyPath,
    ClipSpec,
    FootTracks,
    Gait,
    Joints,
    MotionPlan,
    PelvisTrack,
    WalkCommand,
    bump,
    smoothstep,
    _time,
    cached_set,
    foot_tracks,
    footstep_plan,
    gait_envelope,
    heading_vectors,
    integrate_path,
    plan_walk,
    relative_foot_offsets,
    steady_pelvis,
)

LOCOMOTION_CACHE_DIR = ASSETS_DIR / "motions" / "synth_locomotion"
STEADY_CACHE_DIR = ASSETS_DIR / "motions" / "synth_steady"
# Bump when the clips of this set change (pose.synth.GENERATOR_VERSION covers the shared machinery).
LOCOMOTION_VERSION = 1
GRAVITY = 9.81
RUN_REACH = 0.38  # m: how far the pelvis may travel over a flat stance foot (about +-0.19 m)


def run_gait_for(speed: float, rng: np.random.Generator) -> Gait:
    """Running gait for `speed` (m/s); `double_support` is minus the flight time."""

    def jitter():
        return rng.uniform(0.92, 1.08)

    step_time = (0.36 - 0.037 * speed) * rng.uniform(0.97, 1.03)
    stance = min(0.65 * step_time, RUN_REACH / max(speed, 1e-6))
    return Gait(
        step_time=step_time,
        double_support=-(step_time - stance),
        swing_height=(0.08 + 0.012 * speed) * jitter(),
        pelvis_height=max(0.70, 0.715 - 0.005 * speed),  # at mid-stance
        bob=0.0,  # unused: the vertical motion follows the contact schedule
        sway=0.012 * jitter(),
        roll=0.025 * jitter(),
        lean=0.06 + 0.035 * speed,
        yaw_swing=0.15 * jitter(),
        arm_swing=1.2 * jitter(),
        stance_center=0.45,
    )


LIFT_OFF = 0.08  # share of a running swing at take-off with vertical foot motion only
SET_DOWN = 0.02  # the same before touchdown
TOE_DOWN = 0.6  # rad: peak toes-down pitch of a running swing foot


def running_swing(p0, yaw0, p1, yaw1, u, gait: Gait):
    """Running swing at progress u in [0, 1] -> (xy, yaw, sole height z, pitch).

    Horizontal: smoothstep (quicker to start and stop than minimum jerk, so the foot falls less
    far behind the pelvis after take-off and lands less far ahead of it) between a short vertical
    lift-off and a shorter vertical set-down. Vertical: 4u(1-u) (the foot leaves and meets the
    ground at a finite vertical speed, as a runner's does). Pitch: toes down early in the swing
    (heel kicked up), flat again from 80 % of the swing on.
    """
    s = smoothstep((u - LIFT_OFF) / (1.0 - LIFT_OFF - SET_DOWN))[..., None]
    xy = p0 + (p1 - p0) * s
    dyaw = (yaw1 - yaw0 + np.pi) % (2.0 * np.pi) - np.pi
    yaw = yaw0 + dyaw * s[..., 0]
    z = gait.swing_height * 4.0 * u * (1.0 - u)
    return xy, yaw, z, TOE_DOWN * bump(u, 0.0, 0.8)


def flight_time(gait: Gait) -> float:
    return max(-gait.double_support, 0.0)


def stance_time(gait: Gait) -> float:
    return gait.step_time + gait.double_support


def vertical_oscillation(t, touchdowns: np.ndarray, gait: Gait) -> np.ndarray:
    """Pelvis height offset (m) from its touchdown height at times t, for touchdowns at `touchdowns`.

    After each touchdown: stance dip -B sin(pi s / t_c) for s in [0, t_c], then a ballistic flight
    parabola that returns to 0 at the next touchdown (period = step time). B = g t_f t_c / (2 pi)
    makes the vertical velocity continuous (-g t_f / 2 at touchdown, +g t_f / 2 at take-off).
    Before the first touchdown the offset is 0.
    """
    t = np.asarray(t, dtype=np.float64)
    t_c, t_f = stance_time(gait), flight_time(gait)
    depth = GRAVITY * t_f * t_c / (2.0 * np.pi)
    k = np.searchsorted(touchdowns, t, side="right") - 1
    s = t - touchdowns[np.maximum(k, 0)]
    s = np.minimum(s, t_c + t_f)  # after the last touchdown: hold the end of the cycle (0)
    dip = -depth * np.sin(np.pi * np.clip(s / t_c, 0.0, 1.0))
    tau = np.clip(s - t_c, 0.0, t_f)
    fly = 0.5 * GRAVITY * tau * (t_f - tau)  # 0 at take-off and touchdown, apex g t_f^2 / 8
    out = np.where(s < t_c, dip, fly)
    return np.where(k >= 0, out, 0.0)


def running_pelvis(t, path: BodyPath, steps, tracks: FootTracks, gait: Gait, geo) -> PelvisTrack:
    """Pelvis on the path: flight parabolas and stance dips, small sway and roll, lean, yaw swing."""
    xy, yaw = path.at(t)
    _, left = heading_vectors(yaw)
    env = gait_envelope(t, steps, gait)
    lead = 1.0 if steps[2].side == LEFT else -1.0
    mid0 = steps[2].t_land + 0.5 * stance_time(gait)  # first mid-stance
    phase = np.pi * (t - mid0) / gait.step_time
    side_wave = lead * np.cos(phase)  # +1 at left mid-stance, -1 at right
    touchdowns = np.array(sorted(s.t_land for s in steps[2:]))
    # the stance dip is measured from the touchdown height; centre it on the mid-stance height
    t_c, t_f = stance_time(gait), flight_time(gait)
    touchdown_height = gait.pelvis_height + GRAVITY * t_f * t_c / (2.0 * np.pi)
    pos = np.zeros((len(t), 3))
    pos[:, :2] = xy + (env * gait.sway * side_wave)[:, None] * left
    pos[:, 2] = STAND_HEIGHT + env * (touchdown_height - STAND_HEIGHT + vertical_oscillation(t, touchdowns, gait))
    offsets = relative_foot_offsets(tracks, path, t, geo)
    rpy = np.zeros((len(t), 3))
    rpy[:, 0] = env * gait.roll * side_wave
    rpy[:, 1] = env * gait.lean
    rpy[:, 2] = yaw - gait.yaw_swing * 0.5 * (offsets[:, LEFT] - offsets[:, RIGHT])
    return PelvisTrack(pos, rpy)


def running_upper_body(J: Joints, offsets: np.ndarray, pelvis_yaw_swing: np.ndarray, gait: Gait, env) -> None:
    """Arms swing against the legs with elbows bent further; the waist counter-rotates."""
    for side, name in ((LEFT, "left"), (RIGHT, "right")):
        swing = gait.arm_swing * offsets[:, side]  # + : arm back
        J[name + "_shoulder_pitch"] = J[name + "_shoulder_pitch"] + swing
        J[name + "_elbow"] = J[name + "_elbow"] + 0.3 * env - 0.3 * swing
        J[name + "_shoulder_roll"] = J[name + "_shoulder_roll"] + (0.1 if side == LEFT else -0.1) * env
    J["waist_yaw"] = -0.6 * pelvis_yaw_swing
    J["waist_pitch"] = 0.05 * env


def plan_run(
    cmd: WalkCommand, speed_class: float, fps, rng, model, geo, duration=9.0, steady: bool = False
) -> MotionPlan:
    """Stand, start running, follow `cmd` (running gait for `speed_class` m/s), stop, stand; with
    `steady`, the pelvis steady on the path (`pose.synth.steady_pelvis`)."""
    gait = run_gait_for(speed_class, rng)
    if steady:
        gait = steady_pelvis(gait)
    path = integrate_path(cmd, duration + 2.0)
    steps = footstep_plan(path, cmd, gait, geo)
    duration = max(duration, steps[-1].t_land + stance_time(gait) + 0.6)
    t = _time(duration, fps)
    tracks = foot_tracks(steps, t, gait, geo, running_swing)
    pelvis = running_pelvis(t, path, steps, tracks, gait, geo)
    J = Joints(len(t), model)
    offsets = relative_foot_offsets(tracks, path, t, geo)
    running_upper_body(J, offsets, pelvis.rpy[:, 2] - path.at(t)[1], gait, gait_envelope(t, steps, gait))
    info = {
        "step_time": gait.step_time,
        "stance": stance_time(gait),
        "flight": flight_time(gait),
        "steps": float(len(steps) - 2),
    }
    return MotionPlan(fps, t, pelvis, tracks, J.q, info)


def _run(speed_class: float, **command) -> Callable:
    command.setdefault("t_stop", 7.8)

    def plan(fps, rng, model, geo, steady=False):
        return plan_run(WalkCommand(**command), speed_class, fps, rng, model, geo, steady=steady)

    return plan


def _walk(speed_class: float, **command) -> Callable:
    def plan(fps, rng, model, geo, steady=False):
        return plan_walk(WalkCommand(**command), speed_class, fps, rng, model, geo, steady=steady)

    return plan


# The locomotion set; file stems are the names. `command` is the steady (vx, vy, wz).
LOCOMOTION_CLIPS: Dict[str, ClipSpec] = {
    "jog_forward_1p5": ClipSpec(_run(1.5, vx=1.5), "jog forward at 1.5 m/s", (1.5, 0.0, 0.0)),
    "jog_forward_2p0": ClipSpec(_run(2.0, vx=2.0), "jog forward at 2.0 m/s", (2.0, 0.0, 0.0)),
    "run_forward_2p5": ClipSpec(_run(2.5, vx=2.5), "run forward at 2.5 m/s", (2.5, 0.0, 0.0)),
    "run_forward_3p0": ClipSpec(_run(3.0, vx=3.0), "run forward at 3.0 m/s", (3.0, 0.0, 0.0)),
    "run_forward_3p5": ClipSpec(_run(3.5, vx=3.5), "run forward at 3.5 m/s", (3.5, 0.0, 0.0)),
    "jog_diagonal_left": ClipSpec(
        _run(1.8, vx=1.8, vy=0.4), "jog at 1.8 m/s drifting left at 0.4 m/s", (1.8, 0.4, 0.0)
    ),
    "run_diagonal_right": ClipSpec(
        _run(2.8, vx=2.8, vy=-0.4), "run at 2.8 m/s drifting right at 0.4 m/s", (2.8, -0.4, 0.0)
    ),
    "jog_turn_left": ClipSpec(_run(2.0, vx=2.0, wz=0.6), "jog at 2.0 m/s turning left at 0.6 rad/s", (2.0, 0.0, 0.6)),
    "run_turn_right": ClipSpec(
        _run(3.0, vx=3.0, wz=-0.4), "run at 3.0 m/s turning right at 0.4 rad/s", (3.0, 0.0, -0.4)
    ),
    "walk_sideways_right": ClipSpec(_walk(0.8, vy=-0.4), "walk sideways (right) at 0.4 m/s", (0.0, -0.4, 0.0)),
    "walk_backward": ClipSpec(_walk(0.6, vx=-0.4), "walk backward at 0.4 m/s", (-0.4, 0.0, 0.0)),
    "walk_turn_left_fast": ClipSpec(
        _walk(1.2, vx=1.2, wz=0.8), "walk at 1.2 m/s turning left at 0.8 rad/s", (1.2, 0.0, 0.8)
    ),
}
RUN_CLIPS = tuple(n for n in LOCOMOTION_CLIPS if n.startswith(("jog", "run")))


def _steady_set() -> Dict[str, ClipSpec]:
    """Every moving clip of the default and locomotion sets, with the pelvis steady on the path."""
    out = {}
    for name, spec in {**CLIPS, **LOCOMOTION_CLIPS}.items():
        if any(spec.command):
            out[name + "_steady"] = ClipSpec(
                functools.partial(spec.make, steady=True),
                spec.description + ", pelvis steady on the path (no sway, roll or yaw swing)",
                spec.command,
            )
    return out


# The moving clips of both sets, pelvis steady on the path (`pose.synth.steady_pelvis`): references
# whose root is the smoothed command path, as the CMG's, keep the stance feet still (CMG data).
STEADY_CLIPS: Dict[str, ClipSpec] = _steady_set()


def locomotion_motion_file(cache_dir=None, seed: int = 0, fps: float = 50.0) -> Path:
    """Manifest of the locomotion set, generated on first use (and whenever the generator version
    changes) into a git-ignored cache folder (`assets/motions/synth_locomotion/`)."""
    cache = Path(cache_dir) if cache_dir is not None else LOCOMOTION_CACHE_DIR
    return cached_set(LOCOMOTION_CLIPS, cache, seed, fps, {"locomotion_version": LOCOMOTION_VERSION})


def steady_motion_file(cache_dir=None, seed: int = 0, fps: float = 50.0) -> Path:
    """Manifest of the steady-pelvis set (`STEADY_CLIPS`), cached like the locomotion set
    (`assets/motions/synth_steady/`)."""
    cache = Path(cache_dir) if cache_dir is not None else STEADY_CACHE_DIR
    return cached_set(STEADY_CLIPS, cache, seed, fps, {"locomotion_version": LOCOMOTION_VERSION, "steady": 1})
