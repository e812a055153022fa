"""Data-parallel training through the scripts on the CPU: `NPROC=2 bash train_teacher.sh ... --multi_gpu`
starts train.py on 2 gloo ranks with torchrun (python -m torch.distributed.run), 2 envs each
(mjwarp on warp's CPU device), 2 iterations; and the one-line errors of a wrong start.

What the ranks compute together (identical parameters, merged normaliser) is checked against
independent values in tests/rsl_rl/test_distributed.py; here: the launch, that rank 0 alone
writes and prints, and the counts of all ranks' samples in the checkpoint and the logs.
"""

import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("mujoco_warp")

from conftest import REPO_ROOT  # noqa: E402

NPROC, NUM_ENVS, ITERATIONS, STEPS_PER_ENV = 2, 2, 2, 24
EXPTID = "pytest_data_parallel"


def run(cmd, logs, cwd, extra_env=None, timeout=300):
    env = dict(os.environ, LEGGED_GYM_LOG_DIR=str(logs), PYTHON=sys.executable, **(extra_env or {}))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout)


def test_teacher_trains_on_two_ranks_and_rank_0_alone_writes(tmp_path):
    logs, cwd = tmp_path / "logs", tmp_path / "elsewhere"
    cwd.mkdir()
    out = run(
        [
            "bash",
            str(REPO_ROOT / "train_teacher.sh"),
            EXPTID,
            "cpu",
            "--num_envs",
            str(NUM_ENVS),
            "--max_iterations",
            str(ITERATIONS),
            "--sim",
            "mjwarp",
            "--multi_gpu",
        ],
        logs,
        cwd,
        {"NPROC": str(NPROC)},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    run_dir = logs / "g1_priv_mimic" / EXPTID
    files = sorted(p.name for p in run_dir.iterdir())
    events = [f for f in files if f.startswith("events.out.tfevents.")]
    assert len(events) == 1 and [f for f in files if f not in events] == ["model_{}.pt".format(ITERATIONS)], files
    assert sorted(p.name for p in logs.iterdir()) == ["g1_priv_mimic"]
    ckpt = torch.load(str(run_dir / "model_{}.pt".format(ITERATIONS)), map_location="cpu", weights_only=True)
    assert ckpt["iter"] == ITERATIONS
    # the normaliser merged the samples of both ranks; the env counters are each rank's own
    assert ckpt["normalizer"]["count"].item() == NPROC * ITERATIONS * STEPS_PER_ENV * NUM_ENVS
    assert ckpt["env_counters"]["total_env_steps_counter"] == ITERATIONS * STEPS_PER_ENV
    # one header and one summary line: rank 0's console alone
    header = [ln for ln in out.stdout.splitlines() if ln.startswith("Training g1_priv_mimic: ")]
    assert header == [
        "Training g1_priv_mimic: backend mjwarp, device cpu, {} envs, 10 motions -> {} (data-parallel: "
        "{} processes x {} envs, gloo)".format(NUM_ENVS, run_dir, NPROC, NUM_ENVS)
    ], out.stdout
    summary = [ln for ln in out.stdout.splitlines() if ln.startswith("iter {}/{} | ".format(ITERATIONS, ITERATIONS))]
    assert len(summary) == 1, out.stdout
    # the end-of-training check that the ranks kept identical networks (exactly: gradients all-reduced)
    assert "data-parallel: parameters identical on the {} processes".format(NPROC) in out.stdout.splitlines()
    # TensorBoard counts the env steps of all ranks
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    steps = [(e.step, e.value) for e in acc.Scalars("Train/total_timesteps")]
    assert steps == [(it, float(it * NPROC * STEPS_PER_ENV * NUM_ENVS)) for it in range(1, ITERATIONS + 1)]


def test_wrong_starts_end_with_one_line(tmp_path):
    train = REPO_ROOT / "legged_gym" / "scripts" / "train.py"
    args = ["--exptid", "pytest_mistake", "--device", "cpu", "--num_envs", "2", "--sim", "mjwarp"]
    out = run([sys.executable, str(train)] + args + ["--multi_gpu"], tmp_path, tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "train.py: --multi_gpu: start train.py with torchrun, e.g. torchrun --standalone --nproc_per_node 2 "
        )
    )
    out = run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(train)] + args,
        tmp_path,
        tmp_path,
    )
    assert out.returncode != 0
    assert "train.py: started by torchrun with 2 processes: add --multi_gpu to train data-parallel" in out.stderr
    assert not (tmp_path / "g1_priv_mimic").exists()


def test_each_rank_trains_with_its_own_seed():
    from legged_gym.scripts import train

    assert [train.rank_seed(1, r) for r in range(3)] == [1, 2, 3]  # rank 0 keeps the run's seed
    assert train.rank_seed(-1, 1) == -1  # drawn at random by every rank
