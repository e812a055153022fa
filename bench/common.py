"""What the benchmark scripts share: the name of the device a number was measured on, and the writing of
a result JSON under bench/results/ (or wherever --out / --out_dir points)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform module knows."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and the torch threads it ran with."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "{} ({} threads)".format(cpu_model(), torch.get_num_threads())


def write_result(out: Path, result: dict, indent: int = 1) -> None:
    """Write `result` as JSON to `out` (its folder created), ending in a newline."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=indent) + "\n")
