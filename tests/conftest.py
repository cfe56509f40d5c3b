"""Helpers for the self-tests: run the conformance suite in a subprocess and read its report."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class SuiteRun:
    """A finished run of the suite: exit status, output and (when written) its report."""

    def __init__(self, proc: subprocess.CompletedProcess, report_dir: Path):
        self.returncode = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.report_dir = report_dir
        path = report_dir / "report.json"
        self.report = json.loads(path.read_text()) if path.exists() else None

    def cells(self, **match) -> list[dict]:
        return [
            c for c in self.report["cells"] if all(c[k] == v for k, v in match.items())
        ]


def run_suite(tmp_path: Path, *args: str, env: dict | None = None) -> SuiteRun:
    """`python -m pytest ARGS` from the project root, derandomized (ci profile), report in tmp_path."""
    report_dir = tmp_path / "report"
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
        "--hypothesis-profile", "ci", "--report-dir", str(report_dir), *args,
    ]  # fmt: skip
    environ = {**os.environ, **(env or {})}
    environ.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        command,
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environ,
        timeout=900,
    )
    return SuiteRun(proc, report_dir)


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    """Run the suite (a function: args -> SuiteRun), each run in its own temporary directory."""

    def run(*args: str, env: dict | None = None) -> SuiteRun:
        return run_suite(tmp_path_factory.mktemp("run"), *args, env=env)

    return run


def node(prop: str, subject: str, dtype: str) -> str:
    """The node id of one cell: conformance/<module>.py::test_<prop>[<subject>-cpu-<dtype>]."""
    for path in sorted((ROOT / "conformance").glob("test_*.py")):
        if hasattr(importlib.import_module(f"conformance.{path.stem}"), f"test_{prop}"):
            return f"conformance/{path.name}::test_{prop}[{subject}-cpu-{dtype}]"
    raise LookupError(f"no property {prop}")


def selected_cells() -> list[str]:
    """Each planted bug's own cells, the forward cells of bugs that must leave forward intact, and real torch."""
    from tests.planted import FORWARD_INTACT, PLANTED

    nodes = []
    for planted, (prop, dtypes) in PLANTED.items():
        nodes += [node(prop, planted.name, dtype) for dtype in dtypes]
        nodes += [node(prop, "torch", dtype) for dtype in dtypes]
    for planted in FORWARD_INTACT:
        nodes.append(node("forward_within_bound", planted.name, "float32"))
    return sorted(set(nodes))


@pytest.fixture(scope="session")
def planted_run(suite):
    """The suite over real torch and every planted subject, on 2 workers, only the cells that matter."""
    from tests.planted import PLANTED

    specs = ",".join(f"tests.planted:{cls.__name__}" for cls in PLANTED)
    return suite(
        "-n", "2", "--special-values", "--subjects", f"torch,{specs}", *selected_cells()
    )
