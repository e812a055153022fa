"""Physics-only throughput of a simulator backend: env-steps/s = num_envs x policy steps / s.

    python bench/bench_physics.py [--backend mjwarp] [--device cuda] [--num_envs 1024 4096 8192]
                                  [--steps 200] [--warmup 20] [--out_dir bench/results]

Each policy step is `decimation` (10) physics substeps of 2 ms with the training PD law (per-env
motor strength drawn in [0.8, 1.2]), toward random targets around the default pose (default +
N(0, 0.1) rad, a fresh draw every step from a bank of 64 precomputed draws). Robots start standing;
every 10 policy steps the envs whose pelvis is below 0.5 m are reset to the standing state in one
batched call (as the environment's reset_idx does). No observations, rewards or learning: this is the
simulator's share of a training step.

Writes bench/results/physics_<backend>_<device>_<date>.json (date, device, command, versions,
numbers). Not a test: the numbers are for the README and for spotting regressions.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, write_result  # noqa: E402
from legged_gym.simulator import make_backend  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402

# MuJoCo Warp, G1, TWIST rates, one H100 (physics only), quoted in the issue for comparison.
REFERENCE_H100 = {"4096": 160_000, "8192": 206_000}


def versions() -> dict:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("warp", "mujoco", "mujoco_warp"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "unknown")
        except Exception:  # noqa: BLE001 - a backend without these packages
            pass
    return out


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_one(args, n: int, device: torch.device) -> dict:
    g1 = load_g1()
    gen = torch.Generator(device=device).manual_seed(0)
    t0 = time.perf_counter()
    sim = make_backend(
        args.backend, n, device, **({"njmax": args.njmax, "nconmax": args.nconmax} if args.backend == "mjwarp" else {})
    )
    sync(device)
    build_s = time.perf_counter() - t0

    ids = torch.arange(n, device=device)
    default = torch.tensor(g1.default_dof_pos, dtype=torch.float32, device=device).repeat(n, 1)
    stand_root = torch.zeros(n, 13, device=device)
    stand_root[:, 2] = g1.standing_pelvis_height + 0.005
    stand_root[:, 6] = 1.0
    sim.set_root_states(ids, stand_root)
    sim.set_dof_states(ids, default, torch.zeros_like(default))
    sim.forward()
    sim.set_motor_strength(
        0.8 + 0.4 * torch.rand(n, 23, device=device, generator=gen),
        0.8 + 0.4 * torch.rand(n, 23, device=device, generator=gen),
    )
    bank = default.unsqueeze(0) + args.target_noise * torch.randn(64, n, 23, device=device, generator=gen)
    # mjwarp: watch the preallocated constraint/contact pools (overflowing rows would be dropped)
    pools = None
    if hasattr(sim, "d") and hasattr(sim.d, "nefc"):
        import warp as wp

        pools = {"nefc": wp.to_torch(sim.d.nefc), "nacon": wp.to_torch(sim.d.nacon)}
        peaks = {
            "nefc": torch.zeros((), dtype=torch.int32, device=device),
            "nacon": torch.zeros((), dtype=torch.int32, device=device),
        }

    def run(steps: int, start: int) -> int:
        count = 0
        for k in range(start, start + steps):
            sim.step(bank[k % 64])
            if (k + 1) % 10 == 0:
                if pools is not None:
                    for key in peaks:
                        peaks[key] = torch.maximum(peaks[key], pools[key].max().to(torch.int32))
                fallen = (sim.root_states[:, 2] < 0.5).nonzero().flatten()
                if fallen.numel():
                    sim.set_root_states(fallen, stand_root[fallen])
                    sim.set_dof_states(fallen, default[fallen], torch.zeros_like(default[fallen]))
                    sim.forward()
                    count += int(fallen.numel())
        return count

    t0 = time.perf_counter()
    run(args.warmup, 0)
    sync(device)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    resets = run(args.steps, args.warmup)
    sync(device)
    elapsed = time.perf_counter() - t0
    finite = bool(torch.isfinite(sim.root_states).all() and torch.isfinite(sim.dof_pos).all())
    out = {
        "num_envs": n,
        "policy_steps": args.steps,
        "env_steps_per_s": n * args.steps / elapsed,
        "ms_per_policy_step": 1e3 * elapsed / args.steps,
        "substeps_per_policy_step": sim.cfg.decimation,
        "build_and_capture_s": build_s,
        "warmup_s": warmup_s,
        "resets_during_timing": resets,
        "state_finite": finite,
    }
    if pools is not None:
        out["peak_constraint_rows_per_world"] = int(peaks["nefc"])
        out["njmax"] = int(sim.d.njmax)
        out["peak_contacts_all_worlds"] = int(peaks["nacon"])
        out["naconmax"] = int(sim.d.naconmax)
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        out["gpu_memory_used_gib"] = (total - free) / 2**30
    sim = None  # release the backend before the next size (not `del`: the closure run() names it)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="mjwarp")
    p.add_argument("--device", default="cuda")
    p.add_argument("--num_envs", type=int, nargs="+", default=[1024, 4096, 8192])
    p.add_argument("--steps", type=int, default=200, help="timed policy steps per size")
    p.add_argument("--warmup", type=int, default=20, help="untimed policy steps per size")
    p.add_argument(
        "--target_noise", type=float, default=0.1, help="std (rad) of the random targets around the default pose"
    )
    p.add_argument("--njmax", type=int, default=128, help="mjwarp: constraint rows per world")
    p.add_argument("--nconmax", type=int, default=48, help="mjwarp: contacts per world (pooled)")
    p.add_argument("--out_dir", default=str(REPO_ROOT / "bench" / "results"))
    args = p.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    results = []
    for n in args.num_envs:
        r = bench_one(args, n, device)
        print(
            "{:>6} envs: {:>10.0f} env-steps/s  ({:.2f} ms per policy step, build+capture {:.1f} s, {} resets)".format(
                n, r["env_steps_per_s"], r["ms_per_policy_step"], r["build_and_capture_s"], r["resets_during_timing"]
            ),
            flush=True,
        )
        results.append(r)
    date = datetime.date.today().isoformat()
    report = {
        "benchmark": "physics only ({} backend): policy steps of {} PD substeps, random targets, batched resets".format(
            args.backend, results[0]["substeps_per_policy_step"] if results else "?"
        ),
        "date": date,
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])
        if argv is None
        else "main({})".format(argv),
        "versions": versions(),
        "device": device.type,
        "device_name": device_name(device),
        "sim": {
            "dt": 0.002,
            "decimation": 10,
            "njmax": args.njmax,
            "nconmax": args.nconmax,
            "target_noise_rad": args.target_noise,
        },
        "results": results,
        "reference_env_steps_per_s_h100_mujoco_warp": REFERENCE_H100,
    }
    path = Path(args.out_dir) / "physics_{}_{}_{}.json".format(args.backend, device.type, date)
    write_result(path, report, indent=2)
    print("wrote", path)


if __name__ == "__main__":
    main()
