"""Neural-network building blocks with PyTorch's names: ``Module``, ``Parameter``, the layers and
losses, ``init``, ``utils`` and ``parallel`` (DistributedDataParallel); ``tw.nn.functional`` holds
the stateless ops under PyTorch's F.* names."""

from . import functional, init, parallel, utils
from .modules import *  # noqa: F403
from .modules import __all__ as _modules
from .parameter import Buffer, Parameter

__all__ = ["functional", "init", "parallel", "utils", "Parameter", "Buffer", *_modules]
