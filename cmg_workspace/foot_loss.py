"""Stance-foot slide of generated frames as a differentiable training loss (`--foot_slide_weight`).

The evaluation (`cmg_workspace/metrics.py`) measures how fast the contact point slides in the world
while the root moves as the CMG motion library moves it: integrated from the command, upright, at a
fixed height. The state MSE leaves the stride free to disagree with the command by a few percent,
which under that root is foot slide (the `steady` data slides 0.075 m/s that way, a generator
trained on it by MSE alone 0.33 m/s: `bench/results/cmg_eval_steady_2026-12-01.json`).

For one generated step k -> k+1 with command (vx, vy, wz) and the sole points p (heels and toes of
both feet, `FootGeometry.sole_points`, relative to an upright root in its frame), a point fixed on
the foot moves in the world, in the root's heading frame of frame k, at

    u_p = v + (p_p(k+1) - p_p(k)) / dt + w x p_p(k+1),    v = (vx, vy, 0), w = (0, 0, wz).

The loss follows the evaluation's stance steps: the contact point is the lowest point of frame k
(weights a_p = softmax(-z_p(k) / tau)), and a step counts when the lowest point of frame k+1 is on
the same foot (b_p = the softmax mass of p's foot at k+1, not differentiated). Each point's
horizontal speed enters robustly, rho(u) = u^2 / (u^2 + s^2) with s = 0.5 m/s, so flight phases of
runs (no foot on the ground; the evaluation takes a median) saturate instead of dominating:

    loss = mean over the batch of  sum_p a_p b_p rho(|u_p,xy|)        (0 .. 1)

Measured on the synthetic clips with their own commands (`tests/cmg_workspace/test_cmg_foot_loss.py`):
a steady 1 m/s walk 0.013, the swaying original 0.30, the steady walk under a zero command 0.65.
Frame k is given (the input of the step: a true state when teacher-forced, else the previous
prediction), so the gradient reaches the prediction k+1 only.
"""

from __future__ import annotations

import torch

from pose.cmg.joints import NUM_JOINTS, index_23_in_29
from pose.cmg.stats import TorchStats
from pose.g1_model import load_g1
from pose.kinematics import FootGeometry

#: softness of the lowest sole point (m): points within a few mm of the lowest share its weight
CONTACT_TAU = 0.005
#: speed scale of the robust penalty (m/s): slides well below it count quadratically, flights saturate
SLIDE_SCALE = 0.5


class StanceSlideLoss:
    """`loss(prev_hat, next_hat, c_hat)`: the robust stance slide of one generated step, on
    normalised motion states (B, 58) and normalised commands (B, 3)."""

    def __init__(
        self, stats: TorchStats, dt: float, device="cpu", tau: float = CONTACT_TAU, scale: float = SLIDE_SCALE
    ):
        self.stats = stats
        self.dt, self.tau, self.scale = float(dt), float(tau), float(scale)
        self.geometry = FootGeometry(load_g1(), device=device)
        self._q23 = torch.as_tensor(index_23_in_29(), device=device)
        self._foot_of = self.geometry.foot_of
        self._num_feet = int(self._foot_of.max()) + 1

    def sole_points(self, x_hat: torch.Tensor) -> torch.Tensor:
        """(B, P, 3) sole points of normalised states relative to an upright root at the origin."""
        q = self.stats.denormalise_motion(x_hat)[..., :NUM_JOINTS][..., self._q23]
        root_pos = q.new_zeros(q.shape[:-1] + (3,))
        root_rot = torch.cat([q.new_zeros(q.shape[:-1] + (3,)), q.new_ones(q.shape[:-1] + (1,))], dim=-1)
        return self.geometry.sole_points(root_pos, root_rot, q)

    def __call__(self, prev_hat: torch.Tensor, next_hat: torch.Tensor, c_hat: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            p0 = self.sole_points(prev_hat)
            contact = torch.softmax(-p0[..., 2] / self.tau, dim=-1)  # (B, P): the lowest point of frame k
        p1 = self.sole_points(next_hat)
        with torch.no_grad():
            lowest = torch.softmax(-p1[..., 2] / self.tau, dim=-1)
            foot_mass = torch.zeros(lowest.shape[:-1] + (self._num_feet,), dtype=lowest.dtype, device=lowest.device)
            same_foot = foot_mass.index_add_(-1, self._foot_of, lowest)[..., self._foot_of]  # (B, P)
        cmd = self.stats.denormalise_command(c_hat)  # (B, 3)
        vx, vy, wz = cmd[:, 0:1], cmd[:, 1:2], cmd[:, 2:3]
        ux = vx + (p1[..., 0] - p0[..., 0]) / self.dt - wz * p1[..., 1]
        uy = vy + (p1[..., 1] - p0[..., 1]) / self.dt + wz * p1[..., 0]
        speed2 = ux.square() + uy.square()
        return (contact * same_foot * speed2 / (speed2 + self.scale**2)).sum(-1).mean()
