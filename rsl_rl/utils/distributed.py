"""Data-parallel training over torch.distributed: one process (rank) per GPU, started by torchrun.

    torchrun --standalone --nproc_per_node N legged_gym/scripts/train.py ... --multi_gpu

`init_process_group(device)` joins the group torchrun describes in the environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT): NCCL with device cuda:LOCAL_RANK when `device` is a CUDA
device, gloo on the CPU. The learners then see `world_size() > 1` and, with no other setting:

  - the runner broadcasts rank 0's network at start (ranks are seeded differently), each rank
    collects its own envs' rollout, and only rank 0 logs (TensorBoard, wandb, progress bar,
    console) and writes checkpoints; every rank loads a checkpoint to resume (same format);
  - PPO averages the gradients over the ranks after every minibatch's backward pass (one
    all-reduce of all gradients, `average_gradients`) and averages the minibatch's KL before the
    adaptive learning-rate rule, so every rank takes the same Adam step with the same learning
    rate and the parameters stay identical;
  - the observation normalisers merge the samples of all ranks before each update
    (`merge_pending_statistics`): every rank then holds the statistics of the union of the data.

Without an initialised process group (a plain `python train.py`) every function here is a no-op
or returns the single-process answer (rank 0 of 1).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of ranks of the process group (1 without one)."""
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) described a process group in the environment."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def rank_device(device) -> str:
    """The device of this rank for a requested `device`: cuda:LOCAL_RANK for any CUDA device, else as given."""
    dev = torch.device(str(device))
    if dev.type == "cuda":
        return "cuda:{}".format(local_rank())
    return str(device)


def init_process_group(device) -> str:
    """Join torchrun's process group (NCCL on CUDA, gloo on the CPU); returns this rank's device."""
    device = rank_device(device)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        backend = "gloo"
    if not is_initialized():
        kwargs: Dict[str, Any] = {"backend": backend}
        if backend == "nccl":
            try:  # lets NCCL bind its communicator to this rank's GPU at once (torch >= 2.3)
                dist.init_process_group(device_id=dev, **kwargs)
                return device
            except TypeError:
                pass
        dist.init_process_group(**kwargs)
    return device


def destroy_process_group() -> None:
    if is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


@torch.no_grad()
def broadcast_module_(module: nn.Module, src: int = 0) -> None:
    """Copy rank `src`'s parameters and buffers into every rank's `module`, in place."""
    if world_size() <= 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=src)


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of `tensor` over the ranks (a new tensor; the same value on every rank)."""
    if world_size() <= 1:
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.div_(world_size())


@torch.no_grad()
def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Replace every parameter's gradient by its mean over the ranks (one all-reduce of one flat
    buffer). A parameter without a gradient counts as a zero gradient, on every rank alike."""
    n = world_size()
    if n <= 1:
        return
    grads = []
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(n)
    offset = 0
    for g in grads:
        k = g.numel()
        g.copy_(flat[offset : offset + k].view_as(g))
        offset += k


def combine_moments(
    counts: torch.Tensor, means: torch.Tensor, m2s: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Parallel combination of sample statistics (Chan, Golub and LeVeque): parts p with count n_p,
    mean m_p and M2_p = sum over the part of (x - m_p)^2 (per feature) give the union's

        n = sum n_p,   mean = sum n_p m_p / n,   M2 = sum M2_p + sum n_p (m_p - mean)^2

    (variance M2 / n). counts (P,), means and m2s (P, *shape); parts with count 0 are ignored.
    Returns (n, mean, M2); mean and M2 are 0 when n is 0."""
    counts = counts.to(torch.float64)
    means = means.to(torch.float64)
    m2s = m2s.to(torch.float64)
    n = counts.sum()
    w = counts.reshape((-1,) + (1,) * (means.dim() - 1))
    if float(n) <= 0:
        return n, torch.zeros_like(means[0]), torch.zeros_like(m2s[0])
    mean = (w * means).sum(0) / n
    m2 = m2s.sum(0) + (w * (means - mean) ** 2).sum(0)
    return n, mean, m2


@torch.no_grad()
def merge_pending_statistics(normalizer) -> None:
    """Make every rank's pending (recorded, not yet merged) samples of a `Normalizer` those of all
    ranks together, so that the next `update()` gives every rank the statistics of the union.

    Each rank's pending sums become (count, mean, M2); the parts are all-gathered and combined
    (`combine_moments`), and the union is written back as pending sums (sum = n mean, sum of
    squares = M2 + n mean^2). The running statistics before the update are the same on every rank
    (the same checkpoint or the same earlier merges), so after it they are too."""
    n_ranks = world_size()
    if n_ranks <= 1:
        return
    shape = normalizer._sum.shape
    count = normalizer._pending.reshape(1).to(torch.float64)
    s, sq = normalizer._sum, normalizer._sum_sq
    mean = s / torch.clamp(count, min=1.0)
    m2 = torch.clamp(sq - s * mean, min=0.0)  # sum (x - mean)^2 = sum x^2 - n mean^2
    local = torch.cat([count, mean.reshape(-1), m2.reshape(-1)])
    parts = [torch.empty_like(local) for _ in range(n_ranks)]
    dist.all_gather(parts, local)
    stacked = torch.stack(parts)
    k = mean.numel()
    total, union_mean, union_m2 = combine_moments(
        stacked[:, 0],
        stacked[:, 1 : 1 + k].reshape((n_ranks,) + tuple(shape)),
        stacked[:, 1 + k :].reshape((n_ranks,) + tuple(shape)),
    )
    normalizer._pending.copy_(total)
    normalizer._sum.copy_(total * union_mean)
    normalizer._sum_sq.copy_(union_m2 + total * union_mean * union_mean)


@torch.no_grad()
def max_parameter_difference(module: nn.Module) -> float:
    """The largest |difference| between any rank's parameters of `module` and rank 0's (0.0 when
    they are identical, as data-parallel training keeps them; 0.0 without a process group)."""
    n_ranks = world_size()
    if n_ranks <= 1:
        return 0.0
    flat = torch.cat([p.detach().reshape(-1).to(torch.float32) for p in module.parameters()])
    parts = [torch.empty_like(flat) for _ in range(n_ranks)]
    dist.all_gather(parts, flat)
    return max(float((part - parts[0]).abs().max()) for part in parts[1:])
