"""The Python floor of an eager autograd on the textbook loop: ``python -m benchmarks.floor``.

Not tensorweaver: a throwaway autograd with only the six ops of the chapter's loop and no checks at
all (no devices, no dtype rules, no grad modes, no hooks, no error messages), the same rank-ordered
engine as tensorweaver's, timed against the hand-written NumPy loop in the same process. It
measures how close any eager, op-by-op Python design can come to hand-written NumPy here
(benchmarks/NOTES.md, session 2): what is left between it and tensorweaver is the cost of the checks
and features; what is between it and NumPy is the per-op dispatch itself.
"""

from __future__ import annotations

import heapq
import itertools
import statistics
import time

import numpy as np

from .common import CELSIUS, FAHRENHEIT, LR_TEXTBOOK, textbook_init

_seq = itertools.count(0, -1).__next__


class T:
    __slots__ = ("d", "rg", "g", "fn")

    def __init__(self, d, rg=False) -> None:
        self.d, self.rg, self.g, self.fn = d, rg, None, None


def _wrap(d):
    t = object.__new__(T)
    t.d, t.rg, t.g, t.fn = d, False, None, None
    return t


class _Fn:
    __slots__ = ("inputs", "seq")


def _record(out, fn, inputs):
    out.rg, out.fn, fn.inputs, fn.seq = True, fn, inputs, _seq()


class _MatMul(_Fn):
    __slots__ = ()

    def bw(self, gy):
        x, y = self.inputs
        return (gy @ y.d.T if x.rg else None, x.d.T @ gy if y.rg else None)


class _Transpose(_Fn):
    __slots__ = ()

    def bw(self, gy):
        return (gy.T,)


class _Add(_Fn):
    __slots__ = ()

    def bw(self, gy):
        x, y = self.inputs
        gb = np.add.reduce(gy, axis=0) if y.rg and y.d.shape != gy.shape else gy
        return (gy if x.rg else None, gb if y.rg else None)


class _Sub(_Fn):
    __slots__ = ()

    def bw(self, gy):
        x, y = self.inputs
        return (gy if x.rg else None, -gy if y.rg else None)


class _Square(_Fn):
    __slots__ = ()

    def bw(self, gy):
        return (gy * (self.inputs[0].d * 2),)


class _Mean(_Fn):
    __slots__ = ()

    def bw(self, gy):
        x = self.inputs[0].d
        return (np.full(x.shape, gy / x.size, x.dtype),)


def _binary(cls, f):
    def op(a, b):
        if a.d.dtype != b.d.dtype:  # cast both to the wider dtype, as tensorweaver's recorded operands
            dt = np.promote_types(a.d.dtype, b.d.dtype)
            a = a if a.d.dtype == dt else _wrap(a.d.astype(dt))
            b = b if b.d.dtype == dt else _wrap(b.d.astype(dt))
        out = _wrap(f(a.d, b.d))
        if a.rg or b.rg:
            _record(out, cls(), (a, b))
        return out

    return op


def _transpose(a):
    out = _wrap(a.d.T)
    if a.rg:
        _record(out, _Transpose(), (a,))
    return out


def _pow(a, c):
    out = _wrap(a.d * a.d if c == 2 else a.d**c)
    if a.rg:
        _record(out, _Square(), (a,))
    return out


def _mean(a):
    out = _wrap(np.add.reduce(a.d, axis=None) / a.d.size)
    if a.rg:
        _record(out, _Mean(), (a,))
    return out


def _backward(root):
    fn = root.fn
    pending = {fn: np.ones((), root.d.dtype)}
    heap = [(fn.seq, fn)]
    leaves = {}
    while heap:
        fn = heapq.heappop(heap)[1]
        gy = pending.pop(fn)
        for x, gx in zip(fn.inputs, fn.bw(gy)):  # noqa: B905 - a floor: no checks
            if gx is None:
                continue
            p = x.fn
            if p is None:
                if x.rg:
                    old = leaves.get(x)
                    leaves[x] = gx if old is None else old + gx
            elif p in pending:
                pending[p] = pending[p] + gx
            else:
                pending[p] = gx
                heapq.heappush(heap, (p.seq, p))
        fn.inputs = None
    for x, g in leaves.items():
        x.g = _wrap(g) if x.g is None else _wrap(x.g.d + g)


def _isub(self, o):
    self.d -= o.d
    return self


T.__matmul__ = _binary(_MatMul, np.matmul)
T.__add__ = _binary(_Add, np.add)
T.__sub__ = _binary(_Sub, np.subtract)
T.T = property(_transpose)
T.__pow__ = _pow
T.mean = _mean
T.backward = _backward
T.data = property(lambda self: _wrap(self.d), lambda self, v: setattr(self, "d", v.d))
T.__rmul__ = lambda self, c: _wrap(self.d * c)
T.__isub__ = _isub


class TextbookFloor:
    """The chapter's loop, verbatim, on the throwaway autograd above."""

    def __init__(self) -> None:
        self.x = T(np.array(CELSIUS, dtype=np.float32))
        self.y = T(np.array(FAHRENHEIT, dtype=np.float32))
        self.w0, self.b0 = textbook_init()
        self.reset()

    def reset(self) -> None:
        self.w, self.b = T(self.w0.copy(), True), T(self.b0.copy(), True)

    def result(self):
        return self.w.d, self.b.d

    def step(self) -> None:
        x, y, w, b, lr = self.x, self.y, self.w, self.b, LR_TEXTBOOK
        pred = x @ w.T + b
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        w.data -= lr * w.g
        b.data -= lr * b.g
        w.g = None
        b.g = None


def main() -> None:
    from . import models_numpy as mn
    from . import models_tw as mt

    models = {"floor (no checks)": TextbookFloor(), "tensorweaver": mt.TextbookTW(), "numpy": mn.TextbookNumpy()}
    times: dict = {k: [] for k in models}
    for _ in range(15):
        for k, m in models.items():
            t = time.process_time()
            for _ in range(1000):
                m.step()
            times[k].append((time.process_time() - t) * 1e3)
    w, b = models["numpy"].result()  # every model made the same steps from the same start
    for got, want in zip(models["floor (no checks)"].result(), (w, b), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    base = statistics.median(times["numpy"])
    print("textbook loop, 1000 epochs, CPU time, 15 interleaved repeats")
    for k, v in times.items():
        med = statistics.median(v)
        print(f"{k:18s} median {med:6.1f} ms  min {min(v):6.1f} ms  {med / base:4.2f}x NumPy")


if __name__ == "__main__":
    main()
