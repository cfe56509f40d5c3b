"""Farms: thread caps per worker, and a shared example database that replays failures first."""

import hashlib
import importlib
import json
import os
import subprocess
import sys

import pytest

from conformance.runner.farm import unimportable, usable_cpus
from tests.conftest import ROOT, node

FORWARD = node("forward_within_bound", "torch", "float32")
PLANTED = (
    "--subjects",
    "tests.planted:BiasAddedTwice",
    node("forward_within_bound", "planted-bias-twice", "float32"),
)


def test_each_worker_caps_its_framework_threads(suite):
    run = suite("-n", "2", "--subjects", "torch,keras", "--dtypes", "float32", FORWARD)
    cap = max(1, usable_cpus() // 2)
    processes = run.report["run"]["processes"]
    assert processes and all(p["threads"] == cap for p in processes.values())
    assert all(p["peak_rss_mib"] > 0 for p in processes.values())
    assert run.report["environment"]["subjects"]["torch"]["threads"] == cap


def test_threads_option_sets_the_cap(suite):
    run = suite("--threads", "1", "--dtypes", "float32", "--subjects", "torch", FORWARD)
    assert run.report["run"]["processes"]["main"]["threads"] == 1
    assert run.report["environment"]["subjects"]["torch"]["threads"] == 1


def _snapshot(directory) -> dict:
    return {
        path: hashlib.sha256(open(os.path.join(root, path), "rb").read()).hexdigest()
        for root, _, files in os.walk(directory)
        for path in files
    }


def test_shared_example_database_replays_a_failure_first_and_read_only_saves_nothing(
    suite, tmp_path
):
    db = tmp_path / "examples"
    found = suite("--hypothesis-profile", "dev", "--example-db", str(db), *PLANTED)
    assert found.returncode == 1 and _snapshot(db)
    assert found.report["run"]["hypothesis"]["database"] == {
        "path": str(db),
        "read_only": False,
    }
    before = _snapshot(db)
    replayed = suite(
        "--hypothesis-profile", "dev", "--example-db", str(db),
        "--example-db-read-only", "--hypothesis-show-statistics", *PLANTED,
    )  # fmt: skip
    assert replayed.returncode == 1
    reuse = replayed.output.split("during reuse phase", 1)[1].split("phase", 1)[0]
    assert "0 passing, 1 failing" in reuse, replayed.output
    assert _snapshot(db) == before


def test_a_module_no_subject_uses_is_unimportable_only_while_the_frameworks_import(
    tmp_path, monkeypatch
):
    name = "conformance_unimportable_probe"  # a module of this test's own, imported nowhere else
    (tmp_path / f"{name}.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    with unimportable((name,)), pytest.raises(ImportError):
        importlib.import_module(name)
    assert importlib.import_module(name).__name__ == name


def collected(*args: str) -> list[str]:
    """The node ids `pytest --co` selects with these options."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:randomly", *args],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [line for line in out.splitlines() if "::" in line]


def runs_here(nodeid: str) -> bool:
    """Whether a cell of the default selection runs on this machine (no GPU, special values and
    thread counts off; NOTSET: the cross-device property's empty parametrization)."""
    return not any(
        p in nodeid for p in ("cuda", "NOTSET", "nan_and_inf", "subnormals", "thread_count")
    )


def test_shards_share_out_the_cells_that_will_run_evenly():
    """Cells that will skip (the cuda:0 slots without a GPU, opt-in special values) cost nothing:
    each of four shards gets a quarter of the cells that run, give or take one."""
    shards = [collected("--dtypes", "float32", "--shard", f"{k}/4") for k in range(1, 5)]
    running = [sum(map(runs_here, ids)) for ids in shards]
    assert max(running) - min(running) <= 1, running
    assert sorted(n for ids in shards for n in ids) == sorted(collected("--dtypes", "float32"))


def test_shards_follow_the_durations_an_earlier_report_recorded(tmp_path):
    """With --shard-durations, a cell that took as long as all the others together gets a shard
    to itself (pytest-split's least-duration algorithm)."""
    every = [n for n in collected("--dtypes", "float32", "--devices", "cpu") if runs_here(n)]
    heavy = every[0]
    cells = [{"nodeid": n, "duration_s": len(every) if n == heavy else 1.0} for n in every]
    (tmp_path / "report.json").write_text(json.dumps({"cells": cells}))
    args = ("--dtypes", "float32", "--devices", "cpu", f"--shard-durations={tmp_path}")
    first, second = (collected(*args, "--shard", f"{k}/2") for k in (1, 2))
    alone = first if heavy in first else second
    assert [n for n in alone if runs_here(n)] == [heavy], alone
