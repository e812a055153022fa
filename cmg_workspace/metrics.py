"""Quality measures of generated locomotion (batched over rollouts, numpy).

Inputs: points fixed on the feet relative to the root in the root's heading frame (N, T, P, 3)
with the foot each belongs to (`foot_of`, P; default: point p is foot p), the root's positions
(N, T, 3) and yaws (N, T), the commands (N, 3) and the frame step. For the upright root of the
CMG motion library the heading frame is the root frame: `sole_points_in_root_frame` gives the
bottoms of the foot capsules' end spheres (heel and toe of each foot), so a foot rolling over its
planted toe does not count as sliding. Per transition k -> k+1 the contact point is the lowest
point at frame k; it is a stance transition when the lowest point at k + 1 is on the same foot;
transitions before `skip` (the start-up from standing) are ignored.

- foot slide: horizontal world-frame speed of the contact point over the transition; median over
  stance transitions (`foot_slide_mps`), and mean (`foot_slide_mps_mean`: also counts the few
  transitions that slide, which the median of a mostly planted foot does not show).
- implied speed: the root velocity that the contact point implies if it were planted, from its
  motion relative to the root: v = -(d p / dt + w x p) with p the point in the root's heading frame
  and w = (0, 0, wz); median of |v| over stance transitions. Its relative error against the
  commanded planar speed is reported for commands of at least `min_speed` m/s.
- joint limits: share of frames with a joint outside its range, and the largest excess (rad).

With the root integrated from the command (constant velocity, upright, fixed height) even the
training clips slide: their pelvis speeds up and slows down within a stride and tilts, which the
integrated root does not. `python -m cmg_workspace.evaluate` therefore reports the same measures
on the training clips under the same root as the baseline a generator can reach.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch

from pose.g1_model import load_g1
from pose.kinematics import FootGeometry


def sole_points_in_root_frame(dof23: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(..., P, 3) sole points of the feet (`FootGeometry.sole_points`) relative to an upright
    root at the origin, in its frame, and the foot of each point (P,)."""
    geometry = FootGeometry(load_g1(), dtype=torch.float64)
    q = torch.as_tensor(dof23, dtype=torch.float64)
    root_pos = torch.zeros(q.shape[:-1] + (3,), dtype=torch.float64)
    root_rot = torch.zeros(q.shape[:-1] + (4,), dtype=torch.float64)
    root_rot[..., 3] = 1.0
    with torch.no_grad():
        points = geometry.sole_points(root_pos, root_rot, q).numpy()
    return points, geometry.foot_of.numpy()


def _median(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row median of x over mask (NaN where the mask is empty)."""
    out = np.full(x.shape[0], np.nan)
    for i in range(x.shape[0]):
        if mask[i].any():
            out[i] = float(np.median(x[i][mask[i]]))
    return out


def locomotion_metrics(
    points: np.ndarray,
    root_pos: np.ndarray,
    yaw: np.ndarray,
    commands: np.ndarray,
    dt: float,
    skip: int = 0,
    min_speed: float = 0.5,
    foot_of: Optional[np.ndarray] = None,
) -> Dict[str, np.ndarray]:
    """points (N, T, P, 3) heading frame; root_pos (N, T, 3); yaw (N, T); commands (N, 3). Per rollout:
    foot_slide_mps, foot_slide_mps_mean, implied_speed_mps, speed_error_rel (NaN below min_speed), stance_share."""
    n, t = yaw.shape
    foot_of = np.arange(points.shape[2]) if foot_of is None else np.asarray(foot_of)
    c, s = np.cos(yaw), np.sin(yaw)
    px, py = points[..., 0], points[..., 1]  # (N, T, P)
    world = np.stack(
        [
            root_pos[..., 0:1] + c[..., None] * px - s[..., None] * py,
            root_pos[..., 1:2] + s[..., None] * px + c[..., None] * py,
        ],
        -1,
    )  # (N, T, P, 2)
    lowest = np.argmin(points[..., 2], axis=-1)  # (N, T)
    stance = foot_of[lowest[:, 1:]] == foot_of[lowest[:, :-1]]
    stance[:, :skip] = False
    point = lowest[:, :-1]  # the contact point of each transition
    rows = np.arange(n)[:, None]
    cols = np.arange(t - 1)[None, :]
    w0, w1 = world[rows, cols, point], world[rows, cols + 1, point]  # (N, T-1, 2)
    slide = np.linalg.norm(w1 - w0, axis=-1) / dt
    p0, p1 = points[rows, cols, point, :2], points[rows, cols + 1, point, :2]
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
        "foot_slide_mps_mean": np.where(stance.any(1), (slide * stance).sum(1) / np.maximum(stance.sum(1), 1), np.nan),
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
