"""The Backend interface: one array-API namespace on one device, plus what the standard lacks."""

from __future__ import annotations

import numpy as np

from .. import _dtypes
from .device import device as Device

__all__ = ["Backend", "BackendUnavailable"]


#: the seed of the last ``tw.manual_seed``: backends made later start from it too
seed: list = [None]


class BackendUnavailable(RuntimeError):
    """A device was asked for whose backend cannot run here; the message says why and what to do."""


class Backend:
    """Arrays of one library on one device.

    ``xp`` is the array-API namespace (from array-api-compat), looked up once when the backend is
    made; op bodies use it directly. The methods here are what the standard lacks: host transfer
    (``transfer``, the one place a host<->device copy happens, counted in ``transfers``),
    scatter-add, random numbers and synchronize.
    """

    #: counts every host<->device copy made by this backend (see ``transfer``)
    transfers: int

    def __init__(self, xp, dev: Device, native_device) -> None:
        self.xp = xp
        self.device = dev
        self.native_device = native_device
        self.transfers = 0
        self.to_native = {}
        self.from_native = {}
        for d in _dtypes.ALL:
            nd = self._native_dtype(d)
            if nd is not None:
                self.to_native[d] = nd
                self.from_native[nd] = d
        self._seed_rng(seed[0])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.device}>"

    def __reduce__(self):
        # one backend per device: copies and unpickled tensors share it (namespaces don't pickle)
        from . import get_backend

        return get_backend, (str(self.device),)

    # -- dtypes -------------------------------------------------------------------------------
    def _native_dtype(self, d: _dtypes.dtype):
        t = getattr(self.xp, d.name, None)
        # NOTE: the dtype of an actual array, since it is the key of ``from_native``: some namespaces
        # (NumPy) name scalar types, which compare equal to their arrays' dtypes but hash differently.
        return None if t is None else self.xp.empty((0,), dtype=t, device=self.native_device).dtype

    def native_dtype(self, d: _dtypes.dtype):
        """The backend's dtype object for ``d``; a TypeError names dtypes the backend lacks."""
        try:
            return self.to_native[d]
        except KeyError:
            raise TypeError(f"{d} is not supported on device {self.device}") from None

    # -- host <-> device ----------------------------------------------------------------------
    def transfer(self, x, to_host: bool):
        """Copy ``x`` to the host (returns a NumPy array) or to this device (from a NumPy array).

        NOTE: every host<->device copy that tensorweaver makes goes through here, so that tests
        and benchmarks can count them (``transfers``); nothing in the hot path calls it.
        """
        self.transfers += 1
        return self._to_host(x) if to_host else self._from_host(x)

    def _to_host(self, x) -> np.ndarray:
        raise NotImplementedError

    def _from_host(self, x: np.ndarray):
        raise NotImplementedError

    def memory_owner(self, x):
        """The array that owns the memory ``x`` spans when ``x`` spans all of it (``x`` itself, or a
        whole contiguous view of it); None when ``x`` is part of it or it is unknown (array-API
        arrays have no ``base``: the engine then copies a gradient before handing it to a ``.grad``)."""
        return None

    def memory_base(self, x):
        """The array that owns the memory of ``x`` (``x`` itself, or the base of any view of it);
        None when unknown."""
        return None

    def is_transposed(self, x) -> bool:
        """True when ``x`` is laid out as the transpose of a C-contiguous matrix (a ``.mT`` view).

        Matmul's backward then computes that operand's gradient transposed too, so it reaches a
        ``W`` used as ``x @ W.T`` in W's own layout (as PyTorch's mm backward does).
        """
        return False

    def from_host_shared(self, x: np.ndarray):
        """Wrap a NumPy array without copying where the backend can (``tw.from_numpy``)."""
        return self.transfer(x, to_host=False)

    # -- what the standard lacks ---------------------------------------------------------------
    def scatter_add(self, x, index, values):
        """Return a copy of ``x`` with ``values`` added at ``x[index]``; repeated indices add up.

        This generic version works on any array-API namespace: it indexes an array of flat
        positions with the same ``index`` and adds through a one-hot matrix product, so it never
        leaves the device (memory is O(x.size * values.size); backends override it).
        """
        xp = self.xp
        n = 1
        for s in x.shape:
            n *= s
        pos = xp.reshape(xp.arange(n, device=self.native_device), x.shape)[index]
        vals = xp.reshape(xp.broadcast_to(values, pos.shape), (-1,))
        pos = xp.reshape(pos, (-1,))
        onehot = xp.astype(xp.arange(n, device=self.native_device)[:, None] == pos[None, :], x.dtype)
        return x + xp.reshape(onehot @ vals, x.shape)

    def _seed_rng(self, seed: int | None) -> None:
        self._rng_seed, self._host_rng_made = seed, None

    @property
    def _host_rng(self):
        """NumPy's generator for this backend, made on first use: importing numpy.random costs
        10 modules and 6 MB of RSS that a program drawing no random numbers need not pay."""
        rng = self._host_rng_made
        if rng is None:
            rng = self._host_rng_made = np.random.default_rng(self._rng_seed)
        return rng

    def manual_seed(self, seed: int) -> None:
        """Reseed this backend's random generator."""
        self._seed_rng(seed)

    def rand(self, shape: tuple[int, ...], dtype: _dtypes.dtype):
        """Uniform [0, 1). The generic version draws on the host and copies (counted)."""
        a = self._host_rng.random(shape, dtype=np.dtype(dtype.name))
        return self.transfer(a, to_host=False)

    def randn(self, shape: tuple[int, ...], dtype: _dtypes.dtype):
        """Standard normal samples (drawn on the host and copied, in this generic version)."""
        a = self._host_rng.standard_normal(shape, dtype=np.dtype(dtype.name))
        return self.transfer(a, to_host=False)

    def randint(self, low: int, high: int, shape: tuple[int, ...], dtype: _dtypes.dtype):
        """Integers in [low, high) (drawn on the host and copied, in this generic version)."""
        a = self._host_rng.integers(low, high, shape, dtype=np.dtype(dtype.name))
        return self.transfer(a, to_host=False)

    def synchronize(self) -> None:
        """Wait for all queued work on this device (a no-op on synchronous backends)."""

    @classmethod
    def availability(cls, index: int | None = None) -> tuple[bool, str]:
        """``(True, "")`` when the backend can run here, else ``(False, why and how to fix)``."""
        return True, ""


def host_array(data, dtype: _dtypes.dtype | None) -> np.ndarray:
    """Python scalars, nested lists and NumPy arrays to a NumPy array with tensorweaver's dtypes.

    Python floats become the default dtype (float32), ints int64, bools bool; NumPy arrays and
    NumPy scalars keep their dtype unless ``dtype`` is given.
    """
    if isinstance(data, (np.ndarray, np.generic)):
        a = np.asarray(data)
    else:
        try:
            a = np.asarray(data)
        except (ValueError, TypeError) as e:
            raise TypeError(f"Tensor(): could not make an array of {_describe(data)}: {e}") from None
        if a.dtype == object or a.dtype.kind not in "biufc":
            raise TypeError(
                f"Tensor(): data must be a number, a (nested) list of numbers, a NumPy array or a "
                f"Tensor; got {_describe(data)}"
            )
        if dtype is None and a.dtype.kind == "f":
            dtype = _dtypes.get_default_dtype()
        elif dtype is None and a.dtype.kind == "c":
            dtype = _dtypes.default_complex()
        elif dtype is None and a.dtype.kind == "i":
            dtype = _dtypes.int64
    if dtype is not None and a.dtype.name != dtype.name:
        a = a.astype(dtype.name)
    return a


def _describe(data) -> str:
    r = repr(data)
    if len(r) > 60:
        r = r[:57] + "..."
    return f"{type(data).__name__} {r}"
