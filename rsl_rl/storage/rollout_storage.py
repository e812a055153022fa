"""RolloutStorage: one rollout of T steps x N envs, its returns and minibatches (docs/learning.md, PPO).

Per transition: observations, critic observations (when the critic has its own), actions,
rewards, dones, values, action log-probs, action means and stds, and optionally the teacher's
action mean and std (DAgger-PPO evaluates the frozen teacher at collection time instead of
storing its observations). The fields a minibatch reads besides the observations (actions,
values, advantages, returns, log-probs, means, stds) are views of one packed buffer.

`compute_returns` runs GAE backward (`gae`), sets returns = advantages + values and normalises
the advantages over the whole rollout. `mini_batch_generator` draws one random permutation and
reuses it for every epoch.
"""

from __future__ import annotations

import math
from typing import Dict, Iterator, NamedTuple, Optional, Sequence, Tuple, Union

import torch

Shape = Union[int, Sequence[int]]


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    lam: float,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a (T, N) rollout; returns (advantages, returns).

    delta_t = r_t + gamma * (1 - d_t) * V_{t+1} - V_t,   V_T = last_values,
    A_t     = delta_t + gamma * lam * (1 - d_t) * A_{t+1},   returns_t = A_t + V_t.
    `rewards` already include the time-out bootstrap (PPO.process_env_step).
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(values)
    advantage = torch.zeros_like(last_values)
    not_done = 1.0 - dones.to(values.dtype)
    for t in reversed(range(steps)):
        next_values = last_values if t == steps - 1 else values[t + 1]
        delta = rewards[t] + gamma * not_done[t] * next_values - values[t]
        advantage = delta + gamma * lam * not_done[t] * advantage
        advantages[t] = advantage
    return advantages, advantages + values


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(A - mean) / (std + eps) over the whole rollout."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)


class Transition:
    """One env step's worth of data, filled by the algorithm and added to the storage."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.observations = None  # type: Optional[torch.Tensor]
        self.critic_observations = None  # type: Optional[torch.Tensor]
        self.actions = None  # type: Optional[torch.Tensor]
        self.rewards = None  # type: Optional[torch.Tensor]
        self.dones = None  # type: Optional[torch.Tensor]
        self.values = None  # type: Optional[torch.Tensor]
        self.actions_log_prob = None  # type: Optional[torch.Tensor]
        self.action_mean = None  # type: Optional[torch.Tensor]
        self.action_sigma = None  # type: Optional[torch.Tensor]
        self.teacher_action_mean = None  # type: Optional[torch.Tensor]
        self.teacher_action_sigma = None  # type: Optional[torch.Tensor]


class Batch(NamedTuple):
    observations: torch.Tensor
    critic_observations: torch.Tensor
    actions: torch.Tensor
    target_values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    old_actions_log_prob: torch.Tensor
    old_mu: torch.Tensor
    old_sigma: torch.Tensor
    teacher_mu: Optional[torch.Tensor]
    teacher_sigma: Optional[torch.Tensor]


def _shape(s: Shape) -> Tuple[int, ...]:
    return (int(s),) if isinstance(s, int) else tuple(int(d) for d in s)


class RolloutStorage:
    def __init__(
        self,
        num_envs: int,
        num_transitions_per_env: int,
        obs_shape: Shape,
        critic_obs_shape: Optional[Shape],
        actions_shape: Shape,
        store_teacher: bool = False,
        device="cpu",
    ):
        """critic_obs_shape None: the critic reads the actor observations (nothing extra stored)."""
        self.device = torch.device(device)
        self.num_envs = int(num_envs)
        self.num_transitions_per_env = int(num_transitions_per_env)
        tn = (self.num_transitions_per_env, self.num_envs)
        a = _shape(actions_shape)

        def buf(*shape: int, dtype=torch.float32) -> torch.Tensor:
            return torch.zeros(*shape, device=self.device, dtype=dtype)

        self.observations = buf(*tn, *_shape(obs_shape))
        self.critic_observations = None if critic_obs_shape is None else buf(*tn, *_shape(critic_obs_shape))
        self.rewards = buf(*tn)
        self.dones = buf(*tn, dtype=torch.bool)
        # The small per-transition fields a minibatch reads, side by side in one (T, N, width) buffer
        # (each field a view of it), so a minibatch gathers them in one indexing kernel, not eight.
        if len(a) != 1:
            raise ValueError("actions_shape must be one dimension, got {}".format(a))
        self._shapes: Dict[str, Tuple[int, ...]] = {
            "actions": a,
            "values": (),
            "advantages": (),
            "returns": (),
            "actions_log_prob": (),
            "mu": a,
            "sigma": a,
        }
        if store_teacher:
            self._shapes.update(teacher_mu=a, teacher_sigma=a)
        self._packed = buf(*tn, sum(math.prod(shape) for shape in self._shapes.values()))
        v = self._views(self._packed)
        self.actions, self.mu, self.sigma = v["actions"], v["mu"], v["sigma"]
        self.values, self.advantages, self.returns = v["values"], v["advantages"], v["returns"]
        self.actions_log_prob = v["actions_log_prob"]
        self.teacher_mu, self.teacher_sigma = v.get("teacher_mu"), v.get("teacher_sigma")
        self.step = 0

    def _views(self, packed: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The fields of packed rows (..., width) as views (..., *shape)."""
        views, start = {}, 0
        for name, shape in self._shapes.items():
            part = packed[..., start : start + math.prod(shape)]
            views[name] = part[..., 0] if shape == () else part
            start += math.prod(shape)
        return views

    def add_transitions(self, t: Transition) -> None:
        if self.step >= self.num_transitions_per_env:
            raise RuntimeError(
                "RolloutStorage is full ({} steps); call clear() after the update".format(self.num_transitions_per_env)
            )
        i = self.step
        assert (
            t.observations is not None
            and t.actions is not None
            and t.rewards is not None
            and t.dones is not None
            and t.values is not None
            and t.actions_log_prob is not None
            and t.action_mean is not None
            and t.action_sigma is not None
        ), "act() and process_env_step() fill the transition"
        self.observations[i].copy_(t.observations)
        if self.critic_observations is not None:
            assert t.critic_observations is not None  # act() records them
            self.critic_observations[i].copy_(t.critic_observations)
        self.actions[i].copy_(t.actions)
        self.rewards[i].copy_(t.rewards.reshape(-1))
        self.dones[i].copy_(t.dones.reshape(-1))
        self.values[i].copy_(t.values.reshape(-1))
        self.actions_log_prob[i].copy_(t.actions_log_prob.reshape(-1))
        self.mu[i].copy_(t.action_mean)
        self.sigma[i].copy_(t.action_sigma)
        if self.teacher_mu is not None:
            assert self.teacher_sigma is not None  # allocated with teacher_mu (store_teacher)
            assert (
                t.teacher_action_mean is not None and t.teacher_action_sigma is not None
            )  # DaggerPPO.act records them
            self.teacher_mu[i].copy_(t.teacher_action_mean)
            self.teacher_sigma[i].copy_(t.teacher_action_sigma)
        self.step += 1

    def clear(self) -> None:
        self.step = 0

    def compute_returns(
        self, last_values: torch.Tensor, gamma: float, lam: float, normalize_advantage: bool = True
    ) -> None:
        adv, ret = gae(self.rewards, self.values, self.dones, last_values.reshape(-1), gamma, lam)
        self.returns.copy_(ret)
        self.advantages.copy_(normalize_advantages(adv) if normalize_advantage else adv)

    def mini_batch_generator(
        self, num_mini_batches: int, num_epochs: int = 1, steps: Optional[torch.Tensor] = None
    ) -> Iterator[Batch]:
        """num_epochs x num_mini_batches minibatches of one random permutation of the rollout, or of its
        transitions at the time steps `steps` (a (S,) index tensor) when given."""
        num_steps = self.num_transitions_per_env if steps is None else len(steps)
        batch_size = self.num_envs * num_steps
        mini_batch_size = batch_size // int(num_mini_batches)
        if mini_batch_size < 1:
            raise ValueError("{} transitions cannot fill {} minibatches".format(batch_size, num_mini_batches))
        indices = torch.randperm(num_mini_batches * mini_batch_size, device=self.device)
        if steps is not None:  # positions among the chosen steps' transitions -> flat rollout indices
            flat = steps.to(self.device).unsqueeze(1) * self.num_envs + torch.arange(self.num_envs, device=self.device)
            indices = flat.flatten()[indices]
        for _ in range(int(num_epochs)):
            for i in range(int(num_mini_batches)):
                yield self.batch(indices[i * mini_batch_size : (i + 1) * mini_batch_size])

    def batch(self, idx: torch.Tensor) -> Batch:
        """The transitions at flat indices `idx` (step-major: t * num_envs + env)."""

        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.flatten(0, 1)

        obs = flat(self.observations)
        critic_obs = obs if self.critic_observations is None else flat(self.critic_observations)
        f = self._views(flat(self._packed)[idx])
        return Batch(
            obs[idx],
            critic_obs[idx],
            f["actions"],
            f["values"],
            f["advantages"],
            f["returns"],
            f["actions_log_prob"],
            f["mu"],
            f["sigma"],
            f.get("teacher_mu"),
            f.get("teacher_sigma"),
        )

    # TWIST's RolloutStorage.Transition; bound after the methods, whose `Transition` annotations name the
    # module's class (a type checker reads the class attribute there as a variable, not a type)
    Transition = Transition
