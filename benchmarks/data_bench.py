"""One shuffled epoch of a DataLoader over a TensorDataset (60,000 x 784 float32 and int64 labels,
batch 256) against the NumPy loop it replaces: a permutation, then a slice and a fancy index per
batch. Both touch every batch's arrays; timed interleaved in one process.

Run: ``python -m benchmarks.data_bench [repeats]`` (target: median ratio <= 1.2).
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

N, FEATURES, BATCH = 60_000, 784, 256


def _data(seed: int = 0, n: int = N):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, FEATURES), dtype=np.float32), rng.integers(0, 10, n)


def numpy_epoch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    """The hand-written loop; returns a checksum so that nothing is optimized away."""
    order = rng.permutation(x.shape[0])
    total = 0.0
    for start in range(0, x.shape[0], BATCH):
        idx = order[start : start + BATCH]
        xb, yb = x[idx], y[idx]
        total += xb[0, 0] + yb[0]
    return total


def tw_epoch(loader) -> float:
    """One epoch of the DataLoader, touching each batch as the NumPy loop does."""
    total = 0.0
    for xb, yb in loader:
        total += xb.array[0, 0] + yb.array[0]
    return total


def epoch_impls(n: int = N):
    """({"tensorweaver": one epoch, "numpy": one epoch}, batches) over the same ``n`` x 784 data, for the
    driver (``python -m benchmarks``, workload 11) to time interleaved."""
    import tensorweaver as tw
    from tensorweaver.utils.data import DataLoader, TensorDataset

    x, y = _data(n=n)
    loader = DataLoader(
        TensorDataset(tw.from_numpy(x), tw.from_numpy(y)),
        batch_size=BATCH,
        shuffle=True,
        generator=tw.Generator().manual_seed(0),
    )
    rng = np.random.default_rng(0)
    return {"tensorweaver": lambda: tw_epoch(loader), "numpy": lambda: numpy_epoch(x, y, rng)}, len(loader)


def dataloader_epoch_times(repeats: int = 10) -> dict:
    """Per-epoch seconds of tensorweaver's DataLoader and of the NumPy loop, interleaved, with the
    ratio of their medians (tw / NumPy)."""
    import tensorweaver as tw
    from tensorweaver.utils.data import DataLoader, TensorDataset

    x, y = _data()
    loader = DataLoader(
        TensorDataset(tw.from_numpy(x), tw.from_numpy(y)),
        batch_size=BATCH,
        shuffle=True,
        generator=tw.Generator().manual_seed(0),
    )
    rng = np.random.default_rng(0)
    tw_epoch(loader), numpy_epoch(x, y, rng)  # warm up
    times: dict[str, list[float]] = {"tensorweaver": [], "numpy": []}
    for _ in range(repeats):
        for name, run in (("tensorweaver", lambda: tw_epoch(loader)), ("numpy", lambda: numpy_epoch(x, y, rng))):
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "times": times,
        "median": med,
        "ratio": med["tensorweaver"] / med["numpy"],
        "batches": len(loader),
        "target": 1.2,
    }


if __name__ == "__main__":
    r = dataloader_epoch_times(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
    m = r["median"]
    print(
        f"DataLoader epoch, TensorDataset {N} x {FEATURES} float32, batch {BATCH}, shuffled ({r['batches']} batches):\n"
        f"  tensorweaver {m['tensorweaver'] * 1e3:.1f} ms, NumPy {m['numpy'] * 1e3:.1f} ms (medians of "
        f"{len(r['times']['numpy'])}): ratio {r['ratio']:.3f} (target <= {r['target']})"
    )
