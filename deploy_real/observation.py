"""The deploy side of the student observation, on the training environment's functions.

`StudentObsBuilder` holds only the state a deploy server needs between policy steps (the 10-frame
history, the step count since start, the last raw action), takes its sizes from the observation layout
(`legged_gym.envs.mdp.layout.ObsLayout`, for the robot's number of joints) and calls the same functions as
`G1MimicDistill.compute_observations` (`legged_gym.envs.mdp.observations`): proprioception, student
assembly, history update and clipping. The history follows the environment's convention exactly: on
the first step the history part is zeros, and while the step count is <= 1 the history is refilled
with copies of the newest frame (tests/deploy_real/test_obs_parity.py compares both sides).

For the 50 Hz loop the two halves (proprioception; assembly + history) are compiled once from those
functions by `deploy_real.runtime.CpuFunction` (ONNX Runtime when installed, else a TorchScript trace),
checked against the functions at start-up: the same operations with less overhead per call. Nothing in
them branches on values, so one example traces the whole function. State and results are numpy arrays.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Tuple

import numpy as np
import torch

from deploy_real.runtime import CpuFunction
from legged_gym.envs.mdp import observations as obs_terms
from legged_gym.envs.mdp.layout import LAYOUT, Block, ObsLayout


@functools.lru_cache(maxsize=None)
def robot_state_block(num_dofs: int) -> Block:
    """The robot state the proprioception is computed from, as one vector: gyro (base frame), IMU
    quaternion xyzw, joint positions, joint velocities."""
    return Block("robot state", [("ang_vel", 3), ("quat_xyzw", 4), ("dof_pos", num_dofs), ("dof_vel", num_dofs)])


class StudentObsBuilder:
    """One robot's 1155-D student observation from its state and the 31-D reference."""

    def __init__(self, default_dof_pos, history_len: int = LAYOUT.history_len, engine: str = "auto") -> None:
        self.default_dof_pos = torch.as_tensor(np.asarray(default_dof_pos), dtype=torch.float32)
        self.num_dofs = n = int(self.default_dof_pos.shape[0])
        #: The student observation's layout for this robot's joints and history length.
        self.layout: ObsLayout = dataclasses.replace(LAYOUT, num_actions=n, history_len=int(history_len))
        self.history_len = self.layout.history_len
        self.frame_dim = self.layout.n_student_single
        self.state = robot_state_block(n)
        self.state_dim = self.state.size
        self.reset()
        rng = np.random.default_rng(0)  # generic examples: the start-up check then covers every entry
        example_state = rng.normal(size=self.state_dim).astype(np.float32)
        quat = self.state["quat_xyzw"]
        example_state[quat] /= np.linalg.norm(example_state[quat])  # a unit quaternion
        example_action = rng.normal(size=(1, n)).astype(np.float32)
        self._proprio_fn = CpuFunction(
            self._proprio,
            (example_state, example_action),
            ["state", "last_action"],
            ["proprio"],
            engine,
            name="proprioception",
        )
        example_proprio = self._proprio_fn(example_state, example_action)[0]
        example_mimic = rng.normal(size=self.layout.n_mimic_obs).astype(np.float32)
        example_history = rng.normal(size=self.history.shape).astype(np.float32)
        self._assemble_fn = CpuFunction(
            self._assemble,
            (example_mimic, example_proprio, example_history, np.array([5], dtype=np.int64)),
            ["mimic", "proprio", "history", "steps"],
            ["obs", "new_history"],
            engine,
            name="observation assembly",
        )
        self.engine = self._proprio_fn.engine

    def _proprio(self, state: torch.Tensor, last_action: torch.Tensor) -> torch.Tensor:
        s, st = state.unsqueeze(0), self.state
        return obs_terms.proprio_obs(
            s[:, st["ang_vel"]],
            s[:, st["quat_xyzw"]],
            s[:, st["dof_pos"]],
            s[:, st["dof_vel"]],
            last_action,
            self.default_dof_pos,
        )

    def _assemble(self, mimic: torch.Tensor, proprio: torch.Tensor, history: torch.Tensor, steps: torch.Tensor):
        m = mimic.unsqueeze(0)
        obs = obs_terms.clip_obs(obs_terms.student_obs(m, proprio, history, self.layout))
        return obs, obs_terms.update_obs_history(history, obs_terms.student_single_obs(m, proprio, self.layout), steps)

    def reset(self) -> None:
        """Back to the start of an episode: zero history, zero last action, step count 0."""
        self.history = np.zeros((1, self.history_len, self.frame_dim), dtype=np.float32)
        self.last_action = np.zeros((1, self.num_dofs), dtype=np.float32)
        self.steps = 0

    def set_last_action(self, action) -> None:
        """The raw (unclipped) policy output of this step: the proprioception's last-action entries."""
        self.last_action = np.asarray(action, dtype=np.float32).reshape(1, self.num_dofs)

    def proprio(self, base_ang_vel, base_quat_xyzw, dof_pos, dof_vel) -> np.ndarray:
        """(1, 74) proprioception of the robot state (and the last action); see `build`."""
        state = np.concatenate([base_ang_vel, base_quat_xyzw, dof_pos, dof_vel]).astype(np.float32)
        if state.shape[0] != self.state_dim:
            raise ValueError(
                "robot state: expected {} values, got {}".format(
                    " + ".join(str(k) for _, k in self.state.fields), state.shape[0]
                )
            )
        return self._proprio_fn(state, self.last_action)[0]

    def assemble(self, mimic, proprio: np.ndarray) -> np.ndarray:
        """The (1155,) observation of the reference `mimic` (31,) and `proprio` (from `proprio()`); advances
        the history."""
        mimic32 = np.asarray(mimic, dtype=np.float32).reshape(self.layout.n_mimic_obs)
        obs, self.history = self._assemble_fn(mimic32, proprio, self.history, np.array([self.steps], dtype=np.int64))
        self.steps += 1
        return obs[0]

    def build(self, mimic, base_ang_vel, base_quat_xyzw, dof_pos, dof_vel) -> Tuple[np.ndarray, np.ndarray]:
        """(observation (1155,), proprioception (74,)) as float32 numpy, and advance the history.

        mimic (31,): the reference block; base_ang_vel (3,): gyro, base frame, rad/s;
        base_quat_xyzw (4,): IMU orientation (MuJoCo and the Unitree IMU give wxyz: reorder first);
        dof_pos, dof_vel (23,): training joint order.
        """
        proprio = self.proprio(base_ang_vel, base_quat_xyzw, dof_pos, dof_vel)
        return self.assemble(mimic, proprio), proprio[0]
