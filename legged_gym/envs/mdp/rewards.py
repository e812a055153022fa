"""Reward terms of HumanoidMimic / G1MimicDistill (docs/rewards_and_terminations.md), as pure functions of tensors.

Each function returns the raw term f (N,); the env multiplies by scale x dt (`effective_scales`)
and sums (`total_reward`). Kernel parameters (coefficients, thresholds) are keyword-only and have no
defaults: their values are the task config's (`cfg.rewards.params`, read by
`legged_gym/envs/base/reward_terms.py`).
Quaternions xyzw; "local" = base frame; contact forces are world-frame net contact forces.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch

from legged_gym.simulator.base import POLICY_DT
from pose.g1_model import load_g1
from pose.utils.torch_utils import quat_angle, quat_conjugate, quat_mul, quat_rotate_inverse, yaw_quat

from .layout import ANKLE_DOF_IDS, index_tensor

_G1 = load_g1()
#: Key-body list positions (order of `load_g1().key_bodies`) of the table's upper (hands, elbows, head) and
#: lower (ankles, knees) key bodies.
UPPER_KEY_BODY_IDS: Tuple[int, ...] = _G1.key_body_index(_G1.upper_key_bodies)
LOWER_KEY_BODY_IDS: Tuple[int, ...] = _G1.key_body_index(_G1.lower_key_bodies)
#: action_symmetry (CMG): left/right DOF pairs and the mirror sign of each pair (`G1Model.mirror_dofs`).
SYMMETRY_LEFT_IDS, SYMMETRY_RIGHT_IDS, SYMMETRY_SIGNS = _G1.mirror_dofs()


# --- tracking terms -------------------------------------------------------------------------------


def tracking_joint_dof(
    dof_pos: torch.Tensor, ref_dof_pos: torch.Tensor, dof_err_w: torch.Tensor, *, coef: float
) -> torch.Tensor:
    """exp(-coef * sum_j w_j (q_ref - q)^2) (TWIST: coef 0.15)."""
    return torch.exp(-coef * torch.sum(dof_err_w * (ref_dof_pos - dof_pos) ** 2, dim=-1))


def tracking_joint_vel(
    dof_vel: torch.Tensor, ref_dof_vel: torch.Tensor, dof_err_w: torch.Tensor, *, coef: float
) -> torch.Tensor:
    """exp(-coef * sum_j w_j (qdot_ref - qdot)^2) (TWIST: coef 0.01)."""
    return torch.exp(-coef * torch.sum(dof_err_w * (ref_dof_vel - dof_vel) ** 2, dim=-1))


def tracking_root_pose(
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
    *,
    coef: float,
    rot_weight: float,
    height_only: bool,
) -> torch.Tensor:
    """exp(-coef (e_p + rot_weight e_r)) (TWIST: 5, 0.1); e_p = (z_ref - z)^2 (all of xyz if not
    `height_only`, i.e. TWIST's global_obs); e_r = squared geodesic angle of q_ref * q^-1 (includes yaw;
    docs/decisions.md K2)."""
    diff = ref_root_pos - root_pos
    e_p = diff[..., 2] ** 2 if height_only else torch.sum(diff**2, dim=-1)
    e_r = quat_angle(quat_mul(ref_root_quat, quat_conjugate(root_quat))) ** 2
    return torch.exp(-coef * (e_p + rot_weight * e_r))


def tracking_root_vel(
    base_lin_vel_local: torch.Tensor,
    base_ang_vel_local: torch.Tensor,
    ref_root_quat: torch.Tensor,
    ref_root_vel: torch.Tensor,
    ref_root_ang_vel: torch.Tensor,
    *,
    coef: float,
    ang_weight: float,
) -> torch.Tensor:
    """exp(-coef (|R_ref^-1 v_ref - v_base|^2 + ang_weight |R_ref^-1 w_ref - w_base|^2)) (TWIST: 1, 0.5);
    reference velocities are world-frame, robot velocities base-frame."""
    dv = quat_rotate_inverse(ref_root_quat, ref_root_vel) - base_lin_vel_local
    dw = quat_rotate_inverse(ref_root_quat, ref_root_ang_vel) - base_ang_vel_local
    return torch.exp(-coef * (torch.sum(dv**2, dim=-1) + ang_weight * torch.sum(dw**2, dim=-1)))


def tracking_root_yaw_rate(
    root_ang_vel_world: torch.Tensor, ref_root_ang_vel: torch.Tensor, *, coef: float
) -> torch.Tensor:
    """exp(-coef (w_ref,z - w_z)^2) on the world-frame yaw rates (not in TWIST: the yaw rate in a term of
    its own, where tracking_root_vel weighs it inside the linear velocity's exponent)."""
    return torch.exp(-coef * (ref_root_ang_vel[:, 2] - root_ang_vel_world[:, 2]) ** 2)


def _heading_frame(body_pos: torch.Tensor, root_pos: torch.Tensor, root_quat: torch.Tensor) -> torch.Tensor:
    """World positions (N, K, 3) -> root-relative, rotated by the inverse yaw-only quaternion."""
    rel = body_pos - root_pos.unsqueeze(-2)
    q = yaw_quat(root_quat).unsqueeze(-2).expand(rel.shape[:-1] + (4,))
    return quat_rotate_inverse(q, rel)


def keybody_delta(
    key_body_pos: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    ref_key_body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
) -> torch.Tensor:
    """(N, K, 3) delta_i: key bodies in the robot's yaw-only root frame minus the reference's in its
    own (world inputs (N, K, 3)); what `keybody_pos_error` and `mean_keybody_distance` measure."""
    return _heading_frame(key_body_pos, root_pos, root_quat) - _heading_frame(
        ref_key_body_pos, ref_root_pos, ref_root_quat
    )


def keybody_pos_error(
    key_body_pos: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    ref_key_body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
    body_ids: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """sum_i |delta_i|^2 of key bodies in yaw-only root frames (robot vs reference), world inputs
    (N, K, 3); `body_ids` selects a subset of the K key bodies (None: all)."""
    if body_ids is not None:
        ids = index_tensor(body_ids, key_body_pos.device)
        key_body_pos = key_body_pos.index_select(1, ids)
        ref_key_body_pos = ref_key_body_pos.index_select(1, ids)
    d = keybody_delta(key_body_pos, root_pos, root_quat, ref_key_body_pos, ref_root_pos, ref_root_quat)
    return torch.sum(d**2, dim=(-2, -1))


def mean_keybody_distance(
    key_body_pos: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    ref_key_body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
) -> torch.Tensor:
    """Tracking metric (not a reward): mean over key bodies of |delta_i| in metres, in the same
    yaw-only root frames as `keybody_pos_error`."""
    d = keybody_delta(key_body_pos, root_pos, root_quat, ref_key_body_pos, ref_root_pos, ref_root_quat)
    return d.norm(dim=-1).mean(dim=-1)


def tracking_keybody_pos(
    key_body_pos: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    ref_key_body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
    body_ids: Optional[Sequence[int]] = None,
    *,
    coef: float,
) -> torch.Tensor:
    """exp(-coef e) over the 9 key bodies (TWIST: coef 10); CMG lower-body-only tracking:
    body_ids=LOWER_KEY_BODY_IDS."""
    return torch.exp(
        -coef
        * keybody_pos_error(key_body_pos, root_pos, root_quat, ref_key_body_pos, ref_root_pos, ref_root_quat, body_ids)
    )


def keybody_kernel(delta: torch.Tensor, body_ids: Optional[torch.Tensor] = None, *, coef: float) -> torch.Tensor:
    """exp(-coef sum_i |delta_i|^2) of a `keybody_delta` (N, K, 3), over the key bodies `body_ids` (a
    long tensor; None: all): `tracking_keybody_pos` / `tracking_keybody_pos_upper` of a delta computed once."""
    if body_ids is not None:
        delta = delta.index_select(1, body_ids)
    return torch.exp(-coef * torch.sum(delta**2, dim=(-2, -1)))


def tracking_keybody_pos_upper(
    key_body_pos: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    ref_key_body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
    lower_body_only_tracking: bool = False,
    body_ids: Sequence[int] = UPPER_KEY_BODY_IDS,
    *,
    coef: float,
) -> torch.Tensor:
    """CMG: exp(-coef e) over hands, elbows, head (coef 5); 0 when `lower_body_only_tracking`."""
    r = torch.exp(
        -coef
        * keybody_pos_error(key_body_pos, root_pos, root_quat, ref_key_body_pos, ref_root_pos, ref_root_quat, body_ids)
    )
    return torch.zeros_like(r) if lower_body_only_tracking else r


def tracking_cmd_vel(commands: torch.Tensor, base_lin_vel_local: torch.Tensor, *, coef: float) -> torch.Tensor:
    """CMG: exp(-coef ((c_x - v_x)^2 + (c_y - v_y)^2)) (coef 2), commands (N, 3) = (vx, vy, yaw rate) as
    returned by the CMG library (vy, yaw already sign-flipped for mirrored envs)."""
    return torch.exp(-coef * torch.sum((commands[:, :2] - base_lin_vel_local[:, :2]) ** 2, dim=-1))


def tracking_cmd_yaw(commands: torch.Tensor, base_ang_vel_local: torch.Tensor, *, coef: float) -> torch.Tensor:
    """CMG: exp(-coef (c_yaw - w_z)^2) (coef 1)."""
    return torch.exp(-coef * (commands[:, 2] - base_ang_vel_local[:, 2]) ** 2)


def action_symmetry(
    actions: torch.Tensor,
    left_ids: Sequence[int] = SYMMETRY_LEFT_IDS,
    right_ids: Sequence[int] = SYMMETRY_RIGHT_IDS,
    signs: Sequence[float] = SYMMETRY_SIGNS,
    *,
    coef: float,
) -> torch.Tensor:
    """CMG: exp(-coef mean_pairs (a_L - s a_R)^2) (coef 0.5) on the clipped/delayed actions."""
    s = torch.as_tensor(signs, dtype=actions.dtype, device=actions.device)
    left = actions.index_select(-1, index_tensor(left_ids, actions.device))
    right = actions.index_select(-1, index_tensor(right_ids, actions.device))
    err = torch.mean((left - s * right) ** 2, dim=-1)
    return torch.exp(-coef * err)


# --- penalty / shaping terms ----------------------------------------------------------------------


def feet_slip(feet_vel: torch.Tensor, feet_contact_forces: torch.Tensor, *, contact_threshold: float) -> torch.Tensor:
    """sum_feet sqrt(|v_foot,xy|) [F_z > contact_threshold] (TWIST: 5 N); feet_vel, feet_contact_forces
    (N, 2, 3) world."""
    contact = feet_contact_forces[..., 2] > contact_threshold
    return torch.sum(torch.sqrt(torch.norm(feet_vel[..., :2], dim=-1)) * contact, dim=-1)


def feet_contact_forces(feet_contact_forces: torch.Tensor, *, max_contact_force: float) -> torch.Tensor:
    """x = |(F_z,left, F_z,right)|_2 (norm across the feet, docs/decisions.md K3); f = max(x - max_contact_force, 0)
    (TWIST: 100 N).
    TWIST masks in place (x < 100 -> 0, x > 100 -> x - 100) and so returns 100 at exactly
    x = 100; the continuous form (0 there) is used instead (docs/decisions.md D18)."""
    x = torch.norm(feet_contact_forces[..., 2], dim=-1)
    return torch.clamp(x - max_contact_force, min=0.0)


def feet_stumble(feet_contact_forces: torch.Tensor, *, ratio: float) -> torch.Tensor:
    """1 if any foot has |F_xy| > ratio |F_z| (TWIST: 4)."""
    fxy = torch.norm(feet_contact_forces[..., :2], dim=-1)
    return torch.any(fxy > ratio * torch.abs(feet_contact_forces[..., 2]), dim=-1).to(feet_contact_forces.dtype)


def soft_dof_pos_limits(
    lower: torch.Tensor, upper: torch.Tensor, *, soft_limit: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """URDF range shrunk to `soft_limit` of its width about its midpoint (TWIST: 0.95)."""
    mid = 0.5 * (lower + upper)
    half = 0.5 * (upper - lower) * soft_limit
    return mid - half, mid + half


def dof_pos_limits(dof_pos: torch.Tensor, soft_lower: torch.Tensor, soft_upper: torch.Tensor) -> torch.Tensor:
    """sum_j max(0, lo_j - q_j) + max(0, q_j - hi_j) with the 95 % soft limits."""
    return torch.sum(torch.clamp(soft_lower - dof_pos, min=0.0) + torch.clamp(dof_pos - soft_upper, min=0.0), dim=-1)


def dof_torque_limits(torques: torch.Tensor, torque_limits: torch.Tensor, *, soft_limit: float) -> torch.Tensor:
    """sum_j max(0, |tau_j| / tau_lim_j - soft_limit) (TWIST: 0.95), tau_lim = 0.9 x effort."""
    return torch.sum(torch.clamp(torch.abs(torques) / torque_limits - soft_limit, min=0.0), dim=-1)


def dof_vel(dof_vel: torch.Tensor) -> torch.Tensor:
    """sum_j qdot_j^2."""
    return torch.sum(dof_vel**2, dim=-1)


def dof_acc(dof_vel: torch.Tensor, last_dof_vel: torch.Tensor, dt: float = POLICY_DT) -> torch.Tensor:
    """sum_j ((qdot_prev - qdot) / dt)^2."""
    return torch.sum(((last_dof_vel - dof_vel) / dt) ** 2, dim=-1)


def ankle_dof_vel(dof_vel: torch.Tensor, dof_ids: Sequence[int] = ANKLE_DOF_IDS) -> torch.Tensor:
    """dof_vel restricted to the ankle DOFs 4, 5, 10, 11."""
    return torch.sum(dof_vel.index_select(-1, index_tensor(dof_ids, dof_vel.device)) ** 2, dim=-1)


def ankle_dof_acc(
    dof_vel: torch.Tensor, last_dof_vel: torch.Tensor, dt: float = POLICY_DT, dof_ids: Sequence[int] = ANKLE_DOF_IDS
) -> torch.Tensor:
    """dof_acc restricted to the ankle DOFs 4, 5, 10, 11."""
    ids = index_tensor(dof_ids, dof_vel.device)
    return torch.sum(((last_dof_vel.index_select(-1, ids) - dof_vel.index_select(-1, ids)) / dt) ** 2, dim=-1)


def action_rate(actions: torch.Tensor, last_actions: torch.Tensor) -> torch.Tensor:
    """|a_prev - a|_2, the L2 norm NOT squared (docs/decisions.md K3), on clipped/delayed actions."""
    return torch.norm(last_actions - actions, dim=-1)


def ang_vel_xy(base_ang_vel_local: torch.Tensor) -> torch.Tensor:
    """w_x^2 + w_y^2 of the base-frame angular velocity."""
    return torch.sum(base_ang_vel_local[:, :2] ** 2, dim=-1)


def feet_air_time(
    feet_contact_forces: torch.Tensor,
    ref_root_vel: torch.Tensor,
    air_time: torch.Tensor,
    last_contacts: torch.Tensor,
    dt: float = POLICY_DT,
    *,
    target: float,
    contact_threshold: float,
    min_ref_speed: float,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Air-time shaping with its state update; returns (reward, new_air_time, new_last_contacts).

    TWIST: target 0.5 s, contact_threshold 5 N, min_ref_speed 0.05 m/s.
    contact = F_z > contact_threshold; contact_filt = contact | last_contacts; first_contact =
    (air_time > 0) & contact_filt; air_time += dt; f = sum_feet min(air_time - target, 0) *
    first_contact, times [|v_ref,xy| > min_ref_speed]; air_time reset to 0 where contact_filt;
    last_contacts = contact.
    Quirks kept (docs/decisions.md K3): f <= 0 although its scale is positive (only swings shorter
    than 0.5 s are penalised), and the returned last_contacts (5 N z-force test) replaces the
    one post_physics_step had just set with the 2 N norm test.
    air_time (N, 2) float, last_contacts (N, 2) bool, ref_root_vel (N, 3) world.
    """
    contact = feet_contact_forces[..., 2] > contact_threshold
    contact_filt = contact | last_contacts
    first_contact = (air_time > 0.0) & contact_filt
    air_time = air_time + dt
    rew = torch.sum(torch.clamp(air_time - target, max=0.0) * first_contact, dim=-1)
    rew = rew * (torch.norm(ref_root_vel[:, :2], dim=-1) > min_ref_speed)
    air_time = air_time * (~contact_filt)
    return rew, air_time, contact


def total_angular_momentum(body_pos: torch.Tensor, body_vel: torch.Tensor, body_mass: torch.Tensor) -> torch.Tensor:
    """CMG forks: |L / M|^2 with L = sum_b m_b (p_b - p_com) x (v_b - v_com) over all bodies.
    body_pos, body_vel (N, B, 3) world; body_mass (B,) or (N, B) (after randomisation)."""
    m = body_mass.expand(body_pos.shape[:-1]).unsqueeze(-1)
    total = m.sum(dim=-2)
    p_com = (m * body_pos).sum(dim=-2, keepdim=True) / total.unsqueeze(-2)
    v_com = (m * body_vel).sum(dim=-2, keepdim=True) / total.unsqueeze(-2)
    L = (m * torch.cross(body_pos - p_com, body_vel - v_com, dim=-1)).sum(dim=-2)
    return torch.sum((L / total) ** 2, dim=-1)


# --- aggregation ---------------------------------------------------------------------------------


def effective_scales(scales: Mapping[str, float], dt: float = POLICY_DT) -> Dict[str, float]:
    """Scale x dt for every term with a non-zero scale (zero-scale terms are not computed)."""
    return {name: float(s) * dt for name, s in scales.items() if s != 0}


def total_reward(terms: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """r = sum_k scale_eff_k * f_k (no clipping, no positive-only).

    terms: (N, T) the reward terms stacked in the order of `scales` (T,), the effective scales
    (`effective_scales` values). One matrix product instead of a multiply-add per term.
    """
    return terms @ scales
