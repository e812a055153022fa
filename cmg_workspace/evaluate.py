"""Evaluate a CMG over a grid of velocity commands.

    python -m cmg_workspace.evaluate [CKPT_OR_RUN] --out DIR [--vx ...] [--vy ...] [--wz ...] [--seconds 10]
                                     [--device cpu]

Default CKPT: the shipped model `assets/cmg/cmg.pt`. Default grid: vx -0.5 .. 3.5 m/s (step 0.5),
vy -1 .. 1 m/s (step 0.5), wz -1.5 .. 1.5 rad/s (step 0.75): 225 commands. Each command is rolled
out autoregressively for `--seconds` from the checkpoint's standing pose (a still frame of its
training data), the root integrated from the command (`cmg_workspace.rollout`). Per command
(`cmg_workspace.metrics`; the first second, the start from standing, is left out): stance-foot
slide (median, m/s), speed implied by the stance foot and its relative error against |(vx, vy)|
(commands >= 0.5 m/s), joint-limit violations, divergence (a non-finite state or one beyond 10
standard deviations of the data).

Writes DIR/eval.json: `summary` over the commands inside the band of the training data (each
component within the data's command range): `foot_slide_mps_median` (median over commands of the
per-command medians), `speed_error_rel_median`, `diverged` (count), `targets_met` (foot slide <=
0.1 m/s, speed error <= 15 %, no divergence); `summary_all` the same over the whole grid;
`commands` the per-command results. DIR/eval.png: the errors over the grid.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from cmg_workspace.checkpoint import LoadedCMG, load_cmg
from cmg_workspace.joints import to_23
from cmg_workspace.metrics import divergence, feet_in_root_frame, joint_limit_metrics, locomotion_metrics
from cmg_workspace.rollout import generate, integrate_root
from pose.g1_model import ASSETS_DIR

SHIPPED_MODEL = ASSETS_DIR / "cmg" / "cmg.pt"
DEFAULT_VX = [-0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
DEFAULT_VY = [-1.0, -0.5, 0.0, 0.5, 1.0]
DEFAULT_WZ = [-1.5, -0.75, 0.0, 0.75, 1.5]
TARGET_FOOT_SLIDE = 0.1  # m/s
TARGET_SPEED_ERROR = 0.15
SKIP_SECONDS = 1.0
DIVERGENCE_LIMIT = 10.0  # data standard deviations


def command_grid(vx: Sequence[float], vy: Sequence[float], wz: Sequence[float]) -> np.ndarray:
    return np.array([[a, b, c] for a in vx for b in vy for c in wz], dtype=np.float64)


def in_band(commands: np.ndarray, cmg: LoadedCMG, tol: float = 1e-3) -> np.ndarray:
    lo, hi = cmg.stats.command_min - tol, cmg.stats.command_max + tol
    return ((commands >= lo) & (commands <= hi)).all(-1)


def evaluate(cmg: LoadedCMG, commands: np.ndarray, seconds: float = 10.0, device="cpu") -> Dict[str, np.ndarray]:
    """Per-command metrics (arrays of length N) of rollouts from the standing pose."""
    dt = 1.0 / cmg.fps
    steps = int(round(seconds * cmg.fps))
    st = cmg.stats.tensors(device)
    cmd = torch.as_tensor(commands, dtype=torch.float32, device=device)
    model = cmg.model.to(device)
    motion = generate(model, st, torch.as_tensor(cmg.standing_pose, device=device), cmd, steps)
    motion_hat = st.normalise_motion(motion).cpu().numpy()
    out = divergence(motion_hat, DIVERGENCE_LIMIT, dt)
    q23 = to_23(motion[..., : motion.shape[-1] // 2]).cpu().double().numpy()
    q23 = np.nan_to_num(q23, nan=0.0, posinf=0.0, neginf=0.0)
    root_pos, yaw = integrate_root(torch.as_tensor(commands, dtype=torch.float64), steps, dt)
    feet = feet_in_root_frame(q23)
    loco = locomotion_metrics(feet, root_pos.numpy(), yaw.numpy(), commands, dt, skip=int(round(SKIP_SECONDS * cmg.fps)))
    out.update(loco)
    out.update(joint_limit_metrics(q23))
    for k in ("foot_slide_mps", "implied_speed_mps", "speed_error_rel"):
        out[k] = np.where(out["diverged"], np.nan, out[k])
    return out


def _nanmedian(x: np.ndarray) -> Optional[float]:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else None


def summarise(metrics: Dict[str, np.ndarray], mask: np.ndarray) -> dict:
    slide = _nanmedian(metrics["foot_slide_mps"][mask])
    err = _nanmedian(metrics["speed_error_rel"][mask])
    diverged = int(metrics["diverged"][mask].sum())
    return {
        "commands": int(mask.sum()),
        "foot_slide_mps_median": slide,
        "speed_error_rel_median": err,
        "diverged": diverged,
        "limit_violation_frac_mean": float(metrics["limit_violation_frac"][mask].mean()) if mask.any() else None,
        "targets": {"foot_slide_mps": TARGET_FOOT_SLIDE, "speed_error_rel": TARGET_SPEED_ERROR, "diverged": 0},
        "targets_met": bool(slide is not None and slide <= TARGET_FOOT_SLIDE and (err is None or err <= TARGET_SPEED_ERROR)
                            and diverged == 0),
    }


def _json_value(v):
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def report(cmg: LoadedCMG, commands: np.ndarray, metrics: Dict[str, np.ndarray], seconds: float) -> dict:
    band = in_band(commands, cmg)
    per = []
    for i, c in enumerate(commands):
        row = {"command": [float(x) for x in c], "in_band": bool(band[i])}
        row.update({k: _json_value(v[i]) for k, v in metrics.items()})
        per.append(row)
    return {
        "checkpoint": str(cmg.path),
        "seconds": seconds,
        "fps": cmg.fps,
        "data_command_range": {"min": [float(x) for x in cmg.stats.command_min], "max": [float(x) for x in cmg.stats.command_max]},
        "summary": summarise(metrics, band),
        "summary_all": summarise(metrics, np.ones(len(commands), dtype=bool)),
        "commands": per,
    }


def plot(result: dict, path: Path) -> Optional[Path]:
    """Errors over the grid: foot slide and speed error over (vx, vy) at the wz nearest 0, foot
    slide over (vx, wz) at the vy nearest 0, implied vs commanded speed. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = result["commands"]
    cmd = np.array([r["command"] for r in rows])

    def grid(a: int, b: int, fixed: int, key: str):
        vf = sorted(set(cmd[:, fixed]), key=abs)[0]
        xs, ys = sorted(set(cmd[:, a])), sorted(set(cmd[:, b]))
        z = np.full((len(ys), len(xs)), np.nan)
        div = np.zeros_like(z, dtype=bool)
        for r, c in zip(rows, cmd):
            if c[fixed] == vf:
                i, j = ys.index(c[b]), xs.index(c[a])
                z[i, j] = np.nan if r[key] is None else r[key]
                div[i, j] = r["diverged"]
        return xs, ys, z, div, vf

    names = ("vx (m/s)", "vy (m/s)", "wz (rad/s)")
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    panels = [(0, 1, 2, "foot_slide_mps", "stance-foot slide (m/s)", TARGET_FOOT_SLIDE),
              (0, 1, 2, "speed_error_rel", "implied-speed error (relative)", TARGET_SPEED_ERROR),
              (0, 2, 1, "foot_slide_mps", "stance-foot slide (m/s)", TARGET_FOOT_SLIDE)]
    for ax, (a, b, fixed, key, title, target) in zip(axes.ravel(), panels):
        xs, ys, z, div, vf = grid(a, b, fixed, key)
        im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=max(3 * target, np.nanmax(z) if np.isfinite(z).any() else 1))
        ax.set_xticks(range(len(xs)), ["{:g}".format(x) for x in xs])
        ax.set_yticks(range(len(ys)), ["{:g}".format(y) for y in ys])
        ax.set_xlabel(names[a])
        ax.set_ylabel(names[b])
        ax.set_title("{} at {} = {:g} (target {:g}; x: diverged)".format(title, names[fixed].split()[0], vf, target), fontsize=9)
        for i, j in zip(*np.nonzero(div)):
            ax.text(j, i, "x", ha="center", va="center", color="red")
        fig.colorbar(im, ax=ax)
    ax = axes[1, 1]
    speed = np.linalg.norm(cmd[:, :2], axis=1)
    implied = np.array([np.nan if r["implied_speed_mps"] is None else r["implied_speed_mps"] for r in rows])
    band = np.array([r["in_band"] for r in rows])
    ax.scatter(speed[~band], implied[~band], s=10, c="0.6", label="outside the data's command band")
    ax.scatter(speed[band], implied[band], s=14, c="C0", label="inside the band")
    top = max(1.0, float(np.nanmax(speed)))
    ax.plot([0, top], [0, top], "k--", lw=1, label="implied = commanded")
    ax.set_xlabel("commanded planar speed (m/s)")
    ax.set_ylabel("speed implied by the stance foot (m/s)")
    ax.legend(fontsize=8)
    s = result["summary"]
    fig.suptitle("{}: in band, foot slide median {} m/s, speed error median {}, diverged {}".format(
        Path(result["checkpoint"]).name, _fmt(s["foot_slide_mps_median"]), _fmt(s["speed_error_rel_median"]), s["diverged"]))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _fmt(x) -> str:
    return "-" if x is None else "{:.3f}".format(x)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cmg_workspace.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", nargs="?", default=str(SHIPPED_MODEL), help="checkpoint or run folder (default: the shipped model)")
    p.add_argument("--out", required=True, help="output folder (eval.json, eval.png)")
    p.add_argument("--vx", type=float, nargs="+", default=DEFAULT_VX)
    p.add_argument("--vy", type=float, nargs="+", default=DEFAULT_VY)
    p.add_argument("--wz", type=float, nargs="+", default=DEFAULT_WZ)
    p.add_argument("--seconds", type=float, default=10.0, help="rollout length per command")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    try:
        cmg = load_cmg(args.checkpoint, args.device)
    except (FileNotFoundError, ValueError) as e:
        hint = " (the shipped model is not there yet: train one with python -m cmg_workspace.train and pass its run folder)" \
            if Path(args.checkpoint) == SHIPPED_MODEL else ""
        print("error: {}{}".format(e, hint), file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    commands = command_grid(args.vx, args.vy, args.wz)
    metrics = evaluate(cmg, commands, args.seconds, args.device)
    result = report(cmg, commands, metrics, args.seconds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "eval.json", "w") as f:
        json.dump(result, f, indent=1)
    png = plot(result, out / "eval.png")
    for name in ("summary", "summary_all"):
        s = result[name]
        print("{:11s} {:3d} commands: foot slide median {} m/s, implied-speed error median {}, diverged {}, "
              "joint-limit violations {:.1%} of frames; targets met: {}".format(
                  name, s["commands"], _fmt(s["foot_slide_mps_median"]), _fmt(s["speed_error_rel_median"]), s["diverged"],
                  s["limit_violation_frac_mean"] or 0.0, s["targets_met"]))
    print("wrote {}{} ({:.1f} s)".format(out / "eval.json", "" if png is None else " and {}".format(png), time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
