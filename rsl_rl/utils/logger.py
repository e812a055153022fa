"""TrainLogger: scalars to TensorBoard (always, when there is a log dir) and wandb (optional, docs/decisions.md D12).

TensorBoard's SummaryWriter writes into the run folder next to the checkpoints; wandb is imported
only when asked for (`runner.wandb = True`), so it need not be installed otherwise.
"""

from __future__ import annotations

import os
from typing import Dict, Optional


class TrainLogger:
    def __init__(
        self,
        log_dir: Optional[str],
        use_wandb: bool = False,
        wandb_project: str = "g1_mimic",
        run_name: Optional[str] = None,
        config: Optional[Dict] = None,
        flush_secs: int = 10,
    ):
        self.log_dir = log_dir
        self.writer = None
        self.wandb = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            os.makedirs(log_dir, exist_ok=True)
            self.writer = SummaryWriter(log_dir=log_dir, flush_secs=flush_secs)
        if use_wandb:
            import wandb  # lazily: optional dependency

            wandb.init(
                project=wandb_project,
                name=run_name or (os.path.basename(log_dir) if log_dir else None),
                dir=log_dir,
                config=config,
            )
            self.wandb = wandb

    def log(self, scalars: Dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, step)
        if self.wandb is not None:
            self.wandb.log(dict(scalars), step=step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None
