"""Devices and backends: parse a device, find (once) the backend that runs it, register new ones.

Only this package imports numpy, cupy or an array library; everything above it sees a Backend.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from .. import _dtypes
from . import base
from .base import Backend, BackendUnavailable, host_array
from .device import _known_types, device
from .device import device as _Device
from .generic import GenericBackend
from .numpy import SCALAR_TYPES, NumpyBackend

__all__ = [
    "Backend",
    "BackendUnavailable",
    "device",
    "get_backend",
    "register_backend",
    "registered_backends",
    "manual_seed",
    "set_default_device",
    "get_default_device",
    "cpu",
    "SCALAR_TYPES",
]

cpu = NumpyBackend()
_by_device: dict[device, Backend] = {cpu.device: cpu}
_factories: dict[str, object] = {}
_default: list[Backend] = [cpu]  # what device=None means (set_default_device)


def set_default_device(dev) -> None:
    """Make ``dev`` (a device, a string, or None for the CPU) what ``device=None`` means for the
    factories and ``tw.tensor`` (as ``torch.set_default_device``); checked at once, so a CUDA device
    that can't be used here is a ``BackendUnavailable`` now. ``tw.from_numpy`` stays on the CPU."""
    _default[0] = cpu if dev is None else get_backend(dev)


def get_default_device() -> device:
    """The device that ``device=None`` means (the CPU unless ``set_default_device`` changed it)."""
    return _default[0].device


def register_backend(name: str, namespace, device=None) -> device:
    """Make ``device=name`` mean arrays of the array-API ``namespace`` placed on ``device``.

    ``namespace`` is any array-API namespace (``array_api_strict``, ``numpy``, ...); its
    array-api-compat wrapper is looked up once here. Returns the new ``tw.device``. Example::

        import array_api_strict as xps
        tw.backends.register_backend("strict", xps, device=xps.Device("device1"))
        t = tw.tensor([1.0, 2.0], device="strict")
    """

    if not name.isidentifier() or name in ("cpu", "cuda"):
        raise ValueError(f"register_backend(): {name!r} must be a new identifier other than 'cpu'/'cuda'")
    probe = namespace.asarray(0) if device is None else namespace.asarray(0, device=device)
    xp = array_api_compat.array_namespace(probe)
    native = array_api_compat.device(probe)
    _known_types[name] = None
    dev = _Device(name)
    _by_device[dev] = GenericBackend(xp, dev, native)  # re-registering a name replaces it
    return dev


def manual_seed(seed: int) -> None:
    """Seed the default random generator of every backend, made so far or later."""
    s = base.check_seed(seed)
    base.seed[0] = s
    for b in all_backends():
        b.manual_seed(s)


def registered_backends() -> list[str]:
    """The device types that parse: 'cpu', 'cuda' and every registered name."""
    return list(_known_types)


def get_backend(dev=None) -> Backend:
    """The backend for a device (a ``tw.device``, a string, or None for the default device), made once.

    Raises ``BackendUnavailable`` with the reason and the fix when CUDA cannot be used here.
    """
    if dev is None:
        return _default[0]
    b = _by_device.get(dev) if isinstance(dev, _Device) else None
    if b is not None:
        return b
    dev = _Device(dev) if not isinstance(dev, _Device) else dev
    b = _by_device.get(dev)
    if b is None and dev.type != "cuda":  # "cpu:0" and "strict:0" are "cpu" and "strict"
        b = _by_device.get(_Device(dev.type))
    if b is None:
        if dev.type != "cuda":  # pragma: no cover - every other known type is registered above
            raise ValueError(f"no backend for device {dev}")
        from .cupy import CupyBackend

        b = CupyBackend(dev.index)
        _by_device[dev] = _by_device[b.device] = b
    return b


def as_array(data, dtype=None, dev=None, copy: bool = True):
    """Turn user data into ``(array, backend)``: Python scalars and nested lists, NumPy arrays and
    scalars, or arrays of a backend library. Moving between host and device is counted."""

    if isinstance(data, (np.ndarray, np.generic)) or not array_api_compat.is_array_api_obj(data):
        b = get_backend(dev)
        a = host_array(data, dtype)
        d = _dtypes.BY_NAME.get(a.dtype.name)
        if d is None:
            raise TypeError(
                f"Tensor(): NumPy dtype {a.dtype} is not supported; convert to one of "
                f"{', '.join(x.name for x in _dtypes.ALL)}"
            )
        b.native_dtype(d)  # a clear error for a dtype this backend lacks (float16 on array_api_strict)
        if isinstance(data, np.ndarray) and not copy and a is data:
            return b.from_host_shared(a), b
        return b.transfer(a, to_host=False), b
    src = backend_of_array(data)
    b = src if dev is None else get_backend(dev)
    a: Any = data
    if b is not src:
        a = b.transfer(src.transfer(a, to_host=True), to_host=False)
    elif copy:
        a = src.xp.asarray(a, copy=True)
    if dtype is not None:
        nd = b.native_dtype(dtype)
        if a.dtype != nd:
            a = b.xp.astype(a, nd)
    return a, b


def backend_of_array(a) -> Backend:
    """The backend whose namespace and device an array belongs to (made on first use)."""
    if array_api_compat.is_cupy_array(a):
        return get_backend(_Device("cuda", a.device.id))
    native = array_api_compat.device(a)
    ns = array_api_compat.array_namespace(a)
    for b in list(_by_device.values()):
        if b.xp is ns and b.native_device == native:
            return b
    raise TypeError(
        f"no tensorweaver backend holds arrays of {ns.__name__} on device {native!r}; "
        f"register one with tw.backends.register_backend(name, namespace, device)"
    )


def from_dlpack(obj):
    """``(array, backend)`` sharing memory with any DLPack producer on the CPU or a CUDA device."""
    kind, index = obj.__dlpack_device__()
    if kind == 1:  # kDLCPU
        import numpy as np

        return np.from_dlpack(obj), cpu
    if kind in (2, 3):  # kDLCUDA, kDLCUDAHost
        from .cupy import CupyBackend

        b = get_backend(_Device("cuda", index))
        assert isinstance(b, CupyBackend)
        return b._cupy.from_dlpack(obj), b
    raise TypeError(f"from_dlpack: DLPack device type {kind} is not supported (only CPU and CUDA)")


def host_ndarray(a):
    """A host value (NumPy array or NumPy scalar) as a NumPy ndarray, without copying."""
    return np.asarray(a)


def format_host_array(a) -> str:
    """The body of a tensor's repr, PyTorch style: ``[[1., 2.],\\n        [3., 4.]]``."""
    a = np.asarray(a)
    fixed = a.dtype.kind in "fc" and a.size and not np.all(np.isfinite(a) & (a == np.round(a)))
    return np.array2string(
        a,
        separator=", ",
        prefix="tensor(",
        threshold=1000,
        edgeitems=3,
        precision=4,
        floatmode="fixed" if fixed else "maxprec",
    )


def all_backends() -> list[Backend]:
    """Every backend made so far (each device's once)."""
    out = []
    for b in _by_device.values():
        if b not in out:
            out.append(b)
    return out
