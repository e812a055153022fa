"""rsl_rl: the learners of the TWIST reimplementation (docs/learning.md).

Subpackages, one concept per file: `modules` (ActorCriticMimic), `algorithms` (PPO, DaggerPPO
and their losses), `storage` (RolloutStorage, GAE), `runners` (OnPolicyRunnerMimic,
OnPolicyDaggerRunner: training loop, checkpoints, logging), `utils` (Normalizer, episode
statistics, TensorBoard/wandb logger).

rsl_rl knows tensors, not tasks or simulators: it never imports legged_gym; environments are
duck-typed (num_envs, num_obs, num_privileged_obs, num_actions, get_observations(),
get_privileged_observations(), step(actions)).
"""
