"""RAdam: Adam with the variance of its adaptive learning rate rectified."""

from __future__ import annotations

from typing import Any

from ..factories import zeros_like
from ..tensor import Tensor
from .optimizer import Optimizer, check_betas, check_lr_eps, check_nonnegative, lerp_

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """RAdam, PyTorch's algorithm: ``m`` and ``v`` as in Adam; with ``rho_inf = 2 / (1 - b2) - 1`` and
    ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``, the update is ``lr m / (1 - b1^t)`` times, when
    ``rho_t > 5``, the rectification ``sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf -
    2) rho_t))`` and the adaptive rate ``sqrt(1 - b2^t) / (sqrt(v) + eps)``. Weight decay is L2 or,
    with ``decoupled_weight_decay``, ``p *= 1 - lr * weight_decay``.

    ``RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False, *,
    maximize=False)``. ``rho_t`` depends on the step count only, so the branch is taken on the host.
    """

    _host_state = {"step": int}
    _param_state = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        check_lr_eps(options)
        check_betas(options)
        check_nonnegative(options, "weight_decay", "weight_decay value")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, decoupled, maximize = group["weight_decay"], group["decoupled_weight_decay"], group["maximize"]
        rho_inf = 2 / (1 - beta2) - 1
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
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            lerp_(exp_avg, grad, 1 - beta1)
            grad_sq = grad * grad
            grad_sq *= 1 - beta2
            exp_avg_sq *= beta2
            exp_avg_sq += grad_sq
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
            if rho_t > 5.0:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                denom = exp_avg_sq.sqrt()
                denom += eps
                update = exp_avg / denom
                update *= -lr * rect * bias_correction2**0.5 / bias_correction1
            else:
                update = exp_avg * (-lr / bias_correction1)
            p += update
