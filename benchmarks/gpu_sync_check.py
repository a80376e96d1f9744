"""Part 5 of the GPU check: a training step on a device makes no hidden host<->device copy and does not synchronize.

``python -m benchmarks.gpu_sync_check --device cuda`` (or ``--device strict``: array_api_strict on
Device("device1"), the CPU stand-in). For the textbook step and a small MLP step, after one warm-up step:

- ``backend.transfers`` is counted over the following steps (it must not move);
- on CUDA, one step runs under ``cupyx.allow_synchronize(False)`` where this CuPy still has it, and one
  step runs right after a long kernel was queued: a step that synchronizes the device has to wait for
  that kernel, a step that does not returns while it is still running;
- CuPy's memory pool is read before and after the counted steps (it should not grow);
- the parameters are compared with the same steps on the CPU.

The last line printed is ``GPU_CHECK <json>``; the exit status is 0 when every check held.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
import warnings
from collections.abc import Callable

import numpy as np

import tensorweaver as tw

from .common import CELSIUS, FAHRENHEIT, LR_MLP, LR_TEXTBOOK, mlp_init, textbook_init

COUNTED_STEPS = 3
RTOL, ATOL = 1e-4, 1e-6  # float32 tolerance (the MLP); the float64 textbook step agrees far closer

# clock64() counts SM cycles: one thread spinning for ``cycles`` keeps the device busy for a known time
_SPIN = r"""
extern "C" __global__ void tw_gpu_check_spin(long long cycles) {
    long long t0 = clock64();
    while (clock64() - t0 < cycles) { }
}
"""

Step = Callable[[], None]


def textbook_step(device: str) -> tuple[Step, list[tw.Tensor]]:
    """The chapter's step (float32 inputs, float64 w and b, lr 1e-4) and its parameters."""
    w0, b0 = textbook_init()
    x, y = tw.tensor(CELSIUS, device=device), tw.tensor(FAHRENHEIT, device=device)
    w = tw.tensor(w0, device=device, requires_grad=True)
    b = tw.tensor(b0, device=device, requires_grad=True)

    def step() -> None:
        loss = ((x @ w.T + b - y) ** 2).mean()
        loss.backward()
        for p in (w, b):
            p.data -= LR_TEXTBOOK * p.grad
            p.grad = None

    return step, [w, b]


def mlp_step(device: str, sizes: tuple[int, ...] = (784, 256, 10), batch: int = 64) -> tuple[Step, list[tw.Tensor]]:
    """One SGD step of a small float32 MLP (x @ W.T + b, relu, cross-entropy) and its parameters."""
    layers, x0, labels0 = mlp_init(list(sizes), batch)
    x, labels = tw.tensor(x0, device=device), tw.tensor(labels0, device=device)
    params = [tw.tensor(a, device=device, requires_grad=True) for layer in layers for a in layer]

    def step() -> None:
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i + 2 < len(params):
                h = tw.relu(h)
        loss = tw.nn.functional.cross_entropy(h, labels)
        loss.backward()
        for p in params:
            p.data -= LR_MLP * p.grad
            p.grad = None

    return step, params


STEPS = {"textbook step": textbook_step, "MLP step (784-256-10, batch 64)": mlp_step}


def _where(e: BaseException) -> str:
    """The innermost tensorweaver frame of an exception's traceback: the op that raised."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "tensorweaver" in f.filename.replace("\\", "/")]
    if not frames:
        return "outside tensorweaver"
    f = frames[-1]
    path = f.filename.replace("\\", "/")
    return f"{path[path.rfind('tensorweaver/') :]}:{f.lineno} in {f.name}"


def _error(e: BaseException) -> str:
    first = (str(e).strip().splitlines() or [""])[0][:300]
    return f"{type(e).__module__}.{type(e).__name__}: {first} (at {_where(e)})"


def _no_sync_mode(cupy, step: Step) -> tuple[bool | None, str]:
    """One step under cupyx.allow_synchronize(False): (True, ...) if nothing was detected, None if unavailable."""
    import cupyx

    allow = getattr(cupyx, "allow_synchronize", None)
    if allow is None:
        return None, "this CuPy has no cupyx.allow_synchronize (deprecated since CuPy 10)"
    # NOTE: allow_synchronize warns on every use that it is deprecated, and it only sees the syncs that
    # CuPy declares (ndarray.get and the device->host copies behind it, Device.synchronize; see
    # cupy/_core/syncdetect.py): the busy-device probe below catches the rest.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with allow(False):
                step()
        except cupyx.DeviceSynchronized as e:
            return False, f"cupyx.DeviceSynchronized at {_where(e)}"
    return True, "no cupyx.DeviceSynchronized"


def _busy_probe(cupy, step: Step, host_seconds: float) -> tuple[bool | None, str]:
    """Queue a long kernel, then run a step: (True, ...) if the step returned while the kernel still ran."""
    spin = cupy.RawKernel(_SPIN, "tw_gpu_check_spin")
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    cycles = 10**6
    start.record()
    spin((1,), (1,), (np.int64(cycles),))
    end.record()
    # NOTE: CuPy's docs say Event.synchronize blocks the host only for an Event(block=True)
    # (docs.cupy.dev, cupy.cuda.Event), so wait for the whole device before reading the timings
    cupy.cuda.Device().synchronize()
    per_ms = cycles / max(cupy.cuda.get_elapsed_time(start, end), 1e-3)
    target_ms = max(200.0, 50e3 * host_seconds)  # far longer than the step takes on the host
    start.record()
    spin((1,), (1,), (np.int64(per_ms * target_ms),))
    end.record()
    t0 = time.perf_counter()
    step()
    returned_ms = (time.perf_counter() - t0) * 1e3
    still_busy = not end.done
    cupy.cuda.Device().synchronize()
    busy_ms = cupy.cuda.get_elapsed_time(start, end)
    if still_busy:
        return True, f"returned after {returned_ms:.1f} ms while the {busy_ms:.0f} ms kernel before it still ran"
    if returned_ms >= 0.9 * busy_ms:
        return (
            False,
            f"waited for the device: returned after {returned_ms:.1f} ms, once the {busy_ms:.0f} ms kernel ended",
        )
    return None, f"inconclusive: returned after {returned_ms:.1f} ms, the {busy_ms:.0f} ms kernel had already ended"


def _guarded(probe, *args) -> tuple[bool | None, str]:
    """A probe's (ok, detail); an error of the probe itself is inconclusive (None), not a finding."""
    try:
        return probe(*args)
    except Exception as e:  # noqa: BLE001 - reported in the detail
        return None, f"probe error: {_error(e)}"


def check_step(device: str, make: Callable[[str], tuple[Step, list[tw.Tensor]]]) -> dict:
    """Run one step kind on ``device`` under every check; a dict of results with ``ok``."""
    r: dict = {"ok": False}
    try:
        backend = tw.backends.get_backend(device)
        cupy = None
        if device.startswith("cuda"):
            import cupy  # type: ignore[no-redef]
        setup0 = backend.transfers
        step, params = make(device)
        r["setup transfers"] = backend.transfers - setup0
        step()  # warm-up: kernels compile, the memory pool fills
        backend.synchronize()
        pool = cupy.get_default_memory_pool() if cupy is not None else None
        pool0 = pool.used_bytes() if pool is not None else None
        before, n_steps = backend.transfers, 1
        t0 = time.perf_counter()
        for _ in range(COUNTED_STEPS):
            step()
        host_seconds = (time.perf_counter() - t0) / COUNTED_STEPS
        n_steps += COUNTED_STEPS
        backend.synchronize()
        r["step host ms"] = round(host_seconds * 1e3, 3)
        if pool is not None:
            r["pool bytes"] = [pool0, pool.used_bytes()]
        if cupy is not None:
            n_steps += 1
            r["no-sync mode ok"], r["no-sync mode"] = _guarded(_no_sync_mode, cupy, step)
            if r["no-sync mode ok"] is False:
                r["transfers"] = backend.transfers - before
                return r  # the step stopped halfway: later checks would measure a broken state
            n_steps += 1
            r["busy probe ok"], r["busy probe"] = _guarded(_busy_probe, cupy, step, host_seconds)
        r["transfers"] = backend.transfers - before
        got = [p.detach().cpu().numpy() for p in params]  # explicit copies, after the checks
        ref_step, ref_params = make("cpu")
        for _ in range(n_steps):
            ref_step()
        want = [p.detach().numpy() for p in ref_params]
        diff = max(float(np.max(np.abs(g - w) / (ATOL + RTOL * np.abs(w)))) for g, w in zip(got, want, strict=True))
        r["steps"], r["agrees with cpu"] = n_steps, bool(diff <= 1.0)
        r["worst diff / tolerance"] = round(diff, 4)
    except Exception as e:  # noqa: BLE001 - any error of a step is a finding to report, not a crash
        r["error"] = _error(e)
        return r
    r["ok"] = (
        r["transfers"] == 0
        and r.get("no-sync mode ok") is not False
        and r.get("busy probe ok") is not False
        and r["agrees with cpu"]
    )
    return r


def run_checks(device: str) -> dict:
    """Every step kind on ``device``: ``{"device", "ok", "steps": {name: result}}``."""
    if device == "strict" and "strict" not in tw.backends.registered_backends():
        import array_api_strict

        tw.backends.register_backend("strict", array_api_strict, device=array_api_strict.Device("device1"))
    steps = {name: check_step(device, make) for name, make in STEPS.items()}
    return {"device": device, "ok": all(s["ok"] for s in steps.values()), "steps": steps}


def main(argv: list[str] | None = None) -> int:
    """Print each step's results, then ``GPU_CHECK <json>``; 0 when every check held."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_sync_check", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or strict (the CPU stand-in)")
    args = p.parse_args(argv)
    result = run_checks(args.device)
    for name, r in result["steps"].items():
        print(f"{name} on {args.device}: {'ok' if r['ok'] else 'FAILED'}")
        for k, v in r.items():
            if k != "ok":
                print(f"  {k}: {v}")
    print("GPU_CHECK " + json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
