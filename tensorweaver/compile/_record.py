"""Recording a step: stand-in arrays (``Rec``) and numbers (``Sym``) that run every operation eagerly
and log it, with the backend hooks that route an eager call through them.

While a ``Recorder`` is active, ``Tensor._data`` and ``Tensor._grad`` are properties: the first read
of a tensor that existed before the call makes its array a program input, and every array a tensor
holds is a ``Rec``. Each backend's ``xp`` is a ``_ProxyNamespace``; its host transfers, random
draws and the engine's gradient hooks are wrapped. Nothing here is installed outside a recording:
eager code pays nothing for it.
"""

from __future__ import annotations

import linecache
import math
import operator
import os
import sys
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _args
from .. import backends as _backends
from ..autograd import anomaly as _anomaly
from ..autograd import function as _function
from ..autograd import grads as _grads
from ..autograd.grad_mode import state as _grad_state
from ..tensor import Tensor
from . import Unrecordable

__all__ = ["Rec", "Sym", "Recorder", "Unrecordable", "SlotRef", "SymRef", "Const"]

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the recorder now running (one at a time, in one thread)
active: list = [None]


class SlotRef:
    """An argument of a logged operation that is the array in slot ``i``."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


class SymRef:
    """An argument that is the host number ``y<n>`` computed by the program's scalar prologue."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


class Const:
    """An argument that is a Python object bound by name in the generated code (a dtype, a function)."""

    __slots__ = ("v",)

    def __init__(self, v) -> None:
        self.v = v


# -- where in user code ------------------------------------------------------------------------------
_FRIENDLY = {
    "item": "Tensor.item()",
    "tolist": "Tensor.tolist()",
    "numpy": "Tensor.numpy()",
    "__bool__": "bool(tensor) (an `if` on a tensor)",
    "__float__": "float(tensor)",
    "__int__": "int(tensor)",
    "__index__": "using a tensor as an index",
    "__repr__": "printing a tensor",
    "__format__": "formatting a tensor",
    "__array__": "np.asarray(tensor)",
    "__len__": "len(tensor)",
}


def user_site() -> tuple[str, str]:
    """``(what, where)``: the outermost tensorweaver function below the first frame of user code, and
    that frame's ``file:line: source``."""
    f = sys._getframe(1)
    last = None
    while f is not None and f.f_code.co_filename.startswith(_PKG):
        last = f
        f = f.f_back
    what = _FRIENDLY.get(last.f_code.co_name, f"{last.f_code.co_name}()") if last is not None else "?"
    if f is None:
        return what, "?"
    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return what, f"{f.f_code.co_filename}:{f.f_lineno}: {line}"


# -- stand-in numbers ------------------------------------------------------------------------------
def _val(x):
    return x.v if type(x) is Sym else x


def _num(x) -> bool:
    return type(x) in (int, float, bool) or type(x) is Sym


class Sym:
    """A host number the step reads from optimizer state (``lr``, ``betas``, Adam's ``step``) whose
    arithmetic is logged: the replay recomputes it from the current values, so a scheduler's new
    learning rate or the next step count needs no re-recording. A comparison or a conversion
    (``if momentum != 0``, ``float(lr)``) gives a plain value and adds a guard on it."""

    __slots__ = ("v", "n")

    def __init__(self, v, n: int) -> None:
        self.v, self.n = v, n

    def _op(self, other, fmt: str, fn):
        r = active[0]
        if not _num(other):
            return NotImplemented
        v = fn(self.v, _val(other))
        if r is None or r.closed:
            return v
        return r.sym_op(v, fmt, self, other)

    def __add__(self, o):
        return self._op(o, "{0} + {1}", lambda a, b: a + b)

    def __radd__(self, o):
        return self._op(o, "{1} + {0}", lambda a, b: b + a)

    def __sub__(self, o):
        return self._op(o, "{0} - {1}", lambda a, b: a - b)

    def __rsub__(self, o):
        return self._op(o, "{1} - {0}", lambda a, b: b - a)

    def __mul__(self, o):
        return self._op(o, "{0} * {1}", lambda a, b: a * b)

    def __rmul__(self, o):
        return self._op(o, "{1} * {0}", lambda a, b: b * a)

    def __truediv__(self, o):
        return self._op(o, "{0} / {1}", lambda a, b: a / b)

    def __rtruediv__(self, o):
        return self._op(o, "{1} / {0}", lambda a, b: b / a)

    def __floordiv__(self, o):
        return self._op(o, "{0} // {1}", lambda a, b: a // b)

    def __rfloordiv__(self, o):
        return self._op(o, "{1} // {0}", lambda a, b: b // a)

    def __mod__(self, o):
        return self._op(o, "{0} % {1}", lambda a, b: a % b)

    def __pow__(self, o):
        return self._op(o, "{0} ** {1}", lambda a, b: a**b)

    def __rpow__(self, o):
        return self._op(o, "{1} ** {0}", lambda a, b: b**a)

    def __neg__(self):
        return self._op(0, "-{0}", lambda a, b: -a)

    def __pos__(self):
        return self

    def __abs__(self):
        return self._op(0, "abs({0})", lambda a, b: abs(a))

    def _cmp(self, other, sign: str, fn):
        if not _num(other):
            return NotImplemented
        v = fn(self.v, _val(other))
        r = active[0]
        if r is not None and not r.closed:
            r.sym_guard(f"({{0}} {sign} {{1}}) is {v!r}", self, other)
        return v

    def __eq__(self, o):
        return self._cmp(o, "==", lambda a, b: a == b)

    def __ne__(self, o):
        return self._cmp(o, "!=", lambda a, b: a != b)

    def __lt__(self, o):
        return self._cmp(o, "<", lambda a, b: a < b)

    def __le__(self, o):
        return self._cmp(o, "<=", lambda a, b: a <= b)

    def __gt__(self, o):
        return self._cmp(o, ">", lambda a, b: a > b)

    def __ge__(self, o):
        return self._cmp(o, ">=", lambda a, b: a >= b)

    def _concrete(self):
        r = active[0]
        if r is not None and not r.closed:
            r.sym_guard(f"{{0}} == {self.v!r} and type({{0}}) is {type(self.v).__name__}", self, 0)
        return self.v

    def __bool__(self) -> bool:
        return bool(self._concrete())

    def __float__(self) -> float:
        return float(self._concrete())

    def __int__(self) -> int:
        return int(self._concrete())

    def __index__(self) -> int:
        return int(self._concrete())

    def __hash__(self) -> int:
        return hash(self._concrete())

    def __round__(self, n=None):
        return round(self._concrete(), n)

    def __format__(self, spec: str) -> str:
        return format(self._concrete(), spec)

    def __repr__(self) -> str:
        return repr(self._concrete())

    __str__ = __repr__


# NOTE: ops take a Sym where they take a Python float (resolve() looks its rank up here); the rank of
# a float, since an optimizer's numbers are floats (an int step count never reaches an op).
_args.SCALAR_RANK[Sym] = _args.SCALAR_RANK[float]


# -- stand-in arrays -------------------------------------------------------------------------------
_BINOPS = {
    "__add__": "+",
    "__sub__": "-",
    "__mul__": "*",
    "__truediv__": "/",
    "__floordiv__": "//",
    "__mod__": "%",
    "__pow__": "**",
    "__matmul__": "@",
    "__and__": "&",
    "__or__": "|",
    "__xor__": "^",
    "__lshift__": "<<",
    "__rshift__": ">>",
    "__eq__": "==",
    "__ne__": "!=",
    "__lt__": "<",
    "__le__": "<=",
    "__gt__": ">",
    "__ge__": ">=",
}
_UNOPS = {"__neg__": "-", "__pos__": "+", "__invert__": "~", "__abs__": "abs"}


class Rec:
    """An array of a step being recorded: ``v`` is the real array (every operation runs eagerly on it)
    and ``slot`` its number in the program. Operators and methods log themselves."""

    __slots__ = ("v", "slot", "__weakref__")
    __array_priority__ = 1e6  # NOTE: NumPy scalars on the left defer to Rec's reflected operators
    __array_ufunc__ = None

    def __init__(self, v, slot: int) -> None:
        self.v, self.slot = v, slot

    # metadata: static (guarded), read directly
    @property
    def shape(self):
        return self.v.shape

    @property
    def dtype(self):
        return self.v.dtype

    @property
    def ndim(self):
        return self.v.ndim

    @property
    def size(self):
        return self.v.size

    @property
    def device(self):
        return self.v.device

    @property
    def T(self):
        return _log_op(("getattr", "T"), self)

    @property
    def mT(self):
        return _log_op(("getattr", "mT"), self)

    def __len__(self) -> int:
        return len(self.v)

    def __getattr__(self, name: str):
        attr = getattr(self.v, name)
        if callable(attr):
            return lambda *a, **k: _log_op(("method", name), self, *a, **k)
        r = active[0]
        if r is not None and isinstance(attr, r.array_types):
            return _log_op(("getattr", name), self)
        return attr

    def __getitem__(self, key):
        if _has_bool_array(key):
            _fail_or_pass("boolean-mask indexing (a data-dependent shape)")
            return self.v[_unwrap(key)]
        return _log_op(("getitem",), self, key)

    def __setitem__(self, key, value) -> None:
        if _has_bool_array(key) and not _num(value):
            _fail_or_pass("boolean-mask assignment of an array (a data-dependent shape)")
            self.v[_unwrap(key)] = _unwrap(value)
            return
        _log_op(("setitem",), self, key, value)

    def _host(self):
        _fail_or_pass(None)
        return self.v

    def __bool__(self) -> bool:
        return bool(self._host())

    def __float__(self) -> float:
        return float(self._host())

    def __int__(self) -> int:
        return int(self._host())

    def __index__(self) -> int:
        return self._host().__index__()

    def __complex__(self) -> complex:
        return complex(self._host())

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(self._host())
        return a if dtype is None else a.astype(dtype)

    def __iter__(self):
        return iter(self._host())

    def __dlpack__(self, **kwargs):
        return self._host().__dlpack__(**kwargs)

    def __repr__(self) -> str:
        return f"Rec(slot={self.slot}, shape={tuple(self.v.shape)}, dtype={self.v.dtype})"

    __hash__ = object.__hash__


def _make_binop(name: str):
    def op(self, other):
        return _log_op(("bin", name), self, other)

    def rop(self, other):
        return _log_op(("bin", name), other, self)

    def iop(self, other):
        return _log_op(("ibin", name), self, other)

    return op, rop, iop


for _name in _BINOPS:
    _op, _rop, _iop = _make_binop(_name)
    setattr(Rec, _name, _op)
    if _name not in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        setattr(Rec, "__r" + _name[2:], _rop)
        setattr(Rec, "__i" + _name[2:], _iop)
Rec.__hash__ = object.__hash__  # type: ignore[method-assign] # NOTE: __eq__ above would unset it
for _name in _UNOPS:
    setattr(Rec, _name, (lambda n: lambda self: _log_op(("un", n), self))(_name))


def _has_bool_array(key) -> bool:
    keys = key if type(key) is tuple else (key,)
    for k in keys:
        k = k.v if type(k) is Rec else k
        dt = getattr(k, "dtype", None)
        if dt is not None and getattr(k, "ndim", 0) and str(dt) == "bool":
            return True
    return False


def _has_rec(x) -> bool:
    t = type(x)
    if t is Rec:
        return True
    if t is tuple or t is list:
        return any(_has_rec(a) for a in x)
    if t is dict:
        return any(_has_rec(a) for a in x.values())
    return False


def _unwrap(x) -> Any:
    t = type(x)
    if t is Rec:
        return x.v
    if t is Sym:
        return x.v
    if t is tuple:
        return tuple(_unwrap(a) for a in x)
    if t is list:
        return [_unwrap(a) for a in x]
    if t is dict:
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _fail_or_pass(what: str | None) -> None:
    r = active[0]
    if r is not None and not r.closed and threading.get_ident() == r.thread:
        r.fail(what)


def _log_op(kind: tuple, *args, **kwargs):
    """Run one operation on the real arrays; log it and wrap its result when a recording is on."""
    r = active[0]
    raw_args, raw_kwargs = _unwrap(args), _unwrap(kwargs)
    res = _apply(kind, raw_args, raw_kwargs)
    if r is None or r.closed or r.poisoned or r.suspended or threading.get_ident() != r.thread:
        return res
    return r.log(kind, args, kwargs, res)


_OPERATOR: dict[str, Any] = {name: getattr(operator, name.strip("_"), None) for name in _BINOPS}
_OPERATOR["__and__"], _OPERATOR["__or__"] = operator.and_, operator.or_
_IOPERATOR: dict[str, Any] = {name: getattr(operator, "i" + name.strip("_"), None) for name in _BINOPS}
_IOPERATOR["__and__"], _IOPERATOR["__or__"] = operator.iand, operator.ior
_UOPERATOR = {"__neg__": operator.neg, "__pos__": operator.pos, "__invert__": operator.invert, "__abs__": abs}


def _apply(kind: tuple, a: tuple, k: dict):
    op = kind[0]
    if op == "call":
        return kind[1](*a, **k)
    if op == "bin":
        return _OPERATOR[kind[1]](a[0], a[1])
    if op == "ibin":
        return _IOPERATOR[kind[1]](a[0], a[1])
    if op == "un":
        return _UOPERATOR[kind[1]](a[0])
    if op == "getattr":
        return getattr(a[0], kind[1])
    if op == "method":
        return getattr(a[0], kind[1])(*a[1:], **k)
    if op == "getitem":
        return a[0][a[1]]
    if op == "setitem":
        a[0][a[1]] = a[2]
        return None
    raise AssertionError(op)


#: functions whose result's shape depends on the values
_DATA_DEPENDENT = frozenset(
    {
        "nonzero",
        "argwhere",
        "flatnonzero",
        "unique",
        "unique_all",
        "unique_counts",
        "unique_inverse",
        "unique_values",
        "extract",
        "compress",
        "trim_zeros",
    }
)


class _ProxyNamespace(types.SimpleNamespace):
    """The array namespace during a recording: each function runs on the real arrays and is logged."""

    def __init__(self, real) -> None:
        super().__init__()
        object.__setattr__(self, "_real", real)

    def __getattr__(self, name: str):
        real = object.__getattribute__(self, "_real")
        attr: Any = getattr(real, name)
        if isinstance(attr, types.ModuleType):
            attr = _ProxyNamespace(attr)
        elif callable(attr) and not isinstance(attr, type):
            fn = attr
            if name in _DATA_DEPENDENT:

                def dependent(*a, _fn=fn, _name=name, **k):
                    _fail_or_pass(f"xp.{_name}: a data-dependent shape (boolean-mask indexing, nonzero)")
                    return _log_op(("call", _fn), *a, **k)

                attr = dependent
            else:
                attr = lambda *a, **k: _log_op(("call", fn), *a, **k)  # noqa: E731
        object.__setattr__(self, name, attr)
        return attr


# -- the recorder ----------------------------------------------------------------------------------
_DATA = Tensor.__dict__["_data"]
_GRAD = Tensor.__dict__["_grad"]
_data_get, _data_set = _DATA.__get__, _DATA.__set__
_grad_get, _grad_set = _GRAD.__get__, _GRAD.__set__


class TInfo:
    """What the recorder knows of one tensor: new (made during the call) or pre (existed before)."""

    __slots__ = ("t", "ref", "new", "input", "rg0", "grad0", "grad_read", "data_set")

    def __init__(self, t, new: bool) -> None:
        self.new = new
        self.t: Any = None if new else t  # NOTE: new tensors weakly (their death is information)
        self.ref: Any = weakref.ref(t) if new else None
        self.input: Any = None  # the Rec of its array at the start of the call (pre tensors)
        self.rg0 = False if new else t._requires_grad
        self.grad0 = None
        self.grad_read = False
        self.data_set = False

    def tensor(self):
        return self.t if self.t is not None else self.ref()


class Recorder:
    """One recording: the log of operations over slots, the host numbers, and what the call touched."""

    def __init__(self, fullgraph: bool, backends) -> None:
        self.fullgraph = fullgraph
        self.thread = threading.get_ident()
        self.closed = False
        self.poisoned = None  # (what, where) of the first operation that can't be recorded
        self.on_poison: Callable[[], None] | None = None  # called once when the recording is given up (see fail)
        self.suspended = False
        self.values: list = []  # slot -> the real array
        self.recs: list = []  # slot -> its Rec (kept alive: ids below stay unique)
        self.code: list = []  # (kind, out slot or None, args, kwargs, flags)
        self.by_id: dict = {}  # id(real array) -> Rec
        self.opaque: dict = {}  # id(real array the program never saw) -> a stand-in (memory_owner)
        self.tinfo: dict = {}  # id(tensor) -> TInfo
        self.sym_lines: list = []  # (n, source text) in order: the scalar prologue
        self.sym_guards: list = []  # source text of guards on host numbers
        self.sym_sources: dict = {}  # n -> source expression (read at replay)
        self.nsym = 0
        self.backends = list(backends)
        self.array_types: tuple = ()
        self._saved: list = []

    # -- failure -----------------------------------------------------------------------------
    def fail(self, what: str | None) -> None:
        if self.poisoned is not None:
            return
        op, where = user_site()
        what = what or op
        if self.fullgraph:
            raise Unrecordable(f"tw.compile(fullgraph=True): {what} can't be recorded, at {where}")
        self.poisoned = (what, where)
        if self.on_poison is not None:  # the rest of the call runs eagerly: no stand-in numbers left
            self.on_poison()

    # -- host numbers ------------------------------------------------------------------------
    def new_sym(self, v, source: str | None) -> Sym:
        n = self.nsym
        self.nsym += 1
        s = Sym(v, n)
        if source is not None:
            self.sym_sources[n] = source
            self.sym_lines.append((n, source))
        return s

    def _ref(self, x) -> str:
        if type(x) is Sym:
            return f"y{x.n}"
        return _literal(x)

    def sym_op(self, v, fmt: str, a, b):
        if self.poisoned or self.suspended:
            return v
        s = self.new_sym(v, None)
        self.sym_lines.append((s.n, fmt.format(self._ref(a), self._ref(b))))
        return s

    def sym_guard(self, fmt: str, a, b) -> None:
        if not self.poisoned:
            self.sym_guards.append((len(self.sym_lines), fmt.format(self._ref(a), self._ref(b))))

    # -- arrays ------------------------------------------------------------------------------
    def wrap(self, raw) -> Rec:
        rec = Rec(raw, len(self.values))
        self.values.append(raw)
        self.recs.append(rec)
        self.by_id[id(raw)] = rec
        return rec

    def template(self, x):
        t = type(x)
        if t is Rec:
            return SlotRef(x.slot)
        if t is Sym:
            return SymRef(x.n)
        if t is tuple:
            return tuple(self.template(a) for a in x)
        if t is list:
            return [self.template(a) for a in x]
        if t is dict:
            return {k: self.template(v) for k, v in x.items()}
        if isinstance(x, self.array_types):
            raw = self.by_id.get(id(x))
            if raw is not None and raw.v is x:
                return SlotRef(raw.slot)
            # NOTE: an array the program never made nor read (created by plain NumPy in user code)
            self.fail("an array from outside the tensors (plain NumPy inside the function)")
            return Const(x)
        return x

    def log(self, kind: tuple, args: tuple, kwargs: dict, res, effect: bool = False):
        op = kind[0]
        if op == "setitem" or res is None:  # an assignment, or a call with no result: an effect
            self.code.append((kind, None, self.template(args), self.template(kwargs), True, False))
            return res
        if res is NotImplemented:
            return res
        if type(res) is tuple and res and all(isinstance(e, self.array_types) for e in res):
            whole = len(self.values)
            self.values.append(res)
            self.recs.append(None)
            self.code.append((kind, whole, self.template(args), self.template(kwargs), effect, False))
            out = []
            for i, e in enumerate(res):
                rec = self._result(e)
                self.code.append((("getitem",), rec.slot, (SlotRef(whole), i), {}, False, False))
                out.append(rec)
            return tuple(out)
        if not isinstance(res, self.array_types):
            if type(res) in (int, float, bool, complex, list) and _has_rec((args, kwargs)):
                self.fail(f"a host value read from an array ({kind[-1] if op != 'call' else 'a call'})")
            return res  # metadata (a dtype, a shape): nothing to replay
        if op == "ibin" and type(args[0]) is Rec and res is args[0].v:
            self.code.append((kind, args[0].slot, self.template(args), {}, True, False))
            return args[0]
        prev = self.by_id.get(id(res))
        if prev is not None and prev.v is res:
            return prev  # the operation handed back an array it was given (asarray, astype to its dtype)
        scalar = type(res) in _backends.SCALAR_TYPES
        rec = self._result(res)
        self.code.append((kind, rec.slot, self.template(args), self.template(kwargs), effect, scalar))
        return rec

    def _result(self, res) -> Rec:
        if type(res) in _backends.SCALAR_TYPES:
            res = np.asarray(res)  # NOTE: as function.output does: a tensor always holds an array
        return self.wrap(res)

    # -- tensors -----------------------------------------------------------------------------
    def info(self, t, new: bool) -> TInfo:
        i = self.tinfo.get(id(t))
        if i is None or i.tensor() is not t:  # NOTE: a dead new tensor's id may be reused
            i = self.tinfo[id(t)] = TInfo(t, new)
        return i

    def read_data(self, t):
        v = _data_get(t)
        if type(v) is Rec or type(v) is _function._ShapeOnly:
            return v
        if self.closed or self.suspended or self.poisoned or threading.get_ident() != self.thread:
            return v
        i = self.info(t, False)
        if t.grad_fn is not None:
            self.fail("a tensor with a graph made outside the function")
            return v
        prev = self.by_id.get(id(v))
        rec = prev if prev is not None and prev.v is v else self.wrap(v)
        if i.input is None and not i.new and not i.data_set:
            i.input = rec
        _data_set(t, rec)
        return rec

    def write_data(self, t, v) -> None:
        try:
            _data_get(t)
            new = False
        except AttributeError:
            new = True  # function.output filling a fresh tensor
        if threading.get_ident() == self.thread and not self.closed:
            i = self.info(t, new)
            if not new and i.input is None:
                i.data_set = True
            if type(v) is not Rec and type(v) is not _function._ShapeOnly and not self.poisoned and not self.suspended:
                if isinstance(v, self.array_types):
                    prev = self.by_id.get(id(v))
                    v = prev if prev is not None and prev.v is v else self._from_outside(v)
        _data_set(t, v)

    def _from_outside(self, v):
        # an array no logged operation made (a backend call the recorder doesn't wrap)
        self.fail("an array made outside the recorded operations")
        return v

    def read_grad(self, t):
        g = _grad_get(t)
        if self.closed or threading.get_ident() != self.thread:
            return g
        i = self.tinfo.get(id(t))
        if i is not None and i.tensor() is not t:
            i = None
        if i is None:
            try:
                _data_get(t)
            except AttributeError:
                return g
            i = self.info(t, False)
        if not i.new and not i.grad_read:
            i.grad_read = True
            i.grad0 = g
            if g is not None:
                self.info(g, False)
        return g

    def write_grad(self, t, g) -> None:
        if not self.closed and threading.get_ident() == self.thread:
            i = self.tinfo.get(id(t))
            if i is None or i.tensor() is not t:
                i = self.info(t, False)
            if not i.new and not i.grad_read:
                i.grad_read = True
                i.grad0 = _grad_get(t)
                if i.grad0 is not None:
                    self.info(i.grad0, False)
        _grad_set(t, g)

    # -- installing and removing the hooks ---------------------------------------------------------
    def __enter__(self) -> Recorder:
        if active[0] is not None:
            raise RuntimeError("tw.compile: a recording is already running")
        types_ = set()
        for b in self.backends:
            probe = b.xp.asarray(0)
            types_.add(type(probe))
        types_.add(np.ndarray)
        types_.update(_backends.SCALAR_TYPES)
        self.array_types = tuple(types_)
        rec = self

        Tensor._data = property(rec.read_data, rec.write_data)  # type: ignore[assignment]
        Tensor._grad = property(rec.read_grad, rec.write_grad)  # type: ignore[assignment]
        for b in self.backends:
            self._patch_backend(b)
        self._saved.append((_grads, "run_hooks", _grads.run_hooks))
        _grads.run_hooks = self._hooks(_grads.run_hooks)
        from ..nn.modules.module import Module

        self._saved.append((Module, "_call_with_hooks", Module._call_with_hooks))
        Module._call_with_hooks = self._module_hooks(Module._call_with_hooks)  # type: ignore[method-assign]
        active[0] = self
        return self

    def _patch_backend(self, b) -> None:
        rec = self
        cls = type(b)
        real_xp = b.xp
        b.xp = _ProxyNamespace(real_xp)

        def transfer(x, to_host):
            if rec.suspended or rec.closed:
                return cls.transfer(b, _unwrap(x), to_host)
            rec.fail(None if to_host else "a tensor made from host data (make it outside the function)")
            return cls.transfer(b, _unwrap(x), to_host)

        def owner_of(method):
            def f(x):
                raw = _unwrap(x)
                o = method(b, raw)
                if o is None or type(x) is not Rec:
                    return o
                known = rec.by_id.get(id(o))
                if known is not None and known.v is o:
                    return known
                return rec.opaque.setdefault(id(o), (o, object()))[1]

            return f

        def black_box(name, effect):
            method = getattr(cls, name)

            def f(*args, **kwargs):
                if rec.suspended or rec.closed or rec.poisoned:
                    return method(b, *_unwrap(args), **_unwrap(kwargs))
                rec.suspended = True
                try:
                    res = method(b, *_unwrap(args), **_unwrap(kwargs))
                finally:
                    rec.suspended = False
                return rec.log(("call", method.__get__(b)), args, kwargs, res, effect)

            return f

        patches = {
            "xp": (real_xp, b.xp),
            "transfer": (None, transfer),
            "memory_owner": (None, owner_of(cls.memory_owner)),
            "memory_base": (None, owner_of(cls.memory_base)),
            "is_transposed": (None, lambda x: cls.is_transposed(b, _unwrap(x))),
            "scatter_add": (None, black_box("scatter_add", False)),
        }
        for name in ("rand", "randn", "randint", "randperm"):
            patches[name] = (None, black_box(name, True))
        # an index/target range check reads one bool on the host: recorded as a call of the program,
        # so every replayed step checks its own indices
        patches["check_index_range"] = (None, black_box("check_index_range", True))
        for name, (_old, new) in patches.items():
            setattr(b, name, new)
        self._saved.append((b, None, patches))

    def _hooks(self, real):
        rec = self

        def run_hooks(hooks, g, handed):
            # NOTE: deliver() calls this whenever a leaf has hooks, post-accumulate ones included
            if hooks:
                rec.fail("a gradient hook (register_hook or a post-accumulate hook: it may have Python side effects)")
            return real(hooks, g, handed)

        return run_hooks

    def _module_hooks(self, real):
        rec = self

        def call(module, args, kwargs):
            rec.fail(f"a forward hook of {type(module).__name__} (it may have Python side effects)")
            return real(module, args, kwargs)

        return call

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove every hook, and give each tensor still alive its real array back."""
        if self.closed:
            return
        self.closed = True
        active[0] = None
        Tensor._data = _DATA  # type: ignore[assignment]
        Tensor._grad = _GRAD  # type: ignore[assignment]
        for owner, name, old in reversed(self._saved):
            if name is None:
                for attr, (prev, _new) in old.items():
                    if prev is None:
                        owner.__dict__.pop(attr, None)
                    else:
                        setattr(owner, attr, prev)
            else:
                setattr(owner, name, old)
        for i in self.tinfo.values():
            t = i.tensor()
            if t is not None:
                v = _data_get(t)
                if type(v) is Rec:
                    _data_set(t, v.v)


def _literal(x) -> str:
    """Python source for a number (exact: repr round-trips floats)."""
    if type(x) is float and not math.isfinite(x):
        return f"float({repr(x)!r})"
    if type(x) in (int, float, bool) or x is None:
        return repr(x)
    raise TypeError(f"not a host number: {x!r}")


def grad_enabled() -> bool:
    return _grad_state.enabled


def anomaly_enabled() -> bool:
    return _anomaly.flags.enabled
