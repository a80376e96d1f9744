"""Utilities with PyTorch's names: ``tw.utils.data`` (datasets, samplers, DataLoader), and
``debug_indices``, the opt-in range check of index arguments on CUDA."""

from __future__ import annotations

from .._args import index_checks
from . import data

__all__ = ["data", "debug_indices"]


class debug_indices:  # noqa: N801 - a switch and a context manager, like torch.set_grad_enabled
    """Range-check index and target arguments on CUDA too: ``cross_entropy``/``nll_loss`` targets,
    ``embedding``, ``index_select``, ``gather``, ``scatter_add``, ``take_along_dim``.

    On the CPU (NumPy, array-API libraries) these checks always run and raise PyTorch's error. On
    CUDA each check costs a device-to-host copy of one bool (a synchronization), so it is off by
    default and an out-of-range index there gives undefined values (CuPy wraps it around).
    ``tw.utils.debug_indices()`` turns the checks on; ``with tw.utils.debug_indices(): ...`` turns
    them on for the block only; ``debug_indices(False)`` turns them off.
    """

    def __init__(self, mode: bool = True) -> None:
        self.prev = index_checks.debug
        index_checks.debug = bool(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        index_checks.debug = self.prev
