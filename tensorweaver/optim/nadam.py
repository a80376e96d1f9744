"""NAdam: Adam with Nesterov momentum and a momentum-decay schedule."""

from __future__ import annotations

from typing import Any

from ..factories import zeros_like
from ..tensor import Tensor
from .optimizer import Optimizer, check_betas, check_lr_eps, check_nonnegative, lerp_

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam, PyTorch's algorithm: with ``g`` the gradient (negated when ``maximize``; plus
    ``weight_decay * p``, or ``p`` scaled by ``1 - lr * weight_decay`` when
    ``decoupled_weight_decay``), ``mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))``, ``m`` and ``v``
    as in Adam, and ``p -= lr (1 - mu_t) / (1 - prod mu) * g / d + lr mu_{t+1} / (1 - prod mu *
    mu_{t+1}) * m / d`` with ``d = sqrt(v / (1 - b2^t)) + eps``.

    ``NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
    decoupled_weight_decay=False, *, maximize=False)``. The running product ``mu_product`` is a
    host float64 number (PyTorch keeps it in the default dtype).
    """

    _host_state = {"step": int, "mu_product": float}
    _param_state = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        check_lr_eps(options)
        check_betas(options)
        check_nonnegative(options, "weight_decay", "weight_decay value")
        check_nonnegative(options, "momentum_decay", "momentum_decay value")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "mu_product": 1.0, "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, momentum_decay = group["weight_decay"], group["momentum_decay"]
        decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
        for p, grad, state in self._with_grads(group):
            state["step"] += 1
            step = state["step"]
            if maximize:
                grad = -grad
            if weight_decay != 0:
                if decoupled:
                    p.mul_(1 - lr * weight_decay)
                else:
                    grad = grad + p * weight_decay
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
            mu_product = state["mu_product"] = state["mu_product"] * mu
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            lerp_(exp_avg, grad, 1 - beta1)
            grad_sq = grad * grad
            grad_sq *= 1 - beta2
            exp_avg_sq *= beta2
            exp_avg_sq += grad_sq
            denom = (exp_avg_sq / (1 - beta2**step)).sqrt()
            denom += eps
            update = grad / denom
            update *= -lr * (1.0 - mu) / (1.0 - mu_product)
            p += update
            update = exp_avg / denom
            update *= -lr * mu_next / (1.0 - mu_product * mu_next)
            p += update
