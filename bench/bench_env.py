"""Environment throughput: env-only (physics + references + observations + rewards + resets, random
actions, no policy) and physics-only (the backend's 10 PD substeps alone) in the same run.

    python bench/bench_env.py [--task g1_priv_mimic] [--num_envs 1024 4096 8192] [--steps 200]

The env is built as the task's config says (on CUDA with MuJoCo Warp its step is compiled by default,
`env.compile_mdp`; each run records the backend): the first 20 steps, not timed, compile it.
Writes bench/results/env_<task>_<device>_<date>.json (date, device, command, numbers). Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, write_result  # noqa: E402
from legged_gym.envs import task_registry  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(fn, steps: int, num_envs: int, device: torch.device, warmup: int = 20) -> dict:
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    dt = time.perf_counter() - t0
    return {"env_steps_per_s": num_envs * steps / dt, "ms_per_step": 1e3 * dt / steps, "steps": steps}


def bench(task: str, num_envs: int, device: torch.device, steps: int, sim: str) -> dict:
    cfg, _ = task_registry.get_cfgs(task)
    cfg.env.num_envs = num_envs
    cfg.sim.backend = sim
    t0 = time.perf_counter()
    env = task_registry.get(task).env_class(cfg, str(device), True)
    build_s = time.perf_counter() - t0
    gen = torch.Generator(device=device).manual_seed(0)

    def env_step():
        actions = 0.3 * torch.randn(num_envs, env.num_actions, device=device, generator=gen)
        env.step(actions)

    backend = env.sim
    default = env.default_dof_pos.expand(num_envs, -1)

    def physics_step():
        backend.step(default + 0.15 * torch.randn(num_envs, backend.num_dofs, device=device, generator=gen))

    env_only = rate(env_step, steps, num_envs, device)
    physics_only = rate(physics_step, steps, num_envs, device)
    return {
        "num_envs": num_envs,
        "compile_mdp": env.compile_mdp,  # the env step's torch.compile backend (None: not compiled)
        "build_s": round(build_s, 2),
        "env_only": env_only,
        "physics_only": physics_only,
        "env_over_physics": env_only["env_steps_per_s"] / physics_only["env_steps_per_s"],
    }


def profile(task: str, num_envs: int, device: torch.device, steps: int, sim: str, out_dir: Path) -> None:
    """Where an env step spends its time: profiler tables by CPU and by device time, and a trace."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cfg, _ = task_registry.get_cfgs(task)
    cfg.env.num_envs = num_envs
    cfg.sim.backend = sim
    env = task_registry.get(task).env_class(cfg, str(device), True)
    actions = torch.zeros(num_envs, env.num_actions, device=device)
    for _ in range(20):
        env.step(actions)
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities, with_stack=False, record_shapes=False) as prof:
        for _ in range(steps):
            with torch.profiler.record_function("env.step"):
                env.step(actions)
        sync(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    key_averages = prof.key_averages()
    tables = [key_averages.table(sort_by="cpu_time_total", row_limit=60)]
    if device.type == "cuda":
        tables.append(key_averages.table(sort_by="self_cuda_time_total", row_limit=40))
    (out_dir / "profile_env.txt").write_text("\n\n".join(tables))
    print("\n\n".join(tables))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="g1_priv_mimic")
    p.add_argument("--sim", default="mjwarp")
    p.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    p.add_argument("--num_envs", type=int, nargs="+", default=[1024, 4096, 8192])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--out_dir", default=str(REPO_ROOT / "bench" / "results"))
    p.add_argument(
        "--profile", action="store_true", help="instead: torch.profiler tables of env.step at the first --num_envs"
    )
    args = p.parse_args()
    device = torch.device(args.device)
    if args.profile:
        return profile(args.task, args.num_envs[0], device, args.steps, args.sim, Path(args.out_dir))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    result = {
        "benchmark": "environment throughput (env-only with random actions; physics-only)",
        "date": date,
        "command": " ".join(["python"] + sys.argv),
        "task": args.task,
        "sim": args.sim,
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "runs": [],
    }
    for n in args.num_envs:
        r = bench(args.task, n, device, args.steps, args.sim)
        result["runs"].append(r)
        print(json.dumps(r), flush=True)
    out = Path(args.out_dir) / "env_{}_{}_{}.json".format(args.task, device.type, date)
    write_result(out, result, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
