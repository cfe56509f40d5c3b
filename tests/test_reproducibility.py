"""Reproducibility claims can fail, and are recorded where they are not contracts: a layer whose
summation order changes from call to call, one with another path for a batch of one row, one that
splits its sum by the thread count, and a pair whose results differ in shape (tests.planted).
Two runs: one as a user runs by default (claims recorded), one with --deterministic and
--thread-counts (claims held)."""

import copy
import json
import subprocess

import pytest

from conformance.core.reproducibility import Tally, drift_text, drift_ulp
from reports.diff import diff
from tests.conftest import cli, run_suite
from tests.planted import (
    PLANTED_OPT_IN,
    LeadingDimsFlattened,
    OneRowPathUndeclared,
    SplitByThreadCount,
    SummationOrderPerCall,
)


def spec(*planted) -> str:
    return ",".join(["torch", *(f"tests.planted:{p.__name__}" for p in planted)])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The claims as a default run records them (no contract asked for)."""
    return run_suite(
        tmp_path_factory.mktemp("recorded"), "--dtypes", "float32",
        "--subjects", spec(SummationOrderPerCall, OneRowPathUndeclared, LeadingDimsFlattened),
        "-k", "repeated_calls or rows_do_not or pair_shares",
    )  # fmt: skip


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """The claims held as contracts: --deterministic and --thread-counts."""
    return run_suite(
        tmp_path_factory.mktemp("held"), "--dtypes", "float32", "--deterministic",
        "--thread-counts", "--subjects", spec(SummationOrderPerCall, SplitByThreadCount),
        "-k", "repeated_calls or thread_count",
    )  # fmt: skip


def row(run, subject: str) -> dict:
    (found,) = [r for r in run.report["reproducibility"] if r["subject"] == subject]
    return found


def test_nondeterminism_is_recorded_not_failed_without_the_flag(recorded):
    (cell,) = recorded.cells(
        property="repeated_calls_give_the_same_bits", subject=SummationOrderPerCall.name
    )
    assert cell["status"] == "pass", cell
    assert cell["reproducibility"]["holds"] is False and cell["reproducibility"]["differing"] > 0
    assert row(recorded, SummationOrderPerCall.name)["deterministic"] is False
    assert row(recorded, "torch")["deterministic"] is True


def test_a_batch_variant_layer_is_characterised_when_it_claims_nothing(recorded):
    (cell,) = recorded.cells(
        property="rows_do_not_depend_on_their_batch", subject=OneRowPathUndeclared.name
    )
    assert cell["status"] == "pass", cell
    found = row(recorded, OneRowPathUndeclared.name)
    assert found["batch_invariant"] is False and found["worst_batch_drift_ulp"] > 0, found


def test_a_pair_whose_results_differ_in_shape_fails(recorded):
    cells = recorded.cells(property="pair_shares_bits")
    failed = {c["subject"] for c in cells if c["status"] == "fail"}
    assert failed == {c["subject"] for c in cells if LeadingDimsFlattened.name in c["subject"]}
    (cell,) = [c for c in cells if c["subject"] == f"torch vs {LeadingDimsFlattened.name}"]
    assert f"{LeadingDimsFlattened.name} returned shape (" in cell["reason"], cell["reason"]
    (alike,) = [
        r
        for r in recorded.report["reproducibility"]
        if r["subject"].startswith("torch vs planted-order")
    ]
    assert 0 < alike["fraction_identical"] <= 1, alike


def test_the_table_is_in_every_output(recorded):
    assert recorded.returncode == 1, recorded.output[-3000:]
    assert "reproducibility: deterministic: " in recorded.output
    summary = (recorded.report_dir / "summary.md").read_text()
    assert "Recorded, not required" in summary
    assert (
        "### Reproducibility" in summary
        and f"| {OneRowPathUndeclared.name} | float32 | cpu | " in summary
    )
    assert (
        "Reproducibility: the same bits again" in (recorded.report_dir / "report.html").read_text()
    )


def test_the_gate_flags_a_subject_that_lost_determinism(recorded, tmp_path):
    """A baseline where the order-per-call layer was deterministic, against the run where it is
    not: a regression, also from the command line."""
    baseline = copy.deepcopy(recorded.report)
    for found in baseline["reproducibility"]:
        if found["subject"] == SummationOrderPerCall.name:
            found["deterministic"], found["worst_drift_ulp"] = True, 0.0
    gate = diff(baseline, recorded.report)
    assert gate.regressed and gate.lost_reproducibility == [
        f"{SummationOrderPerCall.name} x float32 x cpu: deterministic in the baseline, not in the "
        f"candidate (worst {drift_text(row(recorded, SummationOrderPerCall.name)['worst_drift_ulp'])})"
    ]
    (tmp_path / "base.json").write_text(json.dumps(baseline))
    shown = cli("diff", tmp_path / "base.json", recorded.report_dir / "report.json")
    assert shown.returncode == 1 and "lost reproducibility: 1  [REGRESSION]" in shown.stdout, (
        shown.stdout
    )
    assert diff(recorded.report, recorded.report).lost_reproducibility == []


def still_failing(run, cell) -> None:
    """The cell's printed reproducer replays the failure (with the run's contracts, its peer)."""
    script = run.report_dir / cell["failure"]["reproducer"]["script"]
    replayed = subprocess.run(
        [run.report["run"]["command"][0], script], capture_output=True, text=True, check=False
    )
    assert replayed.returncode == 1 and "STILL FAILING" in replayed.stdout, (
        replayed.stdout + replayed.stderr
    )


def test_under_the_flag_nondeterminism_fails_with_both_results_and_a_reproducer(held):
    assert held.returncode == 1, held.output[-3000:]
    (cell,) = held.cells(
        property="repeated_calls_give_the_same_bits", subject=SummationOrderPerCall.name
    )
    message = cell["failure"]["message"]
    assert cell["status"] == "fail" and message.startswith(
        f"{SummationOrderPerCall.name} gave other bits for the same input on a second call"
    ), message
    assert " on the first call, " in message and " on the second (" in message, message
    still_failing(held, cell)
    assert held.report["options"]["deterministic"] is True
    assert "reproducibility under --deterministic: deterministic: " in held.output
    assert "Run with --deterministic" in (held.report_dir / "report.html").read_text()
    torch_cells = held.cells(subject="torch")
    assert torch_cells and {c["status"] for c in torch_cells} == {"pass"}, torch_cells


def test_a_layer_that_claims_thread_invariance_and_splits_by_threads_fails(held):
    (cell,) = held.cells(
        property="results_do_not_depend_on_the_thread_count", subject=SplitByThreadCount.name
    )
    assert cell["status"] == "fail", cell
    assert "declares itself thread-count-invariant but gave other bits" in cell["reason"], cell[
        "reason"
    ]
    still_failing(held, cell)
    assert (
        " thread" in cell["reason"]
        and cell["reproducibility"]["threads"][0] != cell["reproducibility"]["threads"][1]
    )


def test_each_opt_in_bug_is_reported_by_its_property(recorded, held):
    for planted, (prop, option) in PLANTED_OPT_IN.items():
        run = held if option else recorded
        cells = [c for c in run.cells(property=prop) if planted.name in c["subject"]]
        assert cells and all(c["status"] == "fail" for c in cells), (planted.name, cells)


def test_drift_is_counted_at_the_results_scale():
    """A difference near zero after cancellation counts in ulps of the result's largest value."""
    import numpy as np

    first = np.array([1.0, 2.0**-30], np.float32)
    second = np.array([1.0, -(2.0**-30)], np.float32)
    assert drift_ulp(first, second, "float32").tolist() == [0.0, 2.0**-29 / 2.0**-23]
    tally = Tally("deterministic")
    found = tally.compare("result", first, second)
    assert found is not None and found.index == (1,) and tally.differing == 1 and not tally.holds
    nan = np.array([np.nan], np.float32)
    assert drift_ulp(nan, nan, "float32").tolist() == [0.0]
    assert drift_ulp(nan, np.array([1.0], np.float32), "float32").tolist() == [np.inf]


def test_a_peer_at_more_threads_runs_xla_multi_threaded():
    """The thread-count peer inherits its one-thread worker's XLA_FLAGS; at more threads the
    one-thread flag goes (else JAX's comparison would be one thread against one)."""
    from conformance.runtimes.jax import SINGLE_THREADED, xla_flags

    assert xla_flags(f"--a {SINGLE_THREADED}", 2) == "--a"
    assert xla_flags("--a", 1) == f"--a {SINGLE_THREADED}"
    assert xla_flags(SINGLE_THREADED, 1) == SINGLE_THREADED


def test_the_verdict_says_not_reproducible_only_for_a_broken_reproducibility_contract(
    held, recorded
):
    """One subject whose failed cells broke a reproducibility contract is NOT REPRODUCIBLE; one
    whose reproducibility cell failed otherwise (a result of the wrong shape) DIFFERS."""
    from reports.verdict import headline

    def alone(run, name: str, prop: str) -> dict:
        data = copy.deepcopy(run.report)
        data["options"]["subjects"] = [name]
        data["cells"] = [c for c in data["cells"] if c["subject"] == name and c["property"] == prop]
        return data

    order = alone(held, SummationOrderPerCall.name, "repeated_calls_give_the_same_bits")
    assert "is NOT REPRODUCIBLE: 1 cell failed" in headline(order), headline(order)
    flattened = alone(recorded, LeadingDimsFlattened.name, "repeated_calls_give_the_same_bits")
    assert "DIFFERS from the oracle: 1 cell failed" in headline(flattened), headline(flattened)
