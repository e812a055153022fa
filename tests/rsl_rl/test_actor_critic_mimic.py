"""ActorCriticMimic: TWIST's structure, parameter counts and shapes (docs/learning.md, Network); the Gaussian head."""

import pytest
import torch
import torch.nn as nn
from torch.distributions import Normal

from rsl_rl.modules import ActorCriticMimic, MotionEncoder
from rsl_rl_fakes import single_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def teacher() -> ActorCriticMimic:
    return ActorCriticMimic(1318, 1318, 1160, 20, 23)


def student() -> ActorCriticMimic:
    return ActorCriticMimic(1155, 1318, 31, 1, 23)


def test_teacher_structure_and_parameter_counts():
    ac = teacher()
    assert ac.actor.input_dim == 158 + 58 + 128 == 344
    assert ac.critic.input_dim == 344
    enc = ac.actor.motion_encoder
    linears = [m for m in enc.modules() if isinstance(m, nn.Linear)]
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv1d)]
    assert [(l.in_features, l.out_features) for l in linears] == [(58, 60), (60, 128)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (60, 40, 6, 2),
        (40, 20, 4, 2),
    ]
    assert n_params(enc) == 29008
    backbone = [m for m in ac.actor.backbone]
    shapes = [(m.in_features, m.out_features) if isinstance(m, nn.Linear) else type(m).__name__ for m in backbone]
    assert shapes == [
        (344, 512),
        "SiLU",
        (512, 512),
        "SiLU",
        (512, 256),
        "SiLU",
        (256, 128),
        "LayerNorm",
        "SiLU",
        (128, 23),
    ]
    # TWIST's network: teacher actor ~635.8 k, critic ~632.9 k (std excluded); computed by hand:
    # 29,008 + 344*512+512 + 512*512+512 + 512*256+256 + 256*128+128 + 2*128 + 128*23+23
    assert n_params(ac.actor) == 29008 + 176640 + 262656 + 131328 + 32896 + 256 + 2967 == 635751
    assert n_params(ac.critic) == 635751 - 2967 + 129 == 632913
    assert ac.std.shape == (23,) and ac.std.requires_grad and torch.all(ac.std == 1.0)
    assert ac.actor.motion_encoder is not ac.critic.motion_encoder


def test_student_structure_and_parameter_counts():
    ac = student()
    assert ac.actor.input_dim == 1124 + 31 + 128 == 1283
    assert ac.critic.input_dim == 1287 + 31 + 128 == 1446
    enc = ac.actor.motion_encoder
    assert not any(isinstance(m, nn.Conv1d) for m in enc.modules())
    assert n_params(enc) == 31 * 60 + 60 + 60 * 128 + 128 == 9728
    assert n_params(ac.actor) == 1097239  # TWIST: ~1.097 M
    assert n_params(ac.critic) == 1177857  # TWIST: ~1.178 M


@pytest.mark.parametrize("k", [1, 10, 20, 50])
def test_motion_encoder_conv_stacks_flatten_to_60(k):
    enc = MotionEncoder(frame_dim=7, num_steps=k, latent_dim=128)
    assert enc.temporal(torch.zeros(4, 60, k)).shape == (4, 60)
    assert enc(torch.zeros(4, 7 * k)).shape == (4, 128)


def test_actor_input_is_rest_first_raw_frame_and_latent():
    torch.manual_seed(0)
    ac = ActorCriticMimic(46, 46, 40, 20, 3, actor_hidden_dims=[8], critic_hidden_dims=[8], motion_latent_dim=4)
    obs = torch.randn(5, 46)
    latent = ac.actor.motion_encoder(obs[:, :40])
    expected = ac.actor.backbone(torch.cat([obs[:, 40:], obs[:, :2], latent], -1))
    torch.testing.assert_close(ac.actor(obs), expected)
    # frames are projected one by one: the frame projection sees (B, K, m)
    frames = ac.actor.motion_encoder.frame_proj(obs[:, :40].reshape(5, 20, 2))
    out = ac.actor.motion_encoder.out(ac.actor.motion_encoder.temporal(frames.transpose(1, 2)))
    torch.testing.assert_close(latent, out)


def test_gaussian_head_log_prob_entropy_and_inference():
    torch.manual_seed(0)
    ac = ActorCriticMimic(
        46, 50, 40, 20, 3, actor_hidden_dims=[8, 8], critic_hidden_dims=[8, 8], motion_latent_dim=4, init_noise_std=0.7
    )
    obs, critic_obs = torch.randn(6, 46), torch.randn(6, 50)
    actions = ac.act(obs)
    assert actions.shape == (6, 3)
    mean = ac.actor(obs)
    ref = Normal(mean, 0.7 * torch.ones_like(mean))
    torch.testing.assert_close(ac.action_mean, mean)
    torch.testing.assert_close(ac.action_std, torch.full_like(mean, 0.7))
    torch.testing.assert_close(ac.get_actions_log_prob(actions), ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(ac.entropy, ref.entropy().sum(-1))
    torch.testing.assert_close(ac.act_inference(obs), mean)
    assert ac.evaluate(critic_obs).shape == (6, 1)


def test_fixed_action_std_is_frozen():
    std = [0.7] * 12 + [0.4] * 3 + [0.5] * 8
    ac = ActorCriticMimic(1155, 1318, 31, 1, 23, fix_action_std=True, action_std=std)
    assert "std" in ac.state_dict() and "std" not in dict(ac.named_parameters())
    torch.testing.assert_close(ac.std, torch.tensor(std))
    ac.act(torch.zeros(2, 1155))
    torch.testing.assert_close(ac.action_std, torch.tensor(std).expand(2, 23))
    with pytest.raises(ValueError, match="action_std"):
        ActorCriticMimic(1155, 1318, 31, 1, 23, fix_action_std=True, action_std=[0.5] * 3)


def test_a_std_driven_to_zero_or_below_is_floored_and_keeps_training_finite():
    """A learnable std that the updates pushed to -0.2, 0 and 1e-5 acts, scores and steps as
    N(mean, 0.01) there (log-probs and entropy finite, equal to torch's Normal at the floor); the entries
    above the floor keep their value and their gradient, those below get none."""
    from rsl_rl.modules.actor_critic_mimic import MIN_ACTION_STD

    torch.manual_seed(0)
    ac = ActorCriticMimic(46, 46, 40, 20, 3, actor_hidden_dims=[8], critic_hidden_dims=[8], motion_latent_dim=4)
    with torch.no_grad():
        ac.std.copy_(torch.tensor([-0.2, 0.0, 0.3]))
    obs = torch.randn(5, 46)
    actions = ac.act(obs)
    expected_std = torch.tensor([MIN_ACTION_STD, MIN_ACTION_STD, 0.3])
    ref = Normal(ac.actor(obs), expected_std.expand(5, 3))
    assert torch.isfinite(actions).all()
    torch.testing.assert_close(ac.action_std, expected_std.expand(5, 3))
    log_prob = ac.get_actions_log_prob(actions)
    torch.testing.assert_close(log_prob, ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(ac.entropy, ref.entropy().sum(-1))
    (log_prob.sum() + ac.entropy.sum()).backward()
    assert ac.std.grad[0] == 0 and ac.std.grad[1] == 0 and ac.std.grad[2] != 0
    with torch.no_grad():
        ac.std.copy_(torch.tensor([1e-5, 0.3, 0.5]))
    torch.testing.assert_close(ac.noise_std(), torch.tensor([MIN_ACTION_STD, 0.3, 0.5]))


def test_actor_alone_exports_with_trace():
    torch.manual_seed(0)
    ac = student()
    obs = torch.randn(2, 1155)
    traced = torch.jit.trace(ac.actor, torch.ones(2, 1155))
    torch.testing.assert_close(traced(obs), ac.act_inference(obs))


def test_bad_motion_slice_is_rejected():
    with pytest.raises(ValueError, match="multiple"):
        ActorCriticMimic(100, 100, 41, 20, 3)
    with pytest.raises(ValueError, match="motion frames"):
        ActorCriticMimic(100, 100, 30, 3, 3)


@pytest.mark.parametrize("k", [1, 10, 20, 50])
def test_conv_as_matmul_is_the_conv_stack(k):
    """The training-speed path computes each Conv1d as one banded matrix product: same outputs and
    gradients as the modules (float64, so only rounding can differ), and it is off by default."""
    torch.manual_seed(k)
    enc = MotionEncoder(58, k).double()
    assert not enc.conv_as_matmul
    x = torch.randn(5, 58 * k, dtype=torch.float64)
    # the reference: Conv1d written out as sums over channels and taps
    frames = enc.frame_proj(x.reshape(5, k, 58)).transpose(1, 2)  # (B, C, K)
    h = frames
    for layer in enc.temporal:
        if isinstance(layer, nn.Conv1d):
            kk, s = layer.kernel_size[0], layer.stride[0]
            length = (h.shape[-1] - kk) // s + 1
            h = torch.stack(
                [
                    torch.einsum("bcj,ocj->bo", h[:, :, l * s : l * s + kk], layer.weight) + layer.bias
                    for l in range(length)
                ],
                dim=-1,
            )
        else:
            h = layer(h)
    reference = enc.out(h)
    plain = enc(x)
    grads_plain = torch.autograd.grad(plain.square().sum(), list(enc.parameters()))
    enc.conv_as_matmul = True
    fast = enc(x)
    grads_fast = torch.autograd.grad(fast.square().sum(), list(enc.parameters()))
    torch.testing.assert_close(plain, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fast, reference, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads_plain, grads_fast):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_set_fast_kernels_reaches_every_encoder():
    ac = teacher()
    ac.set_fast_kernels(True)
    assert [m.conv_as_matmul for m in ac.modules() if isinstance(m, MotionEncoder)] == [True, True]
    ac.set_fast_kernels(False)
    assert not any(m.conv_as_matmul for m in ac.modules() if isinstance(m, MotionEncoder))


@pytest.mark.parametrize("make", [teacher, student])
def test_fast_kernels_give_the_plain_outputs_and_gradients(make):
    torch.manual_seed(3)
    ac = make().double()
    obs = torch.randn(6, ac.actor.num_obs, dtype=torch.float64)
    critic_obs = torch.randn(6, ac.critic.num_obs, dtype=torch.float64)
    outs = []
    for fast in (False, True):
        ac.set_fast_kernels(fast)
        a, v = ac.actor(obs), ac.critic(critic_obs)
        grads = torch.autograd.grad((a.square().sum() + v.square().sum()), list(ac.parameters()), allow_unused=True)
        outs.append((a, v, grads))
    (a0, v0, g0), (a1, v1, g1) = outs
    torch.testing.assert_close(a1, a0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(v1, v0, rtol=1e-12, atol=1e-12)
    for x, y in zip(g0, g1):
        if x is not None:
            torch.testing.assert_close(y, x, rtol=1e-10, atol=1e-12)


def test_student_with_a_state_estimator_reads_obs_and_the_detached_estimate():
    """estimator_target (docs/learning.md#state-estimator): an MLP on the obs estimates len(target) entries,
    which the actor's MLP reads after the obs (input 1283 + 3); export still traces obs -> action; the
    action's gradient does not reach the estimator, the estimator loss reaches nothing else."""
    torch.manual_seed(0)
    target = [1234, 1235, 1236]
    ac = ActorCriticMimic(1155, 1318, 31, 1, 23, estimator_target=target, estimator_hidden_dims=(64, 32))
    assert ac.actor.policy.input_dim == 1283 + 3
    assert n_params(ac.actor.estimator) == 1155 * 64 + 64 + 64 * 32 + 32 + 32 * 3 + 3
    assert ac.estimator_parameters() == list(ac.actor.estimator.parameters())
    obs, critic = torch.randn(4, 1155), torch.randn(4, 1318)
    estimate = ac.actor.estimator(obs)
    torch.testing.assert_close(ac.act_inference(obs), ac.actor.policy(torch.cat([obs, estimate], -1)))
    torch.testing.assert_close(ac.act_with_estimate(obs, estimate), ac.act_inference(obs))
    other = critic[:, target]
    torch.testing.assert_close(ac.act_with_estimate(obs, other), ac.actor.policy(torch.cat([obs, other], -1)))
    assert not torch.allclose(ac.act_with_estimate(obs, other), ac.act_inference(obs))
    traced = torch.jit.trace(ac.actor, torch.ones(2, 1155))
    torch.testing.assert_close(traced(obs), ac.act_inference(obs))

    ac.act_inference(obs).sum().backward()
    assert all(p.grad is None for p in ac.estimator_parameters())
    assert ac.actor.policy.backbone[0].weight.grad is not None
    ac.zero_grad(set_to_none=True)
    error = ac.estimator_error(obs, critic)
    torch.testing.assert_close(error, estimate - critic[:, target])
    error.square().mean().backward()
    assert all(p.grad is not None for p in ac.estimator_parameters())
    others = [p for n, p in ac.named_parameters() if not n.startswith("actor.estimator.")]
    assert all(p.grad is None for p in others)


def test_estimator_target_must_index_the_critic_obs():
    with pytest.raises(ValueError, match=r"estimator_target \[1318\]: expected indices in \[0, 1318\)"):
        ActorCriticMimic(1155, 1318, 31, 1, 23, estimator_target=[1318])
    with pytest.raises(AssertionError, match="estimator_error needs estimator_target"):
        student().estimator_error(torch.zeros(1, 1155), torch.zeros(1, 1318))
    assert student().estimator_parameters() == []
