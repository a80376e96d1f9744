"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay and AMSGrad."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..autograd.function import bump
from ..factories import zeros_like
from ..tensor import Tensor
from .optimizer import Optimizer, check_betas, check_lr_eps, check_nonnegative, lerp_

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam, PyTorch's algorithm: with ``g`` the gradient (negated when ``maximize``; plus
    ``weight_decay * p`` unless ``decoupled_weight_decay``, which instead scales ``p`` by
    ``1 - lr * weight_decay``), ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2`` (``v_max =
    max(v_max, v)`` used in its place with ``amsgrad``) and ``p -= lr / (1 - b1^t) * m /
    (sqrt(v) / sqrt(1 - b2^t) + eps)``.

    ``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False, decoupled_weight_decay=False)``.
    """

    _host_state = {"step": int}
    _param_state = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        check_lr_eps(options)
        check_betas(options)
        check_nonnegative(options, "weight_decay", "weight_decay value")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(p)
        return state

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad, maximize = group["weight_decay"], group["amsgrad"], group["maximize"]
        decoupled = group["decoupled_weight_decay"]
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
            # NOTE: on the arrays, in place, each tensor's version bumped once: the same passes as
            # through the Tensor's in-place operators without their per-call checks (the optimizer
            # made the state with the parameter's dtype, shape and device; a .grad matches them),
            # which were ~1/4 of the step's time on the small tensors (benchmarks/NOTES.md, Adam)
            lerp_(exp_avg, grad, 1 - beta1)
            g, m, v = grad._data, exp_avg._data, exp_avg_sq._data
            g2 = g * g
            g2 *= 1 - beta2
            v *= beta2
            v += g2
            bump(exp_avg_sq)
            if amsgrad:
                # the max is kept in its own storage (copy_), as PyTorch's maximum(..., out=)
                state["max_exp_avg_sq"].copy_(ops.maximum(state["max_exp_avg_sq"], exp_avg_sq))
                v = state["max_exp_avg_sq"]._data
            bias_correction1 = 1 - beta1**step
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5
            # NOTE: m / (sqrt(v) / c2 + eps) * (lr / c1) is written (sqrt(v) + eps c2) and
            # lr c2 / c1: the same value (to rounding), one pass over the parameter fewer
            denom = p._backend.xp.sqrt(v)
            denom += eps * bias_correction2_sqrt
            update = m / denom
            update *= -lr * bias_correction2_sqrt / bias_correction1
            a = p._data
            a += update
            bump(p)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` before the Adam
    update) and ``weight_decay=1e-2`` by default.

    ``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, maximize=False)``.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True)

    def _fix_loaded_group(self, group: dict[str, Any]) -> None:
        group["decoupled_weight_decay"] = True
