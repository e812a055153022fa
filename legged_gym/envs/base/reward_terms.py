"""The reward terms a task config can name, and how each one reads its inputs from the environment.

A task config's `rewards` group is its term table (docs/rewards_and_terminations.md, The term table):
`scales.<name>` is the term's weight, `params.<name>.<parameter>` its kernel parameters. At start-up
the env calls `TERMS[name](env, **params)` once for every term with a non-zero weight: the call
resolves what stays fixed (key-body indices, settings) and returns the term, a callable without
arguments that computes the raw f (N,) of the env's current state with the pure function of
`mdp.rewards`. The env evaluates its terms every step (`LeggedRobot.compute_reward`).

A new term: its pure function in `mdp/rewards.py`, a `@term` function here, a weight (and its
parameters, if any) in the task config.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from legged_gym.envs.mdp import rewards

Term = Callable[[], torch.Tensor]

#: term name -> function (env, **params) -> Term; filled by `@term`.
TERMS: Dict[str, Callable[..., Term]] = {}

#: Facts-table groups that a `key_bodies` parameter can name (None: all of the env's key bodies).
KEY_BODY_GROUPS = ("upper_key_bodies", "lower_key_bodies")


def term(make: Callable[..., Term]) -> Callable[..., Term]:
    """Register `make` as the term named like the function."""
    TERMS[make.__name__] = make
    return make


def key_body_ids(env, group: Optional[str]) -> Optional[torch.Tensor]:
    """Indices into the env's key bodies of the facts-table group `group` (None: all key bodies)."""
    if group is None:
        return None
    if group not in KEY_BODY_GROUPS:
        raise ValueError(
            "key_bodies = {!r}: expected None (all key bodies) or one of {}".format(group, KEY_BODY_GROUPS)
        )
    names = list(env.key_body_names)
    bodies = getattr(env.model, group)
    missing = [b for b in bodies if b not in names]
    if missing:
        raise ValueError(
            "key_bodies = {!r} needs the key bodies {} (cfg.motion.key_bodies: {})".format(group, missing, names)
        )
    return torch.tensor([names.index(b) for b in bodies], device=env.device)


# --- tracking terms ---------------------------------------------------------------------------------


@term
def tracking_joint_dof(env, coef: float) -> Term:
    return lambda: rewards.tracking_joint_dof(env.dof_pos, env._ref_dof_pos, env.dof_err_w, coef=coef)


@term
def tracking_joint_vel(env, coef: float) -> Term:
    return lambda: rewards.tracking_joint_vel(env.dof_vel, env._ref_dof_vel, env.dof_err_w, coef=coef)


@term
def tracking_root_pose(env, coef: float, rot_weight: float, height_only: bool) -> Term:
    return lambda: rewards.tracking_root_pose(
        env.root_states[:, 0:3],
        env.base_quat,
        env._ref_root_pos,
        env._ref_root_rot,
        coef=coef,
        rot_weight=rot_weight,
        height_only=height_only,
    )


@term
def tracking_root_vel(env, coef: float, ang_weight: float) -> Term:
    def f() -> torch.Tensor:
        ref_vel, ref_ang_vel = env.ref_root_vel_target()  # the clip's, plus motion.ref_correction
        return rewards.tracking_root_vel(
            env.base_lin_vel,
            env.base_ang_vel,
            env._ref_root_rot,
            ref_vel,
            ref_ang_vel,
            coef=coef,
            ang_weight=ang_weight,
        )

    return f


@term
def tracking_keybody_pos(env, coef: float, key_bodies: Optional[str]) -> Term:
    """Of the heading-frame key-body delta the env computes once per step (`_keybody_delta`)."""
    ids = key_body_ids(env, key_bodies)
    return lambda: rewards.keybody_kernel(env._keybody_delta(), ids, coef=coef)


@term
def tracking_keybody_pos_upper(env, coef: float, key_bodies: Optional[str]) -> Term:
    """As `tracking_keybody_pos`; 0 with `cfg.rewards.lower_body_only_tracking`."""
    ids = key_body_ids(env, key_bodies)
    if env.cfg.rewards.lower_body_only_tracking:
        return lambda: torch.zeros(env.num_envs, device=env.device)
    return lambda: rewards.keybody_kernel(env._keybody_delta(), ids, coef=coef)


@term
def tracking_root_yaw_rate(env, coef: float) -> Term:
    """The reference's yaw rate plus motion.ref_correction's yaw feedback, as tracking_root_vel's target."""
    return lambda: rewards.tracking_root_yaw_rate(env.root_states[:, 10:13], env.ref_root_vel_target()[1], coef=coef)


@term
def tracking_cmd_vel(env, coef: float) -> Term:
    """The command of the env's current reference frame (CMG envs: `get_commands`)."""
    get_commands = env.get_commands
    return lambda: rewards.tracking_cmd_vel(get_commands(), env.base_lin_vel, coef=coef)


@term
def tracking_cmd_yaw(env, coef: float) -> Term:
    get_commands = env.get_commands
    return lambda: rewards.tracking_cmd_yaw(get_commands(), env.base_ang_vel, coef=coef)


@term
def action_symmetry(env, coef: float) -> Term:
    return lambda: rewards.action_symmetry(env.actions, coef=coef)


# --- penalty / shaping terms ------------------------------------------------------------------------


@term
def feet_slip(env, contact_threshold: float) -> Term:
    return lambda: rewards.feet_slip(
        env.rigid_body_states[:, env.feet_indices, 7:10],
        env._feet_contact_forces(),
        contact_threshold=contact_threshold,
    )


@term
def feet_contact_forces(env) -> Term:
    max_contact_force = float(env.cfg.rewards.max_contact_force)
    return lambda: rewards.feet_contact_forces(env._feet_contact_forces(), max_contact_force=max_contact_force)


@term
def feet_stumble(env, ratio: float) -> Term:
    return lambda: rewards.feet_stumble(env._feet_contact_forces(), ratio=ratio)


@term
def dof_pos_limits(env) -> Term:
    """Soft limits of `cfg.rewards.soft_dof_pos_limit`, made at start-up (`env.soft_dof_pos_lower/upper`)."""
    return lambda: rewards.dof_pos_limits(env.dof_pos, env.soft_dof_pos_lower, env.soft_dof_pos_upper)


@term
def dof_torque_limits(env) -> Term:
    soft_limit = float(env.cfg.rewards.soft_torque_limit)
    return lambda: rewards.dof_torque_limits(env.torques, env.torque_limits, soft_limit=soft_limit)


@term
def dof_vel(env) -> Term:
    return lambda: rewards.dof_vel(env.dof_vel)


@term
def dof_acc(env) -> Term:
    return lambda: rewards.dof_acc(env.dof_vel, env.last_dof_vel, env.dt)


@term
def ankle_dof_vel(env) -> Term:
    return lambda: rewards.ankle_dof_vel(env.dof_vel)


@term
def ankle_dof_acc(env) -> Term:
    return lambda: rewards.ankle_dof_acc(env.dof_vel, env.last_dof_vel, env.dt)


@term
def action_rate(env) -> Term:
    return lambda: rewards.action_rate(env.actions, env.last_actions)


@term
def ang_vel_xy(env) -> Term:
    return lambda: rewards.ang_vel_xy(env.base_ang_vel)


@term
def feet_air_time(env, contact_threshold: float, min_ref_speed: float) -> Term:
    """Updates the env's air-time state; its contact memory replaces the 2 N one (TWIST quirk,
    docs/decisions.md K3). Target: `cfg.rewards.feet_air_time_target`."""
    target = float(env.cfg.rewards.feet_air_time_target)

    def f() -> torch.Tensor:
        rew, env.feet_air_time, env.last_contacts = rewards.feet_air_time(
            env._feet_contact_forces(),
            env._ref_root_vel,
            env.feet_air_time,
            env.last_contacts,
            env.dt,
            target=target,
            contact_threshold=contact_threshold,
            min_ref_speed=min_ref_speed,
        )
        return rew

    return f


@term
def total_angular_momentum(env) -> Term:
    """Over all bodies, with the masses of the CMG env (`_body_mass`: facts table plus the randomised pelvis mass)."""
    body_mass = env._body_mass

    def f() -> torch.Tensor:
        b = env.rigid_body_states
        return rewards.total_angular_momentum(b[..., 0:3], b[..., 7:10], body_mass)

    return f
