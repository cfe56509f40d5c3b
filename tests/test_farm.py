"""Farms: thread caps per worker, and a shared example database that replays failures first."""

import hashlib
import importlib
import os
import sys

import pytest

from conformance.farm import unimportable, usable_cpus
from tests.conftest import node

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
