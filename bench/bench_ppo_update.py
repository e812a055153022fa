"""PPO / DAgger-PPO update time alone, on a synthetic rollout of TWIST's sizes (no simulator).

    python bench/bench_ppo_update.py [--num_envs 4096] [--steps 24] [--repeats 5] [--student]
                                     [--profile] [--out_dir bench/results]

Times `update()` (5 epochs x 4 minibatches of num_envs x 24 / 4 transitions) of the teacher's
ActorCriticMimic (1318 obs, 20 reference frames) or, with --student, the student's DAgger-PPO
(1155 obs, 1318 critic obs, the frozen teacher's targets stored), the plain way and the fast way
(PPO's fast_update and tf32) and the compiled way (the fast way with `compile_update`: the minibatch's
forward passes and losses through torch.compile). --profile prints and writes torch.profiler tables
of one fast update.
Writes bench/results/ppo_update_<task>_<device>_<date>.json. Not a test.
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
from legged_gym.envs.mdp.layout import LAYOUT  # noqa: E402
from rsl_rl.algorithms import PPO, DaggerPPO  # noqa: E402
from rsl_rl.modules import ActorCriticMimic  # noqa: E402

# The networks' sizes from the G1's observation layout (1318 / 1160 x 20 frames; 1155 / 31 x 1, critic 1318).
TEACHER = dict(LAYOUT.policy_sizes("priv"), num_actions=LAYOUT.num_actions)
STUDENT = dict(LAYOUT.policy_sizes("student"), num_actions=LAYOUT.num_actions)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_alg(student: bool, device, **kwargs):
    torch.manual_seed(0)
    if student:
        ac = ActorCriticMimic(**STUDENT)
        teacher = ActorCriticMimic(**TEACHER)
        return DaggerPPO(ac, teacher, device=device, **kwargs)
    return PPO(ActorCriticMimic(**TEACHER), device=device, **kwargs)


def fill(alg, num_envs: int, steps: int, student: bool, device):
    """A rollout of random observations through the algorithm's own act / process_env_step."""
    obs_dim = (STUDENT if student else TEACHER)["num_observations"]
    critic_dim = LAYOUT.n_priv_obs
    if alg.storage is None:
        alg.init_storage(num_envs, steps, [obs_dim], [critic_dim] if student else None, [LAYOUT.num_actions])
    gen = torch.Generator(device=device).manual_seed(1)
    with torch.inference_mode():
        for t in range(steps):
            obs = torch.randn(num_envs, obs_dim, device=device, generator=gen)
            critic = obs if not student else torch.randn(num_envs, critic_dim, device=device, generator=gen)
            if student:
                alg.act(obs, critic, critic)
            else:
                alg.act(obs, critic)
            alg.process_env_step(
                torch.randn(num_envs, device=device, generator=gen),
                torch.rand(num_envs, device=device, generator=gen) < 0.02,
                {"time_outs": torch.zeros(num_envs, dtype=torch.bool, device=device)},
            )
        alg.compute_returns(critic)


def time_updates(alg, args, student, device):
    times = []
    for i in range(args.repeats + 1):
        fill(alg, args.num_envs, args.steps, student, device)
        sync(device)
        t0 = time.perf_counter()
        alg.update()
        sync(device)
        if i > 0:  # the first one warms up (allocations, cuBLAS/cuDNN plans)
            times.append(time.perf_counter() - t0)
    return times


def compare_ways(args, device, schedule: str = "adaptive", updates: int = 3) -> dict:
    """Plain, fast eager and fast graphed updates (TF32 off everywhere) of the same rollouts from
    the same network: the largest parameter difference to the plain way and the learning rates."""
    algs = {
        name: make_alg(args.student, device, tf32=False, schedule=schedule, **kw)
        for name, kw in (
            ("plain", dict(fast_update=False)),
            ("fast_eager", dict(fast_update=True, cuda_graph=False)),
            ("fast", dict(fast_update=True, cuda_graph=True, compile_update=False)),
            ("compiled", dict(fast_update=True, cuda_graph=True, compile_update=True)),
        )
    }
    ref = algs["plain"]
    for name, alg in algs.items():
        alg.actor_critic.load_state_dict(ref.actor_critic.state_dict())
    out = {}
    for u in range(updates):
        fill(ref, args.num_envs, args.steps, args.student, device)
        for name, alg in algs.items():
            if alg is not ref:
                if alg.storage is None:
                    alg.init_storage(
                        args.num_envs,
                        args.steps,
                        [ref.storage.observations.shape[-1]],
                        None
                        if ref.storage.critic_observations is None
                        else [ref.storage.critic_observations.shape[-1]],
                        [LAYOUT.num_actions],
                    )
                for key, value in vars(ref.storage).items():
                    if isinstance(value, torch.Tensor):
                        getattr(alg.storage, key).copy_(value)
                alg.storage.step = ref.storage.step
        for name, alg in algs.items():
            torch.manual_seed(100 + u)  # the minibatch permutation
            alg.update()
    for name, alg in algs.items():
        diffs = [
            float((p - q).detach().abs().max())
            for p, q in zip(alg.actor_critic.parameters(), ref.actor_critic.parameters())
        ]
        scale = max(float(q.abs().max()) for q in ref.actor_critic.parameters())
        out[name] = {"max_abs_param_diff": max(diffs), "max_abs_param": scale, "learning_rate": alg.learning_rate}
    out["updates"] = updates
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    p.add_argument("--num_envs", type=int, default=4096)
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--student", action="store_true")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--out_dir", default=str(REPO_ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    task = "student_dagger_ppo" if args.student else "teacher_ppo"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    result = {
        "benchmark": "PPO update on a synthetic rollout ({})".format(task),
        "date": date,
        "command": " ".join(["python", "bench/bench_ppo_update.py"] + sys.argv[1:]),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "num_envs": args.num_envs,
        "steps": args.steps,
        "transitions": args.num_envs * args.steps,
        "ways": {},
    }
    ways = {
        "plain": dict(fast_update=False, tf32=False),
        "fast_eager": dict(fast_update=True, tf32=True, cuda_graph=False),
        "fast": dict(fast_update=True, tf32=True, cuda_graph=True, compile_update=False),
        "compiled": dict(fast_update=True, tf32=True, cuda_graph=True, compile_update=True),
    }
    for name, kwargs in ways.items():
        alg = make_alg(args.student, device, **kwargs)
        times = time_updates(alg, args, args.student, device)
        result["ways"][name] = {
            "update_s_median": sorted(times)[len(times) // 2],
            "update_s": times,
            "fast_update": alg.fast_update,
            "cuda_graph": alg.cuda_graph,
        }
        print(name, json.dumps(result["ways"][name]), flush=True)
        del alg
    # the adaptive rule can take another branch on a KL at a threshold; the fixed schedule cannot
    result["same_updates"] = {sched: compare_ways(args, device, sched) for sched in ("adaptive", "fixed")}
    print("same_updates", json.dumps(result["same_updates"]), flush=True)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        alg = make_alg(args.student, device, fast_update=True, tf32=True)
        time_updates(alg, argparse.Namespace(repeats=1, num_envs=args.num_envs, steps=args.steps), args.student, device)
        fill(alg, args.num_envs, args.steps, args.student, device)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        sync(device)
        with profile(activities=acts) as prof:
            alg.update()
            sync(device)
        ka = prof.key_averages()
        tables = [ka.table(sort_by="cpu_time_total", row_limit=40)]
        if device.type == "cuda":
            tables.append(ka.table(sort_by="self_cuda_time_total", row_limit=40))
        text = "\n\n".join(tables)
        print(text)
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.out_dir) / "profile_ppo_update_{}.txt".format(task)).write_text(text)
    out = Path(args.out_dir) / "ppo_update_{}_{}_{}.json".format(task, device.type, date)
    write_result(out, result, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
