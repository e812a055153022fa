"""HumanoidChar: one policy step with action history, action delay and clipping
(docs/conventions.md, One policy step).

step(actions):
  1. append the raw action to the history (8 entries, newest last);
  2. action delay: d in {0, 1} for all envs once the step counter passes the onset, else 0;
  3. counters += 1; clip the (delayed) action to +-clip_actions / action_scale (= +-10);
  4. `decimation` physics substeps toward q* = q0 + action_scale * a (backend.step, PD per substep);
  5. post_physics_step: base quantities, foot contacts, callback (reference update, pushes),
     terminations, rewards, resets, observations, last_* buffers; resets go by index list
     (reset_idx of reset_buf.nonzero(), a host synchronisation) or, with `sync_free_resets`, by
     mask (reset_where: every env through the reset maths, kept where reset_buf is set), with the
     same random draws either way (a step without resets still advances the generator as a reset
     would: the draws of one reset are made for all envs);
  6. return (obs, privileged_obs, rewards, resets, extras), observations clipped to +-100.
"""

from __future__ import annotations

import warnings

import torch

from legged_gym.envs.base.legged_robot import LeggedRobot
from legged_gym.envs.mdp import randomization as rand
from legged_gym.envs.mdp import terminations

FOOT_CONTACT_FORCE = 2.0  # N, contact-force norm of a foot in contact (post_physics_step)

#: The parts of a step that `cfg.env.compile_mdp` hands to torch.compile (docs/decisions.md D16):
#: tensor maths, and the reset by mask, whose draws and physics calls torch.compile runs as they are
#: between its compiled pieces.
COMPILED_STEP_PARTS = (
    "_base_quantities_from",
    "_update_ref_motion",
    "check_termination",
    "compute_reward",
    "_build_observations",
    "reset_where",
)


def compile_backend(choice, device: torch.device, masked_writes: bool):
    """The torch.compile backend `cfg.env.compile_mdp` asks for, or None (not compiled).

    False / None: off. True: "inductor" (fused GPU kernels). "auto": "inductor" on CUDA with a
    backend that writes by mask (MuJoCo Warp), else off. Any other string: that torch.compile
    backend ("aot_eager" traces and runs the traced graph without code generation: the tests'
    check that compiling keeps the step's results). A torch without torch.compile (the Isaac Gym
    image's) leaves it off."""
    if choice == "auto":
        choice = "inductor" if device.type == "cuda" and masked_writes else None
    elif choice is True:
        choice = "inductor"
    if not choice or not hasattr(torch, "compile"):
        return None
    return str(choice)


class HumanoidChar(LeggedRobot):
    def _resolve_bodies(self) -> None:
        super()._resolve_bodies()
        self.key_body_names = list(self.cfg.motion.key_bodies or self.model.key_bodies)
        self._key_body_ids = self._body_ids(self.key_body_names)

    def _init_buffers(self) -> None:
        super()._init_buffers()
        n = int(self.cfg.domain_rand.action_buf_len)
        self.action_history_buf = torch.zeros(self.num_envs, n, self.num_actions, device=self.device)
        # Automatic resets by mask (`reset_where`) instead of by index list: no host synchronisation
        # per step. cfg.env.sync_free_resets: True, False or "auto" (CUDA and a backend that writes
        # by mask without reading it on the host; the Isaac Gym backend does not).
        choice = getattr(self.cfg.env, "sync_free_resets", "auto")
        if choice == "auto":
            choice = self.device.type == "cuda" and bool(getattr(self.sim, "supports_masked_writes", False))
        self.sync_free_resets = bool(choice) and self._has_reset_where()
        self.set_compile_mdp(getattr(self.cfg.env, "compile_mdp", False))

    def set_compile_mdp(self, choice) -> None:
        """Run the tensor-maths parts of a step (`COMPILED_STEP_PARTS`) through torch.compile with
        the backend `choice` names (`compile_backend`), or as plain methods (None / False). The
        parts keep their results: the draws of the generator stay outside the compiled graphs
        (torch.compile runs a call with a generator eagerly), so only float rounding of fused
        kernels can differ. The first steps trace and compile (slow); later steps reuse the result."""
        backend = compile_backend(choice, self.device, bool(getattr(self.sim, "supports_masked_writes", False)))
        for name in COMPILED_STEP_PARTS:
            self.__dict__.pop(name, None)  # the class's method again
        self.compile_mdp = backend
        if backend is None:
            return
        # the observation layout's blocks are lru_cache'd pure functions of sizes: tracing through the
        # cache is what they need, so torch.compile's note about it is not shown
        warnings.filterwarnings("ignore", message="Dynamo detected a call to a `functools.lru_cache`")
        for name in COMPILED_STEP_PARTS:
            if hasattr(self, name):
                setattr(self, name, torch.compile(getattr(self, name), backend=backend))

    def _has_reset_where(self) -> bool:
        return type(self).reset_where is not HumanoidChar.reset_where

    def reset_where(self, mask: torch.Tensor) -> None:
        """Reset the envs where `mask` (N,) is True without an index list (subclasses)."""
        raise NotImplementedError

    def _skip_reset_draws(self) -> None:
        """A step that resets no env: advance the generator as a reset would (subclasses whose resets
        draw for all envs at every step when resetting by mask), so both ways draw alike."""

    def step(self, actions: torch.Tensor):
        dr = self.cfg.domain_rand
        actions = actions.to(self.device)
        self.action_history_buf = torch.cat([self.action_history_buf[:, 1:], actions.unsqueeze(1)], dim=1)
        delay = rand.action_delay(
            self.global_counter,
            self._rng,
            int(dr.action_delay_onset_steps),
            int(dr.max_action_delay),
            bool(dr.action_delay),
            as_tensor=True,
        )
        actions = rand.delayed_action(self.action_history_buf, delay)
        self.global_counter += 1
        self.total_env_steps_counter += 1
        self.actions = torch.clamp(actions, -self.clip_actions, self.clip_actions)
        self.sim.step(self.default_dof_pos + float(self.cfg.control.action_scale) * self.actions)
        self.post_physics_step()
        return self.obs_buf, self.privileged_obs_buf, self.rew_buf, self.reset_buf, self.extras

    def post_physics_step(self) -> None:
        self.extras.pop("episode", None)  # present only on steps that reset envs
        self.episode_length_buf += 1
        self.common_step_counter += 1
        self._compute_base_quantities()
        contact = torch.norm(self.contact_forces[:, self.feet_indices], dim=-1) > FOOT_CONTACT_FORCE
        self.contact_filt = contact | self.last_contacts
        self.last_contacts = contact
        self._post_physics_step_callback()
        self.check_termination()
        self.compute_reward()
        if self.sync_free_resets:
            # every env goes through the reset maths, the resetting ones (reset_buf) take the result:
            # no index list, hence no device synchronisation (same results as reset_idx)
            self.reset_where(self.reset_buf)
            self._compute_base_quantities()
        else:
            env_ids = self.reset_buf.nonzero(as_tuple=False).flatten()
            if len(env_ids) > 0:
                self.reset_idx(env_ids)
                # TWIST builds the next observation of reset envs from the pre-reset base quantities;
                # here they are recomputed so the observation describes the state the robot is in.
                self._compute_base_quantities()
            else:
                self._skip_reset_draws()
        self.extras["time_outs"] = self.time_out_buf
        if self._last_push_step is not None:  # 0 on the step that pushes (its observation is still unpushed)
            self.extras["steps_since_push"] = self.common_step_counter - self._last_push_step
        self.compute_observations()
        self.last_actions[:] = self.actions
        self.last_dof_vel[:] = self.dof_vel

    def _post_physics_step_callback(self) -> None:
        """Hook before terminations/rewards/observations (pushes here; references in HumanoidMimic)."""
        dr = self.cfg.domain_rand
        if dr.push_robots and rand.interval_due(self.common_step_counter, dr.push_interval_s, self.dt):
            self._push_robots()
        if dr.push_end_effector and rand.interval_due(
            self.common_step_counter, dr.push_end_effector_interval_s, self.dt
        ):
            self._push_end_effector()
        if dr.randomize_gravity and rand.interval_due(self.common_step_counter, dr.gravity_rand_interval_s, self.dt):
            self._randomize_gravity()

    def check_termination(self) -> None:
        """Torso contact, roll/pitch and episode length (motion-free humanoids)."""
        t = self.cfg.termination
        failed = terminations.torso_contact(
            self.contact_forces[:, self.termination_contact_indices], t.torso_contact_force
        )
        failed |= terminations.bad_orientation(self.base_quat, t.termination_roll, t.termination_pitch)
        self.time_out_buf = terminations.episode_timeout(self.episode_length_buf, self.max_episode_length)
        self.reset_buf = failed | self.time_out_buf
