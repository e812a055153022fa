"""CMG training data: 50-fps clips -> per-frame states and commands -> windows, replication, mirroring, stats.

Per clip (a `SourceClip`, any frame rate):

1. Resample to `fps` (50, the policy rate; root position and joints lerped, root rotation slerped,
   `pose.readers.resample`), so one CMG step is one policy step whatever the source rate.
2. State per frame: 29 joint positions and their velocities (central differences at 50 fps).
3. Command per frame [vx, vy, wz] from the root motion: the root's horizontal velocity in its
   heading frame (the pelvis yaw; roll and pitch ignored, so a leaning runner's command is its
   ground speed) and the yaw rate, each averaged over `command_window` seconds (1 s: about a gait
   cycle, so the pelvis sway and yaw swing within a stride do not show in the command, which is
   constant over an episode when the CMG is used).
4. Optional locomotion filter (5th/95th percentiles of the clip's commands, `LocomotionFilter`).
5. Windows of `seq_len` (30) transitions with 50 % overlap: `seq_len + 1` states, `seq_len` commands.
6. Speed-based replication: a window whose mean planar command speed exceeds a threshold counts
   that many times (stored as `repeats`, expanded by the trainer's sampler; the statistics are
   those of the replicated set).
7. Left/right mirroring (`pose.cmg.joints`): every window gets a mirrored copy.
8. Statistics (`pose.cmg.stats.Stats`): mean and std (floored at 0.1) of the states, command
   min/max; stored with the data and later inside every checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from cmg_workspace.sources import SourceClip
from pose.cmg.checkpoint import load_torch_file
from pose.cmg.joints import MOTION_DIM, joint_names, mirror_command, mirror_motion
from pose.cmg.stats import Stats
from pose.readers import resample
from pose.utils.torch_utils import get_euler_xyz

DATASET_FORMAT = "cmg_dataset"
DATASET_VERSION = 1
# Replication by mean planar speed (m/s): the first threshold exceeded gives the count (else 1).
DEFAULT_REPLICATION: Tuple[Tuple[float, int], ...] = ((1.8, 36), (1.4, 24), (0.3, 6))
SPEED_BINS = (0.0, 0.3, 0.6, 1.0, 1.4, 1.8, 2.5, 3.0, 3.5, math.inf)


@dataclass(frozen=True)
class LocomotionFilter:
    """Keep a clip only if it is locomotion: p95 speed <= max_speed, p5 speed >= min_speed,
    p95 |vy| <= max_lateral, p95 |wz| <= max_yaw_rate and p5 vx >= 0."""

    min_speed: float = 0.3
    max_speed: float = 4.0
    max_lateral: float = 1.5
    max_yaw_rate: float = 2.0

    def reject_reason(self, command: np.ndarray) -> Optional[str]:
        speed = np.linalg.norm(command[:, :2], axis=1)
        checks = [
            (
                np.percentile(speed, 95) > self.max_speed,
                "p95 speed {:.2f} > {} m/s".format(np.percentile(speed, 95), self.max_speed),
            ),
            (
                np.percentile(speed, 5) < self.min_speed,
                "p5 speed {:.2f} < {} m/s".format(np.percentile(speed, 5), self.min_speed),
            ),
            (np.percentile(np.abs(command[:, 1]), 95) > self.max_lateral, "p95 |vy| > {} m/s".format(self.max_lateral)),
            (
                np.percentile(np.abs(command[:, 2]), 95) > self.max_yaw_rate,
                "p95 |wz| > {} rad/s".format(self.max_yaw_rate),
            ),
            (np.percentile(command[:, 0], 5) < 0.0, "p5 vx < 0"),
        ]
        for bad, why in checks:
            if bad:
                return why
        return None


@dataclass
class BuildConfig:
    fps: float = 50.0
    seq_len: int = 30
    stride: int = 15
    command_window: float = 1.0  # s
    replication: Sequence[Tuple[float, int]] = DEFAULT_REPLICATION
    mirror: bool = True
    std_floor: float = 0.1
    filter_locomotion: bool = False
    locomotion_filter: LocomotionFilter = field(default_factory=LocomotionFilter)


# --- per clip ------------------------------------------------------------------------------------


def box_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over `width` frames along axis 0; windows clamped to the clip."""
    if width <= 1:
        return x.copy()
    n = x.shape[0]
    half = width // 2
    c = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return (c[hi] - c[lo]) / (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1))


def heading(root_rot: np.ndarray) -> np.ndarray:
    """Unwrapped yaw (T,) of xyzw root quaternions."""
    _, _, yaw = get_euler_xyz(torch.as_tensor(root_rot, dtype=torch.float64))
    return np.unwrap(yaw.numpy())


def clip_features(clip: SourceClip, fps: float = 50.0, command_window: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """States (T, 58) and commands (T, 3) of a clip resampled to `fps` (see the module doc)."""
    root_pos, root_rot, dof = clip.root_pos, clip.root_rot, clip.dof_pos
    if clip.fps != fps:
        root_pos, root_rot, dof = resample(root_pos, root_rot, dof, clip.fps, fps)
    dt = 1.0 / fps
    if len(dof) < 2:
        return np.zeros((len(dof), MOTION_DIM)), np.zeros((len(dof), 3))
    motion = np.concatenate([dof, np.gradient(dof, dt, axis=0)], axis=1)
    width = max(1, int(round(command_window * fps)))
    yaw = box_average(heading(root_rot), width)
    vel = np.gradient(root_pos[:, :2], dt, axis=0)
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.stack([c * vel[:, 0] + s * vel[:, 1], -s * vel[:, 0] + c * vel[:, 1]], axis=1)
    command = np.concatenate([box_average(local, width), np.gradient(yaw, dt)[:, None]], axis=1)
    return motion, command


def window_starts(n_frames: int, seq_len: int, stride: int) -> np.ndarray:
    """First frames of the windows of seq_len + 1 states that fit in n_frames."""
    last = n_frames - (seq_len + 1)
    return np.arange(0, last + 1, stride) if last >= 0 else np.zeros(0, dtype=np.int64)


def replication_count(speed, table: Sequence[Tuple[float, int]] = DEFAULT_REPLICATION) -> np.ndarray:
    """Replicas of windows with mean planar speed `speed`: the count of the first threshold exceeded."""
    speed = np.atleast_1d(np.asarray(speed, dtype=np.float64))
    out = np.ones(speed.shape, dtype=np.int64)
    done = np.zeros(speed.shape, dtype=bool)
    for threshold, count in sorted(table, key=lambda tc: -tc[0]):
        hit = ~done & (speed > threshold)
        out[hit] = int(count)
        done |= hit
    return out


def parse_replication(text: str) -> Tuple[Tuple[float, int], ...]:
    """ "1.8:36,1.4:24,0.3:6" -> ((1.8, 36), (1.4, 24), (0.3, 6)); "none" -> ()."""
    if text.strip().lower() in ("", "none", "off"):
        return ()
    out = []
    for part in text.split(","):
        try:
            threshold, count = part.split(":")
            out.append((float(threshold), int(count)))
        except ValueError:
            raise ValueError(
                "--replication: cannot read {!r}; expected SPEED:COUNT pairs, e.g. 1.8:36,1.4:24,0.3:6".format(part)
            )
        if out[-1][1] < 1:
            raise ValueError("--replication: counts must be >= 1, got {!r}".format(part))
    return tuple(out)


def find_standing_frame(motion: np.ndarray, command: np.ndarray, max_speed: float = 0.05) -> Tuple[int, int]:
    """(window, frame) of the stillest state with a near-zero command: the smallest joint-velocity
    norm among frames whose command speed and yaw rate are below `max_speed` (all frames when none is)."""
    n, length = command.shape[:2]
    vel = np.linalg.norm(motion[:, :length, MOTION_DIM // 2 :], axis=-1)
    still = (np.linalg.norm(command[..., :2], axis=-1) < max_speed) & (np.abs(command[..., 2]) < max_speed)
    score = np.where(still, vel, np.inf) if still.any() else vel
    k = int(np.argmin(score))
    return k // length, k % length


# --- the data set --------------------------------------------------------------------------------


@dataclass
class ClipReport:
    name: str
    frames: int  # at the dataset rate
    windows: int  # before mirroring
    skipped: Optional[str] = None


@dataclass
class CMGData:
    """Windows of a CMG dataset (numpy, float32) and their bookkeeping."""

    motion: np.ndarray  # (N, seq_len + 1, 58)
    command: np.ndarray  # (N, seq_len, 3)
    clip_index: np.ndarray  # (N,) index into clip_names
    mirrored: np.ndarray  # (N,) bool
    repeats: np.ndarray  # (N,) int: replication count
    clip_names: List[str]
    stats: Stats
    standing_pose: np.ndarray  # (58,) a still, standing state found in the data
    config: Dict = field(default_factory=dict)
    reports: List[ClipReport] = field(default_factory=list)

    @property
    def speed(self) -> np.ndarray:
        """Mean planar command speed of each window (m/s)."""
        return np.linalg.norm(self.command[..., :2], axis=-1).mean(-1)

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "format": DATASET_FORMAT,
                "version": DATASET_VERSION,
                "motion": torch.from_numpy(self.motion),
                "command": torch.from_numpy(self.command),
                "clip_index": torch.from_numpy(self.clip_index),
                "mirrored": torch.from_numpy(self.mirrored),
                "repeats": torch.from_numpy(self.repeats),
                "clip_names": list(self.clip_names),
                "stats": self.stats.to_dict(),
                "standing_pose": [float(v) for v in self.standing_pose],
                "joint_names": list(joint_names()),
                "config": self.config,
                "reports": [asdict(r) for r in self.reports],
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path) -> "CMGData":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                "{}: CMG dataset does not exist (make one with python -m cmg_workspace.build_dataset --out {})".format(
                    path, path
                )
            )
        d = load_torch_file(path, "CMG dataset")
        if not isinstance(d, dict) or d.get("format") != DATASET_FORMAT:
            raise ValueError("{}: not a CMG dataset (written by python -m cmg_workspace.build_dataset)".format(path))
        if d.get("version") != DATASET_VERSION:
            raise ValueError(
                "{}: CMG dataset version {} (this code reads {}); rebuild it".format(
                    path, d.get("version"), DATASET_VERSION
                )
            )
        return cls(
            motion=d["motion"].numpy(),
            command=d["command"].numpy(),
            clip_index=d["clip_index"].numpy(),
            mirrored=d["mirrored"].numpy(),
            repeats=d["repeats"].numpy(),
            clip_names=list(d["clip_names"]),
            stats=Stats.from_dict(d["stats"]),
            standing_pose=np.asarray(d["standing_pose"], dtype=np.float32),
            config=dict(d.get("config", {})),
            reports=[ClipReport(**r) for r in d.get("reports", [])],
        )


def build(clips, config: Optional[BuildConfig] = None, progress=None) -> CMGData:
    """The dataset of an iterable of SourceClip (`progress(iterable)` may wrap it, e.g. tqdm)."""
    cfg = config or BuildConfig()
    motions, commands, clip_idx, reports = [], [], [], []
    names: List[str] = []
    for clip in progress(clips) if progress else clips:
        motion, command = clip_features(clip, cfg.fps, cfg.command_window)
        report = ClipReport(clip.name, len(motion), 0)
        reports.append(report)
        starts = window_starts(len(motion), cfg.seq_len, cfg.stride)
        if cfg.filter_locomotion and len(command):
            report.skipped = cfg.locomotion_filter.reject_reason(command)
        if report.skipped is None and len(starts) == 0:
            report.skipped = "shorter than one window ({} frames at {:g} fps)".format(len(motion), cfg.fps)
        if report.skipped:
            continue
        report.windows = len(starts)
        idx = starts[:, None] + np.arange(cfg.seq_len + 1)
        motions.append(motion[idx])
        commands.append(command[idx[:, :-1]])
        clip_idx.append(np.full(len(starts), len(names)))
        names.append(clip.name)
    if not motions:
        raise ValueError(
            "no windows: every clip was skipped ({})".format(
                "; ".join("{}: {}".format(r.name, r.skipped) for r in reports) or "no clip could be read"
            )
        )
    motion = np.concatenate(motions).astype(np.float32)
    command = np.concatenate(commands).astype(np.float32)
    clip_index = np.concatenate(clip_idx).astype(np.int64)
    mirrored = np.zeros(len(motion), dtype=bool)
    if cfg.mirror:
        motion = np.concatenate([motion, mirror_motion(motion)])
        command = np.concatenate([command, mirror_command(command)])
        clip_index = np.concatenate([clip_index, clip_index])
        mirrored = np.concatenate([mirrored, ~mirrored])
    speed = np.linalg.norm(command[..., :2], axis=-1).mean(-1)
    repeats = replication_count(speed, cfg.replication)
    stats = Stats.compute(motion, command, repeats, cfg.std_floor)
    w, f = find_standing_frame(motion, command)
    cfg_dict = asdict(cfg)
    cfg_dict["replication"] = [list(x) for x in cfg.replication]
    return CMGData(motion, command, clip_index, mirrored, repeats, names, stats, motion[w, f].copy(), cfg_dict, reports)


def speed_histogram(data: CMGData) -> List[Tuple[str, int, int]]:
    """(bin label, windows, windows x replicas) per mean-speed bin."""
    speed, out = data.speed, []
    for lo, hi in zip(SPEED_BINS[:-1], SPEED_BINS[1:]):
        m = (speed >= lo) & (speed < hi)
        label = "{:.1f}-{:.1f}".format(lo, hi) if math.isfinite(hi) else ">= {:.1f}".format(lo)
        out.append((label, int(m.sum()), int(data.repeats[m].sum())))
    return out


# A command component whose range in the data is below this (m/s or rad/s) is reported: the data hardly
# vary it (a set of standing clips), and the command scaling divides by that range.
NARROW_COMMAND_RANGE = 0.1


def summary_lines(data: CMGData) -> List[str]:
    used = [r for r in data.reports if not r.skipped]
    lines = [
        "clips: {} used, {} skipped; windows: {} ({} mirrored), {} with replication; frames/window {}".format(
            len(used),
            len(data.reports) - len(used),
            len(data.motion),
            int(data.mirrored.sum()),
            int(data.repeats.sum()),
            data.motion.shape[1],
        )
    ]
    for r in data.reports:
        if r.skipped:
            lines.append("  skipped {}: {}".format(r.name, r.skipped))
    lines.append("mean command speed of the windows (m/s): windows / with replication")
    for label, n, n_rep in speed_histogram(data):
        lines.append("  {:>10s}  {:6d} / {:7d}".format(label, n, n_rep))
    lo, hi = data.command.reshape(-1, 3).min(0), data.command.reshape(-1, 3).max(0)
    lines.append(
        "command range: vx [{:.2f}, {:.2f}] m/s, vy [{:.2f}, {:.2f}] m/s, wz [{:.2f}, {:.2f}] rad/s".format(
            lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]
        )
    )
    narrow = [name for name, width in zip(("vx", "vy", "wz"), hi - lo) if width < NARROW_COMMAND_RANGE]
    if narrow:
        lines.append(
            "WARNING: the data hardly vary {} (range below {}): commands are scaled by the data's range "
            "(pose/cmg/stats.py), so any other value of {} lies far outside what the CMG learnt; add clips "
            "that move (e.g. the locomotion set)".format(
                " and ".join(narrow), NARROW_COMMAND_RANGE, " or ".join(narrow)
            )
        )
    return lines


def stats_difference(own: Stats, used: Stats) -> Tuple[float, float]:
    """(largest |mean difference| in `used` standard deviations, largest std ratio either way) of a
    data set's own statistics against the ones it is normalised with."""
    mean, std = np.asarray(used.motion_mean), np.asarray(used.motion_std)
    ratio = np.asarray(own.motion_std) / std
    shift = np.abs(np.asarray(own.motion_mean) - mean) / std
    return float(shift.max()), float(np.maximum(ratio, 1.0 / ratio).max())
