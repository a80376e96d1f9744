"""The ``device`` fixture: backend-generic tests run on NumPy, on array_api_strict placed on a
non-default device (which raises when arrays of two devices meet, like CUDA does) and on CuPy
when a GPU is present (marked ``gpu``)."""

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
