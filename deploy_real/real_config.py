"""The real G1's configuration (`deploy_real/configs/g1.yaml`), loaded and checked against the G1 facts table.

`load_real_config(path)` returns a `RealConfig` with everything the real server needs per motor (the G1's
29 motors, in its motor order): default pose, Kp/Kd, joint ranges (from assets/g1/g1_table.yaml), and
the maps between the 23 training joints and the motors. A config whose motor indices do not name the
joints the policy was trained on, whose gains or poses are not finite and plausible, or whose
observation scales differ from the training environment's is refused with a message naming the key.

`mode_machine` lists the LowState_.mode_machine values (the robot's type code) the server drives;
`mode_machine_problem(value, allowed)` says why a robot of another type is refused, and
`describe_mode_machine(value)` names a type, from `G1_MODE_MACHINES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "g1.yaml"
NUM_MOTORS = 29
MAX_KP = 500.0
MAX_KD = 50.0

#: LowState_.mode_machine -> (Unitree's model name, what that robot is), from the `mode_machine` column of
#: Unitree's G1 description table (unitree_ros, g1_description); 0 is what a sender that never sets it
#: sends. The policy drives the waist roll and pitch (motors 13, 14), so only a G1 with 29 motors and the
#: waist unlocked can run it.
G1_MODE_MACHINES: Dict[int, Tuple[str, str]] = {
    0: ("unset", "no robot type set, as unitree_mujoco's simulator bridge publishes; not in Unitree's table"),
    4: ("g1_23dof_rev_1_0", "a 23-DoF G1 (waist yaw only, 5-joint arms)"),
    5: ("g1_29dof_rev_1_0", "a 29-DoF G1 with the waist unlocked (with or without hands)"),
    6: ("g1_29dof_lock_waist_rev_1_0", "a 29-DoF G1 with the waist locked"),
    9: ("g1_dual_arm", "the dual-arm G1 (arms only, no legs)"),
    10: ("g1_23dof_mode_10", "a 23-DoF G1 (waist yaw only, 5-joint arms)"),
    11: ("g1_29dof_mode_11", "a 29-DoF G1 with the waist unlocked"),
    12: ("g1_29dof_mode_12", "a 29-DoF G1 with the waist locked"),
    13: ("g1_29dof_mode_13", "a 29-DoF G1 with the waist unlocked"),
    14: ("g1_29dof_mode_14", "a 29-DoF G1 with the waist locked"),
    15: ("g1_29dof_mode_15", "a 29-DoF G1 with the waist unlocked"),
    16: ("g1_29dof_mode_16", "a 29-DoF G1 with the waist locked"),
}
#: the mode_machine values driven when a config has no `mode_machine` key (TWIST's own g1.yaml has none)
DEFAULT_MODE_MACHINE: Tuple[int, ...] = (5, 11, 13, 15)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class RealConfig:
    path: Path
    control_dt: float
    action_scale: float
    action_clip: float
    body_motor_idx: np.ndarray  # (23,) motor of each training joint
    wrist_roll_motor_idx: Tuple[int, ...]  # motors of the left / right wrist roll
    default_dof_pos: np.ndarray  # (23,) the policy's default joint positions (legs + waist/arms)
    motor_names: Tuple[str, ...]  # (29,)
    kp: np.ndarray  # (29,) PD gains of every motor in move-to-default, hold and policy
    kd: np.ndarray  # (29,)
    default_pose: np.ndarray  # (29,) the default pose (training defaults, wrists at wrist_target)
    lower: np.ndarray  # (29,) joint ranges: every commanded q is clamped into them
    upper: np.ndarray  # (29,)
    move_to_default_s: float
    damping_kd: float
    lowstate_timeout_s: float
    lowstate_tick_timeout_s: float  # 0: off
    max_tilt_rad: float
    exit_damping_s: float
    mode_machine: Tuple[int, ...] = DEFAULT_MODE_MACHINE  # the LowState_.mode_machine values driven


def _floats(raw: dict, key: str, n: int, lo: float = -np.inf, hi: float = np.inf) -> np.ndarray:
    if key not in raw:
        raise ConfigError("{}: missing".format(key))
    try:
        v = np.asarray(raw[key], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError("{}: expected {} numbers, got {!r}".format(key, n, raw[key]))
    if v.size != n:
        raise ConfigError("{}: expected {} numbers, got {}".format(key, n, v.size))
    bad = np.flatnonzero(~np.isfinite(v) | (v < lo) | (v > hi))
    if bad.size:
        raise ConfigError("{}[{}] = {} outside [{}, {}]".format(key, bad[0], v[bad[0]], lo, hi))
    return v


def _scalar(raw: dict, key: str, lo: float, hi: float, default: Optional[float] = None) -> float:
    if key not in raw and default is not None:
        return float(default)
    return float(_floats(raw, key, 1, lo, hi)[0])


def _indices(raw: dict, key: str, n: int) -> np.ndarray:
    v = _floats(raw, key, n, 0, NUM_MOTORS - 1)
    if np.any(v != np.round(v)):
        raise ConfigError("{}: motor indices must be integers".format(key))
    return v.astype(np.int64)


def _mode_machines(raw: dict) -> Tuple[int, ...]:
    if "mode_machine" not in raw:
        return DEFAULT_MODE_MACHINE
    v = raw["mode_machine"]
    if (
        not isinstance(v, list)
        or not v
        or not all(isinstance(m, int) and not isinstance(m, bool) and 0 <= m <= 255 for m in v)
    ):
        raise ConfigError(
            "mode_machine: expected a non-empty list of integers 0..255 (LowState_.mode_machine values), "
            "got {!r}".format(v)
        )
    return tuple(v)


def describe_mode_machine(value: int) -> str:
    """What robot a LowState_.mode_machine value names: "g1_29dof_rev_1_0: a 29-DoF G1 ...", or
    "unknown robot type"."""
    known = G1_MODE_MACHINES.get(int(value))
    return "{}: {}".format(*known) if known else "unknown robot type"


def mode_machine_problem(value: int, allowed: Sequence[int]) -> Optional[str]:
    """None when a robot whose LowState_ carries mode_machine `value` may be driven (it is in `allowed`, the
    config's `mode_machine`), else a one-line message: the value, what robot it is, how to allow it."""
    value = int(value)
    if value in allowed:
        return None
    return (
        "the robot's mode_machine is {} ({}), not one of the config's mode_machine {}: the policy drives the "
        "waist roll and pitch (motors 13, 14), so it needs a G1 with 29 motors and the waist unlocked. "
        "If this robot is one, add {} to `mode_machine` in the config (--config)".format(
            value, describe_mode_machine(value), list(allowed), value
        )
    )


def load_real_config(path=None) -> RealConfig:
    from legged_gym.envs.mdp import observations as obs_terms
    from pose.g1_model import load_g1

    path = Path(path or DEFAULT_CONFIG)
    if not path.is_file():
        raise FileNotFoundError("--config {}: no such file (the default is {})".format(path, DEFAULT_CONFIG))
    with open(path) as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, dict):
        raise ConfigError("{}: expected a YAML mapping".format(path))
    try:
        return _build(raw, path, load_g1(), obs_terms)
    except ConfigError as e:
        raise ConfigError("{}: {}".format(path, e))


def _build(raw: dict, path: Path, g1, obs_terms) -> RealConfig:
    for key, want in (
        ("msg_type", "hg"),
        ("imu_type", "pelvis"),
        ("lowcmd_topic", "rt/lowcmd"),
        ("lowstate_topic", "rt/lowstate"),
    ):
        if raw.get(key, want) != want:
            raise ConfigError("{}: {!r} is not supported (only {!r})".format(key, raw[key], want))
    n = len(g1.dof_names)
    if int(raw.get("num_actions", n)) != n:
        raise ConfigError("num_actions: {} (the policy has {})".format(raw["num_actions"], n))
    control_dt = _scalar(raw, "control_dt", 0.0, 1.0)
    if abs(control_dt - obs_terms.POLICY_DT) > 1e-9:
        raise ConfigError(
            "control_dt: {} s, but the policy was trained at {} s".format(control_dt, obs_terms.POLICY_DT)
        )
    for key, trained in (
        ("ang_vel_scale", obs_terms.ANG_VEL_SCALE),
        ("dof_pos_scale", obs_terms.DOF_POS_SCALE),
        ("dof_vel_scale", obs_terms.DOF_VEL_SCALE),
    ):
        if key in raw and abs(_scalar(raw, key, -np.inf, np.inf) - trained) > 1e-9:
            raise ConfigError("{}: {}, but the training environment uses {}".format(key, raw[key], trained))

    motor_names = tuple(g1.real_motor_joints)
    if len(motor_names) != NUM_MOTORS:
        raise ConfigError("the G1 facts table lists {} motors, expected {}".format(len(motor_names), NUM_MOTORS))
    n_legs = 12
    leg_idx = _indices(raw, "leg_joint2motor_idx", n_legs)
    aw_idx = _indices(raw, "arm_waist_joint2motor_idx", n - n_legs)
    wrist_idx = _indices(raw, "wrist_joint2motor_idx", 6)
    body_idx = np.concatenate([leg_idx, aw_idx])
    seen: Dict[int, str] = {}
    for key, idx in (
        ("leg_joint2motor_idx", leg_idx),
        ("arm_waist_joint2motor_idx", aw_idx),
        ("wrist_joint2motor_idx", wrist_idx),
    ):
        for m in idx.tolist():
            if m in seen:
                raise ConfigError("{}: motor {} is also in {}".format(key, m, seen[m]))
            seen[m] = key
    for i, m in enumerate(body_idx):  # the motor must drive the training joint of that position
        if motor_names[m] != g1.dof_names[i]:
            key = "leg_joint2motor_idx" if i < n_legs else "arm_waist_joint2motor_idx"
            raise ConfigError(
                "{}: training joint {} ({}) is mapped to motor {} ({})".format(
                    key, i, g1.dof_names[i], m, motor_names[m]
                )
            )
    for m in wrist_idx:
        if "wrist" not in motor_names[m]:
            raise ConfigError("wrist_joint2motor_idx: motor {} is {}".format(m, motor_names[m]))
    rolls = tuple(int(motor_names.index(w["name"])) for w in g1.wrist_roll_joints)
    if not set(rolls) <= set(wrist_idx.tolist()):
        raise ConfigError("wrist_joint2motor_idx must include the wrist-roll motors {}".format(rolls))

    lower = np.array([g1.joint_by_name(nm)[1].range[0] for nm in motor_names], dtype=np.float64)
    upper = np.array([g1.joint_by_name(nm)[1].range[1] for nm in motor_names], dtype=np.float64)
    kp, kd, pose = np.zeros(NUM_MOTORS), np.zeros(NUM_MOTORS), np.zeros(NUM_MOTORS)
    kp[leg_idx] = _floats(raw, "kps", n_legs, 0.0, MAX_KP)
    kd[leg_idx] = _floats(raw, "kds", n_legs, 0.0, MAX_KD)
    pose[leg_idx] = _floats(raw, "default_angles", n_legs)
    kp[aw_idx] = _floats(raw, "arm_waist_kps", n - n_legs, 0.0, MAX_KP)
    kd[aw_idx] = _floats(raw, "arm_waist_kds", n - n_legs, 0.0, MAX_KD)
    pose[aw_idx] = _floats(raw, "arm_waist_target", n - n_legs)
    kp[wrist_idx] = _floats(raw, "wrist_kps", 6, 0.0, MAX_KP)
    kd[wrist_idx] = _floats(raw, "wrist_kds", 6, 0.0, MAX_KD)
    pose[wrist_idx] = _floats(raw, "wrist_target", 6)
    bad = np.flatnonzero((pose < lower) | (pose > upper))
    if bad.size:
        m = bad[0]
        raise ConfigError(
            "the default pose puts motor {} ({}) at {} rad, outside its range [{:.3f}, {:.3f}]".format(
                m, motor_names[m], pose[m], lower[m], upper[m]
            )
        )
    return RealConfig(
        path=path,
        control_dt=control_dt,
        action_scale=_scalar(raw, "action_scale", 0.0, 10.0),
        action_clip=_scalar(raw, "action_clip", 0.0, 100.0, default=10.0),
        body_motor_idx=body_idx,
        wrist_roll_motor_idx=rolls,
        default_dof_pos=pose[body_idx].copy(),
        motor_names=motor_names,
        kp=kp,
        kd=kd,
        default_pose=pose,
        lower=lower,
        upper=upper,
        move_to_default_s=_scalar(raw, "move_to_default_s", 0.0, 60.0, default=2.0),
        damping_kd=_scalar(raw, "damping_kd", 0.0, MAX_KD, default=8.0),
        lowstate_timeout_s=_scalar(raw, "lowstate_timeout_s", 0.001, 1.0, default=0.05),
        lowstate_tick_timeout_s=_scalar(raw, "lowstate_tick_timeout_s", 0.0, 1.0, default=0.1),
        max_tilt_rad=_scalar(raw, "max_tilt_rad", 0.0, np.pi, default=1.0),
        exit_damping_s=_scalar(raw, "exit_damping_s", 0.0, 10.0, default=0.5),
        mode_machine=_mode_machines(raw),
    )
