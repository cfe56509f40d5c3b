"""Helpers for the self-tests: run the conformance suite in a subprocess and read its report."""

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """The self-tests call the frameworks directly: their notes that nobody acts on stay hidden,
    as in the suite's own runs."""
    from conformance.runner.plugin import WARNINGS_NOT_SHOWN

    for line in WARNINGS_NOT_SHOWN:
        config.addinivalue_line("filterwarnings", line)


class SuiteRun:
    """A finished run of the suite: exit status, output and (when written) its report."""

    def __init__(self, returncode: int, output: str, report_dir: Path):
        self.returncode = returncode
        self.output = output
        self.report_dir = report_dir
        path = report_dir / "report.json"
        self.report = json.loads(path.read_text()) if path.exists() else None

    def cells(self, **match) -> list[dict]:
        """The report's cells with these field values; a run that wrote no report says why."""
        if self.report is None:
            raise AssertionError(f"the run wrote no report:\n{self.output[-3000:]}")
        return [c for c in self.report["cells"] if all(c[k] == v for k, v in match.items())]


def run_suite(tmp_path: Path, *args: str, env: dict | None = None) -> SuiteRun:
    """`python -m pytest ARGS` from the project root, derandomized (ci profile), on the CPU unless
    ARGS say --devices, report in tmp_path."""
    report_dir = tmp_path / "report"
    if not any(a.startswith("--devices") for a in args):
        args = (
            "--devices",
            "cpu",
            *args,
        )  # the machine has no GPU: leave out the skipping slots
    # --assert=plain: the suite judges with its cells, not asserts, and pytest would rewrite
    # every module of Hypothesis (its pytest11 entry point marks them) in each run
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--assert=plain",
        "--hypothesis-profile", "ci", "--report-dir", str(report_dir), *args,
    ]  # fmt: skip
    # a fresh run: nothing of the pytest (or xdist worker) running these self-tests
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    environ.update(env or {})
    proc = subprocess.run(
        command,
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environ,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    (tmp_path / "run.json").write_text(
        json.dumps({"returncode": proc.returncode, "output": output})
    )
    return SuiteRun(proc.returncode, output, report_dir)


def verdict_of(output: str) -> str:
    """The first line of the terminal's conformance section."""
    section = output.split("= conformance =", 1)[1].splitlines()[1:]
    return next(line for line in section if line.strip())


def cli(*args) -> subprocess.CompletedProcess:
    """`python -m reports ARGS` from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "reports", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def shared_run(tmp_path_factory, name: str, *args: str) -> SuiteRun:
    """One run of the suite for the whole self-test session, also under xdist: the first worker
    to ask runs it (holding a lock), the others read its result."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    where = root / f"shared-{name}"
    where.mkdir(exist_ok=True)
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (where / "run.json").exists():
            return run_suite(where, *args)
    done = json.loads((where / "run.json").read_text())
    return SuiteRun(done["returncode"], done["output"], where / "report")


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    """Run the suite (a function: args -> SuiteRun), each run in its own temporary directory."""

    def run(*args: str, env: dict | None = None) -> SuiteRun:
        return run_suite(tmp_path_factory.mktemp("run"), *args, env=env)

    return run


def runtimes_for(label: str):
    """device -> what the built-in labelled `label` runs on there, whatever backend Keras has here."""
    from conformance.runtimes.keras import keras_runtimes
    from conformance.runtimes.torch import torch_runtimes

    def runtimes(device: str) -> tuple[str, ...]:
        if label.startswith("keras/"):
            return keras_runtimes(label.removeprefix("keras/"), device)
        if label == "tf_keras":
            return keras_runtimes("tensorflow", device)
        return torch_runtimes(device) if label == "torch" else ()

    return runtimes


def applicable(prop, label: str, dtype: str, device: str, runtimes=None, isa=None) -> tuple:
    """The built-in registry's entries a cell of `prop` (a Property) for the subject(s) `label`
    reaches (`runtimes`: device -> what they run on; default: the built-in's so labelled)."""
    from conformance.core.identity import CellId
    from conformance.core.registry import Registry

    cell = CellId.of(prop.name, label, dtype, device)
    where = runtimes if runtimes is not None else runtimes_for(label)
    return Registry.load().applicable(cell, prop.shows, prop.cross_device, where, isa)


def cell_for(prop: str, subject, dtype: str, device: str = "cpu", tf32="framework-default",
             entries=None):  # fmt: skip
    """A cell of property `prop` for `subject`, with the entries its label reaches (or `entries`)."""
    from conformance.properties import PROPERTIES

    declared = PROPERTIES[prop]
    if entries is None:
        entries = applicable(declared, subject.label, dtype, device)
    return declared.new_cell((subject,), dtype, device, entries, tf32)


def node(prop: str, subject: str, dtype: str, device: str = "cpu") -> str:
    """The node id of one cell: conformance/test_properties.py::test_<prop>[<subject>-<device>-<dtype>]."""
    from conformance.properties import PROPERTIES

    if prop not in PROPERTIES:
        raise LookupError(f"no property {prop}")
    return f"conformance/test_properties.py::test_{prop}[{subject}-{device}-{dtype}]"


def selected_cells() -> list[str]:
    """Each planted bug's own cells, the forward cells of bugs that must leave forward intact, and real torch."""
    from tests.planted import FORWARD_INTACT, PLANTED

    nodes = []
    for planted, (prop, dtypes) in PLANTED.items():
        device = getattr(planted, "device", "cpu")
        nodes += [node(prop, planted.name, dtype, device) for dtype in dtypes]
        if device == "cpu":  # real torch, on the same cells
            nodes += [node(prop, "torch", dtype) for dtype in dtypes]
    for planted in FORWARD_INTACT:
        nodes.append(node("forward_within_bound", planted.name, "float32"))
    return sorted(set(nodes))


@pytest.fixture(scope="session")
def planted_run(tmp_path_factory):
    """The suite over real torch and every planted subject, on 2 workers, only the cells that matter."""
    from conformance.core.formats import ALL_DTYPES
    from tests.planted import PLANTED

    specs = ",".join(f"tests.planted:{cls.__name__}" for cls in PLANTED)
    used = {dtype for _, dtypes in PLANTED.values() for dtype in dtypes}
    dtypes = ",".join(d for d in ALL_DTYPES if d in used)
    return shared_run(
        tmp_path_factory, "planted", "-n", "2", "--special-values", "--dtypes", dtypes,
        "--subjects", f"torch,{specs}", *selected_cells(),
    )  # fmt: skip
