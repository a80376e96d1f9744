"""``tw.compile``'d training steps against eager tensorweaver, hand-written NumPy (or CuPy) and, when
installed, ``jax.jit``, ``torch.compile`` and PyTorch with CUDA graphs, all in one process.

``python -m benchmarks.compiled [--device cpu|cuda] [--quick] [--repeats N]`` prints the tables; the
workloads are also in ``python -m benchmarks`` (``--only compiled_textbook,...``).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
import warnings

import numpy as np

import tensorweaver as tw
from tensorweaver.compile import CompileWarning

from . import models_numpy as mn
from . import models_tw as mt
from . import workloads as W
from .common import CELSIUS, FAHRENHEIT, LR_TEXTBOOK, textbook_init


class _InPlaceReset:
    """A tensorweaver model whose ``reset()`` restores the initial values into the same tensors (a
    compiled step's guards hold the tensors it read: new ones would make it record again)."""

    def _keep(self, tensors) -> None:
        self._init = [(t, tw.tensor(t.detach(), device=t.device)) for t in tensors]

    def reset_values(self) -> None:
        with tw.no_grad():
            for t, v in self._init:
                t.copy_(v)
                t.grad = None


class TextbookCompiled(_InPlaceReset):
    def __init__(self, device: str) -> None:
        self.m = mt.TextbookTW(device)
        self._keep([self.m.w, self.m.b])
        self.step = tw.compile(self.m.step)

    def reset(self) -> None:
        self.reset_values()

    def result(self):
        return self.m.result()


class OpOverheadCompiled:
    def __init__(self, device: str) -> None:
        self.m = mt.OpOverheadTW(device)
        self.step = tw.compile(self.m.step)

    def result(self):
        return self.m.result()


class MLPCompiled(_InPlaceReset):
    def __init__(self, sizes, batch: int, device: str) -> None:
        self.m = mt.MLPTW(sizes, batch, device)
        self._keep(self.m.params)
        self.step = tw.compile(self.m.step)

    def reset(self) -> None:
        self.reset_values()

    def result(self):
        return self.m.result()


class TextbookJax:
    """The chapter's loop as one ``jax.jit``'ed step (gradients by ``jax.grad``)."""

    def __init__(self, jax) -> None:
        jnp = jax.numpy
        self.x = jnp.asarray(np.array(CELSIUS, dtype=np.float32))
        self.y = jnp.asarray(np.array(FAHRENHEIT, dtype=np.float32))
        self.w0, self.b0 = textbook_init()
        jax.config.update("jax_enable_x64", True)

        def loss_fn(w, b, x, y):
            return (((x @ w.T + b) - y) ** 2).mean()

        grad = jax.grad(loss_fn, argnums=(0, 1))

        @jax.jit
        def step(w, b, x, y):
            gw, gb = grad(w, b, x, y)
            return w - LR_TEXTBOOK * gw, b - LR_TEXTBOOK * gb

        self._step = step
        self.jnp = jnp
        self.reset()

    def reset(self) -> None:
        self.w, self.b = self.jnp.asarray(self.w0), self.jnp.asarray(self.b0)

    def step(self) -> None:
        self.w, self.b = self._step(self.w, self.b, self.x, self.y)

    def result(self):
        return np.asarray(self.w), np.asarray(self.b)


class TextbookTorchCompile:
    """The chapter's loop body under ``torch.compile`` (it breaks the graph at ``backward()``)."""

    def __init__(self, torch, device: str) -> None:
        from .models_torch import TextbookTorch

        self.m = TextbookTorch(torch, device)
        self.step = torch.compile(self.m.step)

    def reset(self) -> None:
        self.m.reset()

    def result(self):
        return self.m.result()


def _n_ops(fn) -> int:
    p = fn.programs[0] if fn.programs else None
    return getattr(p, "n_ops", None) or getattr(getattr(p, "prog", None), "n_ops", 0)


def _optional(name: str):
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001 - an optional baseline: absent or broken means skipped
        return None


def compiled_textbook(ctx: W.Context) -> W.Workload:
    epochs = 200 if ctx.quick else 1000
    models = {
        "tensorweaver-compiled": TextbookCompiled(ctx.device),
        "numpy": mn.TextbookNumpy(ctx.xp),  # pyright: ignore[reportArgumentType]
        "tensorweaver": mt.TextbookTW(ctx.device),
    }
    jax = _optional("jax") if ctx.device == "cpu" else None
    if jax is not None:
        models["jax.jit"] = TextbookJax(jax)
    if ctx.torch is not None and getattr(ctx, "torch_compile", False):
        tc = TextbookTorchCompile(ctx.torch, ctx.torch_device)
        try:  # an optional baseline: one trial step; a step torch.compile refuses is reported, not timed
            tc.step()
            tc.reset()
            models["torch.compile"] = tc
        except Exception as e:  # noqa: BLE001
            print(f"torch.compile baseline not measured: {type(e).__name__}: {str(e).splitlines()[-1][:200]}")
    base = "CuPy" if ctx.device == "cuda" else "NumPy"
    targets = [Target("compiled <= 1.0x hand-written " + base, "tensorweaver-compiled", "numpy", 1.0)]
    if ctx.device == "cuda" and ctx.torch is not None:
        from .models_torch import TextbookTorch

        models["torch"] = TextbookTorch(ctx.torch, ctx.torch_device)
        targets.append(Target("compiled <= 0.2x PyTorch CUDA eager", "tensorweaver-compiled", "torch", 0.2))
    w = W.Workload(
        "compiled_textbook",
        "C1. tw.compile: the textbook loop's step (x (6,1) float32, w, b float64), compiled",
        f"{epochs} epochs",
        scale=1e3,
        impls={n: W._loop(m, epochs) for n, m in models.items()},
        setups={n: W._setup(m) for n, m in models.items()},
        targets=targets + [Target("compiled <= 0.5x eager tensorweaver", "tensorweaver-compiled", "tensorweaver", 0.5)],
    )

    def after():
        w.checks["final w, b agree with eager and NumPy"] = W._agree(
            {"tensorweaver": models["tensorweaver"].result(), **{n: m.result() for n, m in models.items()}}, 1e-6, 1e-9
        )
        fn = models["tensorweaver-compiled"].step
        w.checks["one recording, replayed"] = {
            "ok": fn.records == 1 and fn.eager_reason is None,
            "detail": f"{fn.records} recording(s); {_n_ops(fn)} array operations per step",
        }

    w.after = after
    return w


def compiled_op_overhead(ctx: W.Context) -> W.Workload:
    n = 300 if ctx.quick else 2000
    models = {"tensorweaver-compiled": OpOverheadCompiled(ctx.device), "tensorweaver": mt.OpOverheadTW(ctx.device)}
    models["numpy"] = mn.OpOverheadNumpy(ctx.xp)  # pyright: ignore[reportArgumentType]
    w = W.Workload(
        "compiled_op_overhead",
        "C2. tw.compile: c = a * b + a; c.backward() on one-element float32 tensors, compiled",
        f"{n} iterations",
        scale=1e6 / n,
        value_unit="µs/iter",
        impls={k: W._loop(m, n) for k, m in models.items()},
        targets=[Target("compiled <= 0.5x eager tensorweaver", "tensorweaver-compiled", "tensorweaver", 0.5)],
    )

    def after():
        w.checks["gradients agree"] = W._agree({k: m.result() for k, m in models.items()}, 1e-6, 1e-7)

    w.after = after
    return w


def _mlp_sizes(ctx):
    return ([784, 64, 64, 10], 32, 2) if ctx.quick else ([784, 512, 512, 10], 256, 10)


def compiled_mlp(ctx: W.Context) -> W.Workload:
    sizes, batch, steps = _mlp_sizes(ctx)
    models = {
        "tensorweaver-compiled": MLPCompiled(sizes, batch, ctx.device),
        "numpy": mn.MLPNumpy(sizes, batch, ctx.xp),  # pyright: ignore[reportArgumentType]
        "tensorweaver": mt.MLPTW(sizes, batch, ctx.device),
    }
    base = "CuPy" if ctx.device == "cuda" else "NumPy"
    targets = [Target(f"compiled <= 0.95x hand-written {base}", "tensorweaver-compiled", "numpy", 0.95)]
    if ctx.device == "cuda" and ctx.torch is not None:
        from .models_torch import MLPTorch

        models["torch"] = MLPTorch(ctx.torch, sizes, batch, ctx.torch_device)
        targets.append(Target("compiled <= 1.0x PyTorch CUDA eager", "tensorweaver-compiled", "torch", 1.0))
    w = W.Workload(
        "compiled_mlp",
        f"C3. tw.compile: MLP step ({'-'.join(map(str, sizes))}, ReLU, cross-entropy, batch {batch}, float32, SGD)",
        f"{steps} steps",
        scale=1e3 / steps,
        value_unit="ms/step",
        impls={k: W._loop(m, steps) for k, m in models.items()},
        setups={k: W._setup(m) for k, m in models.items()},
        syncs={k: tw.cuda.synchronize for k in models} if ctx.device == "cuda" else {},
        targets=targets,
        repeat_factor=3,
    )

    def after():
        res = {k: m.result() for k, m in models.items()}
        w.checks[f"parameters agree after {steps + 1} steps"] = W._agree(res, 1e-3, 1e-5)

    w.after = after
    return w


def _record_vs_eager(sizes, batch, device: str, repeats: int) -> dict:
    """Seconds of a recording call (a fresh tw.compile of a warm model's step) and of an eager step."""
    m = mt.MLPTW(sizes, batch, device)
    m.step()
    rec, eager = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m.step()
        tw.cuda.synchronize() if device == "cuda" else None
        eager.append(time.perf_counter() - t0)
        fn = tw.compile(m.step)
        t0 = time.perf_counter()
        fn()
        tw.cuda.synchronize() if device == "cuda" else None
        rec.append(time.perf_counter() - t0)
    return {"record": rec, "eager": eager}


def _peak(fn, steps: int = 3) -> float:
    """tracemalloc's peak (MB) over ``steps`` calls after a warm one (NumPy arrays are traced)."""
    fn()
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(steps):
        fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def compiled_record(ctx: W.Context) -> W.Workload:
    sizes, batch, _ = _mlp_sizes(ctx)
    r = _record_vs_eager(sizes, batch, ctx.device, 3 if ctx.quick else 7)
    w = W.Workload(
        "compiled_record",
        f"C4. tw.compile: the recording call vs an eager MLP step ({'-'.join(map(str, sizes))}, batch {batch})",
        "one call",
        scale=1e3,
        measured={"tensorweaver-record": [v * 1e3 for v in r["record"]], "tensorweaver": [v * 1e3 for v in r["eager"]]},
        targets=[Target("record <= 3x an eager step", "tensorweaver-record", "tensorweaver", 3.0)],
    )
    if ctx.device == "cpu":
        c = MLPCompiled(sizes, batch, "cpu")
        c.step()
        e = mt.MLPTW(sizes, batch, "cpu")
        pc, pe = _peak(c.step), _peak(e.step)
        w.checks["peak memory: compiled <= eager"] = {
            "ok": pc <= pe * 1.02,
            "detail": f"tracemalloc peak above the arrays held: compiled {pc:.2f} MB, eager {pe:.2f} MB",
        }
    return w


Target = W.Target
WORKLOADS = {
    "compiled_textbook": compiled_textbook,
    "compiled_op_overhead": compiled_op_overhead,
    "compiled_mlp": compiled_mlp,
    "compiled_record": compiled_record,
}


def main(argv=None) -> int:
    from . import run

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument(
        "--torch-compile", action="store_true", help="add torch.compile to the textbook loop (slow to compile)"
    )
    ap.add_argument("--threads", type=int, default=0, help="BLAS and PyTorch threads (as python -m benchmarks)")
    args = ap.parse_args(argv)
    ctx = run._context(
        argparse.Namespace(
            device=args.device, quick=args.quick, repeats=args.repeats, threads=args.threads, cpu_clock=False
        )
    )
    ctx.torch_compile = args.torch_compile  # type: ignore[attr-defined]
    warnings.simplefilter("error", CompileWarning)  # a compiled step that fell back would time eager code
    reports = []
    for name, make in WORKLOADS.items():
        reports.append(run.run_workload(ctx, name, make))
    ok = True
    for rep in reports:
        print(f"\n## {rep['title']} ({rep['unit']}, {rep['value_unit']})")
        for impl, st in rep["stats"].items():
            print(f"  {impl:24s} {st['median']:10.4g}  (min {st['min']:.4g}, max {st['max']:.4g}, n={st['n']})")
        for t in rep["targets"]:
            print(f"  target {t['label']}: {t.get('ratio', float('nan')):.3f} -> {t['status']}")
            ok &= t["status"] != "FAIL"
        for label, c in rep["checks"].items():
            print(f"  check {label}: {'ok' if c['ok'] else 'FAILED'} ({c['detail']})")
            ok &= bool(c["ok"])
    print(f"\ncompiled benchmarks: {'all targets met' if ok else 'some targets missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
