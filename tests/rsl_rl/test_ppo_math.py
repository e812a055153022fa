"""The math of PPO / DAgger-PPO against independently computed values (docs/learning.md, docs/decisions.md D3)."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from rsl_rl.algorithms import adaptive_lr, dagger_coef, gaussian_kl, surrogate_loss, value_loss
from rsl_rl.algorithms.ppo import PPO
from rsl_rl.modules import ActorCriticMimic
from rsl_rl.storage import gae
from rsl_rl_fakes import single_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")


def plain_gae(rewards, values, dones, last_values, gamma, lam):
    """Textbook GAE with plain Python floats (lists of per-step lists)."""
    T, N = len(rewards), len(rewards[0])
    adv = [[0.0] * N for _ in range(T)]
    for n in range(N):
        a = 0.0
        for t in reversed(range(T)):
            next_v = last_values[n] if t == T - 1 else values[t + 1][n]
            nd = 0.0 if dones[t][n] else 1.0
            delta = rewards[t][n] + gamma * nd * next_v - values[t][n]
            a = delta + gamma * lam * nd * a
            adv[t][n] = a
    return adv


def test_gae_matches_a_plain_loop():
    rewards = [[1.0, 0.0], [0.5, -1.0], [2.0, 0.3], [0.0, 1.0]]
    values = [[0.2, 0.1], [0.4, -0.3], [1.0, 0.5], [0.3, 0.7]]
    dones = [[False, False], [True, False], [False, True], [False, False]]
    last = [0.9, -0.2]
    adv, ret = gae(torch.tensor(rewards), torch.tensor(values), torch.tensor(dones), torch.tensor(last), 0.99, 0.95)
    expected = plain_gae(rewards, values, dones, last, 0.99, 0.95)
    torch.testing.assert_close(adv, torch.tensor(expected))
    torch.testing.assert_close(ret, torch.tensor(expected) + torch.tensor(values))
    # one value by hand: env 0, last step: delta = 0 + 0.99*0.9 - 0.3
    assert adv[3, 0].item() == pytest.approx(0.99 * 0.9 - 0.3)
    # env 0 step 1 is terminal: A = r - V
    assert adv[1, 0].item() == pytest.approx(0.5 - 0.4)


def test_time_out_bootstrapping_and_returns_through_ppo():
    """process_env_step adds gamma * V(s_t) on time-outs; the storage then runs GAE and normalises."""
    torch.manual_seed(0)
    ac = ActorCriticMimic(4, 4, 2, 1, 2, actor_hidden_dims=[8], critic_hidden_dims=[8], motion_latent_dim=4)
    gamma, lam = 0.9, 0.8
    ppo = PPO(ac, gamma=gamma, lam=lam, num_mini_batches=1, num_learning_epochs=1)
    T, N = 3, 2
    ppo.init_storage(N, T, [4], None, [2])
    rewards = [[1.0, 2.0], [0.5, 0.0], [1.5, -1.0]]
    dones = [[False, True], [True, False], [False, False]]
    time_outs = [[False, True], [False, False], [False, False]]
    values = []
    for t in range(T):
        obs = torch.randn(N, 4)
        ppo.act(obs, obs)
        values.append(ppo.transition.values.reshape(-1).tolist())
        ppo.process_env_step(
            torch.tensor(rewards[t]), torch.tensor(dones[t]), {"time_outs": torch.tensor(time_outs[t])}
        )
    last_obs = torch.randn(N, 4)
    ppo.compute_returns(last_obs)
    last = ac.evaluate(last_obs).reshape(-1).tolist()
    boot = [[rewards[t][n] + (gamma * values[t][n] if time_outs[t][n] else 0.0) for n in range(N)] for t in range(T)]
    expected_adv = torch.tensor(plain_gae(boot, values, dones, last, gamma, lam))
    storage = ppo.storage
    torch.testing.assert_close(storage.rewards, torch.tensor(boot))
    torch.testing.assert_close(storage.returns, expected_adv + torch.tensor(values))
    normed = (expected_adv - expected_adv.mean()) / (expected_adv.std() + 1e-8)
    torch.testing.assert_close(storage.advantages, normed)


def test_clipped_surrogate_by_hand():
    # ratios e^0.5 = 1.6487 (clipped to 1.2) and e^-0.5 = 0.6065 (clipped to 0.8)
    log_prob = torch.tensor([0.5, 0.5, -0.5, -0.5, 0.1])
    old = torch.zeros(5)
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0, 2.0])
    r = math.exp(0.5)
    # per element: max(-A r, -A clip(r))
    expected = [
        max(-1 * r, -1 * 1.2),
        max(r, 1.2),
        max(-math.exp(-0.5), -0.8),
        max(math.exp(-0.5), 0.8),
        max(-2 * math.exp(0.1), -2 * math.exp(0.1)),
    ]
    assert expected[:4] == pytest.approx([-1.2, r, -math.exp(-0.5), 0.8])
    assert surrogate_loss(log_prob, old, adv, 0.2).item() == pytest.approx(sum(expected) / 5, rel=1e-6)


def test_value_loss_clipping_by_hand():
    values = torch.tensor([1.0, 0.0, 2.0])
    old = torch.tensor([0.5, 0.1, 2.1])
    returns = torch.tensor([2.0, -1.0, 2.0])
    # env 0: V - V_old = 0.5 -> clipped 0.2 -> V_clip 0.7; max((1-2)^2, (0.7-2)^2) = 1.69
    # env 1: V - V_old = -0.1 within clip -> V_clip 0; max(1, 1) = 1
    # env 2: V - V_old = -0.1 -> V_clip 2.0; max(0, 0) = 0
    assert value_loss(values, old, returns, 0.2).item() == pytest.approx((1.69 + 1.0 + 0.0) / 3)
    assert value_loss(values, old, returns, 0.2, clipped=False).item() == pytest.approx((1.0 + 1.0 + 0.0) / 3)


def test_adaptive_lr_rule_and_bounds():
    desired = 0.008
    assert adaptive_lr(3e-4, 0.017, desired) == pytest.approx(2e-4)  # > 2x: / 1.5
    assert adaptive_lr(2e-4, 0.003, desired) == pytest.approx(3e-4)  # < half: x 1.5
    assert adaptive_lr(2e-4, 0.008, desired) == 2e-4  # in between: kept
    assert adaptive_lr(2e-4, 0.016, desired) == 2e-4  # exactly 2x: kept
    assert adaptive_lr(2e-4, 0.004, desired) == 2e-4  # exactly half: kept
    assert adaptive_lr(2e-4, 0.0, desired) == 2e-4  # zero KL: kept
    assert adaptive_lr(1.2e-5, 1.0, desired) == 1e-5  # lower bound
    assert adaptive_lr(8e-3, 1e-6, desired) == 1e-2  # upper bound


def test_gaussian_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu_p, mu_q = torch.randn(7, 5), torch.randn(7, 5)
    s_p, s_q = torch.rand(7, 5) + 0.2, torch.rand(7, 5) + 0.2
    expected = kl_divergence(Normal(mu_p, s_p), Normal(mu_q, s_q))
    torch.testing.assert_close(gaussian_kl(mu_p, s_p, mu_q, s_q), expected)
    assert torch.all(gaussian_kl(mu_p, s_p, mu_p, s_p).abs() < 1e-6)


def test_dagger_schedule_cosine_from_0p1_to_0p01():
    c0, cmin, anneal = 0.1, 0.01, 60000
    assert dagger_coef(0, c0, cmin, anneal) == pytest.approx(0.1)
    assert dagger_coef(anneal // 2, c0, cmin, anneal) == pytest.approx(0.055)
    assert dagger_coef(anneal // 4, c0, cmin, anneal) == pytest.approx(0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert dagger_coef(anneal - 1, c0, cmin, anneal) == pytest.approx(0.01, abs=1e-9)
    assert dagger_coef(anneal, c0, cmin, anneal) == 0.01
    assert dagger_coef(10 * anneal, c0, cmin, anneal) == 0.01
    # monotone, no compounding (TWIST's collapse to ~0.002 x by k = 3000 does not happen)
    ks = range(0, anneal + 1, 1000)
    coefs = [dagger_coef(k, c0, cmin, anneal) for k in ks]
    assert all(a >= b for a, b in zip(coefs, coefs[1:]))
    assert dagger_coef(3000, c0, cmin, anneal) > 0.099
