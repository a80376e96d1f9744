"""Tensor: a backend array plus autograd metadata; operators and methods delegate to ``ops``."""

from __future__ import annotations

import copy as _copy
import weakref
from typing import TYPE_CHECKING, Any

from . import _args, _dtypes
from . import backends as _backends
from .autograd import engine as _engine
from .autograd import function as _function
from .autograd import grads as _grads
from .autograd.grad_mode import state as _grad_state
from .size import Size

if TYPE_CHECKING:
    from .ops import activation as _activation
    from .ops import compare as _compare
    from .ops import elementwise as _elementwise
    from .ops import indexing as _indexing
    from .ops import linalg as _linalg
    from .ops import reduce as _reduce
    from .ops import shape as _shape
    from .ops import sorting as _sorting
    from .ops import unary as _unary

__all__ = ["Tensor", "tensor", "is_tensor", "numel", "is_floating_point", "is_complex", "allclose", "equal"]


class Tensor:
    """An n-dimensional array on a device (NumPy on the CPU, CuPy on CUDA, or any registered
    array-API backend) that records the ops applied to it for ``backward()``.

    ``Tensor(data, *, dtype=None, device=None, requires_grad=False)``: ``data`` is a Python
    number, a nested list, a NumPy array, a backend array or a Tensor (always copied; use
    ``tw.from_numpy`` or ``tw.from_dlpack`` to share memory). Python floats become
    ``tw.get_default_dtype()`` (float32), ints int64, bools bool; NumPy arrays keep their dtype.

    ``.data`` is a detached tensor sharing this tensor's storage (``w.data -= lr * w.grad`` updates
    ``w`` in place outside the graph); ``.grad`` is a Tensor or None. The raw backend array is
    ``.array`` (a NumPy ndarray on the CPU, a ``cupy.ndarray`` on CUDA).
    """

    __slots__ = (
        "_data",
        "_backend",
        "_requires_grad",
        "_grad",
        "grad_fn",
        "_hooks",
        "_retains_grad",
        "_vc",
        "__weakref__",
    )
    _data: Any  # the backend array
    _backend: _backends.Backend
    _requires_grad: bool
    _grad: Tensor | None
    grad_fn: Any  # the Function that made it (None for a leaf)
    _hooks: dict | None  # a leaf's hooks, or its node's (register_hook)
    _retains_grad: bool
    _vc: Any  # the storage's version counter, shared by views (autograd.function.counter)

    # NumPy on the left must defer to our reflected operators (np.float64(2) * t keeps the graph).
    __array_ufunc__ = None
    __array_function__ = None

    # The ops bound onto the class at import (ops.bind_tensor_methods), declared for type checkers;
    # tests/test_tensor.py keeps this block equal to what is bound.
    if TYPE_CHECKING:
        log_softmax = _activation.log_softmax
        relu = _activation.relu
        sigmoid = _activation.sigmoid
        softmax = _activation.softmax
        bitwise_and = _compare.bitwise_and
        bitwise_not = _compare.bitwise_not
        bitwise_or = _compare.bitwise_or
        bitwise_xor = _compare.bitwise_xor
        eq = _compare.eq
        floor_divide = _compare.floor_divide
        ge = _compare.ge
        gt = _compare.gt
        isfinite = _compare.isfinite
        isinf = _compare.isinf
        isnan = _compare.isnan
        isclose = _compare.isclose
        le = _compare.le
        logical_and = _compare.logical_and
        logical_not = _compare.logical_not
        logical_or = _compare.logical_or
        logical_xor = _compare.logical_xor
        lt = _compare.lt
        ne = _compare.ne
        add = _elementwise.add
        clamp = _elementwise.clamp
        clamp_max = _elementwise.clamp_max
        clamp_min = _elementwise.clamp_min
        clone = _elementwise.clone
        div = _elementwise.div
        maximum = _elementwise.maximum
        minimum = _elementwise.minimum
        mul = _elementwise.mul
        neg = _elementwise.neg
        pow = _elementwise.pow
        remainder = _elementwise.remainder
        sub = _elementwise.sub
        gather = _indexing.gather
        index_select = _indexing.index_select
        argwhere = _indexing.argwhere
        masked_select = _indexing.masked_select
        nonzero = _indexing.nonzero
        select = _indexing.select
        unbind = _indexing.unbind
        masked_fill = _indexing.masked_fill
        scatter_add = _indexing.scatter_add
        matmul = _linalg.matmul
        mm = _linalg.mm
        bmm = _linalg.bmm
        addmm = _linalg.addmm
        dot = _linalg.dot
        outer = _linalg.outer
        all = _reduce.all
        amax = _reduce.amax
        amin = _reduce.amin
        any = _reduce.any
        argmax = _reduce.argmax
        argmin = _reduce.argmin
        broadcast_to = _reduce.broadcast_to
        cumsum = _reduce.cumsum
        logsumexp = _reduce.logsumexp
        max = _reduce.max
        mean = _reduce.mean
        min = _reduce.min
        norm = _reduce.norm
        prod = _reduce.prod
        std = _reduce.std
        sum = _reduce.sum
        var = _reduce.var
        chunk = _shape.chunk
        expand = _shape.expand
        flatten = _shape.flatten
        flip = _shape.flip
        narrow = _shape.narrow
        permute = _shape.permute
        repeat = _shape.repeat
        reshape = _shape.reshape
        split = _shape.split
        squeeze = _shape.squeeze
        transpose = _shape.transpose
        tril = _shape.tril
        triu = _shape.triu
        unflatten = _shape.unflatten
        unsqueeze = _shape.unsqueeze
        view = _shape.view
        roll = _shape.roll
        t = _shape.t
        argsort = _sorting.argsort
        msort = _sorting.msort
        sort = _sorting.sort
        topk = _sorting.topk
        abs = _unary.abs
        ceil = _unary.ceil
        cos = _unary.cos
        erf = _unary.erf
        exp = _unary.exp
        expm1 = _unary.expm1
        floor = _unary.floor
        log = _unary.log
        log1p = _unary.log1p
        log2 = _unary.log2
        log10 = _unary.log10
        reciprocal = _unary.reciprocal
        round = _unary.round
        rsqrt = _unary.rsqrt
        sign = _unary.sign
        sin = _unary.sin
        sqrt = _unary.sqrt
        square = _unary.square
        tanh = _unary.tanh
        trunc = _unary.trunc
        __abs__ = abs
        __add__ = add
        __getitem__ = _indexing.getitem
        __invert__ = bitwise_not
        __matmul__ = matmul
        __mul__ = mul
        __neg__ = neg
        __pow__ = pow
        __radd__ = add
        __rmul__ = mul
        __rpow__ = _elementwise.rpow
        __rsub__ = _elementwise.rsub
        __rtruediv__ = _elementwise.rdiv
        __setitem__ = _indexing.setitem
        __sub__ = sub
        __truediv__ = div
        clip = clamp

        def __and__(self, other) -> Tensor: ...
        def __eq__(self, other) -> Tensor: ...  # type: ignore[override]
        def __floordiv__(self, other) -> Tensor: ...
        def __ge__(self, other) -> Tensor: ...
        def __gt__(self, other) -> Tensor: ...
        def __le__(self, other) -> Tensor: ...
        def __lt__(self, other) -> Tensor: ...
        def __mod__(self, other) -> Tensor: ...
        def __ne__(self, other) -> Tensor: ...  # type: ignore[override]
        def __or__(self, other) -> Tensor: ...
        def __rand__(self, other) -> Tensor: ...
        def __rfloordiv__(self, other) -> Tensor: ...
        def __rmatmul__(self, other) -> Tensor: ...
        def __rmod__(self, other) -> Tensor: ...
        def __ror__(self, other) -> Tensor: ...
        def __rxor__(self, other) -> Tensor: ...
        def __xor__(self, other) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def expand_as(self, other: Tensor) -> Tensor: ...
        def reshape_as(self, other: Tensor) -> Tensor: ...
        def view_as(self, other: Tensor) -> Tensor: ...
        def where(self, condition: Tensor, y) -> Tensor: ...
        @property
        def T(self) -> Tensor: ...
        @property
        def mT(self) -> Tensor: ...

    def __new__(cls, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        if dtype is not None:
            dtype = _dtypes.to_dtype(dtype)
        if isinstance(data, Tensor):
            b = data._backend if device is None else _backends.get_backend(device)
            arr = data._data
            if b is not data._backend:
                arr = b.transfer(data._backend.transfer(arr, to_host=True), to_host=False)
            else:
                arr = b.xp.asarray(arr, copy=True)
            if dtype is not None and b.from_native[arr.dtype] is not dtype:
                arr = b.xp.astype(arr, b.native_dtype(dtype))
        else:
            arr, b = _backends.as_array(data, dtype, device)
        t = _function.output(arr, b, cls)
        if requires_grad:
            t.requires_grad_(True)
        return t

    @classmethod
    def _wrap(cls, data, backend) -> Tensor:
        """A tensor around a backend array, with no copy and no checks (``autograd.function.output``)."""
        return _function.output(data, backend, None if cls is Tensor else cls)

    # -- what it is ---------------------------------------------------------------------------
    @property
    def array(self):
        """The backend array itself (shares memory; no copy, no autograd)."""
        return self._data

    @property
    def shape(self) -> Size:
        """The size of each dimension, a ``tw.Size`` (a tuple of ints)."""
        return _new_size(Size, self._data.shape)

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    @property
    def dtype(self) -> _dtypes.dtype:
        """The data type, a ``tw.dtype`` (the same object on every backend)."""
        return self._backend.from_native[self._data.dtype]

    @property
    def device(self) -> _backends.device:
        """Where the tensor lives, a ``tw.device`` with its index (``cuda:0``)."""
        return self._backend.device

    @property
    def is_cuda(self) -> bool:
        """True for a tensor on a CUDA device."""
        return self._backend.device.type == "cuda"

    def size(self, dim: int | None = None):
        """The shape (a ``tw.Size``), or the length of dimension ``dim`` (an int)."""
        shape = self._data.shape
        return _new_size(Size, shape) if dim is None else shape[_args.check_dim(dim, len(shape))]

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self._data.ndim

    def numel(self) -> int:
        """The number of elements."""
        n = 1
        for s in self._data.shape:
            n *= s
        return n

    def nelement(self) -> int:
        """The number of elements (``numel``)."""
        return self.numel()

    def element_size(self) -> int:
        """The size of one element in bytes."""
        return self.dtype.itemsize

    def contiguous(self, memory_format=None) -> Tensor:
        """This tensor itself: tensorweaver has no strided views to compact (PyTorch's ``contiguous()``
        on a contiguous tensor)."""
        return self

    def is_contiguous(self, memory_format=None) -> bool:
        """True: see ``contiguous``."""
        return True

    def is_complex(self) -> bool:
        """True for complex64 and complex128 tensors."""
        return self.dtype.kind == "c"

    def __index__(self) -> int:
        """The value of a one-element integer (or bool) tensor as an int, so that a tensor can be a
        slice bound or a list index (copies it to the host); anything else is a TypeError, as in PyTorch."""
        if self.dtype.kind not in "biu" or self.numel() != 1:
            raise TypeError(
                f"only integer tensors of a single element can be converted to an index, got a {self.dtype} "
                f"tensor of shape {tuple(self._data.shape)}"
            )
        return int(self.item())

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def is_floating_point(self) -> bool:
        """True for float16, float32 and float64 tensors."""
        return self.dtype.kind == "f"

    # -- autograd metadata --------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """True when backward computes a gradient for this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        """Set ``requires_grad`` (leaves only; see ``requires_grad_``)."""
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether backward computes a gradient for this (leaf) tensor; returns self."""
        requires_grad = bool(requires_grad)
        if self.grad_fn is not None:
            if requires_grad:
                return self
            raise RuntimeError(
                "you can only change requires_grad flags of leaf tensors; use .detach() to get a "
                "tensor that does not require grad"
            )
        if requires_grad and self.dtype.kind not in "fc":
            raise RuntimeError(f"only floating point and complex tensors can require gradients, got {self.dtype}")
        self._requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for a tensor not made by a recorded op (its ``.grad`` is kept)."""
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (a Tensor) after ``backward()``, or None; assign None to reset."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        """Set or reset (None) the gradient; it must match the tensor's shape, dtype and device."""
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad must be a Tensor or None, got {type(value).__name__}")
            if value._backend is not self._backend:
                raise RuntimeError(f"assigned grad is on device {value.device}, but the tensor is on {self.device}")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has shape {value.shape}, but the tensor has shape {self.shape}")
            if value.dtype is not self.dtype:
                raise RuntimeError(f"assigned grad has dtype {value.dtype}, but the tensor has dtype {self.dtype}")
        self._grad = value

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's storage has had (shared by its views, as in
        PyTorch): backward refuses to use a value that changed since an op saved it."""
        return self._vc[0]

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's storage (and version counter), detached from the graph; assignable."""
        t = _function.output(self._data, self._backend)
        vc = self._vc  # NOTE: function.counter inlined here and below (w.data -= ... on every step)
        if vc is _UNCOUNTED:
            vc = self._vc = [0]
        t._vc = vc
        return t

    @data.setter
    def data(self, value: Tensor) -> None:
        """Make this tensor hold ``value``'s storage (same device), outside the graph."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        if value._backend is not self._backend:
            raise RuntimeError(f"cannot set .data of a tensor on {self.device} to a tensor on {value.device}")
        self._data = value._data
        vc = value._vc
        if vc is _UNCOUNTED:
            vc = value._vc = [0]
        self._vc = vc

    def detach(self) -> Tensor:
        """A tensor sharing storage (and version counter) with this one, outside the graph."""
        t = Tensor._wrap(self._data, self._backend)
        t._vc = _function.counter(self)
        return t

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep theirs)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        if self.grad_fn is not None:
            self._retains_grad = True
            self.grad_fn.out_ref = _weakref(self)
            _function.hooks_used = True

    @property
    def retains_grad(self) -> bool:
        """True after ``retain_grad()`` on a non-leaf tensor."""
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces
        the gradient. Returns a handle whose ``remove()`` unregisters the hook."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        hooks = self._hooks
        if hooks is None:
            fn = self.grad_fn
            if fn is None:
                hooks = self._hooks = {}
            else:  # a non-leaf's hooks are its node's: they run even once this object is gone
                hooks = getattr(fn, "hooks", None)
                if hooks is None:
                    hooks = fn.hooks = {}
                self._hooks = hooks
                _function.hooks_used = True
        return _HookHandle(hooks, hook)

    def backward(
        self, gradient: Tensor | None = None, retain_graph: bool | None = None, create_graph: bool = False, inputs=None
    ) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad.

        ``gradient`` is required unless the tensor has one element. The graph is freed afterwards
        unless ``retain_graph=True`` (default: ``create_graph``). With ``inputs`` (a tensor or
        tensors), only their ``.grad`` receive a gradient (leaves or not).
        """
        if inputs is not None:
            inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        _engine.run_backward((self,), (gradient,), retain_graph, create_graph, inputs)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` once backward has accumulated this leaf's ``.grad`` (as PyTorch; a
        leaf's gradient is complete once every op that used it has run its backward, which is when
        DistributedDataParallel starts reducing it). Returns a handle with ``remove()``."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._hooks is None:
            self._hooks = {}
        _function.post_hooks_used = True
        return _HookHandle(self._hooks, _grads.PostAccumulate(hook))

    # -- conversion and copies ---------------------------------------------------------------
    def item(self):
        """The value of a one-element tensor as a Python number (copies it to the host)."""
        n = self.numel()
        if n != 1:
            raise RuntimeError(f"a Tensor with {n} elements cannot be converted to a Python scalar")
        return self._backend.transfer(self._data, to_host=True).item()

    def tolist(self):
        """Nested Python lists (copies to the host)."""
        return self._backend.transfer(self._data, to_host=True).tolist()

    def numpy(self):
        """A NumPy array of this tensor's values: shares memory on the CPU, a host copy elsewhere."""
        if self._requires_grad:
            raise RuntimeError("can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()")
        return _as_ndarray(self._backend.transfer(self._data, to_host=True))

    def __array__(self, dtype=None, copy=None):
        if self._backend is not _backends.cpu:
            raise TypeError(
                f"can't convert a tensor on {self.device} to a NumPy array implicitly; call "
                f".cpu() or .numpy() to copy it to the host"
            )
        a = _as_ndarray(self._data)
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __dlpack__(self, **kwargs):
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"boolean value of a Tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __format__(self, spec: str) -> str:
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(str(self), spec)

    def __repr__(self) -> str:
        host = _as_ndarray(self._backend.transfer(self._data, to_host=True))
        body = _array_repr(host)
        extras = []
        b = self._backend
        if b is not _backends.cpu:
            extras.append(f"device='{b.device}'")
        d = self.dtype
        default = _dtypes.get_default_dtype()
        if host.size == 0:  # as PyTorch: no values to tell an int64 from a float, so only the default is implicit
            body = "[]"
            if host.ndim != 1:
                extras.append(f"size={tuple(host.shape)}")
            if d is not default:
                extras.append(f"dtype={d!r}")
        elif d not in (default, _dtypes.default_complex(), _dtypes.int64, _dtypes.bool):
            extras.append(f"dtype={d!r}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    __str__ = __repr__

    def to(self, *args, **kwargs) -> Tensor:
        """``to(device, dtype=None, non_blocking=False, copy=False)``, ``to(dtype, ...)`` or
        ``to(other_tensor, ...)`` (its device and dtype), as PyTorch, positionally or by keyword (a
        None device or dtype changes nothing, an int device is ``cuda:<int>``); returns self when
        nothing changes (unless ``copy=True``). Differentiable; a device change copies through the host."""
        device, dtype, copy = _to_args(args, kwargs)
        out = self
        if device is not None:
            b = _backends.get_backend(device)
            if b is not self._backend:
                out = _ops.to_backend(out, b)
        if dtype is not None:
            out = _ops.astype(out, _dtypes.to_dtype(dtype))
        if copy and out is self:
            out = _ops.clone(self)
        return out

    def cpu(self) -> Tensor:
        """This tensor on the CPU (itself when it is there already)."""
        return self.to("cpu")

    def cuda(self, device=None) -> Tensor:
        """This tensor on a CUDA device (``cuda()``, ``cuda(1)``); BackendUnavailable says why not."""
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = _backends.device("cuda", device)
        return self.to(device)

    def float(self) -> Tensor:
        """This tensor as float32."""
        return self.to(_dtypes.float32)

    def double(self) -> Tensor:
        """This tensor as float64."""
        return self.to(_dtypes.float64)

    def type(self, dtype=None):
        """The dtype's name, or with a dtype this tensor converted to it."""
        return str(self.dtype) if dtype is None else self.to(dtype)

    # -- in place, outside the graph -----------------------------------------------------------
    def zero_(self) -> Tensor:
        """Fill with zeros in place; returns self."""
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        """Fill with ``value`` in place, outside the graph; returns self."""
        _check_inplace(self)
        a = self._data
        if a.ndim == 0 and not _is_writable_0d(a):
            self._data = self._backend.xp.full_like(a, value)
        else:
            a[...] = value
        _bump(self)
        return self

    def copy_(self, src: Tensor) -> Tensor:
        """Copy ``src``'s values into this tensor (same device; broadcast, cast to this dtype)."""
        _check_inplace(self)
        other = _inplace_operand(self, src, "copy_")
        a = self._data
        xp = self._backend.xp
        if a.ndim == 0 and not _is_writable_0d(a):
            self._data = xp.asarray(xp.broadcast_to(other, a.shape), copy=True)
        else:
            a[...] = other
        _bump(self)
        return self

    def _inplace(self, other, op: str) -> Tensor:
        _check_inplace(self)
        a = self._data
        operand = other._data if type(other) is Tensor else None
        # the optimizer-step case (w.data -= lr * w.grad): nothing to check or convert
        if (
            operand is None
            or other._backend is not self._backend
            or operand.dtype != a.dtype
            or operand.shape != a.shape
        ):
            operand = _inplace_operand(self, other, op)
        r = getattr(a, op)(operand)
        if r is NotImplemented:
            raise TypeError(f"{op} is not supported between {self.dtype} and {type(other).__name__}")
        if r is not a:  # 0-d NumPy results are scalars, immutable; keep the new value
            self._data = r
        vc = self._vc  # NOTE: function.bump inlined (the optimizer step's path)
        if vc is _UNCOUNTED:
            self._vc = [1]
        else:
            vc[0] += 1
        return self

    def __iadd__(self, other):
        return self._inplace(other, "__iadd__")

    def __isub__(self, other):
        return self._inplace(other, "__isub__")

    def __imul__(self, other):
        return self._inplace(other, "__imul__")

    def __itruediv__(self, other):
        if self.dtype.kind not in "fc":
            raise RuntimeError(f"in-place true division of a {self.dtype} tensor would change its dtype")
        return self._inplace(other, "__itruediv__")

    def add_(self, other, *, alpha=1):
        """``self += alpha * other`` in place, outside the graph; returns self."""
        return self._inplace(other if alpha == 1 else other * alpha, "__iadd__")

    def sub_(self, other, *, alpha=1):
        """``self -= alpha * other`` in place, outside the graph; returns self."""
        return self._inplace(other if alpha == 1 else other * alpha, "__isub__")

    def mul_(self, other):
        """``self *= other`` in place, outside the graph; returns self."""
        return self._inplace(other, "__imul__")

    def div_(self, other):
        """``self /= other`` in place (floating point tensors only); returns self."""
        return self.__itruediv__(other)

    __hash__ = object.__hash__

    # -- copy and pickle ----------------------------------------------------------------------
    def __deepcopy__(self, memo) -> Tensor:
        """A leaf with a copy of the storage (same device, no host copy), ``requires_grad`` and ``.grad``."""
        if self.grad_fn is not None:
            raise RuntimeError("only leaf tensors (not made by a recorded op) support deepcopy; use .detach() first")
        new = type(self)._wrap(self._backend.xp.asarray(self._data, copy=True), self._backend)
        memo[id(self)] = new
        new._requires_grad = self._requires_grad
        if self._grad is not None:
            new._grad = _copy.deepcopy(self._grad, memo)
        if hasattr(self, "__dict__"):  # subclasses' attributes
            new.__dict__.update(_copy.deepcopy(self.__dict__, memo))
        return new

    def __reduce__(self):
        # NOTE: pickling copies the values to the host (a counted transfer); unpickling puts them back
        # on the same device type, which must exist in the loading process.
        host = _as_ndarray(self._backend.transfer(self._data, to_host=True))
        return _rebuild, (type(self), host, str(self.device), self._requires_grad, getattr(self, "__dict__", None))

    # -- PyTorch's constructors from a tensor, in-place math and conversions ------------------------
    def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        """A new tensor of ``data`` (copied) with this tensor's dtype and device unless given."""
        return Tensor(
            data,
            dtype=self.dtype if dtype is None else dtype,
            device=self.device if device is None else device,
            requires_grad=requires_grad,
        )

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` (``new_zeros(2, 3)`` or ``new_zeros((2, 3))``), this tensor's dtype and device
        unless given."""
        return self._new("zeros", size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        """Ones of ``size``, this tensor's dtype and device unless given."""
        return self._new("ones", size, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        """An uninitialized tensor of ``size``, this tensor's dtype and device unless given."""
        return self._new("empty", size, dtype, device, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        """``fill_value`` everywhere in a tensor of ``size``, this tensor's dtype and device unless given."""
        return self._new("full", (size,), dtype, device, requires_grad, fill_value)

    def _new(self, kind: str, size: tuple, dtype, device, requires_grad: bool, *fill) -> Tensor:
        if len(size) == 1 and not hasattr(size[0], "__index__"):
            size = tuple(size[0])
        shape = tuple(s.__index__() for s in size)
        if any(s < 0 for s in shape):
            raise RuntimeError(f"new_{kind}(): sizes must be non-negative, got {shape}")
        b = self._backend if device is None else _backends.get_backend(device)
        d = b.native_dtype(self.dtype if dtype is None else _dtypes.to_dtype(dtype))
        t = Tensor._wrap(getattr(b.xp, kind)(shape, *fill, dtype=d, device=b.native_device), b)
        return t.requires_grad_(True) if requires_grad else t

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor with ``other``'s dtype (and device, as PyTorch's ``type(other.type())``)."""
        return self.to(other.device, other.dtype)

    def allclose(self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        """``tw.allclose(self, other, ...)``: a Python bool."""
        return allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: Tensor):
        """``tw.equal(self, other)``: a Python bool."""
        return equal(self, other)

    def detach_(self) -> Tensor:
        """Make this tensor a leaf that does not require grad, in place; returns self."""
        self.grad_fn = None
        self._requires_grad = False
        return self

    def _update(self, result: Tensor, what: str) -> Tensor:
        """Write ``result`` (computed from this tensor) into it: the tail of every in-place op below."""
        _check_inplace(self)
        if tuple(result._data.shape) != tuple(self._data.shape):
            raise RuntimeError(
                f"{what}: the result's shape {tuple(result._data.shape)} doesn't match the shape "
                f"{tuple(self._data.shape)} of the tensor updated in place"
            )
        return _write_out(self, result, what)

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's parameter names
        """``clamp`` in place, outside the graph; returns self."""
        return self._update(_ops.clamp(self.detach(), min, max), "clamp_")

    clip_ = clamp_

    def clamp_min_(self, min) -> Tensor:  # noqa: A002
        """``clamp_min`` in place, outside the graph; returns self."""
        return self._update(_ops.clamp_min(self.detach(), min), "clamp_min_")

    def clamp_max_(self, max) -> Tensor:  # noqa: A002
        """``clamp_max`` in place, outside the graph; returns self."""
        return self._update(_ops.clamp_max(self.detach(), max), "clamp_max_")

    def masked_fill_(self, mask: Tensor, value) -> Tensor:
        """``masked_fill`` in place (``mask`` broadcast to this shape), outside the graph; returns self."""
        return self._update(_ops.masked_fill(self.detach(), mask, value), "masked_fill_")

    def pow_(self, exponent) -> Tensor:
        """``self **= exponent``, outside the graph; returns self."""
        return self._update(_ops.pow(self.detach(), exponent), "pow_")

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
        """``self += value * tensor1 * tensor2``, outside the graph; returns self."""
        return self._inplace(tensor1 * tensor2 * value if value != 1 else tensor1 * tensor2, "__iadd__")

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
        """``self += value * tensor1 / tensor2``, outside the graph; returns self."""
        return self._inplace(tensor1 / tensor2 * value if value != 1 else tensor1 / tensor2, "__iadd__")

    def lerp_(self, end: Tensor, weight) -> Tensor:
        """``self += weight * (end - self)``, outside the graph; returns self."""
        return self._inplace((end - self.detach()) * weight, "__iadd__")

    def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator=None) -> Tensor:
        """Fill with uniform samples in ``[from_, to)`` from ``generator`` (or the device's default); returns self."""
        return self._update(self._draw("rand", generator) * (to - from_) + from_, "uniform_")

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
        """Fill with normal samples of ``mean`` and ``std``; returns self."""
        return self._update(self._draw("randn", generator) * std + mean, "normal_")

    def exponential_(self, lambd: float = 1.0, *, generator=None) -> Tensor:
        """Fill with exponential samples of rate ``lambd``; returns self."""
        return self._update((-self._draw("rand", generator)).log1p() * (-1.0 / lambd), "exponential_")

    def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
        """Fill with 1 with probability ``p`` (a number or a tensor broadcast to this shape), else 0; returns self."""
        u = self._draw("rand", generator)
        return self._update(_ops.astype(u < p, self.dtype), "bernoulli_")

    def _draw(self, kind: str, generator) -> Tensor:
        b = self._backend
        d = self.dtype if self.dtype in (_dtypes.float32, _dtypes.float64) else _dtypes.float32
        draw = b.rand if kind == "rand" else b.randn
        return Tensor._wrap(draw(tuple(self._data.shape), d, _generator_impl(generator, b)), b)

    # NOTE: last in the class body: from here on ``int``, ``bool`` and ``float`` name these methods.
    def long(self) -> Tensor:
        """This tensor as int64."""
        return self.to(_dtypes.int64)

    def int(self) -> Tensor:
        """This tensor as int32."""
        return self.to(_dtypes.int32)

    def short(self) -> Tensor:
        """This tensor as int16."""
        return self.to(_dtypes.int16)

    def char(self) -> Tensor:
        """This tensor as int8."""
        return self.to(_dtypes.int8)

    def byte(self) -> Tensor:
        """This tensor as uint8."""
        return self.to(_dtypes.uint8)

    def bool(self) -> Tensor:
        """This tensor as bool."""
        return self.to(_dtypes.bool)

    def half(self) -> Tensor:
        """This tensor as float16."""
        return self.to(_dtypes.float16)


def tensor(data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``tw.tensor(data, dtype=None, device=None, requires_grad=False)``: the same as ``Tensor(...)``."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def is_tensor(obj) -> bool:
    """True for a ``tw.Tensor`` (or a subclass, such as ``nn.Parameter``)."""
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    """The number of elements of ``x``."""
    return x.numel()


def is_floating_point(x: Tensor) -> bool:
    """True for a float16, float32 or float64 tensor."""
    return x.is_floating_point()


def is_complex(x: Tensor) -> bool:
    """True for a complex64 or complex128 tensor."""
    return x.is_complex()


def allclose(x: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when ``|x - other| <= atol + rtol * |other|`` everywhere (a Python bool: one host sync)."""
    return bool(_ops.isclose(x, other, rtol, atol, equal_nan).all())


def equal(x: Tensor, other: Tensor) -> bool:
    """True when both have the same shape and the same values (a Python bool: one host sync)."""
    if tuple(x._data.shape) != tuple(other._data.shape):
        return False
    return bool((x == other).all())


# -- helpers --------------------------------------------------------------------------------------
_new_size = tuple.__new__


def _is_dtype(a) -> bool:
    # anything but a device spelling (str, tw.device, int index) or None is taken for a dtype (tw.float32,
    # Python's float, a NumPy dtype) and checked by to_dtype
    return isinstance(a, _dtypes.dtype) or (a is not None and not isinstance(a, (str, int, _backends.device)))


def _to_args(args: tuple, kwargs: dict):
    """``(device, dtype, copy)`` from the arguments of ``Tensor.to`` (PyTorch's three overloads)."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("memory_format", None)  # every tensorweaver tensor is contiguous
    if kwargs:
        raise TypeError(f"to(): unexpected arguments {sorted(kwargs)}")
    rest = list(args)
    if rest:
        a = rest.pop(0)
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif _is_dtype(a):
            dtype = a
        else:
            if a is not None:
                device = a
            if rest and (rest[0] is None or _is_dtype(rest[0])):
                b = rest.pop(0)
                dtype = dtype if b is None else b
    if len(rest) > 2 or not all(isinstance(v, bool) for v in rest):
        raise TypeError(
            f"to(): expected (device, dtype, non_blocking, copy), (dtype, non_blocking, copy) or "
            f"(tensor, non_blocking, copy), got {tuple(type(v).__name__ for v in args)}"
        )
    if len(rest) == 2:
        copy = rest[1]
    if isinstance(device, int) and not isinstance(device, bool):
        device = _backends.device("cuda", device)
    return device, dtype, copy


def _rebuild(cls, host, device: str, requires_grad: bool, state) -> Tensor:
    """Unpickle a tensor (see ``Tensor.__reduce__``)."""
    arr, b = _backends.as_array(host, None, device)
    t = cls._wrap(arr, b)
    t._requires_grad = requires_grad
    if state:
        t.__dict__.update(state)
    return t


def _weakref(t):
    return weakref.ref(t)


class _HookHandle:
    __slots__ = ("_hooks", "_key")
    _next = 0

    def __init__(self, hooks: dict, hook) -> None:
        _HookHandle._next += 1
        self._hooks, self._key = hooks, _HookHandle._next
        hooks[self._key] = hook

    def remove(self) -> None:
        """Unregister the hook."""
        self._hooks.pop(self._key, None)


def _check_inplace(t: Tensor) -> None:
    if t._requires_grad and _grad_state.enabled:
        kind = "a leaf tensor" if t.grad_fn is None else "a tensor"
        raise RuntimeError(
            f"{kind} that requires grad is being used in an in-place operation; update it through "
            f".data (w.data -= lr * w.grad) or inside tw.no_grad()"
        )


def _inplace_operand(t: Tensor, other, op: str):
    """The operand of an in-place op: an array of ``t``'s dtype, broadcastable to its shape, or a
    Python number; checked (``ops._common.resolve``) before anything changes."""
    _, y, c = _resolve(t, other, op, inplace=True)
    if y is None:
        return c
    arr, shape = y._data, tuple(t._data.shape)
    if tuple(arr.shape) != shape and _broadcast_shape(shape, tuple(arr.shape)) != shape:
        raise RuntimeError(
            f"{op}: a tensor of shape {tuple(arr.shape)} can't be applied in place to one of shape {shape}"
        )
    return arr


def _broadcast_shape(a: tuple, b: tuple):
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            return None
        out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(reversed(out))


def _is_writable_0d(a) -> bool:
    return hasattr(a, "__setitem__")


def _as_ndarray(a):
    return _backends.host_ndarray(a)


def _array_repr(host) -> str:
    return _backends.format_host_array(host)


_bump = _function.bump
_UNCOUNTED = _function._UNCOUNTED
_host_scalar_types = _backends.SCALAR_TYPES
_function.set_tensor_class(Tensor, _host_scalar_types, _backends.host_ndarray)

# NOTE: the one place the Tensor <-> ops import cycle is broken: ops need the Tensor class, and
# Tensor's operators and methods are the ops. Everything below binds them onto the class.
from . import ops as _ops  # noqa: E402
from .ops._common import resolve as _resolve  # noqa: E402
from .ops._common import write_out as _write_out  # noqa: E402
from .random import generator_impl as _generator_impl  # noqa: E402

_ops.bind_tensor_methods(Tensor)
