"""MuJoCo Warp backend: N worlds of the 23-DOF G1 training MJCF on CUDA or on warp's CPU device.

Design (docs/decisions.md D1):

- One `mujoco_warp` Model/Data pair holds all N worlds. State is exposed as torch tensors that alias
  warp memory (`wp.to_torch`): `dof_pos`/`dof_vel` are views into `qpos`/`qvel`; `root_states`,
  `body_states`, `contact_forces` and `torques` are warp buffers written by small kernels at the end
  of every `step()`/`forward()` (MuJoCo's conventions converted there: quaternions wxyz -> xyzw, the
  free joint's local angular velocity -> world, com-based `cvel` -> velocity of each body-frame origin).
- PD runs as a warp kernel before every physics substep: it reads `qpos`/`qvel`, computes
  tau = clip(kp_env (q* - q) - kd_env qdot, +-torque_limit) and writes it to `ctrl`, which drives the
  model's 23 gear-1 `<motor>`s (their ctrlrange is the same +-0.9 effort, so MuJoCo's own clamp is a
  no-op). kp_env/kd_env = motor strength x Kp/Kd are per-env warp arrays updated in place.
- On CUDA the `decimation` substeps (PD kernel + `mujoco_warp.step`), the one-substep clearing of
  `xfrc_applied` and the state kernels are captured once into one CUDA graph and replayed by `step()`;
  `forward()` replays a second, small graph (kinematics + state kernels). On CPU the same sequence
  of launches runs eagerly.
- Per-env physics parameters (friction, body mass/inertia, CoM) are per-world model fields
  (`put_model(batch_sizes=...)`), written in place so the captured graph sees them.

Nothing here loops over environments in Python.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

import warp as wp

# No "Module ... load on device ... took ..." lines (nor warp's init banner) in training, play and test
# output; warp's warnings stay. Set before mujoco_warp and this module load any kernel. Older warp
# prints these unless `config.quiet`; newer warp (1.1x, `config.log_level`) logs them at INFO level.
wp.config.quiet = True  # type: ignore[attr-defined]  # (older warp)
if hasattr(wp, "LOG_WARNING"):
    wp.config.log_level = max(int(getattr(wp.config, "log_level", 0)), int(wp.LOG_WARNING))

import mujoco  # noqa: E402
import mujoco_warp as mjw  # noqa: E402

# The per-contact force decoder of mujoco_warp (pyramidal/elliptic cone -> contact-frame/world force).
# Private module of the pinned mujoco-warp 4.0.0 (pyproject): the public `contact_force` launches one
# kernel for a list of contact ids; this backend needs the same function inside its own kernel.
from mujoco_warp._src.support import contact_force_fn  # noqa: E402
from mujoco_warp._src.types import vec5  # noqa: E402

from pose.g1_model import ASSETS_DIR, load_g1  # noqa: E402

from .base import SimBackend, SimConfig  # noqa: E402

TRAINING_MJCF = ASSETS_DIR / "g1" / "g1_custom_collision_with_fixed_hand.xml"

# Isaac Gym (PhysX) combines the friction of two touching shapes by averaging them; TWIST's ground has
# friction 1.0. MuJoCo takes the larger of the two geoms' coefficients. To give the same contact
# friction as the isaacgym backend for a robot shape friction f, every geom of world i (robot shapes
# and floor) gets (f_i + GROUND_FRICTION) / 2.
GROUND_FRICTION = 1.0

wp.set_module_options({"enable_backward": False})

# Model constants that mujoco_warp.set_const derives from body_mass/body_inertia/body_ipos; batched per
# world so that worlds with different inertial parameters keep their own values.
_MASS_DERIVED = ("body_subtreemass", "body_invweight0", "dof_invweight0", "tendon_invweight0", "actuator_acc0")


# --------------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------------
@wp.func
def _rot_wxyz(q: wp.quat, v: wp.vec3) -> wp.vec3:
    """Rotate v by the unit quaternion q stored MuJoCo-style (components 0..3 = w, x, y, z)."""
    s = q[0]
    u = wp.vec3(q[1], q[2], q[3])
    return 2.0 * wp.dot(u, v) * u + (s * s - wp.dot(u, u)) * v + 2.0 * s * wp.cross(u, v)


@wp.kernel
def _pd_kernel(
    qpos: wp.array2d(dtype=float),
    qvel: wp.array2d(dtype=float),
    targets: wp.array2d(dtype=float),
    kp: wp.array2d(dtype=float),
    kd: wp.array2d(dtype=float),
    torque_limit: wp.array(dtype=float),
    qadr: wp.array(dtype=int),
    dadr: wp.array(dtype=int),
    actid: wp.array(dtype=int),
    ctrl: wp.array2d(dtype=float),
    torques: wp.array2d(dtype=float),
):
    w, j = wp.tid()
    q = qpos[w, qadr[j]]
    qd = qvel[w, dadr[j]]
    lim = torque_limit[j]
    tau = wp.clamp(kp[w, j] * (targets[w, j] - q) - kd[w, j] * qd, -lim, lim)
    ctrl[w, actid[j]] = tau
    torques[w, j] = tau


@wp.kernel
def _state_kernel(
    qpos: wp.array2d(dtype=float),
    qvel: wp.array2d(dtype=float),
    xpos: wp.array2d(dtype=wp.vec3),
    xquat: wp.array2d(dtype=wp.quat),
    cvel: wp.array2d(dtype=wp.spatial_vector),
    subtree_com: wp.array2d(dtype=wp.vec3),
    body_rootid: wp.array(dtype=int),
    body_ids: wp.array(dtype=int),
    root_out: wp.array2d(dtype=float),
    body_out: wp.array3d(dtype=float),
):
    w, k = wp.tid()
    b = body_ids[k]
    p = xpos[w, b]
    q = xquat[w, b]
    v = cvel[w, b]
    ang = wp.spatial_top(v)  # world-frame angular velocity
    # cvel's linear part is the velocity of the point at the subtree com of the tree root.
    lin = wp.spatial_bottom(v) + wp.cross(ang, p - subtree_com[w, body_rootid[b]])
    for i in range(3):
        body_out[w, k, i] = p[i]
        body_out[w, k, 7 + i] = lin[i]
        body_out[w, k, 10 + i] = ang[i]
    body_out[w, k, 3] = q[1]
    body_out[w, k, 4] = q[2]
    body_out[w, k, 5] = q[3]
    body_out[w, k, 6] = q[0]
    if k == 0:
        # Root state straight from the free joint: qpos = pos, quat wxyz; qvel = world linear velocity
        # of the body origin, angular velocity in the body frame (rotated to world here).
        qr = wp.normalize(wp.quat(qpos[w, 3], qpos[w, 4], qpos[w, 5], qpos[w, 6]))
        wl = _rot_wxyz(qr, wp.vec3(qvel[w, 3], qvel[w, 4], qvel[w, 5]))
        for i in range(3):
            root_out[w, i] = qpos[w, i]
            root_out[w, 7 + i] = qvel[w, i]
            root_out[w, 10 + i] = wl[i]
        root_out[w, 3] = qr[1]
        root_out[w, 4] = qr[2]
        root_out[w, 5] = qr[3]
        root_out[w, 6] = qr[0]


@wp.kernel
def _contact_kernel(
    opt_cone: int,
    contact_frame: wp.array(dtype=wp.mat33),
    contact_friction: wp.array(dtype=vec5),
    contact_dim: wp.array(dtype=int),
    contact_efc_address: wp.array2d(dtype=int),
    contact_adhesion: wp.array(dtype=float),
    contact_geom: wp.array(dtype=wp.vec2i),
    contact_worldid: wp.array(dtype=int),
    efc_force: wp.array2d(dtype=float),
    njmax: int,
    nacon: wp.array(dtype=int),
    geom_bodyid: wp.array(dtype=int),
    body_to_robot: wp.array(dtype=int),
    out: wp.array3d(dtype=float),
):
    c = wp.tid()
    if c >= nacon[0]:
        return
    if contact_efc_address[c, 0] < 0:
        return
    w = contact_worldid[c]
    frc = contact_force_fn(
        opt_cone,
        contact_frame,
        contact_friction,
        contact_dim,
        contact_efc_address,
        contact_adhesion,
        efc_force,
        njmax,
        nacon,
        w,
        c,
        True,
    )
    f = wp.spatial_top(frc)  # world-frame force of geom[0] on geom[1]
    g = contact_geom[c]
    r1 = body_to_robot[geom_bodyid[g[0]]]
    r2 = body_to_robot[geom_bodyid[g[1]]]
    for i in range(3):
        if r1 >= 0:
            wp.atomic_sub(out, w, r1, i, f[i])
        if r2 >= 0:
            wp.atomic_add(out, w, r2, i, f[i])


# --------------------------------------------------------------------------------------------------
# backend
# --------------------------------------------------------------------------------------------------
def _warp_device(device: torch.device) -> str:
    if device.type == "cpu":
        return "cpu"
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return "cuda:{}".format(index)
    raise ValueError("mjwarp backend: unsupported device {!r} (use 'cpu' or 'cuda[:k]')".format(str(device)))


def _quat_rotate_inverse_xyzw(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate v (..., 3) by the inverse of the xyzw quaternion q (..., 4)."""
    u, s = q[..., :3], q[..., 3:4]
    return v * (2.0 * s * s - 1.0) - 2.0 * s * torch.cross(u, v, dim=-1) + 2.0 * u * (u * v).sum(-1, keepdim=True)


class MjWarpBackend(SimBackend):
    """N worlds of the G1 training MJCF on MuJoCo Warp (see the module docstring).

    Extra keyword arguments: `model_path` (another MJCF with the same bodies/joints), `nconmax`
    (contacts per world, pooled over worlds), `njmax` (constraint rows per world), `use_graph`
    (CUDA graph replay on CUDA devices; default True).
    """

    name = "mjwarp"

    def __init__(
        self,
        num_envs: int,
        device="cpu",
        cfg: Optional[SimConfig] = None,
        model_path=None,
        nconmax: int = 48,
        njmax: int = 128,
        use_graph: bool = True,
    ):
        super().__init__(num_envs, device, cfg)
        if self.num_envs < 1:
            raise ValueError("mjwarp backend: num_envs must be >= 1, got {}".format(num_envs))
        self._wp_device = wp.get_device(_warp_device(self.device))
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device(str(self._wp_device))
        g1 = load_g1()
        self._g1 = g1
        self._model_path = Path(model_path) if model_path is not None else TRAINING_MJCF
        mjm = mujoco.MjModel.from_xml_path(str(self._model_path))
        mjm.opt.timestep = float(self.cfg.dt)
        mjm.opt.gravity[:] = np.asarray(self.cfg.gravity, dtype=np.float64)
        self.mjm = mjm
        self._dof_names = tuple(g1.dof_names)
        self._body_names = tuple(g1.body_names)
        self._resolve_indices()

        # Initial state: Isaac Gym's init state: pelvis at (0, 0, 1), identity, default pose.
        mjd = mujoco.MjData(mjm)
        mjd.qpos[self._qadr] = g1.default_dof_pos
        mujoco.mj_forward(mjm, mjd)

        n = self.num_envs
        # Per-world fields: the randomised inertial parameters, friction, and the constants that
        # `mujoco_warp.set_const` derives from the inertial parameters (it writes them per world only
        # where the field is batched; an unbatched field would get world 0's values for every world).
        batched = ("body_mass", "body_inertia", "body_ipos", "geom_friction") + _MASS_DERIVED
        with wp.ScopedDevice(self._wp_device):
            self.m = mjw.put_model(mjm, batch_sizes={f: n for f in batched})
            # A solve that stops at the iteration limit (a fallen robot in a pile of contacts) would
            # print from inside the kernel at every such substep and flood the training log; it is
            # recorded per world instead (d.overflow) and reported per episode
            # (take_solver_limit_hits -> metric_solver_iteration_limit). Other overflows still print.
            self.m.opt.warn_overflow = int(self.m.opt.warn_overflow) & ~int(mjw.OverflowType.ITERATIONS)
            self.d = mjw.put_data(mjm, mjd, nworld=n, nconmax=nconmax, njmax=njmax)
            self._alloc()
        self._graph_step = None
        self._graph_fwd = None
        self._use_graph = bool(use_graph) and self._wp_device.is_cuda
        if self._use_graph:
            self._capture()
        else:
            self.forward()

    # --- set-up -----------------------------------------------------------------------------------
    def _resolve_indices(self):
        mjm, path = self.mjm, self._model_path
        qadr, dadr, act = [], [], []
        for name in self._dof_names:
            jid = mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_JOINT, name)
            if jid < 0:
                raise KeyError("{}: no joint named {!r}".format(path, name))
            qadr.append(int(mjm.jnt_qposadr[jid]))
            dadr.append(int(mjm.jnt_dofadr[jid]))
            acts = np.flatnonzero(
                (mjm.actuator_trnid[:, 0] == jid) & (mjm.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT)
            )
            if len(acts) != 1:
                raise ValueError("{}: joint {!r} needs exactly one actuator, found {}".format(path, name, len(acts)))
            act.append(int(acts[0]))
        self._qadr, self._dadr, self._act = qadr, dadr, act
        # dof_pos/dof_vel are zero-copy slices of qpos/qvel: the joints must follow the free joint in
        # training order (the generated MJCF does).
        if qadr != list(range(7, 7 + len(qadr))) or dadr != list(range(6, 6 + len(dadr))):
            raise ValueError("{}: hinge joints are not stored in training order after the free joint".format(path))
        free = np.flatnonzero(mjm.jnt_type == mujoco.mjtJoint.mjJNT_FREE)
        if len(free) != 1 or mjm.jnt_qposadr[free[0]] != 0:
            raise ValueError("{}: expected one free joint at qpos[0:7]".format(path))
        body_ids = []
        for name in self._body_names:
            bid = mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_BODY, name)
            if bid < 0:
                raise KeyError("{}: no body named {!r}".format(path, name))
            body_ids.append(bid)
        if mjm.jnt_bodyid[free[0]] != body_ids[0]:
            raise ValueError("{}: the free joint must belong to {!r}".format(path, self._body_names[0]))
        self._body_ids = body_ids
        self._body_to_robot = np.full(mjm.nbody, -1, dtype=np.int32)
        self._body_to_robot[body_ids] = np.arange(len(body_ids), dtype=np.int32)

    def _alloc(self):
        n, nd, nb = self.num_envs, len(self._dof_names), len(self._body_names)
        g1 = self._g1
        m, d = self.m, self.d
        f32 = wp.float32
        self._w_qadr = wp.array(self._qadr, dtype=int)
        self._w_dadr = wp.array(self._dadr, dtype=int)
        self._w_act = wp.array(self._act, dtype=int)
        self._w_body_ids = wp.array(self._body_ids, dtype=int)
        self._w_body_to_robot = wp.array(self._body_to_robot, dtype=int)
        self._w_limit = wp.array(g1.torque_limit.astype(np.float32), dtype=f32)
        self._w_targets = wp.array(np.tile(g1.default_dof_pos.astype(np.float32), (n, 1)), dtype=f32)
        self._w_kp = wp.array(np.tile(g1.kp.astype(np.float32), (n, 1)), dtype=f32)
        self._w_kd = wp.array(np.tile(g1.kd.astype(np.float32), (n, 1)), dtype=f32)
        self._w_torques = wp.zeros((n, nd), dtype=f32)
        self._w_root = wp.zeros((n, 13), dtype=f32)
        self._w_bodies = wp.zeros((n, nb, 13), dtype=f32)
        self._w_contact = wp.zeros((n, nb, 3), dtype=f32)

        t = wp.to_torch
        self._kp_nominal = torch.tensor(g1.kp, dtype=torch.float32, device=self.device)
        self._kd_nominal = torch.tensor(g1.kd, dtype=torch.float32, device=self.device)
        self._targets = t(self._w_targets)
        self._kp = t(self._w_kp)
        self._kd = t(self._w_kd)
        self._torques = t(self._w_torques)
        self._root = t(self._w_root)
        self._body_states = t(self._w_bodies)
        self._contact_forces = t(self._w_contact)
        self._qpos = t(d.qpos)
        self._qvel = t(d.qvel)
        self._qacc_warmstart = t(d.qacc_warmstart)
        self._xfrc = t(d.xfrc_applied)  # (N, nbody, 6): force, torque (at the body com)
        self._xpos = t(d.xpos)
        self._xipos = t(d.xipos)
        self._overflow = t(d.overflow)  # (N,) int32 OverflowType bits, sticky until cleared
        self._dof_pos = self._qpos[:, 7 : 7 + nd]
        self._dof_vel = self._qvel[:, 6 : 6 + nd]
        # per-world model fields (views; written in place so captured graphs see the new values)
        self._body_mass = t(m.body_mass)
        self._body_inertia = t(m.body_inertia)
        self._body_ipos = t(m.body_ipos)
        self._geom_friction = t(m.geom_friction)
        self._gravity = t(m.opt.gravity)  # (1, 3), one vector for all worlds
        self._mass0 = self._body_mass[0].clone()
        self._inertia0 = self._body_inertia[0].clone()
        self._ipos0 = self._body_ipos[0].clone()
        # robot bodies in the model's body arrays: a slice (views) when contiguous, as in the G1 MJCF
        first, last = self._body_ids[0], self._body_ids[-1]
        self._robot: Union[slice, torch.Tensor]
        if self._body_ids == list(range(first, last + 1)):
            self._robot = slice(first, last + 1)
        else:
            self._robot = torch.tensor(self._body_ids, device=self.device)
        self._friction = torch.full((n,), float(self.mjm.geom_friction[:, 0].max()), device=self.device)

    # --- warp sequences (captured on CUDA) --------------------------------------------------------
    def _launch_pd(self):
        d = self.d
        wp.launch(
            _pd_kernel,
            dim=(self.num_envs, len(self._dof_names)),
            inputs=[
                d.qpos,
                d.qvel,
                self._w_targets,
                self._w_kp,
                self._w_kd,
                self._w_limit,
                self._w_qadr,
                self._w_dadr,
                self._w_act,
            ],
            outputs=[d.ctrl, self._w_torques],
        )

    def _launch_kinematics_and_state(self):
        m, d = self.m, self.d
        mjw.kinematics(m, d)
        mjw.com_pos(m, d)
        mjw.com_vel(m, d)
        wp.launch(
            _state_kernel,
            dim=(self.num_envs, len(self._body_ids)),
            inputs=[d.qpos, d.qvel, d.xpos, d.xquat, d.cvel, d.subtree_com, m.body_rootid, self._w_body_ids],
            outputs=[self._w_root, self._w_bodies],
        )

    def _launch_contacts(self):
        m, d = self.m, self.d
        self._w_contact.zero_()
        wp.launch(
            _contact_kernel,
            dim=d.naconmax,
            inputs=[
                int(m.opt.cone),
                d.contact.frame,
                d.contact.friction,
                d.contact.dim,
                d.contact.efc_address,
                d.contact.adhesion,
                d.contact.geom,
                d.contact.worldid,
                d.efc.force,
                d.njmax,
                d.nacon,
                m.geom_bodyid,
                self._w_body_to_robot,
            ],
            outputs=[self._w_contact],
        )

    def _substeps(self):
        for i in range(self.cfg.decimation):
            self._launch_pd()
            mjw.step(self.m, self.d)
            if i == 0:
                self.d.xfrc_applied.zero_()  # external forces act for one substep (docs/decisions.md K8)
        self._launch_contacts()
        self._launch_kinematics_and_state()

    def _capture(self):
        """Compile by running once, restore the state, then capture step and forward graphs."""
        saved = [x.clone() for x in (self._qpos, self._qvel, self._qacc_warmstart)]
        time_t = wp.to_torch(self.d.time)
        time0 = time_t.clone()
        with wp.ScopedDevice(self._wp_device):
            self._substeps()
            wp.synchronize_device(self._wp_device)
            for x, s in zip((self._qpos, self._qvel, self._qacc_warmstart), saved):
                x.copy_(s)
            time_t.copy_(time0)
            with wp.ScopedCapture(self._wp_device, force_module_load=False) as cap:
                self._substeps()
            self._graph_step = cap.graph
            with wp.ScopedCapture(self._wp_device, force_module_load=False) as cap:
                self._launch_kinematics_and_state()
            self._graph_fwd = cap.graph
        self.forward()

    def _torch_stream_handoff(self, before: bool):
        """Order warp's stream after (before=True) or before (False) torch's current stream.

        Warp's CUDA streams are blocking, so they already serialise with torch's legacy default
        stream; explicit events are only needed when torch runs on a side stream."""
        if not self._wp_device.is_cuda:
            return
        ts = torch.cuda.current_stream(self.device)
        if ts.cuda_stream == 0:
            return
        ws = self._wp_device.stream
        if before:
            ws.wait_stream(wp.stream_from_torch(ts))
        else:
            wp.stream_from_torch(ts).wait_stream(ws)

    # --- solver reports (the state getters are SimBackend's) ---------------------------------------
    def take_solver_limit_hits(self, env_ids: torch.Tensor) -> torch.Tensor:
        bit = int(mjw.OverflowType.ITERATIONS)
        flags = self._overflow[env_ids]
        self._overflow[env_ids] = flags & ~bit
        return (flags & bit) != 0

    def take_solver_limit_hits_where(self, mask: torch.Tensor) -> torch.Tensor:
        bit = int(mjw.OverflowType.ITERATIONS)
        flags = self._overflow.clone()
        self._overflow.copy_(torch.where(mask, flags & ~bit, flags))
        return (flags & bit) != 0

    # --- per-world model data (read-only, for privileged observations and tests) -----------------
    @property
    def body_mass(self) -> torch.Tensor:
        """(N, B) mass of every robot body in each world."""
        return self._body_mass[:, self._robot]

    @property
    def body_com(self) -> torch.Tensor:
        """(N, B, 3) centre of mass of every robot body in its body frame, per world."""
        return self._body_ipos[:, self._robot]

    # --- control ----------------------------------------------------------------------------------
    def step(self, dof_targets: torch.Tensor) -> None:
        self._targets.copy_(dof_targets)
        self._torch_stream_handoff(True)
        with wp.ScopedDevice(self._wp_device):
            if self._graph_step is not None:
                wp.capture_launch(self._graph_step)
            else:
                self._substeps()
        self._torch_stream_handoff(False)

    def set_motor_strength(self, kp_scale: torch.Tensor, kd_scale: torch.Tensor) -> None:
        self._kp.copy_(kp_scale * self._kp_nominal)
        self._kd.copy_(kd_scale * self._kd_nominal)

    # --- writes for resets and perturbations ------------------------------------------------------
    def set_root_states(self, env_ids: torch.Tensor, root_states: torch.Tensor) -> None:
        rs = root_states.to(device=self.device, dtype=torch.float32)
        quat = torch.nn.functional.normalize(rs[:, 3:7], dim=-1)
        qpos = torch.cat([rs[:, 0:3], quat[:, 3:4], quat[:, 0:3]], dim=-1)  # xyzw -> wxyz
        qvel = torch.cat([rs[:, 7:10], _quat_rotate_inverse_xyzw(quat, rs[:, 10:13])], dim=-1)  # ang: world -> local
        self._qpos[env_ids, 0:7] = qpos
        self._qvel[env_ids, 0:6] = qvel
        self._qacc_warmstart.index_fill_(0, env_ids, 0.0)  # no host scalar copy (sync)

    def set_dof_states(self, env_ids: torch.Tensor, dof_pos: torch.Tensor, dof_vel: torch.Tensor) -> None:
        self._dof_pos[env_ids] = dof_pos.to(device=self.device, dtype=torch.float32)
        self._dof_vel[env_ids] = dof_vel.to(device=self.device, dtype=torch.float32)
        self._qacc_warmstart.index_fill_(0, env_ids, 0.0)  # no host scalar copy (sync)

    supports_masked_writes = True

    def set_states_where(
        self, mask: torch.Tensor, root_states: torch.Tensor, dof_pos: torch.Tensor, dof_vel: torch.Tensor
    ) -> None:
        """The values set_dof_states / set_root_states write, selected per world by `mask` (no sync)."""
        m = mask.to(device=self.device, dtype=torch.bool).reshape(-1, 1)
        rs = root_states.to(device=self.device, dtype=torch.float32)
        quat = torch.nn.functional.normalize(rs[:, 3:7], dim=-1)
        qpos = torch.cat(
            [rs[:, 0:3], quat[:, 3:4], quat[:, 0:3], dof_pos.to(device=self.device, dtype=torch.float32)], dim=-1
        )
        qvel = torch.cat(
            [
                rs[:, 7:10],
                _quat_rotate_inverse_xyzw(quat, rs[:, 10:13]),
                dof_vel.to(device=self.device, dtype=torch.float32),
            ],
            dim=-1,
        )
        nq, nv = qpos.shape[1], qvel.shape[1]
        self._qpos[:, :nq] = torch.where(m, qpos, self._qpos[:, :nq])
        self._qvel[:, :nv] = torch.where(m, qvel, self._qvel[:, :nv])
        self._qacc_warmstart.masked_fill_(m, 0.0)

    def forward(self) -> None:
        self._torch_stream_handoff(True)
        with wp.ScopedDevice(self._wp_device):
            if self._graph_fwd is not None:
                wp.capture_launch(self._graph_fwd)
            else:
                self._launch_kinematics_and_state()
        self._torch_stream_handoff(False)

    def apply_body_forces(self, forces: torch.Tensor) -> None:
        """World-frame forces (N, B, 3) at the body origins, for the next substep only.

        MuJoCo applies `xfrc_applied` at the body com, so the moment of the force about the com,
        (origin - com) x F, is added as a torque (positions from the last step()/forward())."""
        f = forces.to(device=self.device, dtype=torch.float32)
        r = self._xpos[:, self._robot] - self._xipos[:, self._robot]
        self._xfrc[:, self._robot, 0:3] = f
        self._xfrc[:, self._robot, 3:6] = torch.cross(r, f, dim=-1)

    # --- domain randomisation ---------------------------------------------------------------------
    @property
    def gravity(self) -> torch.Tensor:
        return self._gravity[0]

    def set_gravity(self, gravity: torch.Tensor) -> None:
        # In place: the captured CUDA graph reads the model field.
        self._gravity.copy_(gravity.to(device=self.device, dtype=torch.float32).reshape(1, 3))

    def set_friction(self, friction: torch.Tensor) -> None:
        f = friction.to(device=self.device, dtype=torch.float32).reshape(self.num_envs)
        self._friction = f.clone()
        self._geom_friction[:, :, 0] = (0.5 * (f + GROUND_FRICTION)).unsqueeze(-1)

    def set_body_mass_offset(self, body: str, added_mass: torch.Tensor) -> None:
        b = self._body_ids[self.body_index(body)]
        m0 = float(self._mass0[b])
        if m0 <= 0.0:
            raise ValueError("mjwarp backend: body {!r} is massless, cannot scale its inertia".format(body))
        mass = m0 + added_mass.to(device=self.device, dtype=torch.float32).reshape(self.num_envs)
        if bool((mass <= 0.0).any()):
            raise ValueError("mjwarp backend: added mass makes body {!r} massless or negative".format(body))
        self._body_mass[:, b] = mass
        self._body_inertia[:, b] = self._inertia0[b] * (mass / m0).unsqueeze(-1)
        # mujoco_warp.set_const's docstring: a changed body_mass needs SetConstGroup.ALL (subtree
        # masses; at qpos0 body_invweight0 and dof_invweight0, which set the regularisation of the
        # contact and joint-limit constraints, and actuator_acc0), as mj_setConst does for an MjModel.
        self._set_const(mjw.SetConstGroup.ALL)

    def set_body_com_offset(self, body: str, offset: torch.Tensor) -> None:
        b = self._body_ids[self.body_index(body)]
        self._body_ipos[:, b] = self._ipos0[b] + offset.to(device=self.device, dtype=torch.float32).reshape(
            self.num_envs, 3
        )
        # body_ipos changes the composite inertia at qpos0, hence the invweights (not subtree masses)
        self._set_const(mjw.SetConstGroup.INERT0)

    def _set_const(self, groups) -> None:
        """Recompute the model constants derived from the inertial parameters, per world, in place
        (set-up time: tens of kernel launches per body; the captured graphs read the same arrays)."""
        self._torch_stream_handoff(True)
        with wp.ScopedDevice(self._wp_device):
            mjw.set_const(self.m, self.d, groups=groups)
        self._torch_stream_handoff(False)
