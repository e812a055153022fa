"""Training-loop throughput against the physics ceiling, measured in one run per size.

    python bench/bench_train_loop.py [--num_envs 4096 8192] [--iterations 6] [--warmup_iterations 2]
                                     [--steps 200] [--no_plain] [--no_compiled] [--no_student]
                                     [--check_steps 40] [--out_dir bench/results]

For each number of envs, in this order and in the same process:
  physics only   the backend's 10 PD substeps per env-step toward random targets (bench_env.py's);
  env only       the teacher env with random actions, the fast way (resets by mask, no host
                 synchronisation), the compiled way (the fast way with the step's tensor maths
                 through torch.compile, `cfg.env.compile_mdp`) and the plain way (resets by index
                 list), physics only again;
  teacher loop   OnPolicyRunnerMimic.learn (g1_priv_mimic, PPO): collection_s and learning_s per
                 iteration of num_envs x 24 transitions, the fast way (sync-free resets, fused Adam
                 with the learning-rate rule on the device, TF32), the compiled way (fast +
                 compiled env step + the update's losses compiled, `algorithm.compile_update`)
                 and the plain way (index-list resets, host-side learning-rate rule,
                 per-tensor Adam, full fp32);
  student loop   OnPolicyDaggerRunner.learn (g1_stu_rl, DAgger-PPO, the frozen teacher's forward
                 pass included; the teacher is the teacher loop's network, saved to a temporary file).
ratio = env-steps/s of the loop (or env) / physics-only env-steps/s of the same size in this run.
The compiled way gets a new env for each measurement: torch.compile's guards specialise on the
grad mode (the runners collect under inference mode) and on host values, so an env shared with
the other measurements would time recompilations a training run does once at its start.
With --check_steps, four more teacher envs (plain, plain, fast, compiled; same seed, same actions)
compare observations, rewards and resets step by step: fast vs plain and compiled vs plain next to
plain vs plain (on CUDA the physics need not repeat bit for bit, so the second pair is the
baseline; the CPU tests check bit equality of the ways).

Writes bench/results/train_loop_<device>_<date>.json: date, device_name, command, runs (one per
size, loop and way: num_envs, loop, way, env_steps_per_s, physics_only_env_steps_per_s, ratio,
collection_s, learning_s), env_only (per size: fast and plain env-steps/s, physics only, ratios)
and the equality check. Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_env import rate as timed_rate  # noqa: E402
from bench.common import device_name, write_result  # noqa: E402
from legged_gym.envs import task_registry  # noqa: E402
from legged_gym.gym_utils.helpers import class_to_dict  # noqa: E402
from legged_gym.gym_utils.task_registry import policy_cfg_with_obs_sizes  # noqa: E402

TEACHER_TASK = "g1_priv_mimic"
STUDENT_TASK = "g1_stu_rl"


def make_env(task: str, num_envs: int, device: torch.device, sync_free=None, seed: int = 1, compiled=False):
    cfg, _ = task_registry.get_cfgs(task)
    cfg.env.num_envs = num_envs
    cfg.sim.backend = "mjwarp"
    cfg.seed = seed
    cfg.env.compile_mdp = compile_choice(compiled)
    if sync_free is not None:
        cfg.env.sync_free_resets = bool(sync_free)
    return task_registry.get(task).env_class(cfg, str(device), True)


def compile_choice(compiled: bool):
    """cfg.env.compile_mdp of a way: torch.compile's default backend, or off."""
    return "inductor" if compiled else False


def rate(fn, steps: int, num_envs: int, device: torch.device) -> float:
    """Env-steps/s of `fn` (bench_env's timing, 10 warm-up calls)."""
    return timed_rate(fn, steps, num_envs, device, warmup=10)["env_steps_per_s"]


def physics_only(env, steps: int, device: torch.device, gen: torch.Generator) -> float:
    n, backend = env.num_envs, env.sim
    default = env.default_dof_pos.expand(n, -1)
    return rate(
        lambda: backend.step(default + 0.15 * torch.randn(n, backend.num_dofs, device=device, generator=gen)),
        steps,
        n,
        device,
    )


def env_only(
    env, steps: int, device: torch.device, gen: torch.Generator, sync_free: bool, compiled: bool = False
) -> float:
    n = env.num_envs
    env.sync_free_resets = bool(sync_free)  # read at every step: the same env, either way
    env.set_compile_mdp(compile_choice(compiled))
    return rate(lambda: env.step(0.3 * torch.randn(n, env.num_actions, device=device, generator=gen)), steps, n, device)


class _Capture:
    """Stands in for the runner's TrainLogger: keeps the per-iteration scalars, writes nothing."""

    def __init__(self):
        self.rows = []

    def log(self, scalars, step):
        self.rows.append(dict(scalars))

    def flush(self):
        pass

    def close(self):
        pass


def loop(
    env,
    task: str,
    device: torch.device,
    fast: bool,
    iterations: int,
    warmup: int,
    teacher_path=None,
    compiled: bool = False,
):
    """(mean collection_s, mean learning_s, runner) over `iterations` after `warmup` iterations."""
    from rsl_rl.runners import OnPolicyDaggerRunner, OnPolicyRunnerMimic

    _, train_cfg = task_registry.get_cfgs(task)
    cfg = policy_cfg_with_obs_sizes(class_to_dict(train_cfg), env)  # the policy's sizes, as the train entry
    cfg["runner"]["progress_bar"] = False
    cfg["runner"]["summary_interval"] = 0
    cfg["algorithm"]["fast_update"] = bool(fast)
    cfg["algorithm"]["tf32"] = bool(fast)
    cfg["algorithm"]["compile_update"] = bool(compiled)
    env.sync_free_resets = bool(fast)
    env.set_compile_mdp(compile_choice(compiled))
    if teacher_path is None:
        runner = OnPolicyRunnerMimic(env, cfg, None, device=str(device))
    else:
        runner = OnPolicyDaggerRunner(env, cfg, None, device=str(device), teacher_path=teacher_path)
    assert runner.alg.fast_update == bool(fast) or device.type != "cuda"
    runner.logger = _Capture()
    runner.learn(warmup + iterations, init_at_random_ep_len=True)
    rows = runner.logger.rows[warmup:]
    collection = sum(r["Perf/collection time"] for r in rows) / len(rows)
    learning = sum(r["Perf/learning_time"] for r in rows) / len(rows)
    return collection, learning, runner


def loop_row(num_envs, loop_name, way, collection, learning, physics, steps_per_env=24):
    sps = num_envs * steps_per_env / (collection + learning)
    return {
        "num_envs": num_envs,
        "loop": loop_name,
        "way": way,
        "env_steps_per_s": sps,
        "physics_only_env_steps_per_s": physics,
        "ratio": sps / physics,
        "collection_s": collection,
        "learning_s": learning,
        "collection_env_steps_per_s": num_envs * steps_per_env / collection,
    }


def check_equal(num_envs: int, device: torch.device, steps: int, compiled: bool = True) -> dict:
    """Two plain-way teacher envs, one fast-way env and one compiled-way env, same seed and actions:
    per-step agreement of fast vs plain and compiled vs plain, and of plain vs plain as the baseline
    (GPU physics, with its atomic accumulations, need not repeat itself bit for bit, so two plain
    runs can drift apart too)."""
    ways = [(False, False), (False, False), (True, False)] + ([(True, True)] if compiled else [])
    envs = [make_env(TEACHER_TASK, num_envs, device, sync_free=s, seed=11, compiled=c) for s, c in ways]
    gen = torch.Generator(device=device).manual_seed(5)

    def blank():
        return {
            "identical_steps": 0,
            "first_different_step": None,
            "max_abs_diff_obs": 0.0,
            "max_abs_diff_rew": 0.0,
            "reset_mismatches": 0,
        }

    keys = ["plain_vs_plain", "fast_vs_plain", "compiled_vs_plain"][: len(envs) - 1]
    out = {"num_envs": num_envs, "steps": steps, "resets": 0}
    out.update({key: blank() for key in keys})
    for i in range(steps):
        actions = 1.0 * torch.randn(num_envs, envs[0].num_actions, device=device, generator=gen)
        a, *others = (e.step(actions) for e in envs)
        for key, other in zip(keys, others):
            o = out[key]
            same = torch.equal(a[0], other[0]) and torch.equal(a[2], other[2]) and torch.equal(a[3], other[3])
            o["identical_steps"] += int(same)
            if not same and o["first_different_step"] is None:
                o["first_different_step"] = i
            o["max_abs_diff_obs"] = max(o["max_abs_diff_obs"], float((a[0] - other[0]).abs().max()))
            o["max_abs_diff_rew"] = max(o["max_abs_diff_rew"], float((a[2] - other[2]).abs().max()))
            o["reset_mismatches"] += int((a[3] != other[3]).sum())
        out["resets"] += int(a[3].sum())
    del envs
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    p.add_argument("--num_envs", type=int, nargs="+", default=[4096, 8192])
    p.add_argument("--steps", type=int, default=200, help="timed env-steps of physics only / env only")
    p.add_argument("--iterations", type=int, default=6, help="timed training iterations per loop")
    p.add_argument("--warmup_iterations", type=int, default=2)
    p.add_argument("--no_plain", action="store_true", help="skip the plain-way env and loops")
    p.add_argument("--no_compiled", action="store_true", help="skip the compiled-way env and loops")
    p.add_argument("--no_student", action="store_true")
    p.add_argument("--check_steps", type=int, default=40, help="fast vs plain equality steps (0: skip)")
    p.add_argument("--out_dir", default=str(REPO_ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    result = {
        "benchmark": "training loop vs physics only (env-steps/s; one env-step = one 50 Hz policy step)",
        "date": date,
        "command": " ".join(["python", "bench/bench_train_loop.py"] + sys.argv[1:]) if argv is None else str(argv),
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "steps_per_env_per_iteration": 24,
        "runs": [],
        "env_only": [],
    }
    tmp = tempfile.mkdtemp(prefix="bench_train_loop_")
    gen = torch.Generator(device=device).manual_seed(0)
    for n in args.num_envs:
        t0 = time.perf_counter()
        env = make_env(TEACHER_TASK, n, device)
        build_s = time.perf_counter() - t0
        phys = [physics_only(env, args.steps, device, gen)]
        fast_env = env_only(env, args.steps, device, gen, True)
        compiled_env = None
        if not args.no_compiled:
            compiled_env = env_only(make_env(TEACHER_TASK, n, device), args.steps, device, gen, True, compiled=True)
        plain_env = None if args.no_plain else env_only(env, args.steps, device, gen, False)
        phys.append(physics_only(env, args.steps, device, gen))
        physics = sum(phys) / len(phys)
        row = {
            "num_envs": n,
            "build_s": build_s,
            "physics_only_env_steps_per_s": physics,
            "physics_only_runs": phys,
            "env_only_fast_env_steps_per_s": fast_env,
            "ratio_fast": fast_env / physics,
        }
        if compiled_env is not None:
            row.update(env_only_compiled_env_steps_per_s=compiled_env, ratio_compiled=compiled_env / physics)
        if plain_env is not None:
            row.update(env_only_plain_env_steps_per_s=plain_env, ratio_plain=plain_env / physics)
        result["env_only"].append(row)
        print(json.dumps(row), flush=True)

        ways = (
            [("fast", True, False)]
            + ([] if args.no_compiled else [("compiled", True, True)])
            + ([] if args.no_plain else [("plain", False, False)])
        )
        teacher_path = os.path.join(tmp, "teacher_{}.pt".format(n))
        for way, fast, compiled in ways:
            loop_env = make_env(TEACHER_TASK, n, device) if compiled else env
            c, l, runner = loop(
                loop_env, TEACHER_TASK, device, fast, args.iterations, args.warmup_iterations, compiled=compiled
            )
            r = loop_row(n, "teacher", way, c, l, physics)
            result["runs"].append(r)
            print(json.dumps(r), flush=True)
            if way == "fast":
                runner.save(teacher_path)
            del runner
        del env
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

        if not args.no_student:
            env = make_env(STUDENT_TASK, n, device)
            physics_s = physics_only(env, args.steps, device, gen)
            for way, fast, compiled in ways:
                c, l, runner = loop(
                    make_env(STUDENT_TASK, n, device) if compiled else env,
                    STUDENT_TASK,
                    device,
                    fast,
                    args.iterations,
                    args.warmup_iterations,
                    teacher_path=teacher_path,
                    compiled=compiled,
                )
                r = loop_row(n, "student", way, c, l, physics_s)
                r["physics_only_same_size_teacher_run"] = physics
                result["runs"].append(r)
                print(json.dumps(r), flush=True)
                del runner
            del env
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    if args.check_steps > 0:
        result["equality_check"] = check_equal(
            args.num_envs[0], device, args.check_steps, compiled=not args.no_compiled
        )
        print(json.dumps(result["equality_check"]), flush=True)
    out = Path(args.out_dir) / "train_loop_{}_{}.json".format(device.type, date)
    write_result(out, result, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
