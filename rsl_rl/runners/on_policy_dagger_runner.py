"""OnPolicyDaggerRunner: the student's DAgger-PPO loop (SPEC 8.3, 8.4; decisions D3, D4, D5).

The frozen teacher is rebuilt from its checkpoint (`teacher_path`): an ActorCriticMimic made from
the checkpoint's "policy_cfg" (falling back to train_cfg["teacher_policy"] and the env's
privileged-obs layout for checkpoints without one), its "model_state_dict", and its observation
normaliser "normalizer".

Normalisation:
  - student obs: the student's own normaliser, recorded during the first normalizer_update_iterations;
  - teacher input: the privileged obs under the teacher's own saved normaliser (decision D4);
  - student critic: the privileged obs under `critic_normalizer`, a frozen copy of the teacher's
    normaliser (TWIST's student critic also reads teacher-normalised obs; the copy travels in the
    student's checkpoints so a resume does not depend on the teacher's file for it).

Everything else (loop, checkpoints, logging, resume) is OnPolicyRunnerMimic's; checkpoints add the
DAgger schedule state ("dagger": coef, counter) and logs add Loss/kl_teacher_student (the KL,
before the coefficient), Loss/bc_loss (coef x KL) and Loss/dagger_coef.
"""
from __future__ import annotations

import copy
import os
from typing import Dict, Optional, Tuple

import torch

from rsl_rl.algorithms.dagger_ppo import DaggerPPO
from rsl_rl.modules.actor_critic_mimic import ActorCriticMimic
from rsl_rl.runners.on_policy_runner_mimic import POLICY_KEYS, OnPolicyRunnerMimic, _plain, motion_obs_dims
from rsl_rl.utils.normalizer import Normalizer


def load_teacher(path: str, device, fallback_policy_cfg: Optional[Dict] = None
                 ) -> Tuple[ActorCriticMimic, Normalizer, Dict]:
    """(teacher network in eval mode, its normaliser, the constructor arguments used) from a checkpoint."""
    if not os.path.isfile(path):
        raise FileNotFoundError("teacher checkpoint {}: no such file".format(path))
    ckpt = torch.load(path, map_location=device, weights_only=True)
    for key in ("model_state_dict", "normalizer"):
        if key not in ckpt:
            raise KeyError("teacher checkpoint {}: no {!r} entry (have {})".format(path, key, sorted(ckpt)))
    policy_cfg = ckpt.get("policy_cfg") or fallback_policy_cfg
    if policy_cfg is None:
        raise KeyError("teacher checkpoint {}: no 'policy_cfg' entry to rebuild the teacher from".format(path))
    teacher = ActorCriticMimic(**policy_cfg).to(device)
    try:
        teacher.load_state_dict(ckpt["model_state_dict"])
    except RuntimeError as e:
        raise RuntimeError("teacher checkpoint {}: weights do not fit the teacher {}: {}".format(path, policy_cfg, e))
    teacher.eval()
    normalizer = Normalizer(int(policy_cfg["num_observations"])).to(device)
    normalizer.load_state_dict(ckpt["normalizer"])
    return teacher, normalizer, dict(policy_cfg)


class OnPolicyDaggerRunner(OnPolicyRunnerMimic):
    def __init__(self, env, train_cfg: Dict, log_dir: Optional[str] = None, device="cpu",
                 teacher_path: Optional[str] = None):
        if not teacher_path:
            raise ValueError("OnPolicyDaggerRunner needs teacher_path (the teacher's model_<it>.pt)")
        self.teacher_path = str(teacher_path)
        super().__init__(env, train_cfg, log_dir, device)

    def _teacher_fallback_cfg(self) -> Dict:
        motion_obs, motion_steps = motion_obs_dims(self.env, {}, student=False)
        cfg = dict(num_observations=self.num_critic_obs, num_critic_observations=self.num_critic_obs,
                   num_motion_observations=motion_obs, num_motion_steps=motion_steps,
                   num_actions=int(self.env.num_actions))
        teacher_policy = self.train_cfg.get("teacher_policy") or {}
        for key in POLICY_KEYS:
            if key in teacher_policy:
                cfg[key] = _plain(teacher_policy[key])
        return cfg

    def _make_algorithm(self, actor_critic: ActorCriticMimic) -> DaggerPPO:
        if not self.has_critic_obs:
            raise ValueError("OnPolicyDaggerRunner: the env has no privileged observations for the teacher")
        teacher, self.teacher_normalizer, self.teacher_policy_cfg = load_teacher(
            self.teacher_path, self.device, self._lazy_fallback())
        if self.teacher_policy_cfg["num_observations"] != self.num_critic_obs:
            raise ValueError("teacher checkpoint {}: the teacher reads {} observations, the env's privileged obs has {}"
                             .format(self.teacher_path, self.teacher_policy_cfg["num_observations"], self.num_critic_obs))
        if self.teacher_policy_cfg["num_actions"] != int(self.env.num_actions):
            raise ValueError("teacher checkpoint {}: {} actions, the env has {}".format(
                self.teacher_path, self.teacher_policy_cfg["num_actions"], self.env.num_actions))
        return DaggerPPO(actor_critic, teacher, device=self.device, **self.alg_cfg)

    def _lazy_fallback(self) -> Optional[Dict]:
        try:
            return self._teacher_fallback_cfg()
        except AttributeError:  # an env without TWIST's cfg.env layout: only checkpoints with policy_cfg
            return None

    def _make_critic_normalizer(self) -> Normalizer:
        return copy.deepcopy(self.teacher_normalizer)

    @property
    def teacher(self) -> ActorCriticMimic:
        return self.alg.teacher

    def _act(self, obs: torch.Tensor, critic_obs: torch.Tensor) -> torch.Tensor:
        teacher_obs = self.teacher_normalizer.normalize(critic_obs)
        return self.alg.act(self.normalizer.normalize(obs), self._norm_critic(critic_obs), teacher_obs)

    def _record(self, obs: torch.Tensor, critic_obs: torch.Tensor) -> None:
        self.normalizer.record(obs)  # the critic normaliser stays the teacher's (frozen)

    def _update_normalizers(self) -> None:
        self.normalizer.update()
