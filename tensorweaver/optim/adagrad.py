"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

from typing import Any

from ..factories import full_like
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad, PyTorch's algorithm: with ``g`` the gradient (negated when ``maximize``) plus
    ``weight_decay * p``, ``s += g^2`` (``s`` starts at ``initial_accumulator_value``) and
    ``p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)``.

    ``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *, maximize=False)``.
    The state of the constructor's parameters is made at once, as in PyTorch. NOTE: each group's own
    ``initial_accumulator_value`` is used (PyTorch uses the constructor's value for every group).
    """

    _host_state = {"step": int}
    _param_state = ("sum",)

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self._init_state(p, group)

    def _check_options(self, options: dict[str, Any]) -> None:
        check_nonnegative(options, "lr", "learning rate")
        check_nonnegative(options, "lr_decay", "lr_decay value")
        check_nonnegative(options, "weight_decay", "weight_decay value")
        check_nonnegative(options, "initial_accumulator_value", "initial_accumulator_value value")
        check_nonnegative(options, "eps", "epsilon value")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "sum": full_like(p, group["initial_accumulator_value"])}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for p, grad, state in self._with_grads(group):
            state["step"] += 1
            if maximize:
                grad = -grad
            if weight_decay != 0:
                grad = grad + p * weight_decay
            clr = lr / (1 + (state["step"] - 1) * lr_decay)
            state["sum"] += grad * grad
            std = state["sum"].sqrt()
            std += eps
            update = grad / std
            update *= -clr
            p += update
