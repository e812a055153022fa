"""HumanoidMimic: motion tracking against MotionLib references (SPEC 3.4, 5).

- References: each env plays clip `_motion_ids` from `_motion_time_offsets`; every step the
  reference state of all envs is evaluated at t = episode_length * dt + offset and shifted by the
  episode's xy origin (`episode_init_origin`, drawn at reset), so the reference starts where the
  robot starts.
- Reset (RSI, SPEC 3.4): sample clip ~ weight x difficulty and start time, set the robot to the
  noised reference state, then recompute kinematics (decision D6: no extra physics substep).
- Episode length: in headless training the longest clip (episodes end at motion end or failure).
- Terminations `mdp.terminations.check_termination`; tracking rewards `mdp.rewards`; motion
  difficulty `mdp.curriculum`.
- Evaluation (scripts/eval.py): `reset_to_motions` starts given clips at given times (default 0);
  `pre_reset_callback(env)`, when set, runs every step between the terminations and the resets.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from legged_gym.envs.base.humanoid_char import HumanoidChar
from legged_gym.envs.mdp import curriculum, rewards, terminations
from legged_gym.envs.mdp import randomization as rand
from pose.utils.motion_lib_pkl import MotionLib
from pose.utils.torch_utils import quat_rotate


class RefFrame(NamedTuple):
    """Reference state from `MotionLib.calc_motion_frame` (root z includes the height offset)."""
    root_pos: torch.Tensor
    root_rot: torch.Tensor
    root_vel: torch.Tensor
    root_ang_vel: torch.Tensor
    dof_pos: torch.Tensor
    dof_vel: torch.Tensor
    local_body_pos: torch.Tensor  # (..., 38, 3) motion bodies, root frame


class HumanoidMimic(HumanoidChar):
    def __init__(self, cfg, sim_device="cpu", headless: bool = True):
        # Motions first: a bad motion file fails before any simulator is built.
        self._motion_lib = self._load_motions(cfg, sim_device)
        super().__init__(cfg, sim_device, headless)
        self.reset_idx(self.all_env_ids)
        self._compute_base_quantities()
        self.compute_observations()

    @staticmethod
    def _load_motions(cfg, device) -> MotionLib:
        motion_file = cfg.motion.motion_file
        if motion_file is None:
            from pose.synth import default_motion_file

            motion_file = default_motion_file()
        return MotionLib(motion_file, device=device)

    def _init_buffers(self) -> None:
        super()._init_buffers()
        if self.headless:
            self.max_episode_length_s = float(self._motion_lib.get_motion_length().max())
            self.max_episode_length = math.ceil(self.max_episode_length_s / self.dt)
        n, dev = self.num_envs, self.device
        self._motion_ids = torch.zeros(n, device=dev, dtype=torch.long)
        self._motion_time_offsets = torch.zeros(n, device=dev)
        self.episode_init_origin = torch.zeros(n, 3, device=dev)
        self._ref_root_pos = torch.zeros(n, 3, device=dev)
        self._ref_root_rot = torch.zeros(n, 4, device=dev)
        self._ref_root_vel = torch.zeros(n, 3, device=dev)
        self._ref_root_ang_vel = torch.zeros(n, 3, device=dev)
        self._ref_dof_pos = torch.zeros(n, self.num_actions, device=dev)
        self._ref_dof_vel = torch.zeros(n, self.num_actions, device=dev)
        self._ref_body_pos = torch.zeros_like(self.rigid_body_states[..., 0:3])
        self.dof_err_w = torch.tensor(self.model.dof_err_w, device=dev, dtype=torch.float32)
        self._key_body_ids_motion = self._motion_lib.get_key_body_idx(self.key_body_names)
        self._motion_body_ids = self._motion_body_sim_ids()
        self.keybody_distance_sum = torch.zeros(n, device=dev)  # tracking metric, summed over the episode
        self.motion_difficulty = curriculum.initial_motion_difficulty(self._motion_lib.num_motions(), dev)
        self.mean_motion_difficulty = self.motion_difficulty.mean()
        self._forced_motions = None  # (motion ids, start times) of a `reset_to_motions` in progress
        # Evaluation hook (scripts/eval.py): callable(env) run every step once the terminations are
        # decided, before the resets, so the state that ended an episode can be measured.
        self.pre_reset_callback = None

    def _motion_body_sim_ids(self) -> torch.Tensor:
        """Simulator body index of each motion body (38), in motion-body order."""
        raise NotImplementedError

    # --- references ----------------------------------------------------------------------------
    def _get_motion_times(self) -> torch.Tensor:
        return self.episode_length_buf * self.dt + self._motion_time_offsets

    def _ref_frame(self, motion_ids: torch.Tensor, motion_times: torch.Tensor) -> RefFrame:
        frame = RefFrame(*self._motion_lib.calc_motion_frame(motion_ids, motion_times))
        root_pos = frame.root_pos.clone()
        root_pos[..., 2] += float(self.cfg.motion.height_offset)
        return frame._replace(root_pos=root_pos)

    def _set_ref(self, env_ids: torch.Tensor, frame: RefFrame, origin: torch.Tensor) -> None:
        """Store the reference of `env_ids`, root shifted by `origin` (n, 3); bodies mapped 38 -> sim."""
        root_pos = frame.root_pos + origin
        self._ref_root_pos[env_ids] = root_pos
        self._ref_root_rot[env_ids] = frame.root_rot
        self._ref_root_vel[env_ids] = frame.root_vel
        self._ref_root_ang_vel[env_ids] = frame.root_ang_vel
        self._ref_dof_pos[env_ids] = frame.dof_pos
        self._ref_dof_vel[env_ids] = frame.dof_vel
        local = torch.zeros(len(env_ids), self._ref_body_pos.shape[1], 3, device=self.device)
        local[:, self._motion_body_ids] = frame.local_body_pos
        rot = frame.root_rot.unsqueeze(1).expand(-1, local.shape[1], -1)
        self._ref_body_pos[env_ids] = root_pos.unsqueeze(1) + quat_rotate(rot, local)

    def _update_ref_motion(self) -> None:
        frame = self._ref_frame(self._motion_ids, self._get_motion_times())
        self._set_ref(self.all_env_ids, frame, self.episode_init_origin)

    def _post_physics_step_callback(self) -> None:
        self._update_ref_motion()
        super()._post_physics_step_callback()

    # --- reset ------------------------------------------------------------------------------------
    def reset_idx(self, env_ids: torch.Tensor) -> None:
        if len(env_ids) == 0:
            return
        self._log_episode(env_ids)
        if self.cfg.motion.motion_curriculum:
            self._update_motion_difficulty(env_ids)
        state = self._reset_ref_motion(env_ids)
        self.sim.set_dof_states(env_ids, state.dof_pos, state.dof_vel)
        self.sim.set_root_states(env_ids, state.root_states)
        self.sim.forward()
        # index_fill_ rather than `x[env_ids] = 0`: a Python scalar would be copied to the GPU (a sync).
        for buf in (self.last_actions, self.last_dof_vel, self.feet_air_time, self.action_history_buf,
                    self.episode_length_buf):
            buf.index_fill_(0, env_ids, 0)
        self.reset_buf.index_fill_(0, env_ids, True)

    def reset_to_motions(self, env_ids: torch.Tensor, motion_ids: torch.Tensor, motion_times=None) -> None:
        """Reset `env_ids` to play clips `motion_ids` from `motion_times` (default t = 0) instead of
        sampled ones (evaluation), with the configured reset noise; observations are rebuilt. Later
        resets sample again."""
        if motion_times is None:
            motion_times = torch.zeros(len(env_ids), device=self.device)
        self._forced_motions = (motion_ids.to(self.device), motion_times.to(self.device))
        try:
            self.reset_idx(env_ids)
        finally:
            self._forced_motions = None
        self._compute_base_quantities()
        self.compute_observations()

    def _reset_ref_motion(self, env_ids: torch.Tensor) -> rand.RSIState:
        """Sample clips and start times for `env_ids` (or take those of `reset_to_motions`), store
        their reference, return the RSI state."""
        m = self.cfg.motion
        if self._forced_motions is not None:
            motion_ids, times = self._forced_motions
        else:
            motion_ids = self._motion_lib.sample_motions(len(env_ids), self.motion_difficulty, generator=self._rng)
            if m.rand_reset:
                times = self._motion_lib.sample_time(motion_ids, generator=self._rng)
            else:
                times = torch.zeros(len(env_ids), device=self.device)
        self._motion_ids[env_ids] = motion_ids
        self._motion_time_offsets[env_ids] = times
        frame = self._ref_frame(motion_ids, times)
        state = rand.rsi_state(frame.root_pos, frame.root_rot, frame.root_vel, frame.root_ang_vel, frame.dof_pos,
                               frame.dof_vel, self.env_origins[env_ids], self._rng, tuple(m.reset_dof_pos_range),
                               float(m.reset_vel_factor), float(m.reset_xy_offset), float(m.reset_z_offset))
        self.episode_init_origin[env_ids] = state.init_origin
        self._set_ref(env_ids, frame, state.init_origin)
        return state

    def _log_episode(self, env_ids: torch.Tensor) -> None:
        """extras["episode"]: metric_<term> = mean(sum / clip length), rew_<term> = the same x scale."""
        lengths = self._motion_lib.get_motion_length(self._motion_ids[env_ids])
        metric = (self.episode_sum_buf[env_ids] / lengths.unsqueeze(-1)).mean(dim=0)  # (T,)
        episode = {}
        for name, m, r in zip(self.reward_scales, metric.unbind(), (metric * self.reward_scale_vec).unbind()):
            episode["metric_" + name] = m
            episode["rew_" + name] = r
        # Tracking quality of the finished episodes: fraction of the clip played before the reset, and
        # the mean key-body distance to the reference (m) over the episode's steps.
        steps = self.episode_length_buf[env_ids]
        episode["metric_completion"] = curriculum.motion_completion(steps, lengths, self.dt).mean()
        episode["metric_keybody_distance"] = (self.keybody_distance_sum[env_ids] / steps.clamp_min(1)).mean()
        # Physics health: fraction of the finished episodes in which the contact solver stopped
        # unconverged at its iteration limit at least once (backends that report it).
        solver_hits = self.sim.take_solver_limit_hits(env_ids)
        if solver_hits is not None:
            episode["metric_solver_iteration_limit"] = solver_hits.float().mean()
        self.episode_sum_buf.index_fill_(0, env_ids, 0.0)
        self.keybody_distance_sum.index_fill_(0, env_ids, 0.0)
        self.extras["episode"] = episode

    def _update_motion_difficulty(self, env_ids: torch.Tensor) -> None:
        ids = self._motion_ids[env_ids]
        completion = curriculum.motion_completion(self.episode_length_buf[env_ids],
                                                  self._motion_lib.get_motion_length(ids), self.dt)
        self.motion_difficulty = curriculum.update_motion_difficulty(
            self.motion_difficulty, ids, completion, float(self.cfg.motion.motion_curriculum_gamma))
        self.mean_motion_difficulty = self.motion_difficulty.mean()

    # --- terminations ---------------------------------------------------------------------------
    def check_termination(self) -> None:
        t = self.cfg.termination
        self.reset_buf, self.time_out_buf = terminations.check_termination(
            self.contact_forces[:, self.termination_contact_indices], self.root_states[:, 0:3], self.base_quat,
            self.root_states[:, 7:10], self._key_body_pos(), self._ref_root_pos, self._ref_root_rot,
            self._ref_key_body_pos(), self.episode_length_buf,
            self._motion_lib.get_motion_length(self._motion_ids), self.max_episode_length, self.dt,
            motion_end_terminates=self.headless, pose_termination=bool(t.pose_termination),
            contact_threshold=t.torso_contact_force, roll_limit=t.termination_roll,
            pitch_limit=t.termination_pitch, height_threshold=t.root_height_diff_threshold,
            max_root_speed=t.max_root_vel, pose_dist=t.pose_termination_dist)
        if self.pre_reset_callback is not None:
            self.pre_reset_callback(self)

    # --- rewards (thin hooks over mdp.rewards) ----------------------------------------------------
    def _key_body_pos(self) -> torch.Tensor:
        return self.rigid_body_states[:, self._key_body_ids, 0:3]

    def _ref_key_body_pos(self) -> torch.Tensor:
        return self._ref_body_pos[:, self._key_body_ids]

    def _reward_tracking_joint_dof(self):
        return rewards.tracking_joint_dof(self.dof_pos, self._ref_dof_pos, self.dof_err_w)

    def _reward_tracking_joint_vel(self):
        return rewards.tracking_joint_vel(self.dof_vel, self._ref_dof_vel, self.dof_err_w)

    def _reward_tracking_root_pose(self):
        return rewards.tracking_root_pose(self.root_states[:, 0:3], self.base_quat, self._ref_root_pos, self._ref_root_rot)

    def _reward_tracking_root_vel(self):
        return rewards.tracking_root_vel(self.base_lin_vel, self.base_ang_vel, self._ref_root_rot,
                                         self._ref_root_vel, self._ref_root_ang_vel)

    def compute_reward(self) -> None:
        super().compute_reward()
        self.keybody_distance_sum += rewards.mean_keybody_distance(
            self._key_body_pos(), self.root_states[:, 0:3], self.base_quat, self._ref_key_body_pos(),
            self._ref_root_pos, self._ref_root_rot)

    def _reward_tracking_keybody_pos(self):
        return rewards.tracking_keybody_pos(self._key_body_pos(), self.root_states[:, 0:3], self.base_quat,
                                            self._ref_key_body_pos(), self._ref_root_pos, self._ref_root_rot)

    def _reward_feet_air_time(self):
        """Updates the air-time state; its contact memory replaces the 2 N one (SPEC 5.3 quirk)."""
        rew, self.feet_air_time, self.last_contacts = rewards.feet_air_time(
            self._feet_contact_forces(), self._ref_root_vel, self.feet_air_time, self.last_contacts, self.dt,
            float(self.cfg.rewards.feet_air_time_target))
        return rew
