"""CMG training on CPU: the loss falls over two epochs, checkpoints hold the statistics, a resumed run
equals the uninterrupted one, and data with other statistics is refused. The batch step (flags as
tensors, static buffers, loss summed on the device) equals the straightforward loop bit for bit, and
checkpoints hold the plain optimiser state."""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cmg_helpers import build_embedded, train_small
from cmg_workspace.dataset import CMGData
from cmg_workspace import train
from cmg_workspace.train import carry_bests
from cmg_workspace.evaluate import check_grid, evaluate, in_band_grid, rollout_rank, stalled, summarise
from cmg_workspace.trainer import Trainer, TrainConfig, epoch_generator, plain_optimizer_state, split_clips
from pose.cmg.checkpoint import load_cmg, read_checkpoint
from pose.cmg.model import CMGConfig
from pose.cmg.stats import Stats, StatsMismatchError


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmg_train") / "embedded.pt"
    build_embedded(path)
    return path


@pytest.fixture(scope="module")
def run_a(data_path, tmp_path_factory):
    """Two epochs, a checkpoint after each."""
    out = tmp_path_factory.mktemp("run_a")
    assert train_small(data_path, out, 2, "--save_interval", "1", "--lr", "1e-3") == 0
    return out


def test_two_epochs_loss_falls_and_files(run_a, data_path):
    first, second = read_checkpoint(run_a / "cmg_ckpt_1.pt"), read_checkpoint(run_a / "cmg_ckpt_2.pt")
    assert first["epoch"] == 1 and second["epoch"] == 2
    assert second["loss"] < 0.95 * first["loss"], (first["loss"], second["loss"])
    assert second["val_loss"] is not None and np.isfinite(second["val_loss"])
    for name in ("cmg_best.pt", "cmg_final.pt"):
        assert (run_a / name).is_file()
    final = read_checkpoint(run_a / "cmg_final.pt")
    data = CMGData.load(data_path)
    Stats.from_dict(final["stats"]).check_matches(data.stats, "checkpoint", "data")
    np.testing.assert_array_equal(np.asarray(final["standing_pose"], dtype=np.float32), data.standing_pose)
    assert final["model_config"] == CMGConfig(hidden_dim=32).to_dict()
    for a, b in zip(final["model_state_dict"].values(), second["model_state_dict"].values()):
        assert torch.equal(a, b)
    cmg = load_cmg(run_a, data_stats=data.stats)  # a run folder resolves to cmg_final.pt
    assert cmg.path.name == "cmg_final.pt" and not cmg.model.training


def test_learning_rate_schedule_waits_for_the_teacher_forcing_floor(run_a):
    """While teacher forcing is still being scheduled down (p = 1.0, 0.995 in these two epochs) the
    plateau rule is not stepped: the loss rises by design then."""
    second = read_checkpoint(run_a / "cmg_ckpt_2.pt")
    assert second["teacher_prob"] > TrainConfig().teacher_prob_min
    assert second["scheduler_state_dict"]["last_epoch"] == 0
    assert second["scheduler_state_dict"]["best"] == float("inf")


def test_learning_rate_schedule_follows_the_training_loss_at_the_floor(data_path):
    """At the floor ReduceLROnPlateau is stepped with the epoch's training loss, not the free-running
    validation loss; a loss that stops falling halves the rate after `lr_patience` epochs."""
    data = CMGData.load(data_path)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=1e-3, teacher_prob_start=0.05, lr_patience=0)
    trainer = Trainer(data, cfg, CMGConfig(hidden_dim=32), device="cpu")
    first = trainer.step_epoch()
    state = trainer.scheduler.state_dict()
    assert state["last_epoch"] == 1 and state["best"] == pytest.approx(first["loss"], rel=1e-9)
    assert first["val_loss"] != pytest.approx(first["loss"], rel=1e-3)
    trainer.scheduler.step(first["loss"] * 2.0)  # no improvement with patience 0: the rate halves
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.5e-3)


def test_tensorboard_scalars(run_a):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_a))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {
        "metrics/MSE Loss",
        "metrics/Val MSE Loss",
        "metrics/Learning Rate",
        "metrics/Teacher Prob",
        "rollout/diverged",
        "rollout/speed_error_rel_median",
        "rollout/foot_slide_mps_median",
    } <= tags
    p = [e.value for e in acc.Scalars("metrics/Teacher Prob")]
    np.testing.assert_allclose(p, [1.0, 0.995], rtol=1e-6)


def test_resume_equals_the_uninterrupted_run(run_a, data_path, tmp_path):
    out = tmp_path / "run_b"
    assert (
        train_small(data_path, out, 2, "--save_interval", "1", "--lr", "1e-3", "--resume", run_a / "cmg_ckpt_1.pt") == 0
    )
    a, b = read_checkpoint(run_a / "cmg_ckpt_2.pt"), read_checkpoint(out / "cmg_ckpt_2.pt")
    assert not (out / "cmg_ckpt_1.pt").exists()
    for k, v in a["model_state_dict"].items():
        assert torch.equal(v, b["model_state_dict"][k]), k
    sa, sb = a["optimizer_state_dict"], b["optimizer_state_dict"]
    assert sa["param_groups"] == sb["param_groups"]
    for i, st in sa["state"].items():
        for k, v in st.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb["state"][i][k])), (i, k)
    assert a["scheduler_state_dict"] == b["scheduler_state_dict"]
    assert (a["loss"], a["val_loss"], a["best_loss"]) == (b["loss"], b["val_loss"], b["best_loss"])
    assert a["best_rollout"] == b["best_rollout"] and a["rollout"] == b["rollout"]


def test_resume_continues_with_the_checkpoints_settings(run_a, data_path, tmp_path, capsys):
    """Options left out of a resume are the checkpoint's (not the parser's defaults: batch size 256,
    lr 3e-4, network 128 wide), so the run still equals the uninterrupted one; an option given with
    another value is refused, except the run's length and check/save intervals."""
    out = tmp_path / "run_b"
    argv = ["--data", str(data_path), "--out", str(out), "--device", "cpu", "--no_progress"]
    assert train.main(argv + ["--resume", str(run_a / "cmg_ckpt_1.pt")]) == 0
    a, b = read_checkpoint(run_a / "cmg_ckpt_2.pt"), read_checkpoint(out / "cmg_final.pt")
    assert b["epoch"] == 2 and b["train_config"] == a["train_config"]
    for k, v in a["model_state_dict"].items():
        assert torch.equal(v, b["model_state_dict"][k]), k
    capsys.readouterr()
    for option, value in (("--batch_size", "64"), ("--seed", "1"), ("--lr", "0.0003"), ("--hidden_dim", "64")):
        assert train.main(argv + [option, value, "--resume", str(run_a / "cmg_ckpt_1.pt")]) == 2
        err = capsys.readouterr().err
        assert "{} {}".format(option, value) in err and "cmg_ckpt_1.pt" in err, err
    longer = tmp_path / "run_longer"
    assert train_small(data_path, longer, 3, "--rollout_seconds", "0", "--resume", run_a / "cmg_ckpt_2.pt") == 0
    assert read_checkpoint(longer / "cmg_final.pt")["epoch"] == 3


def test_resume_refuses_data_with_other_statistics(run_a, tmp_path, capsys):
    other = tmp_path / "other.pt"
    build_embedded(other, std_floor=0.2)
    assert train_small(other, tmp_path / "run_c", 2, "--resume", run_a) == 2
    err = capsys.readouterr().err
    assert "statistics" in err and "cmg_ckpt_2.pt" in err and "other.pt" in err
    with pytest.raises(StatsMismatchError):
        load_cmg(run_a, data_stats=CMGData.load(other).stats)


def test_init_starts_a_new_run_from_the_weights_of_a_checkpoint_or_release(run_a, data_path, tmp_path, capsys):
    """--init: epoch 0 with a fresh optimiser, the network of the given file (a release's float16
    weights widened); --teacher_prob_start sets the first epoch's teacher forcing."""
    from cmg_workspace.checkpoint import release_checkpoint, save_checkpoint

    source = read_checkpoint(run_a / "cmg_ckpt_2.pt")
    release = tmp_path / "release.pt"
    save_checkpoint(release, release_checkpoint(source, run_a / "cmg_ckpt_2.pt"))
    for init, dtype in ((run_a / "cmg_ckpt_2.pt", torch.float32), (release, torch.float16)):
        out = tmp_path / ("from_" + init.stem)
        args = ("--save_interval", "1", "--lr", "0", "--init", init, "--teacher_prob_start", "0.05")
        assert train_small(data_path, out, 1, *args) == 0
        ckpt = read_checkpoint(out / "cmg_ckpt_1.pt")
        assert ckpt["epoch"] == 1 and ckpt["teacher_prob"] == pytest.approx(0.05)
        for k, v in source["model_state_dict"].items():  # learning rate 0: the weights it started from
            torch.testing.assert_close(ckpt["model_state_dict"][k], v.to(dtype).float(), rtol=0, atol=0, msg=k)
        one_epoch = read_checkpoint(run_a / "cmg_ckpt_1.pt")["optimizer_state_dict"]["state"]
        for i, st in ckpt["optimizer_state_dict"]["state"].items():  # Adam counted this run's steps only
            assert float(st["step"]) == float(one_epoch[i]["step"])
    other = tmp_path / "other.pt"
    build_embedded(other, std_floor=0.2)
    assert train_small(other, tmp_path / "run_x", 1, "--init", run_a / "cmg_ckpt_2.pt") == 2
    assert "--stats_from {}".format(run_a / "cmg_ckpt_2.pt") in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        train_small(data_path, tmp_path / "run_y", 1, "--init", release, "--resume", run_a)
    assert exit_info.value.code == 2


def test_validation_split_is_by_clip(data_path):
    data = CMGData.load(data_path)
    trainer = Trainer(data, TrainConfig(val_fraction=0.2, seed=3), CMGConfig(hidden_dim=8))
    val_ids = trainer.val_clip_ids
    assert len(val_ids) == 2
    assert set(data.clip_index[trainer.val_windows.numpy()]) == set(val_ids)
    assert not np.isin(data.clip_index[trainer.train_samples.numpy()], val_ids).any()
    # a held-out clip's mirrored windows are held out too
    assert data.mirrored[trainer.val_windows.numpy()].mean() == 0.5
    assert split_clips(data.clip_names, 0.2, 3, ["embedded/stand"]) == [data.clip_names.index("embedded/stand")]


def test_teacher_forcing_schedule():
    cfg = TrainConfig()
    assert cfg.teacher_prob(0) == 1.0
    assert cfg.teacher_prob(10) == pytest.approx(0.995**10)
    assert cfg.teacher_prob(1000) == 0.05  # 0.995^1000 = 0.0067 < floor


def test_standing_swap_starts_from_the_datas_standing_pose(data_path):
    """With the swap certain, the first prediction of every window starts from the standing pose."""
    data = CMGData.load(data_path)
    trainer = Trainer(data, TrainConfig(standing_swap_prob=1.0), CMGConfig(hidden_dim=8))
    seen = []
    model = trainer.model
    original = model.forward

    def spy(motion, command):
        seen.append(motion.detach().clone())
        return original(motion, command)

    model.forward = spy
    idx = trainer.train_samples[:4]
    trainer.sequence_loss(idx, True, [True] * 30)
    st = data.stats.tensors()
    expected = st.normalise_motion(torch.as_tensor(data.standing_pose)).expand(4, -1)
    torch.testing.assert_close(seen[0], expected)
    torch.testing.assert_close(seen[1], trainer.motion[idx, 1])  # teacher forcing: the true state next


def test_standing_swap_limited_by_speed_starts_only_slow_windows_from_standing(data_path):
    """With standing_swap_max_speed the swap replaces the first state of the slower windows only."""
    data = CMGData.load(data_path)
    trainer = Trainer(data, TrainConfig(standing_swap_prob=1.0, standing_swap_max_speed=0.3), CMGConfig(hidden_dim=8))
    slow = torch.as_tensor(np.flatnonzero(data.speed < 0.3)[:3])
    fast = torch.as_tensor(np.flatnonzero(data.speed > 1.0)[:3])
    assert len(slow) == 3 and len(fast) == 3
    idx = torch.cat([slow, fast])
    seen = []
    original = trainer.model.forward

    def spy(motion, command):
        seen.append(motion.detach().clone())
        return original(motion, command)

    trainer.model.forward = spy
    trainer.sequence_loss(idx, True, [True] * 30)
    standing = data.stats.tensors().normalise_motion(torch.as_tensor(data.standing_pose))
    torch.testing.assert_close(seen[0][:3], standing.expand(3, -1))
    torch.testing.assert_close(seen[0][3:], trainer.motion[fast, 0])


def test_standing_swap_probability_flag_reaches_the_run(data_path, tmp_path):
    """--standing_swap_prob reaches the run's training settings (stored in its checkpoints)."""
    assert train_small(data_path, tmp_path, 1, "--standing_swap_prob", "0", "--rollout_seconds", "0") == 0
    ckpt = read_checkpoint(tmp_path / "cmg_final.pt")
    assert ckpt["train_config"]["standing_swap_prob"] == 0.0
    assert ckpt["train_config"]["foot_slide_weight"] == TrainConfig().foot_slide_weight


def reference_epoch(trainer: Trainer) -> float:
    """One training epoch written the straightforward way (Python branches on each batch's draws,
    a fresh gather per batch, the loss read after each batch), with the same draws in the same order."""
    cfg, epoch = trainer.cfg, trainer.epoch
    p = cfg.teacher_prob(epoch)
    g = epoch_generator(cfg.seed, epoch)
    order = trainer.train_samples[torch.randperm(len(trainer.train_samples), generator=g)]
    n_batches = trainer.num_batches()
    size = cfg.batch_size if len(order) >= cfg.batch_size else len(order)
    trainer.model.train()
    total = 0.0
    for b in range(n_batches):
        idx = order[b * size : (b + 1) * size]
        draws = torch.rand(1 + 30, generator=g)
        swap = float(draws[0]) < cfg.standing_swap_prob
        teacher = (draws[1:] < p).tolist()
        x, c = trainer.motion[idx], trainer.command[idx]
        cur = x[:, 0].clone()
        for row, window in enumerate(idx.tolist()):
            if swap and trainer.data.speed[window] < cfg.standing_swap_max_speed:
                cur[row] = trainer.standing
        loss = x.new_zeros(())
        for t in range(30):
            pred = trainer.model(cur, c[:, t])
            loss = loss + torch.nn.functional.mse_loss(pred, x[:, t + 1])
            cur = x[:, t + 1] if teacher[t] else pred.detach()
        loss = loss / 30
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), cfg.grad_clip)
        trainer.optimizer.step()
        total += float(loss.detach())
    return total / n_batches


def assert_same_training_state(a: Trainer, b: Trainer):
    for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
        assert torch.equal(pa, pb), name
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for i, st in sa["state"].items():
        for k, v in st.items():
            assert torch.equal(v, sb["state"][i][k]), (i, k)


@pytest.mark.parametrize("max_speed", [float("inf"), 0.5])
def test_batch_step_equals_the_straightforward_loop(data_path, max_speed):
    """Two epochs with standing swaps (of every window, or of the slower ones), teacher-forced and
    free-running steps: the same losses, weights and Adam state, bit for bit."""
    data = CMGData.load(data_path)
    cfg = TrainConfig(
        batch_size=128,
        lr=1e-3,
        teacher_prob_start=0.6,
        standing_swap_prob=0.5,
        standing_swap_max_speed=max_speed,
        seed=1,
    )
    new, ref = (Trainer(data, cfg, CMGConfig(hidden_dim=32), device="cpu") for _ in range(2))
    assert_same_training_state(new, ref)
    swaps, teachers = [], []
    for epoch in range(2):
        _, swap, teacher = new.epoch_draws(epoch)
        swaps.append(swap)
        teachers.append(teacher)
        assert new.train_epoch() == reference_epoch(ref)
        new.epoch += 1
        ref.epoch += 1
        assert_same_training_state(new, ref)
    swaps, teachers = torch.cat(swaps), torch.cat(teachers)
    assert swaps.any() and not swaps.all()  # both kinds of first input were exercised
    assert teachers.any() and not teachers.all()


def test_checkpoint_holds_the_plain_optimizer_state_and_restores_it(data_path, tmp_path):
    """Saved from one trainer, loaded into a fresh one: the same Adam state, the same next epoch. A
    state held the way a CUDA-graph run holds it (capturable on) is written in the plain form too."""
    data = CMGData.load(data_path)
    cfg = TrainConfig(batch_size=128, lr=1e-3, seed=2)
    a = Trainer(data, cfg, CMGConfig(hidden_dim=32), device="cpu", out_dir=tmp_path)
    a.step_epoch()
    saved = read_checkpoint(a.save("cmg_ckpt_1.pt"))
    opt = saved["optimizer_state_dict"]
    assert all(g["capturable"] is False and isinstance(g["lr"], float) for g in opt["param_groups"])
    for st in opt["state"].values():
        assert st["step"].device.type == "cpu" and st["step"].dtype == torch.float32 and st["step"].dim() == 0
    b = Trainer(data, cfg, CMGConfig(hidden_dim=32), device="cpu")
    b.restore(saved)
    assert b.epoch == 1
    assert_same_training_state(a, b)

    live = copy.deepcopy(a.optimizer.state_dict())  # (state_dict() shares a's tensors)
    as_graph_run = {"state": live["state"], "param_groups": [dict(g, capturable=True) for g in live["param_groups"]]}
    plain = plain_optimizer_state(as_graph_run)
    assert plain["param_groups"] == opt["param_groups"]
    c = Trainer(data, cfg, CMGConfig(hidden_dim=32), device="cpu")
    c.restore(dict(saved, optimizer_state_dict=as_graph_run))  # loads as plain on the CPU
    assert not c.optimizer.param_groups[0]["capturable"]
    assert_same_training_state(a, c)
    losses = [t.step_epoch()["loss"] for t in (a, b, c)]
    assert losses[0] == losses[1] == losses[2]
    assert_same_training_state(a, b)
    assert_same_training_state(a, c)


def test_warm_up_steps_of_the_graph_capture_leave_no_trace(data_path):
    """Before a CUDA graph is captured, a few eager steps run on the batch in the buffers and are
    then undone (_snapshot / _rewind): at the start (no Adam state yet: it is left zeroed, which is
    Adam's initial state) and mid-run, training then continues as if they had never run."""
    data = CMGData.load(data_path)
    cfg = TrainConfig(batch_size=128, lr=1e-3, teacher_prob_start=0.6, seed=3)
    a, b = (Trainer(data, cfg, CMGConfig(hidden_dim=32), device="cpu") for _ in range(2))
    for epoch in range(2):
        order, swap, teacher = a.epoch_draws(epoch)
        a._load_batch(order[: a.batch_size], swap[0], teacher[0])
        snapshot = a._snapshot()
        for _ in range(Trainer.GRAPH_WARMUP):
            a._train_step()
        assert float(a._loss_sum) > 0
        a._rewind(snapshot)
        assert float(a._loss_sum) == 0
        if epoch == 0:
            assert all(torch.count_nonzero(v) == 0 for st in a.optimizer.state.values() for v in st.values())
            assert not b.optimizer.state
        for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
            assert torch.equal(pa, pb), name
        assert a.train_epoch() == b.train_epoch()
        a.epoch += 1
        b.epoch += 1
        assert_same_training_state(a, b)


def test_a_resumed_run_keeps_a_best_rollout_only_when_it_was_measured_as_now(run_a, data_path):
    """The best rollout summary of a checkpoint from before the check grid (no `stalled`) is not
    comparable with this check: the resumed run's next check starts over; a current one is kept."""
    saved = read_checkpoint(run_a / "cmg_ckpt_2.pt")
    assert "stalled" in saved["best_rollout"]
    old = dict(saved["best_rollout"])
    del old["stalled"]
    data = CMGData.load(data_path)
    for best, kept in ((saved["best_rollout"], True), (old, False)):
        trainer = Trainer(data, TrainConfig(), CMGConfig(hidden_dim=32), device="cpu")
        trainer.restore(dict(saved, best_rollout=best))
        assert (trainer.best_rollout == saved["best_rollout"]) if kept else (trainer.best_rollout is None)


def test_rollout_rank_puts_divergence_first_then_the_distance_to_both_targets_and_the_stalls():
    def s(diverged, err, slide, stalls=0, commands=100):
        return {
            "diverged": diverged,
            "stalled": stalls,
            "commands": commands,
            "speed_error_rel_median": err,
            "foot_slide_mps_median": slide,
        }

    # err / 0.15 + slide / 0.1 + (stalls / commands) / 0.01: 0.07 + 0.1 + 1 = 1.17; 1.33 + 1 = 2.33;
    # 0.67 + 5 = 5.67; 0.67 + 9 = 9.67; missing: inf; then the diverged one
    ranked = sorted(
        [s(1, 0.01, 0.01), s(0, 0.2, 0.1), s(0, 0.1, 0.9), s(0, None, 0.0), s(0, 0.1, 0.5), s(0, 0.01, 0.01, 1)],
        key=rollout_rank,
    )
    assert ranked == [
        s(0, 0.01, 0.01, 1),
        s(0, 0.2, 0.1),
        s(0, 0.1, 0.5),
        s(0, 0.1, 0.9),
        s(0, None, 0.0),
        s(1, 0.01, 0.01),
    ]
    # the 2026-12-01 cases (bench/results): epoch 350 (16.6 %, 0.515 m/s) ranks above epoch 625 (14.4 %,
    # 0.670 m/s); the shipped model (0 of 88 stalled, 5.6 %, 0.248 m/s) above the fine-tune's epochs 16
    # (2 stalled, 4.8 %, 0.232 m/s) and 8 (4, 5.5 %, 0.255 m/s); the LAFAN run's epoch 800 (41 of 297,
    # 29.2 %, 0.964 m/s) above its epoch 125 (37, 41.5 %, 1.753 m/s)
    assert rollout_rank(s(0, 0.166, 0.515)) < rollout_rank(s(0, 0.144, 0.670))
    shipped = rollout_rank(s(0, 0.056, 0.248, 0, 88))
    assert shipped < rollout_rank(s(0, 0.048, 0.232, 2, 88)) and shipped < rollout_rank(s(0, 0.055, 0.255, 4, 88))
    assert rollout_rank(s(0, 0.292, 0.964, 41, 297)) < rollout_rank(s(0, 0.415, 1.753, 37, 297))


def test_a_moving_command_stalls_when_its_feet_imply_under_half_its_speed():
    commands = np.array([[0.5, -0.3, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.3, 0.0, 0.5], [2.0, 0.0, 0.0]])
    implied = np.array([0.04, 0.6, 0.4, 0.0, np.nan])  # the last rollout diverged (its measures are NaN)
    assert stalled({"implied_speed_mps": implied}, commands).tolist() == [True, False, True, False, False]


def test_the_check_grid_adds_lateral_and_turning_commands_inside_the_band():
    stats = SimpleNamespace(command_min=np.array([-0.4, -0.4, -0.8]), command_max=np.array([3.5, 0.4, 0.8]))
    cmg = SimpleNamespace(stats=stats)
    grid = check_grid(cmg)
    # the default grid in band: vx 0 .. 3.5 (8), vy 0, wz -0.75 / 0 / 0.75 (24); added: vy -0.3 / 0 / 0.3 x
    # wz -0.6 / 0 / 0.6 for the same 8 vx (72), of which (vx, 0, 0) were there already (8)
    assert len(grid) == 24 + 72 - 8 == len(np.unique(grid.round(6), axis=0))
    assert ((grid >= stats.command_min - 1e-9) & (grid <= stats.command_max + 1e-9)).all()
    assert any(np.allclose(c, [0.5, -0.3, 0.0]) for c in grid)
    assert any(np.allclose(c, [1.0, 0.3, -0.6]) for c in grid)


def test_rollout_check_at_each_checkpoint_measures_as_evaluate_does(run_a):
    """The free-running check stored in each checkpoint equals `evaluate` of that checkpoint file, and
    cmg_best_rollout.pt holds the weights of the checkpoint that ranks first."""
    ranks = {}
    for epoch in (1, 2):
        path = run_a / "cmg_ckpt_{}.pt".format(epoch)
        stored = read_checkpoint(path)["rollout"]
        cmg = load_cmg(path)
        commands = check_grid(cmg)
        assert stored["commands"] == len(commands) > len(in_band_grid(cmg))
        again = summarise(
            evaluate(cmg, commands, TrainConfig().rollout_seconds), np.ones(len(commands), dtype=bool), commands
        )
        for key in (
            "diverged",
            "stalled",
            "speed_error_rel_median",
            "foot_slide_mps_median",
            "limit_violation_frac_mean",
        ):
            np.testing.assert_allclose(np.float64(stored[key]), np.float64(again[key]), rtol=1e-5, err_msg=key)
        ranks[epoch] = rollout_rank(stored)
    first = min(ranks, key=lambda e: ranks[e])
    best = read_checkpoint(run_a / "cmg_best_rollout.pt")
    assert best["epoch"] == first
    assert rollout_rank(read_checkpoint(run_a / "cmg_final.pt")["best_rollout"]) == ranks[first]
    for k, v in read_checkpoint(run_a / "cmg_ckpt_{}.pt".format(first))["model_state_dict"].items():
        assert torch.equal(v, best["model_state_dict"][k]), k


def test_resume_into_another_folder_carries_the_bests_it_knows(run_a, data_path, tmp_path):
    """Resumed into a new folder from the run's last checkpoint, the new folder holds the run's bests
    (as the uninterrupted run's folder does); a best that the checkpoint does not know is not carried."""
    out = tmp_path / "run_c"
    assert (
        train_small(data_path, out, 2, "--save_interval", "1", "--lr", "1e-3", "--resume", run_a / "cmg_ckpt_2.pt") == 0
    )
    for name, key in (("cmg_best.pt", "best_loss"), ("cmg_best_rollout.pt", "best_rollout")):
        a, c = read_checkpoint(run_a / name), read_checkpoint(out / name)
        assert a["epoch"] == c["epoch"] and a[key] == c[key]
        for k, v in a["model_state_dict"].items():
            assert torch.equal(v, c["model_state_dict"][k]), (name, k)
    saved = read_checkpoint(run_a / "cmg_ckpt_2.pt")
    other = tmp_path / "run_d"
    other.mkdir()
    carry_bests(dict(saved, best_loss=saved["best_loss"] + 1.0), run_a / "cmg_ckpt_2.pt", other)
    assert not (other / "cmg_best.pt").exists() and (other / "cmg_best_rollout.pt").is_file()


def test_rollout_check_too_short_to_measure_is_refused_before_training(data_path, tmp_path, capsys):
    """The check leaves out the first second: --rollout_seconds 1 would measure nothing (it crashed at the
    first checkpoint); refused at the start, one line, no run written."""
    assert train_small(data_path, tmp_path / "run", 1, "--rollout_seconds", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: rollouts of 1 s") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
