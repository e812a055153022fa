"""The CMG network: shapes, parameter count, gating, blended experts, initialisation."""

import math

import torch

from pose.cmg.model import CMG, CMGConfig, MoELayer, parameter_count


def test_shapes_and_parameter_count():
    model = CMG()
    y = model(torch.randn(7, 58), torch.randn(7, 3))
    assert y.shape == (7, 58)
    # gating 61 -> 512 -> 4; experts 4 x (61 -> 512, 512 -> 512, 512 -> 58), weights and biases
    gating = (61 * 512 + 512) + (512 * 4 + 4)
    experts = 4 * ((61 * 512 + 512) + (512 * 512 + 512) + (512 * 58 + 58))
    assert parameter_count(model) == gating + experts == 1330412
    assert abs(parameter_count(model) - 1.33e6) < 0.01e6
    assert [tuple(layer.weight.shape) for layer in model.layers] == [(4, 61, 512), (4, 512, 512), (4, 512, 58)]


def test_gating_is_a_distribution():
    model = CMG(CMGConfig(hidden_dim=64))
    alpha = model.gating(torch.randn(20, 61))
    assert alpha.shape == (20, 4) and (alpha > 0).all()
    torch.testing.assert_close(alpha.sum(-1), torch.ones(20))


def test_layer_equals_per_sample_blended_weights():
    torch.manual_seed(0)
    layer = MoELayer(13, 9, 4)
    with torch.no_grad():
        layer.bias.normal_()
    h = torch.randn(6, 13, dtype=torch.float64)
    alpha = torch.softmax(torch.randn(6, 4, dtype=torch.float64), -1)
    layer = layer.double()
    w = torch.einsum("bk,kio->bio", alpha, layer.weight)  # sum_k alpha_k W_k per sample
    b = alpha @ layer.bias
    expected = torch.bmm(h.unsqueeze(1), w).squeeze(1) + b
    torch.testing.assert_close(layer(h, alpha), expected)


def test_forward_blends_all_layers_with_one_alpha_and_elu():
    torch.manual_seed(1)
    model = CMG(CMGConfig(hidden_dim=16)).double()
    x, c = torch.randn(3, 58, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    z = torch.cat([x, c], -1)
    alpha = model.gating(z)
    h = z
    for i, layer in enumerate(model.layers):
        w = torch.einsum("bk,kio->bio", alpha, layer.weight)
        h = torch.bmm(h.unsqueeze(1), w).squeeze(1) + alpha @ layer.bias
        if i < 2:
            h = torch.nn.functional.elu(h)
    torch.testing.assert_close(model(x, c), h)


def test_he_initialisation():
    torch.manual_seed(2)
    model = CMG()
    for layer in model.layers:
        fan_in = layer.weight.shape[1]
        std = float(layer.weight.detach().std())
        assert abs(std - math.sqrt(2.0 / fan_in)) < 0.03 * math.sqrt(2.0 / fan_in), (fan_in, std)
        assert float(layer.bias.detach().abs().max()) == 0.0
