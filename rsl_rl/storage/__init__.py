"""Rollout storage and GAE."""

from rsl_rl.storage.rollout_storage import Batch, RolloutStorage, Transition, gae, normalize_advantages

__all__ = ["Batch", "RolloutStorage", "Transition", "gae", "normalize_advantages"]
