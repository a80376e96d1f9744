"""The CuPy backend, for ``device="cuda[:N]"``. cupy is imported only when a CUDA device is asked for."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend, BackendUnavailable
from .device import device as Device

__all__ = ["CupyBackend", "cuda_availability", "cuda_device_count"]

_INSTALL_HINT = (
    "install the CUDA extra that matches your driver: pip install 'tensorweaver[cuda12]' "
    "(CUDA 12.x) or 'tensorweaver[cuda13]' (CUDA 13.x)"
)


def _import_cupy() -> Any:
    # Any: CuPy's modules are mostly Cython (cupy.cuda, nccl) and ship no type stubs.
    try:
        import cupy
    except ImportError as e:
        raise BackendUnavailable(f"CUDA needs CuPy, which is not installed ({e}); {_INSTALL_HINT}") from e
    return cupy


def cuda_device_count() -> int:
    """How many CUDA devices CuPy sees; 0 (never an error) without CuPy, a driver or a GPU."""
    try:
        cupy = _import_cupy()
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # noqa: BLE001 - "no CUDA" has many faces; all of them mean 0 devices
        return 0


def cuda_availability(index: int | None = None) -> tuple[bool, str]:
    """``(True, "")`` or ``(False, why)``: no CuPy, no usable driver, no device, bad index."""
    try:
        cupy = _import_cupy()
    except BackendUnavailable as e:
        return False, str(e)
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError, or a missing libcudart
        return False, (
            f"CuPy is installed but cannot use CUDA: {type(e).__name__}: {e}. Check that an NVIDIA "
            f"driver is installed and that it matches the CuPy package ({_INSTALL_HINT}); "
            f"use device='cpu' meanwhile"
        )
    if n == 0:
        return False, "CuPy found no CUDA device on this machine; use device='cpu'"
    if index is not None and index >= n:
        return False, f"cuda:{index} does not exist: this machine has {n} CUDA device(s) (cuda:0..cuda:{n - 1})"
    return True, ""


class CupyBackend(Backend):
    """CuPy arrays on one CUDA device.

    NOTE: CuPy launches kernels on the *current* device; arrays are created on ``cuda:N`` here,
    and ops on them expect cuda:N to be current (``tw.cuda.set_device(N)``), as in CuPy itself.
    """

    def __init__(self, index: int | None) -> None:
        ok, why = cuda_availability(index)
        if not ok:
            raise BackendUnavailable(why)
        import array_api_compat.cupy as xp_cupy
        import cupy

        self._cupy = cupy
        if index is None:
            index = cupy.cuda.runtime.getDevice()
        super().__init__(xp_cupy, Device("cuda", index), cupy.cuda.Device(index))

    def _native_dtype(self, d):
        return np.dtype(d.name)

    def memory_owner(self, x):
        return x if x.base is None else None

    def memory_base(self, x):
        return x if x.base is None else x.base

    def leading_axes_swapped(self, x) -> bool:
        st = x.strides
        return len(st) >= 2 and st[0] < st[1]

    def is_transposed(self, x) -> bool:
        flags = x.flags
        return flags.f_contiguous and not flags.c_contiguous

    def _to_host(self, x) -> np.ndarray:
        return self._cupy.asnumpy(x)

    def _from_host(self, x: np.ndarray):
        with self.native_device:
            # NOTE: cupy.asarray's host->device copy is asynchronous by default (blocking=False,
            # CuPy >= 13); blocking=True keeps a caller's later writes to ``x`` from racing it.
            return self._cupy.asarray(x, blocking=True)

    def scatter_add(self, x, index, values):
        out = x.copy()
        # cupy.add.at is numpy.add.at on the device (repeated indices accumulate)
        self._cupy.add.at(out, index, values)
        return out

    # NOTE: random numbers are drawn on the device by CuPy's Generator (cuRAND XORWOW states, one per
    # thread of its kernels), never on the host.
    def _make_rng(self, seed):
        with self.native_device:
            return self._cupy.random.default_rng(seed)

    def rand(self, shape, dtype, generator=None):
        rng = self._rng(generator)
        with self.native_device:
            if dtype.name in ("float32", "float64"):
                return rng.random(shape, dtype=np.dtype(dtype.name))
            return rng.random(shape, dtype=np.float32).astype(dtype.name)

    def randn(self, shape, dtype, generator=None):
        rng = self._rng(generator)
        with self.native_device:
            if dtype.name in ("float32", "float64"):
                return rng.standard_normal(shape, dtype=np.dtype(dtype.name))
            return rng.standard_normal(shape, dtype=np.float32).astype(dtype.name)

    def randint(self, low, high, shape, dtype, generator=None):
        rng = self._rng(generator)
        kind = "int64" if dtype.kind == "f" else dtype.name
        with self.native_device:
            return rng.integers(low, high, shape, dtype=np.dtype(kind)).astype(dtype.name, copy=False)

    def randperm(self, n, dtype, generator=None):
        # argsort of uniform float64 keys: a uniform permutation up to ties, which have probability
        # about n**2 / 2**54 and still give a permutation (stable order among the tied)
        rng = self._rng(generator)
        with self.native_device:
            return self._cupy.argsort(rng.random((n,), dtype=np.float64)).astype(dtype.name, copy=False)

    def _rng_buffer(self, rng):
        # NOTE: CuPy documents no state API for its Generator; the cuRAND states live in the device
        # array ``bit_generator._state`` (int8, one curandState per thread), which get_state copies.
        buf = getattr(rng.bit_generator, "_state", None)
        if buf is None:
            raise RuntimeError(
                f"get_state()/set_state() on {self.device}: this CuPy version ({self._cupy.__version__}) keeps "
                f"its generator state where tensorweaver cannot reach it; use manual_seed() instead"
            )
        return buf

    def _get_rng_state(self, g):
        # the initial seed (8 bytes, little-endian), then the raw cuRAND states (device-specific size)
        body = self.transfer(self._rng_buffer(g.rng), to_host=True).view(np.uint8)
        return np.concatenate([np.frombuffer(g.initial_seed.to_bytes(8, "little"), dtype=np.uint8), body])

    def _set_rng_state(self, g, raw):
        seed = int.from_bytes(raw[:8], "little")
        rng = self._make_rng(seed)
        buf = self._rng_buffer(rng)
        if len(raw) != 8 + buf.nbytes:
            raise RuntimeError(
                f"Expected a generator state of {8 + buf.nbytes} bytes for device {self.device} (from get_state() "
                f"of a generator on this GPU model) but found the input RNG state size to be {len(raw)}"
            )
        with self.native_device:
            buf[...] = self.transfer(np.frombuffer(raw[8:], dtype=np.int8), to_host=False)
        g.initial_seed, g._rng = seed, rng

    def synchronize(self) -> None:
        self.native_device.synchronize()
