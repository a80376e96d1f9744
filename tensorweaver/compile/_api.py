"""``tw.compile``'s machinery: the guards, the recorded call, the cache of programs (see ``compile``).

The first call runs ``fn`` eagerly and records every backend array operation it makes (forward,
``backward()``, the optimizer's ``step()`` and ``zero_grad()``, ``w.data -= lr * w.grad``) as a flat
program over array slots; later calls whose guards match run that program: no Tensor or Function
objects per op, and afterwards every tensor (data, ``.grad``, ``requires_grad``, optimizer state) is
as an eager call would have left it. See ``compile`` for what is guarded and what falls back.
"""

from __future__ import annotations

import functools
import gc
import types
import warnings
from typing import Any

import numpy as np

from .. import _dtypes
from .. import backends as _backends
from ..autograd import anomaly as _anomaly
from ..autograd import function as _function
from ..autograd.grad_mode import state as _grad_state
from ..tensor import Tensor
from . import CompileWarning, Unrecordable, _cuda, _record
from ._program import MISS, Program
from ._record import Recorder, Sym, _literal

__all__ = ["compile", "CompiledFunction"]

#: at most this many programs per compiled function (each a guard set), as torch.compile's cache_size_limit
CACHE_SIZE_LIMIT = 8
_MAX_DEPTH = 6
_MAX_ITEMS = 64


def compile(fn: Any = None, *, fullgraph: bool = False, mode: str | None = None) -> Any:  # noqa: A001 - PyTorch's name
    """``tw.compile`` (the package's docstring says what it does)."""
    if mode not in (None, "default", "eager-replay", "reduce-overhead", "max-autotune"):
        raise ValueError(f"tw.compile: unknown mode {mode!r}; use None, 'default' or 'eager-replay'")
    if fn is None:
        return lambda f: CompiledFunction(f, fullgraph, mode)
    if not callable(fn):
        raise TypeError(f"tw.compile: expected a callable, got {type(fn).__name__}")
    return CompiledFunction(fn, fullgraph, mode)


class CompiledFunction:
    """What ``tw.compile(fn)`` returns: call it as ``fn``. ``programs`` are the recordings kept."""

    def __init__(self, fn, fullgraph: bool, mode) -> None:
        self._fn = fn
        self.fullgraph = fullgraph
        self.mode = mode
        self.programs: list = []
        self.eager_reason: str | None = None
        self.records = 0
        self._why_not: str | None = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.eager_reason is not None or _record.active[0] is not None:
            return self._fn(*args, **kwargs)  # inside another recording: that one records this call
        for p in self.programs:
            out = p.run(args, kwargs)
            if out is not MISS:
                return out
        if _anomaly.flags.enabled:
            return self._fn(*args, **kwargs)
        return self._record(args, kwargs)

    def _eager(self, reason: str) -> None:
        self.eager_reason = reason
        self.programs = []
        if not self.fullgraph:
            warnings.warn(
                f"tw.compile: {self._name()} runs eagerly from now on: {reason}", CompileWarning, stacklevel=4
            )

    def _name(self) -> str:
        return getattr(self._fn, "__qualname__", repr(self._fn))

    def _record(self, args, kwargs):
        self.records += 1
        if len(self.programs) >= CACHE_SIZE_LIMIT or self.records > 2 * CACHE_SIZE_LIMIT + len(self.programs):
            if self.fullgraph:
                raise Unrecordable(f"tw.compile(fullgraph=True): {self._name()} recorded {self.records} times")
            why = self._why_not or f"its guards changed {self.records - 1} times (cache_size_limit={CACHE_SIZE_LIMIT})"
            self._eager(why)
            return self._fn(*args, **kwargs)
        namer = _Namer()
        guards = _Guards(namer)
        guards.root(self._fn, args, kwargs)
        rec = Recorder(self.fullgraph, _backends.all_backends())
        installed = []
        from ..optim.optimizer import Optimizer

        step0, zero0 = Optimizer.step, Optimizer.zero_grad

        def _check(opt):
            if id(opt) not in guards.optimizers:
                rec.fail(f"{type(opt).__name__}.step() of an optimizer the guards can't reach")

        def step(opt, *a, **k):
            _check(opt)
            return step0(opt, *a, **k)

        def zero_grad(opt, *a, **k):
            _check(opt)
            return zero0(opt, *a, **k)

        with rec:
            Optimizer.step, Optimizer.zero_grad = step, zero_grad  # type: ignore[method-assign]
            try:
                installed = guards.install_syms(rec)
                rec.on_poison = lambda: _concrete_optimizers(guards)
                result = self._fn(*args, **kwargs)
                plan = None if rec.poisoned else _Plan(rec, guards, namer, result)
            finally:
                Optimizer.step, Optimizer.zero_grad = step0, zero0  # type: ignore[method-assign]
                sym_writes = _restore_syms(installed, guards)
        if rec.poisoned:
            what, where = rec.poisoned
            self._eager(f"{what} can't be recorded, at {where}")
            return result
        assert plan is not None
        if plan.unrecordable is not None:
            if self.fullgraph:
                raise Unrecordable(f"tw.compile(fullgraph=True): {plan.unrecordable}")
            self._eager(plan.unrecordable)
            return result
        if sym_writes is None or not plan.cacheable:
            self._why_not = plan.why_not if sym_writes is not None else "it sets an optimizer option from Python values"
            return result  # the call made state that later calls will find (a first optimizer step)
        numpy_out = self.mode != "eager-replay"
        prog = Program(
            rec,
            namer,
            guards.lines + plan.prologue,
            plan.inputs,
            plan.writebacks + sym_writes,
            plan.result,
            plan.out_slots,
            numpy_out,
        )
        entry = prog
        if self.mode == "eager-replay":
            entry = _Split(prog)
        elif _cuda.is_cuda_program(prog):
            entry = _cuda.GraphReplay(prog)
        self.programs.insert(0, entry)
        return result


class _Split:
    """A program run as guard, body and finish (``mode="eager-replay"``: per-kernel launches on CUDA)."""

    def __init__(self, prog) -> None:
        self.prog = prog
        self.run = prog.run_split


class _Namer:
    """Names for the objects the generated code refers to."""

    def __init__(self) -> None:
        self.ns: dict = {}
        self.names: dict = {}

    def name(self, obj) -> str:
        n = self.names.get(id(obj))
        if n is None:
            n = self.names[id(obj)] = f"K{len(self.names)}"
            self.ns[n] = obj
        return n


_SKIP_MODULES = ("tensorweaver", "numpy", "builtins", "array_api", "cupy", "torch", "functools", "typing")


class _Guards:
    """The guards on what a call may read, found by walking from ``fn`` before the call."""

    def __init__(self, namer: _Namer) -> None:
        self.namer = namer
        self.lines: list = []
        self.tensors: dict = {}  # id(tensor) -> (expression, tensor, is an argument)
        self.seen: set = set()
        self.optimizers: dict = {}
        self.sym_slots: list = []  # (dict, key) whose numbers become host-number inputs

    def k(self, obj) -> str:
        return self.namer.name(obj)

    def root(self, fn, args, kwargs) -> None:
        if kwargs:
            self.lines.append(
                f"if len(args) != {len(args)} or kwargs.keys() != {self.k(frozenset(kwargs))}: return MISS"
            )
        else:
            self.lines.append(f"if len(args) != {len(args)} or kwargs: return MISS")
        self.lines.append(
            f"if {self.k(_grad_state)}.enabled is not {_grad_state.enabled} or {self.k(_dtypes)}._default is not "
            f"{self.k(_dtypes.get_default_dtype())} or {self.k(_anomaly.flags)}.enabled: return MISS"
        )
        for i, a in enumerate(args):
            self.visit(a, f"args[{i}]", 0, arg=True)
        for key, a in kwargs.items():
            self.visit(a, f"kwargs[{key!r}]", 0, arg=True)
        self.visit_function(fn, 0)

    def visit_function(self, fn, depth: int) -> None:
        if id(fn) in self.seen or depth > _MAX_DEPTH:
            return
        self.seen.add(id(fn))
        if isinstance(fn, types.MethodType):
            self.visit(fn.__self__, self.k(fn.__self__), depth + 1, fixed=True)
            fn = fn.__func__
        elif not isinstance(fn, types.FunctionType):
            call = type(fn).__dict__.get("__call__")
            if isinstance(call, types.FunctionType) and not _library(call):
                self.visit(fn, self.k(fn), depth + 1, fixed=True)
                self.visit_function(call, depth + 1)
            return
        if _library(fn):
            return
        code = fn.__code__
        fx = self.k(fn)
        for i, v in enumerate(fn.__defaults__ or ()):
            self.visit(v, f"{fx}.__defaults__[{i}]", depth + 1)
        for key, v in (fn.__kwdefaults__ or {}).items():
            self.visit(v, f"{fx}.__kwdefaults__[{key!r}]", depth + 1)
        for _name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
            try:
                v = cell.cell_contents
            except ValueError:
                continue
            self.visit(v, f"{self.k(cell)}.cell_contents", depth + 1)
        g = fn.__globals__
        for name in _names(code):
            if name in g:
                self.visit(g[name], f"{self.k(g)}[{name!r}]", depth + 1)

    def visit(self, obj, expr: str, depth: int, arg: bool = False, fixed: bool = False) -> None:
        t = type(obj)
        if obj is None or t is bool:
            self.lines.append(f"if {expr} is not {obj!r}: return MISS")
            return
        if t in (int, float, str, complex):
            lit = repr(obj) if t is not float else _literal(obj)
            self.lines.append(f"if {expr}.__class__ is not {t.__name__} or {expr} != {lit}: return MISS")
            return
        if isinstance(obj, Tensor):
            if id(obj) not in self.tensors or arg:
                prev = self.tensors.get(id(obj))
                self.tensors[id(obj)] = (expr, obj, arg, prev)
            return
        if isinstance(obj, (types.ModuleType, type, types.BuiltinFunctionType)) or depth > _MAX_DEPTH:
            return
        if t is tuple or t is list:
            if len(obj) > _MAX_ITEMS:
                return
            self.lines.append(f"if {expr}.__class__ is not {t.__name__} or len({expr}) != {len(obj)}: return MISS")
            for i, v in enumerate(obj):
                self.visit(v, f"{expr}[{i}]", depth + 1, arg)
            return
        if not arg and not fixed:
            self.lines.append(f"if {expr} is not {self.k(obj)}: return MISS")
            expr = self.k(obj)
        if id(obj) in self.seen:
            return
        self.seen.add(id(obj))
        if isinstance(obj, dict):
            if len(obj) > _MAX_ITEMS:
                return
            self.lines.append(f"if len({expr}) != {len(obj)}: return MISS")
            for key, v in list(obj.items()):
                kx = repr(key) if type(key) in (str, int) else self.k(key)
                acc = f"{expr}[{kx}]" if type(obj) is dict else f"{expr}.get({kx})"  # NOTE: a defaultdict would add it
                self.visit(v, acc, depth + 1, arg)
            return
        if isinstance(obj, (types.FunctionType, types.MethodType)):
            self.visit_function(obj, depth + 1)
            return
        if isinstance(obj, CompiledFunction):  # called inside: recorded as part of this function
            self.visit_function(obj._fn, depth + 1)
            return
        from ..optim.optimizer import Optimizer

        if isinstance(obj, Optimizer):
            self.visit_optimizer(obj, expr, depth)
            return
        if isinstance(obj, (np.ndarray, _backends.Backend, _backends.device)) or _library_object(obj):
            return
        d = getattr(obj, "__dict__", None)
        if isinstance(d, dict):
            dx = self.k(d)  # NOTE: an object's __dict__ is the same dict for its life (unless assigned)
            for key, v in list(d.items()):
                self.visit(v, f"{dx}[{key!r}]", depth + 1)

    def visit_optimizer(self, opt, expr: str, depth: int) -> None:
        self.optimizers[id(opt)] = opt
        builtin = type(opt).__module__.startswith("tensorweaver.optim")
        groups = opt.param_groups
        self.lines.append(
            f"if {expr}.param_groups is not {self.k(groups)} or len({self.k(groups)}) != {len(groups)}: return MISS"
        )
        for gi, group in enumerate(groups):
            gx = self.k(group)
            self.lines.append(f"if {self.k(groups)}[{gi}] is not {gx} or len({gx}) != {len(group)}: return MISS")
            for key, v in group.items():
                if builtin and key != "params" and _symbolic(v):
                    self.sym_slots.append((group, key))
                else:
                    self.visit(v, f"{gx}.get({key!r})", depth + 1)
        st = opt.state
        sx = self.k(st)
        self.lines.append(f"if {expr}.state is not {sx} or len({sx}) != {len(st)}: return MISS")
        for p, s in list(st.items()):
            px = self.k(p)
            if not isinstance(s, dict):
                continue
            self.lines.append(f"if {sx}.get({px}) is not {self.k(s)} or len({self.k(s)}) != {len(s)}: return MISS")
            for key, v in s.items():
                if builtin and _symbolic(v):
                    self.sym_slots.append((s, key))
                else:
                    self.visit(v, f"{self.k(s)}.get({key!r})", depth + 1)

    def install_syms(self, rec) -> list:
        """Replace the optimizers' numbers by host-number inputs for the recording; returns what to restore."""
        installed = []
        for d, key in self.sym_slots:
            v = d[key]
            src = f"{self.k(d)}[{key!r}]"
            d[key] = new = _make_sym(rec, v, src)
            installed.append((d, key, v, new))
        return installed


def _make_sym(rec, v, src: str):
    if type(v) is tuple:
        rec.sym_guards.append((len(rec.sym_lines), f"len({src}) == {len(v)}"))
        return tuple(_make_sym(rec, e, f"{src}[{i}]") for i, e in enumerate(v))
    s = rec.new_sym(v, src)
    rec.sym_guards.append((len(rec.sym_lines), f"y{s.n}.__class__ is {type(v).__name__}"))
    return s


def _symbolic(v) -> bool:
    if type(v) in (int, float):
        return True
    return type(v) is tuple and 0 < len(v) <= 4 and all(type(e) in (int, float) for e in v)


def _restore_syms(installed: list, guards: _Guards):
    """Put the optimizers' numbers back (concrete); returns the lines a replay writes them with, or None
    when a value can't be written by a replay."""
    writes = []
    ok = True
    for d, key, old, new in installed:
        cur = d.get(key, _ABSENT)
        if cur is new:
            d[key] = old
            continue
        d[key] = _concrete(cur)
        text = _sym_text(cur)
        if text is None:
            ok = False
        else:
            writes.append(f"{guards.k(d)}[{key!r}] = {text}")
    _concrete_optimizers(guards)  # state made during the call may hold host-number stand-ins
    return writes if ok else None


def _concrete_optimizers(guards: _Guards) -> None:
    """Every host-number stand-in in the optimizers' groups and state replaced by its value."""
    for opt in guards.optimizers.values():
        for s in list(opt.state.values()):
            if isinstance(s, dict):
                for key, v in list(s.items()):
                    if _has_sym(v):
                        s[key] = _concrete(v)
        for group in opt.param_groups:
            for key, v in list(group.items()):
                if _has_sym(v):
                    group[key] = _concrete(v)


_ABSENT = object()


def _has_sym(v) -> bool:
    return type(v) is Sym or (type(v) is tuple and any(type(e) is Sym for e in v))


def _concrete(v):
    if type(v) is Sym:
        return v.v
    if type(v) is tuple:
        return tuple(_concrete(e) for e in v)
    return v


def _sym_text(v):
    if type(v) is Sym:
        return f"y{v.n}"
    if type(v) is tuple:
        parts = [_sym_text(e) for e in v]
        return None if None in parts else "(" + "".join(p + ", " for p in parts) + ")"
    return None  # a plain number set by Python code the guards can't see (a scheduler inside fn)


def _library(fn) -> bool:
    mod = getattr(fn, "__module__", None) or ""
    return mod.split(".")[0] in _SKIP_MODULES


def _library_object(obj) -> bool:
    from ..nn.modules.module import Module

    if isinstance(obj, Module):
        return False
    return (type(obj).__module__ or "").split(".")[0] in _SKIP_MODULES


def _names(code) -> list:
    out = list(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out += _names(c)
    return out


class _Plan:
    """After the recorded call: the program's inputs, what it writes back, and what it returns."""

    def __init__(self, rec: Recorder, guards: _Guards, namer: _Namer, result) -> None:
        self.rec, self.guards, self.namer = rec, guards, namer
        self.unrecordable: str | None = None
        self.cacheable = True
        self.why_not = "it makes optimizer state on every call"
        self.prologue: list = []
        self.inputs: list = []
        self.writebacks: list = []
        self.out_slots: set = set()
        self.local: dict = {}  # id(pre tensor) -> its local name in the program
        self.first_read: dict = {}  # input slot -> the local of the tensor it is read from
        self.newt: dict = {}  # id(new tensor) -> local name of the tensor a replay makes
        self.new_lines: list = []
        pres = [i for i in rec.tinfo.values() if not i.new]
        grad_of = {}
        for i in pres:
            if i.grad0 is not None:
                grad_of[id(i.grad0)] = i
        pres = [i for i in pres if i.input is not None or i.data_set or i.grad_read or i.t._requires_grad is not i.rg0]
        for i in pres:
            if self.bind(i, grad_of) is None:
                return
        self.result = self.template(result)
        self.check_new_tensors(result)
        for i in pres:
            t, loc = i.t, self.local[id(i.t)]
            if i.input is not None and self.first_read.get(i.input.slot) == loc:
                self.inputs.append((i.input.slot, loc))
            final = _record._data_get(t)
            if type(final) is _record.Rec and (i.input is None or final is not i.input):
                self.writebacks.append(f"{loc}._data = s{final.slot}")
                self.out_slots.add(final.slot)
            elif type(final) is not _record.Rec and i.input is not None:
                self.fail("a tensor's array was replaced by one the recording can't follow")
                return
            if t._requires_grad is not i.rg0:
                self.writebacks.append(f"{loc}._requires_grad = {t._requires_grad}")
            if i.grad_read:  # NOTE: every write of ._grad reads it first (Recorder.write_grad)
                g = _record._grad_get(t)
                if g is not i.grad0:
                    self.writebacks.append(f"{loc}._grad = {self.tensor_ref(g)}")
        # NOTE: arrays distinct when recorded may be one array in a replay: the program then runs the
        # eager call's operations on shared memory, as eager would (decisions on identity are only
        # whether a gradient is copied, which changes no value).
        self.writebacks = self.new_lines + self.writebacks

    def fail(self, why: str) -> None:
        if self.unrecordable is None:
            self.unrecordable = why

    def bind(self, i, grad_of):
        """Give pre tensor ``i`` a local name in the program, with its guards (once)."""
        t = i.t
        loc = self.local.get(id(t))
        if loc is not None:
            return loc
        entry = self.guards.tensors.get(id(t))
        pl = self.prologue
        if entry is not None:
            expr, _t, is_arg, prev = entry
            loc = f"t{len(self.local)}"
            pl.append(f"{loc} = {expr}")
            if not is_arg or prev is not None:
                pl.append(f"if {loc} is not {self.namer.name(t)}: return MISS")
        elif id(t) in grad_of:
            owner = grad_of[id(t)]
            oloc = self.bind(owner, grad_of)
            if oloc is None:
                return None
            loc = f"t{len(self.local)}"
            pl.append(f"{loc} = {oloc}._grad")
        else:
            self.fail(
                f"it reads a tensor of shape {tuple(t.shape)} that its guards can't reach (not an argument, "
                "nor in its closure, globals or self)"
            )
            return None
        self.local[id(t)] = loc
        k = self.namer.name
        if t.grad_fn is not None:
            self.fail("it reads a tensor with a graph made outside the function")
            return None
        d = _record._data_get(t)
        d = i.input.v if i.input is not None else (d.v if type(d) is _record.Rec else d)
        same = entry is not None and (not entry[2] or entry[3] is not None)  # identity guarded above
        if i.input is not None:
            dv = f"s{i.input.slot}"
            first = self.first_read.get(i.input.slot)
            if first is not None:
                pl.append(f"if {loc}._data is not {dv}: return MISS")  # one array when recorded: one now
            else:
                self.first_read[i.input.slot] = loc
                pl.append(f"{dv} = {loc}._data")
        else:
            dv = "d_"
            pl.append(f"d_ = {loc}._data")
        cond = [] if same else [f"{loc}.__class__ is not {k(type(t))}"]
        cond += [f"{loc}._backend is not {k(t._backend)}", f"{loc}.grad_fn is not None", f"{loc}._hooks"]
        cond += [f"{loc}._requires_grad is not {i.rg0}", f"{dv}.shape != {tuple(d.shape)!r}"]
        if isinstance(d, np.ndarray):
            cond += [f"{dv}.dtype is not {k(d.dtype)}", f"{dv}.strides != {d.strides!r}"]
        else:
            cond += [f"{dv}.dtype != {k(d.dtype)}"]
        if i.grad_read:
            cond.append(f"{loc}._grad is {'not ' if i.grad0 is None else ''}None")
        pl.append(f"if {' or '.join(cond)}: return MISS")
        return loc

    def tensor_ref(self, t) -> str:
        if t is None:
            return "None"
        loc = self.local.get(id(t))
        if loc is not None:
            return loc
        n = self.newt.get(id(t))
        if n is not None:
            return n
        d = _record._data_get(t)
        if type(d) is not _record.Rec:
            self.fail("it makes a tensor the recording can't follow")
            return "None"
        if t.grad_fn is not None and t.grad_fn.inputs is not None:
            self.fail(
                "it returns or keeps a tensor whose graph is still alive (call backward() inside it, or "
                "return .detach())"
            )
            return "None"
        if _record._grad_get(t) is not None:
            self.fail("it makes a tensor with a .grad of its own")
            return "None"
        n = f"n{len(self.newt)}"
        self.newt[id(t)] = n
        self.out_slots.add(d.slot)
        cls = "" if type(t) is Tensor else f", {self.namer.name(type(t))}"
        self.new_lines.append(
            f"{n} = {self.namer.name(_function.output)}(s{d.slot}, {self.namer.name(t._backend)}{cls})"
        )
        return n

    def template(self, x):
        t = type(x)
        if isinstance(x, Tensor):
            return self.tensor_ref(x)
        if t is tuple:
            return "(" + "".join(self.template(a) + ", " for a in x) + ")"
        if t is list:
            return "[" + ", ".join(self.template(a) for a in x) + "]"
        if t is dict:
            return "{" + ", ".join(f"{self.namer.name(k)}: {self.template(v)}" for k, v in x.items()) + "}"
        if x is None or t in (int, float, bool, str):
            return repr(x) if t is not float else _literal(x)
        if type(x) is Sym:
            return f"y{x.n}"
        self.fail(f"it returns a {t.__name__}, which a replay can't rebuild")
        return "None"

    def check_new_tensors(self, result) -> None:
        """New tensors still alive must be returned or be a gradient; state an optimizer made in this
        call (a first step) means the call is not replayed (the next one records the steady step)."""
        alive = [i for i in self.rec.tinfo.values() if i.new and i.ref() is not None]
        accounted = set(self.newt)
        for i in self.rec.tinfo.values():
            if not i.new:
                g = _record._grad_get(i.t)
                if g is not None:
                    accounted.add(id(g))
        extra = [i for i in alive if id(i.ref()) not in accounted]
        if extra:
            gc.collect()
            extra = [i for i in extra if i.ref() is not None]
        if not extra:
            return
        state = set()
        for opt in self.guards.optimizers.values():
            for s in opt.state.values():
                if isinstance(s, dict):
                    state.update(id(v) for v in s.values() if isinstance(v, Tensor))
        for i in extra:
            t = i.ref()
            if t is None:
                continue
            self.cacheable = False
            if id(t) not in state:
                self.why_not = (
                    f"it keeps a tensor it makes (shape {tuple(t.shape)}) somewhere a replay can't update "
                    "(return it instead)"
                )
