"""Normalisation statistics of a CMG dataset; they travel inside every checkpoint.

States are normalised per channel, x_hat = (x - mean) / std, with std floored (0.1 by default) so
that channels that hardly move in the data (wrists, hip yaw, ankle roll) are not blown up.
Commands are scaled to [-1, 1] over the data's range: c_hat = 2 (c - c_min) / (c_max - c_min) - 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch

RANGE_EPS = 1e-8  # added to the command range (a command component that never changes)
KEYS = ("motion_mean", "motion_std", "command_min", "command_max")


class StatsMismatchError(ValueError):
    """A checkpoint's statistics differ from those of the data it is used with."""


@dataclass
class Stats:
    motion_mean: np.ndarray  # (58,)
    motion_std: np.ndarray  # (58,), already floored
    command_min: np.ndarray  # (3,)
    command_max: np.ndarray  # (3,)

    @classmethod
    def compute(
        cls, motion: np.ndarray, command: np.ndarray, weights: Optional[np.ndarray] = None, std_floor: float = 0.1
    ) -> "Stats":
        """From windows motion (N, L+1, 58) and command (N, L, 3); `weights` (N,) counts each
        window's replicas (the statistics of the replicated data set)."""
        w = np.ones(len(motion)) if weights is None else np.asarray(weights, dtype=np.float64)
        frames = motion.reshape(len(motion), -1, motion.shape[-1]).astype(np.float64)
        wf = np.repeat(w, frames.shape[1]) / (w.sum() * frames.shape[1])
        flat = frames.reshape(-1, frames.shape[-1])
        mean = wf @ flat
        std = np.sqrt(np.maximum(wf @ (flat - mean) ** 2, 0.0))
        cmd = command.reshape(-1, command.shape[-1])
        return cls(
            mean.astype(np.float32),
            np.maximum(std, std_floor).astype(np.float32),
            cmd.min(0).astype(np.float32),
            cmd.max(0).astype(np.float32),
        )

    def to_dict(self) -> Dict[str, list]:
        return {k: [float(v) for v in getattr(self, k)] for k in KEYS}

    @classmethod
    def from_dict(cls, d: dict) -> "Stats":
        missing = [k for k in KEYS if k not in d]
        if missing:
            raise KeyError("statistics lack {}".format(missing))
        return cls(*(np.asarray(d[k], dtype=np.float32) for k in KEYS))

    def check_matches(self, other: "Stats", this_name: str, other_name: str, rtol: float = 1e-5) -> None:
        """Raise StatsMismatchError naming both sources and the first differing quantity."""
        for k in KEYS:
            a, b = getattr(self, k), getattr(other, k)
            if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=1e-6):
                i = 0 if a.shape != b.shape else int(np.argmax(np.abs(a - b)))
                raise StatsMismatchError(
                    "the statistics of {} and {} differ ({}[{}]: {} vs {}): a CMG must be used with the "
                    "normalisation it was trained with (rebuild the data the same way, or train on this data)".format(
                        this_name, other_name, k, i, a.ravel()[i] if a.size else None, b.ravel()[i] if b.size else None
                    )
                )

    def tensors(self, device=None, dtype=torch.float32) -> "TorchStats":
        return TorchStats(*(torch.as_tensor(getattr(self, k), device=device, dtype=dtype) for k in KEYS))


@dataclass
class TorchStats:
    motion_mean: torch.Tensor
    motion_std: torch.Tensor
    command_min: torch.Tensor
    command_max: torch.Tensor

    def normalise_motion(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.motion_mean) / self.motion_std

    def denormalise_motion(self, x_hat: torch.Tensor) -> torch.Tensor:
        return x_hat * self.motion_std + self.motion_mean

    def normalise_command(self, c: torch.Tensor) -> torch.Tensor:
        return 2.0 * (c - self.command_min) / (self.command_max - self.command_min + RANGE_EPS) - 1.0

    def denormalise_command(self, c_hat: torch.Tensor) -> torch.Tensor:
        return (c_hat + 1.0) * 0.5 * (self.command_max - self.command_min + RANGE_EPS) + self.command_min
