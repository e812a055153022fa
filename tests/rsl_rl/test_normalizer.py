"""Normalizer (docs/observations.md, Normalisation) against numpy statistics over several record/update rounds."""

import numpy as np
import pytest
import torch

from rsl_rl.utils import Normalizer
from rsl_rl_fakes import single_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")


def test_initial_state_is_identity_up_to_eps():
    norm = Normalizer(3)
    x = torch.tensor([[1.0, -2.0, 3.0]])
    torch.testing.assert_close(norm.normalize(x), x / (1.0 + 1e-4))


def test_statistics_match_numpy_over_rounds():
    rng = np.random.default_rng(0)
    norm = Normalizer(4)
    seen = []
    for round_ in range(4):
        for _ in range(3):  # several record() calls per update()
            batch = rng.normal(loc=[1.0, -3.0, 10.0, 0.0], scale=[0.5, 2.0, 0.1, 3.0], size=(rng.integers(5, 40), 4))
            seen.append(batch)
            norm.record(torch.tensor(batch, dtype=torch.float32))
        norm.update()
        data = np.concatenate(seen).astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(norm.std.numpy(), data.std(0), rtol=1e-4, atol=1e-6)  # population std
        assert norm.count.item() == len(data)
        x = torch.tensor(rng.normal(size=(3, 4)), dtype=torch.float32)
        expected = (x.numpy() - data.mean(0)) / (data.std(0) + 1e-4)
        np.testing.assert_allclose(norm.normalize(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_statistics_only_change_at_update_and_constant_features_use_the_floor():
    norm = Normalizer(2)
    norm.record(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    torch.testing.assert_close(norm.mean, torch.zeros(2))  # not yet merged
    norm.update()
    torch.testing.assert_close(norm.mean, torch.tensor([2.0, 5.0]))
    torch.testing.assert_close(norm.std, torch.tensor([1.0, 1e-4]))  # sqrt(max(0, 1e-8))
    norm.update()  # nothing pending: unchanged
    assert norm.count.item() == 2


def test_record_accepts_leading_dims():
    norm = Normalizer(3)
    x = torch.randn(4, 5, 3)
    norm.record(x)
    norm.update()
    torch.testing.assert_close(norm.mean, x.reshape(-1, 3).mean(0), rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip(tmp_path):
    norm = Normalizer(3)
    norm.record(torch.randn(50, 3) * 2 + 1)
    norm.update()
    path = tmp_path / "norm.pt"
    torch.save(norm.state_dict(), path)
    other = Normalizer(3)
    other.load_state_dict(torch.load(path, weights_only=True))
    x = torch.randn(7, 3)
    torch.testing.assert_close(other.normalize(x), norm.normalize(x))
    # merging continues from the restored statistics
    extra = torch.randn(20, 3)
    for n in (norm, other):
        n.record(extra)
        n.update()
    for key, value in norm.state_dict().items():
        torch.testing.assert_close(other.state_dict()[key], value)
    assert set(norm.state_dict()) == {"count", "running_mean", "running_mean_sq", "mean", "std"}
