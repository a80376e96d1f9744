"""SGD: stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

from ..autograd.function import bump
from ..tensor import Tensor
from .optimizer import Optimizer, check_lr_eps, check_nonnegative

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's algorithm: with ``g`` the gradient (negated when
    ``maximize``) plus ``weight_decay * p``, and momentum ``mu``, the buffer ``b`` is ``g`` at the
    first step and ``mu * b + (1 - dampening) * g`` after; the update direction is ``g + mu * b``
    with ``nesterov``, else ``b`` (or ``g`` without momentum); ``p -= lr * direction``.

    ``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False)``.
    """

    _param_state = ("momentum_buffer",)

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        check_lr_eps(options)
        check_nonnegative(options, "momentum", "momentum value")
        check_nonnegative(options, "weight_decay", "weight_decay value")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        # the buffer starts as a copy of the first gradient (not zeros), as in PyTorch
        return {"momentum_buffer": None} if group["momentum"] != 0 else {}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
        for p, grad, state in self._with_grads(group):
            if maximize:
                grad = -grad
            if weight_decay != 0:
                grad = grad + p * weight_decay
            if momentum != 0:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.detach().clone()
                else:  # NOTE: on the arrays, as in Adam (adam.py tells why)
                    b = buf._data
                    b *= momentum
                    b += grad._data if dampening == 0 else grad._data * (1 - dampening)
                    bump(buf)
                grad = grad + buf * momentum if nesterov else buf
            a = p._data
            a += grad._data * -lr  # p.add_(grad, alpha=-lr)
            bump(p)
