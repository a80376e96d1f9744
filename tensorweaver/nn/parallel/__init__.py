"""``tw.nn.parallel``: data-parallel training over ``tw.distributed`` (PyTorch's names)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
