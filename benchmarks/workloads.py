"""The workloads: what each one times or measures, against which baselines, and its targets.

A workload function takes the run's ``Context`` and returns a ``Workload``: either ``impls`` (one
callable per implementation, timed by run.py, interleaved) or ``measured`` (values it measured
itself in subprocesses), plus its targets and checks.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import models_numpy as mn
from . import models_tw as mt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Target:
    """``median(num) / median(den) <= limit`` (or ``>=`` when ``at_least``)."""

    label: str
    num: str
    den: str
    limit: float
    at_least: bool = False


@dataclass
class Workload:
    name: str
    title: str
    unit: str  # what one timed call is, e.g. "1000 epochs"
    scale: float = 1.0  # seconds per call * scale = the reported value
    value_unit: str = "ms"
    impls: dict = field(default_factory=dict)  # impl name -> callable (one timed call)
    setups: dict = field(default_factory=dict)  # impl name -> callable run before each timed call, untimed
    syncs: dict = field(default_factory=dict)  # impl name -> callable that waits for the device
    measured: dict = field(default_factory=dict)  # impl name -> list of values (already measured)
    targets: list = field(default_factory=list)
    checks: dict = field(default_factory=dict)  # name -> {"ok": bool, "detail": str}
    info: dict = field(default_factory=dict)
    after: object = None  # called after timing, fills checks that need the timed state
    repeat_factor: int = 1  # short, noisy timings get more repeats
    clock: object = None  # None: wall time (time.perf_counter); time.process_time for single-threaded work


@dataclass
class Context:
    device: str  # "cpu" or "cuda"
    quick: bool
    repeats: int
    torch: object = None  # the torch module, or None when not installed
    xp: object = np  # numpy, or cupy on CUDA
    cpu_clock: bool = False  # --cpu-clock: time.process_time for every timed workload

    @property
    def torch_device(self) -> str:
        return "cuda" if self.device == "cuda" else "cpu"


def _base(ctx: Context) -> str:
    """The hand-written baseline's library: NumPy, or CuPy (the same code) on CUDA."""
    return "CuPy" if ctx.device == "cuda" else "NumPy"


def _loop(model, n: int):
    """One timed call: ``n`` steps (the same wrapper for every impl)."""
    step = model.step

    def run():
        for _ in range(n):
            step()

    return run


def _setup(model):
    """Before each timed call, untimed: reset the parameters, then one warm step.

    NOTE: a timed call measures training steps in their steady state. Re-creating the parameters
    and the first step after it (whose new arrays page-fault where later steps reuse memory, NOTES
    3b) are set-up, not a step; every implementation gets the same.
    """
    step = model.step
    reset = getattr(model, "reset", None)

    def setup():
        if reset is not None:
            reset()
        step()

    return setup


def _agree(results: dict, rtol: float, atol: float) -> dict:
    """Do all implementations' results match the first one's (tensorweaver)?"""
    names = list(results)
    ref = results[names[0]]
    worst = 0.0
    ok = True
    for n in names[1:]:
        for a, b in zip(ref, results[n], strict=True):
            a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
            ok &= bool(np.allclose(a, b, rtol=rtol, atol=atol))
            worst = max(worst, float(np.max(np.abs(a - b) / (atol + rtol * np.abs(b)))))
    return {"ok": ok, "detail": f"{' / '.join(names)} agree within rtol={rtol}, atol={atol} (worst {worst:.3g} of it)"}


# -- 1 ---------------------------------------------------------------------------------------------
def textbook(ctx: Context) -> Workload:
    epochs = 200 if ctx.quick else 1000
    models = {"tensorweaver": mt.TextbookTW(ctx.device), "numpy": mn.TextbookNumpy(ctx.xp)}
    if ctx.torch is not None:
        from .models_torch import TextbookTorch

        models["torch"] = TextbookTorch(ctx.torch, ctx.torch_device)
    if ctx.device == "cpu":  # a reference, not a baseline: the same loop on a check-free eager autograd
        from .floor import TextbookFloor

        models["floor"] = TextbookFloor()
    w = Workload(
        "textbook",
        "1. Textbook loop (chapter 7: x (6,1) float32, w, b float64, lr=1e-4)",
        f"{epochs} epochs",
        scale=1e3,
        value_unit="ms",
        impls={n: _loop(m, epochs) for n, m in models.items()},
        setups={n: _setup(m) for n, m in models.items()},
        targets=[Target(f"tensorweaver <= 2.5x hand-written {_base(ctx)}", "tensorweaver", "numpy", 2.5)],
    )

    if "floor" in models:
        w.info["floor"] = (
            "benchmarks/floor.py: the same loop on a throwaway eager autograd with the same six ops and "
            "engine but no checks (devices, dtype rules, grad modes, hooks, errors): the floor of an eager design"
        )

    def after():
        w.checks["final w, b agree"] = _agree({n: m.result() for n, m in models.items()}, 1e-6, 1e-9)

    w.after = after
    return w


# -- 2 ---------------------------------------------------------------------------------------------
def op_overhead(ctx: Context) -> Workload:
    n = 300 if ctx.quick else 2000
    models = {"tensorweaver": mt.OpOverheadTW(ctx.device), "numpy": mn.OpOverheadNumpy(ctx.xp)}
    if ctx.torch is not None:
        from .models_torch import OpOverheadTorch

        models["torch"] = OpOverheadTorch(ctx.torch, ctx.torch_device)
    w = Workload(
        "op_overhead",
        "2. Op overhead: c = a * b + a; c.backward() on one-element float32 tensors",
        f"{n} iterations",
        scale=1e6 / n,
        value_unit="µs/iter",
        impls={k: _loop(m, n) for k, m in models.items()},
        setups={k: _setup(m) for k, m in models.items()},
        targets=[Target("tensorweaver <= 0.35x PyTorch", "tensorweaver", "torch", 0.35)],
    )

    def after():
        w.checks["gradients agree"] = _agree({k: m.result() for k, m in models.items()}, 1e-6, 1e-7)

    w.after = after
    return w


# -- 3 (and 7 on CUDA) -------------------------------------------------------------------------------
def mlp(ctx: Context) -> Workload:
    sizes = [784, 64, 64, 10] if ctx.quick else [784, 512, 512, 10]
    batch = 32 if ctx.quick else 256
    steps = 2 if ctx.quick else 10  # per timed call, after an untimed reset and warm step (_setup)
    models = {"tensorweaver": mt.MLPTW(sizes, batch, ctx.device), "numpy": mn.MLPNumpy(sizes, batch, ctx.xp)}
    if ctx.torch is not None:
        from .models_torch import MLPTorch

        models["torch"] = MLPTorch(ctx.torch, sizes, batch, ctx.torch_device)
    targets = [Target(f"tensorweaver <= 1.05x hand-written {_base(ctx)}", "tensorweaver", "numpy", 1.05)]
    if ctx.device == "cuda":
        targets.append(Target("7. tensorweaver <= 1.2x PyTorch CUDA", "tensorweaver", "torch", 1.2))
    else:
        targets.append(Target("tensorweaver not slower than PyTorch (<= 1.0x)", "tensorweaver", "torch", 1.0))
    w = Workload(
        "mlp",
        f"3. MLP training step ({'-'.join(map(str, sizes))}, ReLU, softmax cross-entropy, batch {batch}, float32, SGD)",
        f"{steps} steps",
        scale=1e3 / steps,
        value_unit="ms/step",
        impls={k: _loop(m, steps) for k, m in models.items()},
        setups={k: _setup(m) for k, m in models.items()},
        targets=targets,
        info={"tensorweaver functions": mt.describe_tw_functions()},
        repeat_factor=3,
    )

    def after():
        results = {k: m.result() for k, m in models.items()}
        w.checks[f"parameters agree after {steps + 1} steps"] = _agree(results, 1e-3, 1e-5)

    w.after = after
    return w


# -- 4 ---------------------------------------------------------------------------------------------
def _memory_proc(impl: str, mode: str, sizes, batch: int, steps: int, check: int = 0, model: str = "mlp") -> dict:
    cmd = [sys.executable, "-m", "benchmarks.memory", impl, mode, "--sizes", ",".join(map(str, sizes))]
    cmd += ["--model", model]
    cmd += ["--batch", str(batch), "--steps", str(steps), "--check", str(check)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def memory(ctx: Context) -> Workload:
    if ctx.quick:
        deep, batch, steps = [784, *[128] * 8, 10], 64, 3
        small, flat_steps, check = [784, 64, 64, 64, 10], 100, 20
    else:
        deep, batch, steps = [784, *[1024] * 8, 10], 512, 20
        small, flat_steps, check = [784, 64, 64, 64, 10], 1000, 100
    impls = ["tensorweaver", "numpy"] + (["torch"] if ctx.torch is not None and not ctx.quick else [])
    peak = {i: _memory_proc(i, "peak", deep, batch, steps) for i in impls}
    traced = {} if ctx.quick else {i: _memory_proc(i, "traced", deep, batch, 2) for i in ("tensorweaver", "numpy")}
    flat = {i: _memory_proc(i, "flat", small, 64, flat_steps, check) for i in ("tensorweaver", "numpy")}
    w = Workload(
        "memory",
        f"4. Memory: {steps} steps of a deep MLP ({deep[0]}, 8 x {deep[1]}, {deep[-1]}; batch {batch}; float32)",
        "one process each",
        value_unit="MB peak RSS",
        measured={i: [peak[i]["max_rss_mb"]] for i in impls},
        targets=[
            Target(
                f"peak RSS ({peak['numpy']['max_rss_source']}) <= 1.15x hand-written NumPy",
                "tensorweaver",
                "numpy",
                1.15,
            )
        ],
        info={"peak": peak, "traced": traced, "flat": flat},
    )
    if traced:
        tw_t, np_t = traced["tensorweaver"]["traced_peak_mb"], traced["numpy"]["traced_peak_mb"]
        w.info["tracemalloc peak ratio (arrays and objects made after the imports, 2 steps)"] = round(tw_t / np_t, 3)
    imp = {i: peak[i]["rss_after_import_mb"] for i in impls}
    w.info["RSS after imports only (MB)"] = {i: round(v, 1) for i, v in imp.items()}
    for i, f in flat.items():
        grow = f["traced_at_end_mb"] - f["traced_at_check_mb"]
        tol = max(0.5, 0.01 * f["traced_peak_mb"])
        w.checks[f"{i}: memory flat, step {check} -> {flat_steps}"] = {
            "ok": grow <= tol,
            "detail": (
                f"tracemalloc current {f['traced_at_check_mb']:.2f} -> {f['traced_at_end_mb']:.2f} MB "
                f"({grow:+.3f} MB, tolerance {tol:.2f} MB; gc off; RSS {f['rss_at_check_mb']:.1f} -> "
                f"{f['rss_at_end_mb']:.1f} MB; model {'-'.join(map(str, small))}, batch 64)"
            ),
        }
    return w


# -- 5 ---------------------------------------------------------------------------------------------
def import_time(ctx: Context) -> Workload:
    runs = 3 if ctx.quick else 15
    codes = {"tensorweaver": "import tensorweaver", "numpy": "import numpy"}
    times: dict = {k: [] for k in codes}
    for r in range(runs):  # interleaved
        for k in list(codes)[r % 2 :] + list(codes)[: r % 2]:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", codes[k]], cwd=ROOT, check=True)
            times[k].append(time.perf_counter() - t0)
    probe = "import sys, tensorweaver; print(sorted(m for m in ('cupy', 'torch') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    heavy = r.stdout.strip()
    w = Workload(
        "import",
        '5. Import: python -c "import tensorweaver" vs python -c "import numpy" (subprocess wall time)',
        "one interpreter start",
        scale=1e3,
        value_unit="ms",
        measured={k: [v * 1e3 for v in vs] for k, vs in times.items()},
        targets=[Target("import tensorweaver <= 2x import numpy", "tensorweaver", "numpy", 2.0)],
        checks={"imports neither cupy nor torch": {"ok": heavy == "[]", "detail": f"heavy modules loaded: {heavy}"}},
    )
    return w


# -- 6 ---------------------------------------------------------------------------------------------
def transfers(ctx: Context) -> Workload:
    """Steps of workloads 1 and 3 on array_api_strict on Device("device1"), host copies counted."""
    import array_api_strict

    import tensorweaver as tw

    tw.backends.register_backend("strict", array_api_strict, device=array_api_strict.Device("device1"))
    backend = tw.backends.get_backend("strict")
    sizes, batch = ([784, 64, 64, 10], 32) if ctx.quick else ([784, 512, 512, 10], 256)
    w = Workload("transfers", "6. Zero hidden transfers (array_api_strict on Device('device1'))", "one step")
    for label, model in (
        ("textbook step", mt.TextbookTW("strict")),
        (f"MLP step ({'-'.join(map(str, sizes))}, batch {batch})", mt.MLPTW(sizes, batch, "strict")),
    ):
        model.step()  # a first step, then count the second (set-up copies are the user's, and counted apart)
        before = backend.transfers
        model.step()
        n = backend.transfers - before
        w.checks[f"{label}: host<->device copies"] = {"ok": n == 0, "detail": f"{n} counted by backend.transfers"}
    w.info["tensorweaver functions"] = mt.describe_tw_functions()
    return w


# -- 7 ---------------------------------------------------------------------------------------------
def cuda_scaling(ctx: Context) -> Workload:
    """The same tensorweaver MLP step at batch 4096 on the CPU and on CUDA (only with --device cuda)."""
    import tensorweaver as tw

    sizes, batch = [784, 512, 512, 10], 4096
    cpu, gpu = mt.MLPTW(sizes, batch, "cpu"), mt.MLPTW(sizes, batch, "cuda")
    w = Workload(
        "cuda_scaling",
        f"7. CUDA: the tensorweaver MLP step, batch {batch}, CPU vs CUDA",
        "1 step",
        scale=1e3,
        value_unit="ms/step",
        impls={"tensorweaver-cpu": _loop(cpu, 1), "tensorweaver-cuda": _loop(gpu, 1)},
        setups={"tensorweaver-cpu": _setup(cpu), "tensorweaver-cuda": _setup(gpu)},
        syncs={"tensorweaver-cuda": tw.cuda.synchronize},
        targets=[Target("CUDA >= 10x faster than CPU", "tensorweaver-cpu", "tensorweaver-cuda", 10.0, at_least=True)],
    )
    return w


# -- 8: the MLP through the public module API ------------------------------------------------------
def _torch_threads(ctx: Context) -> dict:
    """PyTorch's intra-op threads set to the BLAS threads NumPy uses (threadpoolctl), for 'same threads'."""
    if ctx.torch is None:
        return {}
    try:
        from threadpoolctl import threadpool_info

        blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        blas = []
    if blas:
        ctx.torch.set_num_threads(max(blas))
    return {"threads": {"BLAS (NumPy, tensorweaver)": blas or "unknown", "PyTorch": ctx.torch.get_num_threads()}}


def nn_mlp(ctx: Context) -> Workload:
    from . import models_nn as mm

    sizes = [784, 64, 64, 10] if ctx.quick else [784, 512, 512, 10]
    batch = 32 if ctx.quick else 256
    steps = 2 if ctx.quick else 10
    import tensorweaver as tw

    models = {
        "tensorweaver": mm.mlp_trainer(tw, sizes, batch, ctx.device),
        "numpy": mm.MLPNumpyMomentum(sizes, batch, ctx.xp),
    }
    if ctx.torch is not None:
        models["torch"] = mm.mlp_trainer(ctx.torch, sizes, batch, ctx.torch_device)
    w = Workload(
        "nn_mlp",
        f"8. MLP training step through nn/optim (nn.Sequential {'-'.join(map(str, sizes))}, nn.CrossEntropyLoss, "
        f"optim.SGD(momentum=0.9), zero_grad; batch {batch}, float32)",
        f"{steps} steps",
        scale=1e3 / steps,
        value_unit="ms/step",
        impls={k: _loop(m, steps) for k, m in models.items()},
        setups={k: _setup(m) for k, m in models.items()},
        targets=[
            Target(f"tensorweaver <= 1.05x hand-written {_base(ctx)}", "tensorweaver", "numpy", 1.05),
            Target("tensorweaver <= 1.0x PyTorch", "tensorweaver", "torch", 1.0),
        ],
        info=_torch_threads(ctx),
        repeat_factor=3,
    )

    def after():
        results = {k: m.result() for k, m in models.items()}
        w.checks[f"parameters agree after {steps + 1} steps"] = _agree(results, 1e-3, 1e-5)

    w.after = after
    return w


# -- 9: Adam -------------------------------------------------------------------------------------
def adam(ctx: Context) -> Workload:
    from . import optim_bench as ob

    steps = 2 if ctx.quick else 10
    ob.check()
    np_params, grads, tw_params = ob._setup(ob.QUICK_SIZES if ctx.quick else ob.SIZES)
    import tensorweaver as tw

    ref = ob.NumpyAdam(np_params)
    opt = tw.optim.Adam(tw_params, lr=ob.LR, betas=ob.BETAS, eps=ob.EPS)

    def run_tw():
        for _ in range(steps):
            opt.step()

    def run_np():
        for _ in range(steps):
            ref.step(grads)

    w = Workload(
        "adam",
        f"9. Adam step (tw.optim.Adam, lr {ob.LR}) on the parameters of the "
        f"{'-'.join(map(str, ob.QUICK_SIZES if ctx.quick else ob.SIZES))} MLP (float32, fixed gradients) "
        "vs hand-written in-place NumPy Adam",
        f"{steps} steps",
        scale=1e3 / steps,
        value_unit="ms/step",
        impls={"tensorweaver": run_tw, "numpy": run_np},
        targets=[Target("tensorweaver <= 1.1x hand-written NumPy Adam", "tensorweaver", "numpy", 1.1)],
        checks={"parameters agree after 3 steps (rtol 1e-5)": {"ok": True, "detail": "optim_bench.check() passed"}},
        info={"clock": "process CPU time (single-threaded elementwise work)"},
        repeat_factor=2,
        clock=time.process_time,
    )
    return w


# -- 10: the CNN ---------------------------------------------------------------------------------
def cnn(ctx: Context) -> Workload:
    import tensorweaver as tw

    from . import models_nn as mm

    channels, batch = ((8, 16), 16) if ctx.quick else ((32, 64), 64)
    steps = 1 if ctx.quick else 3
    models = {"tensorweaver": mm.cnn_trainer(tw, channels, batch, ctx.device)}
    if ctx.torch is not None:
        models["torch"] = mm.cnn_trainer(ctx.torch, channels, batch, ctx.torch_device)
    w = Workload(
        "cnn",
        f"10. CNN training step (Conv2d 1->{channels[0]} 3x3, ReLU, MaxPool 2, Conv2d {channels[0]}->{channels[1]} "
        f"3x3, ReLU, MaxPool 2, Linear; batch {batch} of 28x28 float32; CrossEntropyLoss, SGD momentum 0.9)",
        f"{steps} steps",
        scale=1e3 / steps,
        value_unit="ms/step",
        impls={k: _loop(m, steps) for k, m in models.items()},
        setups={k: _setup(m) for k, m in models.items()},
        targets=[Target("tensorweaver <= 1.5x PyTorch CPU, same threads", "tensorweaver", "torch", 1.5)],
        info=_torch_threads(ctx),
        repeat_factor=1 if ctx.quick else 2,
    )

    def after():
        results = {k: m.result() for k, m in models.items()}
        w.checks[f"parameters agree after {steps + 1} steps"] = _agree(results, 1e-3, 1e-5)

    w.after = after
    return w


# -- 11: DataLoader ------------------------------------------------------------------------------
def dataloader(ctx: Context) -> Workload:
    from . import data_bench as db

    n = 6_000 if ctx.quick else db.N
    impls, batches = db.epoch_impls(n)
    w = Workload(
        "dataloader",
        f"11. DataLoader epoch: TensorDataset {n} x {db.FEATURES} float32 + int64 labels, batch {db.BATCH}, "
        f"shuffle=True ({batches} batches) vs a NumPy permutation-and-slice loop",
        "one epoch",
        scale=1e3,
        value_unit="ms/epoch",
        impls=impls,
        targets=[Target("tensorweaver <= 1.2x NumPy permutation + slices", "tensorweaver", "numpy", 1.2)],
        info={"clock": "process CPU time (single-threaded)"},
        clock=time.process_time,
    )
    return w


# -- 12: peak memory of the CNN ------------------------------------------------------------------
def cnn_memory(ctx: Context) -> Workload:
    channels, batch, steps = ((8, 16), 16, 3) if ctx.quick else ((32, 64), 64, 20)
    # NOTE: --quick leaves PyTorch's process out (its import alone takes seconds), as workload 4 does
    impls = ["tensorweaver"] + (["torch"] if ctx.torch is not None and not ctx.quick else [])
    sizes = list(channels)
    peak = {i: _memory_proc(i, "peak", sizes, batch, steps, model="cnn") for i in impls}
    w = Workload(
        "cnn_memory",
        f"12. Memory: {steps} steps of the CNN (workload 10; batch {batch}), each library in its own process",
        "one process each",
        value_unit="MB anon peak",
        measured={i: [peak[i]["step_peak_mb"]] for i in impls},
        targets=[
            Target(
                "peak anonymous RSS above the imports' (VmHWM - file RSS - RssAnon after imports) <= 1.2x PyTorch's",
                "tensorweaver",
                "torch",
                1.2,
            )
        ],
        info={
            "measure": (
                "each library in a fresh process (benchmarks/memory.py --model cnn): imports, model, data and "
                "optimizer, one warm-up step, peak RSS reset (/proc/self/clear_refs), then the steps; the figure "
                "is the peak RSS (VmHWM) less the file-backed RSS (library code) and less the anonymous RSS "
                "the imports left: the memory training takes, parameters, state and data included"
            ),
            "peak RSS was reset after the warm-up": {i: p["peak_reset"] for i, p in peak.items()},
            "cnn peak": {i: {k: round(v, 1) for k, v in p.items() if k.endswith("_mb")} for i, p in peak.items()},
        },
    )
    if "torch" in peak:
        w.info["raw peak RSS ratio (imports included)"] = round(
            peak["tensorweaver"]["max_rss_mb"] / peak["torch"]["max_rss_mb"], 3
        )
    return w


def summarize(values) -> dict:
    """Median, min and max of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _compiled(name: str):
    """A workload of benchmarks/compiled.py (tw.compile), imported when it runs."""

    def make(ctx: Context) -> Workload:
        from . import compiled

        return compiled.WORKLOADS[name](ctx)

    return make


CPU_WORKLOADS = {
    "textbook": textbook,
    "op_overhead": op_overhead,
    "mlp": mlp,
    "memory": memory,
    "import": import_time,
    "transfers": transfers,
    **{n: _compiled(n) for n in ("compiled_textbook", "compiled_op_overhead", "compiled_mlp", "compiled_record")},
    "nn_mlp": nn_mlp,
    "adam": adam,
    "cnn": cnn,
    "dataloader": dataloader,
    "cnn_memory": cnn_memory,
}
CUDA_WORKLOADS = {"textbook": textbook, "op_overhead": op_overhead, "mlp": mlp, "cuda_scaling": cuda_scaling}
