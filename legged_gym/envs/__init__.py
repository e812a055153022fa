"""Environments of the G1 motion-tracking tasks (TWIST's `legged_gym.envs`).

`legged_gym.envs.mdp` holds the environment's math as pure functions of batched torch tensors
(observations, rewards, terminations, curriculum, randomisation draws); importing this package
imports no simulator.
"""
