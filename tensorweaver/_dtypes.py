"""Backend-independent dtypes (``tw.float32`` ...), PyTorch-style promotion, and the default dtype."""

from __future__ import annotations

__all__ = [
    "dtype",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "get_default_dtype",
    "set_default_dtype",
    "promote_types",
    "to_dtype",
]

_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


class dtype:  # noqa: N801 - PyTorch's name
    """A data type, the same object on every backend (``tw.float32 == t.dtype``)."""

    __slots__ = ("name", "kind", "itemsize")

    def __init__(self, name: str, kind: str, itemsize: int) -> None:
        self.name = name
        self.kind = kind  # 'b' bool, 'i' signed, 'u' unsigned, 'f' float, 'c' complex
        self.itemsize = itemsize

    @property
    def is_floating_point(self) -> builtins_bool:
        """True for float16, float32 and float64."""
        return self.kind == "f"

    @property
    def is_complex(self) -> builtins_bool:
        """True for complex64 and complex128."""
        return self.kind == "c"

    def __repr__(self) -> str:
        return f"tensorweaver.{self.name}"

    def __reduce__(self):
        return self.name


builtins_bool = bool

bool = dtype("bool", "b", 1)  # noqa: A001 - PyTorch's name, shadowing only inside this module
int8 = dtype("int8", "i", 1)
int16 = dtype("int16", "i", 2)
int32 = dtype("int32", "i", 4)
int64 = dtype("int64", "i", 8)
uint8 = dtype("uint8", "u", 1)
float16 = dtype("float16", "f", 2)
float32 = dtype("float32", "f", 4)
float64 = dtype("float64", "f", 8)
complex64 = dtype("complex64", "c", 8)
complex128 = dtype("complex128", "c", 16)

ALL = (bool, int8, int16, int32, int64, uint8, float16, float32, float64, complex64, complex128)
BY_NAME = {d.name: d for d in ALL}
BY_NAME.update({"float": float32, "double": float64, "half": float16, "long": int64, "int": int32})

_default = float32
_PYTHON_TYPES = {float: float64, int: int64, builtins_bool: bool, complex: complex128}


def get_default_dtype() -> dtype:
    """The dtype that Python floats (and float factories) get: float32 unless changed."""
    return _default


def set_default_dtype(d: dtype) -> None:
    """Set the dtype of tensors made from Python floats; float32 or float64, as in PyTorch."""
    global _default
    d = to_dtype(d)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes are allowed, got {d}")
    _default = d


def default_complex() -> dtype:
    """The complex dtype that matches the default float dtype (complex64 for float32)."""
    return complex128 if _default is float64 else complex64


def to_dtype(d) -> dtype:
    """Accept a tw.dtype, a name ('float32'), Python's float/int/bool/complex (float64, int64, bool,
    complex128, as in PyTorch), or anything with a ``name`` (NumPy dtypes and scalar types)."""
    if isinstance(d, dtype):
        return d
    # NOTE: before the names: float.__name__ is 'float', which as a name means float32
    py = _PYTHON_TYPES.get(d) if isinstance(d, type) else None
    if py is not None:
        return py
    name = d if isinstance(d, str) else getattr(d, "name", None) or getattr(d, "__name__", None)
    if name in BY_NAME:
        return BY_NAME[name]
    raise TypeError(f"unknown dtype {d!r}; expected one of {', '.join(x.name for x in ALL)}")


_promotion_cache: dict = {}


def promote_types(a: dtype, b: dtype) -> dtype:
    """The result dtype of an op on tensors of dtypes a and b.

    Within one kind this is the array API standard's lattice (float32 with float64 gives float64);
    across kinds the higher kind wins with its own dtype (int64 with float32 gives float32), as in
    PyTorch, where the standard leaves mixed kinds unspecified.
    """
    key = (a, b)
    r = _promotion_cache.get(key)
    if r is None:
        r = _promotion_cache[key] = _promote(a, b)
    return r


def _promote(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    ra, rb = _KIND_RANK[a.kind], _KIND_RANK[b.kind]
    if ra != rb:
        hi, lo = (a, b) if ra > rb else (b, a)
        if hi is complex64 and lo is float64:  # keep the float's precision, as in PyTorch
            return complex128
        return hi
    if a.kind == b.kind:
        return a if a.itemsize >= b.itemsize else b
    # signed with unsigned integers
    s, u = (a, b) if a.kind == "i" else (b, a)
    if s.itemsize > u.itemsize:
        return s
    wider = {1: int16, 2: int32, 4: int64}.get(u.itemsize)
    if wider is None:
        raise TypeError(f"no integer dtype can hold both {a} and {b}")
    return wider
