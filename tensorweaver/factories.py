"""Tensor factories with PyTorch's names and a ``device=`` argument, random ones with ``generator=``."""

from __future__ import annotations

import operator

from . import _dtypes
from . import backends as _backends
from ._errors import ShapeError, SizeError, ZeroStepError
from .random import generator_impl as _generator_impl
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
    "randint_like",
    "randperm",
    "from_numpy",
    "from_dlpack",
    "as_tensor",
]


def _size(size) -> tuple[int, ...]:
    """``size`` (ints, or one sequence of ints) as a tuple of ints; a SizeError (TypeError and
    ValueError) names an entry that is not an int, a ShapeError a negative one."""
    if len(size) == 1 and not hasattr(size[0], "__index__"):
        if not isinstance(size[0], (list, tuple)) and not hasattr(size[0], "__iter__"):
            raise SizeError(f"size must be a tuple of ints, got {type(size[0]).__name__} {size[0]!r}")
        size = tuple(size[0])
    for i, s in enumerate(size):
        if not hasattr(s, "__index__"):
            raise SizeError(f"size must be a tuple of ints, got {tuple(size)}: entry {i} is {type(s).__name__} {s!r}")
        if operator.index(s) < 0:
            raise ShapeError(f"size must be non-negative, got {tuple(size)}: entry {i} is {s}")
    return tuple(operator.index(s) for s in size)


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
    if step == 0:
        raise ZeroStepError(f"arange: step must be nonzero (got start={start}, end={end}, step=0)")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: the bounds start={start}, end={end} are inconsistent with the sign of step={step}")
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


def _random_float(dtype, what: str) -> _dtypes.dtype:
    d = _float(dtype)
    if d.kind != "f":
        raise TypeError(f"{what}(): expected a floating-point dtype, got {d}")
    return d


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1), from ``generator`` or the device's default generator."""
    b = _backends.get_backend(device)
    d = _random_float(dtype, "rand")
    return _make(b.rand(_size(size), d, _generator_impl(generator, b)), b, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples, from ``generator`` or the device's default generator."""
    b = _backends.get_backend(device)
    d = _random_float(dtype, "randn")
    return _make(b.randn(_size(size), d, _generator_impl(generator, b)), b, requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad: bool = False):
    """Integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``; int64 unless given."""
    if size is None:
        low, high, size = 0, low, high
    if size is None or high is None:
        raise TypeError("randint() needs a size, e.g. randint(0, 10, (3,))")
    if not low < high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    b = _backends.get_backend(device)
    d = _dtypes.int64 if dtype is None else _dtypes.to_dtype(dtype)
    return _make(b.randint(low, high, _size((size,)), d, _generator_impl(generator, b)), b, requires_grad)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 unless given), drawn on the device."""
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"randperm(): n must be an int, got {type(n).__name__}")
    n = int(n)
    if n < 0:
        raise RuntimeError(f"randperm(): n must be non-negative, got {n}")
    b = _backends.get_backend(device)
    d = _dtypes.int64 if dtype is None else _dtypes.to_dtype(dtype)
    return _make(b.randperm(n, d, _generator_impl(generator, b)), b, requires_grad)


def rand_like(x: Tensor, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) with ``x``'s shape, dtype and device unless given, from ``generator``."""
    return rand(
        *x.shape,
        generator=generator,
        dtype=x.dtype if dtype is None else dtype,
        device=x.device if device is None else device,
        requires_grad=requires_grad,
    )


def randn_like(x: Tensor, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with ``x``'s shape, dtype and device unless given, from ``generator``."""
    return randn(
        *x.shape,
        generator=generator,
        dtype=x.dtype if dtype is None else dtype,
        device=x.device if device is None else device,
        requires_grad=requires_grad,
    )


def randint_like(
    x: Tensor, low: int = 0, high: int | None = None, *, generator=None, dtype=None, device=None, requires_grad=False
):
    """Integers in [low, high) with ``x``'s shape, dtype and device unless given: ``randint_like(x, high)``
    or ``randint_like(x, low, high)``, from ``generator``."""
    if high is None:
        low, high = 0, low
    return randint(
        low,
        high,
        tuple(x.shape),
        generator=generator,
        dtype=x.dtype if dtype is None else dtype,
        device=x.device if device is None else device,
        requires_grad=requires_grad,
    )


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


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing memory where it can: a tensor already of that dtype and device is
    returned itself, a NumPy array wanted on the CPU with its own dtype is shared (``from_numpy``);
    anything else is copied (``tw.tensor``). Not in the graph unless ``data`` is a tensor in it."""
    if isinstance(data, Tensor):
        return data.to(device, dtype)
    b = _backends.get_backend(device)
    if b is _backends.cpu and type(data).__module__ == "numpy" and hasattr(data, "__array_interface__"):
        if getattr(data, "ndim", 0) and (dtype is None or _dtypes.to_dtype(dtype).name == str(data.dtype)):
            return from_numpy(data)
    return Tensor(data, dtype=dtype, device=b.device)
