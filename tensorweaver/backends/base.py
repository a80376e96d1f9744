"""The Backend interface: one array-API namespace on one device, plus what the standard lacks."""

from __future__ import annotations

import operator
import os

import numpy as np

from .. import _dtypes
from .._args import index_checks
from .._errors import DataError
from .device import device as Device

__all__ = ["Backend", "BackendUnavailable", "GeneratorImpl", "check_seed", "fresh_seed"]


#: the seed of the last ``tw.manual_seed``: backends made later start from it too
seed: list = [None]

#: the size of a host generator's state (``GeneratorImpl.get_state``): seed, PCG64 state and increment,
#: the has-a-cached-half flag and that cached 32-bit half
_PCG64_STATE_BYTES = 8 + 16 + 16 + 1 + 4


def fresh_seed() -> int:
    """A nondeterministic 64-bit seed from the operating system's entropy."""
    return int.from_bytes(os.urandom(8), "little")


def check_seed(value) -> int:
    """A seed as PyTorch takes it: an int in [-2**63, 2**64); negative seeds wrap around to 2**64 + seed."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise RuntimeError(f"manual_seed expected a long, but got {type(value).__name__}")
    s = operator.index(value)
    if not -(2**63) <= s < 2**64:
        raise ValueError(f"manual_seed: seed {s} is out of range; it must be in [-2**63, 2**64)")
    return s % 2**64


class GeneratorImpl:
    """One stream of random numbers on one backend: its initial seed, and the library's generator
    made from that seed on first use (so that seeding is free and imports nothing).

    ``get_state()`` is a NumPy uint8 array. On the host (the NumPy and generic backends) it is 45
    bytes, little-endian: the initial seed (8), PCG64's 128-bit state (16) and increment (16), the
    has-a-cached-32-bit-half flag (1) and that half (4). CuPy's layout is in ``CupyBackend``.
    """

    __slots__ = ("backend", "initial_seed", "_rng")

    def __init__(self, backend: Backend, seed: int) -> None:
        self.backend = backend
        self.initial_seed = seed
        self._rng = None

    @property
    def rng(self):
        """The library generator (NumPy's or CuPy's), made on first use."""
        rng = self._rng
        if rng is None:
            rng = self._rng = self.backend._make_rng(self.initial_seed)
        return rng

    def manual_seed(self, seed: int) -> None:
        """Restart the stream from ``seed`` (a checked seed, see ``check_seed``)."""
        self.initial_seed, self._rng = seed, None

    def get_state(self) -> np.ndarray:
        """The whole state as a uint8 host array (``set_state`` takes it back)."""
        return self.backend._get_rng_state(self)

    def set_state(self, state) -> None:
        """Restore a state from ``get_state`` (any bytes-like object), on the same kind of backend."""
        self.backend._set_rng_state(self, bytes(memoryview(state).cast("B")))


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
        self.default_generator = GeneratorImpl(self, fresh_seed() if seed[0] is None else seed[0])

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

    def leading_axes_swapped(self, x) -> bool:
        """True when the first two axes of ``x`` are laid out the other way round, outer in memory
        the second (the (N, C, H, W) view of a (C, N, H, W) array that conv2d returns): an op that
        treats those two axes alike (pooling) then runs on the swapped view, reading memory in
        order. False where unknown (array-API arrays have no strides)."""
        return False

    def from_host_shared(self, x: np.ndarray):
        """Wrap a NumPy array without copying where the backend can (``tw.from_numpy``)."""
        return self.transfer(x, to_host=False)

    # -- what the standard lacks ---------------------------------------------------------------
    def check_index_range(self, a, n: int, what: str, *, negative: bool = False, allowed=None, error=None) -> None:
        """Raise if the integer array ``a`` holds a value outside ``[0, n)`` (``[-n, n)`` with
        ``negative``; ``allowed``: one more value that is fine, an ``ignore_index``).

        ``error(v)`` makes the exception for the first bad value ``v`` (default: PyTorch's IndexError
        "index out of range"). On host backends (NumPy, array-API libraries on the CPU) the check is
        eager. NOTE: on CUDA it needs a device-to-host copy of one bool, so it runs only inside
        ``tw.utils.debug_indices()``; otherwise the op maps a bad index past the end or CuPy wraps it
        around (its documented difference from NumPy).
        """
        cuda = self.device.type == "cuda"
        if cuda and not index_checks.debug:
            return
        xp = self.xp
        bad = (a < (-n if negative else 0)) | (a >= n)
        if allowed is not None:
            bad = bad & (a != allowed)
        found = xp.any(bad)
        if not bool(self.transfer(found, to_host=True) if cuda else found):
            return
        host = self.transfer(a, to_host=True).reshape(-1)
        flags = self.transfer(bad, to_host=True).reshape(-1)
        v = int(host[flags.argmax()])
        raise (error(v) if error is not None else IndexError(f"{what}: index {v} out of range (size {n})"))

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

    # -- random numbers ------------------------------------------------------------------------
    # NOTE: this generic version draws with NumPy's PCG64 on the host and copies (counted); the NumPy
    # backend keeps the host arrays, CuPy draws on the device. numpy.random is imported on first use:
    # it costs 10 modules and 6 MB of RSS that a program drawing no random numbers need not pay.
    def _make_rng(self, seed: int):
        """The library generator for a seed (NumPy's PCG64 here)."""
        return np.random.default_rng(seed)

    def _drawn(self, a: np.ndarray):
        """A host array of random draws as an array of this backend (a counted copy)."""
        return self.transfer(a, to_host=False)

    def _rng(self, generator: GeneratorImpl | None):
        return (self.default_generator if generator is None else generator).rng

    def manual_seed(self, seed: int) -> None:
        """Reseed this backend's default generator."""
        self.default_generator.manual_seed(seed)

    def rand(self, shape: tuple[int, ...], dtype: _dtypes.dtype, generator: GeneratorImpl | None = None):
        """Uniform samples in [0, 1) from ``generator`` (the backend's default one when None)."""
        rng = self._rng(generator)
        if dtype.name in ("float32", "float64"):
            return self._drawn(rng.random(shape, dtype=np.dtype(dtype.name)))
        return self._drawn(rng.random(shape, dtype=np.float32).astype(dtype.name))

    def randn(self, shape: tuple[int, ...], dtype: _dtypes.dtype, generator: GeneratorImpl | None = None):
        """Standard normal samples."""
        rng = self._rng(generator)
        if dtype.name in ("float32", "float64"):
            return self._drawn(rng.standard_normal(shape, dtype=np.dtype(dtype.name)))
        return self._drawn(rng.standard_normal(shape, dtype=np.float32).astype(dtype.name))

    def randint(
        self, low: int, high: int, shape: tuple[int, ...], dtype: _dtypes.dtype, generator: GeneratorImpl | None = None
    ):
        """Integers in [low, high) (of a floating dtype too, as in PyTorch)."""
        kind = "int64" if dtype.kind == "f" else dtype.name
        a = self._rng(generator).integers(low, high, shape, dtype=np.dtype(kind))
        return self._drawn(a.astype(dtype.name, copy=False))

    def randperm(self, n: int, dtype: _dtypes.dtype, generator: GeneratorImpl | None = None):
        """A random permutation of ``0 .. n-1``."""
        return self._drawn(self._rng(generator).permutation(n).astype(dtype.name, copy=False))

    def _get_rng_state(self, g: GeneratorImpl) -> np.ndarray:
        # PCG64's state and its cached 32-bit half-word, after the initial seed (see GeneratorImpl.get_state)
        st = g.rng.bit_generator.state
        raw = (
            g.initial_seed.to_bytes(8, "little")
            + st["state"]["state"].to_bytes(16, "little")
            + st["state"]["inc"].to_bytes(16, "little")
            + bytes([st["has_uint32"]])
            + st["uinteger"].to_bytes(4, "little")
        )
        return np.frombuffer(raw, dtype=np.uint8).copy()

    def _set_rng_state(self, g: GeneratorImpl, raw: bytes) -> None:
        if len(raw) != _PCG64_STATE_BYTES:
            raise RuntimeError(
                f"Expected a generator state of {_PCG64_STATE_BYTES} bytes for device {self.device} (from "
                f"get_state() of a generator on that device type) but found the input RNG state size to be {len(raw)}"
            )
        seed = int.from_bytes(raw[:8], "little")
        rng = self._make_rng(seed)
        rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[8:24], "little"), "inc": int.from_bytes(raw[24:40], "little")},
            "has_uint32": raw[40],
            "uinteger": int.from_bytes(raw[41:45], "little"),
        }
        g.initial_seed, g._rng = seed, rng

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
        except (ValueError, TypeError, OverflowError):
            a = None
        listed = isinstance(data, (list, tuple))
        if (
            a is None
            or a.dtype == object
            or a.dtype.kind not in "biufc"
            or (a.dtype == np.uint64 and not isinstance(data, np.generic))
        ):
            err = _data_error(data)  # NOTE: uint64 from a list: an int beyond int64, or NumPy uint64 scalars
            if err is not None:
                raise err
            if a is None or a.dtype == object:
                raise TypeError(f"Tensor(): could not make an array of {_describe(data)}")
        if dtype is None and listed:
            dtype = _numpy_scalars_dtype(data)
        if dtype is None and a.dtype.kind == "f":
            dtype = _dtypes.get_default_dtype()
        elif dtype is None and a.dtype.kind == "c":
            dtype = _dtypes.default_complex()
        elif dtype is None and a.dtype.kind == "i":
            dtype = _dtypes.int64
    if dtype is not None and a.dtype.name != dtype.name:
        a = a.astype(dtype.name)
    return a


def _numpy_scalars_dtype(data) -> _dtypes.dtype | None:
    """PyTorch's dtype for a list holding NumPy scalars: each NumPy scalar counts with its dtype,
    each Python number with its default (int64, the default float, ...), promoted together
    (``[np.float64(1.0)]`` is float64, ``[np.int32(1), 2]`` int64); None without NumPy scalars."""
    python = {
        bool: _dtypes.bool,
        int: _dtypes.int64,
        float: _dtypes.get_default_dtype(),
        complex: _dtypes.default_complex(),
    }
    found: set[_dtypes.dtype] = set()
    numpy_scalars = False
    stack = [data]
    while stack:
        for v in stack.pop():
            if isinstance(v, (list, tuple)):
                stack.append(v)
            elif isinstance(v, np.generic):
                numpy_scalars = True
                found.add(_dtypes.to_dtype(v.dtype.name))
            elif type(v) in python:
                found.add(python[type(v)])
    if not numpy_scalars:
        return None
    out: _dtypes.dtype | None = None
    for d in found:
        out = d if out is None else _dtypes.promote_types(out, d)
    return out


def _data_error(data) -> DataError | None:
    """One sentence saying what is wrong with ``data`` (a ragged list, an integer out of int64's
    range, something that is not a number); None if the nested list is fine."""
    lengths: dict[int, int] = {}
    leaf: list[int] = []  # the depth of the numbers, once one is seen

    def walk(v, depth: int):
        if isinstance(v, (list, tuple)):
            if leaf and depth >= leaf[0]:
                return f"the nested list is ragged: a sequence at dim {depth}, where other entries are numbers"
            n = lengths.setdefault(depth, len(v))
            if n != len(v):
                return f"the nested list is ragged: expected a sequence of length {n} at dim {depth}, got {len(v)}"
            for item in v:
                problem = walk(item, depth + 1)
                if problem:
                    return problem
            return None
        if not leaf:
            leaf.append(depth)
        elif depth != leaf[0]:
            return f"the nested list is ragged: a number ({v!r}) at dim {depth}, where other entries are sequences"
        if isinstance(v, (bool, float, complex, np.generic)):
            return None
        if isinstance(v, int):
            if not -(2**63) <= v < 2**63:
                return f"{v} is out of int64's range [-2**63, 2**63 - 1] (give it as a float, or dtype=tw.float64)"
            return None
        return f"{_describe(v)} is not a number"

    if isinstance(data, (list, tuple, int)):
        problem = walk(data, 0)
        return None if problem is None else DataError(f"Tensor(): {problem} (got {_describe(data)})")
    return DataError(
        f"Tensor(): data must be a number, a (nested) list of numbers, a NumPy array or a Tensor; got {_describe(data)}"
    )


def _describe(data) -> str:
    r = repr(data)
    if len(r) > 60:
        r = r[:57] + "..."
    return f"{type(data).__name__} {r}"
