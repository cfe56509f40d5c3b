"""Helpers for the self-tests: run the conformance suite in a subprocess and read its report."""

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
