"""Interrupts as CI and people send them: SIGTERM (a time-out) and Ctrl-C (SIGINT to the whole
process group) leave a report marked incomplete, one clean line instead of tracebacks, no warning."""

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, verdict_of

LONG = ("--hypothesis-profile", "thorough", "--dtypes", "float32", "--devices", "cpu")


def interrupted(
    tmp_path, signum: int, marker: str | Path, *args: str, env=None
) -> tuple[int, str, dict]:
    """Start the suite (-v) in its own process group, send `signum` to the group (as a terminal's
    Ctrl-C or `timeout` do) once a line of its output contains `marker`, or once the file
    `marker` exists (an observed event, never a fixed delay: a loaded machine takes its time),
    and return its exit status, output and report."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    environ.update(env or {})
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:randomly", *LONG,
               f"--report-dir={tmp_path}", *args]  # fmt: skip
    run = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    assert run.stdout is not None
    head: list[str] = []
    if isinstance(marker, Path):  # a file the run writes
        while not marker.exists():
            assert run.poll() is None, run.stdout.read()  # the run ended before the marker
            time.sleep(0.1)
    while isinstance(marker, str) and not (head and marker in head[-1]):
        head.append(run.stdout.readline())
        assert head[-1], "".join(head)  # the run ended before the marker
    os.killpg(run.pid, signum)
    output, _ = run.communicate(timeout=600)  # a guard against a hang, not a speed limit
    return (
        run.returncode,
        "".join(head) + output,
        json.loads((tmp_path / "report.json").read_text()),
    )


#: a line pytest -v prints once a cell has run (under xdist and without)
A_CELL_RAN = "PASSED"


@pytest.mark.parametrize(
    ("signum", "args", "cause"),
    [
        (signal.SIGTERM, (), "SIGTERM"),
        (signal.SIGTERM, ("-n", "2"), "SIGTERM"),
        (signal.SIGINT, ("-n", "2"), "SIGINT, Ctrl-C"),
    ],
    ids=["SIGTERM", "SIGTERM -n 2", "Ctrl-C -n 2"],
)
def test_an_interrupt_leaves_a_report_marked_incomplete(tmp_path, signum, args, cause):
    status, output, report = interrupted(tmp_path, signum, A_CELL_RAN, *args)
    run = report["run"]
    assert status == 2 and run["pytest_exit_status"] == 2, output[-3000:]
    assert run["complete"] is False and f"interrupted ({cause})" in run["incomplete_reason"]
    assert "cells did not run" in run["incomplete_reason"]
    assert any(c["status"] == "pass" for c in report["cells"]), output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    assert "warning" not in output.lower(), output[-3000:]
    assert "!!!" not in output and "--full-trace" not in output, output[-3000:]  # no banner
    verdict = verdict_of(output)
    assert verdict.startswith(f"INCOMPLETE: interrupted ({cause})"), output[-3000:]


def test_an_interrupt_before_any_cell_ran_still_leaves_a_report(tmp_path):
    # the controller has started its session and is bringing up its workers: no cell has run
    status, output, report = interrupted(
        tmp_path, signal.SIGTERM, "created: 2/2 workers", "-n", "2"
    )
    assert status == 2, output[-3000:]
    assert report["run"]["complete"] is False and report["cells"] == []
    assert report["run"]["incomplete_reason"] == "interrupted (SIGTERM); no cell ran"


def test_a_cell_that_never_ends_does_not_hold_the_report_back(tmp_path):
    """Workers busy in cells that would never end (a hung kernel) ignore the signal: the
    controller writes the report and ends its workers without waiting for their cells."""
    started = tmp_path / "hung"
    status, output, report = interrupted(
        tmp_path / "report", signal.SIGTERM, started, "-n", "2",
        "--subjects", "tests.planted:HangsUntilKilled", "-k", "forward_within_bound",
        env={"CONFORMANCE_PLANTED_HUNG": str(started)},
    )  # fmt: skip
    assert status == 2 and report["run"]["complete"] is False, output[-3000:]
    assert report["run"]["incomplete_reason"].startswith("interrupted (SIGTERM)"), report["run"]
    assert {c["status"] for c in report["cells"]} == {"not-run"}, report["cells"]


def test_a_worker_signalled_while_it_starts_survives_to_ignore_it():
    """xdist starts its workers during the controller's session start; a SIGTERM to the process
    group then must not kill one before it ignores signals (the controller failed with an
    INTERNALERROR and wrote no report): the worker inherits the controller's blocked signals and
    drops the pending one when it starts ignoring it."""
    worker = (
        "import os, signal, sys; sys.path.insert(0, sys.argv[1]);"
        "os.kill(os.getpid(), signal.SIGTERM);"  # arrives while the worker starts
        "from conformance.runner import signals; signals.ignore_signals(); print('alive')"
    )
    controller = (
        "import subprocess, sys; sys.path.insert(0, sys.argv[1]);"
        "from conformance.runner import signals; signals.interrupt_on_signals();"
        f"sys.exit(subprocess.run([sys.executable, '-c', {worker!r}, sys.argv[1]]).returncode)"
    )
    run = subprocess.run([sys.executable, "-c", controller, str(ROOT)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert (run.returncode, run.stdout) == (0, "alive\n"), run.stderr


@pytest.fixture
def fresh_signals(monkeypatch):
    """The signals module with no signal received and a session started (a test ends by calling
    seen(), as pytest does: its own report is a safe point)."""
    from conformance.runner import signals

    monkeypatch.setattr(signals, "_received", [])
    state = {"started": True, "seen": False, "finishing": False, "raised_at": -1.0}
    monkeypatch.setattr(signals, "_session", state)
    return signals


def test_an_interrupt_something_swallowed_is_raised_again_at_the_next_safe_point(fresh_signals):
    """A signal handled inside a finalizer has its KeyboardInterrupt dropped by Python: the next
    safe point (an example, a cell) raises it again, until pytest has seen one."""
    signals = fresh_signals
    with contextlib.suppress(KeyboardInterrupt):  # what a finalizer does to it
        signals._interrupt(signal.SIGTERM, None)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        signals.check()
    signals.seen()
    signals.check()  # handled: nothing more
    assert signals.received() == "SIGTERM"


def test_traceback_entries_without_a_line_are_dropped_before_pytest_formats_them():
    """pytest's KeyboardInterrupt report fails on an entry whose tb_lineno is None."""
    from types import SimpleNamespace

    from conformance.runner import signals

    inner = SimpleNamespace(tb_lineno=7, tb_next=None)
    lineless = SimpleNamespace(tb_lineno=None, tb_next=inner)
    head = SimpleNamespace(tb_lineno=3, tb_next=lineless)
    signals.drop_lineless(head)
    assert head.tb_next is inner and inner.tb_next is None


def test_a_signal_inside_a_garbage_collection_callback_waits_for_a_safe_point(fresh_signals):
    signals, caught = fresh_signals, []

    def callback(phase, info):  # a GC callback, as Hypothesis registers one
        signals._interrupt(signal.SIGTERM, sys._getframe())
        caught.append(phase)

    gc.callbacks.append(callback)  # the collector holds this very list
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert caught  # the handler did not raise inside the callback
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        signals.check()
    signals.seen()  # as pytest does once it handles it (this test's own report is a safe point)
