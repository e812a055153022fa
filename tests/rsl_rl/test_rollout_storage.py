"""RolloutStorage: transitions, returns, and minibatches from one permutation reused across epochs."""

import pytest
import torch

from rsl_rl.storage import RolloutStorage, Transition
from rsl_rl_fakes import single_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")


def filled_storage(T=4, N=3, critic=True, teacher=False):
    s = RolloutStorage(N, T, [2], [5] if critic else None, [2], store_teacher=teacher)
    for t in range(T):
        tr = Transition()
        tr.observations = torch.full((N, 2), float(t)) + torch.arange(N).unsqueeze(-1) * 0.1
        tr.critic_observations = torch.full((N, 5), float(t))
        tr.actions = torch.full((N, 2), 10.0 * t) + torch.arange(N).unsqueeze(-1)
        tr.rewards = torch.ones(N)
        tr.dones = torch.zeros(N, dtype=torch.bool)
        tr.values = torch.zeros(N, 1)
        tr.actions_log_prob = torch.zeros(N)
        tr.action_mean = tr.actions.clone()
        tr.action_sigma = torch.ones(N, 2)
        if teacher:
            tr.teacher_action_mean = -tr.actions
            tr.teacher_action_sigma = 2 * torch.ones(N, 2)
        s.add_transitions(tr)
    return s


def test_full_storage_refuses_more_and_clear_resets():
    s = filled_storage()
    with pytest.raises(RuntimeError, match="full"):
        s.add_transitions(Transition())
    s.clear()
    assert s.step == 0


def test_minibatches_reuse_one_permutation_across_epochs():
    torch.manual_seed(0)
    s = filled_storage(T=4, N=3)
    s.compute_returns(torch.zeros(3), 0.99, 0.95)
    batches = list(s.mini_batch_generator(num_mini_batches=3, num_epochs=2))
    assert len(batches) == 6
    first = [b.actions for b in batches[:3]]
    second = [b.actions for b in batches[3:]]
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b)
    covered = torch.cat(first)[:, 0] + torch.cat(first)[:, 1] / 100  # unique per (t, env)
    assert covered.unique().numel() == 12
    # rows stay aligned across fields: obs (t + env/10) and actions (10 t + env) of the same transition
    b = batches[0]
    torch.testing.assert_close(b.actions[:, 0], 10 * b.observations[:, 0].floor() + (b.observations[:, 0] % 1) * 10)
    torch.testing.assert_close(b.critic_observations[:, 0], b.observations[:, 0].floor())
    assert b.teacher_mu is None and b.teacher_sigma is None


def test_critic_reads_obs_when_no_critic_obs_and_teacher_fields_travel():
    s = filled_storage(critic=False, teacher=True)
    assert s.critic_observations is None
    s.compute_returns(torch.zeros(3), 0.99, 0.95)
    b = next(s.mini_batch_generator(2, 1))
    torch.testing.assert_close(b.critic_observations, b.observations)
    torch.testing.assert_close(b.teacher_mu, -b.actions)
    torch.testing.assert_close(b.teacher_sigma, 2 * torch.ones_like(b.actions))


def test_advantages_are_normalised_over_the_whole_rollout():
    torch.manual_seed(1)
    s = filled_storage()
    s.rewards.copy_(torch.randn(4, 3))
    s.compute_returns(torch.randn(3), 0.99, 0.95)
    assert s.advantages.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert s.advantages.std().item() == pytest.approx(1.0, abs=1e-5)
