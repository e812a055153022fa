"""Utilities of the learners: observation normaliser, episode statistics, TensorBoard/wandb logger."""

from rsl_rl.utils.episode_stats import EpisodeStats
from rsl_rl.utils.logger import TrainLogger
from rsl_rl.utils.normalizer import Normalizer

__all__ = ["EpisodeStats", "Normalizer", "TrainLogger"]
