"""The benchmark driver: run the workloads interleaved in one process, then write the Markdown table,
the JSON and the ratio chart to benchmarks/results/<device>.{md,json,png}.

``python -m benchmarks [--device cpu|cuda] [--quick] [--repeats N] [--only NAME[,NAME]] [--out DIR]``
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import sys
import time

import numpy as np

from . import workloads as W

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
NAMES = {
    "tensorweaver": "tensorweaver",
    "numpy": "NumPy (hand-written)",
    "torch": "PyTorch",
    "floor": "eager floor (no checks)",
}


def _noop() -> None:
    pass


# -- timing ----------------------------------------------------------------------------------------
def time_interleaved(impls: dict, syncs: dict, repeats: int, clock=time.perf_counter, setups=None) -> dict:
    """Seconds per call of each implementation, ``repeats`` times, interleaved.

    Each implementation is called once first (warm-up: caches, lazy imports, CUDA kernels). Then every
    repeat runs each implementation once, the starting one rotating, so that a slow phase of the
    machine hits all of them alike; its ``setups`` entry, if any, runs before the clock starts. On a
    device the clock is read only after synchronizing it.
    ``clock`` is wall time by default; ``time.process_time`` (this process's CPU time) is steadier on
    a shared machine for single-threaded work.
    """
    names = list(impls)
    setups = setups or {}
    for n in names:
        setups.get(n, _noop)()
        impls[n]()
        syncs.get(n, _noop)()
    out: dict = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            sync = syncs.get(n, _noop)
            setups.get(n, _noop)()
            sync()
            t0 = clock()
            impls[n]()
            sync()
            out[n].append(clock() - t0)
    return out


def _ratio_entry(t: W.Target, stats: dict) -> dict:
    if t.num not in stats or t.den not in stats:
        missing = t.den if t.den not in stats else t.num
        return {"label": t.label, "num": t.num, "den": t.den, "limit": t.limit, "status": f"skipped (no {missing})"}
    value = stats[t.num]["median"] / stats[t.den]["median"]
    ok = value >= t.limit if t.at_least else value <= t.limit
    return {
        "label": t.label,
        "num": t.num,
        "den": t.den,
        "limit": t.limit,
        "at_least": t.at_least,
        "ratio": value,
        "status": "PASS" if ok else "FAIL",
    }


def _load() -> float | None:
    """The 1-minute load average: other jobs on the machine skew timings (with BLAS on every core, a
    load above the core count multiplied the MLP step's time by up to 15)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def run_workload(ctx: W.Context, name: str, make) -> dict:
    t0 = time.perf_counter()
    load0 = _load()
    w = make(ctx)
    if w.impls:
        syncs = dict(_device_syncs(ctx, w.impls))
        syncs.update(w.syncs)
        gc.collect()
        clock = w.clock or (time.process_time if ctx.cpu_clock else time.perf_counter)
        raw = time_interleaved(w.impls, syncs, ctx.repeats * w.repeat_factor, clock=clock, setups=w.setups)
        values = {n: [s * w.scale for s in v] for n, v in raw.items()}
    else:
        values = w.measured
    if w.after is not None:
        w.after()
    stats = {n: W.summarize(v) for n, v in values.items()}
    return {
        "name": w.name,
        "title": w.title,
        "unit": w.unit,
        "value_unit": w.value_unit,
        "stats": stats,
        "values": values,
        "targets": [_ratio_entry(t, stats) for t in w.targets],
        "checks": w.checks,
        "info": w.info,
        "seconds": time.perf_counter() - t0,
        "load": [load0, _load()],
    }


def _device_syncs(ctx: W.Context, impls: dict) -> dict:
    """On CUDA every implementation waits for its device before the clock is read."""
    if ctx.device != "cuda":
        return {}
    import tensorweaver as tw

    out = {"tensorweaver": tw.cuda.synchronize, "numpy": ctx.xp.cuda.Device().synchronize}
    if ctx.torch is not None:
        out["torch"] = ctx.torch.cuda.synchronize
    return {k: v for k, v in out.items() if k in impls}


# -- the machine -----------------------------------------------------------------------------------
def machine_info(ctx: W.Context) -> dict:
    """CPU model, threads, BLAS (threadpoolctl, else numpy.show_config), torch threads, GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import tensorweaver as tw

    info = {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "tensorweaver": tw.__version__,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS")},
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")}
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
        info["blas_source"] = "threadpoolctl"
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        info["blas"] = [{"name": blas.get("name"), "version": blas.get("version")}]
        info["blas_source"] = "numpy.show_config (pip install threadpoolctl for the kernel and threads)"
    if ctx.torch is not None:
        info["torch"] = ctx.torch.__version__
        info["torch_threads"] = ctx.torch.get_num_threads()
    if ctx.device == "cuda":
        props = ctx.xp.cuda.runtime.getDeviceProperties(ctx.xp.cuda.Device().id)
        name = props["name"]
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        info["cupy"] = ctx.xp.__version__
    return info


# -- reports ---------------------------------------------------------------------------------------
def _name(impl: str, report: dict) -> str:
    if impl == "numpy" and report["device"] == "cuda":
        return "CuPy (hand-written)"
    return NAMES.get(impl, impl)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def to_markdown(report: dict) -> str:
    m = report["machine"]
    blas = ", ".join(
        " ".join(str(b.get(k)) for k in ("internal_api", "name", "version", "architecture") if b.get(k))
        + (f", {b['num_threads']} threads" if b.get("num_threads") else "")
        for b in m.get("blas", [])
    )
    lines = [
        f"# tensorweaver benchmarks on {report['device']}",
        "",
        f"Run {report['date']} with `{report['command']}` ({'quick' if report['quick'] else 'full'}, "
        f"{report['repeats']} repeats per timing, interleaved, {report.get('clock', 'wall time')}, threads: "
        f"{report.get('threads', 'library defaults')}; {report['seconds']:.0f} s in all).",
        "",
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; Python {m['python']}, "
        f"NumPy {m['numpy']}; BLAS: {blas or 'unknown'} ({m['blas_source']})"
        + (f"; PyTorch {m['torch']} with {m['torch_threads']} threads" if "torch" in m else "; PyTorch not installed")
        + (f"; GPU: {m['gpu']} (CuPy {m['cupy']})" if "gpu" in m else "")
        + ". Environment: "
        + ", ".join(f"{k}={v}" for k, v in m["env"].items() if v is not None)
        + ("" if any(v is not None for v in m["env"].values()) else "no OPENBLAS_*/OMP_* overrides")
        + ".",
        "",
        "## Targets",
        "",
        "| workload | target | measured (median ratio) | result |",
        "|---|---|---|---|",
    ]
    for w in report["workloads"]:
        for t in w["targets"]:
            measured = f"{t['ratio']:.3f}x" if "ratio" in t else "-"
            status = f"**{t['status']}**" if t["status"] == "FAIL" else t["status"]
            lines.append(f"| {w['name']} | {t['label']} | {measured} | {status} |")
        for c, v in w["checks"].items():
            lines.append(f"| {w['name']} | {c} | {v['detail']} | {'PASS' if v['ok'] else '**FAIL**'} |")
    lines += ["", "## Timings and measurements", ""]
    lines += ["| workload | implementation | median | min | max | n | per |", "|---|---|---|---|---|---|---|"]
    for w in report["workloads"]:
        for impl, s in w["stats"].items():
            lines.append(
                f"| {w['name']} | {_name(impl, report)} | {_fmt(s['median'])} {w['value_unit']} | "
                f"{_fmt(s['min'])} | {_fmt(s['max'])} | {s['n']} | {w['unit']} |"
            )
    lines += ["", "## Workloads", ""]
    for w in report["workloads"]:
        load = w.get("load") or [None, None]
        during = "" if None in load else f"; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end"
        lines.append(f"- **{w['name']}**: {w['title']} ({w['seconds']:.1f} s{during})")
        for k, v in w["info"].items():
            if k in ("peak", "traced", "flat") and w["name"] == "memory":
                continue
            lines.append(f"  - {k}: {v if not isinstance(v, dict) else json.dumps(v)}")
        if w["name"] == "memory":
            for impl, p in w["info"]["peak"].items():
                lines.append(
                    f"  - {NAMES.get(impl, impl)}: RSS after imports {p['rss_after_import_mb']:.1f} MB, after set-up "
                    f"{p['rss_after_setup_mb']:.1f} MB, peak {p['max_rss_mb']:.1f} MB ({p['steps']} steps, "
                    f"{p['seconds']:.1f} s)"
                )
            for impl, p in w["info"]["traced"].items():
                lines.append(
                    f"  - {NAMES.get(impl, impl)}: tracemalloc peak {p['traced_peak_mb']:.1f} MB "
                    f"(after set-up {p['traced_after_setup_mb']:.1f} MB)"
                )
    lines += [
        "",
        "Ratios are tensorweaver's median over the baseline's median, measured in the same process "
        "(memory and import: in fresh subprocesses). See benchmarks/README.md for what each workload "
        "measures and benchmarks/NOTES.md for the profiles and proposals.",
        "",
    ]
    return "\n".join(lines)


def write_chart(report: dict, path: str) -> str | None:
    """A bar chart of the target ratios with their limits; None (and a message) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib is not installed: no chart (pip install 'tensorweaver[bench]')")
        return None
    bars = [(w["name"], t) for w in report["workloads"] for t in w["targets"] if "ratio" in t]
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(bars)), 4.2))
    xs = range(len(bars))
    colors = ["tab:green" if t["status"] == "PASS" else "tab:red" for _, t in bars]
    ax.bar(xs, [t["ratio"] for _, t in bars], color=colors)
    for x, (_, t) in zip(xs, bars, strict=True):
        ax.hlines(t["limit"], x - 0.4, x + 0.4, colors="black", linestyles="dashed")
        ax.annotate(f"{t['ratio']:.2f}x", (x, t["ratio"]), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs))
    short = {"tensorweaver": "tw", "numpy": "NumPy", "torch": "torch"}
    ax.set_xticklabels([f"{n}\n{short.get(t['num'], t['num'])} / {short.get(t['den'], t['den'])}" for n, t in bars])
    ax.tick_params(axis="x", labelsize=7)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylabel("median ratio (log scale); dashed: target")
    ax.set_title(f"tensorweaver benchmarks on {report['device']} ({'quick' if report['quick'] else 'full'})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- main ------------------------------------------------------------------------------------------
_LIMITS: list = []  # threadpoolctl's limiter, kept alive for the run


def _limit_threads(n: int, torch) -> None:
    """``--threads N``: BLAS (threadpoolctl) and PyTorch's intra-op pool both at N threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("--threads needs threadpoolctl (pip install threadpoolctl)") from None
    _LIMITS.append(threadpool_limits(limits=n))
    if torch is not None:
        torch.set_num_threads(n)


def _context(args) -> W.Context:
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: its baselines are skipped (pip install 'tensorweaver[bench]')")
    xp = np
    if args.device == "cuda":
        import tensorweaver as tw

        ok, why = tw.cuda.availability()
        if not ok:
            raise SystemExit(f"--device cuda: {why}")
        import cupy

        xp = cupy
        if torch is not None and not torch.cuda.is_available():
            print("PyTorch has no CUDA here: its baselines are skipped")
            torch = None
    if args.threads:
        _limit_threads(args.threads, torch)
    repeats = args.repeats or (3 if args.quick else 10)
    return W.Context(
        device=args.device, quick=args.quick, repeats=repeats, torch=torch, xp=xp, cpu_clock=args.cpu_clock
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats (CI); asserts nothing about speed")
    p.add_argument("--repeats", type=int, default=0, help="timed repeats per implementation (default 10, quick 3)")
    p.add_argument(
        "--threads", type=int, default=0, help="BLAS and PyTorch threads (default: each library's own default)"
    )
    p.add_argument(
        "--cpu-clock",
        action="store_true",
        help="time in this process's CPU time, not wall time (with --threads 1: steadier on a busy machine)",
    )
    p.add_argument("--only", default="", help="comma-separated workload names")
    p.add_argument("--out", default=RESULTS, help="where to write <device>.md/.json/.png")
    args = p.parse_args(argv)
    table = W.CUDA_WORKLOADS if args.device == "cuda" else W.CPU_WORKLOADS
    only = [n for n in args.only.split(",") if n]
    for n in only:
        if n not in table:
            p.error(f"--only {n}: no such workload on {args.device}; choose from {', '.join(table)}")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    if env:
        print(
            f"NOTE: {env} is set and may slow NumPy; for benchmark runs: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
        )
    t0 = time.perf_counter()
    ctx = _context(args)
    report = {
        "device": args.device,
        "quick": args.quick,
        "repeats": ctx.repeats,
        "clock": "process CPU time" if args.cpu_clock else "wall time",
        "threads": args.threads or "library defaults",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(ctx),
        "workloads": [],
    }
    for name, make in table.items():
        if only and name not in only:
            continue
        print(f"-- {name} ...", flush=True)
        r = run_workload(ctx, name, make)
        report["workloads"].append(r)
        for t in r["targets"]:
            shown = f"{t['ratio']:.3f}x" if "ratio" in t else ""
            print(f"   {t['label']}: {shown} {t['status']}")
        for c, v in r["checks"].items():
            print(f"   {c}: {'PASS' if v['ok'] else 'FAIL'} ({v['detail']})")
    report["seconds"] = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, args.device)
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=1, default=str)
    md = to_markdown(report)
    with open(stem + ".md", "w") as f:
        f.write(md)
    chart = write_chart(report, stem + ".png")
    print(f"wrote {stem}.md, {stem}.json" + (f", {chart}" if chart else ""))
    return 0
