"""``python -m benchmarks --quick`` runs end to end and writes its JSON, Markdown (and chart); no speed is asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.bench  # not in the default run: .ci/run runs it as a step of its own

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU_WORKLOADS = ["textbook", "op_overhead", "mlp", "memory", "import", "transfers"]
CPU_WORKLOADS += ["compiled_textbook", "compiled_op_overhead", "compiled_mlp", "compiled_record"]
CPU_WORKLOADS += ["nn_mlp", "adam", "cnn", "dataloader", "cnn_memory"]  # issue 8's


def run_module(*args: str) -> str:
    """``python -m <args>`` from the repository root; its stdout, after checking it succeeded."""
    r = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return out, run_module("benchmarks", "--quick", "--out", str(out))


def test_quick_writes_json_with_every_workload(quick_run):
    out, _ = quick_run
    report = json.loads((out / "cpu.json").read_text())
    assert report["device"] == "cpu" and report["quick"] is True
    assert [w["name"] for w in report["workloads"]] == CPU_WORKLOADS
    m = report["machine"]
    assert m["cpu"] and m["numpy"] and m["blas"], m
    for w in report["workloads"]:
        assert w["stats"] or w["checks"], w["name"]  # timed/measured, or checks only (transfers)
        for s in w["stats"].values():
            assert s["median"] > 0 and s["min"] <= s["median"] <= s["max"], (w["name"], s)
        for t in w["targets"]:
            assert t["status"] in ("PASS", "FAIL") or t["status"].startswith("skipped"), t
            if "ratio" in t:
                assert t["ratio"] > 0


def test_quick_correctness_checks_hold(quick_run):
    """The checks that are about results, not speed: the implementations agree, no hidden copies,
    no heavy imports, memory does not grow."""
    out, _ = quick_run
    report = json.loads((out / "cpu.json").read_text())
    checks = {(w["name"], k): v for w in report["workloads"] for k, v in w["checks"].items()}
    assert ("textbook", "final w, b agree") in checks
    assert ("transfers", "textbook step: host<->device copies") in checks
    failed = {k: v["detail"] for k, v in checks.items() if not v["ok"]}
    assert not failed, failed


def test_quick_writes_markdown_table(quick_run):
    out, stdout = quick_run
    md = (out / "cpu.md").read_text()
    assert md.startswith("# tensorweaver benchmarks on cpu")
    assert "## Targets" in md and "| workload | target |" in md
    for name in CPU_WORKLOADS:
        assert f"| {name} |" in md, name
    assert "BLAS:" in md
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "cpu.png").stat().st_size > 1000
    else:
        assert "no chart" in stdout


def test_compiled_benchmark_runs_on_its_own():
    """``python -m benchmarks.compiled`` (the GPU check runs it with --device cuda) on the CPU, quick."""
    assert "textbook" in run_module("benchmarks.compiled", "--quick")
