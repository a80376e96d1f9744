"""Samplers as in ``torch.utils.data``: the order in which a DataLoader visits a dataset's indices.

Random samplers draw from their ``generator`` (a CPU ``tw.Generator``); without one, RandomSampler
draws a seed from the CPU's default generator at each ``iter()``, so ``tw.manual_seed`` makes the
order repeatable, as in PyTorch. An epoch's order is drawn whole when iteration starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized

from ... import _dtypes
from ... import random as _random
from ...factories import arange, randint, randperm
from ...ops import cat
from ...random import multinomial
from ...tensor import Tensor

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
]


class Sampler:
    """Base class: subclasses define ``__iter__`` (indices, or lists of indices for a batch sampler)
    and, where known, ``__len__``."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise TypeError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _order(self) -> Tensor:
        """The epoch's indices as one int64 CPU tensor (the DataLoader's fast path slices it)."""
        return arange(len(self.data_source))

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the indices: a permutation (several, for ``num_samples > len``), or with
    ``replacement=True`` ``num_samples`` independent draws."""

    def __init__(
        self, data_source: Sized, replacement: bool = False, num_samples: int | None = None, generator=None
    ) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if isinstance(self.num_samples, bool) or not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        """``num_samples`` as given, else the dataset's length (read at each use, as in PyTorch)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _order(self) -> Tensor:
        """The epoch's indices as one int64 CPU tensor, drawn now."""
        n, k = len(self.data_source), self.num_samples
        g = self.generator
        if g is None:
            seed = int(randint(0, 2**63 - 1, (), generator=_random.default_generator, device="cpu").item())
            g = _random.Generator().manual_seed(seed)
        if self.replacement:
            return randint(0, n, (k,), generator=g, device=g.device)
        parts = [arange(0, device="cpu")]
        if n:
            parts = [randperm(n, generator=g, device=g.device) for _ in range(-(-k // n))]
        order = parts[0] if len(parts) == 1 else cat(parts)
        return order[:k]  # type: ignore[index]  # Tensor.__getitem__ comes from ops

    def __iter__(self) -> Iterator[int]:
        return iter(self._order().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (from ``generator``, or the CPU's default generator)."""

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        g = _random.default_generator if self.generator is None else self.generator
        for i in randperm(len(self.indices), generator=g, device=g.device).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (``multinomial``)."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True, generator=None) -> None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        if isinstance(weights, Tensor):
            w = weights.detach().to("cpu")
        else:
            w = Tensor(weights, dtype=_dtypes.float64, device="cpu")
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        self.weights = w.double()
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        g = _random.default_generator if self.generator is None else self.generator
        return iter(multinomial(self.weights, self.num_samples, self.replacement, generator=g).tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (any iterable of indices); the last one is
    shorter unless ``drop_last``."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while True:
            batch = [i for _, i in zip(range(self.batch_size), it, strict=False)]
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def _tensor_batches(self, device=None) -> Iterator[Tensor] | None:
        """The batches as slices of one index tensor (moved to ``device`` once) when the sampler can
        draw its order whole (SequentialSampler, RandomSampler), else None. The same order, from the
        same draws, as ``__iter__``."""
        if type(self.sampler) not in (SequentialSampler, RandomSampler):
            return None
        order = self.sampler._order()  # type: ignore[attr-defined]
        return self._slices(order if device is None else order.to(device))

    def _slices(self, order: Tensor) -> Iterator[Tensor]:
        n, bs = order.shape[0], self.batch_size
        stop = n - n % bs if self.drop_last else n
        data, b = order._data, order._backend
        for start in range(0, stop, bs):
            # a slice of an order no one else holds; the stop clamped (the array API leaves one past the end open)
            yield Tensor._wrap(data[start : min(start + bs, n)], b)

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
