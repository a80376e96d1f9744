"""Gradient clipping, in place and on the gradients' device: no host sync (the norm stays a tensor)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import tensorweaver as tw

from ...autograd import no_grad
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _tensors(parameters) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(t: Tensor, norm_type: float) -> Tensor:
    return t.abs().amax() if norm_type == math.inf else t.norm(norm_type)


def get_total_norm(
    tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: bool | None = None
) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together (as if concatenated), a 0-d tensor on their
    device; ``tensor(0.)`` when there are none. ``foreach`` is accepted (there is one path)."""
    ts = _tensors(tensors)
    norm_type = float(norm_type)
    if not ts:
        return tw.tensor(0.0)
    with no_grad():
        first = ts[0].device
        norms = [_vector_norm(t, norm_type) for t in ts]
        # NOTE: norms from other devices are copied explicitly to the first one (PyTorch does the same)
        norms = [n if n.device == first else n.to(first) for n in norms]
        total = _vector_norm(tw.stack(norms), norm_type)
    if error_if_nonfinite and bool(total.isnan() | total.isinf()):  # asked for: one host sync
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach: bool | None = None) -> None:
    """Scale the gradients in place by ``min(max_norm / (total_norm + 1e-6), 1)``, a device tensor."""
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef if coef.device == g.device else coef.to(g.device))


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their total ``norm_type``-norm (``inf``
    allowed) is at most ``max_norm``; returns the total norm before clipping, a 0-d tensor on the
    gradients' device (no host sync, unless ``error_if_nonfinite``)."""
    params = _tensors(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place."""
    v = float(clip_value)
    with no_grad():
        for p in _tensors(parameters):
            if p.grad is not None:
                p.grad.copy_(p.grad.clamp(-v, v))
