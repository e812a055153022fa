"""One rank of the data-parallel tests (tests/rsl_rl/test_distributed.py): a gloo process group on
the CPU, the tiny test-double env (2 envs per rank, each rank's envs and seed different), and
records of what happened written to `<out_dir>/rank<r>.pt` for the test to check.

Phases, in one process group:
  ops        average_gradients and merge_pending_statistics on rank-specific data;
  teacher    OnPolicyRunnerMimic.learn(2) (PPO, plain update), all ranks logging into the same folder;
  resume     a new teacher runner loads that run's model_2.pt and learns 1 more iteration;
  student    OnPolicyDaggerRunner.learn(2) (DAgger-PPO, fast update: fused Adam, learning rate on the
             device) from the teacher's model_2.pt, loaded on every rank;
  budget     OnPolicyRunnerMimic.learn(3) with runner.max_train_minutes spent after one iteration on
             rank 0's clock only (rank 1's budget is large): every rank must stop with it.
"""

from __future__ import annotations

import os
import sys
import traceback

import torch
import torch.distributed as dist

NUM_ENVS = 2
ITERATIONS = 2


def spawn(nprocs: int, out_dir: str, timeout_s: float = 120.0) -> None:
    """Run `run` on `nprocs` ranks (torch.multiprocessing spawn); fail after `timeout_s`."""
    import time

    import torch.multiprocessing as mp

    init_file = os.path.join(out_dir, "pg_init")
    ctx = mp.spawn(run, args=(nprocs, init_file, out_dir), nprocs=nprocs, join=False)
    deadline = time.monotonic() + timeout_s
    try:
        while not ctx.join(timeout=1.0):
            if time.monotonic() > deadline:
                raise TimeoutError("data-parallel test ranks still running after {:.0f} s".format(timeout_s))
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()


def flat_params(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in module.parameters()])


def rank_env(rank: int, student: bool = False):
    """The test-double env, different on every rank (reference phase, privileged constants)."""
    from rsl_rl_fakes import FakeMimicEnv

    env = FakeMimicEnv(num_envs=NUM_ENVS, student=student)
    env.phase = env.phase + 0.7 * rank
    env.priv_info = env.priv_info + torch.tensor([3.0 * rank, 0.5 * rank])
    env._compute_obs()
    return env


def instrument(runner, record: dict) -> None:
    """Keep every observation batch the normaliser records, and the parameters and learning rate
    after every update (and once before the first)."""
    record["obs"] = []
    record["params"] = [flat_params(runner.alg.actor_critic)]
    record["lr"] = []
    normalizer_record = runner.normalizer.record
    update = runner.alg.update

    def record_obs(x):
        record["obs"].append(x.detach().clone().to(torch.float64))
        normalizer_record(x)

    def update_and_snapshot():
        out = update()
        record["params"].append(flat_params(runner.alg.actor_critic))
        record["lr"].append(float(runner.alg.learning_rate))
        return out

    runner.normalizer.record = record_obs
    runner.alg.update = update_and_snapshot


def finish(runner, record: dict) -> dict:
    record["obs"] = torch.cat(record["obs"]) if record["obs"] else None
    record["normalizer"] = {k: v.clone() for k, v in runner.normalizer.state_dict().items()}
    record["iteration"] = runner.current_learning_iteration
    record["world_size"] = runner.world_size
    record["cuda_graph"] = bool(getattr(runner.alg, "cuda_graph", False))
    return record


def phase_ops(rank: int) -> dict:
    from rsl_rl.utils import distributed
    from rsl_rl.utils.normalizer import Normalizer

    gen = torch.Generator().manual_seed(10 + rank)
    # gradients: a small network, rank-specific inputs; the local gradients and their average
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    unused = torch.nn.Parameter(torch.ones(3))  # no gradient on any rank: counts as zero
    net(torch.randn(6, 4, generator=gen)).pow(2).sum().backward()
    params = list(net.parameters()) + [unused]
    local = [p.grad.clone() if p.grad is not None else None for p in params]
    distributed.average_gradients(params)
    averaged = [p.grad.clone() for p in params]
    # normaliser: different amounts of data per rank, two update rounds
    norm = Normalizer(3)
    batches, states = [], []
    for round_ in range(2):
        rows = (7 + 5 * rank) if round_ == 0 else (3 + 9 * rank)
        x = torch.randn(rows, 3, generator=gen) * torch.tensor([1.0, 4.0, 0.1]) + torch.tensor([2.0, -1.0, 30.0])
        batches.append(x.to(torch.float64))
        norm.record(x)
        distributed.merge_pending_statistics(norm)
        norm.update()
        states.append({k: v.clone() for k, v in norm.state_dict().items()})
    return {"local_grads": local, "averaged_grads": averaged, "norm_batches": batches, "norm_states": states}


def phase_teacher(rank: int, out_dir: str) -> dict:
    from rsl_rl.runners import OnPolicyRunnerMimic
    from rsl_rl_fakes import small_train_cfg

    torch.manual_seed(100 + rank)  # the networks differ before the runner's broadcast
    runner = OnPolicyRunnerMimic(rank_env(rank), small_train_cfg(save_interval=1), os.path.join(out_dir, "teacher"))
    record = {}
    instrument(runner, record)
    runner.learn(ITERATIONS)
    return finish(runner, record)


def phase_resume(rank: int, out_dir: str) -> dict:
    from rsl_rl.runners import OnPolicyRunnerMimic
    from rsl_rl_fakes import small_train_cfg

    torch.manual_seed(200 + rank)
    runner = OnPolicyRunnerMimic(rank_env(rank), small_train_cfg(save_interval=1), os.path.join(out_dir, "resumed"))
    runner.load(os.path.join(out_dir, "teacher", "model_{}.pt".format(ITERATIONS)))
    record = {"loaded_iteration": runner.current_learning_iteration}
    instrument(runner, record)
    runner.learn(1)
    return finish(runner, record)


def phase_student(rank: int, out_dir: str) -> dict:
    from rsl_rl.runners import OnPolicyDaggerRunner
    from rsl_rl_fakes import small_train_cfg

    torch.manual_seed(300 + rank)
    cfg = small_train_cfg(save_interval=1, student=True)
    cfg["algorithm"]["fast_update"] = True  # fused Adam with the learning-rate rule on the device
    runner = OnPolicyDaggerRunner(
        rank_env(rank, student=True),
        cfg,
        os.path.join(out_dir, "student"),
        teacher_path=os.path.join(out_dir, "teacher", "model_{}.pt".format(ITERATIONS)),
    )
    record = {"fast_update": runner.alg.fast_update, "teacher_params": flat_params(runner.alg.teacher)}
    instrument(runner, record)
    runner.learn(ITERATIONS)
    return finish(runner, record)


def phase_budget(rank: int, out_dir: str) -> dict:
    from rsl_rl.runners import OnPolicyRunnerMimic
    from rsl_rl_fakes import small_train_cfg

    cfg = small_train_cfg(save_interval=100)
    cfg["runner"]["max_train_minutes"] = 1e-9 if rank == 0 else 1000.0
    runner = OnPolicyRunnerMimic(rank_env(rank), cfg, os.path.join(out_dir, "budget"))
    runner.learn(3)
    return {"iteration": runner.current_learning_iteration}


def run(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank, world_size=world_size)
    try:
        result = {"rank": rank, "ops": phase_ops(rank)}
        result["teacher"] = phase_teacher(rank, out_dir)
        dist.barrier()  # rank 0 has written the teacher's checkpoints
        result["resume"] = phase_resume(rank, out_dir)
        result["student"] = phase_student(rank, out_dir)
        result["budget"] = phase_budget(rank, out_dir)
        torch.save(result, os.path.join(out_dir, "rank{}.pt".format(rank)))
        dist.barrier()  # as train.py: no rank destroys the group while the other finishes a collective
    except BaseException:
        traceback.print_exc()
        raise
    finally:
        dist.destroy_process_group()
