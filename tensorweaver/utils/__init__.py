"""Utilities with PyTorch's names: ``tw.utils.data`` (datasets, samplers, DataLoader)."""

from . import data

__all__ = ["data"]
