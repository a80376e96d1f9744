"""Adamax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..factories import zeros_like
from ..tensor import Tensor
from .optimizer import Optimizer, check_betas, check_lr_eps, check_nonnegative, lerp_

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax, PyTorch's algorithm: with ``g`` the gradient (negated when ``maximize``) plus
    ``weight_decay * p``, ``m = b1 m + (1 - b1) g``, ``u = max(b2 u, |g| + eps)`` and
    ``p -= lr / (1 - b1^t) * m / u``.

    ``Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, *, maximize=False)``.
    """

    _host_state = {"step": int}
    _param_state = ("exp_avg", "exp_inf")

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        check_lr_eps(options)
        check_betas(options)
        check_nonnegative(options, "weight_decay", "weight_decay value")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "exp_avg": zeros_like(p), "exp_inf": zeros_like(p)}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for p, grad, state in self._with_grads(group):
            state["step"] += 1
            if maximize:
                grad = -grad
            if weight_decay != 0:
                grad = grad + p * weight_decay
            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            lerp_(exp_avg, grad, 1 - beta1)
            exp_inf *= beta2
            norm = grad.abs()
            norm += eps
            exp_inf.copy_(ops.maximum(exp_inf, norm))
            update = exp_avg / exp_inf
            update *= -lr / (1 - beta1 ** state["step"])
            p += update
