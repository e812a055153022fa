"""The CMG (conditional motion generator) at run time: what a consumer of a trained CMG needs.

`joints` (the 29-joint state, left/right mirror, 29 -> 23 mapping), `model` (the network), `stats`
(the normalisation statistics inside every checkpoint) and `checkpoint` (the checkpoint format,
`load_cmg` with its statistics check). The CMG motion library (`pose.utils.cmg_motion_lib`) and the
deploy stack use them; the training workspace `cmg_workspace` (data set builder, trainer, export,
evaluation) builds on them and writes the checkpoints (`cmg_workspace.checkpoint`).
"""
