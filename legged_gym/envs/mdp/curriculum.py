"""Per-motion difficulty curriculum (docs/rewards_and_terminations.md, Curricula; teacher and student).

Each motion m has a difficulty d_m (initially 9); motions are sampled with probability
proportional to yaml weight x d_m (`MotionLib.sample_motions`). On every reset batch the mean
completion of each motion's resetting envs moves d_m: poorly tracked motions (mean <= 0.5) get
x1.01, well tracked ones (mean >= 0.95) get x0.99, then d is clamped to [1, 9].
"""

from __future__ import annotations

from typing import Optional

import torch

from legged_gym.simulator.base import POLICY_DT

INITIAL_DIFFICULTY = 9.0


def root_drift_limit(step: int, start: float, end: float, steps: int) -> float:
    """The drift limit (m) of `termination.max_root_drift_curriculum` at env step `step`
    (common_step_counter): `start` at step 0, falling linearly to `end` at `steps`, then `end`."""
    if steps <= 0:
        return float(end)
    return float(start) + (float(end) - float(start)) * min(max(int(step), 0), int(steps)) / float(steps)


def initial_motion_difficulty(num_motions: int, device=None, value: float = INITIAL_DIFFICULTY) -> torch.Tensor:
    """(M,) difficulties, all 9."""
    return torch.full((num_motions,), float(value), device=device)


def motion_completion(
    episode_length: torch.Tensor,
    motion_length: torch.Tensor,
    dt: float = POLICY_DT,
    start_time: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """episode_length * dt / clip length of each resetting env (TWIST's); with `start_time` (N,) s, each
    episode's start in its clip (`termination.motion_end_at_clip_end`), over the clip's rest after it."""
    played = episode_length.to(motion_length.dtype) * dt
    if start_time is None:
        return played / motion_length
    return played / (motion_length - start_time)


def update_motion_difficulty(
    difficulty: torch.Tensor,
    motion_ids: torch.Tensor,
    completion: torch.Tensor,
    gamma: float = 0.01,
    low: float = 0.5,
    high: float = 0.95,
    min_difficulty: float = 1.0,
    max_difficulty: float = 9.0,
    no_reset_value: float = 0.7,
    valid: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """New (M,) difficulties from one reset batch (batched, no Python loop over motions).

    motion_ids (R,) and completion (R,) of the resetting envs. Completion is averaged per motion
    (index_add / bincount); motions without a reset in the batch count as `no_reset_value` 0.7,
    which lies strictly between the thresholds, so they stay unchanged. mean <= 0.5: d (1 + gamma);
    mean >= 0.95: d (1 - gamma); clamp to [1, 9] (applied to all motions, a no-op for in-range ones).
    valid: optional (R,) bool; rows where it is False are left out (the batch is then all envs and
    `valid` marks the resetting ones, which needs no index list).
    """
    num_motions = difficulty.shape[0]
    ids = motion_ids.long()
    ones = torch.ones_like(completion)
    if valid is not None:
        completion = torch.where(valid, completion, torch.zeros_like(completion))
        ones = valid.to(completion.dtype)
    sums = torch.zeros(num_motions, dtype=completion.dtype, device=completion.device).index_add_(0, ids, completion)
    counts = torch.zeros_like(sums).index_add_(0, ids, ones)  # bincount would sync
    mean = torch.where(counts > 0, sums / counts.clamp_min(1.0), torch.full_like(sums, no_reset_value))
    factor = torch.ones_like(difficulty)
    factor = torch.where(mean <= low, torch.full_like(factor, 1.0 + gamma), factor)
    factor = torch.where(mean >= high, torch.full_like(factor, 1.0 - gamma), factor)
    return (difficulty * factor).clamp(min_difficulty, max_difficulty)
