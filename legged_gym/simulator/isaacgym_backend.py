"""Isaac Gym Preview 4 backend: TWIST's physics path and PhysX settings (docs/decisions.md D1).

Import order. Isaac Gym refuses to load once torch is imported (`isaacgym/gymdeps.py` raises
"PyTorch was imported before isaacgym modules") and this module needs torch, so it is imported
lazily (`legged_gym.simulator.make_backend("isaacgym", ...)`, never at package import), and every
entry point that may use it (`legged_gym/scripts/*.py`, `tests/conftest.py`) runs
`from isaacgym import gymapi` (in a try/except ImportError) before anything imports torch, as
TWIST's scripts start with `import isaacgym`. Otherwise importing this module says so.

One actor per env (collision group = env id, self-collisions on); zero env bounds put every env
frame at the world origin (TWIST's trimesh layout), so all states are world-frame and env origins
are the environment's business. Bodies and DOFs are matched to the facts table
(`pose.g1_model.load_g1()`) by name; a URDF with other names fails at construction.

State tensors are the backend's own model-order tensors (stable identities), filled from PhysX's
tensors after each refresh: a gather by the name maps, plus the velocity conversion below.

Where PhysX differs from the interface (converted here, so the numbers match the other backends):
* PhysX reports and takes the linear velocity of each body's centre of mass; the interface uses
  the body-frame origin's: v_origin = v_com - w x (R c) (once per `step()`; root writes converted back).
* `apply_body_forces` pushes at the body origins (`apply_rigid_body_force_at_pos_tensors`);
  TWIST's `apply_rigid_body_force_tensors` pushed at the centres of mass (a few cm away).
* PhysX updates link poses only in `simulate` (TWIST paid one extra, uncontrolled 2 ms substep per
  reset; docs/decisions.md D6 drops it). So `forward()` computes the body states of the envs
  written since the last physics step by forward kinematics in torch; root and DOF states already
  hold the written values; contact forces stay those of the last substep.
* Isaac Gym cannot move a centre of mass once the GPU pipeline runs, so `prepare_sim` waits for the
  first `step()` (until then states live in the torch tensors, creation pose or as written, and the
  first step pushes them to PhysX): randomise friction, mass and CoM before it, as TWIST does at
  actor creation. Friction and mass can also change later.
"""

from __future__ import annotations

import math
import sys
from typing import List, Optional, Sequence, Tuple

try:
    from isaacgym import gymapi, gymtorch
except ImportError as exc:  # pragma: no cover - depends on the machine
    if "torch" in sys.modules and "before isaacgym" in str(exc):
        raise ImportError(
            "Isaac Gym must be imported before torch: start the entry point with "
            "`from isaacgym import gymapi` (see legged_gym/simulator/isaacgym_backend.py)"
        ) from exc
    raise

import torch

from legged_gym.simulator.base import SimBackend, SimConfig
from pose.g1_model import ASSETS_DIR, load_g1
from pose.kinematics import ForwardKinematics
from pose.utils.torch_utils import matrix_to_quat, normalize, quat_rotate

TRAINING_URDF = ASSETS_DIR / "g1" / "g1_custom_collision_with_fixed_hand.urdf"
NOMINAL_FRICTION = 1.0  # the table's (and the training MJCF's) friction, before randomisation
INIT_HEIGHT = 1.0  # TWIST's initial base position (0, 0, 1), identity orientation


def _name_map(expected: Sequence[str], found: Sequence[str], what: str) -> List[int]:
    """Index in `found` (asset order) of each name of `expected` (model order)."""
    if sorted(expected) != sorted(found):
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        raise RuntimeError(
            "isaacgym backend: the {} of {} differ from the G1 table (missing {}, unexpected {}, "
            "{} vs {} entries); regenerate it with python -m pose.g1_generate".format(
                what, TRAINING_URDF, missing, extra, len(found), len(expected)
            )
        )
    return [list(found).index(n) for n in expected]


class IsaacGymBackend(SimBackend):
    """N G1 actors in one PhysX scene, GPU pipeline on CUDA devices (TWIST's settings)."""

    name = "isaacgym"

    def __init__(self, num_envs: int, device: object, cfg: Optional[SimConfig] = None):
        super().__init__(num_envs, device, cfg)
        self.model = load_g1()
        self._dof_names, self._body_names = self.model.dof_names, self.model.body_names
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", 0)
        self.gpu_pipeline = self.device.type == "cuda"
        self.gym = gymapi.acquire_gym()
        self.sim = self._create_sim()
        asset = self._load_asset()
        self._create_actors(asset)
        self._prepared = False
        self._init_model_buffers()

    # --- construction --------------------------------------------------------------------------
    def _create_sim(self) -> gymapi.Sim:
        params = gymapi.SimParams()
        params.dt = self.cfg.dt
        params.substeps = 1
        params.up_axis = gymapi.UP_AXIS_Z
        gx, gy, gz = self.cfg.gravity
        params.gravity = gymapi.Vec3(gx, gy, gz)
        params.use_gpu_pipeline = self.gpu_pipeline
        px = params.physx
        px.use_gpu = self.gpu_pipeline
        px.num_threads = 10
        px.solver_type = 1  # TGS
        px.num_position_iterations = 4
        px.num_velocity_iterations = 0
        px.contact_offset = 0.01
        px.rest_offset = 0.0
        px.bounce_threshold_velocity = 0.5
        px.max_depenetration_velocity = 1.0
        px.max_gpu_contact_pairs = 2**24
        px.default_buffer_size_multiplier = 5
        px.contact_collection = gymapi.CC_ALL_SUBSTEPS
        compute_id = self.device.index if self.device.index is not None else 0
        self._sim_params = params  # kept for set_gravity (set_sim_params needs the whole struct)
        sim = self.gym.create_sim(compute_id, -1, gymapi.SIM_PHYSX, params)  # -1: headless
        if sim is None:
            raise RuntimeError("isaacgym backend: create_sim failed on {}".format(self.device))
        plane = gymapi.PlaneParams()
        plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)
        plane.static_friction = 1.0
        plane.dynamic_friction = 1.0
        plane.restitution = 0.0
        self.gym.add_ground(sim, plane)
        return sim

    def _load_asset(self) -> gymapi.Asset:
        opts = gymapi.AssetOptions()
        opts.default_dof_drive_mode = int(gymapi.DOF_MODE_EFFORT)  # 3
        opts.collapse_fixed_joints = False
        opts.replace_cylinder_with_capsule = True
        opts.flip_visual_attachments = False
        opts.fix_base_link = False
        opts.density = 0.001
        opts.angular_damping = 0.0
        opts.linear_damping = 0.0
        opts.max_angular_velocity = 1000.0
        opts.max_linear_velocity = 1000.0
        opts.armature = 0.0  # per-DOF armature below
        opts.thickness = 0.01
        opts.disable_gravity = False
        asset = self.gym.load_asset(self.sim, str(TRAINING_URDF.parent), TRAINING_URDF.name, opts)
        if asset is None:
            raise RuntimeError("isaacgym backend: could not load {}".format(TRAINING_URDF))
        # Model index -> asset index, by name (Isaac Gym orders bodies depth-first; so does the table).
        self._body_map = _name_map(self.model.body_names, self.gym.get_asset_rigid_body_names(asset), "rigid bodies")
        self._dof_map = _name_map(self.model.dof_names, self.gym.get_asset_dof_names(asset), "DOFs")
        shape_props = self.gym.get_asset_rigid_shape_properties(asset)
        for sp in shape_props:
            sp.friction = NOMINAL_FRICTION
        self.gym.set_asset_rigid_shape_properties(asset, shape_props)
        return asset

    def _create_actors(self, asset: gymapi.Asset) -> None:
        dof_props = self.gym.get_asset_dof_properties(asset)  # structured numpy array, asset order
        dof_props["driveMode"].fill(gymapi.DOF_MODE_EFFORT)
        dof_props["stiffness"].fill(0.0)
        dof_props["damping"].fill(0.0)
        for i, a in enumerate(self._dof_map):
            dof_props["armature"][a] = float(self.model.armature[i])
        origin = gymapi.Vec3(0.0, 0.0, 0.0)  # zero env bounds: env frames = world frame
        pose = gymapi.Transform(gymapi.Vec3(0.0, 0.0, INIT_HEIGHT), gymapi.Quat(0.0, 0.0, 0.0, 1.0))
        self._envs: List[gymapi.Env] = []
        self._actors: List[int] = []
        actor_ids: List[int] = []
        per_row = max(1, int(math.sqrt(self.num_envs)))
        for i in range(self.num_envs):
            env = self.gym.create_env(self.sim, origin, origin, per_row)
            actor = self.gym.create_actor(env, asset, pose, "g1", i, 0, 0)  # group i, self-collisions on
            self.gym.set_actor_dof_properties(env, actor, dof_props)
            self._envs.append(env)
            self._actors.append(actor)
            actor_ids.append(self.gym.get_actor_index(env, actor, gymapi.DOMAIN_SIM))
        self._actor_ids = torch.tensor(actor_ids, dtype=torch.int32, device=self.device)
        body_props = self.gym.get_actor_rigid_body_properties(self._envs[0], self._actors[0])
        self._nominal_mass = [p.mass for p in body_props]  # asset order
        self._nominal_com = [(p.com.x, p.com.y, p.com.z) for p in body_props]

    def _init_model_buffers(self) -> None:
        m, n, dev, f32 = self.model, self.num_envs, self.device, torch.float32
        nb, nd = len(m.bodies), m.num_dofs
        self._dof_idx = torch.tensor(self._dof_map, device=dev, dtype=torch.long)
        self._body_idx = torch.tensor(self._body_map, device=dev, dtype=torch.long)
        self._kp_nominal = torch.tensor(m.kp, device=dev, dtype=f32)
        self._kd_nominal = torch.tensor(m.kd, device=dev, dtype=f32)
        self._kp, self._kd = self._kp_nominal.repeat(n, 1), self._kd_nominal.repeat(n, 1)
        self._torque_limit = torch.tensor(m.torque_limit, device=dev, dtype=f32)
        # Per-env physical parameters, model order (the CoMs also convert PhysX's velocities).
        self._friction = torch.full((n,), NOMINAL_FRICTION, device=dev, dtype=f32)
        self._mass = torch.tensor([self._nominal_mass[a] for a in self._body_map], device=dev, dtype=f32).repeat(n, 1)
        self._com = torch.tensor([self._nominal_com[a] for a in self._body_map], device=dev, dtype=f32).repeat(n, 1, 1)
        # Forward kinematics for forward(): hinge axes and the ancestry of every body.
        if m.bodies[0].parent is not None:
            raise RuntimeError("isaacgym backend: the table's first body must be the root")
        self._fk = ForwardKinematics(m, bodies=m.body_names, device=dev)
        self._axis = torch.zeros(nb, 3, device=dev, dtype=f32)
        self._ancestry = torch.zeros(nb, nb, device=dev, dtype=f32)
        hinge_body: List[int] = []
        hinge_dof: List[int] = []
        for b, body in enumerate(m.bodies):
            if body.joint is not None and body.joint.name in m.dof_names:
                self._axis[b] = torch.tensor(body.joint.axis, device=dev, dtype=f32)
                hinge_body.append(b)
                hinge_dof.append(m.dof_names.index(body.joint.name))
            name: Optional[str] = body.name
            while name is not None:
                self._ancestry[b, m.body_index[name]] = 1.0
                name = m.body(name).parent
        self._hinge_body = torch.tensor(hinge_body, device=dev, dtype=torch.long)
        self._hinge_dof = torch.tensor(hinge_dof, device=dev, dtype=torch.long)
        # State, model order: the backend's own tensors (stable identities), filled from PhysX after
        # every refresh. Until the first step they hold the creation pose or what was written.
        self._root = torch.zeros(n, 13, device=dev, dtype=f32)
        self._root[:, 2], self._root[:, 6] = INIT_HEIGHT, 1.0
        self._dof_pos = torch.zeros(n, nd, device=dev, dtype=f32)
        self._dof_vel = torch.zeros(n, nd, device=dev, dtype=f32)
        self._body_states = self._kinematics(self._root, self._dof_pos, self._dof_vel)
        self._contact_forces = torch.zeros(n, nb, 3, device=dev, dtype=f32)
        self._torques = torch.zeros(n, nd, device=dev, dtype=f32)
        self._root_dirty = torch.zeros(n, dtype=torch.bool, device=dev)  # written since the last step
        self._dof_dirty = torch.zeros(n, dtype=torch.bool, device=dev)
        # Buffers handed to Isaac Gym (asset order).
        self._actuation = torch.zeros(n, nd, device=dev, dtype=f32)
        self._forces = torch.zeros(n, nb, 3, device=dev, dtype=f32)
        self._force_pos = torch.zeros(n, nb, 3, device=dev, dtype=f32)
        self._forces_pending = False

    def _prepare(self) -> None:
        """prepare_sim, wrap the PhysX tensors and push the current state of every env (first step)."""
        gym, sim, n, nb, nd = self.gym, self.sim, self.num_envs, self.num_bodies, self.num_dofs
        if not gym.prepare_sim(sim):
            raise RuntimeError("isaacgym backend: prepare_sim failed")
        self._root_raw = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))  # (N, 13)
        dof_raw = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))  # (N*D, 2)
        body_raw = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))  # (N*B, 13)
        contact_raw = gymtorch.wrap_tensor(gym.acquire_net_contact_force_tensor(sim))  # (N*B, 3)
        if body_raw.shape[0] != n * nb or dof_raw.shape[0] != n * nd:
            raise RuntimeError("isaacgym backend: the sim holds other actors than {} G1s".format(n))
        self._gym_dof = dof_raw.view(n, nd, 2)
        self._gym_body = body_raw.view(n, nb, 13)
        self._gym_contact = contact_raw.view(n, nb, 3)
        # Descriptors of buffers that live as long as the backend: unwrapped once.
        self._root_desc = gymtorch.unwrap_tensor(self._root_raw)
        self._dof_desc = gymtorch.unwrap_tensor(dof_raw)
        self._actuation_desc = gymtorch.unwrap_tensor(self._actuation)
        self._forces_desc = gymtorch.unwrap_tensor(self._forces)
        self._force_pos_desc = gymtorch.unwrap_tensor(self._force_pos)
        self._root_raw.copy_(self._to_physx_root(self._root, self._com[:, 0]))
        self._gym_dof[:, self._dof_idx, 0] = self._dof_pos
        self._gym_dof[:, self._dof_idx, 1] = self._dof_vel
        gym.set_actor_root_state_tensor(sim, self._root_desc)
        gym.set_dof_state_tensor(sim, self._dof_desc)
        self._prepared = True

    # --- PhysX <-> interface conventions -------------------------------------------------------
    def _com_velocity_offset(self, quat: torch.Tensor, ang: torch.Tensor, com: torch.Tensor) -> torch.Tensor:
        """v_com - v_origin = w x (R c) for body-frame CoMs `com`."""
        return torch.cross(ang, quat_rotate(quat, com), dim=-1)

    def _to_physx_root(self, root: torch.Tensor, com: torch.Tensor) -> torch.Tensor:
        out = root.clone()
        out[:, 7:10] += self._com_velocity_offset(root[:, 3:7], root[:, 10:13], com)
        return out

    def _read_dofs(self) -> None:
        self.gym.refresh_dof_state_tensor(self.sim)
        dof = self._gym_dof[:, self._dof_idx]
        self._dof_pos.copy_(dof[..., 0])
        self._dof_vel.copy_(dof[..., 1])

    def _read_root_and_bodies(self) -> None:
        gym, sim = self.gym, self.sim
        gym.refresh_actor_root_state_tensor(sim)
        gym.refresh_rigid_body_state_tensor(sim)
        gym.refresh_net_contact_force_tensor(sim)
        root, bodies = self._root, self._body_states
        root.copy_(self._root_raw)
        root[:, 7:10] -= self._com_velocity_offset(root[:, 3:7], root[:, 10:13], self._com[:, 0])
        bodies.copy_(self._gym_body[:, self._body_idx])
        bodies[..., 7:10] -= self._com_velocity_offset(bodies[..., 3:7], bodies[..., 10:13], self._com)
        self._contact_forces.copy_(self._gym_contact[:, self._body_idx])

    # --- per-env physical parameters (read-only; `friction` is SimBackend's) -----------------------
    @property
    def body_mass(self) -> torch.Tensor:
        """(N, B) mass of every body per env."""
        return self._mass

    @property
    def body_com(self) -> torch.Tensor:
        """(N, B, 3) centre of mass of every body in its body frame, per env."""
        return self._com

    # --- control -------------------------------------------------------------------------------
    def set_motor_strength(self, kp_scale: torch.Tensor, kd_scale: torch.Tensor) -> None:
        self._kp = kp_scale.to(self.device, torch.float32) * self._kp_nominal
        self._kd = kd_scale.to(self.device, torch.float32) * self._kd_nominal

    def step(self, dof_targets: torch.Tensor) -> None:
        """PD torques in torch every substep, simulate, refresh the DOF state."""
        if not self._prepared:
            self._prepare()
        gym, sim = self.gym, self.sim
        targets = dof_targets.to(self.device, torch.float32)
        if self._forces_pending:  # for the first substep only: PhysX clears them after simulate
            self._force_pos[:, self._body_idx] = self._body_states[..., 0:3]
            gym.apply_rigid_body_force_at_pos_tensors(sim, self._forces_desc, self._force_pos_desc, gymapi.GLOBAL_SPACE)
            self._forces_pending = False
        for _ in range(self.cfg.decimation):
            tau = self._kp * (targets - self._dof_pos) - self._kd * self._dof_vel
            torch.max(torch.min(tau, self._torque_limit), -self._torque_limit, out=self._torques)
            self._actuation[:, self._dof_idx] = self._torques
            gym.set_dof_actuation_force_tensor(sim, self._actuation_desc)
            gym.simulate(sim)
            if not self.gpu_pipeline:  # as legged_gym: results need fetching on the CPU pipeline only
                gym.fetch_results(sim, True)
            self._read_dofs()
        self._root_dirty.zero_()
        self._dof_dirty.zero_()
        self._read_root_and_bodies()

    # --- writes --------------------------------------------------------------------------------
    # Isaac Gym applies only the last indexed write of a kind before `simulate`, so each call passes
    # every env written since the last step (the PhysX buffer holds all their new values).
    def set_root_states(self, env_ids: torch.Tensor, root_states: torch.Tensor) -> None:
        ids = env_ids.to(self.device, torch.long)
        rs = root_states.to(self.device, torch.float32).clone()
        rs[:, 3:7] = normalize(rs[:, 3:7])
        self._root[ids] = rs
        self._root_dirty[ids] = True
        if self._prepared:
            self._root_raw[ids] = self._to_physx_root(rs, self._com[ids, 0])
            self._root_ids = self._actor_ids[self._root_dirty]  # an attribute: alive until simulate
            self.gym.set_actor_root_state_tensor_indexed(
                self.sim, self._root_desc, gymtorch.unwrap_tensor(self._root_ids), len(self._root_ids)
            )

    def set_dof_states(self, env_ids: torch.Tensor, dof_pos: torch.Tensor, dof_vel: torch.Tensor) -> None:
        ids = env_ids.to(self.device, torch.long)
        self._dof_pos[ids] = dof_pos.to(self.device, torch.float32)
        self._dof_vel[ids] = dof_vel.to(self.device, torch.float32)
        self._dof_dirty[ids] = True
        if self._prepared:
            self._gym_dof[ids[:, None], self._dof_idx, 0] = self._dof_pos[ids]
            self._gym_dof[ids[:, None], self._dof_idx, 1] = self._dof_vel[ids]
            self._dof_ids = self._actor_ids[self._dof_dirty]
            self.gym.set_dof_state_tensor_indexed(
                self.sim, self._dof_desc, gymtorch.unwrap_tensor(self._dof_ids), len(self._dof_ids)
            )

    def forward(self) -> None:
        """Body states of the envs written since the last step, by forward kinematics (module doc)."""
        ids = (self._root_dirty | self._dof_dirty).nonzero().flatten()
        if ids.numel() > 0:
            self._body_states[ids] = self._kinematics(self._root[ids], self._dof_pos[ids], self._dof_vel[ids])

    def _kinematics(self, root: torch.Tensor, q: torch.Tensor, qd: torch.Tensor) -> torch.Tensor:
        """(n, B, 13) body-origin poses and velocities from root + joint states (world frame)."""
        pos, rot = self._fk(root[:, :3], root[:, 3:7], q)
        quat = matrix_to_quat(rot)
        quat[:, 0] = root[:, 3:7]
        rate = torch.zeros(q.shape[0], self.num_bodies, 1, device=self.device)
        rate[:, self._hinge_body, 0] = qd[:, self._hinge_dof]
        w = (rot @ self._axis[:, :, None]).squeeze(-1) * rate  # world axis x joint rate, per body
        w_sum = torch.einsum("bj,njk->nbk", self._ancestry, w)  # summed over each body's ancestry
        ang = root[:, None, 10:13] + w_sum
        # v_b = v_0 + w_0 x (p_b - p_0) + sum_j w_j x (p_b - p_j), j over the joints above b
        lin = (
            root[:, None, 7:10]
            + torch.cross(root[:, None, 10:13].expand_as(pos), pos - pos[:, :1], dim=-1)
            + torch.cross(w_sum, pos, dim=-1)
            - torch.einsum("bj,njk->nbk", self._ancestry, torch.cross(w, pos, dim=-1))
        )
        return torch.cat([pos, quat, lin, ang], dim=-1)

    def apply_body_forces(self, forces: torch.Tensor) -> None:
        """World-frame forces (N, B, 3) at the body origins, for the first substep of the next step."""
        self._forces[:, self._body_idx] = forces.to(self.device, torch.float32)
        self._forces_pending = True

    # --- domain randomisation (set-up time: one Python loop over envs, never in the step loop) ----
    @property
    def gravity(self) -> torch.Tensor:
        g = self._sim_params.gravity
        return torch.tensor([g.x, g.y, g.z], device=self.device)

    def set_gravity(self, gravity: torch.Tensor) -> None:
        gx, gy, gz = (float(v) for v in gravity.detach().reshape(3).cpu().tolist())
        self._sim_params.gravity = gymapi.Vec3(gx, gy, gz)
        self.gym.set_sim_params(self.sim, self._sim_params)

    def set_friction(self, friction: torch.Tensor) -> None:
        values = friction.detach().reshape(-1).cpu().tolist()
        for env, actor, mu in zip(self._envs, self._actors, values):
            props = self.gym.get_actor_rigid_shape_properties(env, actor)
            for sp in props:
                sp.friction = float(mu)
            self.gym.set_actor_rigid_shape_properties(env, actor, props)
        self._friction = friction.to(self.device, torch.float32).reshape(self.num_envs).clone()

    def _asset_body(self, body: str) -> Tuple[int, int]:
        b = self.body_index(body)
        return b, self._body_map[b]

    def set_body_mass_offset(self, body: str, added_mass: torch.Tensor) -> None:
        """Nominal mass + offset (not cumulative); Isaac Gym recomputes the inertia (TWIST's call)."""
        b, a = self._asset_body(body)
        masses = self._nominal_mass[a] + added_mass.detach().reshape(-1).cpu().float()
        if bool((masses <= 0).any()):
            raise ValueError("isaacgym backend: added mass makes body {!r} massless or negative".format(body))
        for env, actor, mass in zip(self._envs, self._actors, masses.tolist()):
            props = self.gym.get_actor_rigid_body_properties(env, actor)
            props[a].mass = float(mass)
            self.gym.set_actor_rigid_body_properties(env, actor, props, recomputeInertia=True)
        self._mass[:, b] = masses.to(self.device)

    def set_body_com_offset(self, body: str, offset: torch.Tensor) -> None:
        """Nominal CoM + offset (body frame, not cumulative). Before the first step on the GPU pipeline."""
        if self._prepared and self.gpu_pipeline:
            raise RuntimeError(
                "isaacgym backend: Isaac Gym cannot change a centre of mass once the GPU pipeline runs; "
                "call set_body_com_offset before the first step()"
            )
        b, a = self._asset_body(body)
        com = torch.tensor(self._nominal_com[a]) + offset.detach().reshape(-1, 3).cpu().float()
        for env, actor, c in zip(self._envs, self._actors, com.tolist()):
            props = self.gym.get_actor_rigid_body_properties(env, actor)
            props[a].com = gymapi.Vec3(c[0], c[1], c[2])
            self.gym.set_actor_rigid_body_properties(env, actor, props, recomputeInertia=False)
        self._com[:, b] = com.to(self.device)
