"""What every op module shares: the Tensor class, the apply functions, scalar and dtype handling."""

from __future__ import annotations

from .. import _dtypes
from ..autograd.function import Function, apply1, apply2, apply_n
from ..autograd.grad_mode import state
from ..tensor import Tensor

__all__ = [
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
    "as_operand",
    "output_tensor",
    "normalize_dims",
    "check_dim",
]

_wrap = Tensor._wrap
_SCALAR_RANK = {bool: 0, int: 1, float: 2, complex: 3}


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

    def backward_array(self, xp, gy):
        return (xp.astype(gy, self.inputs[0]._data.dtype),)


def cast(x: Tensor, d: _dtypes.dtype) -> Tensor:
    """``x`` as dtype ``d`` (x itself when it already is)."""
    b = x._backend
    nd = b.native_dtype(d)
    if x._data.dtype == nd:
        return x
    return apply1(Cast(nd, b.from_native[x._data.dtype]), x)


def promote(x: Tensor, y: Tensor):
    """Cast two tensors to their common dtype (array-API rules within a kind, PyTorch across)."""
    if x._backend is not y._backend:
        raise RuntimeError(
            f"expected all tensors to be on the same device, but found at least two devices, "
            f"{x._backend.device} and {y._backend.device}"
        )
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


def as_operand(x: Tensor, c):
    """Check a non-Tensor operand of a binary op with ``x``.

    Returns ``(x, c, None)`` for a Python scalar (``x`` cast to float/int/complex first when the
    scalar's kind is higher than ``x``'s, as in PyTorch) or ``(x, None, tensor)`` for array data on
    the CPU. A Python scalar never promotes ``x`` within its kind: float32 * 2.0 stays float32.
    """
    t = type(c)
    if t is float and x._backend.from_native[x._data.dtype].kind in "fc":  # the common case
        return x, c, None
    rank = _SCALAR_RANK.get(t)
    if rank is None:
        if hasattr(c, "item") and getattr(c, "ndim", None) == 0 and not isinstance(c, Tensor):
            # a NumPy (or array-API) scalar from the host: its value, not a tensor
            if getattr(c, "__dlpack_device__", None) is not None and c.__dlpack_device__()[0] != 1:
                raise TypeError(
                    f"a 0-d {type(c).__name__} from another device can't be mixed with a Tensor; wrap it with tw.tensor"
                )
            return as_operand(x, c.item())
        if isinstance(c, (list, tuple)) or hasattr(c, "__array_interface__"):
            if x._backend.device.type != "cpu":
                raise TypeError(
                    f"can't combine a {type(c).__name__} with a tensor on {x.device}: that would copy "
                    f"it to the device silently; make it a tensor first: tw.tensor(data, device=...)"
                )
            return x, None, Tensor(c, device=x.device)
        raise TypeError(f"unsupported operand type for a Tensor op: {type(c).__name__}")
    k = kind(x)
    if rank > _dtypes._KIND_RANK[k]:
        if t is float:
            x = cast(x, _dtypes.get_default_dtype())
        elif t is int:
            x = cast(x, _dtypes.int64)
        elif t is complex:  # PyTorch: float64 -> complex128, else the default dtype's complex
            d = x._backend.from_native[x._data.dtype]
            wide = d is _dtypes.float64 or _dtypes.get_default_dtype() is _dtypes.float64
            x = cast(x, _dtypes.complex128 if wide else _dtypes.complex64)
    return x, c, None


def output_tensor(fn: Function, y) -> Tensor:
    """The output of ``fn`` rebuilt from its saved array, for a backward that needs it.

    Under ``create_graph`` it is connected to ``fn`` again, so second derivatives flow through it
    (saving the output tensor itself would keep a reference cycle alive after the step).
    """
    t = _wrap(y, fn.inputs[0]._backend)
    if state.enabled:
        t._requires_grad = True
        t.grad_fn = fn
    return t


def check_dim(dim: int, ndim: int) -> int:
    """A dimension index in ``[-ndim, ndim)`` made non-negative; an IndexError names the range."""
    n = max(ndim, 1)
    if not isinstance(dim, int) or not -n <= dim < n:
        raise IndexError(f"dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def normalize_dims(dim, ndim: int):
    """``dim`` (None, an int or a tuple of ints) as None or a sorted tuple of non-negative axes."""
    if dim is None:
        return None
    if isinstance(dim, int):
        return (check_dim(dim, ndim),) if ndim else ()
    axes = tuple(sorted({check_dim(d, ndim) for d in dim})) if ndim else ()
    if ndim and len(axes) != len(tuple(dim)):
        raise ValueError(f"dim {tuple(dim)} appears more than once")
    return axes
