"""The math of PPO and DAgger-PPO as pure tensor functions (docs/learning.md).

surrogate_loss  mean(max(-A r, -A clip(r, 1 - eps, 1 + eps))),  r = exp(log pi - log pi_old)
value_loss      mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))   (clipped)
                mean((V - R)^2)                                                    (plain)
gaussian_kl     KL(N(mu_p, s_p) || N(mu_q, s_q)) per element
                = log(s_q / s_p) + (s_p^2 + (mu_p - mu_q)^2) / (2 s_q^2) - 1/2
adaptive_lr     kl > 2 kl*           -> max(1e-5, lr / 1.5)
                0 < kl < kl* / 2     -> min(1e-2, lr * 1.5)
                otherwise            -> lr
"""

from __future__ import annotations

import torch

#: Bounds and factor of the adaptive learning-rate rule (docs/learning.md, PPO).
LR_MIN = 1e-5
LR_MAX = 1e-2
LR_FACTOR = 1.5


def surrogate_loss(
    log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_param: float
) -> torch.Tensor:
    """PPO's clipped surrogate (to minimise); all inputs (B,)."""
    ratio = torch.exp(log_prob - old_log_prob)
    surrogate = -advantages * ratio
    surrogate_clipped = -advantages * torch.clamp(ratio, 1.0 - clip_param, 1.0 + clip_param)
    return torch.max(surrogate, surrogate_clipped).mean()


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_param: float, clipped: bool = True
) -> torch.Tensor:
    """Squared error to the returns, optionally clipped to +-clip_param around the old values; (B,)."""
    if not clipped:
        return (returns - values).pow(2).mean()
    values_clipped = old_values + (values - old_values).clamp(-clip_param, clip_param)
    return torch.max((values - returns).pow(2), (values_clipped - returns).pow(2)).mean()


def gaussian_kl(mu_p: torch.Tensor, sigma_p: torch.Tensor, mu_q: torch.Tensor, sigma_q: torch.Tensor) -> torch.Tensor:
    """Element-wise KL(N(mu_p, sigma_p) || N(mu_q, sigma_q)) of diagonal Gaussians."""
    return torch.log(sigma_q / sigma_p) + (sigma_p.pow(2) + (mu_p - mu_q).pow(2)) / (2.0 * sigma_q.pow(2)) - 0.5


def adaptive_lr(lr: float, kl: float, desired_kl: float) -> float:
    """rsl_rl's adaptive schedule: shrink the lr when KL(old||new) > 2 desired, grow it when below half."""
    if kl > 2.0 * desired_kl:
        return max(LR_MIN, lr / LR_FACTOR)
    if 0.0 < kl < desired_kl / 2.0:
        return min(LR_MAX, lr * LR_FACTOR)
    return lr
