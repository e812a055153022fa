"""Helpers of the CMG tests: a small dataset of the embedded motion set, and a small trained run."""

from pathlib import Path

from cmg_workspace import train
from cmg_workspace.dataset import BuildConfig, CMGData, build
from cmg_workspace.sources import list_sources, read_source_file

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--hidden_dim", "32", "--batch_size", "32", "--device", "cpu", "--no_progress"]


def embedded_clips():
    return [read_source_file(name, path) for name, path in list_sources(["embedded"])]


def build_embedded(path: Path, **config) -> CMGData:
    """The embedded set as a CMG dataset, written to `path` (no replication unless given)."""
    config.setdefault("replication", ())
    data = build(embedded_clips(), BuildConfig(**config))
    data.save(path)
    return data


def train_small(data_path: Path, out: Path, epochs: int, *extra) -> int:
    """`python -m cmg_workspace.train` in process with a small network on CPU."""
    return train.main(
        ["--data", str(data_path), "--out", str(out), "--epochs", str(epochs)] + SMALL + [str(e) for e in extra]
    )
