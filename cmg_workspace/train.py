"""Train the CMG.

    python -m cmg_workspace.train --data FILE --out RUN [--epochs 1000] [--batch_size 256] [--device cuda]
                                  [--resume CKPT_OR_RUN | --init CKPT] [--val_fraction 0.1 | --val_clips NAME ...]
                                  [--seed 0] [--no_cuda_graph] [--rollout_seconds 10] [--foot_slide_weight W]
                                  [--teacher_prob_start 1.0] [--standing_swap_prob 0.2]
                                  [--standing_swap_max_speed V]

FILE comes from `python -m cmg_workspace.build_dataset`. RUN (default
cmg_workspace/runs/cmg_<date>_<time>) receives TensorBoard events (`metrics/MSE Loss`,
`metrics/Val MSE Loss`, `metrics/Learning Rate`, `metrics/Teacher Prob`), `cmg_ckpt_<epoch>.pt`
every `--save_interval` epochs and at the end, `cmg_best.pt` (lowest validation loss),
`cmg_best_rollout.pt` (best free-running rollouts over `evaluate.check_grid` at those
checkpoints, `--rollout_seconds` each, TensorBoard `rollout/*`; 0 turns the check off) and
`cmg_final.pt`; each holds the statistics of the data (`pose.cmg.checkpoint`).
`--resume` continues a run from a checkpoint (or a run folder's latest `cmg_ckpt_<epoch>.pt`) up
to `--epochs`, exactly as if it had not stopped: options left out are the checkpoint's, and a
training or network option given with another value is refused (except `--epochs`, `--save_interval`,
`--rollout_seconds`); it refuses data whose statistics differ from the checkpoint's. Resumed into another RUN folder, the run's `cmg_best.pt` and `cmg_best_rollout.pt` are
copied from the checkpoint's folder when they are the bests that checkpoint knows (`carry_bests`). `--init` starts a new run (epoch 0, fresh optimiser and learning-rate schedule) from
the weights of a checkpoint or release, for fine-tuning under other settings (e.g. a
`--foot_slide_weight` with `--teacher_prob_start 0.05`: the scheduled sampling at its floor from
the first epoch); the same statistics check. On CUDA the batch step is captured once as a CUDA graph and replayed per batch
(`--no_cuda_graph` runs it eagerly); checkpoints are the same either way, and resume on either
device. The loop and its schedule: `cmg_workspace.trainer`.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from cmg_workspace.dataset import CMGData
from cmg_workspace.evaluate import check_seconds, fmt
from cmg_workspace.trainer import BEST, BEST_ROLLOUT, Trainer, TrainConfig
from pose.cmg.checkpoint import latest_checkpoint, read_checkpoint, resolve_model_file
from pose.cmg.model import CMGConfig, parameter_count
from pose.cmg.stats import Stats, StatsMismatchError

RUNS_DIR = Path(__file__).resolve().parent / "runs"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    t, m = TrainConfig(), CMGConfig()
    p = argparse.ArgumentParser(prog="python -m cmg_workspace.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="dataset file from python -m cmg_workspace.build_dataset")
    p.add_argument("--out", default=None, help="run folder (default {}/cmg_<date>_<time>)".format(RUNS_DIR))
    p.add_argument("--epochs", type=int, default=t.epochs, help="train until this many epochs are done")
    p.add_argument("--batch_size", type=int, default=t.batch_size)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda, cuda:1, ...")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", default=None, help="checkpoint file, or run folder (its latest cmg_ckpt_<epoch>.pt)")
    start.add_argument(
        "--init", default=None, metavar="CKPT", help="a new run from these weights (checkpoint or release file)"
    )
    p.add_argument(
        "--teacher_prob_start",
        type=float,
        default=t.teacher_prob_start,
        help="teacher forcing of epoch 0, then x0.995 per epoch down to 0.05",
    )
    p.add_argument(
        "--standing_swap_prob",
        type=float,
        default=t.standing_swap_prob,
        help="share of batches whose windows start from the data's standing pose instead of their first state",
    )
    p.add_argument(
        "--standing_swap_max_speed",
        type=float,
        default=t.standing_swap_max_speed,
        help="swap only windows whose mean command speed (m/s) is below this (default: all windows)",
    )
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--weight_decay", type=float, default=t.weight_decay)
    p.add_argument("--val_fraction", type=float, default=t.val_fraction, help="share of clips held out for validation")
    p.add_argument("--val_clips", nargs="+", default=[], metavar="NAME", help="hold out these clips instead")
    p.add_argument("--save_interval", type=int, default=t.save_interval, help="epochs between cmg_ckpt_<epoch>.pt")
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument(
        "--foot_slide_weight",
        type=float,
        default=t.foot_slide_weight,
        help="add this times the stance-foot slide loss (0..1, cmg_workspace/foot_loss.py) to the MSE (0: off)",
    )
    p.add_argument("--hidden_dim", type=int, default=m.hidden_dim)
    p.add_argument("--num_experts", type=int, default=m.num_experts)
    p.add_argument("--num_layers", type=int, default=m.num_layers)
    p.add_argument("--no_progress", action="store_true", help="no progress bars (one line per epoch instead)")
    p.add_argument(
        "--no_cuda_graph",
        action="store_true",
        help="on CUDA, run the batch step eagerly instead of replaying it as a captured CUDA graph",
    )
    p.add_argument(
        "--rollout_seconds",
        type=float,
        default=t.rollout_seconds,
        help="free-running rollout per in-band command at every checkpoint (0: no check)",
    )
    args = p.parse_args(argv)
    for action in p._actions:  # parsed again without defaults: the options the command line gave
        action.default = argparse.SUPPRESS
    args.options_given = set(vars(p.parse_args(argv)))
    return args


# Settings a resumed run may be given with another value: they change how long it runs and when it
# saves and checks, not the steps it takes.
RESUME_MAY_CHANGE = ("epochs", "save_interval", "rollout_seconds")


def continue_settings(args: argparse.Namespace, ckpt: dict, ckpt_path: Path) -> None:
    """`--resume`: the run goes on with the checkpoint's training settings. Those the command line
    leaves out are taken from the checkpoint (a default there would silently change the run); one it
    gives with another value is refused, except RESUME_MAY_CHANGE (`--init` starts a new run instead)."""
    stored = ckpt.get("train_config") or {}
    for name, value in stored.items():
        if not hasattr(args, name):
            continue  # not a command-line setting (e.g. cuda_graph, which depends on the device)
        if name in args.options_given and name not in RESUME_MAY_CHANGE and getattr(args, name) != value:
            raise ValueError(
                "--{} {}: {} was trained with {}; a resumed run continues with the checkpoint's settings "
                "(leave the option out), or start a new run from its weights with --init {}".format(
                    name, getattr(args, name), ckpt_path, value, ckpt_path
                )
            )
        if name not in args.options_given:
            setattr(args, name, value)


def check_network_options(args: argparse.Namespace, source: dict, source_path: str) -> None:
    """The network is the checkpoint's (`--resume`, `--init`): a size option given with another value is refused."""
    for name, value in source["model_config"].items():
        if name in args.options_given and getattr(args, name) != value:
            raise ValueError(
                "--{} {}: the network of {} has {} {} (leave the option out)".format(
                    name, getattr(args, name), source_path, name, value
                )
            )


def _device(name: str) -> torch.device:
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device {}: CUDA is not available here (use --device cpu)".format(name))
    return dev


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    try:
        device = _device(args.device)
        data = CMGData.load(args.data)
        ckpt, ckpt_path = None, None
        if args.resume:
            ckpt_path = Path(args.resume)
            ckpt_path = latest_checkpoint(ckpt_path) if ckpt_path.is_dir() else ckpt_path
            ckpt = read_checkpoint(ckpt_path)
            Stats.from_dict(ckpt["stats"]).check_matches(data.stats, str(ckpt_path), args.data)
            check_network_options(args, ckpt, str(ckpt_path))
            continue_settings(args, ckpt, ckpt_path)
        init = None
        if args.init:
            init = read_checkpoint(resolve_model_file(args.init))
            try:
                Stats.from_dict(init["stats"]).check_matches(data.stats, args.init, args.data)
            except StatsMismatchError as e:
                raise StatsMismatchError(
                    "{}; to fine-tune it on new clips, build the data with python -m cmg_workspace.build_dataset "
                    "--stats_from {} ...".format(e, args.init)
                ) from e
            check_network_options(args, init, args.init)
        if args.rollout_seconds > 0:
            check_seconds(args.rollout_seconds, float(data.config.get("fps", 50.0)))
        cfg = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            val_fraction=args.val_fraction,
            val_clips=list(args.val_clips),
            save_interval=args.save_interval,
            seed=args.seed,
            cuda_graph=not args.no_cuda_graph,
            rollout_seconds=args.rollout_seconds,
            foot_slide_weight=args.foot_slide_weight,
            teacher_prob_start=args.teacher_prob_start,
            standing_swap_prob=args.standing_swap_prob,
            standing_swap_max_speed=args.standing_swap_max_speed,
        )
        model_cfg = CMGConfig(hidden_dim=args.hidden_dim, num_experts=args.num_experts, num_layers=args.num_layers)
        source = ckpt if ckpt is not None else init
        if source is not None:
            model_cfg = CMGConfig(**source["model_config"])
        out = Path(args.out) if args.out else RUNS_DIR / datetime.datetime.now().strftime("cmg_%Y%m%d_%H%M%S")
        out.mkdir(parents=True, exist_ok=True)
        writer = SummaryWriter(str(out), purge_step=int(ckpt["epoch"]) + 1 if ckpt else None)
        trainer = Trainer(data, cfg, model_cfg, device, out, str(args.data), writer)
        if ckpt is not None and ckpt_path is not None:
            trainer.restore(ckpt)
            carry_bests(ckpt, ckpt_path, out)
        if init is not None:
            trainer.init_weights(init)
    except (FileNotFoundError, ValueError, StatsMismatchError) as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    start_note = ""
    if ckpt is not None:
        start_note = "; resumed from {} (epoch {})".format(ckpt_path, trainer.epoch)
    elif init is not None:
        start_note = "; weights from {}".format(args.init)
    print(
        "CMG: {} parameters, {} on {}{}; data {}: {} training samples per epoch ({} batches of {}), "
        "{} validation windows (clips: {}); run {}{}".format(
            parameter_count(trainer.model),
            model_cfg.to_dict(),
            device,
            " (batch step as a CUDA graph)" if trainer.graph_mode else "",
            args.data,
            len(trainer.train_samples),
            trainer.num_batches(),
            min(cfg.batch_size, len(trainer.train_samples)),
            len(trainer.val_windows),
            ", ".join(trainer.val_clip_names) or "none",
            out,
            start_note,
        )
    )

    def progress(it, desc, leave=True):
        return tqdm(it, desc=desc, leave=leave, disable=args.no_progress, dynamic_ncols=True)

    def log_epoch(info):
        if args.no_progress:
            slide = info["foot_slide_loss"]
            print(
                "epoch {epoch}: loss {loss:.5f} val {val}{slide} lr {lr:.2e} teacher p {teacher_prob:.3f} ({seconds:.1f} s)".format(
                    val="-" if info["val_loss"] is None else "{:.5f}".format(info["val_loss"]),
                    slide="" if slide is None else " foot slide {:.4f}".format(slide),
                    **{k: v for k, v in info.items() if k != "foot_slide_loss"},
                ),
                flush=True,
            )
        if "rollout" in info:
            r = info["rollout"]
            message = (
                "epoch {}: rollouts: {} of {} diverged, {} stalled, implied-speed error {}, foot slide {} m/s".format(
                    info["epoch"],
                    r["diverged"],
                    r["commands"],
                    r["stalled"],
                    fmt(r["speed_error_rel_median"]),
                    fmt(r["foot_slide_mps_median"]),
                )
            )
            print(message, flush=True) if args.no_progress else tqdm.write(message)

    try:
        final, best = trainer.run(progress, log_epoch)
    finally:
        writer.close()
    print(
        "done: epoch {}, loss {}, best {} ; {}{}".format(
            trainer.epoch, trainer.last.get("loss"), trainer.best_loss, final, " and {}".format(best) if best else ""
        )
    )
    if (out / BEST_ROLLOUT).is_file():
        print("best free-running checkpoint: {}".format(out / BEST_ROLLOUT))
    elif trainer.best_rollout is not None:
        print(
            "best free-running checkpoint: not in {} (it was saved before the resume, not next to {})".format(
                out, ckpt_path
            )
        )
    return 0


def carry_bests(ckpt: dict, ckpt_path: Path, out: Path) -> None:
    """A run resumed into another folder gets the bests it had when `ckpt` was saved: `cmg_best.pt` and
    `cmg_best_rollout.pt` of the checkpoint's folder, each only if it is the one `ckpt` knows (the same
    best validation loss / best rollout summary; a later best of that folder is not) and `out` has none."""
    if ckpt_path.parent.resolve() == out.resolve():
        return
    for name, key in ((BEST, "best_loss"), (BEST_ROLLOUT, "best_rollout")):
        source, target = ckpt_path.parent / name, out / name
        if source.is_file() and not target.exists() and read_checkpoint(source).get(key) == ckpt.get(key):
            shutil.copy2(source, target)


if __name__ == "__main__":
    sys.exit(main())
