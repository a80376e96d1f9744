"""RMSprop: gradients scaled by a running root mean square, optionally centered and with momentum."""

from __future__ import annotations

from typing import Any

from ..factories import zeros_like
from ..tensor import Tensor
from .optimizer import Optimizer, check_lr_eps, check_nonnegative, lerp_

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, PyTorch's algorithm: with ``g`` the gradient (negated when ``maximize``) plus
    ``weight_decay * p``, ``v = alpha v + (1 - alpha) g^2``; the scale is ``sqrt(v) + eps``, or with
    ``centered`` ``sqrt(v - ga^2) + eps`` where ``ga = alpha ga + (1 - alpha) g``; with momentum
    ``mu``, ``b = mu b + g / scale`` and ``p -= lr b``, else ``p -= lr g / scale``.

    ``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *, maximize=False)``.
    """

    _host_state = {"step": int}
    _param_state = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        check_lr_eps(options)
        check_nonnegative(options, "momentum", "momentum value")
        check_nonnegative(options, "weight_decay", "weight_decay value")
        check_nonnegative(options, "alpha", "alpha value")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "square_avg": zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = zeros_like(p)
        return state

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        weight_decay, centered, maximize = group["weight_decay"], group["centered"], group["maximize"]
        for p, grad, state in self._with_grads(group):
            state["step"] += 1
            if maximize:
                grad = -grad
            if weight_decay != 0:
                grad = grad + p * weight_decay
            square_avg = state["square_avg"]
            grad_sq = grad * grad
            grad_sq *= 1 - alpha
            square_avg *= alpha
            square_avg += grad_sq
            if centered:
                grad_avg = state["grad_avg"]
                lerp_(grad_avg, grad, 1 - alpha)
                avg = (square_avg - grad_avg * grad_avg).sqrt()
            else:
                avg = square_avg.sqrt()
            avg += eps
            if momentum > 0:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += grad / avg
                p.add_(buf, alpha=-lr)
            else:
                update = grad / avg
                update *= -lr
                p += update
