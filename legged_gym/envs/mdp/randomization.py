"""Domain-randomisation draws and reference-state initialisation (docs/rewards_and_terminations.md).

Pure draws: every function takes a `torch.Generator` (None: torch's default generator) and
returns tensors; applying them to a simulator (friction, pelvis mass/CoM, motor strength, root
velocities, body forces) is the environment's and the backend's job. The same seed gives the same
draws. Tensors are created on the generator's device unless `device` says otherwise.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import torch

from legged_gym.simulator.base import POLICY_DT

FRICTION_RANGE = (0.1, 2.0)
NUM_FRICTION_BUCKETS = 64
ADDED_MASS_RANGE = (-3.0, 3.0)
COM_OFFSET_RANGE = (-0.05, 0.05)
MOTOR_STRENGTH_RANGE = (0.8, 1.2)
PUSH_VEL_RANGE = (-1.0, 1.0)
PUSH_INTERVAL_S = 4.0
HAND_FORCE_RANGE = (-20.0, 20.0)
HAND_PUSH_INTERVAL_S = 2.0
ACTION_DELAY_ONSET_STEPS = 5000 * 24
GRAVITY_RANGE = (-0.1, 0.1)


def _device(generator: Optional[torch.Generator], device):
    if device is not None:
        return torch.device(device)
    return generator.device if generator is not None else torch.device("cpu")


def uniform(
    shape: Sequence[int],
    low: float,
    high: float,
    generator: Optional[torch.Generator] = None,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """U[low, high) of the given shape."""
    u = torch.rand(tuple(shape), generator=generator, device=_device(generator, device), dtype=dtype)
    return low + (high - low) * u


# --- drawn once at environment creation -----------------------------------------------------------


def friction_coeffs(
    num_envs: int,
    generator: Optional[torch.Generator] = None,
    friction_range: Tuple[float, float] = FRICTION_RANGE,
    num_buckets: int = NUM_FRICTION_BUCKETS,
    device=None,
) -> torch.Tensor:
    """(N,) friction: 64 bucket values ~ U[0.1, 2.0] drawn once, each env takes a random bucket."""
    buckets = uniform((num_buckets,), friction_range[0], friction_range[1], generator, device)
    ids = torch.randint(0, num_buckets, (num_envs,), generator=generator, device=buckets.device)
    return buckets[ids]


def base_mass_params(
    num_envs: int,
    generator: Optional[torch.Generator] = None,
    mass_range: Tuple[float, float] = ADDED_MASS_RANGE,
    com_range: Tuple[float, float] = COM_OFFSET_RANGE,
    device=None,
) -> torch.Tensor:
    """(N, 4) = [added pelvis mass ~ U[-3, 3] kg, CoM offset ~ U[-0.05, 0.05]^3 m] (the privileged
    `mass_params`)."""
    mass = uniform((num_envs, 1), mass_range[0], mass_range[1], generator, device)
    com = uniform((num_envs, 3), com_range[0], com_range[1], generator, device)
    return torch.cat([mass, com], dim=-1)


def motor_strength(
    num_envs: int,
    num_dofs: int = 23,
    generator: Optional[torch.Generator] = None,
    strength_range: Tuple[float, float] = MOTOR_STRENGTH_RANGE,
    device=None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(kp_factor, kd_factor), each (N, 23) ~ U[0.8, 1.2], independent; never resampled."""
    kp = uniform((num_envs, num_dofs), strength_range[0], strength_range[1], generator, device)
    kd = uniform((num_envs, num_dofs), strength_range[0], strength_range[1], generator, device)
    return kp, kd


def gravity_offset(
    generator: Optional[torch.Generator] = None, gravity_range: Tuple[float, float] = GRAVITY_RANGE, device=None
) -> torch.Tensor:
    """(3,) gravity offset ~ U[-0.1, 0.1] m/s^2 per axis, one for the whole simulation.
    docs/decisions.md D2: behind a `randomize_gravity` flag that defaults to off (TWIST never applies it)."""
    return uniform((3,), gravity_range[0], gravity_range[1], generator, device)


# --- drawn during the episode ---------------------------------------------------------------------


def interval_due(step_counter: int, interval_s: float, dt: float = POLICY_DT) -> bool:
    """True on the steps where a periodic event fires: counter % round(interval / dt) == 0
    (pushes every 200 steps, hand forces every 100 steps; all envs at once)."""
    return int(step_counter) % max(int(round(interval_s / dt)), 1) == 0


def push_velocities(
    num_envs: int,
    generator: Optional[torch.Generator] = None,
    vel_range: Tuple[float, float] = PUSH_VEL_RANGE,
    device=None,
) -> torch.Tensor:
    """(N, 2) root xy linear velocities ~ U(-1, 1) m/s that overwrite the current ones."""
    return uniform((num_envs, 2), vel_range[0], vel_range[1], generator, device)


def hand_push_forces(
    num_envs: int,
    num_bodies: int = 2,
    generator: Optional[torch.Generator] = None,
    force_range: Tuple[float, float] = HAND_FORCE_RANGE,
    device=None,
) -> torch.Tensor:
    """(N, 2, 3) world-frame forces ~ U(-20, 20) N per axis on the two hand bodies (one substep)."""
    return uniform((num_envs, num_bodies, 3), force_range[0], force_range[1], generator, device)


def action_delay(
    total_env_steps: int,
    generator: Optional[torch.Generator] = None,
    onset_steps: int = ACTION_DELAY_ONSET_STEPS,
    max_delay: int = 1,
    enabled: bool = True,
    as_tensor: bool = False,
):
    """Delay d in {0, ..., max_delay} policy steps, one for all envs, redrawn every step once the
    global env-step counter exceeds 120,000 (iteration ~5000); 0 before or when disabled.

    as_tensor: a drawn delay stays on the generator's device as a (1,) long tensor (the same draw;
    no read back to the host); 0 before the onset or when disabled is still the int 0."""
    if not enabled or total_env_steps <= onset_steps:
        return 0
    d = torch.randint(0, max_delay + 1, (1,), generator=generator, device=_device(generator, None))
    return d if as_tensor else int(d.item())


def delayed_action(action_history: torch.Tensor, delay) -> torch.Tensor:
    """The action applied this step: entry -1-d of the (N, 8, 23) history (newest last); `delay` an
    int or a (1,) long tensor (selected on the device, no host synchronisation)."""
    if isinstance(delay, torch.Tensor):
        index = (action_history.shape[1] - 1 - delay.reshape(1)).to(action_history.device)
        return action_history.index_select(1, index).squeeze(1)
    return action_history[:, -1 - int(delay)]


# --- reference-state initialisation (RSI) ---------------------------------------------------------


class RSIState(NamedTuple):
    root_states: torch.Tensor  # (N, 13) pos, quat xyzw, lin vel, ang vel (world)
    dof_pos: torch.Tensor  # (N, 23)
    dof_vel: torch.Tensor  # (N, 23)
    init_origin: torch.Tensor  # (N, 3) xy shift of the reference for this episode (z = 0)


def rsi_draws(
    num_envs: int,
    num_dofs: int,
    generator: Optional[torch.Generator] = None,
    dof_pos_range: Tuple[float, float] = (0.8, 1.2),
    xy_offset: float = 0.3,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The random part of `rsi_state` for num_envs envs, drawn in its order: (xy shift (N, 2) ~
    U(-0.3, 0.3), DOF scale (N, num_dofs) ~ U(0.8, 1.2)). Rows of these, passed to rsi_state as
    `xy_noise` / `dof_scale`, give what rsi_state draws itself from the same generator state."""
    xy = uniform((num_envs, 2), -xy_offset, xy_offset, generator, device, dtype)
    scale = uniform((num_envs, num_dofs), dof_pos_range[0], dof_pos_range[1], generator, device, dtype)
    return xy, scale


def rsi_state(
    ref_root_pos: torch.Tensor,
    ref_root_rot: torch.Tensor,
    ref_root_vel: torch.Tensor,
    ref_root_ang_vel: torch.Tensor,
    ref_dof_pos: torch.Tensor,
    ref_dof_vel: torch.Tensor,
    env_origins: torch.Tensor,
    generator: Optional[torch.Generator] = None,
    dof_pos_range: Tuple[float, float] = (0.8, 1.2),
    vel_factor: float = 0.8,
    xy_offset: float = 0.3,
    z_offset: float = 0.05,
    xy_noise: Optional[torch.Tensor] = None,
    dof_scale: Optional[torch.Tensor] = None,
) -> RSIState:
    """Robot reset state from the reference frame at the sampled start time (docs/rewards_and_terminations.md,
    Resets and reference-state initialisation, step 3).

    ref_* are the clip's values (not origin-shifted), env_origins (N, 3). init_origin = env origin
    xy + U(-0.3, 0.3)^2 (z = 0): the env adds it to the reference root for the whole episode.
    Root xy = ref xy + init_origin xy; root z = ref z + 0.05; quat = ref quat (absolute yaw);
    root lin/ang vel = 0.8 x ref (world). DOF pos = ref x U(0.8, 1.2) per joint (multiplicative:
    zero angles stay zero, no clamp to limits); DOF vel = 0.8 x ref.
    xy_noise (N, 2) / dof_scale (N, 23): the draws made beforehand (`rsi_draws`); then nothing is drawn.
    """
    n = ref_root_pos.shape[0]
    dev, dt = ref_root_pos.device, ref_root_pos.dtype
    init_origin = torch.zeros(n, 3, device=dev, dtype=dt)
    if xy_noise is None:
        xy_noise = uniform((n, 2), -xy_offset, xy_offset, generator, dev, dt)
    init_origin[:, :2] = env_origins[:, :2] + xy_noise
    pos = ref_root_pos + init_origin
    pos[:, 2] = ref_root_pos[:, 2] + z_offset
    root_states = torch.cat([pos, ref_root_rot, vel_factor * ref_root_vel, vel_factor * ref_root_ang_vel], dim=-1)
    if dof_scale is None:
        dof_scale = uniform(ref_dof_pos.shape, dof_pos_range[0], dof_pos_range[1], generator, dev, ref_dof_pos.dtype)
    return RSIState(root_states, ref_dof_pos * dof_scale, vel_factor * ref_dof_vel, init_origin)
