"""PPO of the teacher (SPEC 8.2).

Per iteration: `act` / `process_env_step` fill the rollout storage (time-out bootstrapping
r += gamma * V(s) * time_out), `compute_returns` runs GAE on it and normalises the advantages,
`update` does num_learning_epochs x num_mini_batches Adam steps on

    loss = surrogate + value_loss_coef * value_loss - entropy_coef * mean entropy

with gradients clipped to max_grad_norm and, under the "adaptive" schedule, the learning rate
adapted per minibatch from KL(old || new) (summed over action dims, mean over the batch).
`state_dict` holds the optimizer (its param groups carry the current learning rate).
"""
from __future__ import annotations

import warnings
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.optim as optim

from rsl_rl.algorithms.losses import adaptive_lr, gaussian_kl, surrogate_loss, value_loss
from rsl_rl.storage.rollout_storage import Batch, RolloutStorage, Transition

#: TWIST's algorithm config fields that its PPO never reads (SPEC 8.2, "Other fields").
TWIST_UNUSED_FIELDS = ("grad_penalty_coef_schedule", "std_schedule", "dagger_update_freq", "priv_reg_coef_schedual",
                       "priv_reg_coef_schedule", "normalizer_update_iterations", "warm_iters")


class PPO:
    actor_critic: nn.Module

    def __init__(self, actor_critic: nn.Module, num_learning_epochs: int = 5, num_mini_batches: int = 4,
                 clip_param: float = 0.2, gamma: float = 0.99, lam: float = 0.95, value_loss_coef: float = 1.0,
                 entropy_coef: float = 0.005, learning_rate: float = 2e-4, max_grad_norm: float = 1.0,
                 use_clipped_value_loss: bool = True, schedule: str = "adaptive", desired_kl: float = 0.008,
                 device="cpu", **kwargs):
        unknown = sorted(k for k in kwargs if k not in TWIST_UNUSED_FIELDS)
        if unknown:
            warnings.warn("{} ignores unknown algorithm settings: {}".format(type(self).__name__, unknown))
        if schedule not in ("adaptive", "fixed"):
            raise ValueError("algorithm.schedule must be 'adaptive' or 'fixed', got {!r}".format(schedule))
        self.device = torch.device(device)
        self.actor_critic = actor_critic.to(self.device)
        self.num_learning_epochs = int(num_learning_epochs)
        self.num_mini_batches = int(num_mini_batches)
        self.clip_param = float(clip_param)
        self.gamma = float(gamma)
        self.lam = float(lam)
        self.value_loss_coef = float(value_loss_coef)
        self.entropy_coef = float(entropy_coef)
        self.learning_rate = float(learning_rate)
        self.max_grad_norm = float(max_grad_norm)
        self.use_clipped_value_loss = bool(use_clipped_value_loss)
        self.schedule = schedule
        self.desired_kl = float(desired_kl)
        self.optimizer = optim.Adam([p for p in self.actor_critic.parameters() if p.requires_grad],
                                    lr=self.learning_rate)
        self.storage = None  # type: Optional[RolloutStorage]
        self.transition = Transition()

    # --- rollout ---------------------------------------------------------------------------------
    def init_storage(self, num_envs: int, num_transitions_per_env: int, obs_shape, critic_obs_shape,
                     actions_shape) -> None:
        """critic_obs_shape None: the critic reads the actor observations."""
        self.storage = RolloutStorage(num_envs, num_transitions_per_env, obs_shape, critic_obs_shape, actions_shape,
                                      store_teacher=self._stores_teacher(), device=self.device)

    def _stores_teacher(self) -> bool:
        return False

    def test_mode(self) -> None:
        self.actor_critic.eval()

    def train_mode(self) -> None:
        self.actor_critic.train()

    def act(self, obs: torch.Tensor, critic_obs: torch.Tensor) -> torch.Tensor:
        """Sample actions for (normalised) obs and record the transition's inputs."""
        t = self.transition
        t.actions = self.actor_critic.act(obs).detach()
        t.values = self.actor_critic.evaluate(critic_obs).detach()
        t.actions_log_prob = self.actor_critic.get_actions_log_prob(t.actions).detach()
        t.action_mean = self.actor_critic.action_mean.detach()
        t.action_sigma = self.actor_critic.action_std.detach()
        t.observations = obs
        t.critic_observations = critic_obs
        return t.actions

    def process_env_step(self, rewards: torch.Tensor, dones: torch.Tensor, infos: Dict) -> None:
        """Store the step's rewards and dones; time-outs bootstrap: r += gamma * V(s) * time_out."""
        t = self.transition
        t.rewards = rewards.clone().to(torch.float32)
        t.dones = dones
        if "time_outs" in infos:
            time_outs = infos["time_outs"].to(self.device).reshape(-1).to(torch.float32)
            t.rewards += self.gamma * t.values.reshape(-1) * time_outs
        self.storage.add_transitions(t)
        t.clear()
        self.actor_critic.reset(dones)

    def compute_returns(self, last_critic_obs: torch.Tensor) -> None:
        last_values = self.actor_critic.evaluate(last_critic_obs).detach()
        self.storage.compute_returns(last_values, self.gamma, self.lam)

    # --- update ----------------------------------------------------------------------------------
    def update(self) -> Dict[str, float]:
        """PPO epochs over the stored rollout; returns the mean of each loss term (and the last lr)."""
        sums = {}  # type: Dict[str, torch.Tensor]
        n = 0
        for batch in self.storage.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs):
            terms = self._minibatch_step(batch)
            for k, v in terms.items():
                sums[k] = sums[k] + v if k in sums else v
            n += 1
        self.storage.clear()
        self._after_update()
        out = {k: float(v) / n for k, v in sums.items()}
        out["learning_rate"] = self.learning_rate
        return out

    def _minibatch_step(self, b: Batch) -> Dict[str, torch.Tensor]:
        ac = self.actor_critic
        ac.act(b.observations)
        log_prob = ac.get_actions_log_prob(b.actions)
        values = ac.evaluate(b.critic_observations).reshape(-1)
        mu, sigma, entropy = ac.action_mean, ac.action_std, ac.entropy

        kl_mean = gaussian_kl(b.old_mu, b.old_sigma, mu.detach(), sigma.detach()).sum(dim=-1).mean()
        if self.schedule == "adaptive" and self.desired_kl > 0:
            self.learning_rate = adaptive_lr(self.learning_rate, float(kl_mean), self.desired_kl)
            for group in self.optimizer.param_groups:
                group["lr"] = self.learning_rate

        surrogate = surrogate_loss(log_prob, b.old_actions_log_prob, b.advantages, self.clip_param)
        v_loss = value_loss(values, b.target_values, b.returns, self.clip_param, self.use_clipped_value_loss)
        entropy_mean = entropy.mean()
        loss = surrogate + self.value_loss_coef * v_loss - self.entropy_coef * entropy_mean
        extra_loss, terms = self._extra_loss(b, mu, sigma)
        if extra_loss is not None:
            loss = loss + extra_loss

        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ac.parameters(), self.max_grad_norm)
        self.optimizer.step()

        terms.update(value_func=v_loss.detach(), surrogate=surrogate.detach(), entropy=entropy_mean.detach(),
                     kl=kl_mean)
        return terms

    def _extra_loss(self, b: Batch, mu: torch.Tensor, sigma: torch.Tensor):
        """Hook for additional loss terms: (loss or None, dict of detached terms to report)."""
        return None, {}

    def _after_update(self) -> None:
        """Hook run once after each update (DAgger-PPO advances its coefficient schedule)."""

    # --- checkpoints -----------------------------------------------------------------------------
    def optimizer_state_dict(self) -> Dict:
        return self.optimizer.state_dict()

    def load_optimizer_state_dict(self, state: Dict) -> None:
        """Restore the optimizer, and with it the current learning rate."""
        self.optimizer.load_state_dict(state)
        self.learning_rate = float(self.optimizer.param_groups[0]["lr"])

    def dagger_state(self) -> Optional[Dict]:
        """Coefficient schedule state for checkpoints (None for plain PPO)."""
        return None

    def load_dagger_state(self, state: Optional[Dict]) -> None:
        """Nothing to restore for plain PPO."""
