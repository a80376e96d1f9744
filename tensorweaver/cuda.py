"""``tw.cuda``: is CUDA usable here, how many devices, synchronize. Nothing here raises without CUDA."""

from __future__ import annotations

from .backends import cupy as _cupy_backend
from .backends import device as _device
from .backends import get_backend as _get_backend

__all__ = ["is_available", "device_count", "synchronize", "availability", "set_device", "current_device"]


def availability() -> tuple[bool, str]:
    """``(True, "")``, or ``(False, the reason and the fix)``: no CuPy, no driver, no GPU."""
    return _cupy_backend.cuda_availability()


def is_available() -> bool:
    """True when a CUDA GPU can be used through CuPy; never raises."""
    return _cupy_backend.cuda_availability()[0]


def device_count() -> int:
    """The number of CUDA devices (0 without CuPy, a driver or a GPU); never raises."""
    return _cupy_backend.cuda_device_count()


def synchronize(device=None) -> None:
    """Wait for all work queued on a CUDA device (the current one by default); a no-op without CUDA."""
    if not is_available():
        return
    _get_backend(
        _device("cuda")
        if device is None
        else _device(device)
        if not isinstance(device, int)
        else _device("cuda", device)
    ).synchronize()


def current_device() -> int:
    """The index of the current CUDA device (raises if CUDA is not available)."""
    ok, why = availability()
    if not ok:
        raise RuntimeError(why)
    return _cupy_backend._import_cupy().cuda.runtime.getDevice()


def set_device(device) -> None:
    """Make a CUDA device current (ops on its tensors run there)."""
    ok, why = availability()
    if not ok:
        raise RuntimeError(why)
    index = device if isinstance(device, int) else _device(device).index or 0
    _cupy_backend._import_cupy().cuda.runtime.setDevice(index)
