"""docs/ops.md, the table of every public op, Tensor operator and functional, stays complete and true.

Regenerate it with ``python tests/test_ops_table.py`` after adding an op: the ops come from
``tensorweaver.ops.__all__``, the ops bound onto Tensor (``TENSOR_METHODS`` and the operators) and
``tensorweaver.nn.functional.__all__``; "twice differentiable" from the second-order table of
tests/test_autograd_api.py, "not differentiable" from the table below (each checked to record no
graph), the test files from a search of tests/.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from tensorweaver import ops

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "ops.md"


def _assign(a):
    b = a.detach() * 1.0
    b[0, 1:] = 2.0
    return b


# Ops and Tensor operators whose result is not differentiable (bool or integer results, piecewise
# constant ones documented as not differentiable, in-place assignment): a call that shows it.
NOT_DIFFERENTIABLE = {
    "eq": lambda a: tw.eq(a, a),
    "ne": lambda a: tw.ne(a, 0.5),
    "lt": lambda a: tw.lt(a, a * 2.0),
    "le": lambda a: tw.le(a, 0.0),
    "gt": lambda a: tw.gt(a, 0.0),
    "ge": lambda a: tw.ge(a, a),
    "logical_and": lambda a: tw.logical_and(a > 0, a < 1),
    "logical_or": lambda a: tw.logical_or(a > 0, a < 1),
    "logical_xor": lambda a: tw.logical_xor(a > 0, a < 1),
    "logical_not": lambda a: tw.logical_not(a > 0),
    "bitwise_and": lambda a: tw.bitwise_and(a > 0, a < 1),
    "bitwise_or": lambda a: tw.bitwise_or(a > 0, a < 1),
    "bitwise_xor": lambda a: tw.bitwise_xor(a > 0, a < 1),
    "bitwise_not": lambda a: tw.bitwise_not(a > 0),
    "isnan": lambda a: tw.isnan(a),
    "isinf": lambda a: tw.isinf(a),
    "isfinite": lambda a: tw.isfinite(a),
    "floor_divide": lambda a: tw.floor_divide(a, 0.3),
    "argmax": lambda a: tw.argmax(a, 1),
    "argmin": lambda a: tw.argmin(a),
    "all": lambda a: tw.all(a > 0),
    "any": lambda a: tw.any(a > 0, 1),
    "__eq__": lambda a: a == 0.5,
    "__ne__": lambda a: a != a,
    "__lt__": lambda a: a < 0.5,
    "__le__": lambda a: a <= 0.5,
    "__gt__": lambda a: a > 0.5,
    "__ge__": lambda a: a >= 0.5,
    "__and__": lambda a: (a > 0) & (a < 1),
    "__rand__": lambda a: True & (a > 0),
    "__or__": lambda a: (a > 0) | (a < 1),
    "__ror__": lambda a: False | (a > 0),
    "__xor__": lambda a: (a > 0) ^ (a < 1),
    "__rxor__": lambda a: True ^ (a > 0),
    "__invert__": lambda a: ~(a > 0),
    "__floordiv__": lambda a: a // 0.3,
    "__rfloordiv__": lambda a: 1.0 // a,
    "__setitem__": _assign,
    "argsort": lambda a: tw.argsort(a, 1),
    "nonzero": lambda a: tw.nonzero(a),
    "argwhere": lambda a: tw.argwhere(a),
    "isclose": lambda a: tw.isclose(a, a * 1.0),
    "F.one_hot": lambda a: F.one_hot(tw.tensor([0, 2, 1], device=a.device), 3),
}

# Differentiable ops without a second-order test of their own, with the reason.
NOTES: dict[str, str] = {
    "__setitem__": "assignment is in place and outside the graph (it raises on a tensor that requires grad)",
}

# PyTorch names a training script reaches for that are not ops (so not in the tables): what each is
# here. tests/test_api_extras.py tests them against PyTorch; test_api_extras_exist checks each resolves.
API_EXTRAS = {
    "tw.Size": "what `Tensor.shape` and `Tensor.size()` return: a tuple subclass with `numel()`, repr "
    "`tw.Size([2, 3])` (its `str` is the plain tuple); `size(dim)` is an int",
    "tw.return_types": "the named tuples `(values, indices)` of `sort` and `topk`",
    "tw.set_default_device": "what `device=None` means for the factories, `tw.tensor` and layers' "
    "parameters (`tw.from_numpy` stays on the CPU); `None` resets it",
    "tw.get_default_device": "the device `device=None` means",
    "tw.Generator": "`manual_seed`, `seed`, `initial_seed`, `get_state`/`set_state`, `device`; `generator=` "
    "on every random function, `Tensor.uniform_`/`normal_`/`bernoulli_`/`exponential_`, `nn.init`, "
    "`DataLoader`, the samplers and `random_split`",
    "tw.manual_seed": "seeds every device's default generator; returns `tw.default_generator` (the CPU's)",
    "tw.default_generator": "the CPU's default generator",
    "tw.inference_mode": "`no_grad` under PyTorch's inference name (context manager, `@tw.inference_mode()` "
    "or bare `@tw.inference_mode`); `inference_mode(False)` changes nothing",
    "tw.is_inference_mode_enabled": "True inside `inference_mode()`",
    "tw.no_grad": "a context manager, `@tw.no_grad()` or bare `@tw.no_grad`",
    "tw.is_tensor": "True for a Tensor (a Parameter too)",
    "tw.numel": "`x.numel()`",
    "tw.is_floating_point": "`x.is_floating_point()`",
    "tw.is_complex": "`x.is_complex()`",
    "tw.allclose": "a Python bool (one host sync); also `Tensor.allclose`",
    "tw.equal": "same shape and values, a Python bool; also `Tensor.equal`",
    "tw.finfo": "machine limits of a floating dtype (`bits`, `eps`, `max`, `min`, `tiny`, `smallest_normal`, "
    "`resolution`, `dtype`), equal to `torch.finfo`'s",
    "tw.iinfo": "`bits`, `min`, `max`, `dtype` of an integer dtype",
    "tw.as_tensor": "shares a NumPy array's memory (or returns the tensor itself) where it can, else copies",
    "Tensor.to": "`to(device, dtype=None, non_blocking=False, copy=False)`, `to(dtype, ...)`, "
    "`to(other_tensor, ...)`, by position or keyword; a None device or dtype changes nothing",
    "Tensor.contiguous": "returns the tensor itself (tensorweaver has no strided views); `is_contiguous()` is True",
    "Tensor.nelement": "`numel()`",
    "Tensor.element_size": "bytes per element",
    "Tensor.is_complex": "True for complex dtypes",
    "Tensor.__index__": "a one-element integer tensor as a slice bound or list index (a host copy); a float or "
    "many-element tensor is a TypeError, as in PyTorch",
    "Tensor.new_tensor": "a copy of data with this tensor's dtype and device unless given",
    "Tensor.new_zeros": "and `new_ones`, `new_empty`, `new_full`: this tensor's dtype and device unless given",
    "Tensor.type_as": "this tensor with the other's dtype and device",
    "Tensor.long": "and `int`, `short`, `char`, `byte`, `bool`, `half` (with `float`, `double`)",
    "Tensor.clamp_": "and `clip_`, `clamp_min_`, `clamp_max_`, `masked_fill_`, `pow_`, `addcmul_`, `addcdiv_`, "
    "`lerp_`: in place, outside the graph (an error on a tensor that requires grad while grad mode is on)",
    "Tensor.uniform_": "and `normal_`, `bernoulli_`, `exponential_`, each with `generator=`",
    "Tensor.detach_": "makes the tensor a leaf that does not require grad, in place",
    "Function.next_functions": "`grad_fn.next_functions`: `((node, 0), ...)` per input, `AccumulateGrad` "
    "(`.variable`) for leaves",
}

# How tests spell the ops that are operators.
ALIASES = {"pow": r"\*\*", "matmul": r"\w @ \w", "neg": r"np\.negative|lambda a: -a"}

# Where the tests of an op module live (for Tensor operators, which a text search can't find).
MODULE_TESTS = {
    "tensorweaver.ops.elementwise": "test_ops_elementwise.py",
    "tensorweaver.ops.unary": "test_ops_unary.py",
    "tensorweaver.ops.activation": "test_ops_activation.py",
    "tensorweaver.ops.compare": "test_ops_compare.py",
    "tensorweaver.ops.reduce": "test_ops_reduce.py",
    "tensorweaver.ops.shape": "test_ops_shape.py",
    "tensorweaver.ops.indexing": "test_ops_indexing.py",
    "tensorweaver.ops.linalg": "test_ops_linalg.py",
    "tensorweaver.ops.conv": "test_ops_conv.py",
    "tensorweaver.ops.normalization": "test_ops_normalization.py",
    "tensorweaver.ops.loss": "test_ops_loss.py",
}


def second_order_names() -> set:
    """The ops and Tensor methods whose second derivative tests/test_autograd_api.py checks."""
    sys.path.insert(0, str(TESTS))
    from test_autograd_api import SECOND_ORDER

    return set(SECOND_ORDER)


def bound_methods() -> dict:
    """Tensor attribute name -> the ops function behind it (methods, operators and properties)."""
    out = {}
    for name, v in vars(tw.Tensor).items():
        f = v.fget if isinstance(v, property) else v
        if callable(f) and getattr(f, "__module__", "").startswith("tensorweaver.ops"):
            out[name] = f
    return out


def functional_names() -> list:
    """``F.<name>`` for the tw.nn.functional functions that are not a tw.* op."""
    public = {getattr(ops, n) for n in ops.__all__}
    return [f"F.{n}" for n in F.__all__ if getattr(F, n) not in public]


def _test_files(name: str, texts: dict) -> list:
    """The test files that call op ``name`` (as tw.name(, .name(, 'name' or an operator alias)."""
    pat = rf"\b(tw|F|ops)\.{name}\(|\.{name}\(|[\"']{name}[\"']"
    if name in ALIASES:
        pat += "|" + ALIASES[name]
    return sorted(f for f, text in texts.items() if re.search(pat, text))


def _probe(name: str) -> str:
    """For an op in neither table: whether a call on a float64 tensor that requires grad records the
    graph ("yes"/"no"), by the first of a few argument lists it accepts; "unknown" if none."""
    fn = getattr(F, name[2:]) if name.startswith("F.") else getattr(tw, name, None) or getattr(tw.Tensor, name)
    a = tw.tensor([[0.5, 1.0, 2.0], [0.25, 1.5, 0.75]], dtype=tw.float64, requires_grad=True)
    for args in ((a,), (a, a), (a, 0.5), (a, 1), (a, (1, 3))):
        try:
            out = fn(*args)
        except Exception:
            continue
        outs = out if isinstance(out, tuple) else (out,)
        if outs and all(isinstance(o, tw.Tensor) for o in outs):
            return "yes" if any(o.requires_grad for o in outs) else "no"
    return "unknown"


def _columns(name: str, twice: set) -> tuple:
    if name in NOT_DIFFERENTIABLE:
        return "no", "no"
    if name in twice:
        return "yes", "yes"
    d = _probe(name)
    return d, ("no" if d == "no" else "untested")


def generate() -> str:
    """The text of docs/ops.md."""
    twice = second_order_names()
    methods = bound_methods()
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(TESTS.glob("test_*.py"))}
    texts.pop(Path(__file__).name)
    lines = [
        "# Ops",
        "",
        "Every public op (`tw.<name>`, from `tensorweaver.ops.__all__`) with the Tensor methods and operators",
        "bound to it, then the Tensor methods and operators of their own, then the `tw.nn.functional`",
        "functions that are not a `tw.*` op. Generated by `python tests/test_ops_table.py`;",
        "`tests/test_ops_table.py` fails when one of them is missing.",
        "",
        "- **differentiable**: the op records the graph and has a backward (*no*: bool or integer or",
        "  piecewise constant results, never in the graph; each is checked in tests/test_ops_table.py).",
        "- **twice differentiable**: its backward is written in differentiable ops and its second",
        "  derivative (a Hessian-vector product by double backward) matches finite differences of its",
        "  gradient (`check_second_order` in tests/test_autograd_api.py, on every backend), also at",
        "  inputs holding zeros (tests/test_ops_second_order_zeros.py; ops with a kink or a pole at 0",
        "  follow PyTorch's convention there, tested in their module's tests); *untested* where no",
        "  such test exists.",
        "- **tests**: the test files that call it (forward and first derivative against NumPy and",
        "  finite differences, errors), found by searching tests/.",
        "",
        "| op | Tensor methods | differentiable | twice differentiable | tests |",
        "|---|---|---|---|---|",
    ]
    public = {}
    for name in ops.__all__:
        fn = getattr(ops, name)
        public.setdefault(fn, name)
        meths = ", ".join(f"`{m}`" for m, f in methods.items() if f is fn)
        d, d2 = _columns(name, twice)
        files = _test_files(name, texts)
        if d2 == "yes" and "test_autograd_api.py" not in files:
            files = sorted([*files, "test_autograd_api.py"])
        lines.append(f"| `{name}` | {meths} | {d} | {d2} | {', '.join(files) or '—'} |")
    lines += [
        "",
        "## Tensor methods and operators that are not a `tw.*` function",
        "",
        "| method | implemented in | differentiable | twice differentiable | tests |",
        "|---|---|---|---|---|",
    ]
    for m, fn in sorted(methods.items()):
        if fn in public:
            continue
        d, d2 = _columns(m, twice)
        files = {MODULE_TESTS.get(fn.__module__, "")} - {""}
        files.update(_test_files(re.escape(m), texts))
        if d2 == "yes":
            files.add("test_autograd_api.py")
        if d == "no":
            files.add(Path(__file__).name)
        lines.append(f"| `{m}` | `{fn.__module__}` | {d} | {d2} | {', '.join(sorted(files)) or '—'} |")
    lines += [
        "",
        "## `tw.nn.functional` functions that are not a `tw.*` op",
        "",
        "| function | differentiable | twice differentiable | tests |",
        "|---|---|---|---|",
    ]
    for name in functional_names():
        d, d2 = _columns(name, twice)
        files = set(_test_files(name[2:], texts))
        if d2 == "yes":
            files.add("test_autograd_api.py")
        if d == "no":
            files.add(Path(__file__).name)
        lines.append(f"| `{name}` | {d} | {d2} | {', '.join(sorted(files)) or '—'} |")
    out_ops = sorted(n for n in ops.__all__ if "out" in inspect.signature(getattr(ops, n)).parameters)
    keepdims_ops = sorted(n for n in ops.__all__ if "keepdims" in inspect.signature(getattr(ops, n)).parameters)
    lines += [
        "",
        "## `out=` and `keepdims=`",
        "",
        "`out=` (as PyTorch: the result is written into the given tensor and returned; cast to its dtype,",
        "never to a lower kind; resized with PyTorch's warning unless it is empty; an error when an input",
        "requires grad while grad mode is on; `(values, indices)` for `sort`, `topk`, `max`, `min`): "
        + ", ".join(f"`{n}`" for n in out_ops)
        + ".",
        "",
        "`keepdims=` (NumPy's spelling, accepted where PyTorch accepts it): "
        + ", ".join(f"`{n}`" for n in keepdims_ops)
        + ".",
        "",
        "## PyTorch names beyond the ops",
        "",
        "| name | here |",
        "|---|---|",
    ]
    lines += [f"| `{n}` | {what} |" for n, what in API_EXTRAS.items()]
    lines += ["", "## Notes", ""]
    lines += [f"- `{n}`: {why}" for n, why in sorted(NOTES.items())]
    return "\n".join(lines) + "\n"


def _doc_rows() -> dict:
    if not DOC.exists():
        pytest.fail(f"{DOC} is missing: run python tests/test_ops_table.py")
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `([^`]+)` \|(?:[^|]*\|)? (yes|no|unknown) \| (yes|no|untested) \|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def test_every_public_op_is_in_the_table():
    rows = _doc_rows()
    missing = [n for n in ops.__all__ if n not in rows]
    assert not missing, f"ops missing from docs/ops.md (run python tests/test_ops_table.py): {missing}"


def test_every_tensor_operator_is_in_the_table():
    rows = _doc_rows()
    public = {getattr(ops, n) for n in ops.__all__}
    missing = [m for m, fn in bound_methods().items() if fn not in public and m not in rows]
    assert not missing, f"Tensor methods missing from docs/ops.md (run python tests/test_ops_table.py): {missing}"


def test_every_functional_is_in_the_table():
    rows = _doc_rows()
    missing = [n for n in functional_names() if n not in rows]
    assert not missing, f"tw.nn.functional missing from docs/ops.md (run python tests/test_ops_table.py): {missing}"


def test_the_table_claims_what_the_tests_check():
    twice = second_order_names()
    for name, (d, d2) in _doc_rows().items():
        if d2 == "yes":
            assert name in twice, f"docs/ops.md says {name} is twice differentiable, but no second-order test covers it"
        assert d != "unknown", (
            f"docs/ops.md: classify {name} in tests/test_ops_table.py (NOT_DIFFERENTIABLE or SECOND_ORDER)"
        )
        if name in NOT_DIFFERENTIABLE:
            assert d == "no", f"docs/ops.md says {name} is differentiable, but it records no graph"


@pytest.mark.parametrize("name", sorted(API_EXTRAS))
def test_api_extras_exist(name):
    owner, attr = name.split(".", 1)
    base = {"tw": tw, "Tensor": tw.Tensor, "Function": tw.autograd.function.Function}[owner]
    assert hasattr(base, attr), f"docs/ops.md lists {name}, which does not exist"
    assert name in DOC.read_text(encoding="utf-8"), (
        f"{name} missing from docs/ops.md (run python tests/test_ops_table.py)"
    )


@pytest.mark.parametrize("name", sorted(NOT_DIFFERENTIABLE))
def test_not_differentiable_ops_record_no_graph(name, device):
    a = tw.tensor([[0.5, -1.0, 2.0], [0.25, 1.5, -0.25]], dtype=tw.float64, device=device, requires_grad=True)
    out = NOT_DIFFERENTIABLE[name](a)
    assert isinstance(out, tw.Tensor) and out.device == tw.device(device)
    assert not out.requires_grad and out.grad_fn is None, f"{name} recorded a graph"


def test_setitem_refuses_a_tensor_that_requires_grad(device):
    a = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        a[0] = 3.0


if __name__ == "__main__":
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(generate(), encoding="utf-8")
    print(f"wrote {DOC}")
