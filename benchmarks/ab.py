"""Same-run A/B of two source trees on the hot-path workloads (textbook, op overhead, MLP step).

``python -m benchmarks.ab --base DIR [--head DIR] [--rounds 7] [--callgrind]``: ``DIR`` is a checkout
of tensorweaver (for example ``git worktree add /tmp/base HEAD~1``); ``--head`` defaults to this tree.
Each round starts one fresh process per tree, alternating which goes first, and each process times
every workload (after a warm-up) with the tensorweaver of its tree; the table gives the median over
rounds of each process's best time, and head/base. ``--callgrind`` also counts instructions with
valgrind (``OPENBLAS_NUM_THREADS=1``, ``PYTHONHASHSEED=0``): the count of ``2n`` minus ``n``
iterations, which does not depend on the machine's load. The workloads use the public API only, so
both trees run the same user code.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOADS = {"textbook": 1000, "op_overhead": 2000, "mlp": 10}  # iterations per timed call


def _textbook(tw, np, n: int):
    x = tw.tensor([[0.0], [20.0], [40.0], [60.0], [80.0], [100.0]])
    y = tw.tensor([[32.0], [68.0], [104.0], [140.0], [176.0], [212.0]])
    rng = np.random.default_rng(42)
    w = tw.tensor(rng.standard_normal((1, 1)), requires_grad=True)
    b = tw.tensor(rng.standard_normal(1), requires_grad=True)

    def run():
        for _ in range(n):
            loss = ((x @ w.T + b - y) ** 2).mean()
            loss.backward()
            w.data -= 1e-4 * w.grad
            b.data -= 1e-4 * b.grad
            w.grad = None
            b.grad = None

    return run


def _op_overhead(tw, np, n: int):
    a = tw.tensor([1.5], requires_grad=True)
    b = tw.tensor([2.0], requires_grad=True)

    def run():
        for _ in range(n):
            a.grad = None
            b.grad = None
            c = a * b + a
            c.backward()

    return run


def _mlp(tw, np, n: int):
    rng = np.random.default_rng(0)
    sizes = (784, 512, 512, 10)
    params = []
    for i, o in zip(sizes[:-1], sizes[1:], strict=True):
        params.append(tw.tensor((rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32), requires_grad=True))
        params.append(tw.tensor(np.zeros(o, np.float32), requires_grad=True))
    x = tw.tensor(rng.standard_normal((256, 784)).astype(np.float32))
    t = tw.tensor(rng.integers(0, 10, 256))
    ce = tw.nn.functional.cross_entropy

    def run():
        for _ in range(n):
            h = x
            for k in range(0, len(params), 2):
                h = h @ params[k].T + params[k + 1]
                if k < len(params) - 2:
                    h = tw.relu(h)
            ce(h, t).backward()
            with tw.no_grad():
                for p in params:
                    p -= 0.01 * p.grad
                    p.grad = None

    return run


def _worker(names: list[str], repeats: int, scale: float) -> dict:
    import numpy as np

    import tensorweaver as tw

    out = {"tensorweaver": os.path.dirname(os.path.dirname(tw.__file__))}
    for name in names:
        run = globals()["_" + name](tw, np, max(1, int(WORKLOADS[name] * scale)))
        run()  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - t0)
        out[name] = best
    return out


def _env(tree: str, **extra) -> dict:
    # NOTE: this file runs as a script (its own folder first on sys.path, not a checkout's root),
    # so ``import tensorweaver`` finds the tree's package through PYTHONPATH
    return dict(os.environ, PYTHONPATH=tree, **extra)


def _run_tree(tree: str, names, repeats: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", ",".join(names), "--repeats", str(repeats)]
    r = subprocess.run(cmd, env=_env(tree), capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(r.stdout.strip().splitlines()[-1])


def _callgrind(tree: str, name: str, runs: int) -> int:
    """Instructions of ``WORKLOADS[name]`` iterations: the count of 2x minus 1x (start-up cancels),
    the median of ``runs``.

    NOTE: for one tree and one environment the count repeats to 0.01%, yet another environment
    (its size moves the process's memory layout) moves it by up to 1.5%, and so does any edit of
    the code: the same tree measured once can look 1.5% better or worse. Run ``k`` gets an
    environment variable of its own length, so the median is over layouts, not over one."""
    return statistics.median(_callgrind_once(tree, name, k) for k in range(runs))


def _callgrind_once(tree: str, name: str, layout: int = 0) -> int:
    env = _env(tree, OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0", TW_AB_LAYOUT="x" * (1 + 37 * layout))
    counts = []
    for scale in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "cg.out")
            cmd = [sys.executable, os.path.abspath(__file__), "--once", name, "--scale", str(scale)]
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                env=env,
                capture_output=True,
                check=True,
                cwd=d,
            )
            with open(out) as f:
                total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
            counts.append(total)
    return counts[1] - counts[0]


def _run_once(name: str, scale: float) -> None:
    import numpy as np

    import tensorweaver as tw

    globals()["_" + name](tw, np, max(1, int(WORKLOADS[name] * scale)))()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", help="the checkout to compare against (required)")
    p.add_argument("--head", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--repeats", type=int, default=5, help="timed calls per workload in each process")
    p.add_argument("--only", default=",".join(WORKLOADS))
    p.add_argument("--callgrind", action="store_true", help="also count instructions with valgrind")
    p.add_argument("--cg-runs", type=int, default=5, help="valgrind runs per tree, one layout each (median)")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # in a child process: time these workloads
    p.add_argument("--once", help=argparse.SUPPRESS)  # in a child process under valgrind: run it once
    p.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker.split(","), args.repeats, 1.0)))
        return
    if args.once:
        _run_once(args.once, args.scale)
        return
    if not args.base:
        p.error("--base is required")
    names = args.only.split(",")
    trees = {"base": os.path.abspath(args.base), "head": os.path.abspath(args.head)}
    times: dict = {k: {n: [] for n in names} for k in trees}
    for r in range(args.rounds):
        for k in ("base", "head") if r % 2 == 0 else ("head", "base"):
            result = _run_tree(trees[k], names, args.repeats)
            if os.path.realpath(result.pop("tensorweaver")) != os.path.realpath(trees[k]):
                raise SystemExit(f"the {k} process imported tensorweaver from elsewhere than {trees[k]}")
            for n, t in result.items():
                times[k][n].append(t)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds; base {trees['base']}; head {trees['head']}")
    print("| workload | iterations | base | head | head/base | instructions per iteration, base -> head |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in names:
        b, h = statistics.median(times["base"][n]), statistics.median(times["head"][n])
        cg = ""
        if args.callgrind:
            cb, ch = (_callgrind(trees[k], n, args.cg_runs) / WORKLOADS[n] for k in ("base", "head"))
            cg = f"{cb / 1e3:.1f}k -> {ch / 1e3:.1f}k ({ch / cb - 1:+.1%})"
        print(f"| {n} | {WORKLOADS[n]} | {b * 1e3:.2f} ms | {h * 1e3:.2f} ms | {h / b:.3f} | {cg} |")


if __name__ == "__main__":
    main()
