"""Test doubles of TWIST's checkpoint format, written from TWIST's rsl_rl for the tests of the checkpoint
reader (rsl_rl/utils/checkpoint.py): TWIST's ActorCriticMimic (its module names and its forward) and its
Normalizer (nn.Parameters _count, _mean, _std; plain attributes _mean_sq, _eps, _clip, ...), and
`save_twist_checkpoint`, which writes a file as TWIST's runner does: the normalisers pickled as objects of
the class `rsl_rl.utils.normalizer.Normalizer`, "iter" 0, no env counters and no policy_cfg."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

#: TWIST's conv stacks by frame count: (in, out, kernel, stride)
TWIST_CONVS = {1: (), 20: ((60, 40, 6, 2), (40, 20, 4, 2))}


class Normalizer(nn.Module):
    """TWIST's observation normaliser, as its runner pickles it."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, count: int, mean_sq=None):
        super().__init__()
        self._eps = 1e-4
        self._clip = math.inf
        self.dtype = torch.float
        self._count = nn.Parameter(torch.tensor([count], dtype=torch.long), requires_grad=False)
        self._mean = nn.Parameter(mean.float().clone(), requires_grad=False)
        self._std = nn.Parameter(std.float().clone(), requires_grad=False)
        self._mean_sq = mean_sq
        self._new_count = 0
        self._new_sum = torch.zeros_like(self._mean)
        self._new_sum_sq = torch.zeros_like(self._mean)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self._mean) / (self._std + self._eps), -self._clip, self._clip)


Normalizer.__module__ = "rsl_rl.utils.normalizer"  # the name TWIST's files pickle it under


def random_normalizer(n: int, seed: int, with_mean_sq: bool = True) -> Normalizer:
    """A TWIST normaliser with varied statistics (with_mean_sq False: before its first update in this process)."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(n, generator=g)
    std = 0.2 + torch.rand(n, generator=g)
    mean_sq = (std**2 + mean**2).float() if with_mean_sq else None
    return Normalizer(mean, std, count=1000 + seed, mean_sq=mean_sq)


class MotionEncoder(nn.Module):
    def __init__(self, frame_dim: int, steps: int, latent: int):
        super().__init__()
        self.steps = steps
        self.encoder = nn.Sequential(nn.Linear(frame_dim, 60), nn.SiLU())
        layers: list = []
        for c_in, c_out, k, s in TWIST_CONVS[steps]:
            layers += [nn.Conv1d(c_in, c_out, kernel_size=k, stride=s), nn.SiLU()]
        self.conv_layers = nn.Sequential(*layers, nn.Flatten()) if layers else nn.Flatten()
        self.linear_output = nn.Linear(60, latent)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        nd = obs.shape[0]
        projection = self.encoder(obs.reshape([nd * self.steps, -1]))
        return self.linear_output(self.conv_layers(projection.reshape([nd, self.steps, -1]).permute((0, 2, 1))))


def twist_mlp(in_dim: int, hidden: list, out_dim: int) -> nn.Sequential:
    """TWIST's actor/critic MLP: Linear + SiLU per hidden layer, LayerNorm after the last hidden Linear."""
    layers: list = [nn.Linear(in_dim, hidden[0]), nn.SiLU()]
    for i in range(len(hidden)):
        if i == len(hidden) - 1:
            layers.append(nn.Linear(hidden[i], out_dim))
        else:
            layers.append(nn.Linear(hidden[i], hidden[i + 1]))
            if i == len(hidden) - 2:
                layers.append(nn.LayerNorm(hidden[i + 1]))
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class Actor(nn.Module):
    def __init__(self, num_obs, frame_dim, steps, latent, hidden, out_dim):
        super().__init__()
        self.num_motion = frame_dim * steps
        self.frame_dim = frame_dim
        self.motion_encoder = MotionEncoder(frame_dim, steps, latent)
        self.actor_backbone = twist_mlp(num_obs - self.num_motion + latent + frame_dim, hidden, out_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        latent = self.motion_encoder(obs[:, : self.num_motion])
        return self.actor_backbone(torch.cat([obs[:, self.num_motion :], obs[:, : self.frame_dim], latent], dim=1))


class ActorCriticMimic(nn.Module):
    """TWIST's module names: actor.{motion_encoder,actor_backbone}, critic_motion_encoder, critic, std."""

    def __init__(self, num_obs, num_critic_obs, frame_dim, steps, num_actions, hidden, latent):
        super().__init__()
        self.num_motion = frame_dim * steps
        self.frame_dim = frame_dim
        self.actor = Actor(num_obs, frame_dim, steps, latent, hidden, num_actions)
        self.critic_motion_encoder = MotionEncoder(frame_dim, steps, latent)
        self.critic = twist_mlp(num_critic_obs - self.num_motion + latent + frame_dim, hidden, 1)
        self.std = nn.Parameter(0.3 + 0.5 * torch.rand(num_actions))

    def evaluate(self, critic_obs: torch.Tensor) -> torch.Tensor:
        latent = self.critic_motion_encoder(critic_obs[:, : self.num_motion])
        x = torch.cat([critic_obs[:, self.num_motion :], critic_obs[:, : self.frame_dim], latent], dim=1)
        return self.critic(x)


def random_twist_policy(seed: int, **sizes) -> ActorCriticMimic:
    """TWIST's network with random weights (`sizes`: ActorCriticMimic's arguments above)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return ActorCriticMimic(**sizes).eval()


def twist_optimizer_state(policy: ActorCriticMimic, critic_obs: torch.Tensor, lr: float = 3e-4) -> dict:
    """The state of TWIST's Adam over policy.parameters() after one step (a state entry for every parameter)."""
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    loss = policy.actor(critic_obs).square().mean() + policy.evaluate(critic_obs).mean() + policy.std.sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return optimizer.state_dict()


def save_twist_checkpoint(path, policy, normalizer, critic_normalizer=None, optimizer_state=None, iteration=0):
    """Write `path` as TWIST's runner saves (its normalisers pickled as rsl_rl.utils.normalizer.Normalizer
    objects: the module's attribute is this double while saving, so pickle finds the class under that name)."""
    import rsl_rl.utils.normalizer as module

    original = module.Normalizer
    module.Normalizer = Normalizer  # type: ignore[misc]
    try:
        torch.save(
            {
                "model_state_dict": policy.state_dict(),
                "optimizer_state_dict": optimizer_state,
                "iter": iteration,
                "normalizer": normalizer,
                "critic_normalizer": critic_normalizer,
                "infos": None,
            },
            str(path),
        )
    finally:
        module.Normalizer = original  # type: ignore[misc]
