"""deploy_real.runtime.CpuFunction: a compiled function equals the eager one on inputs it was not traced
on, with either engine; engines are chosen and refused clearly."""

import numpy as np
import pytest
import torch

from deploy_real import runtime
from deploy_real.runtime import CpuFunction, resolve_engine


def _quat_and_history(q, frame, steps):
    """Value-independent ops of the kinds the observation uses: trig, cat, where on an int input."""
    roll = torch.atan2(2 * (q[3] * q[0] + q[1] * q[2]), 1 - 2 * (q[0] ** 2 + q[1] ** 2))
    pitch = torch.asin(torch.clamp(2 * (q[3] * q[1] - q[2] * q[0]), -1, 1))
    angles = torch.stack([roll, pitch]).unsqueeze(0)
    history = frame.unsqueeze(1).expand(1, 4, frame.shape[-1])
    shifted = torch.cat([history[:, 1:], 2 * frame.unsqueeze(1)], dim=1)
    return angles, torch.where((steps <= 1).view(-1, 1, 1), history, shifted)


def _inputs(rng, steps):
    q = rng.normal(size=4).astype(np.float32)
    return q / np.linalg.norm(q), rng.normal(size=(1, 6)).astype(np.float32), np.array([steps], dtype=np.int64)


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_compiled_function_equals_eager_on_new_inputs(engine):
    if engine == "onnxruntime":
        pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    f = CpuFunction(_quat_and_history, _inputs(rng, 5), ["q", "frame", "steps"], ["angles", "history"], engine)
    assert f.engine == engine
    for steps in (0, 1, 2, 7):  # both sides of the where, none of them the traced example's value
        args = _inputs(rng, steps)
        got = f(*args)
        with torch.no_grad():
            expected = _quat_and_history(*(torch.from_numpy(a) for a in args))
        assert len(got) == 2 and all(isinstance(g, np.ndarray) for g in got)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e.numpy(), atol=1e-6)


def test_engine_choice(monkeypatch):
    with pytest.raises(ValueError, match="engine must be one of"):
        resolve_engine("tensorrt")
    monkeypatch.setattr(runtime, "onnxruntime_available", lambda: False)
    assert resolve_engine("auto") == "torch"
    with pytest.raises(RuntimeError, match="pip install onnxruntime"):
        resolve_engine("onnxruntime")


def test_a_graph_that_differs_from_the_function_is_refused(monkeypatch):
    """The start-up check compares the compiled graph with eager torch, each output within 1e-5 x (1 + |value|);
    a wrong graph is not used, float32 rounding of large values is no error."""
    off = {"by": 1e-3}
    monkeypatch.setattr(CpuFunction, "_torch", lambda self, fn, examples: lambda *arrays: (arrays[0] + off["by"],))
    with pytest.raises(RuntimeError, match="differs from the torch function by 0.0005 x"):  # 1e-3 / (1 + 1)
        CpuFunction(lambda x: x * 1.0, (np.ones(3, dtype=np.float32),), ["x"], ["y"], "torch")
    large = np.full(3, 200.0, dtype=np.float32)
    off["by"] = 1.5e-3  # 1.5e-3 / 201: within 1e-5 x (1 + 200), though over 1e-5 absolute
    CpuFunction(lambda x: x * 1.0, (large,), ["x"], ["y"], "torch")
    off["by"] = 2.5e-3  # 2.5e-3 / 201 > 1e-5
    with pytest.raises(RuntimeError, match="differs from the torch function"):
        CpuFunction(lambda x: x * 1.0, (large,), ["x"], ["y"], "torch")
