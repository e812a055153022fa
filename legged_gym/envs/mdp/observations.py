"""Observation terms of the G1 teacher and student (docs/observations.md), as pure functions of tensors.

Conventions: quaternions xyzw; "local" = rotated by the inverse of the full 3-D rotation
(`quat_rotate_inverse`, TWIST's `global_obs=False`); every function is batched over leading
dimensions (envs, or envs x future steps).

The proprioception builder `proprio_obs` and the student assembly `student_obs` are the single
implementation used by the training environment and by the deploy servers (docs/decisions.md D14):
they need nothing but robot-state tensors (gyro in the base frame, IMU quaternion converted to
xyzw, joint positions/velocities, the last raw action, the default pose).

Every builder joins its terms by field name through the block of `layout` (`Block.concat`: the layout's
field order, each term's width checked) and takes its offsets from it: the layout object, not this
module, says where each entry goes. The per-block builders find their block from the sizes of their
inputs (number of DOFs, key bodies); the assembly builders take the `ObsLayout` (default: the G1's).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch

from legged_gym.simulator.base import POLICY_DT
from pose.utils.torch_utils import get_euler_xyz, quat_from_euler_xyz, quat_rotate_inverse, wrap_angle

from .layout import (
    ANKLE_DOF_IDS,
    LAYOUT,
    TAR_OBS_STEPS,
    ObsLayout,
    index_tensor,
    mimic_block,
    mimic_step_block,
    priv_info_block,
    proprio_block,
    ref_root_block,
)

OBS_CLIP = 100.0

# Scales and noise amplitudes (noise is uniform +-amplitude on the *scaled* values; docs/observations.md,
# Scales, noise and clipping).
ANG_VEL_SCALE = 0.25
DOF_POS_SCALE = 1.0
DOF_VEL_SCALE = 0.05
NOISE_ANG_VEL = 0.1
NOISE_IMU = 0.1
NOISE_DOF_POS = 0.01
NOISE_DOF_VEL = 0.1
NOISE_RAMP_ITERATIONS = 3000
STEPS_PER_ITERATION = 24
#: TWIST's student pre-sets its env-step counters to this value: full noise (and action delay) at once.
TWIST_STUDENT_PRESET_ENV_STEPS = 24 * 100000


# --- reference (mimic) blocks ---------------------------------------------------------------------


def future_motion_times(
    motion_times: torch.Tensor, steps: Sequence[int] = TAR_OBS_STEPS, dt: float = POLICY_DT
) -> torch.Tensor:
    """(N,) current motion times -> (N, K) query times t + s * dt, one column per future step."""
    offsets = index_tensor(steps, motion_times.device).to(motion_times.dtype) * dt
    return motion_times.unsqueeze(-1) + offsets


def _ref_root_fields(
    root_pos: torch.Tensor, root_rot: torch.Tensor, root_lin_vel: torch.Tensor, root_ang_vel: torch.Tensor
) -> Dict[str, torch.Tensor]:
    """The fields of `ref_root_block` by name."""
    roll, pitch, yaw = get_euler_xyz(root_rot)
    lin_vel_local = quat_rotate_inverse(root_rot, root_lin_vel)
    ang_vel_local = quat_rotate_inverse(root_rot, root_ang_vel)
    return {
        "root_z": root_pos[..., 2:3],
        "root_rpy": torch.stack([roll, pitch, yaw], dim=-1),
        "root_lin_vel": lin_vel_local,
        "root_yaw_rate": ang_vel_local[..., 2:3],
    }


def ref_root_obs(
    root_pos: torch.Tensor, root_rot: torch.Tensor, root_lin_vel: torch.Tensor, root_ang_vel: torch.Tensor
) -> torch.Tensor:
    """The 8 root entries of a reference block: z, roll, pitch, yaw (absolute), R^-1 v (3),
    z of R^-1 omega (yaw rate in the root frame). Velocities are world-frame inputs.

    Shapes: root_pos (..., 3), root_rot (..., 4) xyzw, velocities (..., 3) -> (..., 8).
    """
    return ref_root_block().concat(_ref_root_fields(root_pos, root_rot, root_lin_vel, root_ang_vel))


def mimic_step_obs(
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    root_lin_vel: torch.Tensor,
    root_ang_vel: torch.Tensor,
    dof_pos: torch.Tensor,
    key_body_pos_local: torch.Tensor,
) -> torch.Tensor:
    """One 58-D teacher reference block per query (docs/observations.md, Teacher reference block).

    key_body_pos_local: (..., 9, 3) key-body positions relative to the reference root in the
    reference root frame (the clip's `local_body_pos` at the key bodies), or (..., 27).
    Returns (..., 58) = [root (8) | dof_pos (23) | key bodies (27)].
    """
    kb = key_body_pos_local.reshape(dof_pos.shape[:-1] + (-1,))
    fields = _ref_root_fields(root_pos, root_rot, root_lin_vel, root_ang_vel)
    fields.update(dof_pos=dof_pos, key_body_pos=kb)
    return mimic_step_block(dof_pos.shape[-1], kb.shape[-1] // 3).concat(fields)


def priv_mimic_obs(
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    root_lin_vel: torch.Tensor,
    root_ang_vel: torch.Tensor,
    dof_pos: torch.Tensor,
    key_body_pos_local: torch.Tensor,
    robot_yaw: Optional[torch.Tensor] = None,
    unwrap_yaw: bool = False,
) -> torch.Tensor:
    """Teacher mimic obs (N, K*58): inputs shaped (N, K, ...) for the K = 20 future frames
    (`future_motion_times` order, step 1 first); the blocks are concatenated env-major.
    robot_yaw (N,), given: every block's yaw entry is the reference's yaw minus the robot's current
    yaw, wrapped into [-pi, pi) (`motion.relative_ref_yaw`), instead of the absolute one (TWIST);
    with unwrap_yaw, continuous along the blocks (`unwrap_along_blocks`, `motion.relative_ref_yaw_unwrap`)."""
    block = mimic_step_obs(root_pos, root_rot, root_lin_vel, root_ang_vel, dof_pos, key_body_pos_local)
    if robot_yaw is not None:
        block = relative_ref_yaw(block, robot_yaw.unsqueeze(-1))
        if unwrap_yaw:
            block = unwrap_along_blocks(block)
    return block.reshape(block.shape[0], -1)


#: The yaw entry of a reference block (teacher or student): root z, roll, pitch, yaw, ...
REF_YAW_ENTRY = ref_root_block()["root_rpy"].start + 2


def relative_ref_yaw(block: torch.Tensor, robot_yaw: torch.Tensor) -> torch.Tensor:
    """A copy of reference blocks (..., >= 8) whose yaw entry is the reference's yaw minus `robot_yaw`
    (broadcast against block[..., 0]), wrapped into [-pi, pi): the heading error instead of the absolute
    heading (`motion.relative_ref_yaw`, `motion.student_relative_ref_yaw`)."""
    out = block.clone()
    out[..., REF_YAW_ENTRY] = wrap_angle(block[..., REF_YAW_ENTRY] - robot_yaw)
    return out


def ref_block_rot(block: torch.Tensor) -> torch.Tensor:
    """The reference root's orientation (..., 4) xyzw from a block's roll, pitch and (absolute) yaw."""
    rpy = block[..., ref_root_block()["root_rpy"]]
    return quat_from_euler_xyz(rpy[..., 0], rpy[..., 1], rpy[..., 2])


def steer_ref_block(block: torch.Tensor, lin_vel: torch.Tensor, ang_vel: torch.Tensor) -> torch.Tensor:
    """A copy of reference blocks (..., >= 8; absolute yaw) whose root velocities have the world-frame
    velocities lin_vel, ang_vel (..., 3) added: the block of the reference moving at v + lin_vel,
    w + ang_vel (the drift feedback, `mdp.drift_feedback`, on a block already built: the student's block
    in the environment and on the robot, `deploy_real.drift_feedback`)."""
    f = ref_root_block()
    rot = ref_block_rot(block)
    out = block.clone()
    out[..., f["root_lin_vel"]] = block[..., f["root_lin_vel"]] + quat_rotate_inverse(rot, lin_vel)
    out[..., f["root_yaw_rate"]] = block[..., f["root_yaw_rate"]] + quat_rotate_inverse(rot, ang_vel)[..., 2:3]
    return out


def unwrap_along_blocks(block: torch.Tensor) -> torch.Tensor:
    """A copy of (N, K, >= 8) relative-yaw blocks (`relative_ref_yaw`, frames in time order) whose yaw
    entry is continuous along the K blocks: the first block's wrapped heading error plus the summed
    wrapped frame-to-frame turns of the reference. A reference that turns by more than pi relative to
    the robot within the look-ahead then keeps its sign instead of jumping by 2 pi."""
    yaw = block[..., REF_YAW_ENTRY]
    turns = wrap_angle(yaw[..., 1:] - yaw[..., :-1])
    out = block.clone()
    out[..., 1:, REF_YAW_ENTRY] = yaw[..., :1] + torch.cumsum(turns, dim=-1)
    return out


def student_mimic_obs(
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    root_lin_vel: torch.Tensor,
    root_ang_vel: torch.Tensor,
    dof_pos: torch.Tensor,
    robot_yaw: Optional[torch.Tensor] = None,
    feedback: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
) -> torch.Tensor:
    """Student 31-D reference block of the next frame (t + 0.02 s): the first 31
    entries of the teacher's first block. Also the 31-D part of the deploy Redis vector (absolute yaw).
    feedback (lin, ang) world-frame velocities (N, 3), given: added to the root velocities (`steer_ref_block`;
    `motion.student_ref_correction`; at deploy `deploy_real.drift_feedback`).
    robot_yaw (N,), given: the yaw entry is the reference's yaw minus the robot's, wrapped
    (`motion.student_relative_ref_yaw`; at deploy `deploy_real.student_step.RelativeRefYaw`)."""
    fields = _ref_root_fields(root_pos, root_rot, root_lin_vel, root_ang_vel)
    fields.update(dof_pos=dof_pos)
    block = mimic_block(dof_pos.shape[-1]).concat(fields)
    if feedback is not None:
        block = steer_ref_block(block, feedback[0], feedback[1])
    return block if robot_yaw is None else relative_ref_yaw(block, robot_yaw)


# --- proprioception -------------------------------------------------------------------------------


def proprio_obs(
    base_ang_vel_local: torch.Tensor,
    base_quat: torch.Tensor,
    dof_pos: torch.Tensor,
    dof_vel: torch.Tensor,
    last_action: torch.Tensor,
    default_dof_pos: torch.Tensor,
    noise: Optional[torch.Tensor] = None,
    ang_vel_scale: float = ANG_VEL_SCALE,
    dof_pos_scale: float = DOF_POS_SCALE,
    dof_vel_scale: float = DOF_VEL_SCALE,
    zero_vel_dof_ids: Sequence[int] = ANKLE_DOF_IDS,
    roll_pitch: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
) -> torch.Tensor:
    """74-D proprioception (docs/observations.md, Proprioception), shared by the environment and the deploy servers.

    base_ang_vel_local: (N, 3) angular velocity in the base frame (gyro); base_quat: (N, 4) xyzw
    (IMU quaternion converted from wxyz); dof_pos, dof_vel: (N, 23); last_action: (N, 23) the raw
    (unclipped, undelayed) policy output of the previous step; default_dof_pos: (23,) or (N, 23).
    noise: optional (N, 74) additive noise on the scaled vector (`sample_obs_noise`); the velocity
    entries of `zero_vel_dof_ids` (ankles) are zeroed AFTER the noise.
    roll_pitch: get_euler_xyz(base_quat)[:2] when the caller has them already.
    Returns (N, 74) = [omega * 0.25 | roll, pitch | q - q0 | qdot * 0.05 | last action].
    """
    if roll_pitch is None:
        roll, pitch, _ = get_euler_xyz(base_quat)
    else:
        roll, pitch = roll_pitch
    block = proprio_block(dof_pos.shape[-1])
    obs = block.concat(
        {
            "ang_vel": base_ang_vel_local * ang_vel_scale,
            "roll_pitch": torch.stack([roll, pitch], dim=-1),
            "dof_pos": (dof_pos - default_dof_pos) * dof_pos_scale,
            "dof_vel": dof_vel * dof_vel_scale,
            "last_action": last_action,
        }
    )
    if noise is not None:
        obs = obs + noise
    vel_start = block["dof_vel"].start
    return obs.index_fill(-1, index_tensor([vel_start + i for i in zero_vel_dof_ids], obs.device), 0.0)


#: Proprioception field -> its amplitude's name in `cfg.noise.noise_scales` (the last action gets no noise).
NOISE_SCALE_NAMES = {"ang_vel": "ang_vel", "roll_pitch": "imu", "dof_pos": "dof_pos", "dof_vel": "dof_vel"}


def proprio_noise_scale_vec(
    num_dofs: int = LAYOUT.num_dofs,
    ang_vel: float = NOISE_ANG_VEL,
    imu: float = NOISE_IMU,
    dof_pos: float = NOISE_DOF_POS,
    dof_vel: float = NOISE_DOF_VEL,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Noise amplitudes per entry of the proprioception block (`proprio_block(num_dofs)`, 74 on the G1):
    [ang vel 0.1 x3 | roll/pitch 0.1 x2 | dof pos 0.01 x23 | dof vel 0.1 x23 | action 0 x23]."""
    amplitudes = {"ang_vel": ang_vel, "imu": imu, "dof_pos": dof_pos, "dof_vel": dof_vel}
    return proprio_block(num_dofs).per_field(
        {f: amplitudes[name] for f, name in NOISE_SCALE_NAMES.items()}, device=device, dtype=dtype
    )


def noise_ramp(
    total_env_steps: int, ramp_iterations: int = NOISE_RAMP_ITERATIONS, steps_per_iteration: int = STEPS_PER_ITERATION
) -> float:
    """Noise amplitude factor min(total_env_steps / (3000 * 24), 1) of headless training (with a
    viewer, 1.0). `total_env_steps` counts vectorised env steps."""
    return min(float(total_env_steps) / float(ramp_iterations * steps_per_iteration), 1.0)


def sample_obs_noise(
    scale_vec: torch.Tensor, num_envs: int, amplitude: float = 1.0, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """(N, D) uniform noise in +-amplitude * scale_vec: (2 U[0,1) - 1) * scale_vec * amplitude."""
    u = torch.rand((num_envs, scale_vec.shape[-1]), generator=generator, device=scale_vec.device, dtype=scale_vec.dtype)
    return (2.0 * u - 1.0) * scale_vec * amplitude


# --- privileged info ------------------------------------------------------------------------------


def priv_info_obs(
    base_lin_vel_local: torch.Tensor,
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    key_body_pos: torch.Tensor,
    feet_contact_forces: torch.Tensor,
    mass_params: torch.Tensor,
    friction: torch.Tensor,
    kp_strength: torch.Tensor,
    kd_strength: torch.Tensor,
    contact_threshold: float = 5.0,
    enabled: bool = True,
) -> torch.Tensor:
    """84-D privileged info (docs/observations.md, Privileged info).

    base_lin_vel_local (N, 3) base-frame velocity; root_pos (N, 3), root_quat (N, 4) world;
    key_body_pos (N, 9, 3) world positions of the key bodies; feet_contact_forces (N, 2, 3) net
    contact forces of the two feet (world); mass_params (N, 4) = added pelvis mass, CoM offset xyz;
    friction (N,) or (N, 1); kp_strength, kd_strength (N, 23) motor-strength factors.
    Key bodies: (p_i - p_root) rotated by the inverse of the full root quaternion. Contacts:
    F_z > 5 N as 0/1. Strengths enter as factor - 1. All zeros when `enabled` is False
    (`domain_rand_general=False`).
    """
    n = root_pos.shape[0]
    rel = key_body_pos - root_pos.unsqueeze(-2)
    kb_local = quat_rotate_inverse(root_quat.unsqueeze(-2).expand(rel.shape[:-1] + (4,)), rel)
    contacts = (feet_contact_forces[..., 2] > contact_threshold).to(root_pos.dtype)
    out = priv_info_block(kp_strength.shape[-1], key_body_pos.shape[-2]).concat(
        {
            "base_lin_vel": base_lin_vel_local,
            "root_z": root_pos[:, 2:3],
            "key_body_pos": kb_local.reshape(n, -1),
            "foot_contacts": contacts,
            "mass_params": mass_params,
            "friction": friction.reshape(n, 1).to(root_pos.dtype),
            "kp_strength": kp_strength - 1.0,
            "kd_strength": kd_strength - 1.0,
        }
    )
    return out if enabled else torch.zeros_like(out)


# --- assembly and history -------------------------------------------------------------------------


def teacher_obs(
    priv_mimic: torch.Tensor, proprio: torch.Tensor, priv_info: torch.Tensor, layout: ObsLayout = LAYOUT
) -> torch.Tensor:
    """Teacher observation = privileged (critic) observation, `layout.teacher`: [mimic 1160 | proprio 74 | priv 84]."""
    return layout.teacher.concat({"priv_mimic": priv_mimic, "proprio": proprio, "priv_info": priv_info})


def student_single_obs(mimic: torch.Tensor, proprio: torch.Tensor, layout: ObsLayout = LAYOUT) -> torch.Tensor:
    """One student frame, `layout.student_frame`: [mimic 31 | proprio 74] = 105 (the unit stored in the history)."""
    return layout.student_frame.concat({"mimic": mimic, "proprio": proprio})


def student_obs(
    mimic: torch.Tensor, proprio: torch.Tensor, history: torch.Tensor, layout: ObsLayout = LAYOUT
) -> torch.Tensor:
    """Student observation, `layout.student`: [mimic 31 | proprio 74 | history 10 x 105] = 1155
    (docs/observations.md, History).

    history: (N, 10, 105), oldest first, holding the previous frames (the history BEFORE this
    step's update). Used by the environment and the deploy servers alike.
    """
    return layout.student.concat({"mimic": mimic, "proprio": proprio, "history": history.reshape(history.shape[0], -1)})


def push_obs_history(history: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Drop the oldest entry and append `frame` (N, D) as the newest: (N, H, D) -> (N, H, D).
    The shift of TWIST's zero-initialised deploy deque; `update_obs_history` adds the refill."""
    return torch.cat([history[:, 1:], frame.unsqueeze(1)], dim=1)


def update_obs_history(history: torch.Tensor, frame: torch.Tensor, episode_length: torch.Tensor) -> torch.Tensor:
    """Training history update, done AFTER the current observation was assembled.

    Envs with episode_length <= 1 get the whole history refilled with copies of `frame`; the others
    shift by one and append `frame` as the newest (last) entry.
    """
    refill = frame.unsqueeze(1).expand_as(history)
    return torch.where((episode_length <= 1).view(-1, 1, 1), refill, push_obs_history(history, frame))


def clip_obs(obs: torch.Tensor, limit: float = OBS_CLIP, nan_to_num: bool = False) -> torch.Tensor:
    """Clip to +-limit; `nan_to_num` maps NaN/+-inf to 0 first (as TWIST's CMG forks do)."""
    if nan_to_num:
        obs = torch.nan_to_num(obs, nan=0.0, posinf=0.0, neginf=0.0)
    return obs.clamp(-limit, limit)
