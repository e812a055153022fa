"""EpisodeStats: the episode statistics the runners log, gathered on the device.

Per step: the running reward sum and length of every env; the sums and lengths of episodes that
end at this step are kept as masked rows, and the env's `extras["episode"]` dict (0-dim tensors
`metric_<term>`, `rew_<term>`) of steps that reset envs. `end_rollout()` moves them to the host
once per iteration: the last 100 finished episodes (reward, length) and the mean of each
`extras["episode"]` key over the iteration's steps (NaN values, as an environment that resets by
mask reports on steps where no episode ended, are left out).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Deque, Dict, List, Optional

import torch


class EpisodeStats:
    def __init__(self, num_envs: int, device, history: int = 100):
        self.device = torch.device(device)
        self.cur_reward_sum = torch.zeros(num_envs, device=self.device)
        self.cur_episode_length = torch.zeros(num_envs, device=self.device)
        self.reward_buffer: Deque[float] = deque(maxlen=history)
        self.length_buffer: Deque[float] = deque(maxlen=history)
        self._done: List[torch.Tensor] = []
        self._rew: List[torch.Tensor] = []
        self._len: List[torch.Tensor] = []
        self._episode_infos: List[Dict[str, torch.Tensor]] = []

    def step(self, rewards: torch.Tensor, dones: torch.Tensor, infos: Optional[Dict] = None) -> None:
        """Account one env step (no host synchronisation)."""
        dones = dones.reshape(-1).to(torch.bool)
        self.cur_reward_sum += rewards.reshape(-1)
        self.cur_episode_length += 1
        self._done.append(dones.clone())
        self._rew.append(self.cur_reward_sum.clone())
        self._len.append(self.cur_episode_length.clone())
        self.cur_reward_sum.masked_fill_(dones, 0.0)
        self.cur_episode_length.masked_fill_(dones, 0.0)
        if infos and "episode" in infos:
            self._episode_infos.append(dict(infos["episode"]))

    def end_rollout(self) -> Dict[str, float]:
        """Move the rollout's finished episodes into the 100-episode buffers; returns the mean of
        every `extras["episode"]` key over the steps that reported one."""
        if self._done:
            done = torch.stack(self._done)
            self.reward_buffer.extend(torch.stack(self._rew)[done].tolist())
            self.length_buffer.extend(torch.stack(self._len)[done].tolist())
        means: Dict[str, float] = {}
        if self._episode_infos:
            keys = sorted(set().union(*(d.keys() for d in self._episode_infos)))
            nan = torch.full((), float("nan"), device=self.device)
            # one (steps, keys) table; a NaN entry (a key a step did not report, or an env that reports
            # every step and had no episode end in this one) is left out of its key's mean
            table = torch.stack(
                [torch.stack([self._scalar(d[k]) if k in d else nan for k in keys]) for d in self._episode_infos]
            )
            for k, v in zip(keys, torch.nanmean(table, dim=0).tolist()):
                if not math.isnan(v):
                    means[k] = v
        self._done, self._rew, self._len, self._episode_infos = [], [], [], []
        return means

    def _scalar(self, value) -> torch.Tensor:
        t = torch.as_tensor(value, device=self.device, dtype=torch.float32)
        return t if t.dim() == 0 else t.reshape(-1).mean()

    @property
    def mean_reward(self) -> Optional[float]:
        return sum(self.reward_buffer) / len(self.reward_buffer) if self.reward_buffer else None

    @property
    def mean_episode_length(self) -> Optional[float]:
        return sum(self.length_buffer) / len(self.length_buffer) if self.length_buffer else None
