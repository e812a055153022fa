"""Domain-randomisation draws and reference-state initialisation (docs/rewards_and_terminations.md): ranges,
shapes, and reproducibility from a seeded torch.Generator."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation as R

from legged_gym.envs.mdp import randomization as rnd

N = 4096


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


DRAWS = {
    "friction": lambda g: rnd.friction_coeffs(N, g),
    "mass_params": lambda g: rnd.base_mass_params(N, g),
    "motor_strength": lambda g: torch.stack(rnd.motor_strength(N, 23, g)),
    "push": lambda g: rnd.push_velocities(N, g),
    "hand_forces": lambda g: rnd.hand_push_forces(N, 2, g),
    "gravity": lambda g: rnd.gravity_offset(g),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_same_seed_same_draws_other_seed_other_draws(name):
    a, b, c = DRAWS[name](gen(5)), DRAWS[name](gen(5)), DRAWS[name](gen(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_friction_64_buckets_in_range():
    f = rnd.friction_coeffs(N, gen()).numpy()
    assert f.shape == (N,)
    assert f.min() >= 0.1 and f.max() < 2.0
    values = np.unique(f)
    assert 40 <= len(values) <= 64  # every env takes one of the 64 bucket values
    assert f.max() - f.min() > 1.5


def test_mass_and_com_ranges():
    m = rnd.base_mass_params(N, gen()).numpy()
    assert m.shape == (N, 4)
    assert m[:, 0].min() >= -3.0 and m[:, 0].max() < 3.0 and m[:, 0].max() > 2.9 and m[:, 0].min() < -2.9
    assert np.abs(m[:, 1:]).max() <= 0.05 and np.abs(m[:, 1:]).max() > 0.049


def test_motor_strength_per_env_per_dof_independent_kp_kd():
    kp, kd = rnd.motor_strength(N, 23, gen())
    for x in (kp, kd):
        assert x.shape == (N, 23)
        assert x.min().item() >= 0.8 and x.max().item() < 1.2
    assert not torch.equal(kp, kd)
    assert abs(np.corrcoef(kp.numpy().ravel(), kd.numpy().ravel())[0, 1]) < 0.05
    assert kp[:, 0].std().item() > 0.1 and kp[0].std().item() > 0.05  # varies over envs and DOFs


def test_push_and_hand_force_ranges():
    v = rnd.push_velocities(N, gen()).numpy()
    assert v.shape == (N, 2) and np.abs(v).max() <= 1.0 and np.abs(v).max() > 0.99
    f = rnd.hand_push_forces(N, 2, gen()).numpy()
    assert f.shape == (N, 2, 3) and np.abs(f).max() <= 20.0 and np.abs(f).max() > 19.9
    g = rnd.gravity_offset(gen()).numpy()
    assert g.shape == (3,) and np.abs(g).max() <= 0.1


def test_push_intervals():
    due = [s for s in range(1, 1001) if rnd.interval_due(s, rnd.PUSH_INTERVAL_S)]
    assert due == [200, 400, 600, 800, 1000]
    due = [s for s in range(1, 401) if rnd.interval_due(s, rnd.HAND_PUSH_INTERVAL_S)]
    assert due == [100, 200, 300, 400]


def test_action_delay_onset_and_values():
    g = gen(3)
    assert all(rnd.action_delay(s, g) == 0 for s in (0, 1000, 120000) for _ in range(50))
    after = [rnd.action_delay(120001, g) for _ in range(400)]
    assert set(after) == {0, 1}
    assert all(rnd.action_delay(10**7, g, enabled=False) == 0 for _ in range(50))
    a = [rnd.action_delay(200000, gen(9)) for _ in range(3)]
    assert a == [rnd.action_delay(200000, gen(9)) for _ in range(3)]
    hist = torch.arange(8, dtype=torch.float32).view(1, 8, 1).expand(2, 8, 23)
    assert torch.all(rnd.delayed_action(hist, 0) == 7) and torch.all(rnd.delayed_action(hist, 1) == 6)
    # on the device: the same draws as tensors, the same selection without a read back to the host
    g1, g2 = gen(5), gen(5)
    for _ in range(20):
        d_int = rnd.action_delay(200000, g1)
        d_t = rnd.action_delay(200000, g2, as_tensor=True)
        assert isinstance(d_t, torch.Tensor) and d_t.shape == (1,) and int(d_t) == d_int
        assert torch.equal(rnd.delayed_action(hist, d_t), rnd.delayed_action(hist, d_int))
    assert rnd.action_delay(100, gen(5), as_tensor=True) == 0


# --- RSI ------------------------------------------------------------------------------------------


def rsi_inputs(n=512, seed=0):
    rng = np.random.default_rng(seed)
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    dof = rng.uniform(-1, 1, (n, 23))
    dof[:, 5] = 0.0  # zero angles stay zero under multiplicative noise
    return dict(
        ref_root_pos=t(rng.uniform(-3, 3, (n, 3))),
        ref_root_rot=t(R.random(n, random_state=seed).as_quat()),
        ref_root_vel=t(rng.normal(size=(n, 3))),
        ref_root_ang_vel=t(rng.normal(size=(n, 3))),
        ref_dof_pos=t(dof),
        ref_dof_vel=t(rng.normal(size=(n, 23))),
        env_origins=t(np.stack([rng.uniform(0, 180, n), rng.uniform(0, 160, n), np.zeros(n)], -1)),
    )


def test_rsi_state_ranges():
    x = rsi_inputs()
    s = rnd.rsi_state(**x, generator=gen(1))
    rs = s.root_states.numpy()
    assert rs.shape == (512, 13) and s.dof_pos.shape == (512, 23) and s.init_origin.shape == (512, 3)
    ref_pos, origin = x["ref_root_pos"].numpy(), x["env_origins"].numpy()
    offset = rs[:, :2] - ref_pos[:, :2] - origin[:, :2]
    assert np.abs(offset).max() <= 0.3 and np.abs(offset).max() > 0.29
    np.testing.assert_allclose(s.init_origin.numpy()[:, :2], origin[:, :2] + offset, atol=1e-12)
    assert np.all(s.init_origin.numpy()[:, 2] == 0.0)
    np.testing.assert_allclose(rs[:, 2], ref_pos[:, 2] + 0.05, atol=1e-12)
    np.testing.assert_array_equal(rs[:, 3:7], x["ref_root_rot"].numpy())
    np.testing.assert_allclose(rs[:, 7:10], 0.8 * x["ref_root_vel"].numpy(), atol=1e-12)
    np.testing.assert_allclose(rs[:, 10:13], 0.8 * x["ref_root_ang_vel"].numpy(), atol=1e-12)
    ref_dof = x["ref_dof_pos"].numpy()
    nz = ref_dof != 0
    ratio = s.dof_pos.numpy()[nz] / ref_dof[nz]
    assert ratio.min() >= 0.8 - 1e-12 and ratio.max() <= 1.2 + 1e-12 and ratio.std() > 0.1
    assert np.all(s.dof_pos.numpy()[:, 5] == 0.0)
    np.testing.assert_allclose(s.dof_vel.numpy(), 0.8 * x["ref_dof_vel"].numpy(), atol=1e-12)


def test_rsi_draws_made_beforehand_give_the_state_rsi_state_draws_itself():
    x = rsi_inputs(n=64)
    own = rnd.rsi_state(**x, generator=gen(6))
    xy, scale = rnd.rsi_draws(64, 23, gen(6), dtype=torch.float64)
    assert xy.shape == (64, 2) and scale.shape == (64, 23)
    assert float(xy.abs().max()) <= 0.3 and float(scale.min()) >= 0.8 and float(scale.max()) <= 1.2
    given = rnd.rsi_state(**x, generator=None, xy_noise=xy, dof_scale=scale)
    for a, b in zip(own, given):
        assert torch.equal(a, b)
    # rows of the draws: the state of those envs alone
    rows = torch.tensor([3, 17, 40])
    sub = rnd.rsi_state(**{k: v[rows] for k, v in x.items()}, xy_noise=xy[rows], dof_scale=scale[rows])
    for a, b in zip(own, sub):
        assert torch.equal(a[rows], b)


def test_rsi_state_reproducible():
    x = rsi_inputs()
    a, b = rnd.rsi_state(**x, generator=gen(4)), rnd.rsi_state(**x, generator=gen(4))
    c = rnd.rsi_state(**x, generator=gen(5))
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert not torch.equal(a.dof_pos, c.dof_pos)
    # Inputs are not modified.
    assert torch.equal(x["ref_root_pos"], rsi_inputs()["ref_root_pos"])
