"""The stance-slide training loss of the CMG (`cmg_workspace/foot_loss.py`, `--foot_slide_weight`):
values for still feet under a moving and a turning root, the synthetic clips under their own
commands, the gradient's reach, and training with it lowers the slide of the generated steps."""

import numpy as np
import pytest
import torch

from cmg_helpers import build_embedded
from cmg_workspace.dataset import clip_features
from cmg_workspace.foot_loss import SLIDE_SCALE, StanceSlideLoss
from cmg_workspace.sources import SourceClip
from cmg_workspace.trainer import Trainer, TrainConfig
from pose import synth
from pose.cmg.joints import MOTION_DIM, from_23, joint_names
from pose.cmg.model import CMGConfig
from pose.cmg.stats import TorchStats
from pose.g1_model import load_g1

DT = 0.02


def plain_stats():
    """Motion normalisation off (mean 0, std 1); commands normalised over [-4, 4]."""
    return TorchStats(torch.zeros(MOTION_DIM), torch.ones(MOTION_DIM), -4.0 * torch.ones(3), 4.0 * torch.ones(3))


def rho(u):
    return u * u / (u * u + SLIDE_SCALE**2)


def standing_on_the_right_foot() -> torch.Tensor:
    """(1, 58): the left leg lifted (hip pitch -1.0, knee 1.0 rad), so the right foot alone is lowest."""
    x = torch.zeros(1, MOTION_DIM)
    names = joint_names()
    x[0, names.index("left_hip_pitch_joint")] = -1.0
    x[0, names.index("left_knee_joint")] = 1.0
    return x


def test_still_feet_under_a_moving_root_slide_at_its_speed():
    stats = plain_stats()
    loss = StanceSlideLoss(stats, DT)
    x = standing_on_the_right_foot()
    points = loss.sole_points(x)[0]
    right = loss.geometry.foot_of == loss.geometry.feet.index(next(f for f in loss.geometry.feet if "right" in f))
    assert float(points[~right, 2].min()) > float(points[right, 2].max()) + 0.03  # the left foot is lifted
    for v, expected in (((0.0, 0.0), 0.0), ((0.6, -0.8), rho(1.0)), ((0.2, 0.0), rho(0.2))):
        c = stats.normalise_command(torch.tensor([[v[0], v[1], 0.0]]))
        assert float(loss(x, x, c)) == pytest.approx(expected, abs=1e-5)
    # turning in place (wz 0.5 rad/s) with the foot still: each right-foot point moves at wz |p_xy|,
    # heel and toe of the flat foot share the contact weight
    c = stats.normalise_command(torch.tensor([[0.0, 0.0, 0.5]]))
    expected = float(np.mean([rho(0.5 * float(torch.linalg.norm(p[:2]))) for p in points[right]]))
    assert float(loss(x, x, c)) == pytest.approx(expected, rel=1e-4)


def synthetic_steps(name: str, zero_command: bool = False):
    """Consecutive states of a synthetic clip (first and last second cut) and their commands."""
    c = synth.build_clip(name, kin=synth.SynthKinematics(load_g1())).clip
    source = SourceClip(name, float(c["fps"]), c["root_pos"], c["root_rot"], from_23(np.asarray(c["dof_pos"])), False)
    x, cmd = (torch.as_tensor(a, dtype=torch.float32)[50:-50] for a in clip_features(source, 50.0, 1.0))
    if zero_command:
        cmd = torch.zeros_like(cmd)
    stats = plain_stats()
    return stats, x[:-1], x[1:], stats.normalise_command(cmd[:-1])


def test_synthetic_clips_under_their_commands():
    """A steady 1 m/s walk under its own command hardly slides (the evaluation measures < 0.05 m/s,
    tests/pose/test_synth_locomotion.py), the swaying original slides (> 0.2 m/s there), and the
    steady walk under a zero command slides at the walking speed."""
    values = {}
    for name, zero in (
        ("walk_forward_1p0_steady", False),
        ("walk_forward_1p0", False),
        ("walk_forward_1p0_steady", True),
    ):
        stats, x0, x1, c = synthetic_steps(name, zero)
        values[(name, zero)] = float(StanceSlideLoss(stats, DT)(x0, x1, c))
    steady, swaying, still = (
        values[("walk_forward_1p0_steady", False)],
        values[("walk_forward_1p0", False)],
        values[("walk_forward_1p0_steady", True)],
    )
    assert steady < 0.03 and swaying > 0.2 and still > 0.5, values


def test_the_gradient_reaches_the_prediction_only():
    stats = plain_stats()
    loss = StanceSlideLoss(stats, DT)
    prev = standing_on_the_right_foot().requires_grad_(True)
    nxt = standing_on_the_right_foot().requires_grad_(True)
    loss(prev, nxt, stats.normalise_command(torch.tensor([[0.5, 0.0, 0.3]]))).backward()
    assert prev.grad is None
    assert nxt.grad is not None and float(nxt.grad.abs().sum()) > 0
    assert float(nxt.grad[0, MOTION_DIM // 2 :].abs().sum()) == 0.0  # velocities do not move the feet


def test_training_with_the_slide_term_lowers_the_slide(tmp_path):
    """Two epochs on the embedded set from the same seed, without and with the term: the one-step
    predictions of the weighted run slide less (the loss of foot_loss.py on every training step)."""
    data = build_embedded(tmp_path / "embedded.pt")
    slides = {}
    for weight in (0.0, 2.0):
        cfg = TrainConfig(batch_size=32, lr=1e-3, seed=0, foot_slide_weight=weight, rollout_seconds=0)
        trainer = Trainer(data, cfg, CMGConfig(hidden_dim=32))
        for _ in range(2):
            info = trainer.step_epoch()
        assert (info["foot_slide_loss"] is None) == (weight == 0)
        x, c = trainer.motion, trainer.command
        with torch.no_grad():
            prev = x[:, :-1].reshape(-1, MOTION_DIM)
            pred = trainer.model(prev, c.reshape(-1, 3))
            slides[weight] = float(StanceSlideLoss(data.stats.tensors(), DT)(prev, pred, c.reshape(-1, 3)))
    assert slides[2.0] < 0.9 * slides[0.0], slides
