"""Quality measures of generated locomotion (batched over rollouts, numpy).

Inputs: the feet (ankle-roll bodies) relative to the root in the root's heading frame (N, T, 2, 3)
(for the upright root of the CMG motion library that is the root frame: `feet_in_root_frame`),
the root's positions (N, T, 3) and yaws (N, T), the commands (N, 3) and the frame step. The stance
foot of a transition k -> k+1 is the lower foot when the same foot is lower at both frames;
transitions before `skip` (the start-up from standing) are ignored.

- foot slide: horizontal world-frame speed of the stance foot; median over stance transitions.
- implied speed: the root velocity that the stance foot implies if it were planted, from its motion
  relative to the root: v = -(d p / dt + w x p) with p the foot in the root's heading frame and
  w = (0, 0, wz); median of |v| over stance transitions. Its relative error against the commanded
  planar speed is reported for commands of at least `min_speed` m/s.
- joint limits: share of frames with a joint outside its range, and the largest excess (rad).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from pose.g1_model import load_g1
from pose.kinematics import ForwardKinematics


def feet_in_root_frame(dof23: np.ndarray) -> np.ndarray:
    """(..., 2, 3) ankle-roll body positions (left, right) relative to the root, in its frame."""
    model = load_g1()
    fk = ForwardKinematics(model, bodies=model.feet, dtype=torch.float64)
    with torch.no_grad():
        return fk.local_body_pos(torch.as_tensor(dof23, dtype=torch.float64)).numpy()


def _median(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row median of x over mask (NaN where the mask is empty)."""
    out = np.full(x.shape[0], np.nan)
    for i in range(x.shape[0]):
        if mask[i].any():
            out[i] = float(np.median(x[i][mask[i]]))
    return out


def locomotion_metrics(feet: np.ndarray, root_pos: np.ndarray, yaw: np.ndarray, commands: np.ndarray, dt: float,
                       skip: int = 0, min_speed: float = 0.5) -> Dict[str, np.ndarray]:
    """feet (N, T, 2, 3) heading frame; root_pos (N, T, 3); yaw (N, T); commands (N, 3). Per rollout:
    foot_slide_mps, implied_speed_mps, speed_error_rel (NaN below min_speed), stance_share."""
    n, t = yaw.shape
    c, s = np.cos(yaw), np.sin(yaw)
    fx, fy = feet[..., 0], feet[..., 1]  # (N, T, 2)
    world = np.stack([root_pos[..., 0:1] + c[..., None] * fx - s[..., None] * fy,
                      root_pos[..., 1:2] + s[..., None] * fx + c[..., None] * fy], -1)  # (N, T, 2, 2)
    lower = np.argmin(feet[..., 2], axis=-1)  # (N, T)
    stance = (lower[:, 1:] == lower[:, :-1])
    stance[:, :skip] = False
    side = lower[:, :-1]
    rows = np.arange(n)[:, None]
    cols = np.arange(t - 1)[None, :]
    w0, w1 = world[rows, cols, side], world[rows, cols + 1, side]  # (N, T-1, 2)
    slide = np.linalg.norm(w1 - w0, axis=-1) / dt
    p0, p1 = feet[rows, cols, side, :2], feet[rows, cols + 1, side, :2]
    pm = 0.5 * (p0 + p1)
    wz = commands[:, 2][:, None]
    rot = np.stack([-wz * pm[..., 1], wz * pm[..., 0]], -1)
    implied = -((p1 - p0) / dt + rot)
    implied_speed = _median(np.linalg.norm(implied, axis=-1), stance)
    cmd_speed = np.linalg.norm(commands[:, :2], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(cmd_speed >= min_speed, np.abs(implied_speed - cmd_speed) / cmd_speed, np.nan)
    return {
        "foot_slide_mps": _median(slide, stance),
        "implied_speed_mps": implied_speed,
        "speed_error_rel": err,
        "stance_share": stance[:, skip:].mean(1) if t - 1 > skip else np.zeros(n),
    }


def joint_limit_metrics(dof23: np.ndarray, tol: float = 0.0) -> Dict[str, np.ndarray]:
    """Per rollout: limit_violation_frac (frames with any joint out of range), limit_violation_max_rad."""
    model = load_g1()
    below = np.maximum(model.dof_lower - tol - dof23, 0.0)
    above = np.maximum(dof23 - model.dof_upper - tol, 0.0)
    excess = np.maximum(below, above).max(-1)  # (N, T)
    return {"limit_violation_frac": (excess > 0).mean(-1), "limit_violation_max_rad": excess.max(-1)}


def divergence(motion_hat: np.ndarray, limit: float = 10.0, dt: Optional[float] = None) -> Dict[str, np.ndarray]:
    """Per rollout of normalised states (N, T, 58): diverged (a non-finite value, or one beyond
    `limit` data standard deviations), the time (s) or frame where it first happens (NaN if never),
    and the largest |normalised value|."""
    bad = ~np.isfinite(motion_hat) | (np.abs(np.nan_to_num(motion_hat, nan=np.inf)) > limit)
    frame_bad = bad.any(-1)
    diverged = frame_bad.any(-1)
    first = np.where(diverged, frame_bad.argmax(-1), -1).astype(np.float64)
    first[~diverged] = np.nan
    with np.errstate(invalid="ignore"):
        peak = np.nanmax(np.where(np.isfinite(motion_hat), np.abs(motion_hat), np.inf), axis=(1, 2))
    return {"diverged": diverged, "diverged_at": first * (dt if dt else 1.0), "max_abs_normalised": peak}
