"""Environments of the G1 motion-tracking tasks (TWIST's `legged_gym.envs`).

`legged_gym.envs.mdp` holds the environment's math as pure functions of batched torch tensors
(observations, rewards, terminations, curriculum, randomisation draws); importing this package
imports no simulator.

Importing this package registers TWIST's tasks with `legged_gym.gym_utils.task_registry`; the
environment classes import their simulator backend only when an environment is built.
"""
from legged_gym.envs.g1.g1_mimic_distill import G1MimicDistill
from legged_gym.envs.g1.g1_mimic_distill_config import (G1MimicPrivCfg, G1MimicPrivCfgPPO, G1MimicStuRLCfg,
                                                        G1MimicStuRLCfgDAgger)
from legged_gym.gym_utils.task_registry import task_registry

task_registry.register("g1_priv_mimic", G1MimicDistill, G1MimicPrivCfg, G1MimicPrivCfgPPO)
task_registry.register("g1_stu_rl", G1MimicDistill, G1MimicStuRLCfg, G1MimicStuRLCfgDAgger)
