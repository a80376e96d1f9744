"""tw.utils.data: datasets, samplers, collation and the DataLoader (in this process and with worker
processes), against PyTorch's behaviour; batches repeat with a seed."""

from __future__ import annotations

import collections
import os
import time
from typing import NamedTuple

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from tensorweaver.utils.data import dataloader as _dataloader


def as_lists(batches):
    return [[t.tolist() for t in b] for b in batches]


class Squares(Dataset):
    """A map-style dataset that is not a TensorDataset: (i, i * i) as tensors; raises at ``bad``."""

    def __init__(self, n, bad=None, device="cpu"):
        self.n, self.bad, self.device = n, bad, device

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.bad:
            raise ValueError(f"sample {i} is broken")
        return tw.tensor(float(i), device=self.device), tw.tensor(i * i, device=self.device)


class Count(IterableDataset):
    """0 .. n-1, split between the workers by their id."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


# -- datasets -----------------------------------------------------------------------------------
def test_tensor_dataset(device):
    x, y = tw.arange(12.0, device=device).reshape(6, 2), tw.arange(6, device=device)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[2]
    assert a.tolist() == [4.0, 5.0] and b.item() == 2 and a.device == device
    with pytest.raises(AssertionError, match=r"Size mismatch between tensors.*\(6, 2\), \(5,\)"):
        TensorDataset(x, tw.arange(5))
    with pytest.raises(TypeError, match="takes tensors, got list"):
        TensorDataset([1, 2])


def test_subset_concat_and_chain():
    ds = TensorDataset(tw.arange(5))
    sub = Subset(ds, [4, 0, 2])
    assert len(sub) == 3 and sub[0][0].item() == 4 and sub[[1, 2]][0].tolist() == [0, 2]
    assert [s[0].item() for s in sub.__getitems__([2, 0])] == [2, 4]
    cat = ds + Squares(3)
    assert isinstance(cat, ConcatDataset) and len(cat) == 8 and cat.cumulative_sizes == [5, 8]
    assert cat[4][0].item() == 4 and cat[5][1].item() == 0 and cat[-1][1].item() == 4
    with pytest.raises(ValueError, match="should not exceed dataset length"):
        cat[-9]
    with pytest.raises(AssertionError, match="empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        ConcatDataset([ds, Count(2)])
    chain = Count(2) + Count(3)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 0, 1, 2] and len(chain) == 5


def test_random_split_lengths_fractions_and_generator():
    parts = random_split(range(10), [3, 7], generator=tw.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    again = random_split(range(10), [3, 7], generator=tw.Generator().manual_seed(1))
    assert [list(p) for p in parts] == [list(p) for p in again]
    # PyTorch's rounding: floor of each fraction, the remainder dealt one by one from the first
    assert [len(p) for p in random_split(range(10), [0.33, 0.33, 0.34])] == [4, 3, 3]
    assert [len(p) for p in random_split(range(7), [0.5, 0.5])] == [4, 3]
    tw.manual_seed(3)
    first = [list(p) for p in random_split(range(6), [0.5, 0.5])]
    tw.manual_seed(3)
    assert [list(p) for p in random_split(range(6), [0.5, 0.5])] == first  # the default generator


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [0.5, 0.6])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(1), [0.5, 0.5])


# -- samplers -------------------------------------------------------------------------------------
def test_sequential_and_random_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3] and len(SequentialSampler(range(4))) == 4
    g = tw.Generator().manual_seed(0)
    perm = list(RandomSampler(range(20), generator=g))
    assert sorted(perm) == list(range(20)) and perm != list(range(20))
    assert list(RandomSampler(range(20), generator=tw.Generator().manual_seed(0))) == perm
    more = list(RandomSampler(range(4), num_samples=10, generator=g))
    assert len(more) == 10 and sorted(more[:4]) == sorted(more[4:8]) == [0, 1, 2, 3]
    draws = list(RandomSampler(range(3), replacement=True, num_samples=300, generator=g))
    assert len(draws) == 300 and set(draws) == {0, 1, 2}
    tw.manual_seed(5)
    a = list(RandomSampler(range(10)))
    tw.manual_seed(5)
    assert list(RandomSampler(range(10))) == a  # without a generator: the CPU default generator's seed


def test_sampler_errors():
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got drop_last=1"):
        BatchSampler(range(3), 2, 1)
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(1, 2\)"):
        WeightedRandomSampler([[1.0, 2.0]], 1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value, but got replacement=2"):
        WeightedRandomSampler([1.0, 2.0], 1, replacement=2)


def test_subset_random_weighted_and_batch_samplers():
    g = tw.Generator().manual_seed(1)
    s = list(SubsetRandomSampler([10, 20, 30], generator=g))
    assert sorted(s) == [10, 20, 30]
    w = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=g))
    counts = np.bincount(w, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / 4000 - 0.75) < 0.03
    no_repeat = list(WeightedRandomSampler(tw.tensor([1.0, 1.0, 1.0]), 3, replacement=False, generator=g))
    assert sorted(no_repeat) == [0, 1, 2]
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2


# -- collation ---------------------------------------------------------------------------------------
class Point(NamedTuple):
    x: int
    y: bool


def test_default_collate_like_pytorch():
    out = default_collate([(1, 2.0), (3, 4.0)])
    assert isinstance(out, list) and out[0].dtype is tw.int64 and out[1].dtype is tw.float64
    assert out[0].tolist() == [1, 3] and out[1].tolist() == [2.0, 4.0]
    d = default_collate([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    assert d["a"].tolist() == [1, 2] and d["b"] == ["x", "y"]
    o = default_collate([collections.OrderedDict(a=1)])
    assert type(o) is collections.OrderedDict and o["a"].tolist() == [1]
    p = default_collate([Point(1, True), Point(2, False)])
    assert type(p) is Point and p.y.dtype is tw.bool and p.y.tolist() == [True, False]
    assert default_collate([True, False]).dtype is tw.bool
    assert default_collate([b"a", b"b"]) == [b"a", b"b"]
    n = default_collate([np.float64(1), np.float64(2)])
    assert n.dtype is tw.float64 and default_collate([np.float32(1)]).dtype is tw.float32
    arr = default_collate([np.ones(2, np.float32), np.zeros(2, np.float32)])
    assert arr.dtype is tw.float32 and arr.shape == (2, 2)
    assert default_collate([np.int32(1)]).dtype is tw.int32
    t = default_collate([tw.ones(2, 3), tw.zeros(2, 3)])
    assert t.shape == (2, 2, 3)
    nested = default_collate([[tw.ones(1), {"k": 1.5}], [tw.zeros(1), {"k": 2.5}]])
    assert nested[0].shape == (2, 1) and nested[1]["k"].tolist() == [1.5, 2.5]


@pytest.mark.parametrize(
    ("batch", "error", "match"),
    [
        (
            [tw.ones(2), tw.ones(3)],
            RuntimeError,
            r"stack expects each tensor to be equal size, but got \[2\] at entry 0 and \[3\] at entry 1",
        ),
        ([[1, 2], [1]], RuntimeError, "each element in list of batch should be of equal size"),
        (
            [object()],
            TypeError,
            "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found <class 'object'>",
        ),
        ([np.array(["a"])], TypeError, "found <U1"),
        ([None], TypeError, "found <class 'NoneType'>"),
        ([1 + 2j], TypeError, "found <class 'complex'>"),
    ],
)
def test_default_collate_errors(batch, error, match):
    with pytest.raises(error, match=match):
        default_collate(batch)


def test_default_collate_agrees_with_pytorch():
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    batch = [(np.arange(3.0), 1, 2.5, {"m": np.int16(4)}), (np.arange(3.0) + 1, 2, 3.5, {"m": np.int16(5)})]
    ours, theirs = default_collate(batch), torch_collate(batch)
    for a, b in [(ours[0], theirs[0]), (ours[1], theirs[1]), (ours[2], theirs[2]), (ours[3]["m"], theirs[3]["m"])]:
        assert a.tolist() == b.tolist() and a.dtype.name == str(b.dtype).removeprefix("torch.")


def test_default_convert():
    out = default_convert([np.ones(2), 1, (np.int64(3),)])
    assert out[0].dtype is tw.float64 and out[1] == 1 and out[2][0].dtype is tw.int64
    assert isinstance(out[2], list)  # tuples become lists, as in PyTorch
    assert default_convert({"a": np.ones(1)})["a"].tolist() == [1.0]
    assert default_convert(np.float64(1.0)).dtype is tw.float64 and default_convert("s") == "s"


# -- DataLoader in this process ----------------------------------------------------------------------
def test_loader_batches_and_len(device):
    ds = TensorDataset(tw.arange(10.0, device=device), tw.arange(10, device=device))
    batches = list(DataLoader(ds, batch_size=4))
    assert as_lists(batches) == [[[0, 1, 2, 3]] * 2, [[4, 5, 6, 7]] * 2, [[8, 9]] * 2]
    assert all(t.device == device for b in batches for t in b)
    assert len(DataLoader(ds, batch_size=4)) == 3 and len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert len(list(DataLoader(ds, batch_size=4, drop_last=True))) == 2
    one = list(DataLoader(ds))  # batch_size=1
    assert len(one) == 10 and one[3][0].shape == (1,)
    raw = list(DataLoader(ds, batch_size=None))  # no batching: the samples themselves, converted
    assert len(raw) == 10 and raw[2][0].shape == () and isinstance(raw[2], list)


def test_tensor_dataset_fast_path_gives_default_collates_batches(device):
    x = tw.tensor(np.random.default_rng(0).normal(size=(11, 3)), device=device)
    y = tw.arange(11, device=device)
    g = tw.Generator().manual_seed(4)
    fast = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=g))
    slow = [
        default_collate([(x[i], y[i]) for i in b])
        for b in BatchSampler(RandomSampler(range(11), generator=g.manual_seed(4)), 4, False)
    ]
    assert as_lists(fast) == as_lists(slow)
    assert all(isinstance(b, list) and b[0].dtype is tw.float64 and b[0].device == device for b in fast)


def test_same_seed_same_batches_whatever_the_dataset_type():
    g = tw.Generator().manual_seed(2)
    tensors = list(
        DataLoader(TensorDataset(tw.arange(9.0), tw.arange(9) ** 2), batch_size=2, shuffle=True, generator=g)
    )
    g.manual_seed(2)
    items = list(DataLoader(Squares(9), batch_size=2, shuffle=True, generator=g))
    assert as_lists(tensors) == as_lists(items)
    g.manual_seed(2)
    assert as_lists(DataLoader(Squares(9), batch_size=2, shuffle=True, generator=g)) == as_lists(items)
    assert as_lists(DataLoader(Squares(9), batch_size=2, shuffle=True, generator=g)) != as_lists(items)  # next epoch


def test_shuffle_without_generator_follows_manual_seed():
    ds = TensorDataset(tw.arange(20))
    tw.manual_seed(7)
    a = as_lists(DataLoader(ds, batch_size=5, shuffle=True))
    tw.manual_seed(7)
    assert as_lists(DataLoader(ds, batch_size=5, shuffle=True)) == a
    assert sorted(sum((b[0] for b in a), [])) == list(range(20))


def test_subset_of_a_tensor_dataset(device):
    ds = TensorDataset(tw.arange(10.0, device=device))
    train, val = random_split(ds, [0.7, 0.3], generator=tw.Generator().manual_seed(0))
    got = sum((b[0].tolist() for b in DataLoader(train, batch_size=3)), [])
    assert got == [float(i) for i in train.indices]
    assert sorted(got + [float(i) for i in val.indices]) == [float(i) for i in range(10)]


def test_samplers_batch_samplers_and_collate_fn():
    ds = Squares(6)
    got = [b[1].tolist() for b in DataLoader(ds, batch_size=2, sampler=[5, 0, 3, 1])]
    assert got == [[25, 0], [9, 1]]
    got = [b[0].tolist() for b in DataLoader(ds, batch_sampler=[[1, 2, 3], [0]])]
    assert got == [[1.0, 2.0, 3.0], [0.0]]
    tensors = TensorDataset(tw.arange(6))
    assert [b[0].tolist() for b in DataLoader(tensors, batch_sampler=[[5, -1], [0, 2]])] == [[5, 5], [0, 2]]
    with pytest.raises(IndexError, match="out of bounds"):
        list(DataLoader(tensors, batch_sampler=[[6]]))
    assert list(DataLoader(ds, batch_size=3, collate_fn=len)) == [3, 3]


def test_iterable_dataset_in_this_process():
    assert [b.tolist() for b in DataLoader(Count(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Count(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert list(DataLoader(Count(3), batch_size=None)) == [0, 1, 2]
    assert len(DataLoader(Count(7), batch_size=3)) == 3 and len(DataLoader(Count(7), batch_size=3, drop_last=True)) == 2


def test_a_device_dataset_makes_one_host_copy_per_epoch():
    b = tw.backends.get_backend("strict")
    ds = TensorDataset(tw.randn(50, 4, device="strict"), tw.arange(50, device="strict"))
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    before = b.transfers
    batches = list(loader)
    assert len(batches) == 7 and all(t.device == "strict" for bt in batches for t in bt)
    assert b.transfers - before == 1  # the epoch's order, moved once


def test_pin_memory_is_accepted():
    assert as_lists(DataLoader(TensorDataset(tw.arange(3)), batch_size=2, pin_memory=True)) == [[[0, 1]], [[2]]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size should be a positive integer value, but got batch_size=0"),
        ({"batch_size": -1}, "but got batch_size=-1"),
        ({"sampler": [0], "shuffle": True}, "sampler option is mutually exclusive with shuffle"),
        (
            {"batch_sampler": [[0]], "batch_size": 2},
            "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last",
        ),
        ({"batch_sampler": [[0]], "shuffle": True}, "batch_sampler option is mutually exclusive"),
        ({"batch_sampler": [[0]], "sampler": [0]}, "batch_sampler option is mutually exclusive"),
        ({"batch_sampler": [[0]], "drop_last": True}, "batch_sampler option is mutually exclusive"),
        (
            {"batch_size": None, "drop_last": True},
            "batch_size=None option disables auto-batching and is mutually exclusive with drop_last",
        ),
        ({"num_workers": -1}, "num_workers option should be non-negative"),
        ({"timeout": -1}, "timeout option should be non-negative"),
        ({"prefetch_factor": 2}, "prefetch_factor option could only be specified in multiprocessing"),
        ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
        ({"num_workers": 1, "prefetch_factor": -1}, "prefetch_factor option should be non-negative"),
    ],
)
def test_loader_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(TensorDataset(tw.arange(4)), **kwargs)


def test_iterable_dataset_loader_errors_and_frozen_attributes():
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified shuffle option, but got shuffle=True"):
        DataLoader(Count(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Count(3), sampler=[0])
    with pytest.raises(ValueError, match="expected unspecified batch_sampler option"):
        DataLoader(Count(3), batch_sampler=[[0]])
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        DataLoader(Count(3), batch_size=0)
    loader = DataLoader(TensorDataset(tw.arange(4)), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 3


# -- DataLoader with worker processes -------------------------------------------------------------------
def _record_worker(worker_id):
    info = get_worker_info()
    assert info is not None and info.id == worker_id and info.num_workers == 2
    os.environ["TW_TEST_WORKER"] = str(worker_id)


class WhoLoads(Dataset):
    """Each sample names the worker (and its seed-driven draw) that loaded it, late ones slowly."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i % 3 == 0:
            time.sleep(0.02)  # results come back out of order; the loader restores it
        return tw.tensor(i), tw.tensor(int(os.environ.get("TW_TEST_WORKER", -1))), tw.rand(1)


def test_workers_keep_the_order_and_match_one_process():
    g = tw.Generator().manual_seed(3)
    single = DataLoader(Squares(23), batch_size=4, shuffle=True, generator=g)
    multi = DataLoader(Squares(23), batch_size=4, shuffle=True, generator=g, num_workers=2, prefetch_factor=3)
    g.manual_seed(3)
    expected = as_lists(single)
    g.manual_seed(3)
    assert as_lists(multi) == expected and len(multi) == 6


def test_workers_run_init_fn_get_their_seeds_and_persist():
    loader = DataLoader(
        WhoLoads(),
        batch_size=2,
        num_workers=2,
        worker_init_fn=_record_worker,
        persistent_workers=True,
        generator=tw.Generator().manual_seed(0),
    )
    epochs = [list(loader) for _ in range(2)]
    for batches in epochs:
        assert sum((b[0].tolist() for b in batches), []) == list(range(12))
        # batch k is loaded by worker k % 2 (round robin), which ran worker_init_fn
        assert [b[1].tolist() for b in batches] == [[k % 2] * 2 for k in range(6)]
    # each worker's generator was seeded base_seed + worker_id: draws differ between workers and epochs
    draws = [b[2].tolist() for b in epochs[0]] + [b[2].tolist() for b in epochs[1]]
    assert len({tuple(sum(d, [])) for d in draws}) == 12
    assert loader._iterator is not None and all(w.is_alive() for w in loader._iterator._workers)
    loader._iterator._shutdown_workers()


def test_worker_error_names_the_worker_and_the_original_traceback():
    loader = DataLoader(Squares(8, bad=5), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it)[0].tolist() == [0.0, 1.0] and next(it)[0].tolist() == [2.0, 3.0]
    with pytest.raises(
        ValueError, match=r"Caught ValueError in DataLoader worker process 0\.(.|\n)*Traceback(.|\n)*sample 5 is broken"
    ):
        next(it)


def test_iterable_dataset_with_workers():
    got = [b.tolist() for b in DataLoader(Count(9), batch_size=2, num_workers=2)]
    # worker 0 yields 0, 2, 4, 6, 8 and worker 1 yields 1, 3, 5, 7, each in batches of 2, interleaved
    assert got == [[0, 2], [1, 3], [4, 6], [5, 7], [8]]


def test_timeout_and_dead_workers(monkeypatch):
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.6)
            return i

    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.2))

    class Dies(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            os._exit(3)

    monkeypatch.setattr(_dataloader, "_POLL_S", 0.2)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+, exit code 3\) exited unexpectedly"):
        list(DataLoader(Dies(), num_workers=1))


def test_a_sampler_beyond_a_tensor_dataset_is_an_index_error(device):
    # the tensor-dataset gather checks the batch's indices once, for every tensor, and names the index
    ds = TensorDataset(tw.arange(6.0, device=device), tw.arange(6, device=device))
    loader = DataLoader(ds, batch_size=4, sampler=SequentialSampler(range(9)))
    it = iter(loader)
    assert [t.tolist() for t in next(it)] == [[0.0, 1.0, 2.0, 3.0], [0, 1, 2, 3]]
    with pytest.raises(IndexError, match="sampler index 6 is out of range for a dataset of 6"):
        next(it)
    sub = Subset(ds, [5, 1, 3])
    loader = DataLoader(sub, batch_size=2, sampler=RandomSampler(range(4), generator=tw.Generator().manual_seed(0)))
    with pytest.raises(IndexError, match="sampler index 3 is out of range for a dataset of 3"):
        list(loader)
