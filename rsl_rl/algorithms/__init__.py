"""PPO (teacher) and DaggerPPO (student), with their math as pure functions."""

from rsl_rl.algorithms.dagger_ppo import DaggerPPO, dagger_coef
from rsl_rl.algorithms.losses import adaptive_lr, gaussian_kl, surrogate_loss, value_loss
from rsl_rl.algorithms.ppo import PPO

__all__ = ["DaggerPPO", "PPO", "adaptive_lr", "dagger_coef", "gaussian_kl", "surrogate_loss", "value_loss"]
