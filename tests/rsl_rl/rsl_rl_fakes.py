"""Test doubles for the rsl_rl tests: a tiny deterministic tracking env with TWIST's env interface
(BaseTask's attributes, step() -> (obs, privileged_obs, rew, dones, extras)) and small learner configs.

Teacher layout (obs = privileged obs, 46): 20 future frames x 2 (sin, cos of the reference phase),
joint state (3), episode progress (1), privileged info (2, constant per env, offset so that the
normaliser has something to do). Student obs (10): the next frame (2), joint state (3), progress (1),
last action (3), a constant 1. `FakeLayout` gives these sizes as the env's `obs_layout`; the runners
read them only from the policy config (`small_train_cfg` carries them, as the train entry fills them in).
"""

from __future__ import annotations

import copy

import pytest
import torch

NUM_FRAMES = 20
FRAME_DIM = 2
NUM_ACTIONS = 3
TEACHER_OBS = NUM_FRAMES * FRAME_DIM + NUM_ACTIONS + 1 + 2  # 46
STUDENT_OBS = FRAME_DIM + NUM_ACTIONS + 1 + NUM_ACTIONS + 1  # 10


class FakeLayout:
    """The fake env's observation layout: `policy_sizes` like legged_gym's ObsLayout."""

    @staticmethod
    def policy_sizes(obs_type: str) -> dict:
        if obs_type == "student":
            return dict(
                num_observations=STUDENT_OBS,
                num_critic_observations=TEACHER_OBS,
                num_motion_observations=FRAME_DIM,
                num_motion_steps=1,
            )
        return dict(
            num_observations=TEACHER_OBS,
            num_critic_observations=TEACHER_OBS,
            num_motion_observations=NUM_FRAMES * FRAME_DIM,
            num_motion_steps=NUM_FRAMES,
        )


class FakeMimicEnv:
    def __init__(self, num_envs: int = 6, student: bool = False, max_episode_length: int = 7, device="cpu"):
        self.device = torch.device(device)
        self.num_envs = num_envs
        self.student = student
        self.num_actions = NUM_ACTIONS
        self.num_privileged_obs = TEACHER_OBS
        self.num_obs = STUDENT_OBS if student else TEACHER_OBS
        self.max_episode_length = max_episode_length
        self.obs_type = "student" if student else "priv"
        self.obs_layout = FakeLayout()
        n = num_envs
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=self.device)
        self.phase = 0.3 * torch.arange(n, dtype=torch.float32, device=self.device)
        self.q = torch.zeros(n, NUM_ACTIONS, device=self.device)
        self.last_actions = torch.zeros(n, NUM_ACTIONS, device=self.device)
        self.priv_info = torch.stack([5.0 + torch.arange(n, dtype=torch.float32), -2.0 * torch.ones(n)], -1)
        self.global_counter = 0
        self.total_env_steps_counter = 0
        self.common_step_counter = 0
        self.mean_motion_difficulty = torch.tensor(0.25)
        self.extras = {}
        self.first_step_episode_lengths = None
        self._compute_obs()

    def _reference(self) -> torch.Tensor:
        t = self.phase.unsqueeze(-1) + 0.1 * torch.arange(NUM_FRAMES, device=self.device)
        return torch.stack([torch.sin(t), torch.cos(t)], -1).reshape(self.num_envs, -1)  # (N, 40)

    def _compute_obs(self) -> None:
        ref = self._reference()
        progress = (self.episode_length_buf.float() / self.max_episode_length).unsqueeze(-1)
        self.privileged_obs_buf = torch.cat([ref, self.q, progress, self.priv_info], -1)
        if self.student:
            ones = torch.ones(self.num_envs, 1, device=self.device)
            self.obs_buf = torch.cat([ref[:, :FRAME_DIM], self.q, progress, self.last_actions, ones], -1)
        else:
            self.obs_buf = self.privileged_obs_buf.clone()

    def get_observations(self):
        return self.obs_buf

    def get_privileged_observations(self):
        return self.privileged_obs_buf

    def step(self, actions: torch.Tensor):
        if self.first_step_episode_lengths is None:
            self.first_step_episode_lengths = self.episode_length_buf.clone()
        actions = actions.to(self.device)
        self.global_counter += 1
        self.total_env_steps_counter += 1
        self.common_step_counter += 1
        self.q = 0.7 * self.q + 0.3 * torch.tanh(actions)
        self.phase = self.phase + 0.1
        self.episode_length_buf += 1
        target = torch.sin(self.phase.unsqueeze(-1) + torch.arange(NUM_ACTIONS, device=self.device))
        err = (self.q - target).pow(2).sum(-1)
        tracking = torch.exp(-err)
        action_rate = (actions - self.last_actions).pow(2).sum(-1)
        rew = 0.02 * (2.0 * tracking - 0.01 * action_rate)
        failed = err > 2.5
        time_outs = self.episode_length_buf >= self.max_episode_length
        dones = failed | time_outs
        self.extras = {"time_outs": time_outs}
        if bool(dones.any()):
            self.extras["episode"] = {
                "metric_tracking_q": tracking[dones].mean(),
                "rew_tracking_q": 0.04 * tracking[dones].mean(),
                "metric_action_rate": action_rate[dones].mean(),
                "rew_action_rate": -0.0002 * action_rate[dones].mean(),
            }
            self.q[dones] = 0.0
            self.episode_length_buf[dones] = 0
            self.phase[dones] = 0.3 * torch.arange(self.num_envs, dtype=torch.float32)[dones]
        self.last_actions = actions.clone()
        self._compute_obs()
        return self.obs_buf, self.privileged_obs_buf, rew, dones, self.extras

    def clone(self) -> "FakeMimicEnv":
        return copy.deepcopy(self)


def small_train_cfg(save_interval: int = 1, student: bool = False, normalizer_update_iterations: int = 3000) -> dict:
    """A class_to_dict-shaped train config with a small network and rollout."""
    algorithm = dict(
        value_loss_coef=1.0,
        use_clipped_value_loss=True,
        clip_param=0.2,
        entropy_coef=0.005,
        num_learning_epochs=2,
        num_mini_batches=3,
        learning_rate=2e-4,
        schedule="adaptive",
        gamma=0.99,
        lam=0.95,
        desired_kl=0.008,
        max_grad_norm=1.0,
        normalizer_update_iterations=normalizer_update_iterations,
    )
    if student:
        algorithm.update(dagger_coef=0.1, dagger_coef_min=0.01, dagger_coef_anneal_steps=4)
    return {
        "seed": 1,
        "runner_class_name": "OnPolicyDaggerRunner" if student else "OnPolicyRunnerMimic",
        "policy": dict(
            init_noise_std=1.0,
            actor_hidden_dims=[32, 16],
            critic_hidden_dims=[32, 16],
            activation="silu",
            layer_norm=True,
            motion_latent_dim=8,
            tanh_encoder_output=False,
            fix_action_std=False,
            action_std=[0.5] * NUM_ACTIONS,
            **FakeLayout.policy_sizes("student" if student else "priv"),
        ),
        "algorithm": algorithm,
        "runner": dict(
            policy_class_name="ActorCriticMimic",
            algorithm_class_name="DaggerPPO" if student else "PPO",
            num_steps_per_env=5,
            max_iterations=2,
            save_interval=save_interval,
            experiment_name="test",
            run_name="",
            progress_bar=False,
            wandb=False,
        ),
    }


@pytest.fixture
def single_thread():
    """Run a test with one intra-op thread: these tests run many tiny ops, where OpenMP threads spinning
    against other load on a 2-core CI machine cost 10x; restores the previous setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
