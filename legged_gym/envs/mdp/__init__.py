"""The environment's math, mjlab style: small pure functions of batched torch tensors.

- `layout`: the observation layout object `ObsLayout` (named blocks and slices, sizes; docs/observations.md).
- `observations`: reference blocks, proprioception (shared with the deploy servers), privileged
  info, observation noise, assembly of the teacher (1318) and student (1155) vectors, history.
- `rewards`: tracking and penalty terms, aggregation (docs/rewards_and_terminations.md; the term tables
  are the task configs', the env reads them through `legged_gym/envs/base/reward_terms.py`).
- `terminations`: termination terms and their combination into (reset, time_out).
- `curriculum`: per-motion difficulty update.
- `randomization`: domain-randomisation draws and reference-state initialisation.

Nothing here imports a simulator or holds state: the environment owns the buffers and passes them
in; functions that update a state (history, air time, difficulty) return the new state.
"""
