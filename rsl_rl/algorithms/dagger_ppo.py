"""DaggerPPO: PPO on the student plus a KL pull toward a frozen teacher (docs/learning.md; docs/decisions.md D3, D4).

Per minibatch, on top of the PPO loss:

    loss_BC = coef * mean over batch and action dims of KL(N(mu_S, s_S) || N(mu_T, s_T))

The teacher's mean and std are computed when the transition is collected (the teacher and its
normaliser are frozen, so this equals evaluating it at update time) from the privileged
observation normalised with the teacher's own saved normaliser (docs/decisions.md D4; the runner passes
that tensor as `teacher_obs`), and stored with the transition.

Coefficient schedule (docs/decisions.md D3), one explicit cosine from dagger_coef (0.1) to
dagger_coef_min (0.01) over dagger_coef_anneal_steps updates (60,000):

    coef(k) = min + (coef0 - min) * 0.5 * (1 + cos(pi * k / anneal_steps))   for k < anneal_steps
    coef(k) = min                                                            for k >= anneal_steps

k counts the updates done so far (0 in the first one); the counter and the coefficient of the
next update are saved in checkpoints and restored on resume.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Dict, Optional, Union

import torch

from rsl_rl.algorithms.losses import gaussian_kl
from rsl_rl.algorithms.ppo import PPO
from rsl_rl.storage.rollout_storage import Batch

if TYPE_CHECKING:
    from rsl_rl.modules.actor_critic_mimic import ActorCriticMimic


def dagger_coef(k: int, coef0: float, coef_min: float, anneal_steps: int) -> float:
    """BC coefficient of update k (docs/decisions.md D3): a cosine from coef0 at k = 0 to coef_min at anneal_steps."""
    if anneal_steps <= 0 or k >= anneal_steps:
        return float(coef_min)
    return float(coef_min) + (float(coef0) - float(coef_min)) * 0.5 * (1.0 + math.cos(math.pi * k / anneal_steps))


class DaggerPPO(PPO):
    teacher: ActorCriticMimic

    def __init__(
        self,
        actor_critic: ActorCriticMimic,
        teacher: ActorCriticMimic,
        dagger_coef: float = 0.1,
        dagger_coef_min: float = 0.01,
        dagger_coef_anneal_steps: int = 60000,
        **ppo_kwargs,
    ):
        super().__init__(actor_critic, **ppo_kwargs)
        self.teacher = teacher.to(self.device)
        self.teacher.eval()
        self._coef_t = None  # type: Optional[torch.Tensor]
        if self.fast_update and hasattr(self.teacher, "set_fast_kernels"):
            self.teacher.set_fast_kernels(True)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.dagger_coef_init = float(dagger_coef)
        self.dagger_coef_min = float(dagger_coef_min)
        self.dagger_coef_anneal_steps = int(dagger_coef_anneal_steps)
        self.dagger_counter = 0
        self.dagger_coef = self._scheduled_coef()

    def _scheduled_coef(self) -> float:
        return dagger_coef(
            self.dagger_counter, self.dagger_coef_init, self.dagger_coef_min, self.dagger_coef_anneal_steps
        )

    def _stores_teacher(self) -> bool:
        return True

    def act(
        self, obs: torch.Tensor, critic_obs: torch.Tensor, teacher_obs: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Student actions (always: no teacher warm start); records the teacher's mean/std on
        `teacher_obs` (the privileged obs under the teacher's normaliser; default critic_obs)."""
        actions = super().act(obs, critic_obs)
        with torch.no_grad(), self._tf32_scope():
            teacher_mu = self.teacher.act_inference(critic_obs if teacher_obs is None else teacher_obs)
        self.transition.teacher_action_mean = teacher_mu
        self.transition.teacher_action_sigma = self.teacher.noise_std().expand_as(teacher_mu)
        return actions

    def _before_fast_update(self) -> None:
        # the fast update reads the coefficient from the device (a recorded CUDA graph replays it)
        coef_t: Optional[torch.Tensor] = getattr(self, "_coef_t", None)
        if coef_t is None:
            coef_t = self._coef_t = torch.zeros((), dtype=torch.float32, device=self.device)
        coef_t.fill_(self.dagger_coef)

    def _extra_loss(self, b: Batch, mu: torch.Tensor, sigma: torch.Tensor):
        assert b.teacher_mu is not None and b.teacher_sigma is not None  # the storage keeps them (_stores_teacher)
        kl = gaussian_kl(mu, sigma, b.teacher_mu, b.teacher_sigma).mean()
        coef_t: Optional[torch.Tensor] = getattr(self, "_coef_t", None) if self.fast_update else None
        coef: Union[torch.Tensor, float] = self.dagger_coef if coef_t is None else coef_t
        bc_loss = coef * kl
        return bc_loss, {"kl_teacher_student": kl.detach(), "bc_loss": bc_loss.detach()}

    def update(self) -> Dict[str, float]:
        """PPO update with the BC term at coef(k); then k += 1. Reports `dagger_coef` of this update."""
        coef = self.dagger_coef
        out = super().update()
        out["dagger_coef"] = coef
        return out

    def _after_update(self) -> None:
        self.dagger_counter += 1
        self.dagger_coef = self._scheduled_coef()

    def dagger_state(self) -> Dict:
        return {"coef": float(self.dagger_coef), "counter": int(self.dagger_counter)}

    def load_dagger_state(self, state: Optional[Dict]) -> None:
        if not state:
            return
        self.dagger_counter = int(state["counter"])
        self.dagger_coef = float(state["coef"])
