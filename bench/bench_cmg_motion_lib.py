"""Cost of the CMG motion library per env step in training, amortised over the envs (GPU).

    python bench/bench_cmg_motion_lib.py [--task g1_cmg_medium] [--num_envs 4096] [--steps 1000]
                                         [--reset_prob 0.01] [--cmg_model PATH] [--chunk K] [--pool_size P]
                                         [--no_tf32] [--foot_lock] [--device cuda:0] [--out_dir bench/results]

One `CMGMotionLib`, built from the task's config as the environment builds it (`cmg_motion_lib`:
the shipped CMG unless --cmg_model, the task's command band, pool and look-ahead), runs what a
training env step asks of it: `step()` (advance every env one frame; every `chunk`-th step (the
task's `motion.cmg_chunk`, or --chunk) the next `chunk` frames of every env are generated, and at
every `pool_refresh_steps`-th step each half of the pool of new episode heads whose heads have all
been taken is generated again; these refreshes, with their check, are timed apart as `pool_refresh`), `reset_where(mask)` with each env ending its episode with probability
--reset_prob per step (0.01: episodes of 2 s on average, shorter than a trained policy's), and the
reference queries: the current frame and the 20 future frames of the teacher's observation.
Times are wall-clock over --steps steps after 2 x pool_refresh_steps + 1 warm-up steps (the pool
refresh's graph is captured at its third call), with the device synchronised after each part. On CUDA the
library runs with its CUDA graphs (`cmg_cuda_graph`) and, unless --no_eager, a second one without
them on the same reset masks; their reference frames and commands are compared at the end.
The generator's products run in TF32 as the task sets it (`motion.cmg_tf32`, on CUDA only; --no_tf32:
float32). --foot_lock: with the foot lock of the generated frames (`motion.cmg_foot_lock`).
Writes bench/results/cmg_motion_lib_<device>_<date>_chunk<K>[_pool<P>][_tf32][_footlock].json (the
suffixes with --pool_size, when the products ran in TF32 and with --foot_lock):
date, device_name, command, pool_size, per way and
part the ms per env step of all envs and per env (us), and the largest graph-vs-eager difference.
Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, write_result  # noqa: E402
from legged_gym.envs import task_registry  # noqa: E402
from legged_gym.envs.g1.g1_mimic_cmg import cmg_motion_lib  # noqa: E402
from legged_gym.simulator.base import POLICY_DT  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_lib(cfg, device: torch.device, cuda_graph: bool):
    cfg.motion.cmg_cuda_graph = bool(cuda_graph)
    return cmg_motion_lib(cfg, device)


def run(lib, masks, future: torch.Tensor, device: torch.device, warmup: int) -> dict:
    """Seconds per part over the steps after `warmup` (one reset mask per step)."""
    n = lib.num_envs
    ids = torch.arange(n, device=device)
    lib.reset(ids)
    times = {"step": 0.0, "pool_refresh": 0.0, "reset_where": 0.0, "queries": 0.0}
    refill = lib._refresh_pool

    def timed_refill():  # inside step(): its time moves from "step" to "pool_refresh"
        synchronize(device)
        t = time.perf_counter()
        refill()
        synchronize(device)
        times["pool_refresh"] += time.perf_counter() - t

    lib._refresh_pool = timed_refill
    for i, mask in enumerate(masks):
        if i == warmup:
            times.update({k: 0.0 for k in times})
        t = time.perf_counter()
        lib.step()
        synchronize(device)
        times["step"] += time.perf_counter() - t
        t = time.perf_counter()
        lib.reset_where(mask)
        synchronize(device)
        times["reset_where"] += time.perf_counter() - t
        t = time.perf_counter()
        now = lib.motion_times()
        lib.calc_motion_frame(ids, now)
        lib.calc_motion_frame(ids.unsqueeze(-1).expand(-1, len(future)), now.unsqueeze(-1) + future)
        synchronize(device)
        times["queries"] += time.perf_counter() - t
    times["step"] -= times["pool_refresh"]
    return times


def parts_of(times: dict, steps: int, n: int) -> dict:
    parts = {k: {"ms_per_env_step": 1000.0 * v / steps, "us_per_env": 1e6 * v / steps / n} for k, v in times.items()}
    parts["generation_ms_per_env_step"] = sum(
        parts[k]["ms_per_env_step"] for k in ("step", "pool_refresh", "reset_where")
    )
    parts["total_ms_per_env_step"] = 1000.0 * sum(times.values()) / steps
    return parts


def max_difference(a, b, future: torch.Tensor) -> float:
    """Largest difference between two libraries' current and future reference frames and commands."""
    ids = torch.arange(a.num_envs, device=future.device)
    q_ids = ids.unsqueeze(-1).expand(-1, len(future))
    out = float((a.get_commands() - b.get_commands()).abs().max())
    for frames in zip(
        a.calc_motion_frame(q_ids, a.motion_times().unsqueeze(-1) + future),
        b.calc_motion_frame(q_ids, b.motion_times().unsqueeze(-1) + future),
    ):
        out = max(out, float((frames[0].double() - frames[1].double()).abs().max()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="g1_cmg_medium")
    p.add_argument("--num_envs", type=int, default=4096)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--reset_prob", type=float, default=0.01)
    p.add_argument("--cmg_model", default=None, help="default: the shipped assets/cmg/cmg.pt")
    p.add_argument("--chunk", type=int, default=None, help="frames generated per chunk (default: the task's cmg_chunk)")
    p.add_argument(
        "--pool_size", type=int, default=None, help="episode starts in the pool (default: the task's cmg_pool_size)"
    )
    p.add_argument("--no_eager", action="store_true", help="skip the library without CUDA graphs")
    p.add_argument("--no_tf32", action="store_true", help="the generator's products in float32 (motion.cmg_tf32 off)")
    p.add_argument("--foot_lock", action="store_true", help="the foot lock on (motion.cmg_foot_lock)")
    p.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out_dir", default=str(REPO_ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    cfg, _ = task_registry.get_cfgs(args.task)
    cfg.env.num_envs = args.num_envs
    if args.cmg_model:
        cfg.motion.cmg_model = args.cmg_model
    if args.chunk is not None:
        cfg.motion.cmg_chunk = args.chunk
    if args.pool_size is not None:
        cfg.motion.cmg_pool_size = args.pool_size
    if args.no_tf32:
        cfg.motion.cmg_tf32 = False
    if args.foot_lock:
        cfg.motion.cmg_foot_lock = True
    n = args.num_envs
    t0 = time.perf_counter()
    lib = make_lib(cfg, device, cuda_graph=True)
    synchronize(device)
    build_s = time.perf_counter() - t0
    future = torch.tensor(cfg.env.tar_obs_steps, device=device, dtype=torch.float32) * POLICY_DT
    warmup = 2 * lib.pool_refresh_steps + 1
    gen = torch.Generator(device=device).manual_seed(0)
    masks = [torch.rand(n, device=device, generator=gen) < args.reset_prob for _ in range(warmup + args.steps)]
    ways = {
        "graph" if lib.uses_cuda_graphs else "eager": parts_of(run(lib, masks, future, device, warmup), args.steps, n)
    }
    difference = None
    if not args.no_eager and lib.uses_cuda_graphs:
        eager = make_lib(cfg, device, cuda_graph=False)
        ways["eager"] = parts_of(run(eager, masks, future, device, warmup), args.steps, n)
        difference = max_difference(lib, eager, future)
        del eager
    main_way = ways.get("graph", ways.get("eager"))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    result = {
        "benchmark": "CMG motion library per training env step (generation, resets, reference queries)",
        "date": date,
        "command": " ".join(["python", "bench/bench_cmg_motion_lib.py"] + (sys.argv[1:] if argv is None else argv)),
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "task": args.task,
        "cmg_model": lib.model_path,
        "num_envs": n,
        "steps": args.steps,
        "warmup_steps": warmup,
        "reset_prob": args.reset_prob,
        "chunk": lib.chunk,
        "pool_size": lib.pool_size,
        "tf32": lib.tf32,
        "build_s": build_s,
        "ways": ways,
        "generation_ms_per_env_step": main_way["generation_ms_per_env_step"],
        "total_ms_per_env_step": main_way["total_ms_per_env_step"],
        "graph_vs_eager_max_abs_difference": difference,
        "clamped_queries": int(lib.num_clamped),
    }
    print(json.dumps(result, indent=2))
    pool = "" if args.pool_size is None else "_pool{}".format(lib.pool_size)
    tf32 = "_tf32" if lib.tf32 else ""
    lock = "_footlock" if cfg.motion.cmg_foot_lock else ""
    name = "cmg_motion_lib_{}_{}_chunk{}{}{}{}.json".format(device.type, date, lib.chunk, pool, tf32, lock)
    out = Path(args.out_dir) / name
    write_result(out, result, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
