"""OnPolicyDaggerRunner: the student's DAgger-PPO loop (docs/learning.md; docs/decisions.md D3, D4, D5).

The frozen teacher is rebuilt from its checkpoint (`teacher_path`): an ActorCriticMimic made from
the checkpoint's "policy_cfg" (falling back to train_cfg["teacher_policy"], whose sizes the train
entry fills in from the env's observation layout, for checkpoints without one), its
"model_state_dict", and its observation normaliser "normalizer".

Normalisation:
  - student obs: the student's own normaliser, recorded during the first normalizer_update_iterations;
  - teacher input: the privileged obs under the teacher's own saved normaliser (docs/decisions.md D4);
  - student critic: the privileged obs under `critic_normalizer`, a frozen copy of the teacher's
    normaliser (TWIST's student critic also reads teacher-normalised obs; the copy travels in the
    student's checkpoints so a resume does not depend on the teacher's file for it).

Everything else (loop, checkpoints, logging, resume) is OnPolicyRunnerMimic's; checkpoints add the
DAgger schedule state ("dagger": coef, counter) and the teacher they were trained against
("teacher": path, iter, sha256 of its weights, see `state_dict_sha256`); resuming against a teacher
with another hash raises TeacherMismatchError unless `allow_teacher_change`. Logs add
Loss/kl_teacher_student (the KL, before the coefficient), Loss/bc_loss (coef x KL) and
Loss/dagger_coef. `pure_ppo` (the scripts' --eval_student) sets the DAgger coefficient to 0 for
good: the student trains by PPO alone, the teacher still supplies the critic's normaliser.
Data-parallel (torchrun): every rank loads the teacher from `teacher_path` onto its own device.
"""

from __future__ import annotations

import copy
import hashlib
import os
from typing import Dict, Optional, Tuple

import torch

from rsl_rl.algorithms.dagger_ppo import DaggerPPO
from rsl_rl.modules.actor_critic_mimic import ActorCriticMimic
from rsl_rl.runners.on_policy_runner_mimic import POLICY_KEYS, OnPolicyRunnerMimic, _plain, motion_obs_dims
from rsl_rl.utils.checkpoint import CheckpointError, read_checkpoint
from rsl_rl.utils.normalizer import Normalizer


class TeacherMismatchError(ValueError):
    """A student checkpoint resumed against a teacher other than the one it was trained with."""


def state_dict_sha256(state_dict: Dict[str, torch.Tensor]) -> str:
    """sha256 over a state dict: every entry's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().to("cpu").contiguous()
        h.update("{}|{}|{}|".format(key, t.dtype, tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def describe_teacher(info: Optional[Dict]) -> str:
    if not info:
        return "<unknown teacher>"
    return "{} (iteration {}, sha256 {})".format(info.get("path"), info.get("iter"), str(info.get("sha256"))[:12])


def load_teacher(
    path: str, device, fallback_policy_cfg: Optional[Dict] = None
) -> Tuple[ActorCriticMimic, Normalizer, Dict]:
    """(teacher network in eval mode, its normaliser, the constructor arguments used) from a checkpoint
    (this project's or TWIST's: `read_checkpoint`)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("teacher checkpoint {}: no such file".format(path))
    ckpt = read_checkpoint(path, map_location=device)
    policy_cfg = ckpt.get("policy_cfg") or fallback_policy_cfg
    if policy_cfg is None:
        raise CheckpointError("teacher checkpoint {}: no 'policy_cfg' entry to rebuild the teacher from".format(path))
    teacher = ActorCriticMimic(**policy_cfg).to(device)
    try:
        teacher.load_state_dict(ckpt["model_state_dict"])
    except RuntimeError as e:
        raise RuntimeError("teacher checkpoint {}: weights do not fit the teacher {}: {}".format(path, policy_cfg, e))
    teacher.eval()
    normalizer = Normalizer(int(policy_cfg["num_observations"])).to(device)
    normalizer.load_state_dict(ckpt["normalizer"])
    teacher.checkpoint_info = {
        "path": os.path.abspath(path),
        "iter": int(ckpt.get("iter", -1)),
        "sha256": state_dict_sha256(ckpt["model_state_dict"]),
    }
    return teacher, normalizer, dict(policy_cfg)


def init_std_from_teacher(student: ActorCriticMimic, teacher: ActorCriticMimic) -> None:
    """`policy.init_std_from_teacher` (docs/learning.md, DAgger): the student's learnt action std starts
    at the teacher's, joint by joint (the runner has checked that both have the env's action count). A
    resumed student keeps the std of its checkpoint (loaded after this)."""
    if student.fix_action_std:
        raise ValueError("policy.init_std_from_teacher needs a learnt std (fix_action_std is set)")
    with torch.no_grad():
        student.std.copy_(teacher.std)


class OnPolicyDaggerRunner(OnPolicyRunnerMimic):
    alg: DaggerPPO

    def __init__(
        self,
        env,
        train_cfg: Dict,
        log_dir: Optional[str] = None,
        device="cpu",
        teacher_path: Optional[str] = None,
        allow_teacher_change: bool = False,
        pure_ppo: bool = False,
    ):
        if not teacher_path:
            raise ValueError("OnPolicyDaggerRunner needs teacher_path (the teacher's model_<it>.pt)")
        self.teacher_path = str(teacher_path)
        self.allow_teacher_change = bool(allow_teacher_change)
        self.pure_ppo = bool(pure_ppo)
        super().__init__(env, train_cfg, log_dir, device)
        self._apply_pure_ppo()

    def _apply_pure_ppo(self) -> None:
        """--eval_student: DAgger coefficient 0 now and at every later update (also after a resume)."""
        if self.pure_ppo:
            self.alg.dagger_coef_init = self.alg.dagger_coef_min = self.alg.dagger_coef = 0.0

    @property
    def teacher_info(self) -> Dict:
        """{"path", "iter", "sha256"} of the loaded teacher."""
        return dict(self.alg.teacher.checkpoint_info)

    def _extra_checkpoint_state(self) -> Dict:
        return {"teacher": self.teacher_info}

    def _check_checkpoint(self, ckpt: Dict, path: str) -> None:
        saved = ckpt.get("teacher")
        if not saved or saved.get("sha256") == self.teacher_info["sha256"]:
            return
        if not self.allow_teacher_change:
            raise TeacherMismatchError(
                "{} was trained against teacher {}, but this run loads teacher {}; pass --allow_teacher_change "
                "to continue with the new teacher".format(
                    path, describe_teacher(saved), describe_teacher(self.teacher_info)
                )
            )
        print(
            "Note: {} was trained against teacher {}; continuing with teacher {} (--allow_teacher_change)".format(
                path, describe_teacher(saved), describe_teacher(self.teacher_info)
            )
        )

    def load(self, path: str, load_optimizer: bool = True) -> Optional[Dict]:
        infos = super().load(path, load_optimizer)
        self._apply_pure_ppo()  # the checkpoint's DAgger state must not switch the KL term back on
        return infos

    def _teacher_fallback_cfg(self) -> Dict:
        """The teacher's constructor arguments from train_cfg["teacher_policy"]: it reads the privileged obs."""
        teacher_policy = self.train_cfg.get("teacher_policy") or {}
        motion_obs, motion_steps = motion_obs_dims(teacher_policy)
        cfg = dict(
            num_observations=self.num_critic_obs,
            num_critic_observations=self.num_critic_obs,
            num_motion_observations=motion_obs,
            num_motion_steps=motion_steps,
            num_actions=int(self.env.num_actions),
        )
        for key in POLICY_KEYS:
            if key in teacher_policy:
                cfg[key] = _plain(teacher_policy[key])
        return cfg

    def _make_algorithm(self, actor_critic: ActorCriticMimic) -> DaggerPPO:
        if not self.has_critic_obs:
            raise ValueError("OnPolicyDaggerRunner: the env has no privileged observations for the teacher")
        teacher, self.teacher_normalizer, self.teacher_policy_cfg = load_teacher(
            self.teacher_path, self.device, self._lazy_fallback()
        )
        if self.teacher_policy_cfg["num_observations"] != self.num_critic_obs:
            raise ValueError(
                "teacher checkpoint {}: the teacher reads {} observations, the env's privileged obs has {}".format(
                    self.teacher_path, self.teacher_policy_cfg["num_observations"], self.num_critic_obs
                )
            )
        if self.teacher_policy_cfg["num_actions"] != int(self.env.num_actions):
            raise ValueError(
                "teacher checkpoint {}: {} actions, the env has {}".format(
                    self.teacher_path, self.teacher_policy_cfg["num_actions"], self.env.num_actions
                )
            )
        if self.policy_cfg.get("init_std_from_teacher", False):
            init_std_from_teacher(actor_critic, teacher)
        return DaggerPPO(actor_critic, teacher, device=self.device, **self.alg_cfg)

    def _lazy_fallback(self) -> Optional[Dict]:
        try:
            return self._teacher_fallback_cfg()
        except ValueError:  # no teacher sizes in the train config: only checkpoints with policy_cfg
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
        self._merge_and_update(self.normalizer)  # the student's own, over all ranks when data-parallel
