"""CMG training on CUDA (skipped without a GPU): the batch step replayed as a CUDA graph trains as the
eager step does, a change of learning rate is picked up (the graph is captured again), and a graph
run's checkpoint is the plain one: it resumes exactly on the graph path and on the CPU.

    python -m pytest -q -s tests/cmg_workspace/test_cmg_train_graph.py

prints seconds per epoch of both paths. The data: the embedded set with the default replication,
built into a temporary folder, or CMG_GRAPH_CHECK_DATA=FILE (a `build_dataset` file, e.g. the
default data set, to time the real thing)."""

import dataclasses
import os

import pytest
import torch

from cmg_helpers import build_embedded
from cmg_workspace.dataset import BuildConfig, CMGData
from cmg_workspace.trainer import Trainer, TrainConfig
from pose.cmg.checkpoint import read_checkpoint
from pose.cmg.model import CMGConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = os.environ.get("CMG_GRAPH_CHECK_DATA")
    if path:
        return CMGData.load(path)
    return build_embedded(tmp_path_factory.mktemp("cmg_graph") / "embedded.pt", replication=BuildConfig().replication)


def halve_lr(trainer: Trainer):
    """What ReduceLROnPlateau does to a float learning rate."""
    for group in trainer.optimizer.param_groups:
        group["lr"] = group["lr"] * 0.5


def test_graph_step_trains_as_the_eager_step(data):
    """Three epochs from the same seed, with standing swaps, teacher-forced and free-running steps and
    a halved learning rate before the third: losses and weights agree within float tolerance."""
    cfg = TrainConfig(teacher_prob_start=0.6, standing_swap_prob=0.5, seed=0)
    runs = {}
    for graph in (False, True):
        trainer = Trainer(data, dataclasses.replace(cfg, cuda_graph=graph), CMGConfig(), device="cuda")
        assert trainer.graph_mode == graph
        assert trainer.optimizer.param_groups[0]["capturable"] == graph
        losses, seconds, graphs = [], [], []
        for epoch in range(3):
            if epoch == 2:
                halve_lr(trainer)
            info = trainer.step_epoch()
            losses.append(info["loss"])
            seconds.append(info["seconds"])
            graphs.append(trainer._graph)
        if graph:
            assert graphs[0] is not None and graphs[1] is graphs[0]  # captured once, replayed
            assert graphs[2] is not graphs[1] and trainer._graph_lrs == (cfg.lr * 0.5,)  # captured again
        runs[graph] = trainer, losses
        print(
            "\n{}: {} batches of {}, seconds per epoch (with validation) {}".format(
                "CUDA graph" if graph else "eager",
                trainer.num_batches(),
                trainer.batch_size,
                ", ".join("{:.3f}".format(s) for s in seconds),
            )
        )
    (eager, eager_losses), (graphed, graph_losses) = runs[False], runs[True]
    print("losses eager {} graph {}".format(eager_losses, graph_losses))
    torch.testing.assert_close(torch.tensor(graph_losses), torch.tensor(eager_losses), rtol=1e-4, atol=0)
    for (name, a), b in zip(graphed.model.named_parameters(), eager.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=lambda m: "{}: {}".format(name, m))


def test_graph_checkpoint_is_plain_and_resumes(data, tmp_path):
    """A graph run's checkpoint: plain optimiser state; a fresh graph trainer restored from it continues
    bit for bit as the run itself; a CPU trainer loads the same Adam state and continues within float
    tolerance."""
    cfg = TrainConfig(teacher_prob_start=0.6, seed=1)
    net = CMGConfig(hidden_dim=64)
    a = Trainer(data, cfg, net, device="cuda", out_dir=tmp_path)
    for _ in range(2):
        a.step_epoch()
    ckpt = read_checkpoint(a.save("cmg_ckpt_2.pt"))
    opt = ckpt["optimizer_state_dict"]
    assert all(g["capturable"] is False and isinstance(g["lr"], float) for g in opt["param_groups"])
    for st in opt["state"].values():
        assert st["step"].device.type == "cpu" and st["step"].dtype == torch.float32
        assert float(st["step"]) == 2 * a.num_batches()

    b = Trainer(data, cfg, net, device="cuda")
    b.restore(ckpt)
    assert b.optimizer.param_groups[0]["capturable"]
    assert all(st["step"].device.type == "cuda" for st in b.optimizer.state.values())
    cpu = Trainer(data, cfg, net, device="cpu")
    cpu.restore(ckpt)
    for i, st in cpu.optimizer.state_dict()["state"].items():
        for k, v in st.items():
            assert torch.equal(v, opt["state"][i][k]), (i, k)
    assert cpu.optimizer.state_dict()["param_groups"] == opt["param_groups"]

    la, lb, lc = (t.step_epoch()["loss"] for t in (a, b, cpu))
    assert la == lb, "resumed graph run differs from the uninterrupted one: {} vs {}".format(la, lb)
    for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
        assert torch.equal(pa, pb), name
    assert lc == pytest.approx(la, rel=1e-4)
    for (name, pa), pc in zip(a.model.named_parameters(), cpu.model.parameters()):
        torch.testing.assert_close(pa.cpu(), pc, rtol=1e-4, atol=1e-5, msg=lambda m: "{}: {}".format(name, m))


def test_graph_step_with_the_foot_slide_term_trains_as_the_eager_step(data):
    """`foot_slide_weight` > 0 (the sole points' FK inside the batch step): the captured step trains
    as the eager one, and both report the same slide term."""
    cfg = TrainConfig(teacher_prob_start=0.6, seed=2, foot_slide_weight=1.0, rollout_seconds=0)
    runs = {}
    for graph in (False, True):
        trainer = Trainer(data, dataclasses.replace(cfg, cuda_graph=graph), CMGConfig(hidden_dim=64), device="cuda")
        infos = [trainer.step_epoch() for _ in range(2)]
        runs[graph] = trainer, [(i["loss"], i["foot_slide_loss"]) for i in infos]
    (eager, eager_losses), (graphed, graph_losses) = runs[False], runs[True]
    assert graphed._graph is not None and all(s is not None and s > 0 for _, s in graph_losses)
    torch.testing.assert_close(torch.tensor(graph_losses), torch.tensor(eager_losses), rtol=1e-4, atol=0)
    for a, b in zip(graphed.model.parameters(), eager.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
