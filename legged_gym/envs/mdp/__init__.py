"""The environment's math, mjlab style: small pure functions of batched torch tensors.

- `layout`: observation dimensions (SPEC 4.1) and slice ranges (SPEC 12.2).
- `observations`: reference blocks, proprioception (shared with the deploy servers), privileged
  info, observation noise, assembly of the teacher (1318) and student (1155) vectors, history.
- `rewards`: tracking and penalty terms (SPEC 5.2, 5.3), scale tables (5.4), aggregation (5.1).
- `terminations`: termination terms and their combination into (reset, time_out) (SPEC 5.5).
- `curriculum`: per-motion difficulty update (SPEC 5.6).
- `randomization`: domain-randomisation draws and reference-state initialisation (SPEC 3.4, 3.6).

Nothing here imports a simulator or holds state: the environment owns the buffers and passes them
in; functions that update a state (history, air time, difficulty) return the new state.
"""
