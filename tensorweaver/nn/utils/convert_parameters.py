"""``parameters_to_vector`` / ``vector_to_parameters``: all parameters as one 1-D tensor and back."""

from __future__ import annotations

from collections.abc import Iterable

import tensorweaver as tw

from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_same_device(params: list[Tensor]) -> None:
    for p in params[1:]:
        if p.device != params[0].device:
            raise TypeError(
                f"Found two parameters on different devices ({params[0].device} and {p.device}), "
                "this is currently not supported."
            )


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and concatenated, in order (differentiable; one device)."""
    if isinstance(parameters, Tensor):
        raise TypeError(f"expected an iterable of tensors, but got: {type(parameters).__name__}")
    params = list(parameters)
    _check_same_device(params)
    return tw.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Make each parameter hold its slice of the 1-D ``vec`` (as ``.data``, sharing ``vec``'s storage)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected tensorweaver.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    _check_same_device(params)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector of {total} elements, got shape {vec.shape}")
    start = 0
    for p in params:
        n = p.numel()
        p.data = vec.detach()[start : start + n].reshape(p.shape)
        start += n
