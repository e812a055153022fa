"""The simulator backend interface (docs/decisions.md D1).

The environment logic (observations, rewards, terminations, resets, randomisation, references) is
batched torch on the training device and talks to physics only through this interface. A backend
owns N worlds of the 23-DOF G1 training model and exposes its state as torch tensors on `device`.

Conventions: world frame, z up; quaternions xyzw; root state rows are
[pos(3), quat xyzw(4), lin vel(3), ang vel(3)] with velocities in the world frame; linear velocities
(root and bodies) are those of the body-frame origins, not of the centres of mass (README, "Linear
velocities"); DOF order is the training order of `pose.g1_model.load_g1().dof_names`; body order is
the model's body order (52 bodies, `body_names`). State tensors are refreshed by `step()` and by
`forward()`; treat them as read-only views (write through the setters).

Control (docs/conventions.md): `step(targets)` runs `decimation` physics substeps of `dt` seconds and, in every
substep, applies the PD torque
    tau = clip(kp_env * (targets - q) - kd_env * qdot, -torque_limit, +torque_limit)
where kp_env = motor_strength_kp * Kp and kd_env = motor_strength_kd * Kd per env and DOF
(`set_motor_strength`), Kp/Kd/torque_limit from the facts table (torque_limit = 0.9 x effort).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch

#: TWIST's rates (docs/conventions.md, Rates): physics step (s), physics substeps per policy step, and the
#: policy step they make (0.02 s, 50 Hz). The one place for them: configs and MDP terms take them from here.
PHYSICS_DT = 0.002
DECIMATION = 10
POLICY_DT = PHYSICS_DT * DECIMATION


@dataclass
class SimConfig:
    """Physics settings shared by all backends (TWIST rates: 500 Hz physics, 50 Hz policy)."""

    dt: float = PHYSICS_DT
    decimation: int = DECIMATION
    gravity: Sequence[float] = (0.0, 0.0, -9.81)


class SimBackend(abc.ABC):
    """N worlds of the G1 training model. Every tensor argument/result lives on `self.device`.

    A backend's constructor sets the names and the state tensors below (model order, stable identities:
    refreshed in place); the properties of this class hand them out."""

    name = "base"

    _dof_names: Tuple[str, ...]
    _body_names: Tuple[str, ...]
    _root: torch.Tensor
    _dof_pos: torch.Tensor
    _dof_vel: torch.Tensor
    _body_states: torch.Tensor
    _contact_forces: torch.Tensor
    _torques: torch.Tensor
    _friction: torch.Tensor

    def __init__(self, num_envs: int, device, cfg: Optional[SimConfig] = None):
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.cfg = cfg or SimConfig()

    # --- model facts ------------------------------------------------------------------------------
    @property
    def dof_names(self) -> Sequence[str]:
        """The 23 actuated joints, training order."""
        return self._dof_names

    @property
    def body_names(self) -> Sequence[str]:
        """All rigid bodies (52), model order."""
        return self._body_names

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)

    @property
    def num_bodies(self) -> int:
        return len(self.body_names)

    @property
    def policy_dt(self) -> float:
        return self.cfg.dt * self.cfg.decimation

    # --- state (refreshed by step() / forward()) ---------------------------------------------------
    @property
    def root_states(self) -> torch.Tensor:
        """(N, 13) pelvis state: pos, quat xyzw, lin vel, ang vel (world frame)."""
        return self._root

    @property
    def dof_pos(self) -> torch.Tensor:
        """(N, 23) joint angles."""
        return self._dof_pos

    @property
    def dof_vel(self) -> torch.Tensor:
        """(N, 23) joint velocities."""
        return self._dof_vel

    @property
    def body_states(self) -> torch.Tensor:
        """(N, B, 13) rigid-body states (body frame origin, quat xyzw, lin vel, ang vel; world)."""
        return self._body_states

    @property
    def contact_forces(self) -> torch.Tensor:
        """(N, B, 3) net contact force on each body (world frame), from the last substep."""
        return self._contact_forces

    @property
    def torques(self) -> torch.Tensor:
        """(N, 23) PD torques applied in the last substep (after clipping)."""
        return self._torques

    # --- control -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def step(self, dof_targets: torch.Tensor) -> None:
        """Run `decimation` substeps with the PD law toward `dof_targets` (N, 23); refresh state."""

    @abc.abstractmethod
    def set_motor_strength(self, kp_scale: torch.Tensor, kd_scale: torch.Tensor) -> None:
        """Per-env, per-DOF factors (N, 23) on Kp and Kd (domain randomisation; 1 = nominal)."""

    def take_solver_limit_hits(self, env_ids: torch.Tensor) -> Optional[torch.Tensor]:
        """(len(env_ids),) bool: whether the constraint solver stopped at its iteration limit (not
        converged) in any substep since the last call for that env, which clears the record. None when
        the backend does not report it."""
        return None

    def take_solver_limit_hits_where(self, mask: torch.Tensor) -> Optional[torch.Tensor]:
        """`take_solver_limit_hits` for the envs where `mask` (N,) bool is True, as an (N,) bool
        (rows outside the mask: their record, left in place). None when not reported."""
        return None

    # --- writes for resets and perturbations -------------------------------------------------------
    @abc.abstractmethod
    def set_root_states(self, env_ids: torch.Tensor, root_states: torch.Tensor) -> None:
        """Overwrite the root state (len(env_ids), 13) of the given envs."""

    @abc.abstractmethod
    def set_dof_states(self, env_ids: torch.Tensor, dof_pos: torch.Tensor, dof_vel: torch.Tensor) -> None:
        """Overwrite joint angles and velocities (len(env_ids), 23) of the given envs."""

    #: True where `set_states_where` writes without reading the mask on the host (no device
    #: synchronisation); the environments then reset envs by mask instead of by index list.
    supports_masked_writes = False

    def set_states_where(
        self, mask: torch.Tensor, root_states: torch.Tensor, dof_pos: torch.Tensor, dof_vel: torch.Tensor
    ) -> None:
        """Overwrite joint and root states of the envs where `mask` (N,) bool is True with the rows of
        the (N, ...) arguments (as set_dof_states then set_root_states on those envs); the other envs
        keep theirs. This default goes through the index-list setters (it reads the mask on the host)."""
        env_ids = mask.nonzero(as_tuple=False).flatten()
        if len(env_ids) > 0:
            self.set_dof_states(env_ids, dof_pos[env_ids], dof_vel[env_ids])
            self.set_root_states(env_ids, root_states[env_ids])

    @abc.abstractmethod
    def forward(self) -> None:
        """Recompute kinematics (body states) after writes, without advancing time (docs/decisions.md D6)."""

    @abc.abstractmethod
    def apply_body_forces(self, forces: torch.Tensor) -> None:
        """External forces (N, B, 3), world frame, at the body origins, for the next physics substep only
        (as Isaac Gym's apply_rigid_body_force_tensors before one simulate call; docs/decisions.md K8)."""

    # --- gravity (the whole simulation, as Isaac Gym's sim params) ------------------------------------
    @property
    @abc.abstractmethod
    def gravity(self) -> torch.Tensor:
        """(3,) gravity vector of the simulation, m/s^2."""

    @abc.abstractmethod
    def set_gravity(self, gravity: torch.Tensor) -> None:
        """Set the gravity vector (3,) of every world (gravity randomisation, docs/decisions.md D2)."""

    # --- domain randomisation (per env) ------------------------------------------------------------
    @property
    def friction(self) -> torch.Tensor:
        """(N,) friction coefficient of the robot's shapes, as last set per env (the simulator combines it
        with the ground's)."""
        return self._friction

    @property
    @abc.abstractmethod
    def body_mass(self) -> torch.Tensor:
        """(N, B) mass of every body per env."""

    @property
    @abc.abstractmethod
    def body_com(self) -> torch.Tensor:
        """(N, B, 3) centre of mass of every body in its body frame, per env."""

    @abc.abstractmethod
    def set_friction(self, friction: torch.Tensor) -> None:
        """Friction coefficient (N,) of every robot shape of each env."""

    @abc.abstractmethod
    def set_body_mass_offset(self, body: str, added_mass: torch.Tensor) -> None:
        """Add `added_mass` (N,) kg to `body` of each env (inertia scaled with the mass)."""

    @abc.abstractmethod
    def set_body_com_offset(self, body: str, offset: torch.Tensor) -> None:
        """Shift the centre of mass of `body` by `offset` (N, 3) m in the body frame of each env."""

    def body_index(self, name: str) -> int:
        try:
            return list(self.body_names).index(name)
        except ValueError:
            raise KeyError("{} backend: no body named {!r}".format(self.name, name))
