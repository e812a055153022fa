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


def test_minibatches_of_chosen_steps_cover_exactly_their_transitions():
    """steps=(1, 3): every transition of steps 1 and 3 (all envs) once per epoch, none of the others."""
    torch.manual_seed(0)
    s = filled_storage(T=4, N=3)
    s.compute_returns(torch.zeros(3), 0.99, 0.95)
    batches = list(s.mini_batch_generator(num_mini_batches=2, num_epochs=2, steps=torch.tensor([1, 3])))
    assert len(batches) == 4 and all(len(b.observations) == 3 for b in batches)
    for epoch in (batches[:2], batches[2:]):
        obs = torch.cat([b.observations[:, 0] for b in epoch])  # t + env / 10: unique per transition
        expected = torch.tensor([t + env / 10 for t in (1, 3) for env in range(3)])
        torch.testing.assert_close(obs.sort().values, expected)
        actions = torch.cat([b.actions[:, 0] for b in epoch])  # the same rows of the packed fields
        torch.testing.assert_close(actions, 10 * obs.floor() + (obs % 1) * 10)


@pytest.mark.parametrize("teacher", [False, True])
def test_minibatch_rows_hold_each_field_of_their_transition(teacher):
    """Every field of a minibatch row is the stored transition's (the fields share one packed
    buffer): distinct values per field, step and env, compared with what was added."""
    T, N, A = 3, 4, 2
    s = RolloutStorage(N, T, [2], None, [A], store_teacher=teacher)
    added = []
    for t in range(T):
        base = 100.0 * t + torch.arange(N, dtype=torch.float32)  # unique per (t, env)
        tr = Transition()
        tr.observations = base.unsqueeze(-1).repeat(1, 2)
        tr.actions = base.unsqueeze(-1) + torch.tensor([0.1, 0.2])
        tr.rewards = torch.zeros(N)
        tr.dones = torch.zeros(N, dtype=torch.bool)
        tr.values = (base + 0.3).unsqueeze(-1)
        tr.actions_log_prob = -base
        tr.action_mean = base.unsqueeze(-1) + torch.tensor([0.4, 0.5])
        tr.action_sigma = base.unsqueeze(-1) + torch.tensor([0.6, 0.7])
        tr.teacher_action_mean = base.unsqueeze(-1) + torch.tensor([0.8, 0.9]) if teacher else None
        tr.teacher_action_sigma = base.unsqueeze(-1) + torch.tensor([1.0, 1.1]) if teacher else None
        s.add_transitions(tr)
        added.append(tr)
    s.compute_returns(torch.zeros(N), 0.9, 0.8)
    idx = torch.tensor([11, 0, 5, 6])
    b = s.batch(idx)
    for row, i in enumerate(idx.tolist()):
        t, env = divmod(i, N)
        tr = added[t]
        torch.testing.assert_close(b.observations[row], tr.observations[env])
        torch.testing.assert_close(b.actions[row], tr.actions[env])
        torch.testing.assert_close(b.target_values[row], tr.values[env, 0])
        torch.testing.assert_close(b.old_actions_log_prob[row], tr.actions_log_prob[env])
        torch.testing.assert_close(b.old_mu[row], tr.action_mean[env])
        torch.testing.assert_close(b.old_sigma[row], tr.action_sigma[env])
        torch.testing.assert_close(b.returns[row], s.returns[t, env])
        torch.testing.assert_close(b.advantages[row], s.advantages[t, env])
        if teacher:
            torch.testing.assert_close(b.teacher_mu[row], tr.teacher_action_mean[env])
            torch.testing.assert_close(b.teacher_sigma[row], tr.teacher_action_sigma[env])
    assert (b.teacher_mu is None) == (not teacher)
    # returns = advantages (before normalising) + values: the GAE wrote its own columns only
    torch.testing.assert_close(s.values, torch.stack([tr.values[:, 0] for tr in added]))


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
