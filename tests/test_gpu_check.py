"""The GPU check (benchmarks/gpu_check.sh) on a CPU machine: its dry run, its time budget, and the parsing,
comparing and probing it does on a GPU, so that the script cannot rot before a GPU is lent."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
import types
import warnings
import zipfile

import numpy as np
import pytest

import tensorweaver as tw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # benchmarks/ is a package of the checkout, not of the installed tensorweaver
    sys.path.insert(0, ROOT)

from benchmarks import gpu_check as gc  # noqa: E402
from benchmarks import gpu_sync_check as sc  # noqa: E402

SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.py")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))


def _check(tmp_path, **kw) -> gc.Check:
    args = dict(outdir=str(tmp_path / "out"), budget=60.0, dry_run=True, fake_cpu=False, wheels=str(tmp_path / "none"))
    args.update(require_wheels=False, pytest_procs=2)
    args.update(kw)
    os.makedirs(str(args["outdir"]), exist_ok=True)
    return gc.Check(argparse.Namespace(**args))


def _rows(summary: str) -> dict[int, tuple[str, str]]:
    """``{part number: (result, details)}`` from the summary's table."""
    rows = re.findall(r"^\| (\d)\. [^|]+ \| (\w+) \| \d+ s \| (.*) \|$", summary, re.M)
    return {int(n): (status, details) for n, status, details in rows}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """The pinned wheels, built from the installed packages (the real ones come from PyPI: no network here)."""
    d = tmp_path_factory.mktemp("whl")
    for name, version in gc.wheel_pins().items():
        module = name.replace("-", "_")
        pkg = os.path.dirname(__import__(module).__file__)
        with zipfile.ZipFile(d / f"{module}-{version}-py3-none-any.whl", "w") as z:
            for base, _, files in os.walk(pkg):
                for f in files:
                    if f.endswith(".py"):
                        path = os.path.join(base, f)
                        z.write(path, os.path.relpath(path, os.path.dirname(pkg)))
    return d


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """The dry run as CI meets it: no .whl folder (an empty one stands in)."""
    tmp = tmp_path_factory.mktemp("dry")
    (tmp / "no_wheels").mkdir()
    cmd = [sys.executable, SCRIPT, str(tmp / "out"), "--dry-run", "--wheels", str(tmp / "no_wheels")]
    r = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120, check=False)
    return r, tmp / "out"


def test_dry_run_plans_every_part_and_passes_without_wheels(dry_run):
    r, out = dry_run
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = (out / gc.SUMMARY).read_text()
    assert r.stdout.rstrip().endswith(summary.rstrip())  # printed last
    assert summary.startswith("# tensorweaver GPU check\n\nDRY RUN")
    rows = _rows(summary)
    assert sorted(rows) == [0, 1, 2, 3, 4, 5]
    status, setup = rows[0]
    assert status == "warning" and "wheels MISSING" in setup and "a real run fails" in setup
    for name, version in gc.wheel_pins().items():
        assert f"{name.replace('-', '_')}-{version}-py3-none-any.whl" in setup
    assert all(rows[n][0] == "planned" for n in range(1, 6)), rows
    assert "`python3 benchmarks/gpu_check.py --report-device cuda`" in rows[1][1]
    n = int(re.search(r"(\d+) tests selected \(`pytest --collect-only -m gpu`\)", rows[2][1])[1])
    assert n > 100  # the cuda param of every backend-generic test
    assert rows[2][1].count("-m pytest -p no:cacheprovider -p benchmarks.gpu_check") >= 1
    assert "--junitxml=$TMP/junit0.xml" in rows[2][1] and "-m gpu" in rows[2][1]
    assert "`python3 examples/train_temperature.py --device cuda`" in rows[3][1]
    assert "`python3 examples/train_temperature.py --device cpu`" in rows[3][1]
    assert "`python3 -m benchmarks --device cuda --quick --out $TMP/quick`" in rows[4][1]
    assert "`python3 -m benchmarks --device cuda --only textbook --out $TMP/textbook`" in rows[4][1]
    assert "`python3 -m benchmarks.gpu_sync_check --device cuda`" in rows[5][1]
    files = sorted(os.listdir(out))
    assert files == [gc.LOG, gc.SUMMARY] and len(files) <= gc.MAX_FILES
    assert f"Files in OUTDIR ({len(files)} of at most 8)" in summary


def test_dry_run_names_each_command_in_the_log(dry_run):
    _, out = dry_run
    log = (out / gc.LOG).read_text()
    for label in ("setup: imports", "part 1: device report", "part 2: collect", "part 4: benchmarks --help"):
        assert f"===== {label}: " in log, label
    assert "KILLED" not in log


def test_setup_uses_the_wheels_and_fails_without_them_when_required(tmp_path, wheels):
    c = _check(tmp_path, require_wheels=True)
    part = gc.part_setup(c)
    c.close()
    assert part.status == "failed" and "wheels MISSING" in part.details[0]
    c = _check(tmp_path / "2", wheels=str(wheels))
    part = gc.part_setup(c)
    assert part.status == "passed", part.details
    site = os.path.join(c.tmp, "site")
    assert c.env["PYTHONPATH"].split(os.pathsep)[:2] == [site, ROOT]
    assert c.imports["array_api_compat"][1].startswith(site)  # imported from the unpacked wheel
    c.close()


def test_wheel_pins_meet_pyproject_minimums():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        minimums = dict(re.findall(r'"(array-api-[a-z]+)>=([0-9.]+)"', f.read()))
    pins = gc.wheel_pins()
    assert sorted(pins) == ["array-api-compat", "array-api-strict"] == sorted(minimums)
    for name, version in pins.items():
        assert tuple(map(int, version.split("."))) >= tuple(map(int, minimums[name].split("."))), name


def test_a_tiny_budget_skips_the_parts_with_a_reason(tmp_path, wheels):
    out = tmp_path / "out"
    cmd = [sys.executable, SCRIPT, str(out), "--fake-cpu", "--budget", "9", "--wheels", str(wheels)]
    r = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = _rows((out / gc.SUMMARY).read_text())
    assert rows[0][0] == rows[1][0] == "passed", rows
    assert "fake run" in rows[1][1]
    for n in (2, 3, 4, 5):
        assert rows[n][0] == "skipped" and "not enough time left" in rows[n][1], rows[n]
    assert len(os.listdir(out)) <= gc.MAX_FILES


def test_outdir_with_foreign_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    r = subprocess.run(
        [sys.executable, SCRIPT, str(tmp_path), "--dry-run"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2 and "notes.txt" in r.stderr


def test_a_command_past_its_cap_is_killed_and_logged(tmp_path):
    c = _check(tmp_path)
    t = time.time()
    ran = c.run([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"], 1.0, "sleeper")
    assert ran.killed and time.time() - t < 15 and "started" in ran.out
    c.close()
    assert "===== KILLED at its cap of 1 s" in (tmp_path / "out" / gc.LOG).read_text()


def test_the_pytest_plugin_stops_at_the_deadline_and_writes_junit(tmp_path):
    (tmp_path / "test_three.py").write_text(
        "def test_a():\n    pass\n\n\ndef test_b():\n    pass\n\n\ndef test_c():\n    pass\n"
    )
    xml = tmp_path / "j.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "benchmarks.gpu_check",
        "-p",
        "no:cacheprovider",
        "-o",
        "junit_family=xunit1",
    ]
    env = dict(_env(), **{gc.DEADLINE_ENV: "0"})
    r = subprocess.run(
        [*cmd, f"--junitxml={xml}", "test_three.py"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert "the time budget of this part is spent" in r.stdout, r.stdout
    assert [x["id"] for x in gc.junit_cases(str(xml))] == ["test_three.py::test_a"]


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_ops" name="test_add[cuda]" file="tests/test_ops.py" line="3" time="0.1"/>
<testcase classname="tests.test_ops" name="test_mul[cuda]" file="tests/test_ops.py" line="9" time="0.1">
<failure message="TypeError: unsupported operand type(s)&#10;more">traceback</failure></testcase>
<testcase classname="tests.test_ops.TestShape" name="test_view[cuda]" file="tests/test_ops.py" line="20" time="0.1">
<error message="failed on setup with &quot;CUDARuntimeError: cudaErrorMemoryAllocation&quot;">tb</error></testcase>
<testcase classname="tests.test_ops" name="test_skip[cuda]" file="tests/test_ops.py" line="30" time="0">
<skipped type="pytest.skip" message="torch not installed">skip</skipped></testcase>
</testsuite></testsuites>"""


def test_junit_cases_name_each_test_and_its_first_error_line(tmp_path):
    (tmp_path / "j.xml").write_text(JUNIT)
    cases = gc.junit_cases(str(tmp_path / "j.xml"))
    assert cases == [
        {"id": "tests/test_ops.py::test_add[cuda]", "outcome": "passed", "message": ""},
        {
            "id": "tests/test_ops.py::test_mul[cuda]",
            "outcome": "failed",
            "message": "TypeError: unsupported operand type(s)",
        },
        {
            "id": "tests/test_ops.py::TestShape::test_view[cuda]",
            "outcome": "error",
            "message": 'failed on setup with "CUDARuntimeError: cudaErrorMemoryAllocation"',
        },
        {"id": "tests/test_ops.py::test_skip[cuda]", "outcome": "skipped", "message": "torch not installed"},
    ]
    gc.merge_junit([str(tmp_path / "j.xml")] * 2, str(tmp_path / "m.xml"))
    assert len(gc.junit_cases(str(tmp_path / "m.xml"))) == 8


def test_log_cases_of_a_killed_process_name_the_test_that_hung():
    out = (
        "tests/test_a.py::test_x[cuda] PASSED     [ 10%]\n"
        "tests/test_a.py::test_y[cuda] FAILED     [ 20%]\n"
        "tests/test_b.py::test_hangs[cuda] \n"
    )
    cases, running = gc.log_cases(out)
    assert [(x["id"], x["outcome"]) for x in cases] == [
        ("tests/test_a.py::test_x[cuda]", "passed"),
        ("tests/test_a.py::test_y[cuda]", "failed"),
    ]
    assert running == "tests/test_b.py::test_hangs[cuda]"


CPU_OUT = """device: cpu
Epoch 0: loss=11449.4339, w=1.774, b=-0.119
Final: w=2.211, b=1.865   (target: w=1.800, b=32.000)
trained in 3.2 s, 12 ms per epoch
37°C = 98.6°F
"""


def test_final_numbers_are_compared_to_printed_precision():
    assert gc.final_numbers(CPU_OUT) == [
        (2.211, 1e-3),
        (1.865, 1e-3),
        (1.8, 1e-3),
        (32.0, 1e-3),
        (37.0, 1.0),
        (98.6, 0.1),
    ]
    dev = CPU_OUT.replace("cpu", "cuda").replace("3.2 s, 12 ms", "0.4 s, 1 ms").replace("2.211", "2.212")
    same, detail = gc.compare_outputs(CPU_OUT, dev)  # a timing line differs, the last digit moved by one unit
    assert same, detail
    same, detail = gc.compare_outputs(CPU_OUT, CPU_OUT.replace("1.865", "1.875"))
    assert not same and "1.865 vs 1.875" in detail
    same, detail = gc.compare_outputs(CPU_OUT, "device: cuda\nFinal: w=2.211\n")
    assert not same and "final numbers on the cpu" in detail


def test_pytest_shards_cover_every_test_file_once(tmp_path):
    c = _check(tmp_path)
    counts = {"tests/test_ops_table.py": 300, "tests/test_tensor.py": 100, "tests/test_backends.py": 50}
    commands = gc.shard_commands(c, counts, 3)
    files = [a for argv, _ in commands for a in argv if a.startswith("tests/")]
    expected = sorted(f"tests/{n}" for n in os.listdir(os.path.join(ROOT, "tests")) if re.match(r"test_.*\.py$", n))
    assert sorted(files) == expected and len(commands) == 3
    assert commands[0][0].count("tests/test_ops_table.py") == 1  # the biggest file alone leads the first process
    assert len({xml for _, xml in commands}) == 3
    c.close()


# -- part 5: the sync check -------------------------------------------------------------------------
def test_sync_check_on_the_strict_device_counts_no_copies():
    result = sc.run_checks("strict")
    assert result["ok"], result
    for r in result["steps"].values():
        assert r["transfers"] == 0 and r["setup transfers"] > 0 and r["agrees with cpu"]


def test_sync_check_catches_a_step_that_copies_to_the_host():
    def leaky(device):
        step, params = sc.textbook_step(device)

        def step_and_print():
            step()
            float(params[0].item())  # a hidden device->host copy, as a logging line would make

        return step_and_print, params

    r = sc.check_step("strict", leaky)
    assert not r["ok"] and r["transfers"] == sc.COUNTED_STEPS


class _FakeGPU:
    """CuPy's stream semantics in simulated time: kernels run one after another; events mark the queue."""

    CYCLES_PER_S = 1e9

    def __init__(self):
        self.busy_until = time.perf_counter()
        gpu = self

        class Event:
            def record(self):
                self.t = max(gpu.busy_until, time.perf_counter())

            @property
            def done(self):
                return time.perf_counter() >= self.t

            def synchronize(self):
                time.sleep(max(0.0, self.t - time.perf_counter()))

        class Device:
            def synchronize(self):
                time.sleep(max(0.0, gpu.busy_until - time.perf_counter()))

        self.cuda = types.SimpleNamespace(Event=Event, Device=Device, get_elapsed_time=lambda a, b: (b.t - a.t) * 1e3)
        self.RawKernel = lambda code, name: lambda grid, block, args: self.launch(int(args[0]) / self.CYCLES_PER_S)

    def launch(self, seconds):
        self.busy_until = max(self.busy_until, time.perf_counter()) + seconds


def test_busy_probe_tells_a_step_that_waits_from_one_that_does_not():
    gpu = _FakeGPU()
    ok, detail = sc._busy_probe(gpu, lambda: gpu.launch(1e-4), 1e-3)
    assert ok is True and "still ran" in detail
    ok, detail = sc._busy_probe(gpu, lambda: (gpu.launch(1e-4), gpu.cuda.Device().synchronize()), 1e-3)
    assert ok is False and "waited for the device" in detail


def test_no_sync_mode_reports_where_cupy_detected_a_sync(monkeypatch):
    cupyx = types.ModuleType("cupyx")
    cupyx.DeviceSynchronized = type("DeviceSynchronized", (RuntimeError,), {})
    allowed = [True]

    @contextlib.contextmanager
    def allow_synchronize(allow):
        warnings.warn("cupyx.allow_synchronize will be removed", stacklevel=2)  # as CuPy does
        allowed.append(allow)
        try:
            yield
        finally:
            allowed.pop()

    cupyx.allow_synchronize = allow_synchronize
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)

    def syncing_step():
        t = tw.tensor([1.0, 2.0])
        if not allowed[-1]:
            raise cupyx.DeviceSynchronized()
        return t

    assert sc._no_sync_mode(None, lambda: None) == (True, "no cupyx.DeviceSynchronized")
    ok, detail = sc._no_sync_mode(None, syncing_step)
    assert ok is False and detail.startswith("cupyx.DeviceSynchronized at")
    del cupyx.allow_synchronize
    assert sc._no_sync_mode(None, lambda: None)[0] is None


def test_sync_check_errors_name_the_exception_and_the_op():
    r = sc.check_step(
        "strict",
        lambda device: (lambda: tw.tensor(np.ones(2), device=device) @ tw.tensor(np.ones(3), device=device), []),
    )
    # the class with its module (a shape mismatch is tensorweaver's ShapeError, catchable as RuntimeError)
    assert (
        not r["ok"]
        and r["error"].startswith("tensorweaver._errors.ShapeError: matmul")
        and "(at tensorweaver/" in r["error"]
    )


def test_device_report_fields_read_cupy_as_documented():
    rt = types.SimpleNamespace(
        getDeviceProperties=lambda i: {"name": b"NVIDIA H200", "totalGlobalMem": 150 * 2**30},
        memGetInfo=lambda: (140 * 2**30, 150 * 2**30),
        driverGetVersion=lambda: 13000,
        runtimeGetVersion=lambda: 12090,
    )
    cupy = types.SimpleNamespace(
        cuda=types.SimpleNamespace(
            runtime=rt,
            Device=lambda: types.SimpleNamespace(id=0, compute_capability="90"),
            get_local_runtime_version=lambda: 13000,
        )
    )
    fields = gc._cuda_fields(cupy)
    assert fields["gpu"]() == "NVIDIA H200 (sm 90)"
    assert fields["memory"]() == "140.0 of 150.0 GiB free"
    assert fields["cuda driver"]() == "13.0"
    assert fields["cuda runtime"]() == "12.9 (CuPy's), 13.0"
