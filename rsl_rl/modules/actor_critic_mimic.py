"""ActorCriticMimic: the teacher/student network of TWIST (docs/learning.md, Network).

Observation layout seen by the network: the first `num_motion_observations` entries are K
reference frames of m = num_motion_observations / K entries each; the rest is proprioception
(plus privileged info / history). Each of actor and critic owns one `MotionEncoder`:

    per-frame Linear(m -> 60) + act  ->  (B, 60, K)  ->  conv stack (CONV_STACKS)  ->  (B, 60)
    ->  Linear(60 -> motion_latent_dim)

and an MLP on concat(obs[num_motion_obs:], obs[:m] (first frame, raw), latent), hidden dims
[512, 512, 256, 128] with LayerNorm before the activation of the last hidden layer.

Teacher (1318 obs, 1160 motion, K 20): actor input 158 + 58 + 128 = 344. Student (1155 obs, 31
motion, K 1): actor input 1124 + 31 + 128 = 1283; its critic (1318 obs, first 31 as motion) 1446.

The action distribution is Normal(actor(obs), std) with a state-independent std: a learnable
parameter initialised to `init_noise_std`, or the frozen vector `action_std` when `fix_action_std`;
the distribution floors it at `MIN_ACTION_STD` (`noise_std()`).
`actor` alone maps (normalised) obs to the action mean and is what export traces.

With `estimator_target` (indices into the critic obs; students, docs/learning.md#state-estimator) the
actor is an `EstimatingActor`: an MLP estimates those privileged entries from the obs and the MLP
above reads obs + estimate (input width + len(estimator_target)); export still traces obs -> action.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.distributions import Normal

#: Channel size C of the motion encoder: frames are projected to 3C = 60 features.
ENCODER_CHANNELS = 20

#: Conv stacks by number of motion frames K: (in, out, kernel, stride) per Conv1d (TWIST's).
CONV_STACKS = {
    1: (),
    10: ((60, 40, 4, 2), (40, 20, 2, 1)),
    20: ((60, 40, 6, 2), (40, 20, 4, 2)),
    50: ((60, 40, 8, 4), (40, 20, 5, 1), (20, 20, 5, 1)),
}

_ACTIVATIONS = {
    "elu": nn.ELU,
    "selu": nn.SELU,
    "relu": nn.ReLU,
    "lrelu": nn.LeakyReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}

#: what reading the distribution before `act` / `update_distribution` fails with
_NO_DISTRIBUTION = "no action distribution yet: call act() or update_distribution() first"

#: the smallest action std the distribution uses. PPO's updates can drive a learnable std to 0 or below,
#: where log-probs and the entropy are NaN and training is lost (TWIST's rsl_rl stops there with an
#: error); the runs in bench/results kept a mean std of 0.34 or more, far above it.
MIN_ACTION_STD = 0.01


def get_activation(name: str) -> nn.Module:
    """A fresh activation module by TWIST's name ("silu", "elu", ...)."""
    key = str(name).lower()
    if key not in _ACTIVATIONS:
        raise ValueError("unknown activation {!r}; choose one of {}".format(name, ", ".join(sorted(_ACTIVATIONS))))
    return _ACTIVATIONS[key]()


class MotionEncoder(nn.Module):
    """K reference frames of m entries -> latent."""

    def __init__(self, frame_dim: int, num_steps: int, latent_dim: int = 128, activation: str = "silu"):
        super().__init__()
        if num_steps not in CONV_STACKS:
            raise ValueError(
                "MotionEncoder: no conv stack for {} motion frames (have {})".format(num_steps, sorted(CONV_STACKS))
            )
        self.frame_dim = int(frame_dim)
        self.num_steps = int(num_steps)
        width = 3 * ENCODER_CHANNELS
        self.frame_proj = nn.Sequential(nn.Linear(self.frame_dim, width), get_activation(activation))
        layers: List[nn.Module] = []
        for c_in, c_out, k, s in CONV_STACKS[self.num_steps]:
            layers += [nn.Conv1d(c_in, c_out, kernel_size=k, stride=s), get_activation(activation)]
        layers.append(nn.Flatten())
        self.temporal = nn.Sequential(*layers)
        self.out = nn.Linear(width, int(latent_dim))
        # Training speed switch (not saved): the Conv1d stack as dense matrix products on the
        # flattened (B, K * C) frames (`_temporal_as_matmul`): the same function, summed in another
        # order. cuDNN's 1-D convolutions of this shape (and their layout transposes), then window
        # copies (`unfold`) and their backward, were the largest costs of a PPO update on the GPU.
        # Off: the modules' own forward (export, deploy).
        self.conv_as_matmul = False

    def forward(self, motion_obs: torch.Tensor) -> torch.Tensor:
        b = motion_obs.shape[0]
        frames = self.frame_proj(motion_obs.reshape(b, self.num_steps, self.frame_dim))  # (B, K, 60)
        if self.conv_as_matmul:
            return self.out(self._temporal_as_matmul(frames.reshape(b, -1)))
        return self.out(self.temporal(frames.transpose(1, 2)))  # (B, 60, K) -> (B, 60) -> (B, latent)

    def _temporal_as_matmul(self, x: torch.Tensor) -> torch.Tensor:
        """`temporal` on frames flattened time-major (B, K * C): each Conv1d as one linear map
        (`banded_conv_matrix`); the last one's output channel-major, as Flatten after the stack."""
        length = self.num_steps
        convs = [m for m in self.temporal if isinstance(m, nn.Conv1d)]
        for layer in self.temporal:
            if isinstance(layer, nn.Conv1d):
                last = layer is convs[-1]
                weight, bias, length = banded_conv_matrix(layer, length, channel_major_out=last)
                x = nn.functional.linear(x, weight, bias)
            elif not isinstance(layer, nn.Flatten):
                x = layer(x)
        return x


def banded_conv_matrix(
    conv: nn.Conv1d, length_in: int, channel_major_out: bool
) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """A Conv1d on `length_in` steps as (matrix, bias, L_out) of one linear map on time-major inputs
    (index t * C_in + c). Output rows are time-major (l * C_out + o), or channel-major
    (o * L_out + l) with `channel_major_out`. Row block l holds the kernel taps, ordered (j, c), at
    columns from l * stride * C_in: built by padding (its backward is a slice, cheap on the GPU,
    where a gather's backward into the few shared taps is not)."""
    c_in, c_out = conv.in_channels, conv.out_channels
    k, s = conv.kernel_size[0], conv.stride[0]
    length_out = (length_in - k) // s + 1
    taps = conv.weight.permute(0, 2, 1).reshape(c_out, k * c_in)  # [o, j * C_in + c] = weight[o, c, j]
    blocks = [
        nn.functional.pad(taps, (step * s * c_in, (length_in - step * s - k) * c_in)) for step in range(length_out)
    ]
    matrix = torch.stack(blocks)  # (L_out, C_out, L_in * C_in)
    assert conv.bias is not None, "the motion encoder's Conv1d layers have biases"
    bias = conv.bias.expand(length_out, c_out)
    if channel_major_out:
        matrix, bias = matrix.transpose(0, 1), bias.transpose(0, 1)
    return matrix.reshape(length_out * c_out, -1), bias.reshape(-1), length_out


def mlp(
    in_dim: int, hidden_dims: Sequence[int], out_dim: int, activation: str, layer_norm: bool, tanh_output: bool = False
) -> nn.Sequential:
    """Linear/act stack; with layer_norm, LayerNorm sits before the activation of the last hidden
    layer; with tanh_output, a Tanh after the output layer."""
    layers: List[nn.Module] = []
    dims = [int(in_dim)] + [int(h) for h in hidden_dims]
    for i in range(len(hidden_dims)):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if layer_norm and i == len(hidden_dims) - 1:
            layers.append(nn.LayerNorm(dims[i + 1]))
        layers.append(get_activation(activation))
    layers.append(nn.Linear(dims[-1], int(out_dim)))
    if tanh_output:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """obs -> output through a MotionEncoder and an MLP (the actor; the critic with out_dim 1)."""

    def __init__(
        self,
        num_obs: int,
        num_motion_obs: int,
        num_motion_steps: int,
        out_dim: int,
        hidden_dims: Sequence[int] = (512, 512, 256, 128),
        motion_latent_dim: int = 128,
        activation: str = "silu",
        layer_norm: bool = True,
        tanh_output: bool = False,
    ):
        super().__init__()
        if num_motion_steps < 1 or num_motion_obs % num_motion_steps != 0:
            raise ValueError(
                "num_motion_observations {} is not a multiple of num_motion_steps {}".format(
                    num_motion_obs, num_motion_steps
                )
            )
        if not 0 < num_motion_obs <= num_obs:
            raise ValueError("num_motion_observations {} must lie in (0, num_obs = {}]".format(num_motion_obs, num_obs))
        self.num_obs = int(num_obs)
        self.num_motion_obs = int(num_motion_obs)
        self.frame_dim = self.num_motion_obs // int(num_motion_steps)
        self.motion_encoder = MotionEncoder(self.frame_dim, int(num_motion_steps), motion_latent_dim, activation)
        self.input_dim = self.num_obs - self.num_motion_obs + self.frame_dim + int(motion_latent_dim)
        self.backbone = mlp(self.input_dim, hidden_dims, out_dim, activation, layer_norm, tanh_output)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        motion = obs[:, : self.num_motion_obs]
        latent = self.motion_encoder(motion)
        x = torch.cat([obs[:, self.num_motion_obs :], motion[:, : self.frame_dim], latent], dim=-1)
        return self.backbone(x)


class EstimatingActor(nn.Module):
    """obs -> action mean through an `Actor` (`policy`) that also reads an estimate of privileged
    quantities (the concurrent state estimator, docs/learning.md#state-estimator): `estimator`, an MLP on
    the whole obs, whose output is appended (detached) to the obs the policy reads. The estimator learns
    from its own regression loss only (the mean square of `ActorCriticMimic.estimator_error`, with its own optimizer in
    `rsl_rl.algorithms.PPO`)."""

    def __init__(self, estimator: nn.Module, policy: Actor):
        super().__init__()
        self.estimator = estimator
        self.policy = policy

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.read(obs, self.estimator(obs).detach())

    def read(self, obs: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        """The action mean from `obs` and a given `estimate` (in `forward` the estimator's own)."""
        return self.policy(torch.cat([obs, estimate], dim=-1))


class ActorCriticMimic(nn.Module):
    """Gaussian actor and value critic of TWIST; see the module docstring."""

    is_recurrent = False
    checkpoint_info: Dict[str, Any]  # a loaded teacher's {"path", "iter", "sha256"} (the DAgger runner sets it)
    _estimator_index: torch.Tensor  # the buffer of estimator_target's indices (with an estimator only)

    def __init__(
        self,
        num_observations: int,
        num_critic_observations: int,
        num_motion_observations: int,
        num_motion_steps: int,
        num_actions: int,
        actor_hidden_dims: Sequence[int] = (512, 512, 256, 128),
        critic_hidden_dims: Sequence[int] = (512, 512, 256, 128),
        motion_latent_dim: int = 128,
        activation: str = "silu",
        init_noise_std: float = 1.0,
        fix_action_std: bool = False,
        action_std: Optional[Sequence[float]] = None,
        layer_norm: bool = True,
        tanh_encoder_output: bool = False,
        estimator_target: Optional[Sequence[int]] = None,
        estimator_hidden_dims: Sequence[int] = (256, 128),
        **ignored,
    ):
        super().__init__()
        if ignored:
            warnings.warn("ActorCriticMimic ignores unknown arguments: {}".format(sorted(ignored)))
        self.num_actions = int(num_actions)
        # tanh_encoder_output keeps TWIST's name: a Tanh after the actor's output layer (off for the G1).
        # estimator_target: indices into the critic obs the actor's estimator regresses (None: no estimator).
        self.estimator_target = None if estimator_target is None else [int(i) for i in estimator_target]
        num_estimates = 0 if self.estimator_target is None else len(self.estimator_target)
        policy = Actor(
            num_observations + num_estimates,
            num_motion_observations,
            num_motion_steps,
            self.num_actions,
            actor_hidden_dims,
            motion_latent_dim,
            activation,
            layer_norm,
            tanh_output=bool(tanh_encoder_output),
        )
        self.actor: nn.Module = policy
        if self.estimator_target is not None:
            bad = [i for i in self.estimator_target if not 0 <= i < int(num_critic_observations)]
            if not self.estimator_target or bad:
                raise ValueError(
                    "estimator_target {}: expected indices in [0, {}) (the critic obs)".format(
                        self.estimator_target, num_critic_observations
                    )
                )
            estimator = mlp(num_observations, estimator_hidden_dims, num_estimates, activation, layer_norm=False)
            self.actor = EstimatingActor(estimator, policy)
            self.register_buffer("_estimator_index", torch.tensor(self.estimator_target), persistent=False)
        self.critic = Actor(
            num_critic_observations,
            num_motion_observations,
            num_motion_steps,
            1,
            critic_hidden_dims,
            motion_latent_dim,
            activation,
            layer_norm,
        )
        self.fix_action_std = bool(fix_action_std)
        if self.fix_action_std:
            if action_std is None or len(action_std) != self.num_actions:
                raise ValueError(
                    "fix_action_std needs action_std with {} entries, got {!r}".format(self.num_actions, action_std)
                )
            self.register_buffer("std", torch.tensor([float(s) for s in action_std]))
        else:
            self.std = nn.Parameter(float(init_noise_std) * torch.ones(self.num_actions))
        self.distribution = None  # type: Optional[Normal]

    def set_fast_kernels(self, enabled: bool) -> None:
        """Training speed switch, the same function within float rounding: the motion encoders'
        Conv1d layers as matrix products (`MotionEncoder.conv_as_matmul`). Off by default (export
        and deploy use the plain forward)."""
        for m in self.modules():
            if isinstance(m, MotionEncoder):
                m.conv_as_matmul = bool(enabled)

    # --- distribution ----------------------------------------------------------------------------
    def noise_std(self) -> torch.Tensor:
        """The action std the distribution uses: `std` floored at `MIN_ACTION_STD` (num_actions,)."""
        return self.std.clamp(min=MIN_ACTION_STD)

    def update_distribution(self, observations: torch.Tensor) -> None:
        mean = self.actor(observations)
        self.distribution = Normal(mean, self.noise_std().expand_as(mean), validate_args=False)

    def act(self, observations: torch.Tensor, **kwargs) -> torch.Tensor:
        """Sample actions from N(actor(obs), std); the distribution stays for log-probs/entropy."""
        self.update_distribution(observations)
        assert self.distribution is not None  # just set
        return self.distribution.sample()

    def get_actions_log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """log N(actions) of the last distribution, summed over action dims: (B,)."""
        assert self.distribution is not None, _NO_DISTRIBUTION
        return self.distribution.log_prob(actions).sum(dim=-1)

    def act_inference(self, observations: torch.Tensor, **kwargs) -> torch.Tensor:
        """Action mean (deterministic policy)."""
        return self.actor(observations)

    def estimator_parameters(self) -> List[nn.Parameter]:
        """The state estimator's parameters (none without `estimator_target`): trained apart from the rest."""
        return list(self.actor.estimator.parameters()) if isinstance(self.actor, EstimatingActor) else []

    def estimate(self, observations: torch.Tensor) -> torch.Tensor:
        """The actor's estimate of the critic obs' entries `estimator_target` (as the critic reads them,
        normalised) from `observations` (as the actor reads them): (B, len(estimator_target))."""
        assert isinstance(self.actor, EstimatingActor), "estimate needs estimator_target"
        return self.actor.estimator(observations)

    def act_with_estimate(self, observations: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        """Action mean from `observations` and a given `estimate` of the critic obs' entries
        `estimator_target` (normalised, as `estimate` gives them) in place of the estimator's own."""
        assert isinstance(self.actor, EstimatingActor), "act_with_estimate needs estimator_target"
        return self.actor.read(observations, estimate)

    def estimator_error(self, observations: torch.Tensor, critic_observations: torch.Tensor) -> torch.Tensor:
        """The actor's estimate from `observations` minus the critic obs' entries `estimator_target` (the
        privileged values as the critic reads them, normalised): (B, len(estimator_target))."""
        assert isinstance(self.actor, EstimatingActor), "estimator_error needs estimator_target"
        target = critic_observations.index_select(-1, self._estimator_index)
        return self.estimate(observations) - target

    def evaluate(self, critic_observations: torch.Tensor, **kwargs) -> torch.Tensor:
        """Value estimate V(critic_obs): (B, 1)."""
        return self.critic(critic_observations)

    @property
    def action_mean(self) -> torch.Tensor:
        assert self.distribution is not None, _NO_DISTRIBUTION
        return self.distribution.mean

    @property
    def action_std(self) -> torch.Tensor:
        assert self.distribution is not None, _NO_DISTRIBUTION
        return self.distribution.stddev

    @property
    def entropy(self) -> torch.Tensor:
        """Entropy of the last distribution summed over action dims: (B,)."""
        assert self.distribution is not None, _NO_DISTRIBUTION
        return self.distribution.entropy().sum(dim=-1)

    def reset(self, dones=None) -> None:
        """Non-recurrent: nothing to reset (rsl_rl interface)."""
