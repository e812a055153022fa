"""G1MimicCMG: G1MimicDistill tracking references that the CMG generates from velocity commands
(tasks `g1_cmg_{slow,medium,fast}` and `g1_stu_rl_cmg_{slow,medium,fast}`; README, "CMG training";
docs/motion_data.md, CMG motion library; docs/rewards_and_terminations.md, CMG tasks).

What changes against G1MimicDistill (observations, terminations and the other rewards are the same):

- the motion library is a `pose.utils.cmg_motion_lib.CMGMotionLib` (settings `cfg.motion.cmg_*`,
  commands `cfg.commands`); env i plays its own generated timeline ("motion" i), which starts at
  every reset (frame 0) and advances one frame per env step (`CMGMotionLib.step`, before the
  reference update); the motion time is the library's clock, so the runner's random initial episode
  lengths only move the time-outs. Episodes last `env.episode_length_s` (10 s).
- resets draw new episodes from the library (commands, mirroring, optional command switch) before
  the reference-state initialisation at frame 0; by index list or by mask alike. `reset_to_commands`
  (scripts/eval.py) starts episodes that follow given commands instead (`reset_to_motions` has no clips
  to play here).
- rewards (the CMG term table of `g1_mimic_cmg_config`, built by `legged_gym/envs/base/reward_terms.py`):
  `tracking_keybody_pos` over the lower key bodies (ankles, knees) and `tracking_keybody_pos_upper`
  over hands, elbows and head (zero with `rewards.lower_body_only_tracking`); `tracking_cmd_vel` /
  `tracking_cmd_yaw` against the library's current commands (`get_commands`); `action_symmetry`;
  `total_angular_momentum` over all bodies (`_body_mass`: the facts table's masses, plus the
  randomised pelvis mass).
- episode metrics (extras["episode"], TensorBoard `Episode_rew_metrics/`): besides the key-body
  distance, `metric_cmd_vel_error` (mean |command - pelvis velocity| over the episode's steps, m/s,
  `mdp.metrics.command_velocity_error`; includes the pelvis's within-stride oscillation),
  `metric_cmd_mean_vel_error` (|mean over the episode's steps of command - heading-frame pelvis
  velocity|, m/s, `mdp.metrics.heading_frame_velocity`: how far the speed travelled at is from the
  commanded one), `metric_cmd_mean_yaw_rate_error` (|mean over the episode's steps of command yaw
  rate - pelvis yaw rate|, rad/s: how far the robot's turning is from the commanded one; both summed
  per env in `cmd_vel_residual_sum` (N, 3)) and `metric_cmd_speed` (mean
  commanded speed |(vx, vy)|); the velocity errors over it are relative to the commanded speed.
- CMG students start their step counters at 0 (observation noise ramps in, action delay starts at
  its onset), as in the CMG forks of TWIST, instead of the mocap student's 2.4 M preset.
"""

from __future__ import annotations

from typing import Dict, Optional, cast

import torch

from legged_gym.envs.g1.g1_mimic_distill import G1MimicDistill
from legged_gym.envs.mdp import metrics
from pose.g1_model import load_g1
from pose.utils.cmg_motion_lib import CMGMotionLib, CommandSwitch


def cmg_motion_lib(cfg, device) -> CMGMotionLib:
    """The CMGMotionLib of an env config (`cfg.motion.cmg_*`, `cfg.commands`, `cfg.env`)."""
    m, c, env = cfg.motion, cfg.commands, cfg.env
    t0, t1 = (float(v) for v in c.cmd_switch_time_range_s)
    dx, dy, dz = (float(v) for v in c.cmd_switch_min_delta)
    switch = CommandSwitch(enabled=bool(c.enable_cmd_switch), time_range_s=(t0, t1), min_delta=(dx, dy, dz))
    return CMGMotionLib(
        m.cmg_model,
        num_envs=int(env.num_envs),
        device=device,
        episode_length_s=float(env.episode_length_s),
        dt=float(m.cmg_dt),
        command_ranges=(c.lin_vel_x, c.lin_vel_y, c.ang_vel_yaw),
        horizon=max(int(s) for s in env.tar_obs_steps),
        key_bodies=m.key_bodies,
        height=float(m.cmg_height),
        height_from_fk=bool(m.cmg_height_from_fk),
        mirror_prob=float(m.cmg_mirror_prob),
        command_switch=switch,
        pool_size=int(m.cmg_pool_size),
        pool_refresh_steps=int(m.cmg_pool_refresh_steps),
        warmup_steps=int(m.cmg_warmup_steps),
        seed=int(cfg.seed) + CMG_SEED_OFFSET,
        cuda_graph=bool(getattr(m, "cmg_cuda_graph", True)),
        chunk=int(m.cmg_chunk),
        tf32=bool(m.cmg_tf32),
        foot_lock=bool(m.cmg_foot_lock),
    )


#: The library's generator is seeded with the env seed plus this (not the env generator's stream).
CMG_SEED_OFFSET = 7919


class G1MimicCMG(G1MimicDistill):
    @staticmethod
    def _load_motions(cfg, device):
        return cmg_motion_lib(cfg, device)

    @property
    def cmg(self) -> CMGMotionLib:
        """The motion library (`_motion_lib`), a CMGMotionLib."""
        return cast(CMGMotionLib, self._motion_lib)

    def _init_buffers(self) -> None:
        super()._init_buffers()
        self._motion_ids = torch.arange(self.num_envs, device=self.device)
        g1 = load_g1()
        # body masses of total_angular_momentum
        masses = torch.tensor([g1.body(b).mass for b in self.sim.body_names], device=self.device)
        self._body_mass = masses.unsqueeze(0).repeat(self.num_envs, 1)
        pelvis = list(self.sim.body_names).index(self._mass_body)
        self._body_mass[:, pelvis] += self.mass_params_tensor[:, 0]  # the randomised added mass (0 when off)
        if self.obs_type == "student":
            self.global_counter = self.total_env_steps_counter = 0
        for name in ("cmd_vel_error", "cmd_speed"):
            self.episode_metric_sums[name] = torch.zeros(self.num_envs, device=self.device)
        # (N, 3) episode sums of command (vx, vy) - heading-frame velocity and of command yaw rate - pelvis
        # yaw rate: metric_cmd_mean_vel_error and metric_cmd_mean_yaw_rate_error
        self.cmd_vel_residual_sum = torch.zeros(self.num_envs, 3, device=self.device)
        # (n, 3) commands of a `reset_to_commands` in progress
        self._forced_commands: Optional[torch.Tensor] = None

    def compute_reward(self) -> None:
        super().compute_reward()
        commands = self.get_commands()
        self.episode_metric_sums["cmd_vel_error"] += metrics.command_velocity_error(commands, self.base_lin_vel)
        self.episode_metric_sums["cmd_speed"] += torch.norm(commands[:, :2], dim=-1)
        # from base_lin_vel, not root_states: a push written this step is left out, as in the other metrics
        self.cmd_vel_residual_sum += metrics.command_residual(
            commands, self.base_quat, self.base_lin_vel, self.base_ang_vel
        )

    # --- episode metrics ------------------------------------------------------------------------
    def _mean_residual_errors(self, residual_sum: torch.Tensor, steps: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The episode-mean command errors (n,) of residual sums (n, 3) over `steps` (n,) steps."""
        vel, yaw_rate = metrics.mean_command_errors(residual_sum, steps)
        return {"metric_cmd_mean_vel_error": vel, "metric_cmd_mean_yaw_rate_error": yaw_rate}

    def _log_episode(self, env_ids: torch.Tensor) -> None:
        """The base's, plus the episode-mean command errors, averaged over the envs `env_ids`."""
        errors = self._mean_residual_errors(self.cmd_vel_residual_sum[env_ids], self.episode_length_buf[env_ids])
        super()._log_episode(env_ids)
        self.extras["episode"].update({name: e.mean() for name, e in errors.items()})
        self.cmd_vel_residual_sum.index_fill_(0, env_ids, 0.0)

    def _log_episode_where(self, mask: torch.Tensor) -> None:
        """`_log_episode` by mask: masked means over the envs (NaN when none resets, as the base's)."""
        errors = self._mean_residual_errors(self.cmd_vel_residual_sum, self.episode_length_buf)
        count = mask.sum().to(torch.float32)
        super()._log_episode_where(mask)
        self.extras["episode"].update(
            {name: torch.where(mask, e, torch.zeros_like(e)).sum() / count for name, e in errors.items()}
        )
        self.cmd_vel_residual_sum.masked_fill_(mask.unsqueeze(-1), 0.0)

    # --- references ----------------------------------------------------------------------------
    def _get_motion_times(self) -> torch.Tensor:
        return self.cmg.motion_times()

    def _post_physics_step_callback(self) -> None:
        self.cmg.step()
        super()._post_physics_step_callback()

    def reset_to_commands(self, env_ids: torch.Tensor, commands: torch.Tensor) -> None:
        """Reset `env_ids` to new episodes, at frame 0, whose references follow `commands` (n, 3) =
        (vx, vy, wz) (evaluation), with the configured reset noise; observations are rebuilt.

        The episodes are deterministic: not mirrored and without a command switch, whatever
        `motion.cmg_mirror_prob` and `commands.enable_cmd_switch` (`CMGMotionLib.reset` with commands).
        As with `reset_to_motions`, the commands hold for this reset only: it goes by index list
        whatever `sync_free_resets`, and these envs' later episodes, by index list or by mask, draw
        from the library's pool again."""
        self._forced_commands = torch.as_tensor(commands, device=self.device, dtype=torch.float32).reshape(-1, 3)
        try:
            self.reset_idx(env_ids)
        finally:
            self._forced_commands = None
        self._compute_base_quantities()
        self.compute_observations()

    def _reset_ref_motion(self, env_ids: torch.Tensor):
        if self._forced_motions is not None:
            raise ValueError("CMG tasks generate their references: there are no clips to reset to (reset_to_commands)")
        self.cmg.reset(env_ids, commands=self._forced_commands)  # None: the pool's next episodes
        return super()._reset_ref_motion(env_ids)  # frame 0 of the new episodes (rand_reset is off)

    def _reset_ref_motion_where(self, mask: torch.Tensor):
        self.cmg.reset_where(mask)
        _, xy, scale = self._reset_draws()
        # every env reads its own current frame: frame 0 for the new episodes (kept), the others' are discarded
        frame = self._ref_frame(self._motion_ids, self._get_motion_times())
        state = self._rsi_state(frame, self.env_origins, xy, scale)
        self.episode_init_origin.copy_(torch.where(mask.view(-1, 1), state.init_origin, self.episode_init_origin))
        self._set_ref_where(mask, frame, state.init_origin)
        return state

    def get_commands(self) -> torch.Tensor:
        """(N, 3) the command (vx, vy, wz) each env's reference follows now."""
        return self.cmg.get_commands()
