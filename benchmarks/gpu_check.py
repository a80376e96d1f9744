"""The GPU check: prove tensorweaver's CUDA path on a lent GPU with one command, in under 8 minutes.

``bash benchmarks/gpu_check.sh OUTDIR [--dry-run] [--fake-cpu] [--budget S] [--wheels DIR] [--require-wheels]``

Setup puts tensorweaver (this checkout) and the pinned array-api-compat / array-api-strict wheels of
``.whl/`` (benchmarks/gpu_wheels.sh downloads them) on PYTHONPATH: no network, no pip. Then five parts
run, each command under its own time cap, in the order 1, 2, 3, 5, 4 (the full benchmarks take what
time is left): 1. a device report; 2. ``pytest -m gpu`` (the ``cuda`` param of the ``device`` fixture and
the gpu-marked tests), in parallel processes, junit XML; 3. the examples on CUDA against the CPU;
4. ``python -m benchmarks --device cuda --quick``, then each CUDA workload in full; 5. the zero-hidden-sync
step check (benchmarks/gpu_sync_check.py). OUTDIR gets at most 8 files; ``gpu_check.md`` (the summary)
is printed last. ``--dry-run`` (automatic without a usable GPU) checks the wheels, the imports and every
command line, and runs no GPU part; ``--fake-cpu`` runs the real parts with the CPU in place of CUDA.
This file is also the pytest plugin (``-p benchmarks.gpu_check``) that stops a run at its deadline.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY, LOG, JUNIT = "gpu_check.md", "gpu_check.log", "pytest.xml"
OUT_FILES = (SUMMARY, LOG, JUNIT, "bench_quick.md", "bench_quick.json", "bench_full.md", "bench_full.json")
MAX_FILES, MAX_BYTES = 8, 16 * 2**20
MAX_OUTPUT = 1_000_000  # characters of one command's output kept in the log (its head and tail)
DEFAULT_BUDGET = 440  # seconds for the parts; the summary follows, and the whole stays under 8 minutes
DEADLINE_ENV = "TW_GPU_CHECK_DEADLINE"
RESULT_TAG = "GPU_CHECK "
EXAMPLES = [("examples/train_temperature.py", []), ("examples/train_digits.py", ["--seed", "0"])]
# benchmarks that other features bring: each runs as ``python -m benchmarks.<name> --device cuda`` once it exists
OPTIONAL_BENCHMARKS = [("compiled step", "compiled"), ("NCCL", "nccl")]
RTOL = 1e-5  # example outputs: float32 tolerance, plus one unit of the last printed digit
PART_TITLES = {
    0: "setup (wheels, imports)",
    1: "device report",
    2: "pytest -m gpu",
    3: "examples on cuda vs cpu",
    4: "benchmarks --device cuda",
    5: "zero-hidden-sync step",
}


class BudgetSpent(Exception):
    """Raised by the alarm when the whole check runs past its budget (every command has its own cap too)."""


# -- the pytest plugin ---------------------------------------------------------------------------
def pytest_runtest_protocol(item, nextitem):
    """Stop the session after this test once the deadline has passed (the junit XML is still written)."""
    if time.time() > float(os.environ.get(DEADLINE_ENV, "inf")):
        item.session.shouldstop = "gpu_check: the time budget of this part is spent"


# -- running commands ----------------------------------------------------------------------------
@dataclass
class Ran:
    """A finished command: exit status (None when killed at its cap), output, seconds."""

    rc: int | None
    out: str
    seconds: float

    @property
    def killed(self) -> bool:
        return self.rc is None


@dataclass
class Part:
    """One line of the summary, plus the sections it adds below the table."""

    number: int
    status: str = "passed"  # passed, failed, partial, skipped; planned or warning in a dry run
    details: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, detail: str) -> None:
        self.status = "failed"
        self.details.append(detail)


class Check:
    """The run: options, deadline, environment of the commands, the log, and a scratch directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.out = args, os.path.abspath(args.outdir)
        self.t0 = time.time()
        self.deadline = self.t0 + args.budget
        self.dry, self.fake = args.dry_run, args.fake_cpu
        self.device = "cpu" if self.fake else "cuda"
        self.py = sys.executable
        self.tmp = tempfile.mkdtemp(prefix="tw_gpu_check_")
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
        self.pythonpath([ROOT])
        self.live: list[subprocess.Popen] = []
        self.imports: dict = {}
        self.log = open(os.path.join(self.out, LOG), "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def pythonpath(self, first: list[str]) -> None:
        rest = [p for p in self.env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in first]
        self.env["PYTHONPATH"] = os.pathsep.join(first + rest)

    def remaining(self) -> float:
        return self.deadline - time.time()

    def start(self, argv: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
        path = os.path.join(self.tmp, f"out{len(os.listdir(self.tmp))}.txt")
        with open(path, "w") as f:
            f.write(" ".join(argv) + "\n")  # the command, for the log
            f.flush()
            # its own session, so that a cap kills the command and everything it started
            p = subprocess.Popen(
                argv, cwd=ROOT, env=env or self.env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.live.append(p)
        return p, path

    def finish(self, p: subprocess.Popen, path: str, t_start: float, cap: float, label: str) -> Ran:
        try:
            p.wait(max(0.1, t_start + cap - time.time()))
            rc = p.returncode
        except subprocess.TimeoutExpired:
            _kill(p)
            rc = None
        self.live.remove(p)
        with open(path, errors="replace") as f:
            command, out = f.readline().rstrip("\n"), f.read()
        ran = Ran(rc, out, time.time() - t_start)
        if len(out) > MAX_OUTPUT:
            out = out[: MAX_OUTPUT // 5] + "\n[... output cut by gpu_check ...]\n" + out[-MAX_OUTPUT * 4 // 5 :]
        end = f"KILLED at its cap of {cap:.0f} s" if ran.killed else f"exit status {rc}"
        self.log.write(f"\n===== {label}: {command}\n{out}\n===== {end} after {ran.seconds:.1f} s\n")
        self.log.flush()
        return ran

    def run(self, argv: list[str], cap: float, label: str) -> Ran:
        t = time.time()
        return self.finish(*self.start(argv), t, cap, label)

    def kill_all(self) -> None:
        for p in list(self.live):
            _kill(p)

    def close(self) -> None:
        """Stop what still runs, close the log, remove the scratch directory."""
        self.kill_all()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _kill(p: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
            p.wait(5)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def tagged(out: str) -> dict | None:
    """The JSON of the last ``GPU_CHECK {...}`` line a command printed (None if there is none)."""
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_TAG):
            try:
                return json.loads(line[len(RESULT_TAG) :])
            except json.JSONDecodeError:
                return None
    return None


def tail(out: str, n: int = 3) -> str:
    lines = [x.strip() for x in out.strip().splitlines() if x.strip()]
    return " / ".join(lines[-n:])[:400] or "(no output)"


# -- part 0: setup ---------------------------------------------------------------------------------
def wheel_pins() -> dict[str, str]:
    """``{name: version}`` pinned in benchmarks/gpu_wheels.sh (the one place the versions are written)."""
    with open(os.path.join(ROOT, "benchmarks", "gpu_wheels.sh")) as f:
        return dict(re.findall(r"\b(array-api-[a-z]+)==([0-9][0-9A-Za-z.]*)", f.read()))


IMPORT_PROBE = """import json, importlib
out = {}
for m in ("tensorweaver", "numpy", "array_api_compat", "array_api_strict", "pytest", "hypothesis"):
    try:
        mod = importlib.import_module(m)
        out[m] = [getattr(mod, "__version__", "?"), mod.__file__]
    except Exception as e:
        out[m] = [None, f"{type(e).__name__}: {e}"]
print("GPU_CHECK " + json.dumps(out))
"""


def part_setup(c: Check) -> Part:
    part = Part(0)
    wheels = os.path.abspath(c.args.wheels)
    site = os.path.join(c.tmp, "site")
    missing, used = [], []
    for name, version in sorted(wheel_pins().items()):
        fname = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        path = os.path.join(wheels, fname)
        if not os.path.isfile(path):
            missing.append(fname)
            continue
        with zipfile.ZipFile(path) as z:  # a pure-Python wheel is a zip of the package: no pip needed
            z.extractall(site)
        used.append(fname)
    if used:
        c.pythonpath([site, ROOT])
        part.details.append(f"wheels from {os.path.relpath(wheels, ROOT)}: {', '.join(used)}")
    if missing:
        where = os.path.relpath(wheels, ROOT)
        hint = f"wheels MISSING in {where}: {', '.join(missing)} (bash benchmarks/gpu_wheels.sh fetches them)"
        if c.dry and not c.args.require_wheels:
            part.status = "warning"
            part.details.append(hint + "; the dry run uses the installed packages, a real run fails")
        else:
            part.fail(hint)
    ran = c.run([c.py, "-c", IMPORT_PROBE], 60, "setup: imports")
    found = tagged(ran.out)
    if found is None:
        part.fail(f"the import probe failed: {tail(ran.out)}")
        return part
    c.imports = found
    for m, (version, where) in found.items():
        if version is None:
            part.fail(f"cannot import {m}: {where}")
        elif m.startswith("array_api") and used and not where.startswith(site):
            part.fail(f"{m} {version} came from {where}, not from the wheels")
    tw_file = found["tensorweaver"][1] or ""
    if found["tensorweaver"][0] is not None and not tw_file.startswith(os.path.join(ROOT, "tensorweaver")):
        part.fail(f"tensorweaver was imported from {tw_file}, not from this checkout")
    part.details.append("imports: " + ", ".join(f"{m} {v[0]}" for m, v in found.items() if v[0] is not None))
    return part


# -- part 1: device report -------------------------------------------------------------------------
def _cuda_version(v: int) -> str:
    return f"{v // 1000}.{v % 1000 // 10}"


def _cuda_fields(cupy) -> dict:
    """What part 1 reports about the GPU: name -> a function that reads it (CuPy's documented runtime calls)."""
    rt = cupy.cuda.runtime

    def gpu() -> str:  # NOTE: Device() itself calls cudaGetDevice, which raises without a usable driver
        dev = cupy.cuda.Device()
        name = rt.getDeviceProperties(dev.id)["name"]
        return f"{name.decode() if isinstance(name, bytes) else name} (sm {dev.compute_capability})"

    def memory() -> str:
        free, total = rt.memGetInfo()
        return f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free"

    def runtime() -> str:  # the runtime CuPy was built with, and the one installed here
        return (
            f"{_cuda_version(rt.runtimeGetVersion())} (CuPy's), {_cuda_version(cupy.cuda.get_local_runtime_version())}"
        )

    def torch() -> str:
        import torch

        return f"{torch.__version__}, CUDA {torch.version.cuda}, available {torch.cuda.is_available()}"

    def smi() -> str:
        query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.used,memory.total", "--format=csv,noheader"]
        return subprocess.run(query, capture_output=True, text=True, timeout=20, check=False).stdout.strip()

    return {
        "gpu": gpu,
        "memory": memory,
        "cuda driver": lambda: _cuda_version(rt.driverGetVersion()),
        "cuda runtime": runtime,
        "nccl": lambda: __import__("cupy.cuda.nccl", fromlist=["nccl"]).get_version(),
        "torch": torch,
        "nvidia-smi": smi,
    }


def _tw_cuda_usable() -> str:
    usable, why = __import__("tensorweaver").cuda.availability()
    if not usable:
        raise RuntimeError(why)
    return "usable"


def report_device(device: str) -> int:
    """Print the device report (part 1), then ``GPU_CHECK <json>``; run in its own process."""
    import platform

    info: dict[str, str] = {"python": platform.python_version(), "platform": platform.platform()}

    def put(key: str, fn) -> bool:
        try:
            info[key] = str(fn())
            return True
        except Exception as e:  # noqa: BLE001 - every field reports its own failure
            info[key] = f"error: {type(e).__name__}: {e}"
            return False

    put("numpy", lambda: __import__("numpy").__version__)
    ok = put("tensorweaver", lambda: __import__("tensorweaver").__version__)
    if device == "cpu":
        info["gpu"] = "none: a fake run, the CPU (NumPy) stands in for CUDA"
    else:
        ok &= put("tw.cuda.availability", _tw_cuda_usable)
        if put("cupy", lambda: __import__("cupy").__version__):
            for key, fn in _cuda_fields(__import__("cupy")).items():
                ok &= put(key, fn) or key not in ("gpu", "memory")  # the others are informative
    for k, v in info.items():
        print(f"{k}: {v}")
    print(RESULT_TAG + json.dumps({"ok": ok, "info": info}), flush=True)
    return 0 if ok else 1


def part_device(c: Check, cap: float) -> Part:
    part = Part(1)
    argv = [c.py, os.path.join(ROOT, "benchmarks", "gpu_check.py"), "--report-device", c.device]
    ran = c.run(argv, cap, "part 1: device report")  # in a dry run too: it reads the device, runs nothing on it
    found = tagged(ran.out)
    if found is None:
        part.fail(f"the report crashed: {tail(ran.out)}")
        return part
    i = found["info"]
    keys = ["gpu", "cuda driver", "cuda runtime", "cupy", "numpy", "memory", "nccl", "torch", "tw.cuda.availability"]
    found_here = "; ".join(f"{k} {i[k]}" for k in keys if k in i)
    if c.dry:
        part.status = "planned"
        part.details += [f"`{_show(argv)}`", f"here it finds: {found_here}"]
    else:
        part.details.append(found_here)
        part.status = "passed" if found["ok"] else "failed"
    return part


# -- part 2: pytest --------------------------------------------------------------------------------
def selection(c: Check) -> list[str]:
    # the "cuda" param of the device fixture carries the gpu mark, so -m gpu selects it and the gpu tests
    return ["-m", "not gpu", "-k", "cpu"] if c.fake else ["-m", "gpu"]


def collect(c: Check) -> tuple[dict[str, int], Ran]:
    """Tests per file that the selection picks (``pytest --collect-only``)."""
    argv = [c.py, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors"]
    ran = c.run(argv + selection(c), 120, "part 2: collect")
    counts = collections.Counter(x.split("::")[0] for x in ran.out.splitlines() if re.match(r"tests/\S+\.py::", x))
    return dict(counts), ran


def shard_commands(c: Check, counts: dict[str, int], procs: int) -> list[tuple[list[str], str]]:
    """``(argv, junit path)`` of one pytest command per process, the files balanced by their selected tests.

    Every test file takes part (a file without selected tests costs its import, and its collection
    errors on the GPU are findings). Several processes, because on a fresh machine the CUDA tests are
    bound by compiling kernels (NVRTC, once per kernel and dtype), which runs in the calling process.
    """
    files = sorted(f"tests/{n}" for n in os.listdir(os.path.join(ROOT, "tests")) if re.match(r"test_.*\.py$", n))
    shards: list[list[str]] = [[] for _ in range(max(1, min(procs, len(files))))]
    load = [0] * len(shards)
    for f in sorted(files, key=lambda f: -counts.get(f, 0)):
        i = load.index(min(load))
        shards[i].append(f)
        load[i] += counts.get(f, 0) + 1
    base = [c.py, "-m", "pytest", "-p", "no:cacheprovider", "-p", "benchmarks.gpu_check", "-v", "--tb=short"]
    base += ["--continue-on-collection-errors", "-o", "junit_family=xunit1", *selection(c)]
    xmls = [os.path.join(c.tmp, f"junit{i}.xml") for i in range(len(shards))]
    return [(base + [f"--junitxml={x}", *s], x) for s, x in zip(shards, xmls, strict=True) if s]


def junit_cases(path: str) -> list[dict]:
    """Each testcase of a junit XML (xunit1): ``{"id", "outcome", "message"}``."""
    cases = []
    for tc in ET.parse(path).iter("testcase"):
        file, cls, name = tc.get("file") or "", tc.get("classname") or "", tc.get("name") or ""
        module = file[:-3].replace("/", ".") if file.endswith(".py") else ""
        rest = cls[len(module) + 1 :] if module and cls.startswith(module) else ("" if module else cls)
        node = "::".join(x for x in (file or None, rest.replace(".", "::") or None, name) if x)
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            el = tc.find(kind)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind]
                text = el.get("message") or el.text or ""
                message = next((x.strip() for x in text.splitlines() if x.strip()), "")[:300].replace("`", "'")
                break
        cases.append({"id": node, "outcome": outcome, "message": message})
    return cases


def log_cases(out: str) -> tuple[list[dict], str]:
    """The outcomes that ``pytest -v`` printed, and the test it printed last without one (the one that
    was running), for a process killed before writing its junit XML."""
    pat = re.compile(r"^(tests/\S+::.+?)(?: (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b|$)")
    outcome = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error", "SKIPPED": "skipped"}
    cases, running = [], ""
    for m in filter(None, map(pat.match, out.splitlines())):
        if m[2]:
            cases.append({"id": m[1], "outcome": outcome.get(m[2], m[2].lower()), "message": "(message in the log)"})
        running = "" if m[2] else m[1].strip()
    return cases, running


def merge_junit(paths: list[str], dest: str) -> None:
    root = ET.Element("testsuites")
    for p in paths:
        r = ET.parse(p).getroot()
        root.extend(r.iter("testsuite") if r.tag == "testsuites" else [r])
    ET.ElementTree(root).write(dest, encoding="utf-8", xml_declaration=True)


def part_pytest(c: Check, cap: float) -> Part:
    part = Part(2)
    t = time.time()
    counts, ran = collect(c)
    total = sum(counts.values())
    procs = c.args.pytest_procs
    commands = shard_commands(c, counts, procs)
    if c.dry:
        part.status = "planned" if total and ran.rc in (0, 1) else "failed"
        part.details.append(f"{total} tests selected (`pytest --collect-only {' '.join(selection(c))}`)")
        part.details += [f"`{_show(a, c.tmp)}`" for a, _ in commands]
        if part.status == "failed":
            part.details.append(f"collection: {tail(ran.out)}")
        return part
    if not total:
        part.fail(f"no test selected: {tail(ran.out)}")
        return part
    cap -= time.time() - t
    env = dict(c.env, **{DEADLINE_ENV: str(time.time() + cap - 20)})  # 20 s to finish a test and write the XML
    t = time.time()
    started = [(c.start(a, env), xml) for a, xml in commands]
    cases, xmls = [], []
    for i, ((p, path), xml) in enumerate(started):
        r = c.finish(p, path, t, cap, f"part 2: pytest process {i + 1} of {len(started)}")
        if os.path.exists(xml):
            cases += junit_cases(xml)
            xmls.append(xml)
        else:
            found, running = log_cases(r.out)
            cases += found
            how = "was killed at the cap" if r.killed else f"exited {r.rc}"
            during = f" while running `{running}`" if running else ""
            part.fail(f"process {i + 1} {how}{during}, without writing its junit XML: {tail(r.out, 2)}")
    if xmls:
        merge_junit(xmls, os.path.join(c.out, JUNIT))
    n = collections.Counter(x["outcome"] for x in cases)
    bad = [x for x in cases if x["outcome"] in ("failed", "error")]
    part.details.append(
        f"{len(cases)} of {total} selected ran in {len(started)} process(es): {n['passed']} passed, "
        f"{n['failed']} failed, {n['error']} errors, {n['skipped']} skipped (junit: {JUNIT})"
    )
    if len(cases) < total:
        part.status = "partial" if part.status == "passed" else part.status
        part.details.append(f"{total - len(cases)} selected tests did not run (the time budget, or a killed process)")
    if bad:
        part.status = "failed"
        common = collections.Counter(x["message"] for x in bad if x["message"]).most_common(5)
        lines = [f"### Failing tests ({len(bad)})", ""]
        if common and common[0][1] > 1:
            lines += ["Most frequent errors:", ""] + [f"- {k} x `{m}`" for m, k in common] + [""]
        lines += [f"- `{x['id']}`: {x['outcome']}: `{x['message']}`" for x in bad[:60]]
        if len(bad) > 60:
            lines.append(f"- ... and {len(bad) - 60} more (see {JUNIT})")
        part.sections.append("\n".join(lines))
    skips = collections.Counter(x["message"] for x in cases if x["outcome"] == "skipped").most_common(3)
    if skips:
        part.details.append("skip reasons: " + "; ".join(f"{k} x {m or '?'}" for m, k in skips))
    return part


# -- part 3: the examples --------------------------------------------------------------------------
_NUMBER = re.compile(r"[-+]?\d+(?:\.(\d+))?(?:[eE][-+]?\d+)?")
_TIME_UNIT = re.compile(r"\s*(?:s|ms|us|µs|sec|seconds|it/s|samples/s)\b")


def final_numbers(out: str) -> list[tuple[float, float]]:
    """``(value, printed precision)`` of the final results an example printed.

    Those are the numbers on lines that start with "Final" or say "final", and on the last line with
    a number; a number followed by a time unit (``3.2 s``, ``12 ms``) is a timing and is left out.
    """
    lines = [x for x in out.splitlines() if _NUMBER.search(x)]
    chosen = [x for x in lines if x.lower().lstrip().startswith("final") or " final" in x.lower()]
    if lines and lines[-1] not in chosen:
        chosen.append(lines[-1])
    nums = []
    for line in chosen:
        for m in _NUMBER.finditer(line):
            if not _TIME_UNIT.match(line, m.end()):
                nums.append((float(m[0]), 10.0 ** -len(m[1] or "")))
    return nums


def compare_outputs(cpu: str, dev: str) -> tuple[bool, str]:
    """Whether two runs printed the same final numbers to float32 tolerance and printed precision."""
    a, b = final_numbers(cpu), final_numbers(dev)
    if not a or len(a) != len(b):
        return False, f"{len(a)} final numbers on the cpu, {len(b)} on the device"
    worst, bad = 0.0, []
    for (x, px), (y, py) in zip(a, b, strict=True):
        tol = RTOL * max(abs(x), abs(y)) + max(px, py)
        worst = max(worst, abs(x - y) / tol)
        if abs(x - y) > tol:
            bad.append(f"{x:g} vs {y:g}")
    if bad:
        return False, f"final numbers differ (cpu vs device): {', '.join(bad[:5])}"
    return True, f"{len(a)} final numbers agree (worst |diff| / tolerance {worst:.2f})"


def part_examples(c: Check, cap: float) -> Part:
    part = Part(3)
    t_end = time.time() + cap
    for script, extra in EXAMPLES:
        name = os.path.basename(script)
        if not os.path.exists(os.path.join(ROOT, script)):
            part.details.append(f"{name}: not run ({script} does not exist yet)")
            continue
        runs = [[c.py, script, "--device", d, *extra] for d in ("cpu", c.device)]  # two runs, also when faked
        if c.dry:
            helped = c.run([c.py, script, "--help"], 60, f"part 3: {name} --help")
            lacking = [f for f in ("--device", *extra[::2]) if f not in helped.out]
            if helped.rc != 0 or lacking:
                part.fail(f"{name} --help: exit {helped.rc}, lacks {lacking}: {tail(helped.out)}")
            part.details += [f"`{_show(a, c.tmp)}`" for a in runs]
            continue
        outs = []
        for argv in runs:
            r = c.run(argv, max(1.0, t_end - time.time()), f"part 3: {name} on {argv[3]}")
            if r.rc != 0:
                part.fail(f"{name} on {argv[3]}: {'killed at the cap' if r.killed else f'exit {r.rc}'}: {tail(r.out)}")
                break
            outs.append(r.out)
        else:
            same, detail = compare_outputs(*outs)
            (part.details.append if same else part.fail)(f"{name}: {detail}")
    if c.dry and part.status == "passed":
        part.status = "planned"
    return part


# -- part 4: benchmarks ----------------------------------------------------------------------------
def bench_workloads(c: Check) -> tuple[list[str], Ran]:
    table = "CPU_WORKLOADS" if c.fake else "CUDA_WORKLOADS"
    code = f"import benchmarks.workloads as w; print('{RESULT_TAG}' + __import__('json').dumps(list(w.{table})))"
    ran = c.run([c.py, "-c", code], 60, "part 4: workload names")
    return tagged(ran.out) or [], ran  # type: ignore[return-value]


def _bench_findings(reports: list[dict]) -> tuple[list[str], list[str]]:
    """From benchmark reports: the targets as short lines, and the correctness checks that failed."""
    targets, failed = [], []
    for w in (w for r in reports for w in r["workloads"]):
        for t in w["targets"]:
            targets.append(
                f"{w['name']} {t['label']}: {t['ratio']:.3g}x {t['status']}" if "ratio" in t else t["status"]
            )
        failed += [f"{w['name']}: {k}: {v['detail']}" for k, v in w["checks"].items() if not v["ok"]]
    return targets, failed


def part_benchmarks(c: Check, cap: float) -> Part:
    part = Part(4)
    t_end = time.time() + cap
    bench = [c.py, "-m", "benchmarks", "--device", c.device]
    names, ran = bench_workloads(c)
    if not names:
        part.fail(f"cannot list the workloads: {tail(ran.out)}")
    # quick first, then the benchmarks of new features (few), then each workload in full while time is left
    jobs = [("quick", bench + ["--quick", "--out", os.path.join(c.tmp, "quick")])]
    for label, m in OPTIONAL_BENCHMARKS:
        if os.path.exists(os.path.join(ROOT, "benchmarks", f"{m}.py")):
            jobs.append((label, [c.py, "-m", f"benchmarks.{m}", "--device", c.device]))
        elif m not in names:
            part.details.append(f"{label} benchmark: not written yet (no benchmarks/{m}.py, no workload {m})")
    jobs += [(n, bench + ["--only", n, "--out", os.path.join(c.tmp, n)]) for n in names]
    if c.dry:
        helped = c.run(bench[:3] + ["--help"], 60, "part 4: benchmarks --help")
        lacking = [f for f in ("--device", "--quick", "--only", "--out") if f not in helped.out]
        if helped.rc != 0 or lacking:
            part.fail(f"python -m benchmarks --help: exit {helped.rc}, lacks {lacking}")
        part.status = "planned" if part.status == "passed" else part.status
        part.details += [f"`{_show(argv, c.tmp)}`" for _, argv in jobs]
        return part
    full, mds, cut = [], [], []
    for name, argv in jobs:
        left = t_end - time.time()
        if left < 15:
            cut.append(f"{name} (not started)")
            continue
        r = c.run(argv, left if "--only" in argv else min(left, 120), f"part 4: benchmarks {name}")
        if r.killed:
            cut.append(f"{name} (killed at the cap after {r.seconds:.0f} s)")
        elif r.rc != 0:
            part.fail(f"{name}: exit {r.rc}: {tail(r.out)}")
        elif "--out" not in argv:
            part.details.append(f"{name} ({r.seconds:.0f} s): {tail(r.out, 2)}")
        else:
            stem = os.path.join(argv[-1], c.device)
            with open(stem + ".json") as f:
                report = json.load(f)
            if name == "quick":
                for ext in ("md", "json"):
                    shutil.copy(f"{stem}.{ext}", os.path.join(c.out, f"bench_quick.{ext}"))
                n_checks = sum(len(w["checks"]) for w in report["workloads"])
                part.details.append(
                    f"quick ({r.seconds:.0f} s): {len(report['workloads'])} workloads, {n_checks} checks"
                )
            else:
                full.append(report)
                with open(stem + ".md") as f:
                    mds.append(f.read())
            for x in _bench_findings([report])[1]:
                part.fail(f"{'quick' if name == 'quick' else 'full'} {x}")
    if full:
        with open(os.path.join(c.out, "bench_full.json"), "w") as f:
            json.dump({"reports": full, "cut for time": cut}, f, indent=1)
        with open(os.path.join(c.out, "bench_full.md"), "w") as f:
            f.write(f"Full run: one `python -m benchmarks --device {c.device} --only NAME` per workload.\n\n")
            f.write("\n\n".join(mds))
        done = ", ".join(f"{r['workloads'][0]['name']} ({r['seconds']:.0f} s)" for r in full if r["workloads"])
        part.details.append(
            f"full: {done}; targets (speed, not pass/fail here): " + "; ".join(_bench_findings(full)[0])
        )
    if cut:
        part.details.append(f"cut for time: {', '.join(cut)}")
        part.status = "partial" if part.status == "passed" else part.status
    return part


# -- part 5: the sync check ------------------------------------------------------------------------
def part_sync(c: Check, cap: float) -> Part:
    part = Part(5)
    device = "strict" if c.fake else c.device  # on the CPU, array_api_strict on Device("device1") counts copies
    argv = [c.py, "-m", "benchmarks.gpu_sync_check", "--device", device]
    if c.dry:
        helped = c.run(argv[:3] + ["--help"], 60, "part 5: gpu_sync_check --help")
        part.status = "planned" if helped.rc == 0 and "--device" in helped.out else "failed"
        part.details.append(f"`{_show(argv)}`" + ("" if part.status == "planned" else f": --help: {tail(helped.out)}"))
        return part
    ran = c.run(argv, cap, "part 5: sync check")
    found = tagged(ran.out)
    if found is None:
        part.fail(f"{'killed at the cap' if ran.killed else f'exit {ran.rc}'}: {tail(ran.out)}")
        return part
    for name, r in found["steps"].items():
        if "error" in r:
            part.fail(f"{name}: {r['error']}")
            continue
        bits = [f"{r['transfers']} host<->device copies in {r.get('steps', '?')} steps"]
        bits += [str(r[k]) for k in ("no-sync mode", "busy probe") if k in r]
        if "pool bytes" in r:
            bits.append("memory pool {} -> {} bytes".format(*r["pool bytes"]))
        if "agrees with cpu" in r:
            bits.append(f"agrees with the cpu: {r['agrees with cpu']}")
        (part.details.append if r["ok"] else part.fail)(f"{name}: {'; '.join(bits)}")
    return part


# -- the run ---------------------------------------------------------------------------------------
# run order, the least time a part needs to start, and its cap (None: what is left)
PLAN = [
    (1, part_device, 5, 60),
    (2, part_pytest, 30, 240),
    (3, part_examples, 10, 60),
    (5, part_sync, 10, 60),
    (4, part_benchmarks, 20, None),
]


def _show(argv: list[str], tmp: str = "") -> str:
    """A command line as the summary shows it: paths relative to the checkout, the scratch folder as $TMP."""
    text = " ".join(
        "python3" if a == sys.executable else os.path.relpath(a, ROOT) if a.startswith(ROOT + os.sep) else a
        for a in argv
    )
    return text.replace(tmp, "$TMP") if tmp else text


def summary(c: Check, parts: list[Part], note: str) -> str:
    failed = [p for p in parts if p.status == "failed"]
    mode = (
        "DRY RUN (nothing ran on a GPU)" if c.dry else ("FAKE RUN (the CPU in place of CUDA)" if c.fake else "GPU run")
    )
    lines = [
        "# tensorweaver GPU check",
        "",
        f"{mode}: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.uname().nodename}, "
        f"`bash benchmarks/gpu_check.sh {' '.join(sys.argv[1:])}`, "
        f"budget {c.args.budget:.0f} s, {time.time() - c.t0:.0f} s used.",
        "",
        f"**Result: {len(failed)} of {len(parts)} parts failed**" + (f" ({note})" if note else "") + ".",
        "",
        "| part | result | time | details |",
        "|---|---|---|---|",
    ]
    for p in sorted(parts, key=lambda p: p.number):
        details = "<br>".join(d.replace("|", "\\|") for d in p.details) or "-"
        lines.append(f"| {p.number}. {PART_TITLES[p.number]} | {p.status} | {p.seconds:.0f} s | {details} |")
    for p in sorted(parts, key=lambda p: p.number):
        lines += [s for sec in p.sections for s in ("", sec)]
    files = sorted(os.listdir(c.out)) + ([] if SUMMARY in os.listdir(c.out) else [SUMMARY])
    lines += ["", f"Files in OUTDIR ({len(files)} of at most {MAX_FILES}): {', '.join(files)}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the GPU check (or its dry run) and write OUTDIR/gpu_check.md; 1 when a part failed."""
    p = argparse.ArgumentParser(prog="bash benchmarks/gpu_check.sh", description=__doc__.splitlines()[0])
    p.add_argument("outdir", nargs="?", help="where the (at most 8) result files go")
    p.add_argument("--dry-run", action="store_true", help="check wheels, imports and commands; run no GPU part")
    p.add_argument("--fake-cpu", action="store_true", help="run the real parts with the CPU in place of CUDA")
    p.add_argument(
        "--budget", type=float, default=DEFAULT_BUDGET, help=f"seconds for the parts (default {DEFAULT_BUDGET})"
    )
    p.add_argument("--wheels", default=os.path.join(ROOT, ".whl"), help="the folder of wheels (default .whl)")
    p.add_argument("--require-wheels", action="store_true", help="a dry run fails too when wheels are missing")
    p.add_argument("--pytest-procs", type=int, default=min(4, os.cpu_count() or 1), help="parallel pytest processes")
    p.add_argument("--report-device", metavar="DEVICE", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.report_device:
        return report_device(args.report_device)
    if not args.outdir:
        p.error("OUTDIR is required")
    os.makedirs(args.outdir, exist_ok=True)
    stray = sorted(set(os.listdir(args.outdir)) - set(OUT_FILES))
    if stray:
        p.error(f"OUTDIR {args.outdir} holds files that are not this check's: {', '.join(stray)}; use an empty folder")
    for name in OUT_FILES:
        if os.path.exists(os.path.join(args.outdir, name)):
            os.remove(os.path.join(args.outdir, name))
    c = Check(args)
    note = ""
    parts: list[Part] = []

    def out_of_time(signum, frame):
        raise BudgetSpent(f"the whole check ran past its budget of {args.budget:.0f} s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.budget) + 25)
    try:
        t = time.time()
        if not c.dry and not c.fake:
            ok, why = _cuda_usable(c)
            if not ok:
                c.dry, note = True, f"no GPU found, so a dry run: {why}"
                print(f"WARNING: {note}", file=sys.stderr)
        parts.append(part_setup(c))
        parts[0].seconds = time.time() - t
        for i, (number, fn, least, most) in enumerate(PLAN):
            # a part may use what the later parts need at least, but never less than its own least
            later = sum(x[2] for x in PLAN[i + 1 :])
            left = c.remaining()
            cap = min(most or left, max(least, left - later), left)
            t = time.time()
            if left < least and not c.dry:
                why = f"not enough time left ({max(left, 0):.0f} s of the budget for a part that needs {least} s)"
                part = Part(number, "skipped", [why])
            else:
                part = fn(c, cap)
            part.seconds = time.time() - t
            parts.append(part)
    except BudgetSpent as e:
        note = str(e)
    except Exception as e:  # noqa: BLE001 - a bug of this script must not cost the summary of a GPU session
        note = f"gpu_check itself failed: {type(e).__name__}: {e} (traceback in {LOG})"
        c.log.write(traceback.format_exc())
        if parts:
            parts[0].fail(note)
        else:
            parts.append(Part(0, "failed", [note]))
    finally:
        signal.alarm(0)
        c.close()
        done = {p.number for p in parts}
        parts += [Part(n, "skipped", ["not reached: " + (note or "interrupted")]) for n in PART_TITLES if n not in done]
        _limit_files(c.out)
        text = summary(c, parts, note)
        with open(os.path.join(c.out, SUMMARY), "w") as f:
            f.write(text)
        print(text)
    return 1 if any(p.status == "failed" for p in parts) else 0


CUDA_PROBE = """import json
try:
    import cupy
    n, why = cupy.cuda.runtime.getDeviceCount(), "CuPy sees no CUDA device"
except Exception as e:
    n, why = 0, f"{type(e).__name__}: {e}"
print("GPU_CHECK " + json.dumps([n, why]))
"""


def _cuda_usable(c: Check) -> tuple[bool, str]:
    """Is there a GPU, by CuPy directly (not through tensorweaver, which needs the wheels)?"""
    ran = c.run([c.py, "-c", CUDA_PROBE], 60, "setup: is there a GPU")
    found = tagged(ran.out)
    return (found[0] > 0, found[1]) if found else (False, f"the probe failed: {tail(ran.out)}")


def _limit_files(out: str) -> None:
    """Keep OUTDIR within what comes back from the GPU machine: 8 files of at most 16 MiB."""
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if os.path.getsize(path) > MAX_BYTES:
            with open(path, "rb") as f:
                f.seek(-(MAX_BYTES - 4096), os.SEEK_END)
                data = f.read()
            with open(path, "wb") as f:
                f.write(b"[... cut by gpu_check to stay under 16 MiB ...]\n" + data)


if __name__ == "__main__":
    sys.exit(main())
