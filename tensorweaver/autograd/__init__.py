"""Autograd: the Function base, the backward engine, grad(), grad modes, custom Functions, gradcheck, anomaly mode."""

from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)

# isort: split
# NOTE: the modules below use Tensor: importing them imports tensorweaver.tensor and the ops, which
# may import the names above from this (then partly initialized) package.
from .api import backward, grad
from .custom import Function, FunctionCtx
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = [
    "Function",
    "FunctionCtx",
    "grad",
    "backward",
    "gradcheck",
    "gradgradcheck",
    "GradcheckError",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
]
