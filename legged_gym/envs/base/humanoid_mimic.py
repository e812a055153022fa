"""HumanoidMimic: motion tracking against MotionLib references (docs/rewards_and_terminations.md).

- References: each env plays clip `_motion_ids` from `_motion_time_offsets`; every step the
  reference state of all envs is evaluated at t = episode_length * dt + offset and shifted by the
  episode's xy origin (`episode_init_origin`, drawn at reset), so the reference starts where the
  robot starts.
- Reset (reference-state initialisation): sample clip ~ weight x difficulty and start time, set the robot to the
  noised reference state, then recompute kinematics (docs/decisions.md D6: no extra physics substep).
  Start times are uniform over the clip (TWIST), or with `cfg.motion.adaptive_sampling` drawn more
  often shortly before where episodes fail (`mdp.adaptive_sampling`; with `cfg.motion.adaptive_drift_m`
  also where they first drift that far from the reference root).
- Episode length: in headless training the longest clip (episodes end at motion end or failure).
- Terminations `mdp.terminations.check_termination`; reward terms `reward_terms` (over
  `mdp.rewards`); motion difficulty `mdp.curriculum`.
- Drift feedback (`cfg.motion.ref_correction`, off by default): the reference root velocity that the
  observations and the root-velocity reward use is steered towards the reference root
  (`ref_root_vel_target`, `mdp.drift_feedback`). With `cfg.motion.student_ref_correction` the
  student's block gets it too, from the simulator's position or, with `cfg.motion.student_odometry =
  "estimate"`, from a position integrated from a velocity estimate given every step through
  `advance_odometry` (`mdp.odometry`; scripts/eval.py does).
- Evaluation (scripts/eval.py): `reset_to_motions` starts given clips at given times (default 0);
  `pre_reset_callback(env)`, when set, runs every step between the terminations and the resets.
"""

from __future__ import annotations

import math
from typing import Any, Dict, NamedTuple, Optional, Tuple

import torch

from legged_gym.envs.base.humanoid_char import HumanoidChar
from legged_gym.envs.mdp import curriculum, metrics, odometry, rewards, terminations
from legged_gym.envs.mdp.adaptive_sampling import AdaptiveStartSampler
from legged_gym.envs.mdp.drift_feedback import drift_feedback
from legged_gym.envs.mdp import randomization as rand
from pose.utils.motion_lib_pkl import MotionLib


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
            print(
                "motion.motion_file not set: the embedded motion set ({}; generated clips, no download); "
                "--motion_file names a clip or a TWIST manifest such as twist_dataset.yaml".format(motion_file)
            )
        return MotionLib(motion_file, device=device, smooth_window=cfg.motion.vel_smooth_window)

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
        # Tracking metrics summed over each episode's steps, logged as their per-step mean at the reset
        # (extras["episode"]["metric_<name>"]); subclasses add theirs.
        self.episode_metric_sums = {
            "keybody_distance": torch.zeros(n, device=dev),
            "root_drift": torch.zeros(n, device=dev),
        }
        self.keybody_distance_sum = self.episode_metric_sums["keybody_distance"]
        self.motion_difficulty = curriculum.initial_motion_difficulty(self._motion_lib.num_motions(), dev)
        self.mean_motion_difficulty = self.motion_difficulty.mean()
        # the drift limit of termination.max_root_drift_curriculum (m; a device scalar, set every step)
        drift_curriculum = self.cfg.termination.max_root_drift_curriculum
        self.root_drift_limit: Optional[torch.Tensor] = None
        if drift_curriculum is not None:
            if len(drift_curriculum) != 2 or float(self.cfg.termination.max_root_drift) <= 0:
                raise ValueError(
                    "termination.max_root_drift_curriculum must be [start m, steps] with termination.max_root_drift "
                    "> 0 (the final limit), got {!r} and {!r}".format(
                        drift_curriculum, self.cfg.termination.max_root_drift
                    )
                )
            self.root_drift_limit = torch.full((), float(drift_curriculum[0]), device=dev)
        # (motion ids, start times) of a `reset_to_motions` in progress
        self._forced_motions: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        m = self.cfg.motion
        self._start_sampler = None
        self._adaptive_drift_m = float(m.adaptive_drift_m)
        if self._adaptive_drift_m > 0 and not m.adaptive_sampling:
            raise ValueError(
                "motion.adaptive_drift_m = {} counts drifts for the adaptive start times: it needs "
                "motion.adaptive_sampling = true".format(m.adaptive_drift_m)
            )
        # motion.adaptive_drift_m: whether the episode's drift has been counted for the sampler yet
        self._drift_counted = torch.zeros(n, dtype=torch.bool, device=dev)
        if m.adaptive_sampling:
            self._start_sampler = AdaptiveStartSampler(
                self._motion_lib.get_motion_length(),
                float(m.adaptive_bin_s),
                float(m.adaptive_uniform_ratio),
                float(m.adaptive_alpha),
                int(m.adaptive_kernel_size),
                float(m.adaptive_kernel_decay),
            )
        self._keybody_delta_cache = None  # type: Optional[torch.Tensor]
        # motion.student_odometry = "estimate": the robots' xy dead-reckoned from the velocity estimates
        # given to advance_odometry (set to the robot's xy at each reset); _odometry_advanced: given this step
        self._odometry_from_estimate = odometry.from_estimate(self.cfg.motion)
        self._odometry_xy = torch.zeros(n, 2, device=dev)
        self._odometry_advanced = False
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

    def _ref_buffers(self):
        return (
            self._ref_root_pos,
            self._ref_root_rot,
            self._ref_root_vel,
            self._ref_root_ang_vel,
            self._ref_dof_pos,
            self._ref_dof_vel,
            self._ref_body_pos,
        )

    def _ref_values(self, frame: RefFrame, origin: torch.Tensor):
        """The values `_set_ref` stores for `frame` (n rows), in `_ref_buffers` order."""
        root_pos = frame.root_pos + origin
        local = torch.zeros(root_pos.shape[0], self._ref_body_pos.shape[1], 3, device=self.device)
        local[:, self._motion_body_ids] = frame.local_body_pos
        body_pos = metrics.from_root_frame(local, root_pos, frame.root_rot)
        return (root_pos, frame.root_rot, frame.root_vel, frame.root_ang_vel, frame.dof_pos, frame.dof_vel, body_pos)

    def _set_ref(self, env_ids: torch.Tensor, frame: RefFrame, origin: torch.Tensor) -> None:
        """Store the reference of `env_ids`, root shifted by `origin` (n, 3); bodies mapped 38 -> sim."""
        for buf, value in zip(self._ref_buffers(), self._ref_values(frame, origin)):
            buf[env_ids] = value

    def _set_ref_where(self, mask: torch.Tensor, frame: RefFrame, origin: torch.Tensor) -> None:
        """`_set_ref` of all envs' rows of `frame`, kept where `mask` (N,) is True."""
        for buf, value in zip(self._ref_buffers(), self._ref_values(frame, origin)):
            buf.copy_(torch.where(mask.view((-1,) + (1,) * (buf.dim() - 1)), value, buf))

    def _ref_drift_feedback(
        self, root_pos: Optional[torch.Tensor] = None
    ) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """(linear, angular) (N, 3) world-frame velocities that `motion.ref_correction` adds to the
        reference root velocities at the current state (`mdp.drift_feedback`), or None when its gains are 0.
        root_pos (N, 2 or 3): the robot's position to steer from (default: the simulator's)."""
        c = self.cfg.motion.ref_correction
        if float(c.pos_gain) == 0.0 and float(c.yaw_gain) == 0.0:
            return None
        return drift_feedback(
            self._ref_root_pos,
            self._ref_root_rot,
            self.root_states[:, 0:3] if root_pos is None else root_pos,
            self.base_quat,
            float(c.pos_gain),
            float(c.yaw_gain),
            float(c.max_speed),
            float(c.max_yaw_rate),
            float(c.full_speed),
            self._ref_root_vel,
        )

    def student_drift_feedback(self) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """The drift feedback of the student's reference block (`motion.student_ref_correction`), or None:
        from the simulator's position, or with `motion.student_odometry = "estimate"` from the odometry's."""
        if not self.cfg.motion.student_ref_correction:
            return None
        return self._ref_drift_feedback(self._odometry_xy if self._odometry_from_estimate else None)

    def advance_odometry(self, base_lin_vel: torch.Tensor) -> None:
        """Dead-reckon every robot's xy over the coming step from its estimated base-frame velocity
        (N, 3) and the current orientation (`mdp.odometry.integrate_xy`): call before each `step` with
        `motion.student_odometry = "estimate"` (scripts/eval.py does)."""
        if base_lin_vel.shape != (self.num_envs, 3):
            raise ValueError(
                "advance_odometry: base_lin_vel of shape {}, expected ({}, 3)".format(
                    tuple(base_lin_vel.shape), self.num_envs
                )
            )
        moved = odometry.integrate_xy(self._odometry_xy, self.base_quat, base_lin_vel.to(self.device), self.dt)
        self._odometry_xy.copy_(moved)  # in place: callable under torch.inference_mode
        self._odometry_advanced = True

    def odometry_error(self) -> torch.Tensor:
        """(N,) m: how far the dead-reckoned xy (`advance_odometry`) lies from the simulator's root xy now."""
        return torch.linalg.norm(self._odometry_xy - self.root_states[:, 0:2], dim=-1)

    def ref_root_vel_target(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The reference root (linear, angular) world velocities the robot should follow: the clip's,
        plus the drift feedback when `motion.ref_correction` is on."""
        feedback = self._ref_drift_feedback()
        if feedback is None:
            return self._ref_root_vel, self._ref_root_ang_vel
        return self._ref_root_vel + feedback[0], self._ref_root_ang_vel + feedback[1]

    def _update_ref_motion(self) -> None:
        frame = self._ref_frame(self._motion_ids, self._get_motion_times())
        for buf, value in zip(self._ref_buffers(), self._ref_values(frame, self.episode_init_origin)):
            buf.copy_(value)

    def _post_physics_step_callback(self) -> None:
        if self._odometry_from_estimate:
            if not self._odometry_advanced:
                raise RuntimeError(
                    'motion.student_odometry = "estimate": call env.advance_odometry(base velocity estimate) '
                    "before every step (legged_gym/scripts/eval.py does)"
                )
            self._odometry_advanced = False
        self._update_ref_motion()
        if self.root_drift_limit is not None:  # on the host, outside the compiled terminations
            t = self.cfg.termination
            start, steps = t.max_root_drift_curriculum
            value = curriculum.root_drift_limit(self.common_step_counter, start, t.max_root_drift, steps)
            self.root_drift_limit.fill_(value)
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
        self._odometry_xy[env_ids] = state.root_states[:, 0:2]  # the odometry starts where the robot does
        # index_fill_ rather than `x[env_ids] = 0`: a Python scalar would be copied to the GPU (a sync).
        for buf in self._episode_buffers():
            buf.index_fill_(0, env_ids, 0)
        self.reset_buf.index_fill_(0, env_ids, True)

    def _episode_buffers(self) -> Tuple[torch.Tensor, ...]:
        """The per-env buffers a reset zeroes (reset_idx, reset_where)."""
        return (
            self.last_actions,
            self.last_dof_vel,
            self.feet_air_time,
            self.action_history_buf,
            self.episode_length_buf,
            self._drift_counted,
        )

    def reset_where(self, mask: torch.Tensor) -> None:
        """reset_idx of the envs where `mask` (N,) bool is True, with no index list: every step draws
        and evaluates the reset state of all envs and keeps it where the mask is set, so nothing is
        read back to the host. The same draws, states and references as reset_idx(mask.nonzero());
        extras["episode"] is set at every step (NaN values on a step that resets no env)."""
        self._log_episode_where(mask)
        if self.cfg.motion.motion_curriculum:
            self._update_motion_difficulty_where(mask)
        state = self._reset_ref_motion_where(mask)
        self.sim.set_states_where(mask, state.root_states, state.dof_pos, state.dof_vel)
        self.sim.forward()
        self._odometry_xy.copy_(torch.where(mask.unsqueeze(-1), state.root_states[:, 0:2], self._odometry_xy))
        for buf in self._episode_buffers():
            buf.masked_fill_(mask.view((-1,) + (1,) * (buf.dim() - 1)), 0)

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

    def _reset_draws(self, sample_motions: bool = True):
        """The random draws of one reset, made for all N envs whatever the number resetting (so a
        reset by index list and one by mask use the generator alike): (clip ids, start times) or
        None, then the RSI draws (xy shift, DOF scale)."""
        m = self.cfg.motion
        clips = None
        if sample_motions:
            ids = self._motion_lib.sample_motions(self.num_envs, self.motion_difficulty, generator=self._rng)
            if m.rand_reset and self._start_sampler is not None:
                times = self._start_sampler.sample_time(ids, generator=self._rng)
            elif m.rand_reset:
                times = self._motion_lib.sample_time(ids, generator=self._rng)
            else:
                times = torch.zeros(self.num_envs, device=self.device)
            clips = (ids, times)
        xy, scale = rand.rsi_draws(
            self.num_envs,
            self.num_actions,
            self._rng,
            tuple(m.reset_dof_pos_range),
            float(m.reset_xy_offset),
            self.device,
        )
        return clips, xy, scale

    def _skip_reset_draws(self) -> None:
        self._reset_draws()

    def _rsi_state(
        self, frame: RefFrame, env_origins: torch.Tensor, xy: torch.Tensor, scale: torch.Tensor
    ) -> rand.RSIState:
        m = self.cfg.motion
        return rand.rsi_state(
            frame.root_pos,
            frame.root_rot,
            frame.root_vel,
            frame.root_ang_vel,
            frame.dof_pos,
            frame.dof_vel,
            env_origins,
            self._rng,
            tuple(m.reset_dof_pos_range),
            float(m.reset_vel_factor),
            float(m.reset_xy_offset),
            float(m.reset_z_offset),
            xy_noise=xy,
            dof_scale=scale,
        )

    def _reset_ref_motion(self, env_ids: torch.Tensor) -> rand.RSIState:
        """Sample clips and start times for `env_ids` (or take those of `reset_to_motions`), store
        their reference, return the RSI state."""
        clips, xy, scale = self._reset_draws(sample_motions=self._forced_motions is None)
        if self._forced_motions is not None:
            motion_ids, times = self._forced_motions
        else:
            motion_ids, times = clips[0][env_ids], clips[1][env_ids]
        self._motion_ids[env_ids] = motion_ids
        self._motion_time_offsets[env_ids] = times
        frame = self._ref_frame(motion_ids, times)
        state = self._rsi_state(frame, self.env_origins[env_ids], xy[env_ids], scale[env_ids])
        self.episode_init_origin[env_ids] = state.init_origin
        self._set_ref(env_ids, frame, state.init_origin)
        return state

    def _reset_ref_motion_where(self, mask: torch.Tensor) -> rand.RSIState:
        """`_reset_ref_motion` for all envs, stored where `mask` is True; the RSI state of all envs."""
        (motion_ids, times), xy, scale = self._reset_draws()
        col = mask.view(-1, 1)
        self._motion_ids.copy_(torch.where(mask, motion_ids, self._motion_ids))
        self._motion_time_offsets.copy_(torch.where(mask, times, self._motion_time_offsets))
        frame = self._ref_frame(motion_ids, times)
        state = self._rsi_state(frame, self.env_origins, xy, scale)
        self.episode_init_origin.copy_(torch.where(col, state.init_origin, self.episode_init_origin))
        self._set_ref_where(mask, frame, state.init_origin)
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
        # the per-step means of the episode metrics (the key-body distance to the reference, m, ...).
        steps = self.episode_length_buf[env_ids]
        episode["metric_completion"] = curriculum.motion_completion(steps, lengths, self.dt).mean()
        for name, sums in self.episode_metric_sums.items():
            episode["metric_" + name] = (sums[env_ids] / steps.clamp_min(1)).mean()
        # Physics health: fraction of the finished episodes in which the contact solver stopped
        # unconverged at its iteration limit at least once (backends that report it).
        solver_hits = self.sim.take_solver_limit_hits(env_ids)
        if solver_hits is not None:
            episode["metric_solver_iteration_limit"] = solver_hits.float().mean()
        self.episode_sum_buf.index_fill_(0, env_ids, 0.0)
        for sums in self.episode_metric_sums.values():
            sums.index_fill_(0, env_ids, 0.0)
        self.extras["episode"] = episode

    def _log_episode_where(self, mask: torch.Tensor) -> None:
        """`_log_episode` of the envs where `mask` is True, as masked means over all envs (NaN when
        none resets)."""
        lengths = self._motion_lib.get_motion_length(self._motion_ids)
        steps = self.episode_length_buf
        columns = [
            self.episode_sum_buf / lengths.unsqueeze(-1),
            curriculum.motion_completion(steps, lengths, self.dt).unsqueeze(-1),
        ]
        columns += [(sums / steps.clamp_min(1)).unsqueeze(-1) for sums in self.episode_metric_sums.values()]
        solver_hits = self.sim.take_solver_limit_hits_where(mask)
        if solver_hits is not None:
            columns.append(solver_hits.to(torch.float32).unsqueeze(-1))
        rows = torch.cat(columns, dim=-1)
        count = mask.sum().to(rows.dtype)
        means = torch.where(mask.unsqueeze(-1), rows, torch.zeros_like(rows)).sum(dim=0) / count
        num_terms = len(self.reward_scales)
        metric = means[:num_terms]
        episode = {}
        for name, m, r in zip(self.reward_scales, metric.unbind(), (metric * self.reward_scale_vec).unbind()):
            episode["metric_" + name] = m
            episode["rew_" + name] = r
        episode["metric_completion"] = means[num_terms]
        for i, name in enumerate(self.episode_metric_sums, start=num_terms + 1):
            episode["metric_" + name] = means[i]
        if solver_hits is not None:
            episode["metric_solver_iteration_limit"] = means[-1]
        self.episode_sum_buf.masked_fill_(mask.unsqueeze(-1), 0.0)
        for sums in self.episode_metric_sums.values():
            sums.masked_fill_(mask, 0.0)
        self.extras["episode"] = episode

    def _clip_start_times(self) -> Optional[torch.Tensor]:
        """Each episode's start time in its clip where an episode ends at its clip's end
        (`termination.motion_end_at_clip_end`), else None (TWIST: it ends after the clip's length of play)."""
        return self._motion_time_offsets if self.cfg.termination.motion_end_at_clip_end else None

    def _update_motion_difficulty_where(self, mask: torch.Tensor) -> None:
        completion = curriculum.motion_completion(
            self.episode_length_buf,
            self._motion_lib.get_motion_length(self._motion_ids),
            self.dt,
            self._clip_start_times(),
        )
        self.motion_difficulty = curriculum.update_motion_difficulty(
            self.motion_difficulty,
            self._motion_ids,
            completion,
            float(self.cfg.motion.motion_curriculum_gamma),
            valid=mask,
        )
        self.mean_motion_difficulty = self.motion_difficulty.mean()

    def _update_motion_difficulty(self, env_ids: torch.Tensor) -> None:
        ids = self._motion_ids[env_ids]
        start_times = self._clip_start_times()
        completion = curriculum.motion_completion(
            self.episode_length_buf[env_ids],
            self._motion_lib.get_motion_length(ids),
            self.dt,
            None if start_times is None else start_times[env_ids],
        )
        self.motion_difficulty = curriculum.update_motion_difficulty(
            self.motion_difficulty, ids, completion, float(self.cfg.motion.motion_curriculum_gamma)
        )
        self.mean_motion_difficulty = self.motion_difficulty.mean()

    # --- terminations ---------------------------------------------------------------------------
    def _failure_inputs(self) -> Dict[str, Any]:
        """The state and thresholds of `terminations.failures` (keyword arguments) at the current step."""
        t = self.cfg.termination
        return dict(
            torso_contact_forces=self.contact_forces[:, self.termination_contact_indices],
            root_pos=self.root_states[:, 0:3],
            root_quat=self.base_quat,
            root_lin_vel=self.root_states[:, 7:10],
            key_body_pos=self._key_body_pos(),
            ref_root_pos=self._ref_root_pos,
            ref_root_quat=self._ref_root_rot,
            ref_key_body_pos=self._ref_key_body_pos(),
            pose_termination=bool(t.pose_termination),
            contact_threshold=t.torso_contact_force,
            roll_limit=t.termination_roll,
            pitch_limit=t.termination_pitch,
            height_threshold=t.root_height_diff_threshold,
            max_root_speed=t.max_root_vel,
            pose_dist=t.pose_termination_dist,
            max_root_drift=t.max_root_drift if self.root_drift_limit is None else self.root_drift_limit,
        )

    def failure_causes(self) -> Dict[str, torch.Tensor]:
        """{cause: (N,) bool} of the failure terms that are on, at the current state (eval.py reads
        them every step to name what ended each episode; `terminations.FAILURE_CAUSES`)."""
        return terminations.failures(**self._failure_inputs())

    def check_termination(self) -> None:
        self.reset_buf, self.time_out_buf = terminations.check_termination(
            episode_length=self.episode_length_buf,
            motion_length=self._motion_lib.get_motion_length(self._motion_ids),
            max_episode_length=self.max_episode_length,
            dt=self.dt,
            motion_end_terminates=self.headless,
            motion_start_time=self._clip_start_times(),
            **self._failure_inputs(),
        )
        if self._start_sampler is not None:
            failed = self.reset_buf & ~self.time_out_buf
            if self._adaptive_drift_m > 0:  # a drift beyond it counts once per episode, when it first happens
                drifted = metrics.root_drift(self.root_states[:, 0:3], self._ref_root_pos) > self._adaptive_drift_m
                drifted &= ~self._drift_counted
                self._drift_counted |= drifted
                failed = failed | drifted
            self._start_sampler.update(self._motion_ids, self._get_motion_times(), failed)
        if self.pre_reset_callback is not None:
            self.pre_reset_callback(self)

    # --- state the reward terms read (legged_gym/envs/base/reward_terms.py) ---------------------------
    def _key_body_pos(self) -> torch.Tensor:
        return self.rigid_body_states[:, self._key_body_ids, 0:3]

    def _ref_key_body_pos(self) -> torch.Tensor:
        return self._ref_body_pos[:, self._key_body_ids]

    def _keybody_delta(self) -> torch.Tensor:
        """rewards.keybody_delta of this step (computed once per compute_reward, shared)."""
        if self._keybody_delta_cache is None:
            return rewards.keybody_delta(
                self._key_body_pos(),
                self.root_states[:, 0:3],
                self.base_quat,
                self._ref_key_body_pos(),
                self._ref_root_pos,
                self._ref_root_rot,
            )
        return self._keybody_delta_cache

    def compute_reward(self) -> None:
        self._keybody_delta_cache = None
        self._keybody_delta_cache = self._keybody_delta()
        try:
            super().compute_reward()
            # rewards.mean_keybody_distance of the shared delta
            self.keybody_distance_sum += self._keybody_delta_cache.norm(dim=-1).mean(dim=-1)
            # how far the robot lags or leads the reference (horizontal, m): the world-frame drift
            self.episode_metric_sums["root_drift"] += metrics.root_drift(self.root_states[:, 0:3], self._ref_root_pos)
        finally:
            self._keybody_delta_cache = None
