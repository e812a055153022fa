"""One PPO / DAgger-PPO gradient step against a loss composed by hand (docs/learning.md)."""

import copy
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from rsl_rl.algorithms import PPO, DaggerPPO
from rsl_rl.modules import ActorCriticMimic
from rsl_rl_fakes import single_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

N, T, OBS, CRITIC, ACT = 4, 3, 6, 8, 2


ESTIMATED = [5, 1]  # critic-obs entries a student's state estimator regresses (in this order)


def net(seed, num_obs=OBS, std=0.8, estimator=False):
    torch.manual_seed(seed)
    return ActorCriticMimic(
        num_obs,
        CRITIC,
        2,
        1,
        ACT,
        actor_hidden_dims=[8],
        critic_hidden_dims=[8],
        motion_latent_dim=4,
        init_noise_std=std,
        estimator_target=ESTIMATED if estimator else None,
        estimator_hidden_dims=[5],
    )


def rollout(alg, dagger=False, steps_since_push=(None,) * T, data=None):
    """A T-step rollout; step t reports infos["steps_since_push"] = steps_since_push[t] (None: no push yet);
    data: () -> (obs, critic obs) of a step (default: standard normal)."""
    torch.manual_seed(7)
    alg.init_storage(N, T, [OBS], [CRITIC], [ACT])
    for t, since in enumerate(steps_since_push):
        obs, critic = data() if data is not None else (torch.randn(N, OBS), torch.randn(N, CRITIC))
        infos = {"time_outs": torch.zeros(N, dtype=torch.bool)}
        if since is not None:
            infos["steps_since_push"] = since
        with torch.inference_mode():
            if dagger:
                alg.act(obs, critic, teacher_obs=torch.randn(N, CRITIC))
            else:
                alg.act(obs, critic)
            alg.process_env_step(torch.randn(N), torch.tensor([False, t == 1, False, False]), infos)
    with torch.inference_mode():
        alg.compute_returns(torch.randn(N, CRITIC))


def hand_loss(ac, s, coef=None):
    obs = s.observations.flatten(0, 1)
    critic = s.critic_observations.flatten(0, 1)
    actions = s.actions.flatten(0, 1)
    if ac.estimator_target is None:
        mu = ac.actor(obs)
    else:  # the policy reads obs + the estimate; the estimator is trained apart (its own optimizer)
        mu = ac.actor.policy(torch.cat([obs, ac.actor.estimator(obs).detach()], -1))
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


@pytest.mark.parametrize("dagger, estimator", [(False, False), (True, False), (True, True)])
def test_one_step_follows_the_gradient_of_the_hand_loss(dagger, estimator):
    kwargs = dict(
        num_learning_epochs=1,
        num_mini_batches=1,
        clip_param=0.2,
        entropy_coef=0.005,
        schedule="fixed",
        max_grad_norm=1e9,
    )
    ac = net(0, estimator=estimator)
    if dagger:
        alg = DaggerPPO(
            ac,
            teacher=net(1, num_obs=CRITIC, std=0.5),
            dagger_coef=0.3,
            dagger_coef_min=0.01,
            dagger_coef_anneal_steps=10,
            **kwargs,
        )
    else:
        alg = PPO(ac, **kwargs)
    rollout(alg, dagger)
    reference = net(0, estimator=estimator)
    reference.load_state_dict(ac.state_dict())
    loss = hand_loss(reference, alg.storage, 0.3 if dagger else None)
    own = {id(p) for p in reference.estimator_parameters()}
    params = [p for p in reference.parameters() if p.requires_grad and id(p) not in own]
    grads = torch.autograd.grad(loss, params)
    lr = 0.01
    own = {id(p) for p in ac.estimator_parameters()}
    policy_params = [p for p in ac.parameters() if p.requires_grad and id(p) not in own]
    alg.optimizer = torch.optim.SGD(policy_params, lr=lr)
    if estimator:  # one SGD step on the estimator's MSE over the same (single) minibatch
        alg.estimator_optimizer = torch.optim.SGD(ac.estimator_parameters(), lr=lr)
        obs = alg.storage.observations.flatten(0, 1)
        target = alg.storage.critic_observations.flatten(0, 1)[:, ESTIMATED]
        error = reference.actor.estimator(obs) - target
        mse = (error**2).mean()
        est_params = reference.estimator_parameters()
        est_expected = [p - lr * g for p, g in zip(est_params, torch.autograd.grad(mse, est_params))]
    out = alg.update()
    for p_new, p_old, g in zip(policy_params, params, grads):
        torch.testing.assert_close(p_new, p_old - lr * g, rtol=1e-4, atol=1e-6)
    if estimator:
        for p_new, p_want in zip(ac.estimator_parameters(), est_expected):
            torch.testing.assert_close(p_new, p_want, rtol=1e-4, atol=1e-6)
        assert out["estimator"] == pytest.approx(mse.item(), rel=1e-5)
        for i, mean_error in enumerate(error.mean(dim=0).tolist()):  # the bias, before the step
            assert out["estimator_mean_error/{}".format(i)] == pytest.approx(mean_error, rel=1e-5)
    expected_keys = {"value_func", "surrogate", "entropy", "kl", "learning_rate"}
    if estimator:
        expected_keys |= {"estimator"} | {"estimator_mean_error/{}".format(i) for i in range(len(ESTIMATED))}
    if dagger:
        expected_keys |= {"kl_teacher_student", "bc_loss", "dagger_coef"}
        assert out["dagger_coef"] == pytest.approx(0.3)
        assert out["bc_loss"] == pytest.approx(0.3 * out["kl_teacher_student"])
        assert alg.dagger_counter == 1 and alg.dagger_state() == {
            "coef": pytest.approx(0.01 + 0.29 * 0.5 * (1 + 0.9510565162951535)),
            "counter": 1,
        }
    assert set(out) == expected_keys
    assert alg.storage.step == 0


def test_gradient_norm_is_clipped():
    ac = net(0)
    alg = PPO(ac, num_learning_epochs=1, num_mini_batches=1, schedule="fixed", max_grad_norm=1e-3)
    rollout(alg)
    before = [p.detach().clone() for p in ac.parameters() if p.requires_grad]
    alg.optimizer = torch.optim.SGD([p for p in ac.parameters() if p.requires_grad], lr=1.0)
    alg.update()
    delta = torch.sqrt(
        sum(((p - b) ** 2).sum() for p, b in zip([p for p in ac.parameters() if p.requires_grad], before))
    )
    assert delta.item() == pytest.approx(1e-3, rel=1e-4)


def test_adaptive_schedule_updates_the_optimizer_lr_and_restores_it():
    ac = net(0)
    alg = PPO(ac, num_learning_epochs=3, num_mini_batches=2, learning_rate=1e-3, schedule="adaptive", desired_kl=1e-7)
    rollout(alg)
    alg.update()
    assert alg.learning_rate < 1e-3  # KL far above 2 x desired after the first steps
    assert alg.optimizer.param_groups[0]["lr"] == alg.learning_rate
    other = PPO(net(0), learning_rate=1e-3)
    other.load_optimizer_state_dict(alg.optimizer_state_dict())
    assert other.learning_rate == alg.learning_rate
    # resumed under the fixed schedule (e.g. with legged_gym/recipes/student_fixed_lr.yaml): the configured rate
    for fast in (False, True):
        fixed = PPO(net(0), learning_rate=2e-4, schedule="fixed", fast_update=fast)
        fixed.load_optimizer_state_dict(alg.optimizer_state_dict())
        assert fixed.learning_rate == 2e-4 and float(fixed.optimizer.param_groups[0]["lr"]) == pytest.approx(2e-4)
        assert fixed.optimizer_state_dict()["param_groups"][0]["lr"] == 2e-4


def test_unknown_algorithm_settings_warn_and_twist_unused_ones_do_not():
    with pytest.warns(UserWarning, match="typo_field"):
        PPO(net(0), typo_field=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PPO(net(0), normalizer_update_iterations=3000, std_schedule=[1.0, 0.4, 4000, 1500])


# --- the fast update (fused Adam, learning-rate rule on the device) against the plain one -------------


def _twin_updates(dagger, desired_kl, updates=2, symmetry_coef=0.0, estimator=False):
    """The same rollouts updated the plain and the fast way: (plain alg, fast alg, their outputs)."""
    kwargs = dict(
        num_learning_epochs=3,
        num_mini_batches=2,
        learning_rate=1e-3,
        schedule="adaptive",
        desired_kl=desired_kl,
        max_grad_norm=0.5,
        symmetry_coef=symmetry_coef,
    )
    algs, outs = [], []
    for fast in (False, True):
        if dagger:
            alg = DaggerPPO(
                net(0, estimator=estimator),
                teacher=net(1, num_obs=CRITIC, std=0.5),
                dagger_coef=0.3,
                dagger_coef_min=0.01,
                dagger_coef_anneal_steps=10,
                fast_update=fast,
                **kwargs,
            )
        else:
            alg = PPO(net(0), fast_update=fast, **kwargs)
        assert alg.fast_update == fast
        if symmetry_coef > 0:
            alg.set_symmetry(OBS_MIRROR, ACTION_MIRROR, fitted_normalizer())
        out = []
        for _ in range(updates):
            rollout(alg, dagger)
            torch.manual_seed(11)  # the minibatch permutation
            out.append(alg.update())
        algs.append(alg)
        outs.append(out)
    return algs, outs


@pytest.mark.parametrize("dagger, estimator", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("desired_kl", [1e-7, 1e-2, 10.0])  # lr shrinks / stays / grows
def test_fast_update_equals_the_plain_update(dagger, estimator, desired_kl):
    (plain, fast), (out_plain, out_fast) = _twin_updates(dagger, desired_kl, estimator=estimator)
    for p, q in zip(plain.actor_critic.parameters(), fast.actor_critic.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)
    assert fast.learning_rate == plain.learning_rate  # the same rule on the same KLs, float64 on both sides
    assert fast.optimizer.param_groups[0]["lr"].item() == pytest.approx(plain.learning_rate, rel=1e-6)
    for a, b in zip(out_plain, out_fast):
        assert set(a) == set(b)
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), k
    # the rule went where it should: shrink below, grow above, keep in between
    if desired_kl == 1e-7:
        assert plain.learning_rate < 1e-3
    elif desired_kl == 10.0:
        assert plain.learning_rate > 1e-3


@pytest.mark.parametrize("dagger", [False, True])
def test_compiled_losses_give_the_fast_update(dagger):
    """`compile_update` (here the aot_eager backend: the traced graphs run as they are) updates as
    the fast way does, and traces once (the same graph for every minibatch and update)."""
    import torch._dynamo

    kwargs = dict(num_learning_epochs=3, num_mini_batches=2, learning_rate=1e-3, desired_kl=1e-2, fast_update=True)
    algs = []
    for compile_update in (False, "aot_eager"):
        if dagger:
            alg = DaggerPPO(
                net(0),
                teacher=net(1, num_obs=CRITIC, std=0.5),
                dagger_coef=0.3,
                compile_update=compile_update,
                **kwargs,
            )
        else:
            alg = PPO(net(0), compile_update=compile_update, **kwargs)
        assert (alg._compiled_losses is not None) == bool(compile_update)
        torch._dynamo.reset()
        outs = []
        for _ in range(2):
            rollout(alg, dagger)
            torch.manual_seed(11)
            outs.append(alg.update())
        if compile_update:
            assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1
        algs.append((alg, outs))
    (plain, out_plain), (compiled, out_compiled) = algs
    for p, q in zip(plain.actor_critic.parameters(), compiled.actor_critic.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-6, atol=1e-7)
    for a, b in zip(out_plain, out_compiled):
        assert set(a) == set(b)
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-7), k


def test_compile_update_auto_follows_the_recorded_step():
    """compile_update "auto" (the default) compiles the losses only where the minibatch step is
    recorded in a CUDA graph: never on the CPU; an explicit backend compiles there too."""
    auto = PPO(net(0), fast_update=True)
    assert not auto.cuda_graph and auto._compiled_losses is None
    assert PPO(net(0), fast_update=True, compile_update="aot_eager")._compiled_losses is not None
    if torch.cuda.is_available():
        assert PPO(net(0), device="cuda", fast_update=True)._compiled_losses is not None


@pytest.mark.parametrize(
    "version, expected", [("2.11.0+cu130", (2, 11)), ("1.13.1", (1, 13)), ("2.12.0a0+git1", (2, 12))]
)
def test_torch_version_gates_compile_update_auto(monkeypatch, version, expected):
    from rsl_rl.algorithms import ppo

    monkeypatch.setattr(torch, "__version__", version)
    assert ppo.torch_version() == expected
    assert (ppo.torch_version() >= ppo.COMPILE_AUTO_MIN_TORCH) == (expected >= (2, 11))


def _cuda_updates(alg, dagger=False, updates=5):
    """`updates` updates of `alg` on CUDA, each on a fresh T-step rollout of the same random data (5: past
    the recorded step's eager warm-up)."""
    alg.init_storage(N, T, [OBS], [CRITIC], [ACT])
    for _ in range(updates):
        torch.manual_seed(7)
        for _ in range(T):
            with torch.inference_mode():
                obs, critic = torch.randn(N, OBS, device="cuda"), torch.randn(N, CRITIC, device="cuda")
                if dagger:
                    alg.act(obs, critic, teacher_obs=torch.randn(N, CRITIC, device="cuda"))
                else:
                    alg.act(obs, critic)
                alg.process_env_step(
                    torch.randn(N, device="cuda"),
                    torch.zeros(N, dtype=torch.bool, device="cuda"),
                    {"time_outs": torch.zeros(N, dtype=torch.bool, device="cuda")},
                )
        with torch.inference_mode():
            alg.compute_returns(torch.randn(N, CRITIC, device="cuda"))
        torch.manual_seed(11)
        alg.update()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_losses_inside_the_recorded_step_on_cuda():
    """On CUDA: inductor-compiled losses inside the CUDA-graph minibatch step update as the recorded
    fast step does, within float rounding (TF32 off on both)."""
    kwargs = dict(num_learning_epochs=3, num_mini_batches=2, learning_rate=1e-3, desired_kl=1e-2)
    algs = []
    for compile_update in (False, True):
        alg = PPO(net(0), device="cuda", fast_update=True, tf32=False, compile_update=compile_update, **kwargs)
        assert alg.cuda_graph
        _cuda_updates(alg)
        assert alg._graph is not None
        algs.append(alg)
    for p, q in zip(algs[0].actor_critic.parameters(), algs[1].actor_critic.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_recorded_step_reads_the_averaged_estimator_on_cuda():
    """On CUDA: a student whose actor reads the average of its estimator's weights (estimator_average_decay):
    the minibatch step recorded in a CUDA graph reads the estimator as the averaging leaves it after each
    update (copied in place), so five updates end where the plain step's do (TF32 off on both)."""
    kwargs = dict(num_learning_epochs=3, num_mini_batches=2, learning_rate=1e-3, desired_kl=1e-2, tf32=False)
    algs = []
    for fast in (False, True):
        alg = DaggerPPO(
            net(0, estimator=True),
            teacher=net(1, num_obs=CRITIC, std=0.5),
            dagger_coef=0.3,
            device="cuda",
            fast_update=fast,
            compile_update=False,
            estimator_average_decay=0.5,
            **kwargs,
        )
        assert alg.cuda_graph == fast
        _cuda_updates(alg, dagger=True)
        assert (alg._graph is not None) == fast
        algs.append(alg)
    for p, q in zip(algs[0].actor_critic.parameters(), algs[1].actor_critic.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
    averaged = algs[1].actor_critic.estimator_parameters()[0]
    assert not torch.allclose(averaged, algs[1].estimator_trained_weights[0])  # the actor read the average


def test_adaptive_rule_on_the_device_matches_the_host_rule():
    alg = PPO(net(0), fast_update=True, learning_rate=1e-3, desired_kl=0.01)
    for lr0, kl in [
        (1e-3, 0.05),
        (1e-3, 0.001),
        (1e-3, 0.0),
        (1e-3, 0.01),
        (1.2e-5, 1.0),
        (9e-3, 1e-4),
        (1e-3, 0.02),
        (1e-3, 0.005),
    ]:
        alg._lr_state = torch.tensor(lr0, dtype=torch.float64)
        alg._adapt_lr_on_device(torch.tensor(kl))
        kl = float(torch.tensor(kl))  # the KL the host rule reads: the float32 value
        # the host rule written out again
        if kl > 0.02:
            expected = max(1e-5, lr0 / 1.5)
        elif 0.0 < kl < 0.005:
            expected = min(1e-2, lr0 * 1.5)
        else:
            expected = lr0
        assert float(alg._lr_state) == expected, (lr0, kl)
        assert float(alg._lr_param) == pytest.approx(expected, rel=1e-7)


def test_fast_optimizer_checkpoints_in_the_plain_format_and_resumes_either_way():
    (plain, fast), _ = _twin_updates(False, 1e-7, updates=1)
    state = fast.optimizer_state_dict()
    assert isinstance(state["param_groups"][0]["lr"], float) and state["param_groups"][0]["fused"] is None
    assert state["param_groups"][0]["lr"] == fast.learning_rate
    # fast state -> plain optimizer and plain state -> fast optimizer; one more identical update each
    a = PPO(net(0), fast_update=False, learning_rate=5e-4, desired_kl=1e-7, num_mini_batches=2)
    b = PPO(net(0), fast_update=True, learning_rate=5e-4, desired_kl=1e-7, num_mini_batches=2)
    a.actor_critic.load_state_dict(fast.actor_critic.state_dict())
    b.actor_critic.load_state_dict(plain.actor_critic.state_dict())
    a.load_optimizer_state_dict(state)
    b.load_optimizer_state_dict(plain.optimizer_state_dict())
    assert a.learning_rate == b.learning_rate == plain.learning_rate
    assert b.fast_update and float(b.optimizer.param_groups[0]["lr"]) == pytest.approx(plain.learning_rate, rel=1e-6)
    for alg in (a, b):
        rollout(alg)
        torch.manual_seed(3)
        alg.update()
    for p, q in zip(a.actor_critic.parameters(), b.actor_critic.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)
    assert a.learning_rate == b.learning_rate


# --- the symmetry loss (algorithm.symmetry_coef) ------------------------------------------------------

OBS_MIRROR = ([1, 0, 2, 3, 5, 4], [1.0, 1.0, -1.0, 1.0, -1.0, -1.0])  # an involution of the 6 obs entries
ACTION_MIRROR = ([1, 0], [-1.0, -1.0])


def mirror(m, x):
    return x[..., m[0]] * torch.tensor(m[1])


def normalized_mirror(m, x, normalizer):
    """The mirror of vectors normalised by `normalizer`: un-normalised, mirrored, normalised again."""
    scale = normalizer.std + normalizer.eps
    return (mirror(m, x * scale + normalizer.mean) - normalizer.mean) / scale


def fitted_normalizer(seed=3):
    from rsl_rl.utils.normalizer import Normalizer

    torch.manual_seed(seed)
    normalizer = Normalizer(OBS)
    normalizer.record(torch.randn(50, OBS) * torch.linspace(0.5, 3.0, OBS) + torch.linspace(-2.0, 2.0, OBS))
    normalizer.update()
    return normalizer


def test_symmetry_term_follows_the_gradient_of_the_hand_loss():
    """The update's gradient is the PPO loss plus coef x mean |mu(mirror(o)) - mirror_a(mu(o))|^2, the
    mirror applied to the raw observation (un-normalised, mirrored, normalised again)."""
    ac = net(0)
    alg = PPO(ac, num_learning_epochs=1, num_mini_batches=1, schedule="fixed", max_grad_norm=1e9, symmetry_coef=0.7)
    normalizer = fitted_normalizer()
    alg.set_symmetry(OBS_MIRROR, ACTION_MIRROR, normalizer)
    rollout(alg)
    reference = net(0)
    reference.load_state_dict(ac.state_dict())
    obs = alg.storage.observations.flatten(0, 1)
    mirrored_obs = normalized_mirror(OBS_MIRROR, obs, normalizer)
    symmetry = ((reference.actor(mirrored_obs) - mirror(ACTION_MIRROR, reference.actor(obs))) ** 2).sum(-1).mean()
    loss = hand_loss(reference, alg.storage) + 0.7 * symmetry
    params = [p for p in reference.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    alg.optimizer = torch.optim.SGD([p for p in ac.parameters() if p.requires_grad], lr=0.01)
    out = alg.update()
    for p_new, p_old, g in zip([p for p in ac.parameters() if p.requires_grad], params, grads):
        torch.testing.assert_close(p_new, p_old - 0.01 * g, rtol=1e-4, atol=1e-6)
    assert out["symmetry"] == pytest.approx(symmetry.item(), rel=1e-5)


class RawObsPolicy(torch.nn.Module):
    """Test double: a policy mean defined on the raw observation, g(o) or g(o) + M_a g(M_o o), which is
    exactly mirror-equivariant (M_a and M_o are involutions)."""

    def __init__(self, normalizer, equivariant):
        super().__init__()
        torch.manual_seed(5)
        self.g = torch.nn.Linear(OBS, ACT)
        self.normalizer, self.equivariant = normalizer, equivariant

    def act_inference(self, obs_normalized):
        raw = obs_normalized * (self.normalizer.std + self.normalizer.eps) + self.normalizer.mean
        out = self.g(raw)
        return out + mirror(ACTION_MIRROR, self.g(mirror(OBS_MIRROR, raw))) if self.equivariant else out


def test_symmetry_loss_vanishes_for_a_mirror_equivariant_policy_only():
    normalizer = fitted_normalizer()
    obs = normalizer.normalize(torch.randn(32, OBS) * 2.0)
    losses = []
    for equivariant in (True, False):
        policy = RawObsPolicy(normalizer, equivariant)
        alg = PPO(policy, fast_update=False, symmetry_coef=1.0)
        alg.set_symmetry(OBS_MIRROR, ACTION_MIRROR, normalizer)
        losses.append(alg._symmetry_loss(obs, policy.act_inference(obs)).item())
    assert losses[0] < 1e-10 and losses[1] > 0.1


@pytest.mark.parametrize("dagger", [False, True])
def test_fast_update_with_the_symmetry_loss_equals_the_plain_update(dagger):
    (plain, fast), (out_plain, out_fast) = _twin_updates(dagger, 1e-2, symmetry_coef=0.5)
    for p, q in zip(plain.actor_critic.parameters(), fast.actor_critic.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)
    for a, b in zip(out_plain, out_fast):
        assert a["symmetry"] > 0 and b["symmetry"] == pytest.approx(a["symmetry"], rel=1e-4)


def test_symmetry_needs_its_maps():
    alg = PPO(net(0), symmetry_coef=0.5)
    rollout(alg)
    with pytest.raises(RuntimeError, match="set_symmetry"):
        alg.update()
    with pytest.raises(ValueError, match="5 entries"):
        alg.set_symmetry(([0, 1, 2, 3, 4], [1.0] * 5), ACTION_MIRROR, fitted_normalizer())


def assert_estimator_sgd_step(alg, reference, loss, error, lr):
    """alg.update() takes one SGD step of lr on the estimator along the gradient of `loss` (computed with
    `reference`, the estimator's copy before the update) and logs that loss and the mean of `error` (the
    estimator's error on the stored rollout) as its bias."""
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    out = alg.update()
    for p_new, p_old, g in zip(alg.actor_critic.estimator_parameters(), reference.parameters(), grads):
        torch.testing.assert_close(p_new, p_old - lr * g, rtol=1e-4, atol=1e-6)
    assert out["estimator"] == pytest.approx(loss.item(), rel=1e-5)
    for i, mean_error in enumerate(error.mean(dim=0).tolist()):
        assert out["estimator_mean_error/{}".format(i)] == pytest.approx(mean_error, rel=1e-5)


@pytest.mark.parametrize(
    "steps_since_push, kept",
    [
        ([None, None, None], [0, 1, 2]),
        ([None, None, 0], [0, 1]),
        ([9, 0, 1], [0]),
        ([1, 2, 3], [1, 2]),
        ([None, 0, 1], [0]),
    ],
)
def test_estimator_leaves_out_the_steps_after_a_push(steps_since_push, kept):
    """estimator_skip_after_push = 2: the estimator's step (SGD here, one minibatch) and its logged bias
    come from the transitions of the steps at least 2 steps after the last push only."""
    ac = net(0, estimator=True)
    alg = PPO(ac, num_learning_epochs=1, num_mini_batches=1, schedule="fixed", estimator_skip_after_push=2)
    rollout(alg, steps_since_push=steps_since_push)
    lr = 0.01
    alg.estimator_optimizer = torch.optim.SGD(ac.estimator_parameters(), lr=lr)
    reference = copy.deepcopy(ac.actor.estimator)
    obs = alg.storage.observations[kept].flatten(0, 1)
    error = reference(obs) - alg.storage.critic_observations[kept].flatten(0, 1)[:, ESTIMATED]
    loss = (error**2).mean()
    assert_estimator_sgd_step(alg, reference, loss, error, lr)


def test_estimator_skips_a_rollout_with_no_step_far_enough_from_a_push():
    ac = net(0, estimator=True)
    alg = PPO(ac, num_learning_epochs=1, num_mini_batches=1, schedule="fixed", estimator_skip_after_push=5)
    rollout(alg, steps_since_push=[0, 1, 2])
    before = [p.detach().clone() for p in ac.estimator_parameters()]
    out = alg.update()
    for p_new, p_old in zip(ac.estimator_parameters(), before):
        torch.testing.assert_close(p_new, p_old, rtol=0, atol=0)
    assert math.isnan(out["estimator"]) and math.isnan(out["estimator_mean_error/0"])
    assert not math.isnan(out["value_func"])  # the policy and the critic learn from every step


def test_estimator_bias_is_its_first_minibatch_error_before_any_step():
    """estimator_mean_error/<i>: the mean error on the estimator's first minibatch (of 3 here, 2 epochs of
    Adam after it), computed with the estimator as it came to the update, not the mean over its steps."""
    ac = net(0, estimator=True)
    alg = PPO(ac, num_learning_epochs=2, num_mini_batches=3, schedule="fixed", estimator_learning_rate=0.05)
    rollout(alg)
    reference = copy.deepcopy(ac.actor.estimator)
    obs = alg.storage.observations.flatten(0, 1)
    error = (reference(obs) - alg.storage.critic_observations.flatten(0, 1)[:, ESTIMATED]).detach()
    torch.manual_seed(123)
    out = alg.update()
    torch.manual_seed(123)  # the PPO epochs' permutation, then the estimator's
    torch.randperm(N * T)
    first = torch.randperm(N * T)[: N * T // 3]
    for i in range(len(ESTIMATED)):
        assert out["estimator_mean_error/{}".format(i)] == pytest.approx(float(error[first, i].mean()), rel=1e-5)
        assert abs(float(error[first, i].mean()) - float(error[:, i].mean())) > 1e-3  # a different quantity
    after = (ac.actor.estimator(obs) - alg.storage.critic_observations.flatten(0, 1)[:, ESTIMATED]).detach()
    assert not torch.allclose(after, error)  # the estimator did step


def test_estimator_average_trains_on_from_the_trained_weights_and_gives_the_actor_their_average():
    """estimator_average_decay = d: the regression steps go on from the trained weights, as those of an
    estimator without the averaging (here its twin, SGD on the same rollouts); after each update the
    estimator the actor reads holds average <- d * average + (1 - d) * trained (the average starting at the
    initial weights), and the logged bias is that of the weights the actor read in the rollout."""
    d = 0.75
    averaged = PPO(
        net(0, estimator=True), num_learning_epochs=1, num_mini_batches=1, schedule="fixed", estimator_average_decay=d
    )
    twin = PPO(net(0, estimator=True), num_learning_epochs=1, num_mini_batches=1, schedule="fixed")
    for alg in (averaged, twin):
        alg.estimator_optimizer = torch.optim.SGD(alg.actor_critic.estimator_parameters(), lr=0.5)
    expected = [p.detach().clone() for p in twin.actor_critic.estimator_parameters()]
    for _ in range(3):
        rollout(averaged)
        rollout(twin)
        obs = averaged.storage.observations.flatten(0, 1)
        target = averaged.storage.critic_observations.flatten(0, 1)[:, ESTIMATED]
        with torch.no_grad():
            bias_read = (averaged.actor_critic.actor.estimator(obs) - target).mean(dim=0)
        out = averaged.update()
        twin.update()
        trained = [p.detach() for p in twin.actor_critic.estimator_parameters()]
        expected = [d * e + (1 - d) * t for e, t in zip(expected, trained)]
        for p, want in zip(averaged.actor_critic.estimator_parameters(), expected):
            torch.testing.assert_close(p.detach(), want, rtol=1e-5, atol=1e-6)
        for w, want in zip(averaged.estimator_trained_weights, trained):
            torch.testing.assert_close(w, want, rtol=1e-5, atol=1e-6)
        for i, b in enumerate(bias_read.tolist()):
            assert out["estimator_mean_error/{}".format(i)] == pytest.approx(b, rel=1e-5)
    assert not torch.allclose(expected[0], trained[0], atol=1e-3)  # the average is not the last weights


def test_estimator_average_decay_outside_its_range_is_refused():
    with pytest.raises(ValueError, match="estimator_average_decay must be in"):
        PPO(net(0, estimator=True), estimator_average_decay=1.0)


# the critic obs' mirror of the estimator tests: entry 5 (estimated first) keeps its sign, entry 1 (estimated
# second) changes sign, like the forward and sideways root velocity
CRITIC_MIRROR = ([0, 1, 3, 2, 4, 5, 7, 6], [1.0, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0])


def fitted_critic_normalizer():
    from rsl_rl.utils.normalizer import Normalizer

    torch.manual_seed(4)
    normalizer = Normalizer(CRITIC)
    normalizer.record(torch.randn(50, CRITIC) * torch.linspace(2.0, 0.5, CRITIC) + torch.linspace(1.0, -1.0, CRITIC))
    normalizer.update()
    return normalizer


def test_estimator_mirror_adds_the_mirrored_minibatch():
    """estimator_mirror: the estimator's step (SGD here, one minibatch) follows the mean square of its error on
    the stored rollout and on its mirror image, each of the actor and critic obs un-normalised, mirrored
    and normalised again with its own normaliser; the logged bias stays that of the stored rollout."""
    ac = net(0, estimator=True)
    alg = PPO(ac, num_learning_epochs=1, num_mini_batches=1, schedule="fixed", estimator_mirror=True)
    normalizer, critic_normalizer = fitted_normalizer(), fitted_critic_normalizer()
    alg.set_estimator_mirror(OBS_MIRROR, CRITIC_MIRROR, normalizer, critic_normalizer)
    rollout(alg)
    lr = 0.01
    alg.estimator_optimizer = torch.optim.SGD(ac.estimator_parameters(), lr=lr)
    reference = copy.deepcopy(ac.actor.estimator)
    obs = alg.storage.observations.flatten(0, 1)
    critic = alg.storage.critic_observations.flatten(0, 1)

    error = reference(obs) - critic[:, ESTIMATED]
    error_m = (
        reference(normalized_mirror(OBS_MIRROR, obs, normalizer))
        - normalized_mirror(CRITIC_MIRROR, critic, critic_normalizer)[:, ESTIMATED]
    )
    loss = (torch.cat([error, error_m]) ** 2).mean()
    assert_estimator_sgd_step(alg, reference, loss, error, lr)


@pytest.mark.parametrize("estimator_mirror", [False, True])
def test_estimator_mirror_pulls_a_constant_sideways_offset_to_zero(estimator_mirror):
    """Rollouts whose sideways target (critic entry 1) is a constant 0.5 whatever the obs (drawn from a
    mirror-symmetric distribution): fitted to them, the estimator learns the offset; with its mirrored
    minibatches (where the target is -0.5 on obs of the same distribution) it keeps the estimate near 0,
    and the forward entry (5, not mirrored) is learned either way."""
    from rsl_rl.utils.normalizer import Normalizer

    ac = net(0, estimator=True)
    alg = PPO(
        ac,
        num_learning_epochs=4,
        num_mini_batches=1,
        schedule="fixed",
        estimator_learning_rate=0.05,
        estimator_mirror=estimator_mirror,
    )
    alg.set_estimator_mirror(OBS_MIRROR, CRITIC_MIRROR, Normalizer(OBS), Normalizer(CRITIC))

    fresh = torch.Generator().manual_seed(11)  # new draws every rollout (rollout() reseeds the global one)

    def data():
        critic = torch.randn(N, CRITIC, generator=fresh)
        critic[:, 1], critic[:, 5] = 0.5, 1.0
        return torch.randn(N, OBS, generator=fresh), critic

    for _ in range(100):
        rollout(alg, data=data)
        alg.update()
    with torch.no_grad():
        estimate = ac.actor.estimator(torch.randn(2000, OBS)).mean(dim=0)
    assert float(estimate[0]) == pytest.approx(1.0, abs=0.1)
    if estimator_mirror:
        assert abs(float(estimate[1])) < 0.1
    else:
        assert float(estimate[1]) == pytest.approx(0.5, abs=0.1)


def test_estimator_mirror_needs_its_maps():
    alg = PPO(net(0, estimator=True), estimator_mirror=True)
    rollout(alg)
    with pytest.raises(RuntimeError, match="set_estimator_mirror"):
        alg.update()
    with pytest.raises(ValueError, match=r"critic obs\): a mirror of 6 entries"):
        alg.set_estimator_mirror(OBS_MIRROR, OBS_MIRROR, fitted_normalizer(), fitted_critic_normalizer())
