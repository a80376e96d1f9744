"""A compiled step on CUDA as one CUDA graph: after a warm replay, the program's array code is captured
with CuPy's stream capture into static buffers, and each later call copies its inputs into them and
makes one graph launch.

CuPy's API used here (CuPy's documentation, ``cupy/cuda/stream.pyx`` and ``cupy/cuda/graph.pyx``):
``cupy.cuda.Stream(non_blocking=True)``; ``Stream.begin_capture(mode=None)`` (relaxed mode by default,
so that a memory pool may grow during the capture) and ``Stream.end_capture()`` returning a
``cupy.cuda.graph.Graph``; ``Graph.launch(stream=None)``; ``cupy.cuda.MemoryPool()`` and
``cupy.cuda.using_allocator(pool.malloc)`` (a thread-local allocator inside a ``with`` block).

NOTE: CuPy has no graph-private memory pool, so the capture allocates from a pool of its own that
nothing else allocates from afterwards: the blocks the captured kernels read and write are never
handed to another array. Every array of the captured call is kept alive with the graph.
"""

from __future__ import annotations

from ._program import MISS

__all__ = ["GraphReplay", "is_cuda_program"]


def is_cuda_program(prog) -> bool:
    """True when the program's arrays are CuPy arrays."""
    return prog.cuda


class GraphReplay:
    """Runs a ``Program`` on CUDA: the first replay per kernel (warm: kernels compiled, pools grown),
    the second captures the array code into a CUDA graph, later ones launch it.

    A graph holds the host numbers of its capture (a learning rate, Adam's bias corrections) as
    kernel arguments: a call whose numbers differ replays per kernel instead (and captures again
    after ``RECAPTURE_AFTER`` calls with the same new numbers). A program with random draws is not
    captured (CuPy's generator advances on the host).
    """

    RECAPTURE_AFTER = 2

    def __init__(self, prog) -> None:
        self.prog = prog
        self.graph = None
        self.warm = 0
        self.static_in: tuple = ()
        self.static_out: tuple = ()
        self.ys: tuple = ()
        self.keep: list = []  # everything the graph reads or writes, alive as long as it is
        self.direct: set = set()  # inputs the graph reads in place (the tensors' own arrays)
        self.capturable = not prog.has_random
        self.launches = 0
        self._pending_ys = None
        self._same = 0

    def run(self, args, kwargs):
        g = self.prog.guard(args, kwargs)
        if g is MISS:
            return MISS
        head, ins, ys = g
        if self.graph is not None and ys == self.ys:
            outs = self._launch(ins)
            if outs is not None:
                return self.prog.finish(head, outs)
            self.graph = None  # a persistent input array was replaced: capture again
        outs = self.prog.body(*ins, *ys)
        if self.capturable:
            self._maybe_capture(ins, ys)
        return self.prog.finish(head, outs)

    def _maybe_capture(self, ins, ys) -> None:
        if self.graph is not None:  # the numbers changed: capture again once they stay
            self._same = self._same + 1 if ys == self._pending_ys else 1
            self._pending_ys = ys
            if self._same < self.RECAPTURE_AFTER:
                return
        self.warm += 1
        if self.warm >= 1:
            try:
                self._capture(ins, ys)
            except Exception:  # noqa: BLE001 - a capture CuPy refuses: keep per-kernel replays
                self.capturable = False
                self.graph = None

    def _capture(self, ins, ys) -> None:
        import cupy

        # static inputs: an array the tensors have held since the recording (a parameter updated in
        # place) is used itself; others (a new batch each call) get a copy the graph reads
        recorded = [self.prog.input_values[int(name[1:])]() for name in self.prog.split_in]
        self.direct = {i for i, (a, r) in enumerate(zip(ins, recorded, strict=True)) if a is r}
        static_in = tuple(a if i in self.direct else cupy.array(a, copy=True) for i, a in enumerate(ins))
        pool = cupy.cuda.MemoryPool()
        stream = cupy.cuda.Stream(non_blocking=True)
        cupy.cuda.get_current_stream().synchronize()
        with cupy.cuda.using_allocator(pool.malloc), stream:
            stream.begin_capture()
            try:
                outs = self.prog.body(*static_in, *ys)
            finally:
                graph = stream.end_capture()
        self.graph, self.static_in, self.static_out, self.ys = graph, static_in, tuple(outs), ys
        self.keep = [pool, stream, static_in, outs]

    def _launch(self, ins):
        import cupy

        direct = self.direct
        for i, (static, a) in enumerate(zip(self.static_in, ins, strict=True)):
            if a is not static:
                if i in direct:
                    return None
                cupy.copyto(static, a)  # device to device, on the current stream
        assert self.graph is not None
        self.graph.launch(stream=cupy.cuda.get_current_stream())
        self.launches += 1
        for i in self.prog.mutated_inputs:  # in-place updates of a copied input reach the caller's array
            if i not in direct:
                cupy.copyto(ins[i], self.static_in[i])
        # NOTE: outputs are copied: the next launch overwrites the static ones, a caller may keep these
        return tuple(cupy.array(o, copy=True) for o in self.static_out)
