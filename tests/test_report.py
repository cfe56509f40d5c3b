"""report.json: its shape, its agreement with the run (under pytest -n 2), and atomic writing."""

import json
from collections import Counter

import pytest

from reports.report import SCHEMA_VERSION, TOOL, write_atomic

CELL_KEYS = {
    "property", "subject", "dtype", "device", "status", "reason", "examples", "worst_budget_used",
    "worst", "failure", "coverage", "divergences", "contracts", "nodeid", "duration_s",
}  # fmt: skip


def test_report_has_schema_run_versions_and_options(planted_run):
    report = planted_run.report
    assert report["schema_version"] == SCHEMA_VERSION and report["tool"] == TOOL
    assert {
        "started",
        "finished",
        "command",
        "hypothesis_profile",
        "pytest_exit_status",
    } <= set(report["run"])
    assert (
        report["run"]["hypothesis_profile"] == "ci"
        and report["run"]["pytest_exit_status"] == 1
    )
    assert {"python", "numpy", "hypothesis", "torch"} <= set(report["versions"])
    assert report["options"]["special_values"] is True


def test_every_cell_is_reported_once_with_its_fields(planted_run):
    cells = planted_run.report["cells"]
    assert all(set(c) == CELL_KEYS for c in cells)
    keys = Counter(
        (c["property"], c["subject"], c["dtype"], c["device"]) for c in cells
    )
    assert max(keys.values()) == 1
    assert planted_run.report["summary"] == dict(Counter(c["status"] for c in cells))


def test_worst_case_and_failure_carry_shapes_and_dtype(planted_run):
    (cell,) = planted_run.cells(
        property="forward_within_bound", subject="planted-reshape"
    )
    for record in (cell["worst"], cell["failure"]):
        case = record["case"]
        assert {
            "leading_shape",
            "in_features",
            "out_features",
            "bias",
            "dtype",
            "device",
        } <= set(case)
        assert case["dtype"] == "float32"
    (passing,) = planted_run.cells(
        property="forward_within_bound", subject="torch", dtype="float32"
    )
    assert 0 <= passing["worst_budget_used"] <= 1 and passing["examples"] > 0


def test_atomic_write_keeps_the_old_report_when_writing_fails(tmp_path):
    path = tmp_path / "report.json"
    write_atomic(path, {"schema_version": SCHEMA_VERSION})
    with pytest.raises(TypeError):
        write_atomic(path, {"not json": object()})
    assert json.loads(path.read_text()) == {"schema_version": SCHEMA_VERSION}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_cells_state_the_contract_their_bounds_use(planted_run):
    (cell,) = planted_run.cells(
        property="forward_within_bound", subject="torch", dtype="float16"
    )
    contract = cell["contracts"]["torch"]
    assert (
        contract["u_out"] == 2.0**-11
        and contract["u_acc"] == 2.0**-24
        and contract["u_in"] == 0.0
    )
    assert "accumulation in float32" in contract["basis"]
