"""Autoregressive CMG rollouts with the root integrated from the command.

`generate(model, stats, start, commands, steps)` runs the generator from raw start states under
constant commands (batched over commands) and returns raw states. `integrate_root(commands, steps,
dt)` gives the root the way the CMG motion library moves it: Euler steps of the yaw (wz dt) and of
the horizontal position along the current heading (R(yaw) [vx, vy] dt), at a constant height,
with no roll or pitch (commands constant, or one per step).
"""

from __future__ import annotations

from typing import Tuple

import torch

from pose.cmg.model import CMG
from pose.cmg.stats import TorchStats


@torch.no_grad()
def generate(model: CMG, stats: TorchStats, start: torch.Tensor, commands: torch.Tensor, steps: int) -> torch.Tensor:
    """Raw states (N, steps + 1, 58) from raw `start` (58,) or (N, 58) and commands (N, 3)."""
    c_hat = stats.normalise_command(commands)
    cur = stats.normalise_motion(start).expand(commands.shape[0], -1)
    out = [cur]
    for _ in range(steps):
        cur = model(cur, c_hat)
        out.append(cur)
    return stats.denormalise_motion(torch.stack(out, dim=1))


def integrate_root(
    commands: torch.Tensor, steps: int, dt: float, height: float = 0.75
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Root positions (N, steps + 1, 3) and yaws (N, steps + 1) from the origin, heading +x, under
    constant commands (N, 3) or per-step ones (N, >= steps, 3)."""
    n = commands.shape[0]
    per_step = commands.dim() == 3
    pos = torch.zeros(n, steps + 1, 3, dtype=commands.dtype, device=commands.device)
    yaw = torch.zeros(n, steps + 1, dtype=commands.dtype, device=commands.device)
    pos[:, :, 2] = height
    for k in range(steps):
        cmd = commands[:, k] if per_step else commands
        c, s = torch.cos(yaw[:, k]), torch.sin(yaw[:, k])
        vx, vy = cmd[:, 0], cmd[:, 1]
        pos[:, k + 1, 0] = pos[:, k, 0] + (c * vx - s * vy) * dt
        pos[:, k + 1, 1] = pos[:, k, 1] + (s * vx + c * vy) * dt
        yaw[:, k + 1] = yaw[:, k] + cmd[:, 2] * dt
    return pos, yaw
