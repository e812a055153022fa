"""Export a CMG to ONNX (normalisation inside), or as a float16 release checkpoint.

    python -m cmg_workspace.export RUN_OR_CKPT --out X.onnx [--opset 17]
    python -m cmg_workspace.export RUN_OR_CKPT --out X.pt        (release: `cmg_workspace.checkpoint`)

The graph takes raw quantities and returns raw quantities: inputs `prev_motion` (B, 58: the 29
joint positions then the 29 velocities, real-robot order) and `command` (B, 3: vx, vy in m/s in
the heading frame, wz in rad/s); output `motion` (B, 58), the next state one step (1 / fps) later.
Inside: x_hat = (x - mean) / std, c_hat = 2 (c - c_min) / (c_max - c_min) - 1, the network,
x = x_hat std + mean. The batch size is dynamic. The statistics, joint names, frame rate and the
standing start pose are also in the model's `metadata_props` (JSON values) and in X.json beside it.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch
from torch import nn

from cmg_workspace.checkpoint import release_checkpoint, save_checkpoint
from pose.cmg.checkpoint import LoadedCMG, load_cmg, read_checkpoint, resolve_model_file
from pose.cmg.joints import COMMAND_DIM, MOTION_DIM, joint_names
from pose.cmg.stats import RANGE_EPS


class RawCMG(nn.Module):
    """The CMG on raw states and commands (normalisation and de-normalisation inside)."""

    motion_mean: torch.Tensor  # registered buffers
    motion_std: torch.Tensor
    command_min: torch.Tensor
    command_range: torch.Tensor

    def __init__(self, cmg: LoadedCMG):
        super().__init__()
        self.model = cmg.model
        s = cmg.stats
        self.register_buffer("motion_mean", torch.as_tensor(s.motion_mean))
        self.register_buffer("motion_std", torch.as_tensor(s.motion_std))
        self.register_buffer("command_min", torch.as_tensor(s.command_min))
        self.register_buffer("command_range", torch.as_tensor(s.command_max - s.command_min + RANGE_EPS))

    def forward(self, prev_motion: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        x_hat = (prev_motion - self.motion_mean) / self.motion_std
        c_hat = 2.0 * (command - self.command_min) / self.command_range - 1.0
        return self.model(x_hat, c_hat) * self.motion_std + self.motion_mean


def metadata(cmg: LoadedCMG) -> dict:
    return {
        "normalisation": "inside: inputs and output are raw (rad, rad/s, m/s)",
        "inputs": "prev_motion (B, 58) = 29 joint positions then 29 velocities; command (B, 3) = vx, vy (m/s), wz (rad/s)",
        "output": "motion (B, 58): the next state, 1/fps later",
        "joint_names": list(joint_names()),
        "fps": cmg.fps,
        "stats": cmg.stats.to_dict(),
        "standing_pose": [float(v) for v in cmg.standing_pose],
        "model_config": cmg.model.config.to_dict(),
        "checkpoint": str(cmg.path),
        "epoch": cmg.meta.get("epoch"),
    }


def export_onnx(cmg: LoadedCMG, out, opset: int = 17) -> Path:
    import onnx

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    module = RawCMG(cmg).cpu().eval()
    example = (torch.as_tensor(cmg.standing_pose)[None], torch.zeros(1, COMMAND_DIM))
    kwargs: Dict[str, Any] = dict(
        input_names=["prev_motion", "command"],
        output_names=["motion"],
        opset_version=opset,
        dynamic_axes={"prev_motion": {0: "batch"}, "command": {0: "batch"}, "motion": {0: "batch"}},
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript-based exporter: no onnxscript needed
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(out), **kwargs)
    meta = metadata(cmg)
    proto = onnx.load(str(out))
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, json.dumps(v)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    with open(out.with_suffix(".json"), "w") as f:
        json.dump(meta, f, indent=1)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cmg_workspace.export", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="checkpoint file, or run folder (its cmg_final.pt, else cmg_best.pt)")
    p.add_argument(
        "--out",
        required=True,
        help="output .onnx file (a .json with the metadata is written beside it), "
        "or .pt for a float16 release checkpoint",
    )
    p.add_argument("--opset", type=int, default=17)
    args = p.parse_args(argv)
    try:
        if Path(args.out).suffix == ".pt":
            source = resolve_model_file(args.checkpoint)
            out = save_checkpoint(args.out, release_checkpoint(read_checkpoint(source), source))
            print("wrote {} ({:.2f} MB, float16 weights of {})".format(out, out.stat().st_size / 1e6, source))
            return 0
        cmg = load_cmg(args.checkpoint)
    except (FileNotFoundError, ValueError) as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    out = export_onnx(cmg, args.out, args.opset)
    print(
        "wrote {} (inputs prev_motion (B, {}), command (B, {}); output motion (B, {}); raw units, normalisation "
        "inside) and {}".format(out, MOTION_DIM, COMMAND_DIM, MOTION_DIM, out.with_suffix(".json"))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
