"""ActorCriticMimic: SPEC 8.1's structure, parameter counts and shapes; the Gaussian head."""
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
        (60, 40, 6, 2), (40, 20, 4, 2)]
    assert n_params(enc) == 29008
    backbone = [m for m in ac.actor.backbone]
    shapes = [(m.in_features, m.out_features) if isinstance(m, nn.Linear) else type(m).__name__ for m in backbone]
    assert shapes == [(344, 512), "SiLU", (512, 512), "SiLU", (512, 256), "SiLU", (256, 128), "LayerNorm", "SiLU",
                      (128, 23)]
    # SPEC 8.1: teacher actor ~635.8 k, critic ~632.9 k (std excluded); computed by hand:
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
    assert n_params(ac.actor) == 1097239  # SPEC: ~1.097 M
    assert n_params(ac.critic) == 1177857  # SPEC: ~1.178 M


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
    ac = ActorCriticMimic(46, 50, 40, 20, 3, actor_hidden_dims=[8, 8], critic_hidden_dims=[8, 8],
                          motion_latent_dim=4, init_noise_std=0.7)
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
