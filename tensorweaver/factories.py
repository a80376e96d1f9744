"""Tensor factories with PyTorch's names and a ``device=`` argument; ``manual_seed``."""

from __future__ import annotations

from . import _dtypes
from . import backends as _backends
from .tensor import Tensor

__all__ = [
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
    "rand_like",
    "randn_like",
    "from_numpy",
    "from_dlpack",
    "manual_seed",
]


def _size(size) -> tuple[int, ...]:
    if len(size) == 1 and not isinstance(size[0], int):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) or s < 0:
            raise ValueError(f"size must be non-negative ints, got {tuple(size)}")
    return tuple(size)


def _make(arr, b, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(arr, b)
    return t.requires_grad_(True) if requires_grad else t


def _float(dtype) -> _dtypes.dtype:
    return _dtypes.get_default_dtype() if dtype is None else _dtypes.to_dtype(dtype)


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (dtype inferred from it when not given)."""
    if dtype is None:
        t = type(fill_value)
        dtype = _dtypes.bool if t is bool else _dtypes.int64 if t is int else _dtypes.get_default_dtype()
    d = _dtypes.to_dtype(dtype)
    b = _backends.get_backend(device)
    return _make(b.xp.full(tuple(size), fill_value, dtype=b.native_dtype(d), device=b.native_device), b, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``, the default dtype unless given."""
    b = _backends.get_backend(device)
    return _make(b.xp.zeros(_size(size), dtype=b.native_dtype(_float(dtype)), device=b.native_device), b, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    b = _backends.get_backend(device)
    return _make(b.xp.ones(_size(size), dtype=b.native_dtype(_float(dtype)), device=b.native_device), b, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor."""
    b = _backends.get_backend(device)
    return _make(b.xp.empty(_size(size), dtype=b.native_dtype(_float(dtype)), device=b.native_device), b, requires_grad)


def _like(fn, x: Tensor, dtype, device, requires_grad, *args) -> Tensor:
    return fn(
        *args,
        dtype=x.dtype if dtype is None else dtype,
        device=x.device if device is None else device,
        requires_grad=requires_grad,
    )


def zeros_like(x: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``x``'s shape, dtype and device unless given."""
    return _like(zeros, x, dtype, device, requires_grad, x.shape)


def ones_like(x: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Ones with ``x``'s shape, dtype and device unless given."""
    return _like(ones, x, dtype, device, requires_grad, x.shape)


def empty_like(x: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor with ``x``'s shape, dtype and device unless given."""
    return _like(empty, x, dtype, device, requires_grad, x.shape)


def full_like(x: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with ``x``'s shape, dtype and device unless given."""
    return _like(full, x, dtype, device, requires_grad, x.shape, fill_value)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``arange(end)`` or ``arange(start, end, step)``: int64 for ints, the default dtype otherwise."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = _dtypes.int64 if all(isinstance(v, int) for v in (start, end, step)) else _dtypes.get_default_dtype()
    b = _backends.get_backend(device)
    d = _dtypes.to_dtype(dtype)
    arr = b.xp.arange(start, end, step, dtype=b.native_dtype(d), device=b.native_device)
    return _make(arr, b, requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    b = _backends.get_backend(device)
    arr = b.xp.linspace(start, end, steps, dtype=b.native_dtype(_float(dtype)), device=b.native_device)
    return _make(arr, b, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    b = _backends.get_backend(device)
    arr = b.xp.eye(n, m, dtype=b.native_dtype(_float(dtype)), device=b.native_device)
    return _make(arr, b, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1), drawn on the device's own generator (see ``manual_seed``)."""
    b = _backends.get_backend(device)
    return _make(b.rand(_size(size), _float(dtype)), b, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    b = _backends.get_backend(device)
    return _make(b.randn(_size(size), _float(dtype)), b, requires_grad)


def randint(low, high=None, size=None, *, dtype=None, device=None) -> Tensor:
    """Integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None:
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint() needs a size, e.g. randint(0, 10, (3,))")
    b = _backends.get_backend(device)
    d = _dtypes.int64 if dtype is None else _dtypes.to_dtype(dtype)
    return _make(b.randint(low, high, tuple(size), d), b, False)


def rand_like(x: Tensor, *, dtype=None, device=None) -> Tensor:
    """Uniform samples in [0, 1) with ``x``'s shape, dtype and device unless given."""
    return _like(rand, x, dtype, device, False, x.shape)


def randn_like(x: Tensor, *, dtype=None, device=None) -> Tensor:
    """Standard normal samples with ``x``'s shape, dtype and device unless given."""
    return _like(randn, x, dtype, device, False, x.shape)


def from_numpy(ndarray) -> Tensor:
    """A CPU tensor sharing memory with a NumPy array (writes show through both ways)."""
    arr, b = _backends.as_array(ndarray, None, "cpu", copy=False)
    if not isinstance(ndarray, type(arr)) or arr is not ndarray:
        raise TypeError(f"from_numpy expects a NumPy ndarray, got {type(ndarray).__name__}")
    return Tensor._wrap(arr, b)


def from_dlpack(ext) -> Tensor:
    """A tensor sharing memory with any DLPack producer on the CPU or a CUDA GPU (zero-copy)."""
    if isinstance(ext, Tensor):
        return ext.detach()
    arr, b = _backends.from_dlpack(ext)
    return Tensor._wrap(arr, b)


def manual_seed(seed: int) -> None:
    """Seed the generators of every device, now and for devices first used later."""
    _backends.manual_seed(seed)
