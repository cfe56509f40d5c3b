"""What a plug-in subject's author meets: a method that raises is named, and a case a subject
declares unsupported is counted and shown, never silently passed."""

import os
import subprocess
import sys

from reports.verdict import summary
from tests.conftest import ROOT


def plugged(suite, subjects: str, select: str, dtypes: str = "float32", env=None):
    """A run of the conformance cells `select` names, with these subjects."""
    return suite("conformance", "--dtypes", dtypes, "--subjects", subjects, "-k", select, env=env)


def test_an_exception_in_a_subject_method_names_the_method_and_the_message(suite):
    run = plugged(suite, "tests.subjects:RaisesInBuild", "forward_within_bound")
    (cell,) = run.cells(property="forward_within_bound")
    assert cell["status"] == "fail", cell
    reason = cell["reason"]
    assert reason.startswith(
        "raises-in-build.build() raised ZeroDivisionError: division by zero (at "
    ), reason
    assert "tests/subjects.py:" in reason, reason
    assert cell["failure"]["case"]["out_features"] > 1, cell["failure"]["case"]


def test_unsupported_cases_are_counted_and_a_cell_of_only_those_is_skipped(suite):
    run = plugged(suite, "tests.subjects:NoEmptyBatches", "forward_within_bound or zero_size_batch")
    assert run.returncode == 0, run.output[-3000:]
    (forward,) = run.cells(property="forward_within_bound")
    assert forward["status"] == "pass", forward
    declined = forward["unsupported"]["no-empty-batches: no empty batches"]
    assert declined > 0 and forward["examples"] > 0, forward
    (empty,) = run.cells(property="zero_size_batch_gives_zero_parameter_gradients")
    assert empty["status"] == "skipped", empty
    assert empty["examples"] == 0
    assert empty["reason"] == "no example it could take (no-empty-batches: no empty batches)"
    lines = summary(run.report)
    assert any(
        line.startswith(f"not checked ({declined:,} example")
        and line.endswith("declared unsupported): no-empty-batches: no empty batches")
        for line in lines
    ), lines


def test_a_plug_in_ships_registry_entries_of_its_own(suite):
    run = plugged(suite, "tests.subjects:OwnEntries", "rank1_input")
    assert run.returncode == 0, run.output[-3000:]
    (cell,) = run.cells(property="rank1_input_equals_batch_of_one")
    assert cell["status"] == "known-divergence", cell
    assert cell["divergences"] == {"own-rank-1": "reproduced"}, cell
    (entry,) = [d for d in run.report["divergences"] if d["id"] == "own-rank-1"]
    assert entry["status"] == "reproduced", entry


def docs_example(suite, select: str, dtypes: str):
    """A run of torch and the worked example in docs/ (example_port:NumpyPort)."""
    env = {"PYTHONPATH": str(ROOT / "docs")}
    return plugged(suite, "torch,example_port:NumpyPort", select, dtypes=dtypes, env=env)


def test_the_worked_example_in_the_docs_runs_and_passes(suite):
    run = docs_example(
        suite, "forward_within_bound or weight_gradient or round_trip", dtypes="float32,float16"
    )
    assert run.returncode == 0, run.output[-3000:]
    cells = run.cells(subject="numpy-port")
    assert len(cells) == 6 and {c["status"] for c in cells} == {"pass"}, cells


def test_a_plug_in_without_policies_skips_mixed_precision_saying_so(suite):
    run = docs_example(suite, "forward_within_bound", dtypes="mixed_float16")
    assert run.returncode == 0, run.output[-3000:]
    (torch,) = run.cells(subject="torch")
    assert torch["status"] == "pass" and torch["dtype"] == "mixed_float16", torch
    (port,) = run.cells(subject="numpy-port")
    assert port["status"] == "skipped", port
    assert port["reason"].endswith(
        "numpy-port does not run the mixed-precision policy mixed_float16 (it runs: none)"
    ), port["reason"]


def test_an_exception_inside_a_framework_names_the_subjects_own_line_and_the_layouts(suite):
    run = plugged(suite, "tests.subjects:LayoutsConfused", "forward_within_bound")
    (cell,) = run.cells(property="forward_within_bound")
    reason = cell["reason"]
    assert reason.startswith("layouts-confused.forward() raised ValueError: "), reason
    assert "(at " + str(ROOT / "tests" / "subjects.py") in reason, reason  # its own line first
    assert "; raised at " in reason and "numpy" in reason.split("; raised at ")[1], reason
    assert "the suite hands load() weight (out, in) = (" in reason, reason


def test_a_parameter_of_the_wrong_shape_is_a_shape_failure_not_a_dtype_observation(suite):
    run = plugged(suite, "tests.subjects:TransposedOnRead", "weight_round_trip")
    (cell,) = run.cells(property="weight_round_trip_is_bit_exact")
    assert cell["status"] == "fail", cell
    assert "read() gave a weight of shape (" in cell["reason"], cell["reason"]
    assert "the suite loads and reads back weight (out, in) = (" in cell["reason"]
    assert "parameter-dtype" not in cell["reason"]


WRONG_READ = """import numpy as np

from conformance.subjects.base import Subject, SubjectProtocol


class Wrong(Subject):
    name = "wrong"

    def read(self, layer: object) -> np.ndarray:  # not (weight, bias)
        return np.zeros(1)


class Right(Subject):
    name = "right"

    def read(self, layer: object) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros((1, 1)), None


check: SubjectProtocol = Right()
"""


def test_a_type_checker_holds_a_plug_in_to_the_subject_signatures(tmp_path):
    (tmp_path / "port.py").write_text(WRONG_READ)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
         "--no-incremental", "port.py"],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(ROOT)}, capture_output=True, text=True,
        check=False, timeout=900,
    )  # fmt: skip
    assert checked.returncode == 1, checked.stdout + checked.stderr
    (error,) = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert "port.py:9" in error and 'in supertype "conformance.subjects.base.Subject"' in error, (
        error
    )
