"""G1MimicDistill: the G1 teacher/student environment (tasks `g1_priv_mimic`, `g1_stu_rl`).

Adds to HumanoidMimic the G1 specifics: the motion bodies (38) mapped to simulator bodies (52) by
name, the teacher (1318) and student (1155) observations built with `mdp.observations`, the
student's 10-frame history, privileged info, and TWIST's student counter
pre-set (full observation noise and action delay from the first step; docs/decisions.md K4).
The observation layout (`mdp.layout.ObsLayout`) is made from the config and checked against its sizes
before anything is built; the builders, the noise vector and the history take their sizes from it.
"""

from __future__ import annotations

from typing import Optional

import torch

from legged_gym.envs.base.humanoid_mimic import HumanoidMimic
from legged_gym.envs.mdp import observations as obs_terms
from legged_gym.envs.mdp import odometry
from legged_gym.envs.mdp import symmetry
from legged_gym.envs.mdp.layout import OBS_TYPES, ObsLayout
from pose.g1_model import load_g1


def obs_dims_of(cfg) -> ObsLayout:
    """The observation layout a config asks for (key bodies: cfg or the facts table)."""
    env = cfg.env
    key_bodies = cfg.motion.key_bodies or load_g1().key_bodies
    return ObsLayout(
        num_actions=int(env.num_actions),
        num_key_bodies=len(key_bodies),
        tar_obs_steps=tuple(int(s) for s in env.tar_obs_steps),
        history_len=int(env.history_len),
    )


def check_obs_cfg(cfg) -> ObsLayout:
    """The config's ObsLayout; raise ValueError naming every observation size of `cfg.env` that disagrees with it."""
    env, name = cfg.env, type(cfg).__name__
    if env.obs_type not in OBS_TYPES:
        raise ValueError("{}.env.obs_type = {!r}: expected one of {}".format(name, env.obs_type, OBS_TYPES))
    d = obs_dims_of(cfg)
    expected = {
        "num_observations": d.obs(env.obs_type).size,
        "num_privileged_obs": d.n_priv_obs,
        "n_priv_mimic_obs": d.n_priv_mimic_obs,
        "n_mimic_obs": d.n_mimic_obs,
        "n_proprio": d.n_proprio,
        "n_priv_info": d.n_priv_info,
    }
    bad = [
        "{}.env.{} = {}, but obs_type {!r} builds {}".format(name, k, getattr(env, k, None), env.obs_type, v)
        for k, v in expected.items()
        if getattr(env, k, None) != v
    ]
    if bad:
        raise ValueError(
            "observation sizes disagree with mdp.layout.ObsLayout ({} actions, {} key bodies, "
            "{} future frames, history {}): {}".format(
                d.num_actions, d.num_key_bodies, d.num_future_steps, d.history_len, "; ".join(bad)
            )
        )
    return d


def check_ref_block_cfg(cfg) -> None:
    """The reference-block options that need another: raise ValueError naming it.
    motion.relative_ref_yaw_unwrap only shapes the relative yaw; motion.student_ref_correction uses the
    gains of motion.ref_correction; motion.student_odometry is one of odometry.ODOMETRY_SOURCES."""
    m = cfg.motion
    if m.relative_ref_yaw_unwrap and not m.relative_ref_yaw:
        raise ValueError(
            "motion.relative_ref_yaw_unwrap = True needs motion.relative_ref_yaw = True "
            "(it unwraps the relative yaw along the teacher's blocks)"
        )
    c = m.ref_correction
    if m.student_ref_correction and float(c.pos_gain) == 0.0 and float(c.yaw_gain) == 0.0:
        raise ValueError(
            "motion.student_ref_correction = True needs the drift feedback's gains "
            "(motion.ref_correction.pos_gain / yaw_gain, both 0 here)"
        )
    if m.student_odometry not in odometry.ODOMETRY_SOURCES:
        raise ValueError(
            "motion.student_odometry = {!r}: expected one of {}".format(m.student_odometry, odometry.ODOMETRY_SOURCES)
        )
    if not float(m.leg_odometry_gate) > 0.0:
        raise ValueError("motion.leg_odometry_gate = {!r}: expected > 0 m/s".format(m.leg_odometry_gate))


class G1MimicDistill(HumanoidMimic):
    def __init__(self, cfg, sim_device="cpu", headless: bool = True):
        self.dims = check_obs_cfg(cfg)
        check_ref_block_cfg(cfg)
        self.obs_type = cfg.env.obs_type
        super().__init__(cfg, sim_device, headless)

    @property
    def obs_layout(self) -> ObsLayout:
        """The layout of this env's observations (the train entry sizes the policy from it)."""
        return self.dims

    def symmetry_maps(self):
        """(observation mirror, action mirror) as (permutation, signs) each: the left-right reflection of
        this env's policy observation and actions (`mdp.symmetry`; the symmetry loss, docs/learning.md)."""
        return symmetry.obs_mirror(self.dims, self.obs_type, self._key_body_names()), symmetry.action_mirror()

    def privileged_obs_mirror(self):
        """(permutation, signs): the left-right reflection of the privileged observation (the teacher's, the
        student's critic reads it; the state estimator's mirrored targets, docs/learning.md#state-estimator)."""
        return symmetry.obs_mirror(self.dims, "priv", self._key_body_names())

    def _key_body_names(self):
        return self.cfg.motion.key_bodies or load_g1().key_bodies

    def _motion_body_sim_ids(self) -> torch.Tensor:
        motion_bodies = self._motion_lib.get_body_names()
        sim_bodies = list(self.sim.body_names)
        missing = [b for b in motion_bodies if b not in sim_bodies]
        if missing:
            raise ValueError("motion bodies {} are not bodies of the {} backend's model".format(missing, self.sim.name))
        return torch.tensor([sim_bodies.index(b) for b in motion_bodies], device=self.device, dtype=torch.long)

    def _init_buffers(self) -> None:
        super()._init_buffers()
        d, ns = self.dims, self.cfg.noise.noise_scales
        self._tar_obs_steps = tuple(d.tar_obs_steps)
        self._noise_scale_vec = obs_terms.proprio_noise_scale_vec(
            d.num_dofs, ns.ang_vel, ns.imu, ns.dof_pos, ns.dof_vel, device=self.device
        )
        if self.obs_type == "student":
            self.obs_history_buf = torch.zeros(self.num_envs, d.history_len, d.n_student_single, device=self.device)
            # TWIST quirk kept (docs/decisions.md K4): the student starts with its counters at 2.4 M env steps.
            self.global_counter = self.total_env_steps_counter = obs_terms.TWIST_STUDENT_PRESET_ENV_STEPS

    def reset_idx(self, env_ids: torch.Tensor) -> None:
        super().reset_idx(env_ids)
        if self.obs_type == "student":
            self.obs_history_buf.index_fill_(0, env_ids, 0.0)

    def reset_where(self, mask: torch.Tensor) -> None:
        super().reset_where(mask)
        if self.obs_type == "student":
            self.obs_history_buf.masked_fill_(mask.view(-1, 1, 1), 0.0)

    # --- observations ------------------------------------------------------------------------------
    def _obs_noise(self) -> Optional[torch.Tensor]:
        """This step's proprioception noise (None without noise): the observations' only draw."""
        if not self.cfg.noise.add_noise:
            return None
        amplitude = 1.0
        if self.headless:
            amplitude = obs_terms.noise_ramp(self.total_env_steps_counter, int(self.cfg.noise.noise_increasing_steps))
        return obs_terms.sample_obs_noise(self._noise_scale_vec, self.num_envs, amplitude, self._rng)

    def _proprio_obs(self, noise: Optional[torch.Tensor]) -> torch.Tensor:
        s = self.obs_scales
        return obs_terms.proprio_obs(
            self.base_ang_vel,
            self.base_quat,
            self.dof_pos,
            self.dof_vel,
            self.action_history_buf[:, -1],
            self.default_dof_pos,
            noise,
            s.ang_vel,
            s.dof_pos,
            s.dof_vel,
            roll_pitch=(self.roll, self.pitch),
        )  # of base_quat (_compute_base_quantities)

    def _priv_info_obs(self) -> torch.Tensor:
        return obs_terms.priv_info_obs(
            self.base_lin_vel,
            self.root_states[:, 0:3],
            self.base_quat,
            self._key_body_pos(),
            self._feet_contact_forces(),
            self.mass_params_tensor,
            self.friction_coeffs_tensor,
            self.motor_strength[0],
            self.motor_strength[1],
            enabled=bool(self.cfg.domain_rand.domain_rand_general),
        )

    def compute_observations(self) -> None:
        self._build_observations(self._obs_noise())

    def _build_observations(self, noise: Optional[torch.Tensor]) -> None:
        """The observation buffers of the current state with this step's proprioception `noise`."""
        times = obs_terms.future_motion_times(self._get_motion_times(), self._tar_obs_steps, self.dt)
        ids = self._motion_ids.unsqueeze(-1).expand_as(times)
        clip = f = self._ref_frame(ids, times)  # (N, K, ...)
        feedback = self._ref_drift_feedback()  # motion.ref_correction: the same added velocity in every frame
        if feedback is not None:  # the teacher's blocks only: it needs the world position (privileged)
            f = f._replace(
                root_vel=f.root_vel + feedback[0].unsqueeze(1), root_ang_vel=f.root_ang_vel + feedback[1].unsqueeze(1)
            )
        priv_mimic = obs_terms.priv_mimic_obs(
            f.root_pos,
            f.root_rot,
            f.root_vel,
            f.root_ang_vel,
            f.dof_pos,
            f.local_body_pos[:, :, self._key_body_ids_motion],
            robot_yaw=self.yaw if self.cfg.motion.relative_ref_yaw else None,
            unwrap_yaw=self.cfg.motion.relative_ref_yaw_unwrap,
        )
        proprio = self._proprio_obs(noise)
        teacher = obs_terms.teacher_obs(priv_mimic, proprio, self._priv_info_obs(), self.dims)
        self.privileged_obs_buf = obs_terms.clip_obs(teacher, self.clip_obs)
        if self.obs_type == "priv":
            self.obs_buf = self.privileged_obs_buf
            return
        # the student's block: the clip's next frame, as the deploy servers stream it (with
        # motion.student_ref_correction its root velocities steered as the teacher's are)
        mimic = obs_terms.student_mimic_obs(
            clip.root_pos[:, 0],
            clip.root_rot[:, 0],
            clip.root_vel[:, 0],
            clip.root_ang_vel[:, 0],
            clip.dof_pos[:, 0],
            feedback=self.student_drift_feedback(),
            robot_yaw=self.yaw if self.cfg.motion.student_relative_ref_yaw else None,
        )
        self.obs_buf = obs_terms.clip_obs(
            obs_terms.student_obs(mimic, proprio, self.obs_history_buf, self.dims), self.clip_obs
        )
        self.obs_history_buf = obs_terms.update_obs_history(
            self.obs_history_buf, obs_terms.student_single_obs(mimic, proprio, self.dims), self.episode_length_buf
        )
