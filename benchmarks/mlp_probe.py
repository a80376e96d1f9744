"""A probe of workload 3 (the MLP step): CPU time and page faults per step, tensorweaver vs hand-written NumPy.

``python -m benchmarks.mlp_probe [--steps 10] [--repeats 15] [--threads 1] [--torch] [--ce]``

BLAS limited to ``--threads`` (threadpoolctl), this process's CPU time (steadier than wall time on a
shared machine), implementations interleaved. Per implementation: the cost of ``reset()`` (new
parameter arrays, inside every timed call of ``python -m benchmarks``), of the first step after it
and of the later steps, each with its minor page faults. ``--torch`` runs PyTorch's model too, as the
full run does when torch is installed (its allocations change where glibc's malloc finds memory). Run with
``MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456`` to take glibc's returning of
freed memory to the OS, and the page faults of taking it back, out of the comparison.
``--ce`` also times the loss alone.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from . import models_numpy as mn
from . import models_tw as mt

SIZES, BATCH = [784, 512, 512, 10], 256


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def cross_entropy_times(repeats: int, n: int = 300) -> dict:
    """µs per call of the step's loss, forward and backward on (256, 10) logits: tensorweaver's
    cross_entropy(...).backward() against the hand-written lines of MLPNumpy.step."""
    import numpy as np

    import tensorweaver as tw
    import tensorweaver.nn.functional as F

    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((BATCH, SIZES[-1])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], BATCH)
    rows = np.arange(BATCH)
    z, t = tw.tensor(z0, requires_grad=True), tw.tensor(labels)

    def tw_ce():
        F.cross_entropy(z, t).backward()
        z.grad = None

    def np_ce():
        m = z0.max(axis=1, keepdims=True)
        e = np.exp(z0 - m)
        s = e.sum(axis=1, keepdims=True)
        loss = -(z0[rows, labels] - m[:, 0] - np.log(s[:, 0])).mean()
        g = e / s
        g[rows, labels] -= 1
        g /= BATCH
        return loss, g

    out = {"tensorweaver": [], "numpy": []}
    for _ in range(repeats):
        for name, f in (("tensorweaver", tw_ce), ("numpy", np_ce)):
            t0 = time.process_time()
            for _ in range(n):
                f()
            out[name].append((time.process_time() - t0) / n * 1e6)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10, help="steps after each reset (default 10)")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--torch", action="store_true", help="run PyTorch's model too, as the full run does")
    p.add_argument("--ce", action="store_true", help="also time the loss alone (forward + backward, (256, 10))")
    args = p.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads, user_api="blas")
    variants = {"numpy": mn.MLPNumpy(SIZES, BATCH), "tensorweaver": mt.MLPTW(SIZES, BATCH)}
    if args.torch:
        import torch

        from .models_torch import MLPTorch

        torch.set_num_threads(args.threads)
        variants["torch"] = MLPTorch(torch, SIZES, BATCH, "cpu")
    phases = ("reset", "first step", "later steps")
    out = {v: {ph: ([], []) for ph in phases} for v in variants}
    clock = time.process_time
    for r in range(args.repeats + 1):
        for name, model in variants.items():
            f0, t0 = _faults(), clock()
            model.reset()
            f1, t1 = _faults(), clock()
            model.step()
            f2, t2 = _faults(), clock()
            for _ in range(args.steps - 1):
                model.step()
            f3, t3 = _faults(), clock()
            if r == 0:  # warm-up
                continue
            n = max(args.steps - 1, 1)
            times, faults = (t1 - t0, t2 - t1, (t3 - t2) / n), (f1 - f0, f2 - f1, (f3 - f2) / n)
            for ph, dt, df in zip(phases, times, faults, strict=True):
                out[name][ph][0].append(dt * 1e3)
                out[name][ph][1].append(df)
    print(f"{args.threads} BLAS thread(s), CPU time, {args.repeats} interleaved repeats of reset + {args.steps} steps")
    ref = statistics.median(out["numpy"]["later steps"][0])
    for name, d in out.items():
        cells = []
        for ph in phases:
            ts, fs = d[ph]
            med, fault = statistics.median(ts), statistics.median(fs)
            cells.append(f"{ph} {med:6.2f} ms (min {min(ts):6.2f}, {fault:5.0f} faults)")
        later = statistics.median(d["later steps"][0])
        print(f"{name:24s} " + "; ".join(cells) + f"; later steps vs numpy {later / ref:.3f}x")
    if args.ce:
        for name, ts in cross_entropy_times(args.repeats).items():
            print(f"cross-entropy forward + backward, {name}: {statistics.median(ts):.1f} µs (min {min(ts):.1f})")


if __name__ == "__main__":
    main()
