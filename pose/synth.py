"""Synthetic G1 motion clips made with the project's own kinematics: the embedded default set.

When the user gives no motion data, training and the CMG use this small, deterministic set
(docs/motion_data.md, Embedded motion set): quiet standing, squats, arm swings, a waist twist, walking at 0.5 / 1.0
/ 1.5 m/s, walking sideways, turning in place and walking while turning.

How a clip is made (all in continuous time, sampled at `fps`):

1. A body path (position and heading on the ground) is integrated from a smooth velocity command.
2. A footstep plan places each foot under its hip at the middle of its stance (double-support and
   swing phases of fixed duration, alternating feet).
3. Each swing foot follows a smooth arc: it rises, moves, and comes down vertically and flat; a
   stance foot stays exactly where it was put, with its sole on the ground (z = 0).
4. The pelvis follows the path at walking height, with a lateral sway towards the stance foot, a
   small bob and tilt.
5. Leg IK (batched damped Gauss-Newton on `ForwardKinematics`, all frames at once) solves the six
   leg joints so that each `*_ankle_roll_link` reaches its planned position and flat orientation.
6. Waist and arms are simple joint-space curves (arms swing against the legs while walking).

Run `python -m pose.synth --out DIR [--seed 0] [--fps 50]` to write the clips (`.pkl`) and a
TWIST manifest `DIR/manifest.yaml`; `default_motion_file()` gives the cached default set.
`--set locomotion` writes the separate locomotion set instead (jogging and running with flight
phases, lateral, backward and turning variants; `pose.synth_locomotion`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pose import formats
from pose.g1_model import ASSETS_DIR, G1Model, load_g1
from pose.kinematics import FootGeometry, ForwardKinematics
from pose.leg_ik import LegIK
from pose.utils.torch_utils import quat_from_euler_xyz

# Bump when the generated motions change: the cached default set is then regenerated.
GENERATOR_VERSION = 1
DEFAULT_CACHE_DIR = ASSETS_DIR / "motions" / "synth"
STAMP_FILE = "synth_stamp.json"
MANIFEST_NAME = "manifest.yaml"

LEFT, RIGHT = 0, 1
STAND_HEIGHT = 0.775  # pelvis height of quiet standing (knees slightly bent)
IK_POS_TOL = 1e-6  # m: the generator refuses a clip whose feet miss their targets by more
IK_ROT_TOL = 1e-5  # rad


# --- small curve helpers ---------------------------------------------------------------------------


def smoothstep(x):
    """C1 step 0 -> 1 on x in [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def minimum_jerk(x):
    """C2 step 0 -> 1 on x in [0, 1] (zero velocity and acceleration at both ends)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (10.0 + x * (-15.0 + 6.0 * x))


def window(t, t_on, t_off, rise):
    """Smooth plateau: 0 before t_on, rises over `rise` seconds to 1, falls to 0 at t_off."""
    return smoothstep((t - t_on) / rise) * smoothstep((t_off - t) / rise)


def bump(t, t_a, t_b):
    """Raised-cosine bump 0 -> 1 -> 0 on [t_a, t_b], 0 elsewhere."""
    u = np.clip((t - t_a) / (t_b - t_a), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * u)


def yaw_matrix(yaw):
    """(..., 3, 3) rotations about z."""
    c, s = np.cos(yaw), np.sin(yaw)
    z, o = np.zeros_like(yaw), np.ones_like(yaw)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def pitch_matrix(pitch):
    """(..., 3, 3) rotations about y (positive: x tips down)."""
    c, s = np.cos(pitch), np.sin(pitch)
    z, o = np.zeros_like(pitch), np.ones_like(pitch)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def heading_vectors(yaw):
    """Forward and left unit vectors (..., 2) of headings `yaw`."""
    fwd = np.stack([np.cos(yaw), np.sin(yaw)], -1)
    left = np.stack([-np.sin(yaw), np.cos(yaw)], -1)
    return fwd, left


# --- robot facts used by the generator -------------------------------------------------------------


@dataclass(frozen=True)
class StanceGeometry:
    """Where the feet are in quiet standing, relative to the pelvis heading frame."""

    foot_forward: float  # x of the ankle-roll body (m)
    foot_half_width: float  # |y| of the ankle-roll body (m)
    sole_height: float  # z of the ankle-roll body above the lowest sole point, foot flat (m)


def stance_geometry(model: Optional[G1Model] = None) -> StanceGeometry:
    """Foot placement of the default pose, and the height of the foot body over a flat sole."""
    model = model or load_g1()
    f64 = torch.float64
    fk = ForwardKinematics(model, bodies=model.feet, dtype=f64)
    geom = FootGeometry(model, dtype=f64)
    root_pos = torch.zeros(1, 3, dtype=f64)
    root_rot = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=f64)
    flat = torch.zeros(1, model.num_dofs, dtype=f64)  # all-zero legs keep the feet flat
    pos, rot = fk(root_pos, root_rot, flat)
    if not torch.allclose(rot[0], torch.eye(3, dtype=f64).expand(2, 3, 3), atol=1e-9):
        raise ValueError("{}: the zero pose does not keep the feet flat".format(model.table_path))
    sole = float((pos[0, :, 2] - geom.lowest_points(root_pos, root_rot, flat)[0]).mean())
    default = torch.tensor(model.default_dof_pos, dtype=f64)[None]
    pos_d, _ = fk(root_pos, root_rot, default)
    return StanceGeometry(float(pos_d[0, 0, 0]), float(pos_d[0, 0, 1].abs()), sole)


# --- walking: body path, footstep plan, swing and pelvis trajectories ------------------------------


@dataclass(frozen=True)
class WalkCommand:
    """Velocity command in the heading frame; ramps up after `t_start`, down until `t_stop`."""

    vx: float = 0.0
    vy: float = 0.0
    wz: float = 0.0
    t_start: float = 0.5
    ramp: float = 1.0
    t_stop: float = 6.8

    def envelope(self, t):
        return window(t, self.t_start, self.t_stop, self.ramp)


@dataclass(frozen=True)
class Gait:
    step_time: float  # time between successive touchdowns (s)
    double_support: float  # both feet on the ground after each touchdown (s)
    swing_height: float  # apex of the swing arc above the ground (m)
    pelvis_height: float  # mean pelvis height while walking (m)
    bob: float  # vertical pelvis oscillation amplitude (m)
    sway: float  # lateral pelvis sway amplitude towards the stance foot (m)
    roll: float  # pelvis roll amplitude (rad)
    lean: float  # forward pelvis pitch while walking (rad)
    yaw_swing: float  # pelvis yaw per metre of fore-aft foot separation (rad/m)
    arm_swing: float  # shoulder pitch per metre of fore-aft foot offset (rad/m)
    stance_center: float = 0.5  # share of the stance after which the foot is under its hip

    @property
    def swing_time(self) -> float:
        return self.step_time - self.double_support


def gait_for(speed: float, rng: np.random.Generator) -> Gait:
    """Gait parameters for a walking speed (m/s): faster means lower and quicker steps.

    The feet stay flat (no heel strike or toe-off), so a foot can travel only about +-0.2 m
    relative to the pelvis during its stance before the knee straightens; the stance time is
    capped so that speed x stance time stays within that reach.
    """

    def jitter():
        return rng.uniform(0.9, 1.1)

    stance = min(0.55, (0.34 + 0.04 * speed) / max(speed, 1e-6)) * rng.uniform(0.96, 1.0)
    double_support = stance * float(np.clip(0.2 - 0.08 * speed, 0.08, 0.18))
    return Gait(
        step_time=stance - double_support,
        double_support=double_support,
        swing_height=(0.075 - 0.01 * speed) * jitter(),
        pelvis_height=0.785 - 0.027 * speed,
        bob=(0.006 + 0.003 * speed) * jitter(),
        sway=(0.03 - 0.008 * speed) * jitter(),
        roll=0.03 * jitter(),
        lean=0.03 + 0.04 * speed,
        yaw_swing=0.25 * jitter(),
        arm_swing=1.6 * jitter(),
    )


@dataclass
class BodyPath:
    """Ground path (xy, heading) integrated from a command on a fine time grid."""

    t: np.ndarray
    xy: np.ndarray
    yaw: np.ndarray

    def at(self, t) -> Tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=np.float64)
        xy = np.stack([np.interp(t, self.t, self.xy[:, 0]), np.interp(t, self.t, self.xy[:, 1])], -1)
        return xy, np.interp(t, self.t, self.yaw)


def integrate_path(cmd: WalkCommand, duration: float, dt: float = 1e-3) -> BodyPath:
    t = np.linspace(0.0, duration, int(round(duration / dt)) + 1)
    env = cmd.envelope(t)
    yaw_rate = cmd.wz * env
    yaw = np.concatenate([[0.0], np.cumsum(0.5 * (yaw_rate[1:] + yaw_rate[:-1]) * np.diff(t))])
    fwd, left = heading_vectors(yaw)
    vel = (cmd.vx * fwd + cmd.vy * left) * env[:, None]
    xy = np.concatenate([np.zeros((1, 2)), np.cumsum(0.5 * (vel[1:] + vel[:-1]) * np.diff(t)[:, None], axis=0)])
    return BodyPath(t, xy, yaw)


@dataclass(frozen=True)
class Footstep:
    side: int  # LEFT or RIGHT
    xy: Tuple[float, float]  # ankle-roll body position on the ground
    yaw: float
    t_lift: float  # when the foot leaves its previous footstep (-inf: there from the start)
    t_land: float  # when it arrives here


def foot_place(path: BodyPath, t: float, side: int, geo: StanceGeometry) -> Tuple[Tuple[float, float], float]:
    """Foot position under its hip for the path pose at time t."""
    xy, yaw = path.at(t)
    fwd, left = heading_vectors(yaw)
    sign = 1.0 if side == LEFT else -1.0
    p = xy + geo.foot_forward * fwd + sign * geo.foot_half_width * left
    return (float(p[0]), float(p[1])), float(yaw)


def first_foot(cmd: WalkCommand) -> int:
    """The foot that steps first: towards the sideways or turning direction, else the left."""
    lead = cmd.vy if abs(cmd.vy) > 1e-9 else cmd.wz
    return RIGHT if lead < 0 else LEFT


def footstep_plan(path: BodyPath, cmd: WalkCommand, gait: Gait, geo: StanceGeometry) -> List[Footstep]:
    """Initial stance of both feet, then alternating steps from `cmd.t_start` until the path stops.

    Step k lands at t_start + swing + k * step_time and is placed under its hip at the middle of
    its stance (at `gait.stance_center` of it); the last two steps (both after the stop) bring the
    feet side by side.
    """
    steps = [Footstep(side, *foot_place(path, 0.0, side, geo), -math.inf, -math.inf) for side in (LEFT, RIGHT)]
    side = first_foot(cmd)
    stance = gait.step_time + gait.double_support
    previous_mid = -math.inf
    k = 0
    while True:
        t_land = cmd.t_start + gait.swing_time + k * gait.step_time
        mid = t_land + gait.stance_center * stance
        xy, yaw = foot_place(path, min(mid, path.t[-1]), side, geo)
        steps.append(Footstep(side, xy, yaw, t_land - gait.swing_time, t_land))
        if previous_mid >= cmd.t_stop:
            return steps
        previous_mid, side, k = mid, 1 - side, k + 1


def swing_arc(p0, yaw0, p1, yaw1, u, height, lift_fraction=0.1):
    """Swing foot between two footsteps at swing progress u in [0, 1].

    The foot first rises (horizontal motion waits for `lift_fraction` of the swing), moves on a
    minimum-jerk profile and comes down vertically and flat; z is the sole height above ground.
    """
    s = minimum_jerk((u - lift_fraction) / (1.0 - 2.0 * lift_fraction))[..., None]
    xy = p0 + (p1 - p0) * s
    dyaw = (yaw1 - yaw0 + np.pi) % (2.0 * np.pi) - np.pi
    yaw = yaw0 + dyaw * s[..., 0]
    z = height * (4.0 * u * (1.0 - u)) ** 1.5
    return xy, yaw, z


@dataclass
class FootTracks:
    """Planned ankle-roll body positions (T, 2, 3), headings (T, 2) and stance flags (T, 2);
    `pitch` (T, 2): forward foot pitch in rad (toes down), None for flat feet."""

    pos: np.ndarray
    yaw: np.ndarray
    stance: np.ndarray
    pitch: Optional[np.ndarray] = None


def foot_matrices(feet: "FootTracks") -> np.ndarray:
    """(T, 2, 3, 3) planned foot rotations: heading, then the toe-down pitch when there is one."""
    rot = yaw_matrix(feet.yaw)
    return rot if feet.pitch is None else rot @ pitch_matrix(feet.pitch)


def foot_tracks(
    steps: Sequence[Footstep], t: np.ndarray, gait: Gait, geo: StanceGeometry, swing: Optional[Callable] = None
) -> FootTracks:
    """Foot targets of a footstep plan. `swing(p0, yaw0, p1, yaw1, u, gait)` -> (xy, yaw, z, pitch)
    shapes the swings instead of `swing_arc` (flat feet) when given."""
    n = len(t)
    pos = np.zeros((n, 2, 3))
    yaw = np.zeros((n, 2))
    pitch = np.zeros((n, 2))
    stance = np.zeros((n, 2), dtype=bool)
    for side in (LEFT, RIGHT):
        mine = [s for s in steps if s.side == side]
        xy = np.array([s.xy for s in mine])
        yw = np.array([s.yaw for s in mine])
        lift = np.array([s.t_lift for s in mine])
        land = np.array([s.t_land for s in mine])
        cur = np.searchsorted(lift, t, side="right") - 1  # latest footstep the foot has left for
        swinging = t < land[cur]
        prev = np.maximum(cur - 1, 0)
        t_lift = np.where(swinging, lift[cur], t - 1.0)  # (finite placeholders where standing)
        t_land = np.where(swinging, land[cur], t)
        u = (t - t_lift) / np.maximum(t_land - t_lift, 1e-9)
        if swing is None:
            sxy, syaw, sz = swing_arc(xy[prev], yw[prev], xy[cur], yw[cur], u, gait.swing_height)
            spitch = 0.0
        else:
            sxy, syaw, sz, spitch = swing(xy[prev], yw[prev], xy[cur], yw[cur], u, gait)
        pos[:, side, :2] = np.where(swinging[:, None], sxy, xy[cur])
        pos[:, side, 2] = geo.sole_height + np.where(swinging, sz, 0.0)
        yaw[:, side] = np.where(swinging, syaw, yw[cur])
        pitch[:, side] = np.where(swinging, spitch, 0.0)
        stance[:, side] = ~swinging
    return FootTracks(pos, yaw, stance, None if swing is None else pitch)


def gait_envelope(t, steps: Sequence[Footstep], gait: Gait):
    """1 while stepping, 0 while standing: the weight of sway, bob, tilt and arm swing."""
    first, last = steps[2], steps[-1]
    rise_start = first.t_lift - 0.5 * gait.step_time  # shift over the stance foot before lifting
    rise_end = first.t_lift + 0.5 * gait.swing_time
    fall_start = last.t_land - 0.5 * gait.swing_time
    fall_end = last.t_land + gait.double_support + 0.3  # settle after the last touchdown
    return smoothstep((t - rise_start) / (rise_end - rise_start)) * smoothstep((fall_end - t) / (fall_end - fall_start))


@dataclass
class PelvisTrack:
    pos: np.ndarray  # (T, 3)
    rpy: np.ndarray  # (T, 3): roll, pitch, yaw


def relative_foot_offsets(tracks: FootTracks, path: BodyPath, t, geo: StanceGeometry) -> np.ndarray:
    """(T, 2) fore-aft offset of each foot from its standing place, in the path heading frame."""
    xy, yaw = path.at(t)
    fwd, _ = heading_vectors(yaw)
    return np.einsum("tfk,tk->tf", tracks.pos[:, :, :2] - xy[:, None, :], fwd) - geo.foot_forward


def walking_pelvis(
    t, path: BodyPath, steps: Sequence[Footstep], tracks: FootTracks, gait: Gait, geo: StanceGeometry
) -> PelvisTrack:
    """Pelvis on the path: lateral sway towards the stance foot, bob, roll, lean and yaw swing."""
    xy, yaw = path.at(t)
    _, left = heading_vectors(yaw)
    env = gait_envelope(t, steps, gait)
    lead = 1.0 if steps[2].side == LEFT else -1.0
    mid0 = steps[2].t_land + 0.5 * (gait.step_time + gait.double_support)  # first mid-stance
    phase = np.pi * (t - mid0) / gait.step_time  # 0 at mid-stance of the first step, pi the next
    side_wave = lead * np.cos(phase)  # +1 at left mid-stance, -1 at right
    pos = np.zeros((len(t), 3))
    pos[:, :2] = xy + (env * gait.sway * side_wave)[:, None] * left
    pos[:, 2] = STAND_HEIGHT + env * (gait.pelvis_height - STAND_HEIGHT + gait.bob * np.cos(2.0 * phase))
    offsets = relative_foot_offsets(tracks, path, t, geo)
    rpy = np.zeros((len(t), 3))
    rpy[:, 0] = env * gait.roll * side_wave
    rpy[:, 1] = env * gait.lean
    rpy[:, 2] = yaw - gait.yaw_swing * 0.5 * (offsets[:, LEFT] - offsets[:, RIGHT])
    return PelvisTrack(pos, rpy)


# --- standing: feet fixed, pelvis sways ------------------------------------------------------------


def standing_feet(n: int, geo: StanceGeometry) -> FootTracks:
    pos = np.zeros((n, 2, 3))
    pos[:, LEFT] = (geo.foot_forward, geo.foot_half_width, geo.sole_height)
    pos[:, RIGHT] = (geo.foot_forward, -geo.foot_half_width, geo.sole_height)
    return FootTracks(pos, np.zeros((n, 2)), np.ones((n, 2), dtype=bool))


def quiet_sway(t, rng: np.random.Generator, scale: float = 1.0) -> PelvisTrack:
    """Slow, small pelvis sway of quiet standing (sums of sines with seeded frequencies/phases)."""

    def wave(amp, f_lo, f_hi):
        f = rng.uniform(f_lo, f_hi, 2)
        ph = rng.uniform(0.0, 2.0 * np.pi, 2)
        return scale * amp * (0.6 * np.sin(2 * np.pi * f[0] * t + ph[0]) + 0.4 * np.sin(2 * np.pi * f[1] * t + ph[1]))

    pos = np.zeros((len(t), 3))
    pos[:, 0] = wave(0.012, 0.1, 0.3)
    pos[:, 1] = wave(0.02, 0.1, 0.3)
    pos[:, 2] = STAND_HEIGHT + wave(0.006, 0.1, 0.4)
    rpy = np.stack([wave(0.02, 0.1, 0.3), wave(0.02, 0.1, 0.3), wave(0.03, 0.05, 0.2)], -1)
    return PelvisTrack(pos, rpy)


# --- upper body ------------------------------------------------------------------------------------


class Joints:
    """Joint-space curves by short name: `J["left_shoulder_pitch"] += curve`, starting at default."""

    def __init__(self, n: int, model: G1Model):
        self.model = model
        self.q = np.tile(model.default_dof_pos, (n, 1))

    def index(self, short: str) -> int:
        return self.model.dof_names.index(short + "_joint")

    def __getitem__(self, short: str) -> np.ndarray:
        return self.q[:, self.index(short)]

    def __setitem__(self, short: str, value) -> None:
        self.q[:, self.index(short)] = value


def walking_upper_body(J: Joints, offsets: np.ndarray, pelvis_yaw_swing: np.ndarray, gait: Gait, env) -> None:
    """Arms swing against the legs (a foot forward sends its arm back); the waist counter-rotates."""
    for side, name in ((LEFT, "left"), (RIGHT, "right")):
        swing = gait.arm_swing * offsets[:, side]  # + : arm back
        J[name + "_shoulder_pitch"] = J[name + "_shoulder_pitch"] + swing
        J[name + "_elbow"] = J[name + "_elbow"] - 0.4 * swing
        J[name + "_shoulder_roll"] = J[name + "_shoulder_roll"] + (0.08 if side == LEFT else -0.08) * env
    J["waist_yaw"] = -0.6 * pelvis_yaw_swing


def breathing_arms(J: Joints, t, rng: np.random.Generator, amp: float = 0.04) -> None:
    """Tiny relaxed arm motion for the standing clips."""
    for name in ("left", "right"):
        ph = rng.uniform(0, 2 * np.pi)
        f = rng.uniform(0.15, 0.3)
        J[name + "_shoulder_pitch"] = J[name + "_shoulder_pitch"] + amp * np.sin(2 * np.pi * f * t + ph)
        J[name + "_elbow"] = J[name + "_elbow"] + amp * np.sin(2 * np.pi * f * t + ph + 1.0)


# --- clip plans ------------------------------------------------------------------------------------


@dataclass
class MotionPlan:
    """Everything but the leg joints: root trajectory, foot targets, other joint curves."""

    fps: float
    t: np.ndarray
    pelvis: PelvisTrack
    feet: FootTracks
    dof: np.ndarray  # (T, 23); leg entries are the IK's initial guess
    info: Dict[str, float] = field(default_factory=dict)


def _time(duration: float, fps: float) -> np.ndarray:
    return np.arange(int(round(duration * fps)) + 1) / fps


def _standing(fps, rng, model, geo, sway=1.0, duration=8.0) -> Tuple[MotionPlan, Joints]:
    """Feet planted, quiet pelvis sway, relaxed arms; returns the plan and its joint curves
    (`J.q` is `plan.dof`, so editing J edits the plan)."""
    t = _time(duration, fps)
    J = Joints(len(t), model)
    breathing_arms(J, t, rng)
    return MotionPlan(fps, t, quiet_sway(t, rng, sway), standing_feet(len(t), geo), J.q), J


def plan_stand(fps, rng, model, geo) -> MotionPlan:
    return _standing(fps, rng, model, geo)[0]


def plan_squat(fps, rng, model, geo) -> MotionPlan:
    """Two squats (pelvis down 0.15-0.25 m, hips back, torso leaning, arms forward)."""
    plan, J = _standing(fps, rng, model, geo, sway=0.3)
    t = plan.t
    p = rng.uniform(0.8, 1.0) * window(t, 0.8, 3.9, 1.2) + rng.uniform(0.6, 0.8) * window(t, 4.4, 7.4, 1.1)
    plan.pelvis.pos[:, 2] -= 0.25 * p
    plan.pelvis.pos[:, 0] -= 0.07 * p
    plan.pelvis.rpy[:, 1] += 0.35 * p
    J["waist_pitch"] = 0.15 * p
    for side in ("left", "right"):
        J[side + "_shoulder_pitch"] = J[side + "_shoulder_pitch"] - 1.1 * p
        J[side + "_elbow"] = J[side + "_elbow"] - 0.6 * p
    return plan


def plan_arm_swing(fps, rng, model, geo) -> MotionPlan:
    """Alternating fore-aft arm swings, then side raises, then front raises."""
    plan, J = _standing(fps, rng, model, geo, sway=0.5)
    t = plan.t
    alt = window(t, 0.3, 3.4, 0.6) * rng.uniform(0.6, 0.8) * np.sin(2 * np.pi * rng.uniform(0.7, 0.9) * (t - 0.3))
    side = bump(t, 3.5, 5.7) * rng.uniform(1.0, 1.3)
    front = bump(t, 5.8, 7.9) * rng.uniform(1.1, 1.4)
    J["left_shoulder_pitch"] = J["left_shoulder_pitch"] + alt - front
    J["right_shoulder_pitch"] = J["right_shoulder_pitch"] - alt - front
    J["left_shoulder_roll"] = J["left_shoulder_roll"] + side
    J["right_shoulder_roll"] = J["right_shoulder_roll"] - side
    for s in ("left", "right"):
        J[s + "_elbow"] = J[s + "_elbow"] - 0.8 * side - 0.7 * front
    J["waist_yaw"] = 0.1 * alt
    return plan


def plan_waist_twist(fps, rng, model, geo) -> MotionPlan:
    """Waist yaw twists (arms following), later with waist roll, and a slight forward bend."""
    plan, J = _standing(fps, rng, model, geo, sway=0.5)
    t = plan.t
    f = rng.uniform(0.3, 0.4)
    yaw = window(t, 0.3, 7.7, 1.0) * rng.uniform(0.55, 0.7) * np.sin(2 * np.pi * f * (t - 0.3))
    J["waist_yaw"] = yaw
    J["waist_roll"] = window(t, 3.0, 7.7, 1.0) * 0.15 * np.sin(2 * np.pi * 2 * f * (t - 3.0))
    J["waist_pitch"] = window(t, 1.0, 7.0, 1.5) * 0.12
    J["left_shoulder_pitch"] = J["left_shoulder_pitch"] + 0.4 * yaw
    J["right_shoulder_pitch"] = J["right_shoulder_pitch"] - 0.4 * yaw
    return plan


def steady_pelvis(gait: Gait) -> Gait:
    """The gait with the pelvis steady on the path: no lateral sway, roll or yaw swing (the vertical
    bob stays). A root moving along the smoothed command path, as the CMG's references do, then
    matches the clip's own pelvis, so its stance feet do not slide under it (the CMG data set)."""
    return replace(gait, sway=0.0, roll=0.0, yaw_swing=0.0)


def plan_walk(
    cmd: WalkCommand, speed_class: float, fps, rng, model, geo, duration=8.0, steady: bool = False
) -> MotionPlan:
    """Stand, start walking, follow `cmd` (gait chosen for `speed_class` m/s), stop, stand; with
    `steady`, the pelvis steady on the path (`steady_pelvis`)."""
    gait = gait_for(speed_class, rng)
    if steady:
        gait = steady_pelvis(gait)
    path = integrate_path(cmd, duration + 2.0)
    steps = footstep_plan(path, cmd, gait, geo)
    duration = max(duration, steps[-1].t_land + gait.double_support + 0.6)
    t = _time(duration, fps)
    tracks = foot_tracks(steps, t, gait, geo)
    pelvis = walking_pelvis(t, path, steps, tracks, gait, geo)
    J = Joints(len(t), model)
    offsets = relative_foot_offsets(tracks, path, t, geo)
    walking_upper_body(J, offsets, pelvis.rpy[:, 2] - path.at(t)[1], gait, gait_envelope(t, steps, gait))
    info = {"step_time": gait.step_time, "double_support": gait.double_support, "steps": float(len(steps) - 2)}
    return MotionPlan(fps, t, pelvis, tracks, J.q, info)


def _walk(speed_class: float, **command) -> Callable:
    def plan(fps, rng, model, geo, steady=False):
        return plan_walk(WalkCommand(**command), speed_class, fps, rng, model, geo, steady=steady)

    return plan


@dataclass(frozen=True)
class ClipSpec:
    make: Callable  # (fps, rng, model, geo) -> MotionPlan
    description: str  # manifest description
    command: Tuple[float, float, float] = (0.0, 0.0, 0.0)  # steady (vx, vy, wz) of walking clips


# The default set; file stems are the names.
CLIPS: Dict[str, ClipSpec] = {
    "stand": ClipSpec(plan_stand, "quiet standing with slight sway"),
    "squat": ClipSpec(plan_squat, "two squats"),
    "arm_swing": ClipSpec(plan_arm_swing, "standing arm swings, side and front raises"),
    "waist_twist": ClipSpec(plan_waist_twist, "standing waist twist"),
    "walk_forward_0p5": ClipSpec(_walk(0.5, vx=0.5), "walk forward at 0.5 m/s", (0.5, 0.0, 0.0)),
    "walk_forward_1p0": ClipSpec(_walk(1.0, vx=1.0), "walk forward at 1.0 m/s", (1.0, 0.0, 0.0)),
    "walk_forward_1p5": ClipSpec(_walk(1.5, vx=1.5), "walk forward at 1.5 m/s", (1.5, 0.0, 0.0)),
    "walk_sideways": ClipSpec(_walk(0.4, vy=0.25), "walk sideways (left) at 0.25 m/s", (0.0, 0.25, 0.0)),
    "turn_in_place": ClipSpec(_walk(0.4, wz=0.6), "turn left in place at 0.6 rad/s", (0.0, 0.0, 0.6)),
    "walk_turn": ClipSpec(_walk(0.8, vx=0.8, wz=-0.4), "walk at 0.8 m/s turning right at 0.4 rad/s", (0.8, 0.0, -0.4)),
}
# Clips with stepping (the CMG's locomotion data when no real locomotion data is given).
WALK_CLIPS = tuple(n for n, spec in CLIPS.items() if any(spec.command))


# --- clip assembly ---------------------------------------------------------------------------------


@dataclass
class SynthClip:
    clip: dict  # TWIST clip dict (float64 arrays)
    plan: MotionPlan
    ik_pos_err: np.ndarray  # (T, 2) m
    ik_rot_err: np.ndarray  # (T, 2) rad


class SynthKinematics:
    """The FK objects of a generation run (built once)."""

    def __init__(self, model: G1Model):
        self.model = model
        self.geo = stance_geometry(model)
        self.ik = LegIK(model)
        self.fk = ForwardKinematics(model, dtype=torch.float64)


def root_quaternion(rpy: np.ndarray) -> torch.Tensor:
    r = torch.as_tensor(rpy, dtype=torch.float64)
    return quat_from_euler_xyz(r[:, 0], r[:, 1], r[:, 2])


def assemble_clip(plan: MotionPlan, kin: SynthKinematics, name: str = "<plan>") -> SynthClip:
    """Leg IK for the plan's foot targets, then the TWIST clip dict; raises if a check fails."""
    model = kin.model
    root_pos = torch.as_tensor(plan.pelvis.pos, dtype=torch.float64)
    root_rot = root_quaternion(plan.pelvis.rpy)
    foot_pos = torch.as_tensor(plan.feet.pos, dtype=torch.float64)
    foot_rot = torch.as_tensor(foot_matrices(plan.feet), dtype=torch.float64)
    q_init = torch.as_tensor(plan.dof, dtype=torch.float64)
    q, pos_err, rot_err = kin.ik.solve(root_pos, root_rot, foot_pos, foot_rot, q_init)
    if pos_err.max() > IK_POS_TOL or rot_err.max() > IK_ROT_TOL:
        bad = int(torch.argmax(pos_err.max(-1).values + rot_err.max(-1).values))
        raise RuntimeError(
            "synth clip {!r}: leg IK missed the foot targets by {:.3g} m / {:.3g} rad (worst frame {}); "
            "the plan is out of the legs' reach or joint limits".format(
                name, float(pos_err.max()), float(rot_err.max()), bad
            )
        )
    dof = q.numpy()
    lower, upper = model.dof_lower, model.dof_upper
    out = (dof < lower - 1e-9) | (dof > upper + 1e-9)
    if out.any():
        j = int(np.argmax(out.any(0)))
        raise RuntimeError("synth clip {!r}: joint {} leaves its limits".format(name, model.dof_names[j]))
    clip = {
        "fps": float(plan.fps),
        "root_pos": plan.pelvis.pos.copy(),
        "root_rot": root_rot.numpy(),
        "dof_pos": dof,
        "local_body_pos": kin.fk.local_body_pos(q).numpy(),
        "link_body_list": list(model.motion_bodies),
    }
    return SynthClip(clip, plan, pos_err.numpy(), rot_err.numpy())


def clip_rng(seed: int, name: str) -> np.random.Generator:
    """Per-clip generator: a clip's randomness depends only on (seed, name)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def clip_sets() -> Dict[str, Dict[str, ClipSpec]]:
    """The synthetic sets by name: "default" (the embedded default set, `CLIPS`), "locomotion"
    (jogging, running and other locomotion variants, `pose.synth_locomotion`) and "steady" (their
    moving clips with the pelvis steady on the path, `pose.synth_locomotion.STEADY_CLIPS`)."""
    from pose.synth_locomotion import LOCOMOTION_CLIPS, STEADY_CLIPS  # imports this module

    return {"default": CLIPS, "locomotion": LOCOMOTION_CLIPS, "steady": STEADY_CLIPS}


def all_clips() -> Dict[str, ClipSpec]:
    return {name: spec for specs in clip_sets().values() for name, spec in specs.items()}


def build_clip(name: str, seed: int = 0, fps: float = 50.0, kin: Optional[SynthKinematics] = None) -> SynthClip:
    """One clip of any synthetic set by name (its randomness depends only on seed and name)."""
    known = all_clips()
    if name not in known:
        raise KeyError("unknown synth clip {!r}; known: {}".format(name, ", ".join(known)))
    kin = kin or SynthKinematics(load_g1())
    plan = known[name].make(float(fps), clip_rng(seed, name), kin.model, kin.geo)
    return assemble_clip(plan, kin, name)


# --- writing the set -------------------------------------------------------------------------------


def generate(
    out_dir, seed: int = 0, fps: float = 50.0, names: Optional[Sequence[str]] = None, verbose: bool = False
) -> Path:
    """Write the clips (`<name>.pkl`, default: the default set) and `manifest.yaml` into out_dir;
    returns the manifest path. `names` may come from any set (`clip_sets()`)."""
    out_dir = Path(out_dir)
    names = list(names or CLIPS)
    specs = all_clips()
    kin = SynthKinematics(load_g1())
    files = []
    for name in names:
        t0 = time.perf_counter()
        synth = build_clip(name, seed, fps, kin)
        formats.save_clip(out_dir / (name + ".pkl"), synth.clip)
        files.append(name + ".pkl")
        if verbose:
            print("  {:<18s} {:4d} frames  {:.2f} s".format(name, len(synth.plan.t), time.perf_counter() - t0))
    return formats.write_manifest(
        out_dir / MANIFEST_NAME, files, [1.0] * len(files), [specs[n].description for n in names]
    )


def _stamp(seed: int, fps: float, names: Sequence[str]) -> dict:
    return {"generator_version": GENERATOR_VERSION, "seed": int(seed), "fps": float(fps), "clips": list(names)}


def _cache_is_current(cache: Path, stamp: dict) -> bool:
    try:
        with open(cache / STAMP_FILE) as f:
            if json.load(f) != stamp:
                return False
        formats.load_manifest(cache / MANIFEST_NAME)  # every listed file must exist
        return True
    except (OSError, ValueError):
        return False


def default_motion_file(cache_dir=None, seed: int = 0, fps: float = 50.0) -> Path:
    """Manifest of the embedded default motion set, generated on first use (and whenever the
    generator version changes) into a git-ignored cache folder (`assets/motions/synth/`)."""
    return cached_set(CLIPS, Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR, seed, fps)


def cached_set(
    clips: Dict[str, ClipSpec], cache: Path, seed: int = 0, fps: float = 50.0, versions: Optional[Dict[str, int]] = None
) -> Path:
    """Manifest of the clips `clips` in the folder `cache`, generated there unless a stamp file
    shows that they were made by this generator version (and `versions`, e.g. of the module that
    defines the clips) with this seed and frame rate."""
    stamp = dict(_stamp(seed, fps, list(clips)), **(versions or {}))
    if _cache_is_current(cache, stamp):
        return cache / MANIFEST_NAME
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / ".build-{}".format(os.getpid())
    try:
        generate(tmp, seed, fps, list(clips))
        for f in sorted(tmp.iterdir()):  # clips first, manifest last, then the stamp
            if f.name != MANIFEST_NAME:
                os.replace(f, cache / f.name)
        os.replace(tmp / MANIFEST_NAME, cache / MANIFEST_NAME)
        with open(tmp / STAMP_FILE, "w") as out:
            json.dump(stamp, out)
        os.replace(tmp / STAMP_FILE, cache / STAMP_FILE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache / MANIFEST_NAME


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder (clips and manifest.yaml)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=50.0)
    sets = clip_sets()
    parser.add_argument(
        "--set",
        default="default",
        choices=list(sets),
        help="which set: default (the embedded default set), locomotion (jogging, running, "
        "lateral, backward and turning variants, 0.4-3.5 m/s) or steady (the moving clips of both "
        "with the pelvis steady on the path: no sway, roll or yaw swing)",
    )
    known = all_clips()
    parser.add_argument(
        "--clips",
        nargs="+",
        choices=list(known),
        metavar="NAME",
        help="only these clips, of any set (default: all of --set): " + ", ".join(known),
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    manifest = generate(args.out, args.seed, args.fps, args.clips or list(sets[args.set]), verbose=True)
    print("wrote {} ({:.1f} s)".format(manifest, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
