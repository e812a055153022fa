"""CMG training loop: autoregressive windows with scheduled sampling, validation by clip, exact resume.

Per batch of windows (31 normalised states, 30 normalised commands): the first input is the
window's first state, or with probability `standing_swap_prob` (one draw per batch) the dataset's
standing pose for the whole batch (so the generator learns to start from standing); with
`standing_swap_max_speed` only the batch's windows slower than that (mean command speed) start from
standing. The swap trains a jump from standing straight into the middle of a window: for a walking
window the MSE answer from standing, which carries no gait phase, tends to the average over the
phases, a low-amplitude pose. The shipped CMG, trained with it, settles from standing into a
short-stance gait at 0.8-1 m/s, while started inside a walk it keeps the data's long stance
(`bench/cmg_stance_anatomy.py`); trained from scratch with the swap limited to windows under
0.3 m/s it learns the same short stance (`bench/results/cmg_train_swap_slow_h200_2026-12-01.json`),
so the swap is not its cause. Then for each
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

With `foot_slide_weight` > 0 (`--foot_slide_weight`, off by default) the batch step minimises
MSE + weight x the stance-slide loss of every generated step (`cmg_workspace/foot_loss.py`: how
fast the contact point moves in the world under the command-integrated root, robust to flight
phases); the reported training loss stays the MSE, the slide term is logged beside it
(`foot_slide_loss`, TensorBoard `metrics/Foot Slide Loss`).

Validation: whole clips (a clip and its mirror together) are held out; its loss is the same MSE
with the generator running free (p = 0) from each window's first state, so it does not drift with
the teacher-forcing schedule. The best checkpoint (`cmg_best.pt`) is the one with the lowest such
loss. At every `cmg_ckpt_<epoch>.pt` the generator also runs free from standing for
`rollout_seconds` under every command of `evaluate.check_grid` (the evaluation grid inside the data's
band, plus lateral speeds and yaw rates at 3/4 of the band), measured as `python -m
cmg_workspace.evaluate` does (divergence, stalls, implied-speed error, foot slide; TensorBoard
`rollout/*`); `cmg_best_rollout.pt` is the checkpoint ranked first by `evaluate.rollout_rank`. The
two can differ: an H200 run's last epochs had the lowest validation loss and yet diverged when
standing still, which its epoch-350 checkpoint did not.

Randomness (shuffling, swaps, teacher-forcing draws) comes from a generator seeded by (seed,
epoch), so a run resumed from `cmg_ckpt_<k>.pt` continues exactly as the uninterrupted run.

The batch step has no data-dependent Python control flow and no host synchronisation: an epoch's
draws are made up front (on the CPU generator, in the same order as one draw of 1 + 30 numbers per
batch) and become device tensors (swap flag per batch, teacher-forcing flags per batch and step);
each batch is gathered into static buffers of a fixed shape and the next input is chosen with
torch.where; the epoch's loss is summed on the device (float64, in batch order) and read once.

On CUDA with `cuda_graph` (the default) one whole batch step (30-step rollout, loss, backward,
gradient clipping, Adam step, loss sum) is captured in a torch.cuda.CUDAGraph and replayed per
batch. Adam is then `capturable` (its step counters live on the device). Capturing: three eager
steps on the batch in the buffers, on a side stream (they create Adam's state and initialise the
libraries), after which the weights, Adam's state and the loss sum are put back as they were, so
every training step of a graph run is a replay. The learning rate is a Python float baked into the
captured Adam step; when ReduceLROnPlateau changes it (between epochs; 9 times at most with the
default lr and min_lr) the graph is captured again at the start of the next epoch. Checkpoints hold
the plain optimiser state either way (float lr, capturable off, `step` a CPU float32 tensor), so a
checkpoint of a graph run resumes on the CPU and the other way round.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from cmg_workspace.checkpoint import save_checkpoint
from cmg_workspace.dataset import CMGData
from cmg_workspace.evaluate import check_grid, evaluate, rollout_rank, summarise
from cmg_workspace.foot_loss import StanceSlideLoss
from pose.cmg.checkpoint import LoadedCMG
from pose.cmg.joints import joint_names
from pose.cmg.model import CMG, CMGConfig, parameter_count


BEST = "cmg_best.pt"
BEST_ROLLOUT = "cmg_best_rollout.pt"


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
    # the swap applies only to windows whose mean command speed is below this (m/s; inf: all windows, the reference recipe)
    standing_swap_max_speed: float = math.inf
    lr_factor: float = 0.5
    lr_patience: int = 10
    min_lr: float = 1e-6
    val_fraction: float = 0.1
    val_clips: List[str] = field(default_factory=list)
    save_interval: int = 50
    seed: int = 0
    cuda_graph: bool = True  # on CUDA: capture the batch step in a CUDA graph and replay it
    rollout_seconds: float = 10.0  # free-running check at every checkpoint (0: none)
    foot_slide_weight: float = 0.0  # > 0: add this times the stance-slide loss (foot_loss.py) to the MSE

    def teacher_prob(self, epoch: int) -> float:
        """Teacher-forcing probability during epoch `epoch` (0-based)."""
        return max(self.teacher_prob_min, self.teacher_prob_start * self.teacher_prob_decay**epoch)


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


def plain_optimizer_state(state_dict: dict) -> dict:
    """An Adam state dict in the form an eager CPU run has it: `capturable` off and each `step` a CPU
    float32 tensor (a graph run keeps them on the device); lr and the moments are left as they are."""
    state = {
        i: {k: v.detach().to(device="cpu", dtype=torch.float32) if k == "step" else v for k, v in st.items()}
        for i, st in state_dict["state"].items()
    }
    groups = [dict(g, capturable=False) for g in state_dict["param_groups"]]
    return {"state": state, "param_groups": groups}


class Trainer:
    def __init__(
        self,
        data: CMGData,
        cfg: TrainConfig,
        model_cfg: CMGConfig,
        device="cpu",
        out_dir=None,
        data_path: Optional[str] = None,
        writer=None,
    ):
        self.data, self.cfg, self.device = data, cfg, torch.device(device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.data_path = data_path
        self.writer = writer
        torch.manual_seed(cfg.seed)
        self.model = CMG(model_cfg).to(self.device)
        self.graph_mode = self.device.type == "cuda" and cfg.cuda_graph
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, capturable=self.graph_mode
        )
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
        )
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
        self.slide = None  # type: Optional[float]  # mean stance-slide loss of the last epoch (foot_loss.py)
        self.best_loss = math.inf
        self.rollout = None  # type: Optional[dict]  # summary of the last rollout check
        self.best_rollout = None  # type: Optional[dict]  # the rollout summary of cmg_best_rollout.pt
        self.last = {}  # type: dict
        # static buffers of the batch step (every batch of an epoch has this size)
        self.batch_size = min(cfg.batch_size, len(self.train_samples))
        self._x = self.motion.new_empty((self.batch_size,) + tuple(self.motion.shape[1:]))
        self._c = self.command.new_empty((self.batch_size,) + tuple(self.command.shape[1:]))
        self._swap = torch.zeros((), dtype=torch.bool, device=self.device)
        # windows the standing swap may replace the first state of (mean command speed under the limit)
        self.swappable = torch.as_tensor(data.speed < cfg.standing_swap_max_speed, device=self.device)
        self._swappable = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        self._teacher = torch.zeros(self.command.shape[1], dtype=torch.bool, device=self.device)
        self._loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._slide_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.slide_loss = StanceSlideLoss(st, 1.0 / self.fps, self.device) if cfg.foot_slide_weight > 0 else None
        self._graph = None  # type: Optional[torch.cuda.CUDAGraph]
        self._graph_lrs = ()  # type: tuple

    @property
    def val_clip_names(self) -> List[str]:
        return [self.data.clip_names[i] for i in self.val_clip_ids]

    def num_batches(self) -> int:
        return max(1, len(self.train_samples) // self.cfg.batch_size)

    # --- one pass over windows ---------------------------------------------------------------------

    def window_loss(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        swap: torch.Tensor,
        teacher: torch.Tensor,
        swappable: torch.Tensor,
        slide: bool = False,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(Mean over steps of MSE(pred_t, state_{t+1}), mean over steps of the stance-slide loss of
        the step cur -> pred_t, zero unless `slide` and a foot_slide_weight) for normalised windows
        x (B, 31, 58) and commands c (B, 30, 3). `swap` (bool, 0-dim): the first input of the windows
        with `swappable` (bool, (B,)) is the standing pose instead of their first state; `teacher[t]` (bool, (30,)): the next
        input is the true state, else the detached prediction. Flags are tensors and picked with
        torch.where: no host sync."""
        cur = torch.where((swap & swappable).unsqueeze(-1), self.standing, x[:, 0])
        steps = c.shape[1]
        loss, slide_loss = x.new_zeros(()), x.new_zeros(())
        for t in range(steps):
            pred = self.model(cur, c[:, t])
            loss = loss + nn.functional.mse_loss(pred, x[:, t + 1])
            if slide and self.slide_loss is not None:
                slide_loss = slide_loss + self.slide_loss(cur, pred, c[:, t])
            cur = torch.where(teacher[t], x[:, t + 1], pred.detach())
        return loss / steps, slide_loss / steps

    def sequence_loss(self, idx: torch.Tensor, swap: bool, teacher: Sequence[bool]) -> torch.Tensor:
        """window_loss of the windows `idx`, flags given as Python values."""
        idx = idx.to(self.device)
        return self.window_loss(
            self.motion[idx],
            self.command[idx],
            torch.tensor(bool(swap), device=self.device),
            torch.as_tensor(list(teacher), dtype=torch.bool, device=self.device),
            self.swappable[idx],
        )[0]

    def epoch_draws(self, epoch: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The training order of `epoch` (its first num_batches x batch_size samples), the standing
        swap flag per batch (n,) and the teacher-forcing flags (n, 30), on the device. Drawn from
        epoch_generator: a permutation, then 1 + 30 uniforms per batch (swap, then one per step)."""
        cfg = self.cfg
        g = epoch_generator(cfg.seed, epoch)
        order = self.train_samples[torch.randperm(len(self.train_samples), generator=g)]
        n = self.num_batches()
        draws = torch.stack([torch.rand(1 + self.command.shape[1], generator=g) for _ in range(n)])
        swap = draws[:, 0].double() < cfg.standing_swap_prob  # float32 draw against the float probability
        teacher = draws[:, 1:] < cfg.teacher_prob(epoch)
        return order[: n * self.batch_size].to(self.device), swap.to(self.device), teacher.to(self.device)

    def _train_step(self) -> None:
        """One optimiser step on the batch in the static buffers (MSE + foot_slide_weight x stance
        slide), its two losses added to the epoch's sums. Only device work, so that it can be
        captured in a CUDA graph."""
        loss, slide_loss = self.window_loss(self._x, self._c, self._swap, self._teacher, self._swappable, slide=True)
        self.optimizer.zero_grad(set_to_none=True)
        (loss + self.cfg.foot_slide_weight * slide_loss).backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self._loss_sum += loss.detach().double()
        self._slide_sum += slide_loss.detach().double()

    def _lrs(self) -> tuple:
        return tuple(float(g["lr"]) for g in self.optimizer.param_groups)

    def _load_batch(self, idx: torch.Tensor, swap: torch.Tensor, teacher: torch.Tensor) -> None:
        """Windows `idx` and their flags into the static buffers that _train_step reads."""
        torch.index_select(self.motion, 0, idx, out=self._x)
        torch.index_select(self.command, 0, idx, out=self._c)
        self._swap.copy_(swap)
        torch.index_select(self.swappable, 0, idx, out=self._swappable)
        self._teacher.copy_(teacher)

    def _snapshot(self) -> tuple:
        params = list(self.model.parameters())
        state = {
            p: {k: v.clone() for k, v in self.optimizer.state[p].items()} for p in params if self.optimizer.state.get(p)
        }
        return [p.detach().clone() for p in params], state

    @torch.no_grad()
    def _rewind(self, snapshot: tuple) -> None:
        """Weights and Adam's state back to `snapshot`, in place (the tensors a graph uses stay the
        same); Adam state that did not exist then is zeroed (Adam's initial state); loss sum zeroed."""
        saved, saved_state = snapshot
        params = list(self.model.parameters())
        for p, v in zip(params, saved):
            p.copy_(v)
        for p in params:
            for k, v in self.optimizer.state.get(p, {}).items():
                if p in saved_state:
                    v.copy_(saved_state[p][k])
                else:
                    v.zero_()
        self._loss_sum.zero_()
        self._slide_sum.zero_()

    GRAPH_WARMUP = 3

    def _capture(self) -> None:
        """Capture _train_step in a CUDA graph. Warm-up steps first (eager, on a side stream, on the
        batch in the buffers: they create Adam's state and initialise cuBLAS and autograd), then
        _rewind, so that the warm-up leaves no trace and every training step is a replay."""
        self._graph = None
        snapshot = self._snapshot()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*capturable=True.*")  # eager steps of a capturable Adam
            for _ in range(self.GRAPH_WARMUP):
                self._train_step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self._rewind(snapshot)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._train_step()
        self._graph, self._graph_lrs = graph, self._lrs()

    def train_epoch(self, progress=None) -> float:
        order, swap, teacher = self.epoch_draws(self.epoch)
        n_batches, size = self.num_batches(), self.batch_size
        self.model.train()
        self._loss_sum.zero_()
        self._slide_sum.zero_()
        if self._graph is not None and self._graph_lrs != self._lrs():
            self._graph = None  # the learning rate is a constant of the captured Adam step: capture again
        batches = range(n_batches) if progress is None else progress(range(n_batches))
        with torch.cuda.device(self.device) if self.graph_mode else contextlib.nullcontext():
            for b in batches:
                self._load_batch(order[b * size : (b + 1) * size], swap[b], teacher[b])
                if self.graph_mode:
                    if self._graph is None:
                        self._capture()
                    assert self._graph is not None  # _capture records it
                    self._graph.replay()
                else:
                    self._train_step()
        self.slide = float(self._slide_sum) / n_batches if self.slide_loss is not None else None
        return float(self._loss_sum) / n_batches  # the host reads of the epoch

    @torch.no_grad()
    def validate(self, chunk: int = 4096) -> Optional[float]:
        if len(self.val_windows) == 0:
            return None
        self.model.eval()
        free = [False] * self.data.command.shape[1]
        total = 0.0
        for i in range(0, len(self.val_windows), chunk):
            idx = self.val_windows[i : i + chunk]
            total += float(self.sequence_loss(idx, False, free)) * len(idx)
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
        self.last = {
            "epoch": self.epoch,
            "loss": loss,
            "val_loss": val,
            "lr": lr,
            "teacher_prob": p,
            "foot_slide_loss": self.slide,
            "improved": improved,
            "seconds": time.perf_counter() - t0,
        }
        if self.writer is not None:
            self.writer.add_scalar("metrics/MSE Loss", loss, self.epoch)
            if val is not None:
                self.writer.add_scalar("metrics/Val MSE Loss", val, self.epoch)
            self.writer.add_scalar("metrics/Learning Rate", lr, self.epoch)
            if self.slide is not None:
                self.writer.add_scalar("metrics/Foot Slide Loss", self.slide, self.epoch)
            self.writer.add_scalar("metrics/Teacher Prob", p, self.epoch)
            self.writer.add_scalar("metrics/Epoch Seconds", self.last["seconds"], self.epoch)
        return self.last

    def check_rollouts(self) -> bool:
        """Free-running rollouts of the current model over `evaluate.check_grid`, measured as
        `python -m cmg_workspace.evaluate` measures a checkpoint (the validation loss is teacher-forced
        at every step, so it does not show a generator that drifts away on its own); logged under
        `rollout/`. Returns whether this model ranks above the best so far (`rollout_rank`)."""
        cmg = LoadedCMG(
            self.model, self.data.stats, self.data.standing_pose, self.fps, Path("epoch {}".format(self.epoch)), {}
        )
        commands = check_grid(cmg)
        self.model.eval()
        self.rollout = summarise(
            evaluate(cmg, commands, self.cfg.rollout_seconds, self.device), np.ones(len(commands), dtype=bool), commands
        )
        if self.writer is not None:
            for key in ("diverged", "stalled", "speed_error_rel_median", "foot_slide_mps_median"):
                if self.rollout[key] is not None:
                    self.writer.add_scalar("rollout/" + key, self.rollout[key], self.epoch)
        better = self.best_rollout is None or rollout_rank(self.rollout) < rollout_rank(self.best_rollout)
        if better:
            self.best_rollout = self.rollout
        return better

    @property
    def fps(self) -> float:
        return float(self.data.config.get("fps", 50.0))

    def payload(self) -> dict:
        return {
            "epoch": self.epoch,
            "model_config": self.model.config.to_dict(),
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": plain_optimizer_state(self.optimizer.state_dict()),
            "scheduler_state_dict": self.scheduler.state_dict(),
            "stats": self.data.stats.to_dict(),
            "standing_pose": [float(v) for v in self.data.standing_pose],
            "joint_names": list(joint_names()),
            "fps": self.fps,
            "loss": self.last.get("loss"),
            "val_loss": self.last.get("val_loss"),
            "best_loss": self.best_loss,
            "teacher_prob": self.cfg.teacher_prob(self.epoch),
            "val_clips": self.val_clip_names,
            "train_config": asdict(self.cfg),
            "data": self.data_path,
            "parameters": parameter_count(self.model),
            "rollout": self.rollout,
            "best_rollout": self.best_rollout,
        }

    def save(self, name: str) -> Path:
        assert self.out_dir is not None, "a Trainer made without out_dir cannot save"
        return save_checkpoint(self.out_dir / name, self.payload())

    def restore(self, ckpt: dict) -> None:
        """Continue from a checkpoint dict (model, optimiser, scheduler, epoch, best loss, split)."""
        if CMGConfig(**ckpt["model_config"]) != self.model.config:
            raise ValueError(
                "the checkpoint's network {} differs from the requested {}".format(
                    ckpt["model_config"], self.model.config.to_dict()
                )
            )
        if list(ckpt.get("val_clips", [])) != self.val_clip_names:
            raise ValueError(
                "the checkpoint held out the clips {} but this run holds out {} (use the same "
                "--val_fraction / --seed / --val_clips)".format(ckpt.get("val_clips"), self.val_clip_names)
            )
        self.model.load_state_dict(ckpt["model_state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
        self._place_optimizer_state()
        self._graph = None  # Adam's state tensors are new ones: a captured step would use the old
        self.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
        self.epoch = int(ckpt["epoch"])
        self.best_loss = float(ckpt["best_loss"])
        self.rollout, best = ckpt.get("rollout"), ckpt.get("best_rollout")
        # Checkpoints of earlier versions stored the best's rank, or a summary over the in-band grid alone
        # (no `stalled`): not comparable with this check, so the next check starts over.
        self.best_rollout = best if isinstance(best, dict) and {"stalled", "commands"} <= set(best) else None
        self.last = {"loss": ckpt.get("loss"), "val_loss": ckpt.get("val_loss")}

    def init_weights(self, ckpt: dict) -> None:
        """Start this (new) run from a checkpoint's or release's network weights (float16 ones are
        widened); optimiser, schedule and epoch stay fresh."""
        if CMGConfig(**ckpt["model_config"]) != self.model.config:
            raise ValueError(
                "the checkpoint's network {} differs from the requested {}".format(
                    ckpt["model_config"], self.model.config.to_dict()
                )
            )
        with torch.no_grad():
            for name, value in self.model.state_dict().items():
                value.copy_(ckpt["model_state_dict"][name])

    def _place_optimizer_state(self) -> None:
        """After loading an optimiser state (plain or not): `capturable` as this trainer's step needs
        it, Adam's step counters on the parameters' device (capturable) or on the CPU as float32."""
        for group in self.optimizer.param_groups:
            group["capturable"] = self.graph_mode
            for p in group["params"]:
                st = self.optimizer.state.get(p, {})
                if "step" in st:
                    st["step"] = st["step"].to(device=p.device if self.graph_mode else "cpu", dtype=torch.float32)

    def run(self, progress_factory=None, on_epoch=None) -> Tuple[Path, Optional[Path]]:
        """Train up to cfg.epochs; returns (cmg_final.pt, cmg_best.pt or None).
        `progress_factory(iterable, desc, leave=True)` wraps the loops (e.g. tqdm); `on_epoch(info)`
        is called after each epoch."""
        cfg = self.cfg
        assert self.out_dir is not None, "a Trainer made without out_dir cannot run (it saves checkpoints)"
        best = self.out_dir / BEST
        epochs = range(self.epoch, cfg.epochs)
        bar = progress_factory(epochs, "epochs") if progress_factory else epochs
        for _ in bar:
            inner = (lambda it: progress_factory(it, "batches", leave=False)) if progress_factory else None
            info = self.step_epoch(inner)
            if info["improved"]:
                self.save(best.name)
            if self.epoch % cfg.save_interval == 0 or self.epoch == cfg.epochs:
                if cfg.rollout_seconds > 0:
                    if self.check_rollouts():
                        self.save(BEST_ROLLOUT)
                    info["rollout"] = self.rollout
                self.save("cmg_ckpt_{}.pt".format(self.epoch))
            if on_epoch is not None:
                on_epoch(info)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(
                    loss="{:.4f}".format(info["loss"]),
                    val="-" if info["val_loss"] is None else "{:.4f}".format(info["val_loss"]),
                    lr="{:.1e}".format(info["lr"]),
                    p="{:.3f}".format(info["teacher_prob"]),
                )
        final = self.save("cmg_final.pt")
        return final, best if best.is_file() else None
