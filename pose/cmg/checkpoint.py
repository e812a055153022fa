"""CMG checkpoints: weights with the normalisation statistics, standing pose and configuration inside.

Every file the trainer writes (`cmg_ckpt_<epoch>.pt`, `cmg_best.pt`, `cmg_final.pt`;
`cmg_workspace.checkpoint.save_checkpoint`) is one dict:

    format "cmg_checkpoint", epoch (completed epochs), model_config, model_state_dict,
    stats {motion_mean, motion_std, command_min, command_max}, standing_pose (58), joint_names (29),
    fps, loss, val_loss, best_loss, teacher_prob, val_clips, train_config, data (path),
    optimizer_state_dict, scheduler_state_dict

so that a checkpoint alone runs the generator (no data file needed) and resumes training exactly.
Plain values and tensors only: it loads with `torch.load(..., weights_only=True)`.
`load_cmg(path, data_stats=...)` refuses a checkpoint whose statistics differ from the data's.

A release (`cmg_workspace.checkpoint.release_checkpoint`, written by
`python -m cmg_workspace.export CKPT --out X.pt`, the form of the shipped `assets/cmg/cmg.pt`) is the
same dict without the optimiser and scheduler state, its weights stored as float16 (half the size;
`load_cmg` loads them into the float32 network, so the release *is* the float16-rounded model:
evaluate the release, not its source). It cannot be resumed.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from pose.cmg.model import CMG, CMGConfig
from pose.cmg.stats import Stats

CKPT_FORMAT = "cmg_checkpoint"
CKPT_PATTERN = re.compile(r"^cmg_ckpt_(\d+)\.pt$")
#: what every checkpoint, release included, holds for `load_cmg`
CKPT_KEYS = ("model_config", "model_state_dict", "stats", "standing_pose")


def epoch_checkpoints(run_dir) -> dict:
    """{epoch: path} of the `cmg_ckpt_<epoch>.pt` files of a run folder."""
    out = {}
    for p in Path(run_dir).glob("cmg_ckpt_*.pt"):
        m = CKPT_PATTERN.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return out


def latest_checkpoint(run_dir) -> Path:
    ckpts = epoch_checkpoints(run_dir)
    if not ckpts:
        raise FileNotFoundError("{}: no cmg_ckpt_<epoch>.pt in this run folder".format(run_dir))
    return ckpts[max(ckpts)]


def resolve_model_file(path) -> Path:
    """A checkpoint file, or for a run folder its cmg_final.pt, else cmg_best.pt, else the latest epoch."""
    path = Path(path)
    if path.is_dir():
        for name in ("cmg_final.pt", "cmg_best.pt"):
            if (path / name).is_file():
                return path / name
        return latest_checkpoint(path)
    if not path.is_file():
        raise FileNotFoundError("{}: CMG checkpoint or run folder does not exist".format(path))
    return path


def load_torch_file(path, what: str):
    """`torch.load(path, weights_only=True)` on the CPU; ValueError naming the file and `what` was
    expected when it cannot be read (truncated, not a torch file, objects other than tensors and plain values)."""
    if not Path(path).is_file():
        raise FileNotFoundError("{}: {} does not exist".format(path, what))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(
            "{}: cannot read as a {} (a torch.save file of tensors and plain values; truncated or another "
            "kind of file?): {}: {}".format(path, what, type(e).__name__, first)
        ) from e


def read_checkpoint(path) -> dict:
    path = Path(path)
    d = load_torch_file(path, "CMG checkpoint")
    if not isinstance(d, dict) or d.get("format") != CKPT_FORMAT:
        if isinstance(d, dict) and d and all(isinstance(v, torch.Tensor) for v in d.values()):
            found = "a bare state dict of {} tensors (no statistics, standing pose or network configuration)".format(
                len(d)
            )
        elif isinstance(d, dict):
            found = "a dict with the keys {}".format(sorted(map(str, d)))
        else:
            found = "a {}".format(type(d).__name__)
        raise ValueError(
            "{}: not a CMG checkpoint of this project: expected a dict with format {!r} (written by python -m "
            "cmg_workspace.train or cmg_workspace.export --out X.pt), found {}".format(path, CKPT_FORMAT, found)
        )
    missing = [k for k in CKPT_KEYS if k not in d]
    if missing:
        raise ValueError("{}: CMG checkpoint lacks {}".format(path, ", ".join(missing)))
    return d


@dataclass
class LoadedCMG:
    model: CMG
    stats: Stats
    standing_pose: np.ndarray  # (58,) raw state
    fps: float
    path: Path
    meta: dict


def load_cmg(path, device="cpu", data_stats: Optional[Stats] = None, data_name: str = "the data") -> LoadedCMG:
    """The model of a checkpoint or run folder, in eval mode; with `data_stats`, checks that the
    checkpoint's statistics are the data's (StatsMismatchError otherwise)."""
    path = resolve_model_file(path)
    d = read_checkpoint(path)
    stats = Stats.from_dict(d["stats"])
    if data_stats is not None:
        stats.check_matches(data_stats, str(path), data_name)
    model = CMG(CMGConfig(**d["model_config"])).to(device)
    model.load_state_dict(d["model_state_dict"])
    model.eval()
    return LoadedCMG(model, stats, np.asarray(d["standing_pose"], dtype=np.float32), float(d.get("fps", 50.0)), path, d)
