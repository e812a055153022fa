"""pose.utils.cuda_graph.GraphedCall: eager on the CPU; on CUDA warm-up calls, one capture, then
replays that do the same work as eager calls (skipped without a GPU)."""

import pytest
import torch

from pose.utils.cuda_graph import GraphedCall


def counter_step(state, calls):
    def fn():
        calls.append(1)
        state["x"].mul_(2.0).add_(state["y"])
        state["y"].copy_(torch.sin(state["x"]))

    return fn


def fresh(device):
    return {"x": torch.linspace(0.1, 1.0, 8, device=device), "y": torch.full((8,), 0.5, device=device)}


def test_cpu_runs_the_function_at_every_call():
    state, calls = fresh("cpu"), []
    call = GraphedCall(counter_step(state, calls), "cpu")
    assert not call.enabled
    for _ in range(5):
        call()
    assert len(calls) == 5 and call.graph is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_replays_do_what_eager_calls_do():
    graphed, eager = fresh("cuda"), fresh("cuda")
    calls = []
    call = GraphedCall(counter_step(graphed, calls), "cuda", warmup=2)
    plain = counter_step(eager, [])
    for _ in range(6):
        call()
        plain()
    torch.cuda.synchronize()
    assert call.graph is not None
    assert len(calls) == 3  # two warm-up calls and the capture; the rest were replays
    torch.testing.assert_close(graphed["x"], eager["x"])
    torch.testing.assert_close(graphed["y"], eager["y"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_compiled_function_may_call_it():
    """torch.compile of a caller: the warm-up, capture and replays run outside the traced code."""
    graphed, eager = fresh("cuda"), fresh("cuda")
    call = GraphedCall(counter_step(graphed, []), "cuda", warmup=2)
    plain = counter_step(eager, [])

    def caller(scale):
        call()
        return graphed["x"] * scale

    compiled = torch.compile(caller, backend="aot_eager")
    for _ in range(5):
        out = compiled(torch.tensor(2.0, device="cuda"))
        plain()
    torch.cuda.synchronize()
    assert call.graph is not None
    torch.testing.assert_close(graphed["x"], eager["x"])
    torch.testing.assert_close(out, 2.0 * eager["x"])
