"""GraphedCall: a function of device work replayed from one CUDA graph (inference only, CUDA only).

`GraphedCall(fn, device)()` runs `fn()` eagerly on the CPU. On CUDA the first `warmup` calls run
eagerly on a side stream (what capture needs: allocator and library handles warmed up), the next one
records `fn()` into a `torch.cuda.CUDAGraph` and replays it, and every later call only replays it:
one launch instead of the hundreds of small kernels that `fn` issues. `fn` must do device work only
on tensors that stay the same (it reads and writes the buffers it closes over in place; nothing
read on the host, no random draws, no new shapes); tensors that `fn` allocates during the capture
are the graph's and are overwritten by every replay. `enabled=False` always runs `fn()` eagerly.
A function compiled with torch.compile may call it: the CUDA warm-up, capture and replays run
outside the traced code (`torch.compiler.disable`), as the CMG motion library's masked reset does
inside a compiled env reset.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

#: Runs a function outside torch.compile's tracing (a no-op decorator where torch has no
#: torch.compiler, e.g. older versions on the Isaac Gym path).
not_traced = getattr(getattr(torch, "compiler", None), "disable", None) or (lambda fn: fn)


class GraphedCall:
    def __init__(self, fn: Callable[[], None], device, enabled: bool = True, warmup: int = 2):
        self.fn = fn
        self.device = torch.device(device)
        self.enabled = bool(enabled) and self.device.type == "cuda"
        self.warmup = int(warmup)
        self.calls = 0
        self.graph: Optional[torch.cuda.CUDAGraph] = None

    def __call__(self) -> None:
        if not self.enabled:
            self.fn()
            return
        self._replay_or_capture()

    @not_traced
    def _replay_or_capture(self) -> None:
        if self.graph is not None:
            self.graph.replay()
            return
        main = torch.cuda.current_stream(self.device)
        if self.calls < self.warmup:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(main)
            with torch.cuda.stream(side):
                self.fn()
            main.wait_stream(side)
            self.calls += 1
            return
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.fn()
        self.graph = graph
        graph.replay()  # capturing ran nothing: this call's work
