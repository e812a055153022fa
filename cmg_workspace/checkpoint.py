"""Writing CMG checkpoints: the trainer's (`save_checkpoint`) and releases (`release_checkpoint`).

The format (the keys of the dict, what a release is) and reading it (`read_checkpoint`, `load_cmg`
with the statistics check, run folders) are the run-time side of the CMG: `pose.cmg.checkpoint`.
A release (`python -m cmg_workspace.export CKPT --out X.pt`, the form of the shipped
`assets/cmg/cmg.pt`) is a training checkpoint without the optimiser and scheduler state, its weights
stored as float16; it cannot be resumed.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pose.cmg.checkpoint import CKPT_FORMAT


def save_checkpoint(path, payload: dict) -> Path:
    """Write atomically (a crash never leaves a half-written checkpoint under the final name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(dict(payload, format=CKPT_FORMAT), tmp)
    tmp.replace(path)
    return path


RELEASE_DROPPED = ("optimizer_state_dict", "scheduler_state_dict")


def release_checkpoint(ckpt: dict, source, dtype=torch.float16) -> dict:
    """The generator part of a training checkpoint `ckpt` (read from `source`), weights cast to `dtype`."""
    out = {k: v for k, v in ckpt.items() if k not in RELEASE_DROPPED}
    out["model_state_dict"] = {
        k: v.to(dtype) if v.is_floating_point() else v for k, v in ckpt["model_state_dict"].items()
    }
    out["release"] = {"source": str(source), "weights_dtype": str(dtype).replace("torch.", "")}
    return out
