"""The GPU check as a user runs it: it passes on a machine without a GPU (every GPU cell skipped
with its reason), and a SIGTERM (a CI time-out) leaves a report marked incomplete per started run."""

import json
import os
import signal
import subprocess
import sys

from tests.conftest import ROOT


def gpu_check(out, *args: str, cwd=ROOT) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-m", "conformance.runner.gpu_check", "--out", str(out), *args]
    return subprocess.Popen(command, cwd=cwd, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def test_the_check_passes_without_a_gpu_and_says_why_each_cell_skipped(tmp_path):
    # as CI runs it: the default --out, relative to the working directory, not the package's;
    # a directory with its own conftest.py and a folder named like a package of the suite
    (tmp_path / "conftest.py").write_text('raise SystemExit("a conftest.py of the user ran")\n')
    (tmp_path / "reports").mkdir()
    check = gpu_check("gpu-check-report", cwd=tmp_path)
    output, _ = check.communicate(timeout=600)
    assert check.returncode == 0, output[-3000:]
    for backend in ("jax", "torch"):
        report = tmp_path / "gpu-check-report" / backend / "report.json"
        cells = json.loads(report.read_text())["cells"]
        assert cells and {c["status"] for c in cells} == {"skipped"}
        assert all("no CUDA device visible to" in c["reason"] for c in cells)
    assert "examples (" in output and "environment:" in output


def _terminated_once(tmp_path, running: bool) -> tuple[int, str]:
    """SIGTERM to the check once it has started its first run (`running`: once that run has
    reported its first cell, a progress mark after xdist's "bringing up nodes"): observed events,
    never a fixed delay."""
    check = gpu_check(tmp_path, "--devices", "cpu", "--profile", "ci")
    assert check.stdout is not None
    head = ""
    while "== keras on jax:" not in head or (running and not _progress(head)):
        char = check.stdout.read(1)
        assert char, head  # the check ended first
        head += char
    check.send_signal(signal.SIGTERM)
    output, _ = check.communicate(timeout=900)  # a guard against a hang, not a speed limit
    return check.returncode, head + output


def _progress(output: str) -> bool:
    """Whether the run has printed a cell's progress mark (pytest -q: . s x F E)."""
    after = output.partition("bringing up nodes...")[2]
    return any(mark in after for mark in ".sxFE")


def test_sigterm_leaves_the_started_run_a_report_marked_incomplete(tmp_path):
    status, output = _terminated_once(tmp_path, running=True)
    assert status == 128 + signal.SIGTERM, output[-3000:]
    run = json.loads((tmp_path / "jax" / "report.json").read_text())["run"]
    assert run["complete"] is False and "interrupted (SIGTERM)" in run["incomplete_reason"]
    assert not (tmp_path / "torch").exists()  # never started
    assert "no further run started" in output and "Traceback" not in output


def test_sigterm_before_any_cell_ran_still_leaves_a_report(tmp_path):
    # the run is still starting up (before the fix a signal then ended it without a report)
    status, output = _terminated_once(tmp_path, running=False)
    assert status == 128 + signal.SIGTERM, output[-3000:]
    run = json.loads((tmp_path / "jax" / "report.json").read_text())["run"]
    assert run["complete"] is False and "interrupted (SIGTERM)" in run["incomplete_reason"]
