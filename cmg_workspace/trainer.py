"""CMG training loop: autoregressive windows with scheduled sampling, validation by clip, exact resume.

Per batch of windows (31 normalised states, 30 normalised commands): the first input is the
window's first state, or with probability `standing_swap_prob` (one draw per batch) the dataset's
standing pose for the whole batch (so the generator learns to start from standing); then for each
of the 30 steps: pred = CMG(input, command_t), loss += MSE(pred, state_{t+1}); the next input is
the true state (teacher forcing, one Bernoulli(p) draw per step shared by the batch) or pred
detached. Loss averaged over the steps; Adam (lr 3e-4, weight decay 1e-4), gradient norm clipped
at 1.0, one step per batch. p = max(0.05, 0.995^epoch). ReduceLROnPlateau (factor 0.5, patience
10, min 1e-6) on the epoch's training loss, as the reference CMG does, but only once p has reached
its floor: until then the training objective gets harder every epoch (fewer teacher-forced steps),
the loss rises by design, and a plateau rule stepped on it halves the rate every 11 epochs (an H200
run that did so was at lr 9e-6 by epoch 90, p = 0.64). Not on the validation loss either:
free-running rollouts of a few held-out clips are spiky early in training (a run that followed them
was at lr 1e-6 by epoch 120).

Validation: whole clips (a clip and its mirror together) are held out; its loss is the same MSE
with the generator running free (p = 0) from each window's first state, so it does not drift with
the teacher-forcing schedule. The best checkpoint is the one with the lowest such loss.

Randomness (shuffling, swaps, teacher-forcing draws) comes from a generator seeded by (seed,
epoch), so a run resumed from `cmg_ckpt_<k>.pt` continues exactly as the uninterrupted run.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from cmg_workspace.checkpoint import save_checkpoint
from cmg_workspace.dataset import CMGData
from cmg_workspace.joints import joint_names
from cmg_workspace.model import CMG, CMGConfig, parameter_count


@dataclass
class TrainConfig:
    epochs: int = 1000
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    teacher_prob_start: float = 1.0
    teacher_prob_decay: float = 0.995
    teacher_prob_min: float = 0.05
    standing_swap_prob: float = 0.2
    lr_factor: float = 0.5
    lr_patience: int = 10
    min_lr: float = 1e-6
    val_fraction: float = 0.1
    val_clips: List[str] = field(default_factory=list)
    save_interval: int = 50
    seed: int = 0

    def teacher_prob(self, epoch: int) -> float:
        """Teacher-forcing probability during epoch `epoch` (0-based)."""
        return max(self.teacher_prob_min, self.teacher_prob_start * self.teacher_prob_decay ** epoch)


def split_clips(clip_names: Sequence[str], val_fraction: float, seed: int, val_clips: Sequence[str] = ()) -> List[int]:
    """Indices of the validation clips: the named ones, else round(fraction x clips) drawn with `seed`
    (at least one when the fraction is > 0 and there are two or more clips; never all)."""
    if val_clips:
        unknown = [n for n in val_clips if n not in clip_names]
        if unknown:
            raise ValueError("--val_clips: {} not in the data's clips ({})".format(unknown, ", ".join(clip_names)))
        return sorted(clip_names.index(n) for n in val_clips)
    n = len(clip_names)
    k = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    else:
        k = 0
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n, size=k, replace=False))


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1000003 + int(epoch))


class Trainer:
    def __init__(self, data: CMGData, cfg: TrainConfig, model_cfg: CMGConfig, device="cpu", out_dir=None,
                 data_path: Optional[str] = None, writer=None):
        self.data, self.cfg, self.device = data, cfg, torch.device(device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.data_path = data_path
        self.writer = writer
        torch.manual_seed(cfg.seed)
        self.model = CMG(model_cfg).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr)
        st = data.stats.tensors(self.device)
        self.motion = st.normalise_motion(torch.as_tensor(data.motion, device=self.device))
        self.command = st.normalise_command(torch.as_tensor(data.command, device=self.device))
        self.standing = st.normalise_motion(torch.as_tensor(data.standing_pose, device=self.device))
        self.val_clip_ids = split_clips(data.clip_names, cfg.val_fraction, cfg.seed, cfg.val_clips)
        is_val = np.isin(data.clip_index, self.val_clip_ids)
        train_ids = np.flatnonzero(~is_val)
        self.val_windows = torch.as_tensor(np.flatnonzero(is_val))
        self.train_samples = torch.as_tensor(np.repeat(train_ids, data.repeats[train_ids]))  # replication
        if len(self.train_samples) == 0:
            raise ValueError("no training windows left after holding out the validation clips")
        self.epoch = 0  # completed epochs
        self.best_loss = math.inf
        self.last = {}  # type: dict

    @property
    def val_clip_names(self) -> List[str]:
        return [self.data.clip_names[i] for i in self.val_clip_ids]

    def num_batches(self) -> int:
        return max(1, len(self.train_samples) // self.cfg.batch_size)

    # --- one pass over windows ---------------------------------------------------------------------

    def sequence_loss(self, idx: torch.Tensor, start: Optional[torch.Tensor], teacher: Sequence[bool]) -> torch.Tensor:
        """Mean over steps of MSE(pred_t, state_{t+1}) for windows `idx`; `teacher[t]` picks the
        true state (else the detached prediction) as the next input; `start` replaces the first input."""
        x = self.motion[idx.to(self.device)]
        c = self.command[idx.to(self.device)]
        cur = x[:, 0] if start is None else start.expand(len(idx), -1)
        steps = c.shape[1]
        loss = x.new_zeros(())
        for t in range(steps):
            pred = self.model(cur, c[:, t])
            loss = loss + nn.functional.mse_loss(pred, x[:, t + 1])
            cur = x[:, t + 1] if teacher[t] else pred.detach()
        return loss / steps

    def train_epoch(self, progress=None) -> float:
        cfg, epoch = self.cfg, self.epoch
        p = cfg.teacher_prob(epoch)
        g = epoch_generator(cfg.seed, epoch)
        order = self.train_samples[torch.randperm(len(self.train_samples), generator=g)]
        n_batches = self.num_batches()
        size = cfg.batch_size if len(order) >= cfg.batch_size else len(order)
        self.model.train()
        total = 0.0
        batches = range(n_batches) if progress is None else progress(range(n_batches))
        for b in batches:
            idx = order[b * size:(b + 1) * size]
            draws = torch.rand(1 + self.data.command.shape[1], generator=g)
            start = self.standing if float(draws[0]) < cfg.standing_swap_prob else None
            loss = self.sequence_loss(idx, start, (draws[1:] < p).tolist())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            total += float(loss.detach())
        return total / n_batches

    @torch.no_grad()
    def validate(self, chunk: int = 4096) -> Optional[float]:
        if len(self.val_windows) == 0:
            return None
        self.model.eval()
        free = [False] * self.data.command.shape[1]
        total = 0.0
        for i in range(0, len(self.val_windows), chunk):
            idx = self.val_windows[i:i + chunk]
            total += float(self.sequence_loss(idx, None, free)) * len(idx)
        return total / len(self.val_windows)

    # --- epochs, checkpoints, resume ---------------------------------------------------------------

    def step_epoch(self, progress=None) -> dict:
        t0 = time.perf_counter()
        p = self.cfg.teacher_prob(self.epoch)
        loss = self.train_epoch(progress)
        val = self.validate()
        if p <= self.cfg.teacher_prob_min:
            self.scheduler.step(loss)
        monitored = loss if val is None else val  # what cmg_best.pt follows
        self.epoch += 1
        improved = monitored < self.best_loss
        if improved:
            self.best_loss = monitored
        lr = self.optimizer.param_groups[0]["lr"]
        self.last = {"epoch": self.epoch, "loss": loss, "val_loss": val, "lr": lr, "teacher_prob": p,
                     "improved": improved, "seconds": time.perf_counter() - t0}
        if self.writer is not None:
            self.writer.add_scalar("metrics/MSE Loss", loss, self.epoch)
            if val is not None:
                self.writer.add_scalar("metrics/Val MSE Loss", val, self.epoch)
            self.writer.add_scalar("metrics/Learning Rate", lr, self.epoch)
            self.writer.add_scalar("metrics/Teacher Prob", p, self.epoch)
            self.writer.add_scalar("metrics/Epoch Seconds", self.last["seconds"], self.epoch)
        return self.last

    def payload(self) -> dict:
        return {
            "epoch": self.epoch,
            "model_config": self.model.config.to_dict(),
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "scheduler_state_dict": self.scheduler.state_dict(),
            "stats": self.data.stats.to_dict(),
            "standing_pose": [float(v) for v in self.data.standing_pose],
            "joint_names": list(joint_names()),
            "fps": float(self.data.config.get("fps", 50.0)),
            "loss": self.last.get("loss"),
            "val_loss": self.last.get("val_loss"),
            "best_loss": self.best_loss,
            "teacher_prob": self.cfg.teacher_prob(self.epoch),
            "val_clips": self.val_clip_names,
            "train_config": asdict(self.cfg),
            "data": self.data_path,
            "parameters": parameter_count(self.model),
        }

    def save(self, name: str) -> Path:
        return save_checkpoint(self.out_dir / name, self.payload())

    def restore(self, ckpt: dict) -> None:
        """Continue from a checkpoint dict (model, optimiser, scheduler, epoch, best loss, split)."""
        if CMGConfig(**ckpt["model_config"]) != self.model.config:
            raise ValueError("the checkpoint's network {} differs from the requested {}".format(
                ckpt["model_config"], self.model.config.to_dict()))
        if list(ckpt.get("val_clips", [])) != self.val_clip_names:
            raise ValueError("the checkpoint held out the clips {} but this run holds out {} (use the same "
                             "--val_fraction / --seed / --val_clips)".format(ckpt.get("val_clips"), self.val_clip_names))
        self.model.load_state_dict(ckpt["model_state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
        self.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
        self.epoch = int(ckpt["epoch"])
        self.best_loss = float(ckpt["best_loss"])
        self.last = {"loss": ckpt.get("loss"), "val_loss": ckpt.get("val_loss")}

    def run(self, progress_factory=None, on_epoch=None) -> Tuple[Path, Optional[Path]]:
        """Train up to cfg.epochs; returns (cmg_final.pt, cmg_best.pt or None).
        `progress_factory(iterable, desc, leave=True)` wraps the loops (e.g. tqdm); `on_epoch(info)`
        is called after each epoch."""
        cfg = self.cfg
        best = self.out_dir / "cmg_best.pt"
        epochs = range(self.epoch, cfg.epochs)
        bar = progress_factory(epochs, "epochs") if progress_factory else epochs
        for _ in bar:
            inner = (lambda it: progress_factory(it, "batches", leave=False)) if progress_factory else None
            info = self.step_epoch(inner)
            if info["improved"]:
                self.save(best.name)
            if self.epoch % cfg.save_interval == 0 or self.epoch == cfg.epochs:
                self.save("cmg_ckpt_{}.pt".format(self.epoch))
            if on_epoch is not None:
                on_epoch(info)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss="{:.4f}".format(info["loss"]),
                                val="-" if info["val_loss"] is None else "{:.4f}".format(info["val_loss"]),
                                lr="{:.1e}".format(info["lr"]), p="{:.3f}".format(info["teacher_prob"]))
        final = self.save("cmg_final.pt")
        return final, best if best.is_file() else None
