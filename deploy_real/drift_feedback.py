"""The student's drift feedback on a robot: a policy whose export metadata has `drift_feedback` (trained
with `motion.student_ref_correction`; docs/rewards_and_terminations.md#drift-feedback).

In training the root velocities of the student's reference block are steered towards the reference root,
v_ref + pos_gain (p_ref - p)_xy and w_ref + yaw_gain wrap(yaw_ref - yaw), capped
(`legged_gym.envs.mdp.drift_feedback`, applied to the block by `legged_gym.envs.mdp.observations.
steer_ref_block`). A robot has no position sensor and the stream carries no reference position, so both
positions are dead-reckoned here, in the stream's frame, from where the reference starts:

    p_ref <- p_ref + dt (R_ref v_ref)_xy    the reference root's velocity now, rotated by its roll/pitch/yaw
                                            (the block streamed the step before: the stream sends the
                                            next frame, and training's feedback reads the frame now)
    p     <- p + dt (R(q) v_est)_xy         the policy's own estimate of its base velocity
                                            (`Policy.base_velocity`; `legged_gym.envs.mdp.odometry`),
                                            with --leg_odometry the legs' kinematic velocity where it
                                            agrees with that estimate (`odometry.LegOdometry`)

with q the IMU's orientation, its yaw put into the stream's frame by the offset taken at the first fresh
reference (as `RelativeRefYaw` does), where p_ref = p = 0: training starts every episode on its reference,
and `eval.py --set motion.student_odometry=estimate` measures the same dead reckoning in simulation.
The feedback applies while the reference is FRESH. In HOLD, BLEND and BLEND_IN the block passes unchanged
and nothing is integrated; DEFAULT (the stream gone for hold + blend) starts over at the next fresh
reference, which is aligned anew, as `RelativeRefYaw` does; a non-finite IMU quaternion or estimate
restarts both positions at 0 where the robot is, the yaw alignment kept (the relative yaw keeps its own
too). The feedback changes the observation only, by at most `max_speed` and `max_yaw_rate`: the PD
targets stay behind `deploy_real.safety.PDTargetGuard`.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from deploy_real.runtime import CpuFunction
from deploy_real.safety import RefStatus
from legged_gym.envs.mdp.drift_feedback import SETTINGS, drift_feedback
from legged_gym.envs.mdp.layout import ref_root_block
from legged_gym.envs.mdp.observations import REF_YAW_ENTRY, ref_block_rot, steer_ref_block
from legged_gym.envs.mdp.odometry import LEG_ODOMETRY_GATE, integrate_xy, leg_odometry_step
from pose.g1_model import load_g1
from pose.kinematics import FootGeometry
from pose.utils.torch_utils import get_euler_xyz, quat_mul, quat_rotate


def feedback_settings(metadata: Optional[dict]) -> Optional[dict]:
    """The `drift_feedback` settings of a policy's export metadata, or None (none there, or null)."""
    value = (metadata or {}).get("drift_feedback")
    if value is None:
        return None
    missing = [k for k in SETTINGS if not isinstance(value, dict) or k not in value]
    if missing:
        raise ValueError("policy metadata: drift_feedback = {!r}, expected the keys {}".format(value, list(SETTINGS)))
    settings = {k: float(value[k]) for k in SETTINGS}
    if not all(np.isfinite(v) and v >= 0.0 for v in settings.values()):
        raise ValueError("policy metadata: drift_feedback = {!r}, expected finite values >= 0".format(value))
    return settings


#: 1/s: the largest gain --drift_feedback_gains takes (the recipe trains with 1.0; the correction itself
#: stays capped at max_speed and max_yaw_rate whatever the gain)
MAX_GAIN = 5.0


def with_gains(settings: dict, gains: Tuple[float, float]) -> dict:
    """`settings` with pos_gain and yaw_gain replaced by `gains` (the servers' --drift_feedback_gains POS YAW):
    the feedback played with other gains than the policy was trained with."""
    pos, yaw = (float(g) for g in gains)
    for name, gain in (("pos_gain", pos), ("yaw_gain", yaw)):
        if not (np.isfinite(gain) and 0.0 <= gain <= MAX_GAIN):
            raise ValueError(
                "--drift_feedback_gains: {} {!r}, expected a finite value in [0, {}] (1/s)".format(name, gain, MAX_GAIN)
            )
    return dict(settings, pos_gain=pos, yaw_gain=yaw)


def add_gains_argument(
    parser,
    help_text: str = "play a student trained with the drift feedback with other gains than its metadata's "
    "(1/s, at most 5; measured: docs/tracking_quality.md)",
) -> None:
    """--drift_feedback_gains POS YAW (None when not given), for `with_gains`."""
    parser.add_argument(
        "--drift_feedback_gains", type=float, nargs=2, metavar=("POS", "YAW"), default=None, help=help_text
    )


def add_server_arguments(parser) -> None:
    """The low-level servers' drift-feedback flags: --no_drift_feedback, --drift_feedback_gains POS YAW and
    --leg_odometry."""
    parser.add_argument(
        "--no_drift_feedback",
        action="store_true",
        help="play a student trained with the drift feedback in its block without it (its metadata's drift_feedback)",
    )
    add_gains_argument(parser)
    add_leg_odometry_argument(parser)


def add_leg_odometry_argument(parser) -> None:
    """--leg_odometry: dead-reckon on the legs' kinematic velocity where it agrees with the estimate."""
    parser.add_argument(
        "--leg_odometry",
        action="store_true",
        help="dead-reckon the drift feedback on the legs' kinematics (joint positions and IMU) where they agree "
        "with the policy's velocity estimate within {:g} m/s, on the estimate elsewhere "
        "(legged_gym/envs/mdp/odometry.py, LegOdometry; measured: docs/tracking_quality.md)".format(LEG_ODOMETRY_GATE),
    )


class RobotLegOdometry:
    """`legged_gym.envs.mdp.odometry.LegOdometry` for one robot at 50 Hz (--leg_odometry): the same step,
    `leg_odometry_step`, compiled at start-up for the deploy runtime (`deploy_real.runtime.CpuFunction`: the
    forward kinematics are some 60 small operations, each a dispatch in eager torch), float32.
    `velocity(base_quat_xyzw, dof_pos, estimate)` -> the velocity to dead-reckon on (3,); `from_legs` says
    whether the last one was the legs'."""

    def __init__(self, dt: float, engine: str = "auto") -> None:
        geometry = FootGeometry()

        def step(base_quat, dof_pos, estimate, sole_before, valid_before):
            return leg_odometry_step(
                geometry, float(dt), LEG_ODOMETRY_GATE, base_quat, dof_pos, estimate, sole_before, valid_before
            )

        quat = np.array([[0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
        dof_pos = np.asarray(load_g1().default_dof_pos, dtype=np.float32)[None]
        sole = geometry.foot_fixed_sole_points(torch.zeros(1, 3), torch.from_numpy(quat), torch.from_numpy(dof_pos))
        self._points = sole.shape[1]
        # the start-up check's example: the stance point moved 1 mm over the step, an estimate near the legs'
        example = (quat, dof_pos, np.full((1, 3), -0.04, np.float32), sole.numpy() + 1e-3, np.ones(1, np.float32))
        self._step = CpuFunction(
            step,
            example,
            ["base_quat", "dof_pos", "estimate", "sole_before", "valid_before"],
            ["velocity", "sole", "from_legs", "valid"],
            engine,
            name="leg odometry",
        )
        self.reset()

    def _empty(self) -> np.ndarray:
        return np.zeros((1, self._points, 3), dtype=np.float32)

    def reset(self) -> None:
        """Forget the step before: the next step uses the estimate."""
        self._sole, self._valid = self._empty(), np.zeros(1, dtype=np.float32)
        self.from_legs = False

    def velocity(self, base_quat_xyzw, dof_pos, estimate) -> np.ndarray:
        def row(values) -> np.ndarray:
            return np.asarray(values, dtype=np.float32).reshape(1, -1)

        velocity, self._sole, from_legs, self._valid = self._step(
            row(base_quat_xyzw), row(dof_pos), row(estimate), self._sole, self._valid
        )
        self.from_legs = bool(from_legs[0] > 0.5)
        return velocity[0].astype(np.float64)


def _yaw_quat(yaw: float) -> torch.Tensor:
    return torch.tensor([0.0, 0.0, np.sin(0.5 * yaw), np.cos(0.5 * yaw)], dtype=torch.float64)


class DeadReckonedFeedback:
    """`steer(mimic31, base_quat_xyzw, status)` before the policy, `advance(base_velocity)` after it."""

    def __init__(self, settings: dict, dt: float) -> None:
        self.settings = {k: float(settings[k]) for k in SETTINGS}
        self.dt = float(dt)
        self.reset()

    def reset(self) -> None:
        """Forget the alignment: the next fresh reference is aligned anew and starts the dead reckoning at 0."""
        self.offset: Optional[float] = None
        self.restart()

    def restart(self) -> None:
        """Both positions at 0 from here (the alignment kept)."""
        self.ref_xy = torch.zeros(2, dtype=torch.float64)
        self.robot_xy = torch.zeros(2, dtype=torch.float64)
        #: (reference velocity xy in the stream's frame, the robot's orientation there) of a steered step
        self._pending: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        #: the fresh block of the step before: the reference's frame now, which training's feedback reads
        self._current: Optional[torch.Tensor] = None

    def steer(self, mimic31: np.ndarray, base_quat_xyzw, status: RefStatus) -> np.ndarray:
        """The reference block (absolute yaw) with its root velocities steered by the feedback, or unchanged."""
        self._pending = None
        out = np.array(mimic31, dtype=np.float32)
        imu = torch.as_tensor(np.asarray(base_quat_xyzw, dtype=np.float64))
        if status is RefStatus.DEFAULT:
            self.reset()
            return out
        if not bool(torch.isfinite(imu).all()):
            self.restart()
            return out
        block = torch.as_tensor(np.asarray(mimic31, dtype=np.float64))
        if status is RefStatus.FRESH and self.offset is None:
            self.restart()
            self.offset = float(block[REF_YAW_ENTRY] - get_euler_xyz(imu)[2])
        if self.offset is None or status is not RefStatus.FRESH:
            self._current = None
            return out
        # the stream's block is the reference's next frame; the feedback, as in training, reads the frame now:
        # the block of the step before (this one on the first fresh step, or after a gap)
        current = block if self._current is None else self._current
        self._current = block
        ref_rot = ref_block_rot(current)
        robot_rot = quat_mul(_yaw_quat(self.offset), imu)
        ref_vel = quat_rotate(ref_rot, current[ref_root_block()["root_lin_vel"]])
        s = self.settings
        lin, ang = drift_feedback(
            self.ref_xy,
            ref_rot,
            self.robot_xy,
            robot_rot,
            s["pos_gain"],
            s["yaw_gain"],
            s["max_speed"],
            s["max_yaw_rate"],
            s["full_speed"],
            ref_vel,
        )
        steered = steer_ref_block(block, lin, ang).numpy().astype(np.float32)
        if not np.all(np.isfinite(steered)):
            self.restart()
            return out
        self._pending = (ref_vel[:2], robot_rot)
        return steered

    def advance(self, base_velocity: Optional[np.ndarray]) -> None:
        """Integrate both positions over the step just commanded (after a steered `steer` only)."""
        if self._pending is None:
            return
        ref_vel_xy, robot_rot = self._pending
        self._pending = None
        v = None if base_velocity is None else torch.as_tensor(np.asarray(base_velocity, dtype=np.float64))
        if v is None or v.shape != (3,) or not bool(torch.isfinite(v).all()):
            self.restart()
            return
        self.ref_xy = self.ref_xy + self.dt * ref_vel_xy
        self.robot_xy = integrate_xy(self.robot_xy, robot_rot, v, self.dt)
