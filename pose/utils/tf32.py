"""Tf32: a context in which CUDA matrix products (and cuDNN convolutions) may use TF32.

TF32 keeps float32's range with a 10-bit mantissa (about 1e-3 relative error per product) and runs
fp32 matrix products on the tensor cores, several times faster on Ampere and later GPUs. Used by the
PPO update (`rsl_rl.algorithms.ppo`, `algorithm.tf32`) and by the CMG's network evaluations
(`pose.utils.cmg_motion_lib`, `motion.cmg_tf32`). The setting is global in torch, so the context
restores the previous one on exit. Inside a CUDA graph capture the flag in force when a product is
recorded is the one its replays use.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch


class Tf32:
    """`with Tf32(enabled):` TF32 products on inside when `enabled`; nothing changes otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = bool(enabled)
        self._saved: Optional[Tuple[bool, bool]] = None

    def __enter__(self) -> "Tf32":
        if self.enabled:
            self._saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self._saved
            self._saved = None
