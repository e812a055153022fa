"""BaseTask: the vectorised-environment contract the rsl_rl runners use (TWIST's names).

`step(actions)` returns (obs, privileged_obs, rewards, resets, extras) for all envs at once;
`extras["time_outs"]` marks resets that are time-outs (bootstrapped), `extras["episode"]` holds the
episode statistics of the envs reset in this step, and `extras["steps_since_push"]` (an int, from the
first root push on) counts the steps since the last push of all envs (0 on the step that pushes).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch


class BaseTask:
    def __init__(self, cfg, sim_device="cpu", headless: bool = True):
        self.cfg = cfg
        self.device = torch.device(sim_device)
        self.headless = bool(headless)
        self.num_envs = int(cfg.env.num_envs)
        self.num_obs = int(cfg.env.num_observations)
        self.num_privileged_obs = cfg.env.num_privileged_obs
        self.num_actions = int(cfg.env.num_actions)

        n, dev = self.num_envs, self.device
        self.obs_buf = torch.zeros(n, self.num_obs, device=dev)
        self.privileged_obs_buf = (
            torch.zeros(n, int(self.num_privileged_obs), device=dev) if self.num_privileged_obs is not None else None
        )
        self.rew_buf = torch.zeros(n, device=dev)
        self.reset_buf = torch.ones(n, device=dev, dtype=torch.bool)
        self.episode_length_buf = torch.zeros(n, device=dev, dtype=torch.long)
        self.time_out_buf = torch.zeros(n, device=dev, dtype=torch.bool)
        self.extras: Dict[str, Any] = {}
        self.create_sim()

    def get_observations(self) -> torch.Tensor:
        return self.obs_buf

    def get_privileged_observations(self) -> Optional[torch.Tensor]:
        return self.privileged_obs_buf

    def reset(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Reset all envs, then take one step with zero actions (TWIST's contract)."""
        self.reset_idx(torch.arange(self.num_envs, device=self.device))
        obs, privileged_obs, _, _, _ = self.step(torch.zeros(self.num_envs, self.num_actions, device=self.device))
        return obs, privileged_obs

    def create_sim(self) -> None:
        raise NotImplementedError

    def reset_idx(self, env_ids: torch.Tensor) -> None:
        raise NotImplementedError

    def compute_observations(self) -> None:
        raise NotImplementedError

    def step(self, actions: torch.Tensor):
        raise NotImplementedError
