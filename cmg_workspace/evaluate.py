"""Evaluate a CMG over a grid of velocity commands.

    python -m cmg_workspace.evaluate [CKPT_OR_RUN] --out DIR [--vx ...] [--vy ...] [--wz ...] [--seconds 10]
                                     [--device cpu] [--foot_lock]

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
per-command medians), `foot_slide_mps_median_moving` (the same over commands of at least 0.5 m/s
or 0.3 rad/s), `foot_slide_mps_mean_median` (of the per-command means), `speed_error_rel_median`, `diverged` (count), `stalled` (commands of at least 0.5 m/s
whose implied speed is under half of it: the root moves, the feet hardly step), `targets_met` (foot slide <= 0.1 m/s,
speed error <= 15 %, no divergence), `joint_speed_p99_radps_median` (per command the 99th
percentile of the joints' finite-difference speeds); `summary_all` the same over the whole grid; `commands` the
per-command results; `data_baseline` (`--baseline SRC ...`, default the project's own clips
`embedded locomotion`; `--baseline none` for none): the same measures on each training clip, its
joints played under a root integrated from the clip's own per-frame command exactly as for the
generator (`foot_slide_mps`, `implied_speed_mps`, `speed_error_rel`) and under the clip's own root
(`foot_slide_own_root_mps`, about 0 for clips whose feet are planted), with medians over the
moving clips. The root integrated from a command moves at constant speed, upright and level, so
the clips themselves slide under it (their pelvis speeds up and slows within a stride and tilts):
the baseline is the slide a generator that reproduced its data perfectly would show.
DIR/eval.png: the errors over the grid.

`--foot_lock` measures the frames after the foot lock that the CMG motion library can apply
(`pose.cmg.foot_lock`: the stance foot held in place by leg IK, `motion.cmg_foot_lock`): the same
measures, plus `foot_slide_mps_median_unlocked` (the generator alone), `foot_lock_saturated_frac_mean`
(share of foot-frames whose shift is at its limit, where the foot slides again) and
`foot_lock_ik_error_max_m`. The lock moves the stance foot with the commanded root, so the implied
speed then equals the command by construction during a held stance: read the speed error of the
unlocked evaluation for the generator's own stepping speed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from cmg_workspace.dataset import clip_features
from cmg_workspace.metrics import divergence, joint_limit_metrics, locomotion_metrics, sole_points_in_root_frame
from cmg_workspace.rollout import generate, integrate_root
from cmg_workspace.sources import list_sources, read_source_file
from pose.cmg.checkpoint import LoadedCMG, load_cmg
from pose.cmg.foot_lock import FootLock
from pose.cmg.joints import to_23
from pose.readers import resample
from pose.g1_model import ASSETS_DIR, load_g1
from pose.kinematics import FootGeometry

SHIPPED_MODEL = ASSETS_DIR / "cmg" / "cmg.pt"
DEFAULT_VX = [-0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
DEFAULT_VY = [-1.0, -0.5, 0.0, 0.5, 1.0]
DEFAULT_WZ = [-1.5, -0.75, 0.0, 0.75, 1.5]
TARGET_FOOT_SLIDE = 0.1  # m/s
TARGET_SPEED_ERROR = 0.15
#: share of stalled check commands that `rollout_rank` weighs as one target's worth of error
STALL_SHARE_UNIT = 0.01
SKIP_SECONDS = 1.0
MOVING_SPEED, MOVING_YAW_RATE = 0.5, 0.3  # m/s, rad/s: a "moving" command or clip
STALL_FRACTION = 0.5  # a command of at least MOVING_SPEED whose implied speed is below this share of it stalls
CHECK_BAND_SHARE = 0.75  # the trainer's check grid: lateral speeds and yaw rates at this share of the data's band
DEFAULT_BASELINE = ("embedded", "locomotion")
DIVERGENCE_LIMIT = 10.0  # data standard deviations


def command_grid(vx: Sequence[float], vy: Sequence[float], wz: Sequence[float]) -> np.ndarray:
    return np.array([[a, b, c] for a in vx for b in vy for c in wz], dtype=np.float64)


def in_band(commands: np.ndarray, cmg: LoadedCMG, tol: float = 1e-3) -> np.ndarray:
    lo, hi = cmg.stats.command_min - tol, cmg.stats.command_max + tol
    return np.asarray(((commands >= lo) & (commands <= hi)).all(-1))


def check_seconds(seconds: float, fps: float) -> None:
    """ValueError unless rollouts of `seconds` leave frames to measure after the first SKIP_SECONDS."""
    if int(round(seconds * fps)) < int(round(SKIP_SECONDS * fps)) + 2:
        raise ValueError(
            "rollouts of {:g} s: the first {:g} s (the start from standing) are not measured; give more than "
            "that".format(seconds, SKIP_SECONDS)
        )


def evaluate(
    cmg: LoadedCMG, commands: np.ndarray, seconds: float = 10.0, device="cpu", foot_lock: Optional[FootLock] = None
) -> Dict[str, np.ndarray]:
    """Per-command metrics (arrays of length N) of rollouts from the standing pose. With `foot_lock`
    the measures are of the locked frames, plus `foot_slide_mps_unlocked` (the generator alone),
    `foot_lock_saturated_frac` (share of foot-frames whose shift is at its limit) and
    `foot_lock_ik_error_max_m` (the largest distance of a foot to its locked target)."""
    check_seconds(seconds, cmg.fps)
    dt = 1.0 / cmg.fps
    steps = int(round(seconds * cmg.fps))
    skip = int(round(SKIP_SECONDS * cmg.fps))
    st = cmg.stats.tensors(device)
    cmd = torch.as_tensor(commands, dtype=torch.float32, device=device)
    model = cmg.model.to(device)
    motion = generate(model, st, torch.as_tensor(cmg.standing_pose, device=device), cmd, steps)
    motion_hat = st.normalise_motion(motion).cpu().numpy()
    out = divergence(motion_hat, DIVERGENCE_LIMIT, dt)
    nj = motion.shape[-1] // 2
    q23 = torch.nan_to_num(to_23(motion[..., :nj]).cpu().double(), nan=0.0, posinf=0.0, neginf=0.0)
    root_pos, yaw = integrate_root(torch.as_tensor(commands, dtype=torch.float64), steps, dt)

    def measure(q: torch.Tensor) -> Dict[str, np.ndarray]:
        points, foot_of = sole_points_in_root_frame(q.numpy())
        return locomotion_metrics(points, root_pos.numpy(), yaw.numpy(), commands, dt, skip=skip, foot_of=foot_of)

    if foot_lock is not None:
        out["foot_slide_mps_unlocked"] = measure(q23)["foot_slide_mps"]
        v23 = torch.nan_to_num(to_23(motion[..., nj:]).cpu().double())
        q23, _, _, info = foot_lock(root_pos, yaw, q23, v23, dt)
        q23 = q23.double().cpu()
        at_limit = info["shift"].norm(dim=-1) >= foot_lock.max_shift * (1.0 - 1e-6)
        out["foot_lock_saturated_frac"] = at_limit[:, skip:].double().mean((1, 2)).cpu().numpy()
        out["foot_lock_ik_error_max_m"] = info["ik_error"].amax((1, 2)).double().cpu().numpy()
    out.update(measure(q23))
    out.update(joint_limit_metrics(q23.numpy()))
    out["joint_speed_p99_radps"] = np.percentile(np.abs(np.diff(q23[:, skip:].numpy(), axis=1)) / dt, 99, axis=(1, 2))
    for k in (
        "foot_slide_mps",
        "foot_slide_mps_mean",
        "implied_speed_mps",
        "speed_error_rel",
        "foot_slide_mps_unlocked",
    ):
        if k in out:
            out[k] = np.where(out["diverged"], np.nan, out[k])
    return out


def in_band_grid(cmg: LoadedCMG) -> np.ndarray:
    """The commands of the default grid inside the band of the training data (the `summary` set)."""
    commands = command_grid(DEFAULT_VX, DEFAULT_VY, DEFAULT_WZ)
    return commands[in_band(commands, cmg)]


def check_grid(cmg: LoadedCMG) -> np.ndarray:
    """The trainer's free-running check: the in-band commands of the default grid plus, for each of its
    in-band forward speeds, the lateral speeds and yaw rates at `CHECK_BAND_SHARE` of the data's band
    (the default grid's lateral steps of 0.5 m/s miss a band of +-0.4 m/s)."""
    lo, hi = cmg.stats.command_min, cmg.stats.command_max
    vx = [v for v in DEFAULT_VX if lo[0] - 1e-3 <= v <= hi[0] + 1e-3]
    vy = sorted({0.0, CHECK_BAND_SHARE * float(lo[1]), CHECK_BAND_SHARE * float(hi[1])})
    wz = sorted({0.0, CHECK_BAND_SHARE * float(lo[2]), CHECK_BAND_SHARE * float(hi[2])})
    extra = command_grid(vx, vy, wz)
    base = in_band_grid(cmg)
    new = [c for c in extra if not any(np.allclose(c, b) for b in base)]
    return np.concatenate([base, np.array(new, dtype=np.float64).reshape(-1, 3)], axis=0)


def rollout_rank(summary: dict) -> tuple:
    """Order of generators by a `summarise` result, best first: fewer divergences, then the smaller sum
    of the implied-speed error and the foot slide, each over its target, plus the share of stalled
    commands over `STALL_SHARE_UNIT` (each 1 % of the grid stalled weighs as much as one target's
    worth of error). So a lower speed error bought with more sliding does not win by itself, a few
    stalls outweigh a small gain (the shipped model, no stall, ranks above fine-tunes with 2-4 of 88
    stalled and slightly less slide), and a few more stalls do not hide a far better generator (epoch
    800 of the LAFAN run, 41 of 297 stalled, above epoch 125, 37, with half its slide). A missing
    measure ranks last."""

    def value(key):
        v = summary.get(key)
        return math.inf if v is None else float(v)

    distance = value("speed_error_rel_median") / TARGET_SPEED_ERROR + value("foot_slide_mps_median") / TARGET_FOOT_SLIDE
    stalled_share = int(summary["stalled"]) / max(int(summary["commands"]), 1)
    return (int(summary["diverged"]), distance + stalled_share / STALL_SHARE_UNIT)


def moving(commands: np.ndarray) -> np.ndarray:
    return (np.linalg.norm(commands[:, :2], axis=-1) >= MOVING_SPEED) | (np.abs(commands[:, 2]) >= MOVING_YAW_RATE)


def clip_baseline(name: str, clip, fps: float) -> dict:
    """The measures on one training clip (see the module doc): under the command-integrated root and its own."""
    motion, command = clip_features(clip, fps)
    q23 = to_23(motion[:, : motion.shape[1] // 2])
    dt, skip = 1.0 / fps, int(round(SKIP_SECONDS * fps))
    steps = len(q23) - 1
    median_command = np.median(command[skip:], axis=0)
    root_pos, yaw = integrate_root(torch.as_tensor(command[None], dtype=torch.float64), steps, dt)
    points, foot_of = sole_points_in_root_frame(q23[None])
    loco = locomotion_metrics(
        points, root_pos.numpy(), yaw.numpy(), median_command[None], dt, skip=skip, foot_of=foot_of
    )
    # its own root: the sole points in the world (root at the origin, heading 0 in the measure)
    root_pos_own, root_rot_own, dof = clip.root_pos, clip.root_rot, clip.dof_pos
    if clip.fps != fps:
        root_pos_own, root_rot_own, dof = resample(root_pos_own, root_rot_own, dof, clip.fps, fps)
    with torch.no_grad():
        world = (
            FootGeometry(load_g1(), dtype=torch.float64)
            .sole_points(*(torch.as_tensor(x, dtype=torch.float64) for x in (root_pos_own, root_rot_own, to_23(dof))))
            .numpy()
        )
    own = locomotion_metrics(
        world[None],
        np.zeros((1, len(world), 3)),
        np.zeros((1, len(world))),
        median_command[None],
        dt,
        skip=skip,
        foot_of=foot_of,
    )
    return {
        "clip": name,
        "command_median": [float(x) for x in median_command],
        "foot_slide_mps": _json_value(loco["foot_slide_mps"][0]),
        "implied_speed_mps": _json_value(loco["implied_speed_mps"][0]),
        "speed_error_rel": _json_value(loco["speed_error_rel"][0]),
        "foot_slide_own_root_mps": _json_value(own["foot_slide_mps"][0]),
    }


def data_baseline(sources: Sequence[str], fps: float) -> dict:
    rows = [clip_baseline(name, read_source_file(name, path), fps) for name, path in list_sources(sources)]
    move = [r for r in rows if moving(np.array([r["command_median"]]))[0]]

    def med(key):
        return _nanmedian(np.array([np.nan if r[key] is None else r[key] for r in move], dtype=np.float64))

    return {
        "sources": list(sources),
        "moving_clips": len(move),
        "foot_slide_mps_median_moving": med("foot_slide_mps"),
        "speed_error_rel_median_moving": med("speed_error_rel"),
        "foot_slide_own_root_mps_median_moving": med("foot_slide_own_root_mps"),
        "clips": rows,
    }


def _nanmedian(x: np.ndarray) -> Optional[float]:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else None


def stalled(metrics: Dict[str, np.ndarray], commands: np.ndarray) -> np.ndarray:
    """(N,) bool: commands of at least MOVING_SPEED whose implied speed is under STALL_FRACTION of it
    (the root moves, the feet hardly step); diverged rollouts count as diverged, not stalled."""
    speed = np.linalg.norm(commands[:, :2], axis=-1)
    implied = np.nan_to_num(metrics["implied_speed_mps"], nan=np.inf)
    return (speed >= MOVING_SPEED) & (implied < STALL_FRACTION * speed)


def summarise(metrics: Dict[str, np.ndarray], mask: np.ndarray, commands: np.ndarray) -> dict:
    slide = _nanmedian(metrics["foot_slide_mps"][mask])
    err = _nanmedian(metrics["speed_error_rel"][mask])
    diverged = int(metrics["diverged"][mask].sum())
    lock = {}
    if "foot_slide_mps_unlocked" in metrics and mask.any():
        lock = {
            "foot_slide_mps_median_unlocked": _nanmedian(metrics["foot_slide_mps_unlocked"][mask]),
            "foot_lock_saturated_frac_mean": float(metrics["foot_lock_saturated_frac"][mask].mean()),
            "foot_lock_ik_error_max_m": float(metrics["foot_lock_ik_error_max_m"][mask].max()),
        }
    return {
        "commands": int(mask.sum()),
        "foot_slide_mps_median": slide,
        "foot_slide_mps_median_moving": _nanmedian(metrics["foot_slide_mps"][mask & moving(commands)]),
        "foot_slide_mps_mean_median": _nanmedian(metrics["foot_slide_mps_mean"][mask]),
        "speed_error_rel_median": err,
        "diverged": diverged,
        "stalled": int(stalled(metrics, commands)[mask].sum()),
        "limit_violation_frac_mean": float(metrics["limit_violation_frac"][mask].mean()) if mask.any() else None,
        "joint_speed_p99_radps_median": _nanmedian(metrics["joint_speed_p99_radps"][mask]),
        **lock,
        "targets": {"foot_slide_mps": TARGET_FOOT_SLIDE, "speed_error_rel": TARGET_SPEED_ERROR, "diverged": 0},
        "targets_met": bool(
            slide is not None
            and slide <= TARGET_FOOT_SLIDE
            and (err is None or err <= TARGET_SPEED_ERROR)
            and diverged == 0
        ),
    }


def _json_value(v):
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def device_name(device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu: {}".format(platform.processor() or platform.machine())


def report(
    cmg: LoadedCMG,
    commands: np.ndarray,
    metrics: Dict[str, np.ndarray],
    seconds: float,
    baseline: Optional[dict] = None,
    device="cpu",
    command: str = "",
    foot_lock: Optional[FootLock] = None,
) -> dict:
    band = in_band(commands, cmg)
    per = []
    for i, c in enumerate(commands):
        row = {"command": [float(x) for x in c], "in_band": bool(band[i])}
        row.update({k: _json_value(v[i]) for k, v in metrics.items()})
        per.append(row)
    return {
        "date": datetime.date.today().isoformat(),
        "device_name": device_name(device),
        "command": command,
        "checkpoint": str(cmg.path),
        "seconds": seconds,
        "fps": cmg.fps,
        "foot_lock": None
        if foot_lock is None
        else {
            "decay": foot_lock.decay,
            "max_shift_m": foot_lock.max_shift,
            "ik_iters": foot_lock.ik.max_iter,
            "max_step_rad": foot_lock.ik.max_step,
        },
        "data_command_range": {
            "min": [float(x) for x in cmg.stats.command_min],
            "max": [float(x) for x in cmg.stats.command_max],
        },
        "summary": summarise(metrics, band, commands),
        "summary_all": summarise(metrics, np.ones(len(commands), dtype=bool), commands),
        "data_baseline": baseline,
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
    panels = [
        (0, 1, 2, "foot_slide_mps", "stance-foot slide (m/s)", TARGET_FOOT_SLIDE),
        (0, 1, 2, "speed_error_rel", "implied-speed error (relative)", TARGET_SPEED_ERROR),
        (0, 2, 1, "foot_slide_mps", "stance-foot slide (m/s)", TARGET_FOOT_SLIDE),
    ]
    for ax, (a, b, fixed, key, title, target) in zip(axes.ravel(), panels):
        xs, ys, z, div, vf = grid(a, b, fixed, key)
        im = ax.imshow(
            z,
            origin="lower",
            aspect="auto",
            cmap="viridis",
            vmin=0,
            vmax=max(3 * target, np.nanmax(z) if np.isfinite(z).any() else 1),
        )
        ax.set_xticks(range(len(xs)), ["{:g}".format(x) for x in xs])
        ax.set_yticks(range(len(ys)), ["{:g}".format(y) for y in ys])
        ax.set_xlabel(names[a])
        ax.set_ylabel(names[b])
        ax.set_title(
            "{} at {} = {:g} (target {:g}; x: diverged)".format(title, names[fixed].split()[0], vf, target), fontsize=9
        )
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
    base = result.get("data_baseline")
    fig.suptitle(
        "{}: in band, foot slide median {} m/s, speed error median {}, diverged {}{}".format(
            Path(result["checkpoint"]).name,
            fmt(s["foot_slide_mps_median"]),
            fmt(s["speed_error_rel_median"]),
            s["diverged"],
            ""
            if not base
            else "\ntraining clips under the same integrated root (moving): foot slide median {} m/s, "
            "speed error median {}".format(
                fmt(base["foot_slide_mps_median_moving"]), fmt(base["speed_error_rel_median_moving"])
            ),
        )
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def fmt(x) -> str:
    return "-" if x is None else "{:.3f}".format(x)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cmg_workspace.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "checkpoint",
        nargs="?",
        default=str(SHIPPED_MODEL),
        help="checkpoint or run folder (default: the shipped model)",
    )
    p.add_argument("--out", required=True, help="output folder (eval.json, eval.png)")
    p.add_argument("--vx", type=float, nargs="+", default=DEFAULT_VX)
    p.add_argument("--vy", type=float, nargs="+", default=DEFAULT_VY)
    p.add_argument("--wz", type=float, nargs="+", default=DEFAULT_WZ)
    p.add_argument("--seconds", type=float, default=10.0, help="rollout length per command")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--foot_lock",
        action="store_true",
        help="measure the frames after the foot lock (pose.cmg.foot_lock; the motion library's motion.cmg_foot_lock), "
        "with the generator's own slide as foot_slide_mps_unlocked",
    )
    p.add_argument(
        "--baseline",
        nargs="+",
        default=list(DEFAULT_BASELINE),
        metavar="SRC",
        help="clips measured the same way as the baseline (sources as for build_dataset); 'none' for none",
    )
    args = p.parse_args(argv)
    try:
        cmg = load_cmg(args.checkpoint, args.device)
        check_seconds(args.seconds, cmg.fps)
        baseline = None if args.baseline == ["none"] else data_baseline(args.baseline, cmg.fps)
    except (FileNotFoundError, ValueError) as e:
        hint = (
            " (the shipped model is not there yet: train one with python -m cmg_workspace.train and pass its run folder)"
            if Path(args.checkpoint) == SHIPPED_MODEL and not SHIPPED_MODEL.is_file()
            else ""
        )
        print("error: {}{}".format(e, hint), file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    commands = command_grid(args.vx, args.vy, args.wz)
    lock = FootLock(device="cpu", dtype=torch.float64) if args.foot_lock else None
    metrics = evaluate(cmg, commands, args.seconds, args.device, lock)
    command = " ".join(["python -m cmg_workspace.evaluate"] + list(sys.argv[1:] if argv is None else argv))
    result = report(cmg, commands, metrics, args.seconds, baseline, args.device, command, lock)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "eval.json", "w") as f:
        json.dump(result, f, indent=1)
    png = plot(result, out / "eval.png")
    for name in ("summary", "summary_all"):
        s = result[name]
        print(
            "{:11s} {:3d} commands: foot slide median {} m/s (mean {}), implied-speed error median {}, diverged {}, "
            "stalled {}, joint-limit violations {:.1%} of frames; targets met: {}".format(
                name,
                s["commands"],
                fmt(s["foot_slide_mps_median"]),
                fmt(s["foot_slide_mps_mean_median"]),
                fmt(s["speed_error_rel_median"]),
                s["diverged"],
                s["stalled"],
                s["limit_violation_frac_mean"] or 0.0,
                s["targets_met"],
            )
        )
        if "foot_slide_mps_median_unlocked" in s:
            print(
                "{:11s} foot lock: slide median without it {} m/s, shift at its limit {:.1%} of foot-frames, "
                "largest IK miss {:.3f} m".format(
                    "",
                    fmt(s["foot_slide_mps_median_unlocked"]),
                    s["foot_lock_saturated_frac_mean"],
                    s["foot_lock_ik_error_max_m"],
                )
            )
    if baseline is not None:
        print(
            "data baseline {:3d} moving clips of {} under the same root: foot slide median {} m/s (own root {} m/s), "
            "implied-speed error median {}".format(
                baseline["moving_clips"],
                " ".join(baseline["sources"]),
                fmt(baseline["foot_slide_mps_median_moving"]),
                fmt(baseline["foot_slide_own_root_mps_median_moving"]),
                fmt(baseline["speed_error_rel_median_moving"]),
            )
        )
    print(
        "wrote {}{} ({:.1f} s)".format(
            out / "eval.json", "" if png is None else " and {}".format(png), time.perf_counter() - t0
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
