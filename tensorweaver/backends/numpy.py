"""The NumPy backend: the default, for ``device="cpu"``."""

from __future__ import annotations

import numpy as np

from .. import _dtypes
from ._numpy_namespace import namespace as xp_numpy
from .base import Backend
from .device import device as Device

__all__ = ["NumpyBackend", "SCALAR_TYPES", "seed_global_numpy"]

#: NumPy's scalar types: what NumPy operators return for 0-d arrays (see ``Tensor._wrap``)
SCALAR_TYPES = frozenset(np.dtype(d.name).type for d in _dtypes.ALL)


class NumpyBackend(Backend):
    """NumPy arrays on the host. Host 'transfers' still go through ``transfer`` and are counted,
    so that code proven transfer-free here is transfer-free on a GPU."""

    def __init__(self) -> None:
        super().__init__(xp_numpy, Device("cpu"), "cpu")

    def _native_dtype(self, d):
        return np.dtype(d.name)

    def memory_owner(self, x):
        base = x.base
        if base is None:
            return x
        # NOTE: a C-contiguous view over all of an owning array stands for it (the transposed
        # weight gradient of x @ W.T): handing it on saves a copy per weight and step.
        if type(base) is np.ndarray and base.base is None and x.flags.c_contiguous and x.nbytes == base.nbytes:
            return base
        return None

    def memory_base(self, x):
        base = x.base
        return x if base is None else base if type(base) is np.ndarray else None

    def leading_axes_swapped(self, x) -> bool:
        st = x.strides
        return len(st) >= 2 and st[0] < st[1]

    def is_transposed(self, x) -> bool:
        flags = x.flags
        return flags.f_contiguous and not flags.c_contiguous

    def _to_host(self, x) -> np.ndarray:
        return x

    def _from_host(self, x: np.ndarray):
        return np.array(x, copy=True)

    def from_host_shared(self, x: np.ndarray):
        self.transfers += 1
        return x

    def check_index_range(self, a, n: int, what: str, *, negative: bool = False, allowed=None, error=None) -> None:
        # NOTE: an index array in range is the common case: its min and max (two passes, no
        # temporaries) accept it in ~1/3 of the general test's time (three comparisons and an any()),
        # which still finds the bad value when there is one (an ignore_index below 0 takes it too).
        if a.size == 0 or (a.min() >= (-n if negative else 0) and a.max() < n):
            return
        super().check_index_range(a, n, what, negative=negative, allowed=allowed, error=error)

    def scatter_add(self, x, index, values):
        out = x.copy()
        np.add.at(out, index, values)
        return out

    def _drawn(self, a):
        return a


def seed_global_numpy(seed: int) -> None:
    """Seed NumPy's legacy global generator (``np.random.rand`` and friends), as a DataLoader worker
    does for the datasets it runs: forked workers would otherwise all share their parent's stream."""
    np.random.seed(seed % 2**32)
