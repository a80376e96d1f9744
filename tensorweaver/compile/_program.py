"""A recorded step as straight-line Python: dead values dropped, no-op reshapes and double transposes
removed, NumPy temporaries written into reused buffers with ``out=``, large arrays freed after their
last use (as eager frees them), all compiled once with ``exec``."""

from __future__ import annotations

import re
import weakref
from typing import Any

import numpy as np

from ._record import Const, SlotRef, SymRef, _literal

__all__ = ["Program", "MISS"]


class _Miss:
    """What a program returns when a guard fails (the caller records again)."""

    __repr__ = lambda self: "MISS"  # noqa: E731


MISS = _Miss()

_OPSYM = {
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
# the NumPy ufunc of each operator, for results written into a reused buffer (not **: NumPy's
# operator takes fast paths for x**2 and x**0.5 that np.power does not)
_UFUNC = {
    "__add__": np.add,
    "__sub__": np.subtract,
    "__mul__": np.multiply,
    "__truediv__": np.true_divide,
    "__matmul__": np.matmul,
    "__eq__": np.equal,
    "__ne__": np.not_equal,
    "__lt__": np.less,
    "__le__": np.less_equal,
    "__gt__": np.greater,
    "__ge__": np.greater_equal,
    "__neg__": np.negative,
}
#: below this many elements a fresh array is cheaper than a ufunc call with out= (measured, NOTES)
OUT_MIN = 2048
#: arrays of at least this many bytes are deleted after their last use, as eager frees them
FREE_MIN = 1 << 16
_VIEW_NAMES = {"reshape", "_reshape", "permute_dims", "_permute_dims", "transpose", "matrix_transpose"}


def _perm(kind, args, values):
    """The axes permutation an instruction applies to its first argument, or None."""
    op = kind[0]
    if op == "getattr" and kind[1] in ("T", "mT") and type(args[0]) is SlotRef:
        n = values[args[0].i].ndim
        p = list(range(n))
        if kind[1] == "T":
            p.reverse()
        elif n >= 2:
            p[-1], p[-2] = p[-2], p[-1]
        return tuple(p)
    if op == "call" and getattr(kind[1], "__name__", "") in ("permute_dims", "_permute_dims") and len(args) == 2:
        if type(args[0]) is SlotRef and type(args[1]) is tuple:
            return tuple(args[1])
    return None


class Program:
    """The straight-line code of one recording, and the function that runs it (``run(args, kwargs)``)."""

    def __init__(self, rec, namer, prologue, inputs, writebacks, result: str, out_slots, numpy_out: bool):
        self.values: Any = rec.values
        self.ns = namer.ns
        self.ns.update({"MISS": MISS, "_asarray": np.asarray})
        self._names = namer.names
        code = list(rec.code)
        live_out = set(out_slots)
        alias: dict = {}

        def res(i):
            while i in alias:
                i = alias[i]
            return i

        # 1. no-op reshapes and double transposes: the result is its input (same memory, same layout)
        perms: dict = {}
        for kind, out, args, _kwargs, effect, _scalar in code:
            if out is None or effect:
                continue
            name = getattr(kind[1], "__name__", "") if kind[0] == "call" else ""
            a0 = args[0] if args and type(args[0]) is SlotRef else None
            if a0 is None:
                continue
            src = self.values[res(a0.i)]
            if name in ("reshape", "_reshape") and getattr(self.values[out], "shape", None) == getattr(src, "shape", 0):
                if getattr(self.values[out], "strides", None) == getattr(src, "strides", None):
                    alias[out] = res(a0.i)
                    continue
            p = _perm(kind, args, self.values)
            if p is not None:
                prev = perms.get(res(a0.i))
                if prev is not None and all(prev[1][p[k]] == k for k in range(len(p))):
                    alias[out] = prev[0]
                else:
                    perms[out] = (res(a0.i), p)

        def sub(x):
            t = type(x)
            if t is SlotRef:
                return SlotRef(res(x.i))
            if t is tuple:
                return tuple(sub(a) for a in x)
            if t is list:
                return [sub(a) for a in x]
            if t is dict:
                return {k: sub(v) for k, v in x.items()}
            return x

        code = [(k, o, sub(a), sub(kw), e, s) for k, o, a, kw, e, s in code if o not in alias]
        writebacks = [_SREF.sub(lambda m: f"s{res(int(m.group(1)))}", ln) for ln in writebacks]
        result = _SREF.sub(lambda m: f"s{res(int(m.group(1)))}", result)
        live_out = {res(i) for i in live_out}
        self.alias = {i: res(i) for i in alias}

        # 1b. constants: a *_like of a slot is made from its shape; an array made from constants alone,
        # never written to and never handed out, is made once (here) instead of every call
        groups = _view_groups(code, self.values)
        mutated = _closure(_mutated(code), groups)
        escape0 = _closure(set(live_out), groups)
        consts: dict = {}
        rewritten = []
        for ins in code:
            kind, out, args, kwargs, effect, scalar = ins
            name = getattr(kind[1], "__name__", "") if kind[0] == "call" else ""
            if name.lstrip("_") in _LIKE and len(args) == 1 and type(args[0]) is SlotRef and not kwargs:  # pyright: ignore
                ins = (("call", _maker(name.lstrip("_"), self.values[out])), out, (), {}, False, scalar)
                kind, out, args, kwargs, effect, scalar = ins
            if (
                kind[0] in ("call", "bin", "un", "getattr", "getitem")
                and out is not None
                and not effect
                and out not in mutated
                and out not in escape0
                and _slots((args, kwargs), set()) <= consts.keys()
                and not _syms((args, kwargs), set())
                and not isinstance(self.values[out], tuple)
            ):
                consts[out] = self.values[out]
                self.ns[f"s{out}"] = _copy(self.values[out])
                continue
            rewritten.append(ins)
        code = rewritten
        # 1c. broadcast_to(x, shape) whose every use is an elementwise operator with a full-shape partner: x
        uses: dict = {}
        for pos, (_kind, _out, args, kwargs, _effect, _scalar) in enumerate(code):
            for sl in _slots((args, kwargs), set()):
                uses.setdefault(sl, []).append(pos)
        repl: dict = {}
        for kind, out, args, _kwargs, _effect, _scalar in code:
            name = getattr(kind[1], "__name__", "") if kind[0] == "call" else ""
            if name.lstrip("_") != "broadcast_to" or out in mutated or out in escape0 or type(args[0]) is not SlotRef:
                continue
            full = getattr(self.values[out], "shape", None)
            ok = bool(uses.get(out))
            for pos in uses.get(out, ()):
                k2, o2, a2, kw2, e2, s2 = code[pos]
                if k2[0] != "bin" or k2[1] == "__matmul__" or kw2 or len(a2) != 2:
                    ok = False
                    break
                other = a2[1] if type(a2[0]) is SlotRef and a2[0].i == out else a2[0]
                if type(other) is not SlotRef or other.i == out or getattr(self.values[other.i], "shape", None) != full:
                    ok = False
                    break
            if ok:
                repl[out] = args[0].i
        if repl:
            code = [
                (
                    k,
                    o,
                    tuple(SlotRef(repl.get(a.i, a.i)) if type(a) is SlotRef else a for a in args)
                    if k[0] == "bin"
                    else args,
                    kw,
                    e,
                    sc,
                )
                for k, o, args, kw, e, sc in code
            ]

        # 2. dead values: an operation without effects whose result nothing reads is dropped
        live = set(live_out)
        kept = []
        for ins in reversed(code):
            kind, out, args, kwargs, effect, scalar = ins
            if effect or out in live:
                kept.append(ins)
                _slots((args, kwargs), live)
        code = kept[::-1]
        self.dropped = len(rec.code) - len(code)

        # 3. NumPy: temporaries written into buffers reused across calls (never an escaping value)
        last_use: dict = {}
        for pos, (_kind, _out, args, kwargs, _effect, _scalar) in enumerate(code):
            for s in _slots((args, kwargs), set()):
                last_use[s] = pos
        escape = set(live_out)
        group: dict = {}  # slot -> the slot whose memory it may view
        for kind, out, args, kwargs, _effect, _scalar in code:
            if out is None:
                continue
            v = self.values[out]
            fresh = isinstance(v, np.ndarray) and v.base is None and kind[0] in ("bin", "un", "call")
            if not fresh:
                for s in _slots((args, kwargs), set()):
                    group.setdefault(out, set()).add(s)
        # an escaping view keeps its base escaping; a viewed slot lives as long as its views
        changed = True
        while changed:
            changed = False
            for out, bases in group.items():
                if out in escape:
                    for b in bases:
                        if b not in escape:
                            escape.add(b)
                            changed = True
                for b in bases:
                    if last_use.get(out, -1) > last_use.get(b, -1):
                        last_use[b] = last_use[out]
                        changed = True
        buffers: dict = {}  # slot -> buffer name
        free: dict = {}  # (shape, dtype) -> [(free after pos, name)]
        nbuf = 0
        if numpy_out:
            for pos, (kind, out, _args, kwargs, effect, scalar) in enumerate(code):
                if out is None or out in escape or scalar or effect and kind[0] != "call":
                    continue
                v = self.values[out]
                if not (type(v) is np.ndarray and v.base is None and v.size >= OUT_MIN and v.flags.c_contiguous):
                    continue
                uf = self._ufunc(kind)
                if uf is None or kwargs:
                    continue
                key = (v.shape, v.dtype.str)
                pool = free.setdefault(key, [])
                name = None
                for j, (until, nm) in enumerate(pool):
                    if until < pos:
                        name = nm
                        del pool[j]
                        break
                if name is None:
                    name = f"B{nbuf}"
                    nbuf += 1
                    self.ns[name] = np.empty(v.shape, v.dtype)
                buffers[out] = name
                pool.append((last_use.get(out, pos), name))
        self.buffers = buffers

        # 4. the source
        body = []
        frees: dict = {}
        for s, pos in last_use.items():
            v = self.values[s] if s < len(self.values) else None
            if s not in live_out and s not in buffers and s not in consts and getattr(v, "nbytes", 0) >= FREE_MIN:
                frees.setdefault(pos, []).append(s)
        ins_slots = inputs_set(inputs)
        for pos, ins in enumerate(code):
            # an in-place operator writes into its target, buffer or not: the buffer is the creator's
            body.append(self._line(ins, None if ins[0][0] == "ibin" else buffers.get(ins[1])))
            for s in frees.get(pos, ()):
                if s not in ins_slots:
                    body.append(f"del s{s}")
        sym_lines = _live_syms(rec, code, prologue + writebacks + [result])
        lines = ["def run(args, kwargs):", "    try:"]
        lines += ["        " + ln for ln in prologue]
        lines += ["        " + ln for ln in sym_lines]
        lines += ["    except Exception:", "        return MISS"]
        lines += ["    " + ln for ln in body]
        lines += ["    " + ln for ln in writebacks]
        lines.append(f"    return {result}")
        self.source = "\n".join(lines) + "\n"
        # the same program in three parts, for a replay that runs the array code apart (a CUDA graph):
        # guard(args, kwargs) -> (locals, input arrays, numbers) | MISS; body(*arrays, *numbers) ->
        # outputs; finish(*locals, *outputs, *numbers) -> the result
        tail = writebacks + [result]
        locs = sorted({m for ln in tail for m in _TREF.findall(ln)}, key=lambda n: int(n[1:]))
        body_text = "\n".join(body)
        in_slots = [f"s{slot}" for slot, _loc in inputs if re.search(rf"\bs{slot}\b", body_text)]
        body_syms = sorted({f"y{m}" for m in _YREF.findall(body_text)}, key=lambda n: int(n[1:]))
        outs = sorted({f"s{m}" for ln in tail for m in _SREF.findall(ln)} - set(in_slots), key=lambda n: int(n[1:]))
        tail_syms = sorted({f"y{m}" for ln in tail for m in _YREF.findall(ln)}, key=lambda n: int(n[1:]))
        tail_ins = sorted({f"s{m}" for ln in tail for m in _SREF.findall(ln)} & set(in_slots))
        self.split_in, self.split_out = in_slots, outs
        self.mutated_inputs = [i for i, name in enumerate(in_slots) if int(name[1:]) in mutated]
        split = [
            "def guard(args, kwargs):",
            "    try:",
            *["        " + ln for ln in prologue + sym_lines],
            "    except Exception:",
            "        return MISS",
            f"    return ({_tuple(locs + tail_ins + tail_syms)}), ({_tuple(in_slots)}), ({_tuple(body_syms)})",
            f"def body({', '.join(in_slots + body_syms)}):",
            *["    " + ln for ln in body],
            f"    return ({_tuple(outs)})",
            "def finish(head, outs):",
            f"    ({_tuple(locs + tail_ins + tail_syms)}) = head",
            f"    ({_tuple(outs)}) = outs",
            *["    " + ln for ln in writebacks],
            f"    return {result}",
        ]
        self.split_source = "\n".join(split) + "\n"
        exec(compile(self.source, "<tw.compile program>", "exec"), self.ns)  # noqa: S102 - our own code
        exec(compile(self.split_source, "<tw.compile program, split>", "exec"), self.ns)  # noqa: S102
        self.run = self.ns["run"]
        self.guard, self.body, self.finish = self.ns["guard"], self.ns["body"], self.ns["finish"]
        self.n_ops = len(code)
        # NOTE: the recording's arrays are not kept (they would hold every intermediate of the step):
        # only the inputs' (a CUDA graph reads in place those that are still the tensors' arrays)
        self.cuda = any(type(v).__module__.startswith("cupy") for v in self.values)
        self.input_values = {slot: _weak(self.values[slot]) for slot, _loc in inputs}
        self.values = None
        self.has_random = any(
            e and ins[0][0] == "call" and getattr(ins[0][1], "__name__", "") in _RANDOM
            for ins in code
            for e in [ins[4]]
        )

    def run_split(self, args, kwargs):
        """``run`` through guard, body and finish (what a CUDA graph replaces the body of)."""
        g = self.guard(args, kwargs)
        if g is MISS:
            return MISS
        head, ins, ys = g
        return self.finish(head, self.body(*ins, *ys))

    def name(self, obj) -> str:
        """A name bound to ``obj`` in the generated code."""
        n = self._names.get(id(obj))
        if n is None:
            n = self._names[id(obj)] = f"K{len(self._names)}"
            self.ns[n] = obj
        return n

    def _ufunc(self, kind):
        if kind[0] in ("bin", "un"):
            return _UFUNC.get(kind[1])
        if kind[0] == "call" and isinstance(kind[1], np.ufunc) and kind[1].nout == 1:
            return kind[1]
        return None

    def render(self, x) -> str:
        t = type(x)
        if t is SlotRef:
            return f"s{x.i}"
        if t is SymRef:
            return f"y{x.n}"
        if t is Const:
            return self.name(x.v)
        if t is tuple:
            return "(" + "".join(self.render(a) + ", " for a in x) + ")"
        if t is list:
            return "[" + ", ".join(self.render(a) for a in x) + "]"
        if t is dict:
            return "{" + ", ".join(f"{k!r}: {self.render(v)}" for k, v in x.items()) + "}"
        if t is slice:
            return f"slice({self.render(x.start)}, {self.render(x.stop)}, {self.render(x.step)})"
        if x is Ellipsis:
            return "..."
        if t in (int, float, bool) or x is None:
            return _literal(x)
        if t is str:
            return repr(x)
        return self.name(x)

    def _call_args(self, args, kwargs, extra: str = "") -> str:
        parts = [self.render(a) for a in args] + [f"{k}={self.render(v)}" for k, v in kwargs.items()]
        if extra:
            parts.append(extra)
        return ", ".join(parts)

    def _inlined(self, fn, args, kwargs):
        """The CPU namespace's fast-path wrappers written as the call they end in (their own bodies,
        for the arguments recorded): one Python call less per operation."""
        from ..backends._numpy_namespace import _permute_dims, _reshape, _sum

        if not args or type(args[0]) is not SlotRef or type(self.values[args[0].i]) is not np.ndarray:
            return None
        x = self.render(args[0])
        if fn is _permute_dims and len(args) == 2 and not kwargs:
            return f"{x}.transpose({self.render(args[1])})"
        if fn is _reshape and len(args) == 2 and not kwargs:
            return f"{x}.reshape({self.render(args[1])})"
        if fn is _sum and len(args) == 1 and kwargs.get("dtype") is None and set(kwargs) <= {"axis", "keepdims"}:
            if self.values[args[0].i].dtype.kind in "fc":
                kw = {"axis": None, **kwargs}  # NOTE: np.add.reduce's default axis is 0, np.sum's None
                return f"{self.name(np.add.reduce)}({self._call_args(args, kw)})"
        return None

    def _line(self, ins, buf) -> str:
        kind, out, args, kwargs, effect, scalar = ins
        op = kind[0]
        lhs = "" if out is None else f"s{out} = "
        if buf is not None:
            uf = self.name(self._ufunc(kind))
            return f"{lhs}{uf}({self._call_args(args, {}, 'out=' + buf)})"
        if op == "call":
            rhs = self._inlined(kind[1], args, kwargs) or f"{self.name(kind[1])}({self._call_args(args, kwargs)})"
        elif op == "bin":
            rhs = f"{self.render(args[0])} {_OPSYM[kind[1]]} {self.render(args[1])}"
        elif op == "ibin":
            return f"{self.render(args[0])} {_OPSYM[kind[1]]}= {self.render(args[1])}"
        elif op == "un":
            sym = {"__neg__": "-", "__pos__": "+", "__invert__": "~"}.get(kind[1])
            rhs = f"abs({self.render(args[0])})" if sym is None else f"{sym}{self.render(args[0])}"
        elif op == "getattr":
            rhs = f"{self.render(args[0])}.{kind[1]}"
        elif op == "method":
            rhs = f"{self.render(args[0])}.{kind[1]}({self._call_args(args[1:], kwargs)})"
        elif op == "getitem":
            rhs = f"{self.render(args[0])}[{self.render(args[1])}]"
        elif op == "setitem":
            return f"{self.render(args[0])}[{self.render(args[1])}] = {self.render(args[2])}"
        else:  # pragma: no cover
            raise AssertionError(op)
        if scalar:
            rhs = f"_asarray({rhs})"
        return lhs + rhs


_LIKE = {"ones_like", "zeros_like", "empty_like"}


def _maker(name: str, like):
    """A function of no arguments making an array of ``like``'s shape, dtype and device (``*_like``)."""
    import functools

    import array_api_compat

    if type(like) is np.ndarray:
        return functools.partial(getattr(np, name[:-5]), like.shape, like.dtype)
    xp = array_api_compat.array_namespace(like)
    return functools.partial(getattr(xp, name[:-5]), like.shape, dtype=like.dtype, device=array_api_compat.device(like))


def _copy(v):
    if type(v) is np.ndarray:
        return v.copy()
    import array_api_compat

    return array_api_compat.array_namespace(v).asarray(v, copy=True)


def _view_groups(code, values) -> dict:
    """slot -> the slots whose memory it may share (the arguments of an operation that did not make a
    new array: a view, or an array handed back)."""
    groups: dict = {}
    for kind, out, args, kwargs, _effect, _scalar in code:
        if out is None:
            continue
        v = values[out]
        fresh = isinstance(v, np.ndarray) and v.base is None and kind[0] in ("bin", "un", "call")
        if not fresh:
            groups[out] = _slots((args, kwargs), set())
    return groups


def _mutated(code) -> set:
    out = set()
    for kind, _o, args, kwargs, effect, _scalar in code:
        if kind[0] in ("ibin", "setitem") or (kind[0] == "method" and effect):
            if args and type(args[0]) is SlotRef:
                out.add(args[0].i)
        elif effect and kind[0] == "call":
            out |= _slots((args, kwargs), set())  # NOTE: a black box may write its arguments
    return out


def _closure(marked: set, groups: dict) -> set:
    """``marked`` and every slot a marked slot may view (a write to a view writes its base; a view
    handed out keeps its base in use)."""
    marked = set(marked)
    changed = True
    while changed:
        changed = False
        for out, bases in groups.items():
            if out in marked and not bases <= marked:
                marked |= bases
                changed = True
    return marked


def inputs_set(inputs) -> set:
    return {slot for slot, _ in inputs}


def _slots(x, acc: set) -> set:
    t = type(x)
    if t is SlotRef:
        acc.add(x.i)
    elif t is tuple or t is list:
        for a in x:
            _slots(a, acc)
    elif t is dict:
        for a in x.values():
            _slots(a, acc)
    return acc


def _syms(x, acc: set) -> set:
    t = type(x)
    if t is SymRef:
        acc.add(x.n)
    elif t is tuple or t is list:
        for a in x:
            _syms(a, acc)
    elif t is dict:
        for a in x.values():
            _syms(a, acc)
    return acc


_YREF = re.compile(r"\by(\d+)\b")
_SREF = re.compile(r"\bs(\d+)\b")
_TREF = re.compile(r"\b(t\d+)\b")
_RANDOM = {"rand", "randn", "randint", "randperm"}


def _weak(v):
    """A callable giving ``v`` back while it lives (a weak reference where the array type has them)."""
    try:
        return weakref.ref(v)
    except TypeError:
        return lambda: v


def _tuple(names) -> str:
    return "".join(n + ", " for n in names)


def _live_syms(rec, code, texts) -> list:
    """The scalar prologue: the source reads, the arithmetic the live code needs, and the guards."""
    need: set = set()
    for _kind, _out, args, kwargs, _effect, _scalar in code:
        _syms((args, kwargs), need)
    for text in texts:
        need.update(int(m) for m in _YREF.findall(text))
    for _pos, text in rec.sym_guards:
        need.update(int(m) for m in _YREF.findall(text))
    lines = rec.sym_lines
    keep = [False] * len(lines)
    for j in range(len(lines) - 1, -1, -1):
        n, text = lines[j]
        if n in need:
            keep[j] = True
            need.update(int(m) for m in _YREF.findall(text) if int(m) != n)
    out = []
    guards = sorted(rec.sym_guards)
    g = 0
    for j, (n, text) in enumerate(lines):
        while g < len(guards) and guards[g][0] <= j:
            out.append(f"if not ({guards[g][1]}): return MISS")
            g += 1
        if keep[j]:
            out.append(f"y{n} = {text}")
    for _pos, text in guards[g:]:
        out.append(f"if not ({text}): return MISS")
    return out
