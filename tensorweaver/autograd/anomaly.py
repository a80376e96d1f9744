"""Anomaly mode: remember where each op was created, and name it when its backward yields nan/inf."""

from __future__ import annotations

import functools
import os
import traceback
import weakref

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]


class _Flags:
    """Whether anomaly mode is on and checks gradients for nan/inf: one switch for the process, as
    in PyTorch (grad mode, by contrast, is per thread). Read by every recorded op."""

    enabled = False
    check_nan = True


flags = _Flags()

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_created_at: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Function -> formatted stack


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()``."""
    return flags.enabled


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """``with tw.autograd.detect_anomaly(): ...`` (or as a decorator): ops record where they were
    created, and a backward that returns nan or inf raises a RuntimeError naming the op and that
    place. Slow (a stack capture per op, a device->host read per gradient): for debugging only."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        self._prev = flags.enabled, flags.check_nan
        flags.enabled, flags.check_nan = True, self.check_nan

    def __exit__(self, *exc) -> None:
        flags.enabled, flags.check_nan = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:  # noqa: N801
    """``set_detect_anomaly(True/False)`` switches anomaly mode at once (a plain call), or for a
    ``with`` block, restoring the previous mode after it."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._prev = flags.enabled, flags.check_nan
        flags.enabled, flags.check_nan = bool(mode), check_nan

    def __enter__(self) -> None:
        pass  # already switched in __init__, like torch.autograd.set_detect_anomaly

    def __exit__(self, *exc) -> None:
        flags.enabled, flags.check_nan = self._prev


def record(fn) -> None:
    """Remember where ``fn`` was created: the innermost frames of the caller's code."""
    frames = traceback.extract_stack()[:-2]
    user = [f for f in frames if not f.filename.startswith(_PACKAGE)]
    _created_at[fn] = "".join(traceback.format_list((user or frames)[-5:]))


def created_at(fn) -> str:
    """Where ``fn`` was created (if it was created in anomaly mode)."""
    where = _created_at.get(fn)
    if where is None:
        return "(unknown: the op was created outside detect_anomaly())"
    return "Traceback of the forward call that created it (most recent call last):\n" + where


def checked_backward(fn, gy) -> tuple:
    """``fn.backward(gy)``, with errors and non-finite gradients traced back to where ``fn`` was made."""
    try:
        gxs = fn.backward(gy)
    except Exception as e:
        add_note = getattr(e, "add_note", None)  # Python >= 3.11
        if add_note is not None:
            add_note(f"Error in the backward of {fn.name}. {created_at(fn)}")
        raise
    if flags.check_nan:
        for i, g in enumerate(gxs):
            if g is None or g.dtype.kind not in "fc":
                continue
            xp = g._backend.xp
            # NOTE: bool() reads one flag from the device: a host sync per gradient, acceptable only
            # because anomaly mode is for debugging.
            if not bool(xp.all(xp.isfinite(g._data))):
                what = "nan" if bool(xp.any(xp.isnan(g._data))) else "inf"
                raise RuntimeError(f"{fn.name} returned {what} in its {i}th output. {created_at(fn)}")
    return gxs
