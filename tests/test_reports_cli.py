"""python -m reports: show, merge (shards = one run), diff (the upgrade gate), html; bad input."""

import copy
import json

import pytest

from reports.report import SCHEMA_VERSION
from tests.conftest import cli, shared_run

SUBJECTS = (
    "--subjects",
    "torch,keras,tests.planted:BiasAddedTwice",
    "--dtypes",
    "float32",
)
#: the forward and edge properties (one xdist-friendly selection for every run of this module)
FILES = (
    "conformance/test_properties.py", "-k",
    "forward_within_bound or bias_off or leading_shape or rank1 or zero_out or default_init",
)  # fmt: skip


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """The same selection unsharded (2 workers) and as --shard 1/2 (2 workers) and 2/2 (one
    process with one thread, as each of two workers has: a multithreaded matrix product rounds
    a large case differently, so budgets match only at the same thread count)."""
    return {
        "whole": shared_run(tmp_path_factory, "whole", *FILES, "-n", "2", *SUBJECTS),
        "a": shared_run(
            tmp_path_factory, "shard-1", *FILES, "--shard", "1/2", "-n", "2", *SUBJECTS
        ),
        "b": shared_run(
            tmp_path_factory, "shard-2", *FILES, "--shard", "2/2", "--threads", "1", *SUBJECTS
        ),
    }


def verdicts(report: dict) -> dict:
    keys = ("status", "examples", "worst_budget_used", "divergences")
    return {c["nodeid"]: {k: c[k] for k in keys} for c in report["cells"]}


def test_shards_partition_the_cells(runs):
    cells = {name: {c["nodeid"] for c in runs[name].report["cells"]} for name in runs}
    assert cells["a"] and cells["b"] and not cells["a"] & cells["b"]
    assert cells["a"] | cells["b"] == cells["whole"]
    assert runs["a"].report["run"]["shard"] == {"index": 1, "count": 2}


def test_merged_shards_give_the_verdicts_of_the_unsharded_run(runs, tmp_path):
    out = tmp_path / "merged"
    result = cli(
        "merge",
        runs["a"].report_dir / "report.json",
        runs["b"].report_dir / "report.json",
        "-o",
        out,
    )
    assert result.returncode == 0, result.stderr
    merged, whole = json.loads((out / "report.json").read_text()), runs["whole"].report
    assert verdicts(merged) == verdicts(whole)
    assert merged["summary"] == whole["summary"]
    assert [(d["id"], d["status"]) for d in merged["divergences"]] == [
        (d["id"], d["status"]) for d in whole["divergences"]
    ]
    assert merged["run"]["complete"] and merged["run"]["missing_shards"] == []
    assert {"junit.xml", "summary.md", "report.html"} <= {p.name for p in out.iterdir()}
    assert cli("show", out / "report.json").returncode == 0
    # the gate compares a merged report with an unsharded run of the same selection
    gate = cli("diff", runs["whole"].report_dir, out)
    assert gate.returncode == 0 and gate.stdout.endswith("verdict: no regression\n"), gate


def test_a_missing_shard_leaves_the_merge_incomplete(runs, tmp_path):
    result = cli("merge", runs["a"].report_dir / "report.json", "-o", tmp_path)
    merged = json.loads((tmp_path / "report.json").read_text())
    assert result.returncode == 1 and merged["run"]["missing_shards"] == ["2/2"]
    assert "shards not given: 2/2" in merged["run"]["incomplete_reason"]
    assert result.stdout.startswith("INCOMPLETE: shards not given: 2/2"), result.stdout
    shown = cli("show", tmp_path)
    assert shown.stdout.startswith("INCOMPLETE: shards not given: 2/2"), shown.stdout
    assert (tmp_path / "summary.md").read_text().split("\n\n")[1].startswith("**INCOMPLETE")


def test_diff_of_a_report_with_itself_passes(runs):
    path = runs["whole"].report_dir / "report.json"
    result = cli("diff", path, path)
    assert result.returncode == 0 and "verdict: no regression" in result.stdout


def test_diff_gates_a_planted_regression(suite):
    baseline = suite(*FILES, "--subjects", "torch,keras", "--dtypes", "float32")
    regressed = suite(
        *FILES,
        "--subjects",
        "tests.planted:RegressedTorch,keras",
        "--dtypes",
        "float32",
    )
    base, candidate = (
        baseline.report_dir / "report.json",
        regressed.report_dir / "report.json",
    )
    result = cli("diff", base, candidate)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "new failures:" in result.stdout
        and "forward_within_bound x torch x float32 x cpu" in result.stdout
    )
    assert "verdict: REGRESSED" in result.stdout
    back = cli("diff", candidate, base)  # the next release fixes it
    assert (
        back.returncode == 0
        and "fixed: " in back.stdout
        and "verdict: no regression" in back.stdout
    )


def edited(runs, tmp_path, change) -> str:
    data = copy.deepcopy(runs["a"].report)
    change(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


def _grow_budget(data):
    cell = next(
        c
        for c in data["cells"]
        if c["status"] == "pass" and isinstance(c["worst_budget_used"], float)
    )
    cell["worst_budget_used"] = min(1.0, cell["worst_budget_used"] + 0.5)


def _new_divergence(data):
    cell = next(c for c in data["cells"] if c["status"] == "pass")
    cell["divergences"]["rank-1-input"] = "reproduced"


@pytest.mark.parametrize(
    ("change", "section"),
    [
        (_grow_budget, "budget growth: 1"),
        (lambda d: d["cells"].pop(0), "vanished: 1"),
        (_new_divergence, "new divergences: 1"),
    ],
    ids=["budget grew", "cell vanished", "new divergence"],
)
def test_diff_flags_each_kind_of_regression(runs, tmp_path, change, section):
    result = cli("diff", runs["a"].report_dir / "report.json", edited(runs, tmp_path, change))
    assert result.returncode == 1 and section in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        (lambda d: d["options"].update(dtypes=["float16", "float32"]), "dtypes"),
        (lambda d: d["options"]["subjects"].append("torch@compile"), "subjects"),
        (lambda d: d["run"].update(worker_count=0), "workers asked for (-n): 2 in the baseline, 0"),
        (lambda d: d["run"]["selection"].update(keyword="forward"), "selection (-k, -m, paths)"),
        (lambda d: d["run"]["hypothesis"].update(max_examples=2500), "Hypothesis profile"),
        (
            lambda d: [p.update(threads=2) for p in d["run"]["processes"].values()],
            "threads per process",
        ),
    ],
    ids=["dtypes", "another mode", "workers", "selection", "profile", "threads"],
)
def test_diff_refuses_runs_that_are_not_alike(runs, tmp_path, change, difference):
    data = copy.deepcopy(runs["whole"].report)
    change(data)
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data))
    result = cli("diff", runs["whole"].report_dir, path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"the runs differ in {difference}" in result.stderr and not result.stdout


def test_a_cell_that_did_not_run_resolves_nothing_and_vanishes_only_if_it_ran(runs, tmp_path):
    data = copy.deepcopy(runs["whole"].report)
    known = next(c for c in data["cells"] if c["status"] == "known-divergence")
    known.update(status="skipped", reason="special values are opt-in", divergences={})
    path = tmp_path / "skipped.json"
    path.write_text(json.dumps(data))
    result = json.loads(cli("diff", runs["whole"].report_dir, path, "--json").stdout)
    assert result["resolved_divergences"] == [] and len(result["vanished"]) == 1
    back = json.loads(cli("diff", path, runs["whole"].report_dir, "--json").stdout)
    unchanged = json.loads(cli("diff", path, path, "--json").stdout)
    assert back == unchanged  # nothing the baseline ran changed


def test_diff_json_output(runs):
    path = runs["a"].report_dir / "report.json"
    result = cli("diff", path, path, "--json")
    assert json.loads(result.stdout)["regressed"] is False


def test_html_command_writes_one_self_contained_page(runs, tmp_path):
    out = tmp_path / "page.html"
    assert cli("html", runs["whole"].report_dir / "report.json", "-o", out).returncode == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Conformance matrix" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


BAD = {
    "malformed JSON": (lambda d: None, "{ not json", "not valid JSON"),
    "wrong schema version": (
        lambda d: d.update(schema_version=1),
        None,
        f"schema version 1; this tool reads version {SCHEMA_VERSION}",
    ),
    "another tool's report": (
        lambda d: d.update(tool="pytest-json-report"),
        None,
        "not a linear-dense-conformance report",
    ),
    "schema violation": (
        lambda d: d["cells"][0].update(status="great"),
        None,
        "does not match the report schema at cells/0/status",
    ),
}


@pytest.mark.parametrize("name", BAD)
@pytest.mark.parametrize("command", ["show", "html", "merge", "diff"])
def test_unusable_input_is_one_line_and_exit_2_and_writes_nothing(runs, tmp_path, name, command):
    change, text, message = BAD[name]
    path = edited(runs, tmp_path, change)
    if text is not None:
        path.write_text(text)
    out = tmp_path / "out"
    good = runs["a"].report_dir / "report.json"
    args = {
        "show": [path],
        "html": [path, "-o", out],
        "merge": [good, path, "-o", out],
        "diff": [good, path],
    }[command]
    result = cli(command, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        result.stderr.count("\n") == 1 and message in result.stderr and str(path) in result.stderr
    )
    assert "Traceback" not in result.stderr and not out.exists()


def test_missing_and_unreadable_files_are_one_line(tmp_path):
    for target, message in (
        (tmp_path / "nowhere.json", "No such file"),
        (tmp_path, "a directory without a report.json"),
    ):
        result = cli("show", target)
        assert (
            result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
        )


def test_shards_of_different_runs_or_overlapping_shards_do_not_merge(runs, tmp_path):
    other = edited(runs, tmp_path, lambda d: d["options"].update(dtypes=["float16"]))
    out = tmp_path / "merged"
    a = runs["a"].report_dir / "report.json"
    mismatched = cli("merge", a, other, "-o", out)
    assert (
        mismatched.returncode == 2
        and "are not shards of one run: their options differ" in mismatched.stderr
    )
    overlapping = cli("merge", a, a, "-o", out)
    assert overlapping.returncode == 2 and "shards overlap" in overlapping.stderr
    thirds = edited(runs, tmp_path, lambda d: d["run"]["shard"].update(count=3))
    split = cli("merge", a, thirds, "-o", out)
    assert split.returncode == 2 and "not shards of one split" in split.stderr
    assert not out.exists()


def test_show_and_html_take_the_report_directory(runs, tmp_path):
    import shutil

    copy = tmp_path / "report"
    shutil.copytree(runs["whole"].report_dir, copy)
    (copy / "report.html").unlink()
    shown = cli("show", copy)
    assert (
        shown.returncode == 0 and "agree on cpu in float32" in shown.stdout
    ) or "DIFFER" in shown.stdout
    assert cli("html", copy).returncode == 0 and (copy / "report.html").exists()
    page = (copy / "report.html").read_text()
    assert page.count("<th>python</th>") == 1  # the interpreter once, not again among the versions


def test_a_plug_in_that_calls_itself_torch_replays_as_itself(suite):
    run = suite(*FILES, "--subjects", "tests.planted:RegressedTorch,keras", "--dtypes", "float32")
    (cell,) = run.cells(property="forward_within_bound", subject="torch")
    assert cell["status"] == "fail", cell
    replay = cli("replay", run.report_dir / cell["failure"]["reproducer"]["npz"])
    # the planted torch, not the real one
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "STILL FAILING: torch left its forward bound" in replay.stdout
