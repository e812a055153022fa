"""Failure-adaptive start times: episodes start more often shortly before where the policy falls.

TWIST draws an episode's start time uniformly over its clip. With `cfg.motion.adaptive_sampling`
(off by default, so TWIST's recipe is unchanged) the start time is drawn instead from per-clip time
bins (`bin_seconds` wide; the last bin of a clip may be shorter) with probabilities

    p = (1 - uniform_ratio) * smoothed failures + uniform_ratio * uniform in time,

both parts normalised within the clip (the clip itself is still drawn by weight x difficulty):

- failures: an exponential moving average over env steps (rate `alpha`) of the number of episodes
  that failed (terminated, not by the clip's end or the time limit) in each bin, at the time of
  their failure;
- smoothed: a failure in bin b also raises bins b - 1, ..., b - (kernel_size - 1) by
  `kernel_decay` ** k, so starts land shortly before the failure, where the policy must recover;
- a clip with no failure recorded yet has the uniform distribution.

Within a bin the time is uniform, so with no failures the draw is uniform over [0, L) as TWIST's.
Everything stays on the device (no host synchronisation), whatever number of envs resets.
The idea follows BeyondMimic's adaptive sampling; this is the project's own formulation.
"""

from __future__ import annotations

import math

import torch


class AdaptiveStartSampler:
    def __init__(
        self,
        motion_lengths: torch.Tensor,
        bin_seconds: float = 0.5,
        uniform_ratio: float = 0.1,
        alpha: float = 0.001,
        kernel_size: int = 3,
        kernel_decay: float = 0.8,
    ):
        if bin_seconds <= 0 or not 0.0 <= uniform_ratio <= 1.0 or not 0.0 < alpha <= 1.0 or kernel_size < 1:
            raise ValueError(
                "adaptive sampling: need bin_seconds > 0, 0 <= uniform_ratio <= 1, 0 < alpha <= 1, "
                "kernel_size >= 1 (got {}, {}, {}, {})".format(bin_seconds, uniform_ratio, alpha, kernel_size)
            )
        lengths = torch.as_tensor(motion_lengths, dtype=torch.float32)
        self.device = lengths.device
        self.bin_seconds = float(bin_seconds)
        self.uniform_ratio = float(uniform_ratio)
        self.alpha = float(alpha)
        self.kernel = [float(kernel_decay) ** k for k in range(int(kernel_size))]
        self.lengths = lengths
        lengths_host = lengths.cpu().tolist()  # once, at construction
        self.num_bins = max(1, max(int(math.ceil(length / self.bin_seconds - 1e-6)) for length in lengths_host))
        starts = torch.arange(self.num_bins, device=self.device, dtype=torch.float32) * self.bin_seconds  # (B,)
        # width of each bin inside its clip: bin_seconds, the remainder for the last, 0 beyond the clip
        self.bin_width = (lengths.unsqueeze(1) - starts).clamp(0.0, self.bin_seconds)  # (M, B)
        self.bin_start = starts
        self.uniform = self.bin_width / self.bin_width.sum(dim=1, keepdim=True).clamp_min(1e-9)  # (M, B)
        self.failures = torch.zeros_like(self.bin_width)  # (M, B) moving average of failures per step

    def bin_of(self, motion_ids: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Bin index (within the clip) of times in [0, L]; times past the end count in the last bin."""
        last = (self.bin_width[motion_ids] > 0).sum(dim=1) - 1
        b = torch.floor(times / self.bin_seconds).long()
        return torch.minimum(b.clamp_min(0), last)

    def update(self, motion_ids: torch.Tensor, times: torch.Tensor, failed: torch.Tensor) -> None:
        """One env step: `failed` (N,) bool marks envs whose episode failed at clip time `times`."""
        flat = motion_ids * self.num_bins + self.bin_of(motion_ids, times)
        count = torch.zeros(self.failures.numel(), device=self.device)
        count.index_add_(0, flat, failed.to(torch.float32))
        self.failures.mul_(1.0 - self.alpha).add_(count.view_as(self.failures), alpha=self.alpha)

    def probabilities(self) -> torch.Tensor:
        """(M, B) start-bin probabilities of each clip (rows sum to 1)."""
        smoothed = torch.zeros_like(self.failures)
        for k, weight in enumerate(self.kernel):
            if k == 0:
                smoothed += self.failures
            elif k < self.num_bins:
                smoothed[:, :-k] += weight * self.failures[:, k:]
        smoothed = smoothed * (self.bin_width > 0)
        total = smoothed.sum(dim=1, keepdim=True)
        failure_part = torch.where(total > 0, smoothed / total.clamp_min(1e-30), self.uniform)
        return (1.0 - self.uniform_ratio) * failure_part + self.uniform_ratio * self.uniform

    def sample_time(self, motion_ids: torch.Tensor, generator=None) -> torch.Tensor:
        """Start times (N,) of clips `motion_ids`: a bin by `probabilities`, uniform within it."""
        rows = self.probabilities()[motion_ids]
        b = torch.multinomial(rows, 1, replacement=True, generator=generator).squeeze(1)
        u = torch.rand(motion_ids.shape, device=self.device, generator=generator)
        width = self.bin_width[motion_ids, b]
        return self.bin_start[b] + u * width
