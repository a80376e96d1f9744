"""The ``device`` fixture: backend-generic tests run on NumPy, on array_api_strict placed on a
non-default device (which raises when arrays of two devices meet, like CUDA does) and on CuPy
when a GPU is present (marked ``gpu``).

Parity with PyTorch: tests/test_parity_torch.py (its table: tests/parity_table.py) compares every
op of docs/ops.md with torch in float64 (forward, gradient, Hessian-vector product, over shapes,
layouts, keyword options and integer/bool dtypes that Hypothesis draws, derandomized) and a table of
bad inputs with PyTorch's exception classes, on every backend; skipped without torch. About 55 s of
CPU time for both CPU backends."""

from __future__ import annotations

import array_api_strict
import pytest

import tensorweaver as tw

STRICT = tw.backends.register_backend("strict", array_api_strict, device=array_api_strict.Device("device1"))

CPU_DEVICES = ["cpu", "strict"]


def _cuda_param():
    ok, why = tw.cuda.availability()
    return pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not ok, reason=f"no CUDA: {why[:120]}")])


@pytest.fixture(params=[*CPU_DEVICES, _cuda_param()])
def device(request) -> str:
    """A device string; every test that takes it runs once per backend."""
    return request.param


@pytest.fixture(autouse=True)
def _restore_global_state():
    dt = tw.get_default_dtype()
    dev = tw.get_default_device()
    yield
    tw.set_default_dtype(dt)
    tw.set_default_device(dev)
    assert tw.is_grad_enabled(), "a test left grad mode off"
