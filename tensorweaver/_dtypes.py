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
    "finfo",
    "iinfo",
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


# IEEE 754 binary16/32/64: (bits, eps, max, smallest normal, resolution), as torch.finfo reports them
_FLOAT_INFO = {
    "float16": (16, 2.0**-10, 65504.0, 2.0**-14, 1e-3),
    "float32": (32, 2.0**-23, (2 - 2.0**-23) * 2.0**127, 2.0**-126, 1e-6),
    "float64": (64, 2.0**-52, (2 - 2.0**-52) * 2.0**1023, 2.0**-1022, 1e-15),
}


class finfo:  # noqa: N801 - PyTorch's name
    """Machine limits of a floating-point dtype (the default dtype if none), as ``torch.finfo``:
    ``bits``, ``eps``, ``max``, ``min``, ``tiny`` (= ``smallest_normal``), ``resolution``, ``dtype``
    (a string). A complex dtype gives the limits of its real part."""

    __slots__ = ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype")

    def __init__(self, type=None) -> None:  # noqa: A002 - PyTorch's parameter name
        d = get_default_dtype() if type is None else to_dtype(type)
        if d.kind == "c":
            d = float32 if d is complex64 else float64
        if d.kind != "f":
            raise TypeError(f"finfo(): {d} is not a floating point dtype (use tw.iinfo for integers)")
        self.bits, self.eps, self.max, self.tiny, self.resolution = _FLOAT_INFO[d.name]
        self.min, self.smallest_normal, self.dtype = -self.max, self.tiny, d.name

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
            f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})"
        )


class iinfo:  # noqa: N801 - PyTorch's name
    """Limits of an integer (or bool) dtype, as ``torch.iinfo``: ``bits``, ``min``, ``max``, ``dtype``."""

    __slots__ = ("bits", "min", "max", "dtype")

    def __init__(self, type) -> None:  # noqa: A002 - PyTorch's parameter name
        d = to_dtype(type)
        if d.kind not in "iub":
            raise TypeError(f"iinfo(): {d} is not an integer dtype (use tw.finfo for floating point)")
        self.bits = 8 if d.kind == "b" else d.itemsize * 8
        self.min = -(2 ** (self.bits - 1)) if d.kind == "i" else 0
        self.max = 1 if d.kind == "b" else (2 ** (self.bits - 1) - 1 if d.kind == "i" else 2**self.bits - 1)
        self.dtype = d.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"
