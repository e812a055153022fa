"""Normalizer: running observation statistics (docs/observations.md, Normalisation).

`record(x)` adds a batch to pending sums (sum, sum of squares, count); `update()` merges the
pending sums into the running mean and mean of squares by count-weighted averaging and clears them;

    mean  = (n * mean  + sum x)   / (n + b)
    mean2 = (n * mean2 + sum x^2) / (n + b)
    std   = sqrt(max(mean2 - mean^2, 1e-8))
    normalize(x) = (x - mean) / (std + eps),  eps = 1e-4, no clipping.

Before the first update mean is 0 and std 1. The running statistics and the count are float64
buffers (the count passes 1e8 samples in a TWIST run); `mean` and `std` float32 copies serve
normalize(). Pending sums are not part of the state dict: the runners save after `update()`.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn as nn

VAR_FLOOR = 1e-8
#: The epsilon added to std in normalize() (TWIST's).
EPS = 1e-4


class Normalizer(nn.Module):
    # registered buffers (declared for the type checker: nn.Module's __getattr__ is untyped)
    count: torch.Tensor
    running_mean: torch.Tensor
    running_mean_sq: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    _sum: torch.Tensor
    _sum_sq: torch.Tensor
    _pending: torch.Tensor

    def __init__(self, shape: Union[int, Sequence[int]], eps: float = EPS):
        super().__init__()
        shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
        self.shape = shape
        self.eps = float(eps)
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("running_mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("running_mean_sq", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))
        self.register_buffer("_sum", torch.zeros(shape, dtype=torch.float64), persistent=False)
        self.register_buffer("_sum_sq", torch.zeros(shape, dtype=torch.float64), persistent=False)
        self.register_buffer("_pending", torch.zeros((), dtype=torch.float64), persistent=False)

    @torch.no_grad()
    def record(self, x: torch.Tensor) -> None:
        """Add a batch (..., *shape) to the pending sums; statistics change only at update()."""
        x = x.detach().reshape(-1, *self.shape).to(torch.float64)
        self._sum += x.sum(dim=0)
        self._sum_sq += (x * x).sum(dim=0)
        self._pending += x.shape[0]

    @torch.no_grad()
    def update(self) -> None:
        """Merge the pending sums into the running statistics (count-weighted) and clear them.

        Reads the pending count on the host once (a batch of zero rows leaves everything as is).
        """
        b = float(self._pending)
        if b <= 0:
            return
        total = self.count + b
        self.running_mean.mul_(self.count / total).add_(self._sum / total)
        self.running_mean_sq.mul_(self.count / total).add_(self._sum_sq / total)
        self.count.copy_(total)
        self.mean.copy_(self.running_mean)
        var = torch.clamp(self.running_mean_sq - self.running_mean**2, min=VAR_FLOOR)
        self.std.copy_(torch.sqrt(var))
        self._sum.zero_()
        self._sum_sq.zero_()
        self._pending.zero_()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / (self.std + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x)
