"""The CMG network: a mixture-of-experts next-state predictor conditioned on a velocity command.

Input z = [x_hat, c_hat] (58 + 3 = 61, normalised state and command); output the next normalised
state x_hat' (58). A gating network (61 -> 512 -> ELU -> 4 -> softmax) gives blending coefficients
alpha; three expert layers (61 -> 512, 512 -> 512, 512 -> 58), each holding 4 expert weight
matrices and biases, use the blended parameters W = sum_k alpha_k W_k, b = sum_k alpha_k b_k, with
ELU after the first two. The same alpha blends all three layers (mode-adaptive, MANN-style).

Computed as sum_k alpha_k (h W_k + b_k), which equals h (sum_k alpha_k W_k) + sum_k alpha_k b_k
without building a weight matrix per sample: one matrix product with the experts side by side.
Expert weights are He-initialised (N(0, 2 / fan_in)), biases 0; the gating uses PyTorch's defaults.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from pose.cmg.joints import COMMAND_DIM, MOTION_DIM


@dataclass(frozen=True)
class CMGConfig:
    motion_dim: int = MOTION_DIM
    command_dim: int = COMMAND_DIM
    hidden_dim: int = 512
    num_experts: int = 4
    num_layers: int = 3  # input layer, num_layers - 2 hidden layers, output layer

    def to_dict(self) -> dict:
        return asdict(self)


class GatingNetwork(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int, num_experts: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ELU(), nn.Linear(hidden_dim, num_experts))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(z), dim=-1)


class MoELayer(nn.Module):
    """A linear layer with `num_experts` expert weights (E, in, out) and biases (E, out)."""

    def __init__(self, in_dim: int, out_dim: int, num_experts: int):
        super().__init__()
        self.in_dim, self.out_dim, self.num_experts = in_dim, out_dim, num_experts
        self.weight = nn.Parameter(torch.randn(num_experts, in_dim, out_dim) * math.sqrt(2.0 / in_dim))
        self.bias = nn.Parameter(torch.zeros(num_experts, out_dim))

    def forward(self, h: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """h (B, in), alpha (B, E) -> (B, out) = h (sum_k alpha_k W_k) + sum_k alpha_k b_k."""
        side_by_side = self.weight.permute(1, 0, 2).reshape(self.in_dim, self.num_experts * self.out_dim)
        y = (h @ side_by_side).reshape(-1, self.num_experts, self.out_dim)
        return (alpha.unsqueeze(-1) * y).sum(1) + alpha @ self.bias


class CMG(nn.Module):
    def __init__(self, config: CMGConfig = CMGConfig()):
        super().__init__()
        if config.num_layers < 2:
            raise ValueError("num_layers must be >= 2, got {}".format(config.num_layers))
        self.config = config
        in_dim = config.motion_dim + config.command_dim
        self.gating = GatingNetwork(in_dim, config.hidden_dim, config.num_experts)
        dims = [in_dim] + [config.hidden_dim] * (config.num_layers - 1) + [config.motion_dim]
        self.layers = nn.ModuleList(MoELayer(a, b, config.num_experts) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, motion: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        """Normalised state (B, 58) and command (B, 3) -> next normalised state (B, 58)."""
        z = torch.cat([motion, command], dim=-1)
        alpha = self.gating(z)
        h = z
        for i, layer in enumerate(self.layers):
            h = layer(h, alpha)
            if i < len(self.layers) - 1:
                h = nn.functional.elu(h)
        return h


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
