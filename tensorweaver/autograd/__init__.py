"""Autograd: the Function base, the backward engine and the grad modes."""

from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]
