"""Data-parallel training (rsl_rl.utils.distributed) on the CPU: 2 gloo ranks started with
torch.multiprocessing, 2 test-double envs each, 2 iterations (tests/rsl_rl/distributed_worker.py).

Checked against values computed here independently: gradients = the mean of the ranks' local
gradients; normaliser statistics = numpy's over the union of the samples both ranks recorded;
parameters and learning rate the same on both ranks after every update (PPO plain, DAgger-PPO
fast); only rank 0 writes into the run folder; resume from a checkpoint on 2 ranks and on 1.
The parallel mean/variance merge itself is checked against numpy without processes.
"""

import glob
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist

from rsl_rl.utils import distributed
from rsl_rl.utils.distributed import combine_moments
from rsl_rl.utils.normalizer import VAR_FLOOR, Normalizer
from rsl_rl_fakes import FakeMimicEnv, single_thread, small_train_cfg  # noqa: F401 (fixture)

import distributed_worker as worker

pytestmark = pytest.mark.usefixtures("single_thread")

needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed with gloo is not available"
)
WORLD = 2
SAMPLES_PER_RANK_ITERATION = 5 * worker.NUM_ENVS  # small_train_cfg: 5 steps per env


def moments(part):
    if len(part) == 0:
        return 0, np.zeros(part.shape[1:]), np.zeros(part.shape[1:])
    mean = part.mean(0)
    return len(part), mean, ((part - mean) ** 2).sum(0)


def test_combine_moments_matches_numpy():
    rng = np.random.default_rng(0)
    specs = ((5, 1.0, 2.0), (0, 0.0, 1.0), (17, -3.0, 0.5), (1, 10.0, 1.0), (40, 1e3, 7.0))
    parts = [rng.normal(loc, scale, size=(n, 2, 3)) for n, loc, scale in specs]
    stats = [moments(p) for p in parts]
    n, mean, m2 = combine_moments(
        torch.tensor([s[0] for s in stats], dtype=torch.float64),
        torch.tensor(np.stack([s[1] for s in stats])),
        torch.tensor(np.stack([s[2] for s in stats])),
    )
    union = np.concatenate(parts)
    assert n.item() == len(union) == 63
    np.testing.assert_allclose(mean.numpy(), union.mean(0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(m2.numpy() / n.item(), union.var(0), rtol=1e-10)
    # merging merged parts gives the same (the combination is associative)
    left = combine_moments(*[torch.tensor(np.array(v), dtype=torch.float64) for v in zip(*stats[:2])])
    right = combine_moments(*[torch.tensor(np.array(v), dtype=torch.float64) for v in zip(*stats[2:])])
    again = combine_moments(
        torch.stack([left[0], right[0]]), torch.stack([left[1], right[1]]), torch.stack([left[2], right[2]])
    )
    for a, b in zip(again, (n, mean, m2)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-9)
    # nothing at all: count 0, zero mean and M2
    n0, mean0, m20 = combine_moments(torch.zeros(2), torch.ones(2, 3), torch.ones(2, 3))
    assert n0.item() == 0 and not mean0.any() and not m20.any()


def test_without_a_process_group_everything_is_single_process():
    assert not distributed.is_initialized()
    assert (distributed.world_size(), distributed.rank(), distributed.is_main_process()) == (1, 0, True)
    x = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce_mean(x) is x
    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([3.0, 4.0])
    distributed.average_gradients([p])
    assert p.grad.tolist() == [3.0, 4.0]
    norm = Normalizer(2)
    norm.record(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    distributed.merge_pending_statistics(norm)
    norm.update()
    assert norm.count.item() == 2 and norm.mean.tolist() == [2.0, 4.0]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run the worker on 2 ranks once; (output folder, [rank 0's records, rank 1's records])."""
    out = tmp_path_factory.mktemp("data_parallel")
    worker.spawn(WORLD, str(out))
    return out, [torch.load(str(out / "rank{}.pt".format(r)), weights_only=True) for r in range(WORLD)]


def union_stats(batches):
    data = np.concatenate([b.numpy() for b in batches]).astype(np.float64)
    var = data.var(0)  # population variance, as the normaliser's
    return len(data), data.mean(0), (data**2).mean(0), np.sqrt(np.maximum(var, VAR_FLOOR))


def assert_normaliser_is_union(state, batches):
    count, mean, mean_sq, std = union_stats(batches)
    assert state["count"].item() == count
    np.testing.assert_allclose(state["running_mean"].numpy(), mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state["running_mean_sq"].numpy(), mean_sq, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state["mean"].numpy(), mean.astype(np.float32), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(state["std"].numpy(), std.astype(np.float32), rtol=1e-5, atol=1e-7)


@needs_gloo
def test_gradients_are_averaged_over_the_ranks(ranks):
    _, rec = ranks
    local = [r["ops"]["local_grads"] for r in rec]
    for i, (g0, g1) in enumerate(zip(*local)):
        g0 = torch.zeros(3) if g0 is None else g0
        g1 = torch.zeros(3) if g1 is None else g1
        assert not torch.equal(g0, g1) or not g0.any()  # the ranks' data differ
        expected = (g0 + g1) / WORLD
        for r in rec:
            torch.testing.assert_close(r["ops"]["averaged_grads"][i], expected, rtol=0, atol=0)


@needs_gloo
def test_normaliser_merge_with_different_counts_per_rank_equals_numpy(ranks):
    _, rec = ranks
    seen = []
    for round_ in range(2):
        seen += [r["ops"]["norm_batches"][round_] for r in rec]
        for r in rec:
            assert_normaliser_is_union(r["ops"]["norm_states"][round_], seen)
    assert rec[0]["ops"]["norm_states"][1]["count"].item() == (7 + 3) + (12 + 12)


@needs_gloo
@pytest.mark.parametrize("phase", ["teacher", "resume", "student"])
def test_parameters_identical_on_both_ranks_after_every_update(ranks, phase):
    _, rec = ranks
    a, b = rec[0][phase], rec[1][phase]
    assert a["world_size"] == b["world_size"] == WORLD
    assert not a["cuda_graph"]
    iterations = 1 if phase == "resume" else worker.ITERATIONS
    assert len(a["params"]) == len(b["params"]) == iterations + 1  # before the first update, after each
    for k, (pa, pb) in enumerate(zip(a["params"], b["params"])):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0, msg="update {} of {}".format(k, phase))
        if k:
            assert not torch.equal(pa, a["params"][k - 1])  # the update changed them
    assert a["lr"] == b["lr"]
    # ... although the ranks collected different data
    assert a["obs"].shape == b["obs"].shape and not torch.equal(a["obs"], b["obs"])
    if phase == "student":
        assert a["fast_update"] and b["fast_update"]  # fused Adam, learning-rate rule on the device


@needs_gloo
def test_normaliser_holds_the_statistics_of_both_ranks_data(ranks):
    _, rec = ranks
    for phase in ("teacher", "student"):
        batches = [r[phase]["obs"] for r in rec]
        assert rec[0][phase]["normalizer"]["count"].item() == WORLD * worker.ITERATIONS * SAMPLES_PER_RANK_ITERATION
        for r in rec:
            assert_normaliser_is_union(r[phase]["normalizer"], batches)
    # the resumed run started from the checkpoint's statistics and added both ranks' new samples
    batches = [r["teacher"]["obs"] for r in rec] + [r["resume"]["obs"] for r in rec]
    for r in rec:
        assert_normaliser_is_union(r["resume"]["normalizer"], batches)


def run_folder_files(folder):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(str(folder), "*")))


@needs_gloo
def test_only_rank_0_writes(ranks):
    out, rec = ranks
    expected = {
        "teacher": ["model_1.pt", "model_2.pt"],
        "resumed": ["model_3.pt"],
        "student": ["model_1.pt", "model_2.pt"],
        "budget": ["model_1.pt"],  # stopped by the time budget: its last iteration, saved once
    }
    for folder, models in expected.items():
        files = run_folder_files(out / folder)
        events = [f for f in files if f.startswith("events.out.tfevents.")]
        assert len(events) == 1, files  # one TensorBoard writer: rank 0's
        assert [f for f in files if f not in events] == models
    # nothing else beside the run folders and the test's records (gloo's file store removes its file)
    assert [f for f in run_folder_files(out) if f != "pg_init"] == [
        "budget",
        "rank0.pt",
        "rank1.pt",
        "resumed",
        "student",
        "teacher",
    ]
    # the checkpoints hold rank 0's (= every rank's) final state, in the usual format
    ckpt = torch.load(str(out / "teacher" / "model_2.pt"), weights_only=True)
    assert ckpt["iter"] == 2
    from rsl_rl.modules import ActorCriticMimic

    saved = ActorCriticMimic(**ckpt["policy_cfg"])
    saved.load_state_dict(ckpt["model_state_dict"])
    torch.testing.assert_close(worker.flat_params(saved), rec[0]["teacher"]["params"][-1], rtol=0, atol=0)
    for key, value in rec[1]["teacher"]["normalizer"].items():
        torch.testing.assert_close(ckpt["normalizer"][key], value, rtol=0, atol=0)


@needs_gloo
def test_resume_on_two_ranks_and_on_one(ranks, tmp_path):
    out, rec = ranks
    for r in rec:
        assert r["resume"]["loaded_iteration"] == 2 and r["resume"]["iteration"] == 3
    # every rank loaded the same teacher for the student
    torch.testing.assert_close(rec[0]["student"]["teacher_params"], rec[1]["student"]["teacher_params"], rtol=0, atol=0)
    # the 2-rank run's checkpoint resumes in a single process
    from rsl_rl.runners import OnPolicyRunnerMimic

    runner = OnPolicyRunnerMimic(
        FakeMimicEnv(num_envs=worker.NUM_ENVS), small_train_cfg(save_interval=1), str(tmp_path)
    )
    runner.load(str(out / "resumed" / "model_3.pt"))
    assert runner.world_size == 1 and runner.current_learning_iteration == 3
    torch.testing.assert_close(
        worker.flat_params(runner.alg.actor_critic), rec[0]["resume"]["params"][-1], rtol=0, atol=0
    )
    runner.learn(1)
    assert run_folder_files(tmp_path)[-1] == "model_4.pt"
    assert runner.normalizer.count.item() == (WORLD * 3 + 1) * SAMPLES_PER_RANK_ITERATION


@needs_gloo
def test_a_spent_time_budget_on_one_rank_stops_every_rank(ranks):
    _, rec = ranks
    assert [r["budget"]["iteration"] for r in rec] == [1, 1]
