"""Run a torch function for one robot on the CPU at 50 Hz, with as little overhead per call as possible.

The deploy loop calls three small graphs every 20 ms (proprioception, observation assembly, the policy).
Their arithmetic takes microseconds; what costs is the per-operation dispatch. `CpuFunction` compiles a
torch function once, at start-up, for fixed input shapes:

- engine "onnxruntime": exported to ONNX in memory (`torch.onnx.export`) and run by ONNX Runtime on
  one thread; about half the time of TorchScript per step on a 2-core machine
  (bench/results/deploy_step_cpu_*.json);
- engine "torch": `torch.jit.trace` (a TorchScript module is used as it is);
- engine "auto" (default): ONNX Runtime when `onnxruntime` is installed, TorchScript otherwise.

Either way the function is checked at start-up against eager torch on the example inputs (every output
within 1e-5 x (1 + |value|): float32 rounding grows with the value, e.g. a trained student's base-velocity
estimate of a few m/s): a graph that does not reproduce the function is refused, never run. Nothing in
the functions compiled here branches on values, so a trace of one example is the whole function.
Inputs and outputs are numpy arrays (float32, or int64 where the example is).
"""

from __future__ import annotations

import io
import warnings
from typing import Any, Callable, Dict, Sequence, Tuple

import numpy as np
import torch

ENGINES = ("auto", "onnxruntime", "torch")
PARITY_TOL = 1e-5


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_engine(engine: str) -> str:
    """ "auto" -> "onnxruntime" if installed, else "torch"; an explicit engine must be usable."""
    if engine not in ENGINES:
        raise ValueError("engine must be one of {}, got {!r}".format(ENGINES, engine))
    if engine == "auto":
        return "onnxruntime" if onnxruntime_available() else "torch"
    if engine == "onnxruntime" and not onnxruntime_available():
        raise RuntimeError("engine onnxruntime: the package is not installed (pip install onnxruntime)")
    return engine


class _AsModule(torch.nn.Module):
    """A plain function as a module (what the ONNX exporter takes)."""

    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _as_tuple(out) -> Tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


class CpuFunction:
    """`f(*arrays) -> tuple of arrays`: `fn` compiled for the shapes and dtypes of `example_inputs`."""

    def __init__(
        self,
        fn: Callable,
        example_inputs: Sequence[np.ndarray],
        input_names: Sequence[str],
        output_names: Sequence[str],
        engine: str = "auto",
        name: str = "function",
    ) -> None:
        self.name = name
        self.engine = resolve_engine(engine)
        self.input_names, self.output_names = list(input_names), list(output_names)
        examples = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in example_inputs)
        with torch.inference_mode():
            expected = [t.numpy().copy() for t in _as_tuple(fn(*examples))]
        if len(expected) != len(self.output_names):
            raise ValueError("{}: {} outputs, {} names".format(name, len(expected), len(self.output_names)))
        with warnings.catch_warnings():  # the tracer's notes on Python values that become constants
            warnings.simplefilter("ignore")
            self._run = self._onnxruntime(fn, examples) if self.engine == "onnxruntime" else self._torch(fn, examples)
        got = self(*example_inputs)
        worst = max(
            float(np.max(np.abs(g.astype(np.float64) - e) / (1.0 + np.abs(e)), initial=0.0))
            for g, e in zip(got, expected)
        )
        if not worst <= PARITY_TOL:
            raise RuntimeError(
                "{}: the {} graph differs from the torch function by {:.3g} x (1 + |value|) (> {}) on the example "
                "inputs; not using it".format(name, self.engine, worst, PARITY_TOL)
            )

    def _torch(self, fn: Callable, examples: Tuple[torch.Tensor, ...]) -> Callable:
        if isinstance(fn, torch.jit.ScriptModule):  # constants folded: the same function, a little faster
            graph = torch.jit.freeze(fn.eval())
        else:
            graph = torch.jit.trace(fn, examples, check_trace=False)

        def run(*arrays):
            with torch.inference_mode():
                out = graph(*(torch.from_numpy(a) for a in arrays))
            return tuple(t.numpy() for t in _as_tuple(out))

        return run

    def _onnxruntime(self, fn: Callable, examples: Tuple[torch.Tensor, ...]) -> Callable:
        import onnxruntime as ort

        module = fn if isinstance(fn, torch.nn.Module) else _AsModule(fn)
        buffer = io.BytesIO()
        kwargs: Dict[str, Any] = {
            "input_names": self.input_names,
            "output_names": self.output_names,
            "opset_version": 17,
        }
        if "dynamo" in torch.onnx.export.__code__.co_varnames:
            kwargs["dynamo"] = False  # the TorchScript-based exporter: no onnxscript needed
        torch.onnx.export(module, examples, buffer, **kwargs)  # type: ignore[arg-type]  # a file object works too
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # one robot per call: threads only add latency
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(buffer.getvalue(), opts, providers=["CPUExecutionProvider"])
        names = self.input_names

        def run(*arrays):
            return tuple(session.run(None, dict(zip(names, arrays))))

        return run

    def __call__(self, *arrays: np.ndarray) -> Tuple[np.ndarray, ...]:
        return self._run(*arrays)
