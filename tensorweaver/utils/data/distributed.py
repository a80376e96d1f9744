"""``DistributedSampler``: each rank of a data-parallel job reads its own share of a data set."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ... import distributed as _dist
from ...factories import randperm
from ...random import Generator
from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _permutation(n: int, seed: int) -> list[int]:
    """A permutation of ``0 .. n-1`` that depends only on ``seed`` (the global generators are untouched)."""
    return randperm(n, generator=Generator().manual_seed(seed), device="cpu").tolist()


class DistributedSampler(Sampler):
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` reads, as PyTorch's sampler.

    ``DistributedSampler(dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
    drop_last=False)``: ``num_replicas`` and ``rank`` default to the process group's world size and
    rank. Each epoch the indices are shuffled (when ``shuffle``) by a permutation that depends only
    on ``seed + epoch``, so every rank draws the same one; call ``set_epoch(epoch)`` before each
    epoch to reshuffle. The list is then padded, by repeating its start, to a multiple of
    ``num_replicas`` (or, with ``drop_last``, its tail is dropped), and rank r takes every
    ``num_replicas``-th index from position r: the ranks' shares are disjoint (except for the
    padding) and of equal length ``len(sampler)``.
    """

    def __init__(
        self,
        dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            if not _dist.is_available():
                raise RuntimeError(
                    "Requires distributed package to be available: install mpi4py (pip install 'tensorweaver[mpi]') "
                    "or give num_replicas and rank"
                )
            num_replicas = _dist.get_world_size() if num_replicas is None else num_replicas
            rank = _dist.get_rank() if rank is None else rank
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive int, got {num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank!r}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = seed
        n = len(dataset)
        if drop_last and n % num_replicas:
            # the largest multiple of num_replicas that fits: every rank gets the same count
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        indices = _permutation(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            padding = self.total_size - len(indices)
            if padding:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch: with ``shuffle``, each epoch gets its own order (the same on every rank)."""
        self.epoch = epoch
