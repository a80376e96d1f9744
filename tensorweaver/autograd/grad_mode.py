"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled`` (context managers and decorators)."""

from __future__ import annotations

import functools
import threading

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


class _State(threading.local):
    # Per thread, as in PyTorch; read once per op by Function.apply.
    enabled = True


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


class no_grad(_Mode):  # noqa: N801 - PyTorch's name
    """Ops inside record no graph: ``with tw.no_grad(): ...`` or ``@tw.no_grad()``."""

    _target = False


class enable_grad(_Mode):  # noqa: N801
    """Re-enable graph recording inside a ``no_grad`` region."""

    _target = True


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
