"""Workload 4's measuring process: ``python -m benchmarks.memory IMPL MODE ...`` prints one JSON line.

Each measurement runs in a fresh process so that one implementation's peak does not hide another's.
MODE is ``peak`` (peak RSS after STEPS training steps: VmHWM from /proc/self/status on Linux, else
``resource.getrusage(...).ru_maxrss``),
``traced`` (the ``tracemalloc`` peak over STEPS steps, counted from after the imports: NumPy reports
its array buffers to tracemalloc, so this is the memory of arrays and Python objects the step made)
or ``flat`` (tracemalloc's current size after step CHECK and after step STEPS, with the cyclic garbage
collector off, so only reference counting frees memory: a graph kept alive, or one freed only by the
cycle collector, shows up as growth).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time


def _rss_mb() -> float:
    """The current resident set size in MB (Linux /proc; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _max_rss_mb() -> tuple[float, str]:
    """The peak RSS of this process in MB, and how it was read.

    NOTE: on Linux ``ru_maxrss`` survives fork+exec: a child of a big parent (the benchmark driver,
    with torch loaded) reports the parent's peak. VmHWM in /proc/self/status belongs to this
    process's own address space, so it is used where it exists.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10, "VmHWM (/proc/self/status)"
    except (OSError, ValueError):
        pass
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (r / 2**20 if sys.platform == "darwin" else r / 2**10), "ru_maxrss"  # bytes on macOS, KB on Linux


def _make(impl: str, sizes, batch: int, kind: str = "mlp"):
    if kind == "cnn":
        return _build_cnn(impl, sizes, batch)
    model = _build(impl, sizes, batch)
    model.init = None  # the host copy of the initial values (kept for reset()) is no part of training
    return model


def _build_cnn(impl: str, channels, batch: int):
    """Workload 12: the CNN of workload 10 through nn/optim (``--sizes`` are its two conv widths)."""
    from benchmarks.models_nn import cnn_trainer

    if impl == "tensorweaver":
        import tensorweaver as lib
    elif impl == "torch":
        import torch as lib
    else:
        raise SystemExit(f"--model cnn: no {impl!r} implementation (tensorweaver or torch)")
    model = cnn_trainer(lib, tuple(channels), batch)
    model.state = None  # the host copy of the initial values (kept for reset()) is no part of training
    return model


def _build(impl: str, sizes, batch: int):
    # NOTE: each process imports only its own implementation's modules (no tensorweaver in NumPy's)
    if impl == "tensorweaver":
        from benchmarks.models_tw import MLPTW

        return MLPTW(sizes, batch)
    if impl == "numpy":
        from benchmarks.models_numpy import MLPNumpy

        return MLPNumpy(sizes, batch)
    if impl == "torch":
        import torch

        from benchmarks.models_torch import MLPTorch

        return MLPTorch(torch, sizes, batch)
    raise SystemExit(f"unknown implementation {impl!r}")


def _import(impl: str, kind: str = "mlp") -> None:
    if kind == "cnn":
        import benchmarks.models_nn  # noqa: F401
    if impl == "tensorweaver":
        import benchmarks.models_tw  # noqa: F401
    elif impl == "numpy":
        import benchmarks.models_numpy  # noqa: F401
    else:
        import torch  # noqa: F401

        import benchmarks.models_torch  # noqa: F401


def _status_mb() -> dict:
    """RssAnon / RssFile / RssShmem / VmHWM of this process in MB (Linux; empty elsewhere)."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                k = line.split(":", 1)[0]
                if k in ("RssAnon", "RssFile", "RssShmem", "VmHWM", "VmRSS"):
                    out[k] = int(line.split()[1]) / 2**10
    except (OSError, ValueError):
        pass
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cnn_peak(a, channels, out: dict) -> None:
    """Workload 12: the anonymous memory (heap, arrays, caches, thread stacks) the CNN's training takes
    above what the imports left, at its peak over STEPS steps.

    NOTE: the same in both libraries' processes: import, build model/data/optimizer, one warm-up step
    (it pages in the library's lazily loaded code: PyTorch's oneDNN kernels are tens of MB of *file*
    pages), then the peak RSS is reset (clear_refs) and STEPS steps run. The figure is
    ``VmHWM - RssFile - RssShmem (after the steps) - RssAnon (after the imports)``: file-backed pages (shared
    library code, the same file pages any process maps) are left out; everything the steps allocate,
    and the persistent parameters, gradients, momentum buffers and data, are in.
    """
    _import(a.impl, a.model)
    s0 = _status_mb()
    out["rss_after_import_mb"] = s0.get("VmRSS", _rss_mb())
    out["anon_after_import_mb"] = s0.get("RssAnon", 0.0)
    model = _make(a.impl, channels, a.batch, a.model)
    model.step()  # the warm-up step
    out["rss_after_setup_mb"] = _rss_mb()
    out["peak_reset"] = _reset_peak()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        model.step()
    out["seconds"] = time.perf_counter() - t0
    out["max_rss_mb"], out["max_rss_source"] = _max_rss_mb()
    s1 = _status_mb()
    file_mb = s1.get("RssFile", 0.0) + s1.get("RssShmem", 0.0)
    out["file_rss_mb"] = file_mb
    out["step_peak_mb"] = out["max_rss_mb"] - file_mb - out["anon_after_import_mb"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("impl", choices=["tensorweaver", "numpy", "torch"])
    p.add_argument("mode", choices=["peak", "traced", "flat"])
    p.add_argument("--sizes", required=True, help="layer widths, comma-separated: 784,1024,...,10")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--check", type=int, default=0, help="flat mode: the step compared with the last")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp", help="cnn: workload 12 (--sizes: conv widths)")
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    out = {"impl": a.impl, "mode": a.mode, "model": a.model, "sizes": sizes, "batch": a.batch, "steps": a.steps}
    if a.mode == "peak" and a.model == "cnn":
        _cnn_peak(a, sizes, out)
    elif a.mode == "peak":
        _import(a.impl, a.model)
        out["rss_after_import_mb"] = _rss_mb()
        model = _make(a.impl, sizes, a.batch, a.model)
        out["rss_after_setup_mb"] = _rss_mb()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            model.step()
        out["seconds"] = time.perf_counter() - t0
        out["max_rss_mb"], out["max_rss_source"] = _max_rss_mb()
    else:
        import tracemalloc

        _import(a.impl, a.model)  # before tracing starts: imports are not the step's memory

        if a.mode == "flat":
            gc.collect()
            gc.disable()
        tracemalloc.start()
        model = _make(a.impl, sizes, a.batch, a.model)
        setup, setup_peak = tracemalloc.get_traced_memory()
        out["traced_after_setup_mb"] = setup / 2**20
        out["traced_setup_peak_mb"] = setup_peak / 2**20
        tracemalloc.reset_peak()  # from here on: the steps' own peak
        for i in range(1, a.steps + 1):
            model.step()
            if i == a.check:
                out["traced_at_check_mb"] = tracemalloc.get_traced_memory()[0] / 2**20
                out["rss_at_check_mb"] = _rss_mb()
        current, peak = tracemalloc.get_traced_memory()
        out["traced_at_end_mb"] = current / 2**20
        out["traced_peak_mb"] = peak / 2**20
        out["rss_at_end_mb"] = _rss_mb()
        if a.mode == "flat":
            gc.enable()
            out["gc_collected_at_end"] = gc.collect()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
