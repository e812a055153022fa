"""LeggedRobot: the simulator backend, robot buffers, domain randomisation, pushes, reward registry.

Physics goes through a `legged_gym.simulator` backend (chosen by `cfg.sim.backend` / `--sim`,
imported only when an environment is built). Every random draw of the environment uses one
`torch.Generator` seeded from `cfg.seed`, so the same seed and the same actions give the same rollout.

Rewards: the term table of `cfg.rewards` (weights `scales.<name>`, kernel parameters
`params.<name>`) becomes at start-up the list of terms `reward_terms`, each built by the registry
`reward_terms.TERMS`; weights are multiplied by the policy dt (docs/rewards_and_terminations.md).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Dict, List, NamedTuple, Optional

import torch

from legged_gym.envs.base import reward_terms
from legged_gym.envs.base.base_task import BaseTask
from legged_gym.envs.mdp import randomization as rand
from legged_gym.envs.mdp import rewards
from legged_gym.utils import class_to_dict
from pose.g1_model import load_g1
from pose.utils.torch_utils import get_euler_xyz, quat_rotate_inverse


class RewardTerm(NamedTuple):
    """One row of the env's term table: `fn()` gives the raw term f (N,) of the current state."""

    name: str
    fn: reward_terms.Term
    scale: float  # the effective scale: config weight x policy dt
    params: Dict[str, Any]  # the kernel parameters `fn` was built with


class LeggedRobot(BaseTask):
    def __init__(self, cfg, sim_device="cpu", headless: bool = True):
        self.model = load_g1()
        self._parse_cfg(cfg)
        super().__init__(cfg, sim_device, headless)
        self._init_buffers()
        self._prepare_reward_function()

    # --- configuration ---------------------------------------------------------------------------
    def _parse_cfg(self, cfg) -> None:
        if int(cfg.env.num_actions) != self.model.num_dofs:
            raise ValueError(
                "cfg.env.num_actions = {}: the G1 model ({}) has {} actuated joints".format(
                    cfg.env.num_actions, self.model.table_path, self.model.num_dofs
                )
            )
        self.dt = float(cfg.sim.dt) * int(cfg.sim.decimation)
        self.obs_scales = cfg.normalization.obs_scales
        self.clip_obs = float(cfg.normalization.clip_observations)
        self.clip_actions = float(cfg.control.clip_actions) / float(cfg.control.action_scale)
        self.max_episode_length_s = float(cfg.env.episode_length_s)
        self.max_episode_length = math.ceil(self.max_episode_length_s / self.dt)

    # --- simulator -------------------------------------------------------------------------------
    def create_sim(self) -> None:
        from legged_gym.simulator import SimConfig, default_backend_name, make_backend

        sim_cfg = self.cfg.sim
        name = sim_cfg.backend or default_backend_name()
        config = SimConfig(dt=float(sim_cfg.dt), decimation=int(sim_cfg.decimation), gravity=tuple(sim_cfg.gravity))
        self.sim = make_backend(name, self.num_envs, self.device, config)
        if tuple(self.sim.dof_names) != tuple(self.model.dof_names):
            raise ValueError(
                "{} backend: joint order {} differs from the G1 training order {}".format(
                    name, list(self.sim.dof_names), list(self.model.dof_names)
                )
            )
        self._rng = torch.Generator(device=self.device)
        self._rng.manual_seed(int(self.cfg.seed))
        self._resolve_bodies()
        self._randomize_physics()

    def _body_ids(self, names) -> torch.Tensor:
        return torch.tensor([self.sim.body_index(n) for n in names], device=self.device, dtype=torch.long)

    def _resolve_bodies(self) -> None:
        raw = self.model.raw
        self.feet_indices = self._body_ids(self.model.feet)
        self.hand_indices = self._body_ids(self.model.hands)
        self.termination_contact_indices = self._body_ids(raw["termination_contact_bodies"])
        self._mass_body = raw["randomised_mass_body"]

    def _randomize_physics(self) -> None:
        """Per-env physics draws at creation: friction, pelvis mass and CoM, motor strength."""
        dr, n, nd = self.cfg.domain_rand, self.num_envs, self.model.num_dofs
        self.friction_coeffs_tensor = torch.ones(n, 1, device=self.device)
        if dr.randomize_friction:
            friction = rand.friction_coeffs(n, self._rng, tuple(dr.friction_range), int(dr.num_friction_buckets))
            self.sim.set_friction(friction)
            self.friction_coeffs_tensor = friction.unsqueeze(-1)
        draw = rand.base_mass_params(n, self._rng, tuple(dr.added_mass_range), tuple(dr.added_com_range))
        self.mass_params_tensor = torch.zeros(n, 4, device=self.device)
        if dr.randomize_base_mass:
            self.mass_params_tensor[:, 0] = draw[:, 0]
            self.sim.set_body_mass_offset(self._mass_body, draw[:, 0])
        if dr.randomize_base_com:
            self.mass_params_tensor[:, 1:4] = draw[:, 1:4]
            self.sim.set_body_com_offset(self._mass_body, draw[:, 1:4])
        if dr.randomize_motor:
            kp, kd = rand.motor_strength(n, nd, self._rng, tuple(dr.motor_strength_range))
        else:
            kp = kd = torch.ones(n, nd, device=self.device)
        self.motor_strength = torch.stack([kp, kd])
        self.sim.set_motor_strength(kp, kd)
        if dr.randomize_gravity:
            self._randomize_gravity()

    def _randomize_gravity(self) -> None:
        """Nominal gravity plus U(range) per axis, one vector for all envs (docs/decisions.md D2: TWIST
        configures this but never applies it, so it is off by default; when on, it applies)."""
        dr = self.cfg.domain_rand
        offset = rand.gravity_offset(self._rng, tuple(dr.gravity_range), self.device)
        self.sim.set_gravity(torch.tensor(self.cfg.sim.gravity, device=self.device) + offset)

    # --- state (views of the backend's tensors) ----------------------------------------------------
    @property
    def root_states(self) -> torch.Tensor:
        return self.sim.root_states

    @property
    def dof_pos(self) -> torch.Tensor:
        return self.sim.dof_pos

    @property
    def dof_vel(self) -> torch.Tensor:
        return self.sim.dof_vel

    @property
    def rigid_body_states(self) -> torch.Tensor:
        return self.sim.body_states

    @property
    def contact_forces(self) -> torch.Tensor:
        return self.sim.contact_forces

    @property
    def torques(self) -> torch.Tensor:
        return self.sim.torques

    def _init_buffers(self) -> None:
        n, nd, dev, m = self.num_envs, self.model.num_dofs, self.device, self.model
        f32: Dict[str, Any] = dict(device=dev, dtype=torch.float32)
        self.all_env_ids = torch.arange(n, device=dev)
        self.default_dof_pos = torch.tensor(m.default_dof_pos, **f32).unsqueeze(0)
        self.torque_limits = torch.tensor(m.torque_limit, **f32)
        lower, upper = torch.tensor(m.dof_lower, **f32), torch.tensor(m.dof_upper, **f32)
        self.soft_dof_pos_lower, self.soft_dof_pos_upper = rewards.soft_dof_pos_limits(
            lower, upper, soft_limit=self.cfg.rewards.soft_dof_pos_limit
        )
        self.env_origins = torch.zeros(n, 3, **f32)  # every env is its own world, on flat ground
        self.actions = torch.zeros(n, nd, **f32)
        self.last_actions = torch.zeros(n, nd, **f32)
        self.last_dof_vel = torch.zeros(n, nd, **f32)
        self.feet_air_time = torch.zeros(n, len(m.feet), **f32)
        self.last_contacts = torch.zeros(n, len(m.feet), device=dev, dtype=torch.bool)
        self.contact_filt = torch.zeros_like(self.last_contacts)
        # Step counters: pushes (common), action-delay onset (global), noise ramp (total env steps).
        self.common_step_counter = 0
        self.global_counter = 0
        self.total_env_steps_counter = 0
        self._compute_base_quantities()

    def _compute_base_quantities(self) -> None:
        """Base-frame velocities and Euler angles of the current root state."""
        # contiguous: one layout with and without a pending push (torch.compile guards on strides)
        self._base_quantities_from(self._unpushed_root_lin_vel().contiguous())

    def _base_quantities_from(self, root_lin_vel: torch.Tensor) -> None:
        """`_compute_base_quantities`' tensor maths, given the world root linear velocity (the
        push bookkeeping, host-side control flow on step counters, stays outside)."""
        self.base_quat = self.root_states[:, 3:7].clone()
        self.base_lin_vel = quat_rotate_inverse(self.base_quat, root_lin_vel)
        self.base_ang_vel = quat_rotate_inverse(self.base_quat, self.root_states[:, 10:13])
        self.roll, self.pitch, self.yaw = get_euler_xyz(self.base_quat)

    # --- perturbations -----------------------------------------------------------------------------
    # A root push written in this step and not simulated yet: (common_step_counter at the push, the
    # pushed world xy velocity (N, 2), the world linear root velocity before the push (N, 3)); or None.
    _pending_push = None
    # common_step_counter of the last root push (None before the first): post_physics_step reports the
    # steps since as extras["steps_since_push"] (rsl_rl's PPO keeps the state estimator off the steps
    # right after a push, algorithm.estimator_skip_after_push)
    _last_push_step: Optional[int] = None

    def _push_robots(self) -> None:
        """Overwrite the root xy velocity of all envs with U(-v, v) m/s, from the next physics step on.

        As in TWIST on Isaac Gym (the root state is written before the next `simulate`, the rigid-body
        states are refreshed only after it), the rewards and observations of the step that pushes
        see the body and base velocities before the push: no `forward()` here, and the base velocity
        recomputed after a reset in the same step leaves the push out (`_unpushed_root_lin_vel`)."""
        v = float(self.cfg.domain_rand.max_push_vel_xy)
        root = self.root_states.clone()
        before = root[:, 7:10].clone()
        root[:, 7:9] = rand.push_velocities(self.num_envs, self._rng, (-v, v))
        self.sim.set_root_states(self.all_env_ids, root)
        self._pending_push = (self.common_step_counter, root[:, 7:9], before)
        self._last_push_step = self.common_step_counter

    def _unpushed_root_lin_vel(self) -> torch.Tensor:
        """(N, 3) world root linear velocity, without a push written in this step: until the next
        physics step an env that still holds the pushed velocity (a backend's state tensors may show
        written values, e.g. after a reset's `forward()`) reads its velocity before the push."""
        lin_vel = self.root_states[:, 7:10]
        if self._pending_push is None:
            return lin_vel
        step, pushed_xy, before = self._pending_push
        if step != self.common_step_counter:  # a physics step has run since the push
            self._pending_push = None
            return lin_vel
        holds_push = (lin_vel[:, 0:2] == pushed_xy).all(dim=-1, keepdim=True)  # envs not reset since
        return torch.where(holds_push, before, lin_vel)

    def _push_end_effector(self) -> None:
        """Random world-frame forces U(-f, f) N per axis on both hands, for the next substep only."""
        f = float(self.cfg.domain_rand.max_push_force_end_effector)
        forces = torch.zeros_like(self.rigid_body_states[..., 0:3])
        forces[:, self.hand_indices] = rand.hand_push_forces(self.num_envs, len(self.hand_indices), self._rng, (-f, f))
        self.sim.apply_body_forces(forces)

    # --- rewards -------------------------------------------------------------------------------------
    def _prepare_reward_function(self) -> None:
        """Build the terms of the table `cfg.rewards` with a non-zero weight, in `reward_scales` order."""
        table = self.cfg.rewards
        self.reward_scales = rewards.effective_scales(class_to_dict(table.scales), self.dt)
        params = class_to_dict(table.params)
        for group, names in (("scales", self.reward_scales), ("params", params)):
            unknown = [name for name in names if name not in reward_terms.TERMS]
            if unknown:
                raise ValueError(
                    "cfg.rewards.{}: no reward term named {} (known terms: {})".format(
                        group, unknown, ", ".join(sorted(reward_terms.TERMS))
                    )
                )
        self.reward_terms: List[RewardTerm] = []
        for name, scale in self.reward_scales.items():
            make, kwargs = reward_terms.TERMS[name], params.get(name, {})
            try:
                inspect.signature(make).bind(self, **kwargs)
            except TypeError as e:
                raise ValueError(
                    "cfg.rewards.params.{}: {} (the term takes {})".format(
                        name, e, list(inspect.signature(make).parameters)[1:]
                    )
                ) from None
            try:
                fn = make(self, **kwargs)
            except (AttributeError, ValueError) as e:
                raise ValueError("cfg.rewards: term {!r} on {}: {}".format(name, type(self).__name__, e)) from e
            self.reward_terms.append(RewardTerm(name, fn, scale, kwargs))
        self.reward_scale_vec = torch.tensor(list(self.reward_scales.values()), device=self.device)
        # Raw episode sums of all terms in one (N, T) buffer; `episode_sums[name]` are its columns.
        self.episode_sum_buf = torch.zeros(self.num_envs, len(self.reward_scales), device=self.device)
        self.episode_sums = {name: self.episode_sum_buf[:, i] for i, name in enumerate(self.reward_scales)}

    def compute_reward(self) -> None:
        """r = sum of scale x dt x term; the episode sums collect the raw terms."""
        terms = torch.stack([t.fn() for t in self.reward_terms], dim=-1)
        self.rew_buf = rewards.total_reward(terms, self.reward_scale_vec)
        self.episode_sum_buf += terms

    def _feet_contact_forces(self) -> torch.Tensor:
        return self.contact_forces[:, self.feet_indices]
