"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode`` (context managers and
decorators)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

_F = TypeVar("_F", bound=Callable[..., Any])
_M = TypeVar("_M", bound="_BareDecorator")

__all__ = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
]


class _State(threading.local):
    # Per thread, as in PyTorch; read once per op by Function.apply.
    enabled = True
    inference = False


state = _State()


def is_grad_enabled() -> bool:
    """True when ops record the graph for backward."""
    return state.enabled


class _Mode:
    """Base of the three modes: a context manager that restores the previous mode on exit, and a
    decorator that runs the function inside the mode."""

    _target: bool

    def __enter__(self) -> None:
        self._prev = state.enabled
        state.enabled = self._target

    def __exit__(self, *exc) -> None:
        state.enabled = self._prev

    def __call__(self, fn):
        target = self._target

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.enabled
            state.enabled = target
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = prev

        return wrapper


class _BareDecorator(_Mode):
    """A mode that also decorates without parentheses (``@tw.no_grad``), as PyTorch's."""

    @overload
    def __new__(cls: type[_M], orig_func: None = None) -> _M: ...
    @overload
    def __new__(cls, orig_func: _F) -> _F: ...
    def __new__(cls, orig_func: Any = None) -> Any:
        self = super().__new__(cls)
        return self if orig_func is None else self(orig_func)

    def __init__(self, orig_func=None) -> None:
        pass


class no_grad(_BareDecorator):  # noqa: N801 - PyTorch's name
    """Ops inside record no graph: ``with tw.no_grad(): ...``, ``@tw.no_grad()`` or ``@tw.no_grad``."""

    _target = False


class enable_grad(_BareDecorator):  # noqa: N801
    """Re-enable graph recording inside a ``no_grad`` region."""

    _target = True


class inference_mode(_Mode):  # noqa: N801 - PyTorch's name
    """``no_grad`` under PyTorch's name for inference (tensorweaver has no separate inference tensors):
    ``with tw.inference_mode(): ...``, ``@tw.inference_mode()`` or ``@tw.inference_mode``;
    ``inference_mode(False)`` changes nothing."""

    @overload
    def __new__(cls, mode: bool = True) -> inference_mode: ...
    @overload
    def __new__(cls, mode: _F) -> _F: ...
    def __new__(cls, mode: Any = True) -> Any:
        self = super().__new__(cls)
        if not callable(mode):
            return self
        self.mode = True
        return self(mode)

    def __init__(self, mode=True) -> None:
        self.mode = True if callable(mode) else bool(mode)

    def __enter__(self) -> None:
        self._prev = state.enabled, state.inference
        if self.mode:
            state.enabled, state.inference = False, True

    def __exit__(self, *exc) -> None:
        state.enabled, state.inference = self._prev

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.enabled, state.inference
            if mode:
                state.enabled, state.inference = False, True
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled, state.inference = prev

        return wrapper


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()``."""
    return state.inference


class set_grad_enabled(_Mode):  # noqa: N801
    """``set_grad_enabled(False)`` switches recording off at once (as a plain call), or for a
    ``with`` block or a decorated function, and restores the previous mode after them."""

    def __init__(self, mode: bool) -> None:
        self._target = bool(mode)
        self._prev = state.enabled
        state.enabled = self._target

    def __enter__(self) -> None:
        pass  # already switched in __init__, like torch.set_grad_enabled

    def __call__(self, fn):
        state.enabled = self._prev  # as a decorator it must not switch the mode at definition time
        return super().__call__(fn)
