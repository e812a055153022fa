"""The deploy side of the student observation, on the training environment's functions.

`StudentObsBuilder` holds only the state a deploy server needs between policy steps (the 10-frame
history, the step count since start, the last raw action) and calls the same functions as
`G1MimicDistill.compute_observations` (`legged_gym.envs.mdp.observations`): proprioception, student
assembly, history update and clipping. The history follows the environment's convention exactly: on
the first step the history part is zeros, and while the step count is <= 1 the history is refilled
with copies of the newest frame (tests/deploy_real/test_obs_parity.py compares both sides).

For the 50 Hz loop the two halves (proprioception; assembly + history) are traced once with
`torch.jit.trace` from those functions: the same operations, run as one graph each instead of op by op
from Python (half the time on a CPU). Nothing in them branches on values, so the trace is exact.
"""
from __future__ import annotations

import warnings
from typing import Tuple

import numpy as np
import torch

from legged_gym.envs.mdp import observations as obs_terms
from legged_gym.envs.mdp.layout import DIMS


class StudentObsBuilder:
    """One robot's 1155-D student observation from its state and the 31-D reference."""

    def __init__(self, default_dof_pos, history_len: int = DIMS.history_len) -> None:
        self.default_dof_pos = torch.as_tensor(np.asarray(default_dof_pos), dtype=torch.float32)
        self.num_dofs = n = int(self.default_dof_pos.shape[0])
        self.history_len = int(history_len)
        self.frame_dim = 8 + n + 5 + 3 * n
        self.state_dim = 3 + 4 + 2 * n
        self.reset()
        example_state = torch.zeros(self.state_dim)
        example_state[6] = 1.0  # a unit quaternion
        example_proprio = self._proprio(example_state, self.last_action)  # also fills the functions' index caches
        example_mimic = torch.zeros(8 + n)
        with warnings.catch_warnings():  # the tracer's notes on Python values that become constants
            warnings.simplefilter("ignore")
            self._proprio_graph = torch.jit.trace(self._proprio, (example_state, self.last_action))
            self._assemble_graph = torch.jit.trace(
                self._assemble, (example_mimic, example_proprio, self.history, torch.tensor([0])))

    def _proprio(self, state: torch.Tensor, last_action: torch.Tensor) -> torch.Tensor:
        n = self.num_dofs
        s = state.unsqueeze(0)
        return obs_terms.proprio_obs(s[:, 0:3], s[:, 3:7], s[:, 7:7 + n], s[:, 7 + n:7 + 2 * n], last_action,
                                     self.default_dof_pos)

    @staticmethod
    def _assemble(mimic: torch.Tensor, proprio: torch.Tensor, history: torch.Tensor, steps: torch.Tensor):
        m = mimic.unsqueeze(0)
        obs = obs_terms.clip_obs(obs_terms.student_obs(m, proprio, history))
        return obs, obs_terms.update_obs_history(history, obs_terms.student_single_obs(m, proprio), steps)

    def reset(self) -> None:
        """Back to the start of an episode: zero history, zero last action, step count 0."""
        self.history = torch.zeros(1, self.history_len, self.frame_dim)
        self.last_action = torch.zeros(1, self.num_dofs)
        self.steps = 0

    def set_last_action(self, action) -> None:
        """The raw (unclipped) policy output of this step: the proprioception's last-action entries."""
        self.last_action = torch.as_tensor(np.asarray(action), dtype=torch.float32).reshape(1, self.num_dofs)

    def proprio(self, base_ang_vel, base_quat_xyzw, dof_pos, dof_vel) -> torch.Tensor:
        """(1, 74) proprioception of the robot state (and the last action); see `build`."""
        state = torch.from_numpy(np.concatenate([base_ang_vel, base_quat_xyzw, dof_pos, dof_vel]).astype(np.float32))
        if state.shape[0] != self.state_dim:
            raise ValueError("robot state: expected 3 + 4 + {n} + {n} values, got {}".format(state.shape[0], n=self.num_dofs))
        with torch.inference_mode():
            return self._proprio_graph(state, self.last_action)

    def assemble(self, mimic, proprio: torch.Tensor) -> np.ndarray:
        """The (1155,) observation of the reference `mimic` (31,) and `proprio` (from `proprio()`); advances
        the history."""
        mimic_t = torch.from_numpy(np.asarray(mimic, dtype=np.float32).reshape(8 + self.num_dofs))
        with torch.inference_mode():
            obs, self.history = self._assemble_graph(mimic_t, proprio, self.history, torch.tensor([self.steps]))
        self.steps += 1
        return obs[0].numpy()

    def build(self, mimic, base_ang_vel, base_quat_xyzw, dof_pos, dof_vel) -> Tuple[np.ndarray, np.ndarray]:
        """(observation (1155,), proprioception (74,)) as float32 numpy, and advance the history.

        mimic (31,): the reference block; base_ang_vel (3,): gyro, base frame, rad/s;
        base_quat_xyzw (4,): IMU orientation (MuJoCo and the Unitree IMU give wxyz: reorder first);
        dof_pos, dof_vel (23,): training joint order.
        """
        proprio = self.proprio(base_ang_vel, base_quat_xyzw, dof_pos, dof_vel)
        return self.assemble(mimic, proprio), proprio[0].numpy()
