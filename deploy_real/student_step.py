"""One 50 Hz step of the student policy on a robot, shared by the sim2sim and the real-G1 servers.

From the robot's state (gyro, IMU quaternion xyzw, the 23 training joints' positions and velocities) a
`StudentStep` publishes the proprioception (`state_body_g1`) and reads the reference (`action_mimic_g1`
and its meta key) in one Redis round trip, passes the reference through the safety gate
(`deploy_real.safety.ReferenceGate`), builds the 1155-D observation (`deploy_real.observation`), runs the
policy and turns its action into guarded PD targets (`deploy_real.safety.PDTargetGuard`): always finite and
inside the joint ranges. The servers only map these targets onto their motors. Once a second, while any of
them grew, it reports the counts of rejected messages, steps without a fresh reference and non-finite
actions, with what was wrong with the newest of those that grew (`REPORT_S`; the same line in both servers).

A policy trained with `motion.student_relative_ref_yaw` (its export metadata says `"reference_yaw":
"relative"`) sees the reference's yaw relative to the robot's: `RelativeRefYaw` makes that entry from the
IMU's yaw. Without metadata (TWIST's exports) the absolute yaw of the stream is used, as TWIST does.
A policy trained with `motion.student_ref_correction` (metadata `drift_feedback`) gets its reference block
steered by the drift feedback, from positions dead-reckoned on its own base-velocity estimate
(`deploy_real.drift_feedback.DeadReckonedFeedback`), with `leg_odometry` (the servers' --leg_odometry) on the
legs' kinematic velocity where it agrees with that estimate (`legged_gym.envs.mdp.odometry.LegOdometry`).

An export's metadata also records the settings it was trained with that the server has values of its own
for: the action scale and clip, the default pose, the joint order, the policy period, the observation's
layout, scales and clip. `check_export_metadata` refuses at start, in one line naming the model file, the
key and both values, a policy whose metadata disagrees with the server's (`server_export_values`; the real
server's from its config). The PD gains are not compared: the deploy gains may differ from training's.
"""

from __future__ import annotations

import json
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from deploy_real.contract import (
    BODY_STATE_KEY,
    HAND_STATE_KEY,
    MAX_MESSAGE_BYTES,
    MIMIC_KEY,
    MIMIC_META_KEY,
    NUM_HAND,
    encode_floats,
    split_wrist_rolls,
)
from deploy_real.drift_feedback import DeadReckonedFeedback, RobotLegOdometry, feedback_settings, with_gains
from deploy_real.observation import StudentObsBuilder
from deploy_real.policy import load_policy
from deploy_real.safety import BLEND_IN_S, PDTargetGuard, ReferenceGate, RefStatus
from legged_gym.envs.mdp import observations as obs_terms
from legged_gym.envs.mdp.layout import ANKLE_DOF_IDS, ObsLayout, export_metadata_sidecar
from legged_gym.envs.mdp.observations import REF_YAW_ENTRY, relative_ref_yaw
from pose.g1_model import load_g1
from pose.utils.torch_utils import get_euler_xyz

#: seconds between two reports of the rejected / stale / non-finite counts (only while they grow)
REPORT_S = 1.0
#: how far a number of an export's metadata may be from the server's own value (`check_export_metadata`)
METADATA_TOL = 1e-6


class RelativeRefYaw:
    """The reference block's yaw relative to the robot's (`motion.student_relative_ref_yaw`).

    The IMU's yaw has a zero of its own (the real G1's is where it booted, and it drifts slowly), the
    stream's is the clip's. When the first fresh reference arrives after a restart, the offset between
    the two is taken so that the heading error starts at 0, as in training, where every episode starts
    at the reference's yaw. Then the entry is wrap(reference yaw - (IMU yaw + offset)) with the training
    environment's function. The last valid reference (HOLD) keeps being tracked, and so does a stream being
    blended in (BLEND_IN) once the offset is known; while blending to or standing on the default pose the
    entry is 0 (keep the heading), as it is before the first reference and while a stream is blended in
    from the default (its offset is taken at its first FRESH step, when the blend-in is over).
    Once the gate has reached the default (the stream was gone for hold + blend, 1.1 s), the next fresh
    reference starts over like a new episode: the offset is taken again, so a stream that resumes at
    another heading (a restarted high-level server, a new clip) does not ask the robot to turn.
    """

    def __init__(self) -> None:
        self.offset: Optional[float] = None

    def reset(self) -> None:
        self.offset = None

    def __call__(self, mimic31: np.ndarray, base_quat_xyzw, status: RefStatus) -> np.ndarray:
        robot_yaw = float(get_euler_xyz(torch.as_tensor(np.asarray(base_quat_xyzw, dtype=np.float64)))[2])
        ref_yaw = float(mimic31[REF_YAW_ENTRY])
        if status is RefStatus.DEFAULT:
            self.offset = None  # the stream is gone: the next fresh reference aligns anew
        if status is RefStatus.FRESH and self.offset is None and np.isfinite(robot_yaw):
            self.offset = ref_yaw - robot_yaw
        out = np.array(mimic31, dtype=np.float32)
        if self.offset is None or status not in (RefStatus.FRESH, RefStatus.HOLD, RefStatus.BLEND_IN):
            out[REF_YAW_ENTRY] = 0.0
            return out
        block = torch.as_tensor(np.asarray(mimic31, dtype=np.float64))
        out[REF_YAW_ENTRY] = float(relative_ref_yaw(block, torch.tensor(robot_yaw + self.offset))[REF_YAW_ENTRY])
        return out


def reference_yaw_mode(metadata: Optional[dict]) -> str:
    """ "relative" or "absolute" from a policy's export metadata (absolute without: TWIST's exports)."""
    mode = (metadata or {}).get("reference_yaw", "absolute")
    if mode not in ("absolute", "relative"):
        raise ValueError('policy metadata: reference_yaw = {!r}, expected "absolute" or "relative"'.format(mode))
    return mode


def reference_vel_window(metadata: Optional[dict]) -> int:
    """The moving-average taps over the reference velocities the policy was trained with, from its export
    metadata (`vel_smooth_window`; TWIST's 19 without): the high-level server must stream with the same
    (--vel_smooth_window)."""
    taps = (metadata or {}).get("vel_smooth_window", 19)
    if isinstance(taps, bool) or not isinstance(taps, int) or taps < 1 or taps % 2 == 0:
        raise ValueError("policy metadata: vel_smooth_window = {!r}, expected an odd integer >= 1".format(taps))
    return taps


def server_export_values(
    default_dof_pos,
    joint_names: Sequence[str],
    action_scale: float,
    action_clip: float,
    policy_dt: float,
    layout: ObsLayout,
) -> dict:
    """The export-metadata entries (legged_gym/scripts/save_jit_stu_rlbc.py `deploy_metadata`) a deploy
    server has values of its own for, as those values: its PD-target settings, joint order, policy period,
    and the observation its builder makes (`layout`: sizes, slices, history length; the scales, the zeroed
    ankle velocities and the clip of the training functions it calls). Not the PD gains."""
    obs_layout = {k: v for k, v in layout.student_metadata().items() if k != "history_order"}  # prose
    obs_layout.update(
        {
            "obs_scales": {
                "ang_vel": float(obs_terms.ANG_VEL_SCALE),
                "dof_pos": float(obs_terms.DOF_POS_SCALE),
                "dof_vel": float(obs_terms.DOF_VEL_SCALE),
            },
            "zero_dof_vel_ids": [int(i) for i in ANKLE_DOF_IDS],
            "obs_clip": float(obs_terms.OBS_CLIP),
        }
    )
    return {
        "action_scale": float(action_scale),
        "action_clip": float(action_clip),
        "default_joint_pos": [float(v) for v in np.asarray(default_dof_pos, dtype=np.float64)],
        "joint_names": [str(n) for n in joint_names],
        "policy_dt": float(policy_dt),
        "obs_layout": obs_layout,
    }


def _first_difference(key: str, got, want, tol: float):
    """(key, metadata value, server value) of the first entry of `want` that `got` has and that differs
    (numbers by more than `tol`), else None."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return key, got, want
        for k, w in want.items():
            if k in got:
                found = _first_difference("{}.{}".format(key, k) if key else k, got[k], w, tol)
                if found is not None:
                    return found
        return None
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            return key, got, list(want)
        for i, (g, w) in enumerate(zip(got, want)):
            found = _first_difference("{}[{}]".format(key, i), g, w, tol)
            if found is not None:
                return found
        return None
    if isinstance(want, str):
        return None if got == want else (key, got, want)
    if isinstance(got, bool) or not isinstance(got, (int, float)) or not abs(got - want) <= tol:
        return key, got, want
    return None


def check_export_metadata(model_path, metadata: Optional[dict], server: dict, tol: float = METADATA_TOL) -> None:
    """A ValueError naming the model file, the key and both values when the export's `metadata` has an entry
    of `server` (`server_export_values`) with another value (numbers: more than `tol` apart). Entries the
    metadata lacks are not compared; without metadata (None: TWIST's exports) there is nothing to compare."""
    if metadata is None:
        return
    found = _first_difference("", metadata, server, tol)
    if found is None:
        return
    key, got, want = found
    side = export_metadata_sidecar(model_path)
    raise ValueError(
        "{}: its export metadata{} says {} = {}, but this server uses {}: the policy was trained for other "
        "settings".format(
            model_path,
            " ({} beside it)".format(side.name) if side.is_file() else "",
            key,
            json.dumps(got),
            json.dumps(want),
        )
    )


#: The most a wrist-roll target moves in one policy step (rad; 5 rad/s at 50 Hz, the G1's wrist rolls allow 37).
#: They are the only joints the reference drives directly, with no policy in between: without it, two valid
#: frames far apart (a glitch of a teleoperation stream) would ask for the whole range within 20 ms.
WRIST_ROLL_MAX_STEP_RAD = 0.1


class StepResult(NamedTuple):
    target23: np.ndarray  # PD targets of the 23 training joints (finite, inside their ranges)
    wrists: np.ndarray  # the reference's two wrist rolls (left, right), clamped to their ranges, rate-limited
    mimic31: np.ndarray  # the reference block used; its joint targets are mimic31[8:]
    status: RefStatus


class StudentStep:
    """`step(base_ang_vel, base_quat_xyzw, dof_pos, dof_vel, now, wall_ms)` -> `StepResult`. Times are the
    caller's: `now` monotonic s, `wall_ms` wall clock ms (for the reference's freshness). `log` gets the
    reports and the reference gate's notes (the servers prefix their name). `joint_names` (the 23 joints'
    order; the G1's training order without) and `policy_dt` (s) are the server's, for
    `check_export_metadata`; `blend_in_s` is the reference gate's (`deploy_real.safety.ReferenceGate`)."""

    def __init__(
        self,
        default_dof_pos,
        lower23,
        upper23,
        wrist_lower,
        wrist_upper,
        policy_path=None,
        link=None,
        engine: str = "auto",
        action_scale: float = 0.5,
        action_clip: float = 10.0,
        use_drift_feedback: bool = True,
        drift_feedback_gains: Optional[Tuple[float, float]] = None,
        leg_odometry: bool = False,
        log: Callable[[str], None] = print,
        joint_names: Optional[Sequence[str]] = None,
        policy_dt: float = obs_terms.POLICY_DT,
        blend_in_s: float = BLEND_IN_S,
    ) -> None:
        self.log = log
        self.blend_in_s = float(blend_in_s)
        self.policy = load_policy(policy_path, engine)
        metadata = self.policy.metadata()
        overridden = self.policy.sidecar_overrides()
        if overridden:
            log(
                "{}: the metadata beside it ({}) overrides the one inside it for {}".format(
                    self.policy.path, export_metadata_sidecar(self.policy.path).name, ", ".join(overridden)
                )
            )
        self.builder = StudentObsBuilder(default_dof_pos, engine=engine)
        if joint_names is None:
            joint_names = load_g1().dof_names
        server = server_export_values(
            default_dof_pos, joint_names, action_scale, action_clip, policy_dt, self.builder.layout
        )
        check_export_metadata(self.policy.path, metadata, server)
        #: "relative" or "absolute": the reference yaw the policy was trained with (its export metadata)
        self.reference_yaw = reference_yaw_mode(metadata)
        #: RelativeRefYaw for a policy trained on the relative yaw, else None (the stream's absolute yaw)
        self.relative_yaw: Optional[RelativeRefYaw] = RelativeRefYaw() if self.reference_yaw == "relative" else None
        #: the reference-velocity window the policy was trained with (the high-level server's --vel_smooth_window)
        self.vel_smooth_window = reference_vel_window(metadata)
        #: DeadReckonedFeedback for a policy trained with the drift feedback in its block, else None
        self.drift_feedback: Optional[DeadReckonedFeedback] = None
        settings = feedback_settings(metadata)
        #: True when the metadata asks for the drift feedback and the caller turned it off (--no_drift_feedback)
        self.drift_feedback_off = settings is not None and not use_drift_feedback
        #: (pos_gain, yaw_gain) the policy was trained with, when --drift_feedback_gains plays it with others
        self.trained_gains: Optional[Tuple[float, float]] = None
        if drift_feedback_gains is not None:
            if settings is None or not use_drift_feedback:
                raise ValueError(
                    "{}: --drift_feedback_gains, but {}".format(
                        self.policy.path,
                        "its metadata has no drift_feedback (a student trained without the feedback in its block)"
                        if settings is None
                        else "the drift feedback is off (--no_drift_feedback)",
                    )
                )
            self.trained_gains = (settings["pos_gain"], settings["yaw_gain"])
            settings = with_gains(settings, drift_feedback_gains)
        if settings is not None and use_drift_feedback:
            if not self.policy.has_base_velocity:
                raise ValueError(
                    "{}: its metadata asks for the drift feedback (drift_feedback), but the model gives no "
                    "base-velocity estimate to dead-reckon it from (export it again with to_jit.sh)".format(
                        self.policy.path
                    )
                )
            self.drift_feedback = DeadReckonedFeedback(settings, float(policy_dt))
        #: RobotLegOdometry (--leg_odometry), else None: the velocity the drift feedback dead-reckons on
        self.leg_odometry: Optional[RobotLegOdometry] = None
        if leg_odometry:
            if self.drift_feedback is None:
                raise ValueError(
                    "{}: --leg_odometry, but there is no drift feedback to dead-reckon ({})".format(
                        self.policy.path,
                        "--no_drift_feedback" if self.drift_feedback_off else "its metadata has no drift_feedback",
                    )
                )
            self.leg_odometry = RobotLegOdometry(float(policy_dt), engine)
        self.guard = PDTargetGuard(default_dof_pos, lower23, upper23, action_scale, action_clip)
        self.wrist_lower, self.wrist_upper = np.asarray(wrist_lower), np.asarray(wrist_upper)
        self._wrists = np.zeros(2)  # the last wrist-roll targets: the default pose's at the start of an episode
        self.link = link
        self.gate = ReferenceGate(blend_in_s=self.blend_in_s, log=log)
        self.status_counts: Dict[str, int] = {}  # policy steps per reference status
        self._hand_state = encode_floats(np.zeros(NUM_HAND))
        self._reported = (0, 0, 0)  # (rejected, stale, non-finite actions) at the last report
        self._report_at: Optional[float] = None  # when the counts are looked at next

    def describe(self) -> str:
        """The policy and the reference settings it was trained with, for the servers' start line."""
        feedback = ""
        if self.drift_feedback is not None:
            gains = self.drift_feedback.settings
            feedback = ", drift feedback dead-reckoned on its velocity estimate{} (gains {:g}, {:g} /s{})".format(
                "" if self.leg_odometry is None else " and the legs' kinematics",
                gains["pos_gain"],
                gains["yaw_gain"],
                ""
                if self.trained_gains is None
                else " from --drift_feedback_gains; trained with {:g}, {:g}".format(*self.trained_gains),
            )
        elif self.drift_feedback_off:
            feedback = ", drift feedback off (--no_drift_feedback)"
        return (
            "policy {} ({}, {} reference yaw{}, clip velocities over {} frames: high-level server "
            "--vel_smooth_window {} or this --policy_path; not with --cmg)".format(
                self.policy.path,
                self.policy.engine,
                self.reference_yaw,
                feedback,
                self.vel_smooth_window,
                self.vel_smooth_window,
            )
        )

    def restart(self) -> None:
        """A new episode: empty observation history, no reference seen yet (the robot stands on the default
        until a fresh one arrives)."""
        self.builder.reset()
        self.gate = ReferenceGate(blend_in_s=self.blend_in_s, log=self.log)
        self._reported = (0, 0, self.guard.nonfinite_actions)
        self._wrists = np.zeros(2)
        if self.relative_yaw is not None:
            self.relative_yaw.reset()
        if self.drift_feedback is not None:
            self.drift_feedback.reset()
        if self.leg_odometry is not None:
            self.leg_odometry.reset()

    def step(self, base_ang_vel, base_quat_xyzw, dof_pos, dof_vel, now: float, wall_ms: float, raw=None) -> StepResult:
        """One policy step. `raw` = (mimic, meta) Redis values to use instead of Redis (benchmarks, tests)."""
        proprio = self.builder.proprio(base_ang_vel, base_quat_xyzw, dof_pos, dof_vel)
        if raw is None and self.link is not None:  # one round trip: publish the state, read the reference
            raw = self.link.exchange(
                {BODY_STATE_KEY: encode_floats(proprio[0]), HAND_STATE_KEY: self._hand_state},
                [MIMIC_KEY, MIMIC_META_KEY],
                MAX_MESSAGE_BYTES,
            )
        raw_mimic, raw_meta = raw if raw is not None else (None, None)
        ref, status = self.gate.update(raw_mimic, raw_meta, now, wall_ms)
        self.status_counts[status.value] = self.status_counts.get(status.value, 0) + 1
        mimic31, wrists = split_wrist_rolls(ref)
        observed = mimic31
        if self.drift_feedback is not None:
            observed = self.drift_feedback.steer(observed, base_quat_xyzw, status)
        if self.relative_yaw is not None:
            observed = self.relative_yaw(observed, base_quat_xyzw, status)
        action = self.policy(self.builder.assemble(observed, proprio))
        if self.drift_feedback is not None:
            self.drift_feedback.advance(self._base_velocity(base_quat_xyzw, dof_pos))
        if np.all(np.isfinite(action)):
            self.builder.set_last_action(action)
        target = self.guard.target(action)
        self._report(now, status)
        wanted = np.clip(wrists, self.wrist_lower, self.wrist_upper)
        self._wrists = self._wrists + np.clip(wanted - self._wrists, -WRIST_ROLL_MAX_STEP_RAD, WRIST_ROLL_MAX_STEP_RAD)
        return StepResult(target, self._wrists.copy(), mimic31, status)

    def _base_velocity(self, base_quat_xyzw, dof_pos) -> Optional[np.ndarray]:
        """The velocity to dead-reckon on: the policy's estimate, with --leg_odometry checked against the legs'
        (None or non-finite as the estimate is: `DeadReckonedFeedback.advance` restarts on it)."""
        estimate = self.policy.base_velocity
        if self.leg_odometry is None or estimate is None:
            return estimate
        return self.leg_odometry.velocity(base_quat_xyzw, dof_pos, estimate)

    def _report(self, now: float, status: RefStatus) -> None:
        """Every REPORT_S: the counts, if they grew, with the reason of the newest of each that grew."""
        if self._report_at is None:
            self._report_at = now + REPORT_S
        if now < self._report_at:
            return
        self._report_at = now + REPORT_S
        gate, guard = self.gate, self.guard
        counts = (gate.rejected, gate.stale, guard.nonfinite_actions)
        if counts == self._reported:
            return
        grew = [c > r for c, r in zip(counts, self._reported)]
        reasons = [
            ("last rejection", gate.last_error),
            ("not fresh", gate.stale_reason),
            ("last non-finite action", guard.last_error),
        ]
        self.log(
            "reference {}: rejected {} stale {} non-finite actions {}{}".format(
                status.value,
                *counts,
                "".join("; {}: {}".format(what, why) for g, (what, why) in zip(grew, reasons) if g and why),
            )
        )
        self._reported = counts
