"""Neural-network building blocks; ``tw.nn.functional`` holds the stateless ops under PyTorch's F.* names."""

from . import functional

__all__ = ["functional"]
