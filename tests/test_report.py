"""report.json and the files beside it: schema, contents, JUnit, Markdown, HTML, reproducers,
and what a crashed worker or an interrupted run leaves behind."""

import html
import json
import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from reports.html import render
from reports.report import SCHEMA_VERSION, TOOL, load, validate, write_atomic
from tests.conftest import ROOT, verdict_of


def test_report_validates_against_its_schema(planted_run):
    validate(planted_run.report)
    assert (
        planted_run.report["schema_version"] == SCHEMA_VERSION
        and planted_run.report["tool"] == TOOL
    )


def test_run_block_says_how_it_ran(planted_run):
    run = planted_run.report["run"]
    assert run["hypothesis"] == {
        "profile": "ci",
        "seed": None,
        "derandomize": True,
        "max_examples": 100,
        "database": None,
    }
    assert set(run["processes"]) == {"gw0", "gw1"}
    assert (
        run["complete"] is True
        and run["incomplete_reason"] is None
        and run["pytest_exit_status"] == 1
    )
    assert set(run["workers"]) == {"gw0", "gw1"} and run["shard"] is None


def test_environment_fingerprint_names_machine_frameworks_and_flags(planted_run):
    env = planted_run.report["environment"]
    assert env["cpu"]["model"] and isinstance(env["cpu"]["flags"], list)
    assert {"python", "numpy", "hypothesis", "torch"} <= set(env["versions"])
    torch = env["subjects"]["torch"]
    assert torch["devices"] == ["cpu"] and torch["float32_matmul_precision"] == "highest"
    assert torch["cuda_matmul_allow_tf32"] is False and "deterministic_algorithms" in torch
    assert any("MKL" in line or "OpenMP" in line for line in torch["build"])


def test_every_cell_is_reported_once_and_summarised(planted_run):
    cells = planted_run.report["cells"]
    keys = Counter((c["property"], c["subject"], c["dtype"], c["device"]) for c in cells)
    assert max(keys.values()) == 1
    assert planted_run.report["summary"] == dict(
        sorted(Counter(c["status"] for c in cells).items())
    )


def test_cells_carry_budget_distribution_coverage_and_contract(planted_run):
    (cell,) = planted_run.cells(property="forward_within_bound", subject="torch", dtype="float16")
    q = cell["budget_quantiles"]
    assert (
        q["checks"] >= cell["examples"] > 0
        and 0 <= q["p50"] <= q["p90"] <= q["p99"] <= q["max"] <= 1
    )
    assert {"bias on", "bias off", "square layer", "one output"} <= set(cell["coverage"])
    assert cell["contracts"]["torch"]["u_acc"] == 2.0**-24 and cell["worker"] in (
        "gw0",
        "gw1",
    )
    (special,) = planted_run.cells(
        property="nan_and_inf_positions_agree", subject="torch", dtype="float32"
    )
    assert any(k.startswith("special ") for k in special["coverage"])


def test_failure_carries_the_shrunk_case_verdict_blob_and_reproducer(planted_run):
    (cell,) = planted_run.cells(
        property="forward_within_bound", subject="planted-bias-twice", dtype="float32"
    )
    failure = cell["failure"]
    assert failure["message"].startswith("planted-bias-twice left its forward bound at element (")
    assert failure["verdict"]["budget_used"] > 1 and failure["verdict"]["ulp_error"] > 1
    assert {
        "leading_shape",
        "in_features",
        "out_features",
        "bias",
        "dtype",
        "device",
    } <= set(failure["case"])
    assert failure["reproduce_blob"].startswith("@reproduce_failure(")
    assert failure["reproducer"]["script"].startswith("reproducers/") and failure["reproducer"][
        "npz"
    ].endswith(".npz")


def test_reproducer_of_a_reduced_precision_failure_compares_against_the_oracle(
    planted_run,
):
    """A float16 sum accumulated in float16 fails naming the looser contract its result fits (on
    its smallest example the evidence may fit rounding in one direction as well), and its
    reproducer rechecks it against the oracle."""
    (cell,) = planted_run.cells(subject="planted-half-accumulation", dtype="float16")
    message = cell["failure"]["message"]
    assert "has its forward past its float16 bound; that fits " in message, message
    assert "which no registry entry allows here [" in message, message
    script = planted_run.report_dir / cell["failure"]["reproducer"]["script"]
    replay = subprocess.run([sys.executable, script], capture_output=True, text=True, check=False)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert (
        "STILL FAILING: planted-half-accumulation has its forward past its float16 bound"
        in replay.stdout
    )
    assert "recorded result" in replay.stdout


def test_junit_xml_has_a_testcase_per_cell(planted_run):
    root = ET.parse(planted_run.report_dir / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(planted_run.report["cells"])
    failed = sum(c["status"] == "fail" for c in planted_run.report["cells"])
    assert int(root.get("failures")) == failed == len(root.findall(".//testcase/failure"))


def test_markdown_summary_is_the_matrix(planted_run):
    text = (planted_run.report_dir / "summary.md").read_text()
    assert text.startswith("## Linear ↔ Dense conformance")
    assert (
        "| `forward_within_bound` |" in text and "### Failures" in text and "reproducers/" in text
    )


def test_reproducer_fails_on_its_own_and_passes_once_fixed(suite, tmp_path):
    run = suite("conformance/test_properties.py", "-k", "forward_within_bound", "--dtypes", "float32",
                "--subjects", "torch,tests.planted:BiasTwiceUntilFixed")  # fmt: skip
    (cell,) = run.cells(subject="planted-fixable")
    script = run.report_dir / cell["failure"]["reproducer"]["script"]
    copy = tmp_path / "elsewhere"
    shutil.copytree(script.parent, copy)  # it needs nothing but its own folder
    broken = subprocess.run(
        [sys.executable, copy / script.name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "STILL FAILING: planted-fixable left its forward bound" in broken.stdout
    # the terminal: the failure explains itself in a few lines, with no framework start-up banners
    failure = run.output[run.output.index("_ test_forward_within_bound[planted-fixable") :]
    failure = failure[: failure.index("=" * 10)].strip().splitlines()
    assert len(failure) <= 6 and f"replay: {sys.executable} /" in failure[-2], failure
    # the command as printed, pasted into a shell that activated nothing, in another directory
    printed = failure[-2].split("replay: ", 1)[1].split("  (written", 1)[0]
    pasted = subprocess.run(["/bin/sh", "-c", printed], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert pasted.returncode == 1, pasted.stdout + pasted.stderr
    assert "STILL FAILING: planted-fixable left its forward bound" in pasted.stdout
    assert "oneDNN custom operations" not in run.output and "cpu_feature_guard" not in run.output
    env = {"CONFORMANCE_PLANTED_FIXED": "1", "PATH": "/usr/bin:/bin"}
    fixed = subprocess.run(
        [sys.executable, copy / script.name],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_a_crashed_worker_leaves_its_cell_crashed_and_the_rest_intact(suite):
    run = suite("conformance/test_properties.py", "-n", "2", "-k", "forward_within_bound", "--dtypes", "float32",
                "--subjects", "torch,tests.planted:CrashesWorker")  # fmt: skip
    (crashed,) = run.cells(subject="planted-crash")
    (intact,) = run.cells(subject="torch")
    assert crashed["status"] == "crashed" and "crashed while running" in crashed["reason"]
    assert intact["status"] == "pass" and intact["examples"] > 0
    assert (
        run.report["run"]["complete"] is False
        and "worker crashed" in run.report["run"]["incomplete_reason"]
    )
    validate(run.report)


def test_an_interrupted_run_leaves_a_report_marked_incomplete(suite):
    run = suite("conformance/test_properties.py", "-k", "forward_within_bound", "--dtypes", "float16,float32",
                "--subjects", "torch,tests.planted:InterruptsRun")  # fmt: skip
    assert run.returncode == 2
    statuses = {(c["subject"], c["dtype"]): c["status"] for c in run.report["cells"]}
    assert statuses[("torch", "float16")] == "pass" and "not-run" in statuses.values()
    assert (
        run.report["run"]["complete"] is False
        and "interrupted" in run.report["run"]["incomplete_reason"]
    )
    validate(run.report)
    # INCOMPLETE leads every verdict, and pytest's interrupt banner is not printed
    section = verdict_of(run.output)
    assert section.startswith("INCOMPLETE: interrupted"), run.output[-3000:]
    assert "!!!" not in run.output and "--full-trace" not in run.output, run.output[-3000:]
    summary = (run.report_dir / "summary.md").read_text()
    assert "**INCOMPLETE: interrupted" in summary.split("\n\n")[1], summary
    assert (
        '<p class="verdict incomplete">INCOMPLETE: interrupted'
        in (run.report_dir / "report.html").read_text()
    )
    junit = (run.report_dir / "junit.xml").read_text()
    assert '<property name="complete" value="false"/>' in junit, junit
    assert (
        '<testcase classname="conformance" name="run"' in junit
        and '<error message="INCOMPLETE' in junit
    )


#: how the page is looked at: a laptop screen and a phone (screenshots kept in the test's tmp_path)
WIDTHS = {"laptop": 1280, "phone": 390}


def chromium(*args: str, profile) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.run(
        ["chromium", *flags, *args], capture_output=True, text=True, timeout=120, check=True
    )


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="no chromium on this machine (Debian: apt-get install chromium); docs/reports.md shows the command",
)
@pytest.mark.parametrize("screen", WIDTHS)
def test_html_report_renders_in_a_headless_browser(planted_run, tmp_path, screen):
    shot = tmp_path / f"report-{screen}.png"
    page = (planted_run.report_dir / "report.html").resolve().as_uri()
    size = f"--window-size={WIDTHS[screen]},2000"
    chromium(size, f"--screenshot={shot}", page, profile=tmp_path / "profile")
    assert shot.stat().st_size > 20_000  # a blank page is a few kB
    dom = chromium(size, "--dump-dom", page, profile=tmp_path / "profile").stdout
    verdict = dom.index('class="verdict')
    assert verdict < dom.index("Conformance matrix")
    assert "DIFFER" in dom[verdict : dom.index("</p>", verdict)]
    assert "forward_within_bound" in dom and "…" not in dom  # names are never cut
    page = (planted_run.report_dir / "report.html").read_text()
    layout = measured(page, WIDTHS[screen], tmp_path)
    assert layout["labels"] and layout["smallest_label_px"] >= 10, layout  # readable labels
    assert layout["wrapped_ids"] == [], layout  # registry ids stay on one line
    if screen == "laptop":  # a run of two subjects in every dtype: no column cut off
        two = {"torch", "planted-bias-twice"}
        data = {**planted_run.report, "cells": [c for c in planted_run.report["cells"]
                                                if c["subject"] in two]}  # fmt: skip
        data["options"] = {**data["options"], "subjects": sorted(two)}
        layout = measured(render(data), WIDTHS[screen], tmp_path)
        assert layout["matrix_right"] <= layout["width"], layout


#: measures the page in the browser and leaves the figures in the DOM (for --dump-dom)
MEASURE = """<script>
const px = (el) => el.getClientRects()[0].height;  // the first line's height, as rendered
const matrix = document.querySelector("h3 + .scroll table");
document.body.dataset.layout = JSON.stringify({
  width: document.documentElement.clientWidth,
  matrix_right: matrix.getBoundingClientRect().right,
  labels: document.querySelectorAll(".plot .label, svg text").length,
  smallest_label_px: Math.min(...[...document.querySelectorAll(".plot .label, svg text")].map(px)),
  wrapped_ids: [...document.querySelectorAll("td.id code")]
    .filter((c) => c.getClientRects().length > 1).map((c) => c.textContent),
});
</script>"""


def measured(page: str, width: int, tmp_path) -> dict:
    """Layout figures of a report page at `width` px, measured by headless Chromium."""
    probe = tmp_path / f"measured-{width}.html"
    probe.write_text(page.replace("</body>", MEASURE + "</body>"))
    dom = chromium(f"--window-size={width},2000", "--virtual-time-budget=5000", "--dump-dom",
                   probe.as_uri(), profile=tmp_path / "profile").stdout  # fmt: skip
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found[1]))


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "report.json"
    write_atomic(path, json.dumps({"schema_version": SCHEMA_VERSION}))
    with pytest.raises(TypeError):
        write_atomic(path, object())
    assert json.loads(path.read_text()) == {"schema_version": SCHEMA_VERSION}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_load_names_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match=r"bad.json: not valid JSON \(Expecting"):
        load(bad)


def test_verbose_lines_say_how_many_examples_each_cell_checked(
    suite,
):  # -vv: the suite helper passes -q
    run = suite(
        "-vv",
        "-k",
        "forward_within_bound and float32",
        "--subjects",
        "torch",
        "--dtypes",
        "float32",
    )
    # 100 drawn, and one aimed at each promised bucket they missed
    found = re.search(r"PASSED \((\d+) examples, worst budget used", run.output)
    assert found and int(found.group(1)) >= 100, run.output[-2000:]


def test_a_large_batch_failure_is_reported_on_its_smallest_example_with_a_reproducer(suite):
    """A bug that shows past 100 rows fails on the tail's or the aimed 2^20-element example
    first; the report names the smallest example of that failure (101 to 128 rows of one input,
    one output), says what it was reduced from, and always writes its reproducer."""
    run = suite("conformance/test_properties.py", "-k", "forward_within_bound", "--dtypes",
                "float32,float64", "--subjects", "tests.planted:ScaledPast100Rows")  # fmt: skip
    for cell in run.cells(property="forward_within_bound"):
        assert cell["status"] == "fail", cell
        case, was = cell["failure"]["case"], cell["failure"]["reduced_from"]
        rows = math.prod(case["leading_shape"])
        assert 100 < rows <= 128 and case["in_features"] == case["out_features"] == 1, case
        assert math.prod(was["leading_shape"]) * was["in_features"] > rows, was
        assert "the smallest of its kind found" in run.output
        script = run.report_dir / cell["failure"]["reproducer"]["script"]
        replay = subprocess.run(
            [sys.executable, script], capture_output=True, text=True, check=False
        )
        assert replay.returncode == 1 and "STILL FAILING" in replay.stdout, replay.stdout
    assert (run.report_dir / "report.json").stat().st_size < 5 * 2**20
    assert "arrays" not in json.dumps(run.report["cells"])


def test_an_example_that_cannot_be_stored_says_so_where_the_replay_line_would_be(monkeypatch):
    """No silent cap: an example whose arrays do not fit in memory to be packed keeps the reason,
    and the line that would print the replay command prints it instead."""
    import numpy as np

    from conformance.core import cell as cells
    from conformance.core import evidence
    from conformance.core.record import CellRecord
    from conformance.properties import PROPERTIES
    from conformance.runner.plugin import failure_text
    from conformance.subjects.torch_linear import TorchLinear
    from strategies.cases import Case

    def no_memory(dtype, arrays):
        raise MemoryError

    monkeypatch.setattr(evidence, "npz_bytes", no_memory)
    record = PROPERTIES["forward_within_bound"].new_cell((TorchLinear(),), "float32", "cpu")
    zeros = np.zeros((3, 2), np.float32)
    record.example(Case("float32", "cpu", zeros, zeros, None, "ones"))
    with pytest.raises(cells.SubjectFailure):
        record.fail("torch left its forward bound at element (0, 0)", got=zeros)
    failure = record.packed_failure()
    assert failure["arrays"] is None and "did not fit in memory" in failure["unstored"]
    text = failure_text(
        CellRecord("forward_within_bound", "torch", "float32", "cpu", "fail", failure=failure),
        "out",
    )
    assert "no reproducer: its arrays" in text and "replay:" not in text, text


UNREACHABLE = '''
import dataclasses

import numpy as np

from conformance.core.layout import CONTIGUOUS
from conformance.properties.checks import forward
from conformance.properties.declaration import declare
from strategies import cases


def packed_cases(dtype, device, caps):
    """Cases with x packed: the layouts `cases` promises are never reached."""
    return cases(dtype, device, caps).map(
        lambda case: dataclasses.replace(case, x=np.ascontiguousarray(case.x_view().array()),
                                         layout=CONTIGUOUS)
    )


@declare(strategy=packed_cases, shows=set())
def packed_forward_runs(cell, subject, case):
    """The forward pass runs on packed inputs."""
    forward(cell, subject, case)
'''


def test_a_promised_bucket_no_example_can_reach_is_listed_as_unreached(suite, tmp_path):
    """A strategy whose .map drops a bucket its base promises: the cell aims at it, finds no
    example and lists it in `unreached`; the check itself still passes."""
    (tmp_path / "packed_example.py").write_text(UNREACHABLE)
    run = suite("-p", "packed_example", "-k", "packed_forward_runs", "--dtypes", "float32",
                "--subjects", "torch", env={"PYTHONPATH": f"{ROOT}:{tmp_path}"})  # fmt: skip
    (cell,) = run.cells(property="packed_forward_runs")
    assert cell["status"] == "pass", run.output[-3000:]
    assert "layout fortran" in cell["unreached"] and "layout fortran" not in cell["coverage"]
    assert "input tensor" not in cell["unreached"], cell


def test_the_schema_describes_the_cell_record_field_for_field():
    """report.json's cells are CellRecords: the schema names each field, requires those without
    a default, and allows nothing else."""
    from dataclasses import MISSING, fields

    from conformance.core.record import CellRecord

    schema = json.loads((ROOT / "reports" / "schema.json").read_text())["$defs"]["cell"]
    declared = {f.name: f for f in fields(CellRecord)}
    assert set(schema["properties"]) == set(declared)
    assert schema["additionalProperties"] is False
    no_default = {
        n for n, f in declared.items() if f.default is MISSING and f.default_factory is MISSING
    }
    assert no_default <= set(schema["required"]) <= set(declared)
