"""What every op module shares: the Tensor class, the apply functions, scalar and dtype handling."""

from __future__ import annotations

import warnings

from .. import _dtypes
from .._args import SCALAR_RANK, check_dim, device_error
from ..autograd.function import ALWAYS, Function, apply1, apply2, apply_n
from ..autograd.grad_mode import state
from ..tensor import Tensor

__all__ = [
    "ALWAYS",
    "Function",
    "Tensor",
    "apply1",
    "apply2",
    "apply_n",
    "state",
    "kind",
    "cast",
    "promote",
    "promote_floats",
    "resolve",
    "operands",
    "const",
    "scalar_tensor",
    "float_input",
    "output_tensor",
    "normalize_dims",
    "check_dim",
    "write_out",
    "write_out_pair",
    "keepdim_alias",
]

_wrap = Tensor._wrap


def kind(t: Tensor) -> str:
    """'b', 'i', 'u', 'f' or 'c'."""
    return t._backend.from_native[t._data.dtype].kind


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    __slots__ = ("dtype", "src")
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, dtype, src) -> None:
        self.dtype, self.src = dtype, src

    def forward(self, xp, x):
        return xp.astype(x, self.dtype)

    def backward(self, gy):
        return (cast(gy, self.src),)


def cast(x: Tensor, d: _dtypes.dtype) -> Tensor:
    """``x`` as dtype ``d`` (x itself when it already is)."""
    b = x._backend
    nd = b.native_dtype(d)
    if x._data.dtype == nd:
        return x
    if d.kind not in "fc":  # an integer or bool result has no gradient (PyTorch: outside the graph)
        return _wrap(b.xp.astype(x._data, nd), b)
    return apply1(Cast(nd, b.from_native[x._data.dtype]), x)


def promote(x: Tensor, y: Tensor):
    """Cast two tensors to their common dtype (array-API rules within a kind, PyTorch across)."""
    fn = x._backend.from_native
    d = _dtypes.promote_types(fn[x._data.dtype], fn[y._data.dtype])
    return cast(x, d), cast(y, d)


def promote_floats(x: Tensor, y: Tensor):
    """Two real floating tensors of different dtypes, with only the ones that will be recorded
    (require grad, grad mode on) cast to the wider dtype; None for other pairs (``promote``).

    NOTE: the backend's own promotion of two real floating dtypes is the array API's (float32 with
    float64 gives float64), the same as ``promote``; leaving it to the backend saves a Cast op and a
    copy per constant operand (the chapter's float32 data against float64 weights, every step).
    An operand that is recorded is still cast, so each input's gradient has its own dtype. (CuPy's
    matmul promotes with numpy.promote_types and casts its operands itself, as its elementwise
    kernels do.)
    """
    fn = x._backend.from_native
    dx, dy = fn[x._data.dtype], fn[y._data.dtype]
    if dx.kind != "f" or dy.kind != "f":
        return None
    d = dx if dx.itemsize > dy.itemsize else dy
    if state.enabled:
        if x._requires_grad and dx is not d:
            x = cast(x, d)
        if y._requires_grad and dy is not d:
            y = cast(y, d)
    return x, y


def resolve(x: Tensor, other, what: str, inplace: bool = False):
    """The operands of a binary op on tensor ``x``, checked: the one place that turns Python and NumPy
    scalars, lists, NumPy arrays and tensors of other dtypes into what an op computes with.

    Returns ``(x, y, None)`` with ``y`` a Tensor on ``x``'s device, or ``(x, None, c)`` for a Python
    number ``c``. A NumPy (or other host) scalar is its number; a list or NumPy array becomes a tensor
    on the CPU (elsewhere it is an error: that copy would be silent). Tensors of two dtypes are
    promoted (``promote_floats``, else ``promote``); a number never promotes ``x`` within its kind
    (float32 * 2.0 stays float32), but ``x`` is cast up when the number's kind is higher (an int
    tensor times 0.5 becomes float32), as in PyTorch. With ``inplace`` (``x += other``) ``x`` keeps
    its dtype: ``y`` is cast to it, and a kind that can't be cast to it is a RuntimeError.
    """
    t = type(other)
    if t is Tensor or isinstance(other, Tensor):
        if other._backend is not x._backend:
            raise device_error(what, x.device, other.device)
        if other._data.dtype != x._data.dtype:
            if inplace:
                other = _cast_into(x, other, what)
            else:
                x, other = promote_floats(x, other) or promote(x, other)
        return x, other, None
    if (t is float or t is int) and x._backend.from_native[x._data.dtype].kind in "fc":  # lr * w.grad, d ** 2
        return x, None, other
    rank = SCALAR_RANK.get(t)
    if rank is None:
        if hasattr(other, "item") and getattr(other, "ndim", None) == 0:
            # a NumPy (or array-API) scalar from the host: its value, not a tensor
            if getattr(other, "__dlpack_device__", None) is not None and other.__dlpack_device__()[0] != 1:
                raise TypeError(
                    f"{what}: a 0-d {t.__name__} from another device can't be mixed with a Tensor; "
                    f"wrap it with tw.tensor"
                )
            return resolve(x, other.item(), what, inplace)
        if isinstance(other, (list, tuple)) or hasattr(other, "__array_interface__"):
            if x._backend.device.type != "cpu":
                raise TypeError(
                    f"{what}: can't combine a {t.__name__} with a tensor on {x.device}: that would copy it to the "
                    f"device silently; make it a tensor first: tw.tensor(data, device=...)"
                )
            return resolve(x, Tensor(other, device=x.device), what, inplace)
        raise TypeError(f"{what}: unsupported operand type for a Tensor op: {t.__name__}")
    d = x._backend.from_native[x._data.dtype]
    if rank > _dtypes._KIND_RANK[d.kind]:
        if inplace:
            raise RuntimeError(f"{what}: a Python {t.__name__} can't be applied in place to a {d} tensor")
        if t is float:
            x = cast(x, _dtypes.get_default_dtype())
        elif t is int:
            x = cast(x, _dtypes.int64)
        elif t is complex:  # PyTorch: float64 -> complex128, else the default dtype's complex
            wide = d is _dtypes.float64 or _dtypes.get_default_dtype() is _dtypes.float64
            x = cast(x, _dtypes.complex128 if wide else _dtypes.complex64)
    elif inplace and rank == 0 and d.kind != "b":
        other = int(other)  # NOTE: array-API libraries (array_api_strict) refuse a Python bool with a numeric array
    return x, None, other


def _cast_into(x: Tensor, y: Tensor, what: str) -> Tensor:
    """``y`` as ``x``'s dtype for an in-place op, outside the graph; an error where PyTorch refuses
    the cast (a float into an int tensor, a complex into a float one)."""
    fn = x._backend.from_native
    dx, dy = fn[x._data.dtype], fn[y._data.dtype]
    if _dtypes.promote_types(dx, dy) is not dx and _dtypes._KIND_RANK[dy.kind] > _dtypes._KIND_RANK[dx.kind]:
        raise RuntimeError(f"{what}: result type {dy} can't be cast to the desired output type {dx}")
    return _wrap(x._backend.xp.astype(y._data, x._data.dtype), x._backend)


def operands(x, y, what: str):
    """``x`` and ``y`` (a tensor and a tensor or number, either way round) as two tensors (see
    ``resolve``); a number becomes a 0-d tensor like the other."""
    if not isinstance(x, Tensor):
        y, x = operands(y, x, what)
        return x, y
    x, t, c = resolve(x, y, what)
    return (x, t) if t is not None else (x, scalar_tensor(x, c))


def const(like: Tensor, arr) -> Tensor:
    """A backend array as a Tensor on ``like``'s device, outside the graph (masks and shares used by backward)."""
    return _wrap(arr, like._backend)


def scalar_tensor(like: Tensor, value) -> Tensor:
    """A 0-d tensor of ``like``'s dtype and device holding a Python number."""
    b = like._backend
    return _wrap(b.xp.asarray(value, dtype=like._data.dtype, device=b.native_device), b)


def float_input(x: Tensor) -> Tensor:
    """``x``, or ``x`` as the default float dtype when it is a bool or integer tensor (exp, sqrt, ...)."""
    return x if kind(x) in "fc" else cast(x, _dtypes.get_default_dtype())


def output_tensor(fn: Function, y) -> Tensor:
    """The output of ``fn`` rebuilt from its saved array, for a backward that needs it.

    Under ``create_graph`` it is connected to ``fn`` again, so second derivatives flow through it
    (saving the output tensor itself would keep a reference cycle alive after the step).
    """
    t = _wrap(y, fn.inputs[0]._backend)
    t._vc = fn.out_counter[0]  # the output's storage: its in-place changes are checked
    if state.enabled:
        t._requires_grad = True
        t.grad_fn = fn
    return t


def normalize_dims(dim, ndim: int):
    """``dim`` (None, an int or a tuple of ints) as None or a sorted tuple of non-negative axes."""
    if dim is None:
        return None
    if isinstance(dim, int):
        return (check_dim(dim, ndim),) if ndim else ()
    if isinstance(dim, str) or not hasattr(dim, "__iter__"):
        raise TypeError(f"dim must be an int, a tuple of ints or None, got {type(dim).__name__} {dim!r}")
    axes = tuple(sorted({check_dim(d, ndim) for d in dim})) if ndim else ()
    if ndim and len(axes) != len(tuple(dim)):
        raise ValueError(f"dim {tuple(dim)} appears more than once")
    return axes


def write_out(out, y: Tensor, what: str) -> Tensor:
    """Store the result ``y`` of op ``what`` in the tensor ``out`` and return ``out`` (the ``out=``
    argument of PyTorch's ops): cast to ``out``'s dtype where PyTorch would (never to a lower kind:
    a float result into an int tensor is an error), ``out`` resized (with PyTorch's warning unless it
    is empty) when its shape differs. Like PyTorch, refused when the result needs a gradient."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{what}(): argument 'out' must be a Tensor, got {type(out).__name__}")
    if state.enabled and (y._requires_grad or out._requires_grad):
        raise RuntimeError(
            f"{what}(): functions with out=... arguments don't support automatic differentiation, but one of "
            f"the arguments requires grad."
        )
    if out._backend is not y._backend:
        raise RuntimeError(f"{what}(): expected the out tensor on device {y.device}, but got {out.device}")
    fn = y._backend.from_native
    dy, do = fn[y._data.dtype], fn[out._data.dtype]
    if _dtypes._KIND_RANK[dy.kind] > _dtypes._KIND_RANK[do.kind]:
        raise RuntimeError(f"{what}(): result type {dy} can't be cast to the desired output type {do}")
    shape, want = tuple(out._data.shape), tuple(y._data.shape)
    if shape == want:
        return out.copy_(y)
    if 0 not in shape:
        warnings.warn(
            f"{what}(): an output with one or more elements was resized since it had shape {list(shape)}, which "
            f"does not match the required output shape {list(want)} (as PyTorch, which deprecates it: pass an "
            f"out tensor of the right shape, or an empty one)",
            UserWarning,
            stacklevel=3,
        )
    xp = y._backend.xp
    out._data = xp.astype(y._data, out._data.dtype, copy=True)
    return out


def write_out_pair(out, result, what: str):
    """``out=(values, indices)`` of an op that returns two tensors: each written as ``write_out``."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"{what}(): out must be a tuple of two tensors (values, indices), got {type(out).__name__}")
    return type(result)(write_out(out[0], result[0], what), write_out(out[1], result[1], what))


def keepdim_alias(keepdim, keepdims, what: str) -> bool:
    """``keepdim``, or NumPy's spelling ``keepdims`` where it is given (PyTorch accepts both)."""
    if keepdims is None:
        return keepdim
    if keepdim is not False and bool(keepdim) != bool(keepdims):
        raise TypeError(f"{what}(): got both keepdim={keepdim} and keepdims={keepdims}")
    return keepdims
