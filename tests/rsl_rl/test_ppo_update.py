"""One PPO / DAgger-PPO gradient step against a loss composed by hand (SPEC 8.2, 8.3)."""
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from rsl_rl.algorithms import PPO, DaggerPPO
from rsl_rl.modules import ActorCriticMimic
from rsl_rl_fakes import single_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

N, T, OBS, CRITIC, ACT = 4, 3, 6, 8, 2


def net(seed, num_obs=OBS, std=0.8):
    torch.manual_seed(seed)
    return ActorCriticMimic(num_obs, CRITIC, 2, 1, ACT, actor_hidden_dims=[8], critic_hidden_dims=[8],
                            motion_latent_dim=4, init_noise_std=std)


def rollout(alg, dagger=False):
    torch.manual_seed(7)
    alg.init_storage(N, T, [OBS], [CRITIC], [ACT])
    for t in range(T):
        obs, critic = torch.randn(N, OBS), torch.randn(N, CRITIC)
        with torch.inference_mode():
            if dagger:
                alg.act(obs, critic, teacher_obs=torch.randn(N, CRITIC))
            else:
                alg.act(obs, critic)
            alg.process_env_step(torch.randn(N), torch.tensor([False, t == 1, False, False]),
                                 {"time_outs": torch.zeros(N, dtype=torch.bool)})
    with torch.inference_mode():
        alg.compute_returns(torch.randn(N, CRITIC))


def hand_loss(ac, s, coef=None):
    obs = s.observations.flatten(0, 1)
    critic = s.critic_observations.flatten(0, 1)
    actions = s.actions.flatten(0, 1)
    mu = ac.actor(obs)
    sigma = ac.std.expand_as(mu)
    dist = Normal(mu, sigma)
    ratio = torch.exp(dist.log_prob(actions).sum(-1) - s.actions_log_prob.flatten())
    adv = s.advantages.flatten()
    surrogate = torch.max(-adv * ratio, -adv * ratio.clamp(0.8, 1.2)).mean()
    v = ac.evaluate(critic).flatten()
    v_old, ret = s.values.flatten(), s.returns.flatten()
    v_clip = v_old + (v - v_old).clamp(-0.2, 0.2)
    value = torch.max((v - ret) ** 2, (v_clip - ret) ** 2).mean()
    loss = surrogate + 1.0 * value - 0.005 * dist.entropy().sum(-1).mean()
    if coef is not None:
        teacher = Normal(s.teacher_mu.flatten(0, 1), s.teacher_sigma.flatten(0, 1))
        loss = loss + coef * kl_divergence(dist, teacher).mean()
    return loss


@pytest.mark.parametrize("dagger", [False, True])
def test_one_step_follows_the_gradient_of_the_hand_loss(dagger):
    kwargs = dict(num_learning_epochs=1, num_mini_batches=1, clip_param=0.2, entropy_coef=0.005,
                  schedule="fixed", max_grad_norm=1e9)
    ac = net(0)
    if dagger:
        alg = DaggerPPO(ac, teacher=net(1, num_obs=CRITIC, std=0.5), dagger_coef=0.3, dagger_coef_min=0.01, dagger_coef_anneal_steps=10,
                        **kwargs)
    else:
        alg = PPO(ac, **kwargs)
    rollout(alg, dagger)
    reference = net(0)
    reference.load_state_dict(ac.state_dict())
    loss = hand_loss(reference, alg.storage, 0.3 if dagger else None)
    params = [p for p in reference.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    lr = 0.01
    alg.optimizer = torch.optim.SGD([p for p in ac.parameters() if p.requires_grad], lr=lr)
    out = alg.update()
    for p_new, p_old, g in zip([p for p in ac.parameters() if p.requires_grad], params, grads):
        torch.testing.assert_close(p_new, p_old - lr * g, rtol=1e-4, atol=1e-6)
    expected_keys = {"value_func", "surrogate", "entropy", "kl", "learning_rate"}
    if dagger:
        expected_keys |= {"kl_teacher_student", "bc_loss", "dagger_coef"}
        assert out["dagger_coef"] == pytest.approx(0.3)
        assert out["bc_loss"] == pytest.approx(0.3 * out["kl_teacher_student"])
        assert alg.dagger_counter == 1 and alg.dagger_state() == {"coef": pytest.approx(
            0.01 + 0.29 * 0.5 * (1 + 0.9510565162951535)), "counter": 1}
    assert set(out) == expected_keys
    assert alg.storage.step == 0


def test_gradient_norm_is_clipped():
    ac = net(0)
    alg = PPO(ac, num_learning_epochs=1, num_mini_batches=1, schedule="fixed", max_grad_norm=1e-3)
    rollout(alg)
    before = [p.detach().clone() for p in ac.parameters() if p.requires_grad]
    alg.optimizer = torch.optim.SGD([p for p in ac.parameters() if p.requires_grad], lr=1.0)
    alg.update()
    delta = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip([p for p in ac.parameters() if p.requires_grad],
                                                                  before)))
    assert delta.item() == pytest.approx(1e-3, rel=1e-4)


def test_adaptive_schedule_updates_the_optimizer_lr_and_restores_it():
    ac = net(0)
    alg = PPO(ac, num_learning_epochs=3, num_mini_batches=2, learning_rate=1e-3, schedule="adaptive",
              desired_kl=1e-7)
    rollout(alg)
    alg.update()
    assert alg.learning_rate < 1e-3  # KL far above 2 x desired after the first steps
    assert alg.optimizer.param_groups[0]["lr"] == alg.learning_rate
    other = PPO(net(0), learning_rate=1e-3)
    other.load_optimizer_state_dict(alg.optimizer_state_dict())
    assert other.learning_rate == alg.learning_rate


def test_unknown_algorithm_settings_warn_and_twist_unused_ones_do_not():
    with pytest.warns(UserWarning, match="typo_field"):
        PPO(net(0), typo_field=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PPO(net(0), normalizer_update_iterations=3000, std_schedule=[1.0, 0.4, 4000, 1500])
