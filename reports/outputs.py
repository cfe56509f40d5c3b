"""Everything a run writes beside report.json: reproducers, JUnit XML, the Markdown summary.

All files are written atomically; report.json last, so a reader never finds a report that
points at reproducers which are not there yet.
"""

import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from conformance.core.evidence import npz_bytes, unpack
from conformance.core.identity import CellId, split_label, with_mode
from conformance.core.record import records
from conformance.core.status import Status
from reports import matrix, report, reproducibility, verdict
from reports.html import render

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """# Reproducer for {nodeid}
# {message}
# Run it with the interpreter that ran the suite, {python}: exit 1 while it fails, 0 once fixed,
# 2 when it cannot run here. Or: {python} -m reports replay {npz_path}
import pathlib
import sys

# where the run imported the suite, its plug-ins and subjects from
sys.path[:0] = [p for p in {paths!r} if p not in sys.path]
try:
    from reports.replay import main
except ImportError as exc:
    print(f"cannot replay: {{exc}}; run it with the interpreter that ran the suite: {python}")
    sys.exit(2)
sys.exit(main(pathlib.Path(__file__).with_name({npz!r})))
"""
#: JUnit outcome per cell status (known divergences and skips are skipped with their reason)
JUNIT = {"fail": "failure", "error": "error", "crashed": "error", "not-run": "skipped", "skipped": "skipped",
         "known-divergence": "skipped"}  # fmt: skip
MARK = {"pass": "✅", "fail": "❌", "error": "⚠️", "crashed": "💥", "not-run": "⏸", "skipped": "➖",
        "known-divergence": "🟡"}  # fmt: skip


def specs(data: dict, cell: CellId) -> str:
    """How --subjects named the subjects of a cell ("|" between the two of a pair), each with the
    mode it ran in but eager (torch@compile, keras@xla)."""
    plugins = data["options"].get("plugins", {})
    named = []
    for label in cell.subjects:
        name, mode = split_label(label)
        named.append(with_mode(plugins.get(name, name.split("/")[0]), mode))
    return "|".join(named)


def write_reproducers(data: dict, directory: Path) -> list[Path]:
    """A .npz and a replay script per failing cell, from the arrays its failure carries (which
    leave the report: report.json holds no arrays) or, for a merge, from a shard's .npz; a
    failure whose arrays could not be stored keeps the reason (`unstored`)."""
    written = []
    options, processes = data["options"], data["run"].get("processes", {})
    for cell in records(data):
        failure = cell.failure
        if not failure:
            continue
        arrays, source = failure.pop("arrays", None), failure.pop("reproducer_source", None)
        if arrays is None and source is None:
            continue
        name = cell.id.reproducer
        npz, script = directory / f"{name}.npz", directory / f"{name}.py"
        if source is not None:
            content = Path(source).read_bytes()
        else:
            threads = (processes.get(cell.worker) or {}).get("threads") or 1
            meta = {
                "property": cell.property,
                "subject": cell.subject,
                "specs": specs(data, cell.id),
                "device": cell.device,
                "tf32": options.get("tf32", "framework-default"),
                "threads": threads,
                "divergences": options["divergences"],
                "message": failure["message"],
                "pytest_plugins": np.array(options.get("pytest_plugins", []), dtype=str),
                "paths": np.array(import_paths(options), dtype=str),
                "required": np.array(
                    ["deterministic"] * bool(options.get("deterministic")), dtype=str
                ),
                "peer_threads": ((cell.reproducibility or {}).get("threads") or [0, 0])[1],
            }
            content = npz_bytes(cell.dtype, {**unpack(arrays), **meta})
        report.write_atomic(npz, content)
        text = SCRIPT.format(
            nodeid=cell.nodeid,
            message=" ".join(failure["message"].split()),
            python=sys.executable,
            paths=import_paths(options),
            npz=npz.name,
            npz_path=npz.absolute(),
        )
        report.write_atomic(script, text)
        failure["reproducer"] = {
            "npz": f"{directory.name}/{npz.name}",
            "script": f"{directory.name}/{script.name}",
        }
        written += [npz, script]
    return written


def import_paths(options: dict) -> list[str]:
    """Where a replay imports from, as the run did: its working directory and PYTHONPATH
    entries, and this project's checkout where the suite runs from one (not installed)."""
    paths = list(options.get("import_paths", []))
    if (ROOT / "pyproject.toml").exists() and str(ROOT) not in paths:
        paths.append(str(ROOT))
    return paths


def junit(data: dict) -> str:
    """JUnit XML: one testcase per cell, classname = property, name = subject-dtype-device; a run
    that did not finish says so in the suite's properties and as an errored testcase of its own
    (conformance.run), so that a CI view never shows an interrupted run as green."""
    cells, run = records(data), data["run"]
    counts = {
        k: sum(JUNIT.get(c.status) == k for c in cells) for k in ("failure", "error", "skipped")
    }
    stopped = verdict.incomplete(data)
    tests, errors = len(cells) + bool(stopped), counts["error"] + bool(stopped)
    totals = (
        f'tests="{tests}" failures="{counts["failure"]}" errors="{errors}" '
        f'skipped="{counts["skipped"]}"'
    )
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<testsuites name="{report.TOOL}" {totals}>',
        f'<testsuite name="{report.TOOL}" {totals} timestamp={quoteattr(run["started"])}>',
        "<properties>",
        f'<property name="complete" value="{str(run["complete"]).lower()}"/>',
        f'<property name="incomplete_reason" value={quoteattr(run["incomplete_reason"] or "")}/>',
        "</properties>",
    ]
    if stopped:
        lines += [
            '<testcase classname="conformance" name="run" time="0.000">',
            f"<error message={quoteattr(stopped)}>{escape(stopped)}</error>",
            "</testcase>",
        ]
    for c in cells:
        name = quoteattr(f"{c.subject}-{c.dtype}-{c.device}")
        lines.append(
            f'<testcase classname={quoteattr(c.property)} name={name} time="{c.duration_s:.3f}">'
        )
        kind = JUNIT.get(c.status)
        if kind:
            lines.append(f"<{kind} message={quoteattr((c.reason or c.status)[:1000])}>")
            if c.failure:
                lines.append(escape(c.failure["message"]))
            lines.append(f"</{kind}>")
        note = f"status {c.status}, examples {c.examples}, worst budget used {c.worst_budget_used}"
        lines.append(f"<system-out>{escape(note)}</system-out>")
        lines.append("</testcase>")
    lines += ["</testsuite>", "</testsuites>", ""]
    return "\n".join(lines)


def _markdown_table(heads: list[str], rows: list[tuple[str, list]]) -> list[str]:
    out = ["| | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for name, found in rows:
        marks = [
            "" if c is None else f"{MARK[c.status]} {matrix.budget_text(c.worst_budget_used)}"
            for c in found
        ]
        out.append(f"| `{name}` | " + " | ".join(marks) + " |")
    return [*out, ""]


def markdown(data: dict) -> str:
    """The verdict, then the conformance matrix with worst budgets, for a CI job summary."""
    first, *rest = verdict.summary(data)
    run = data["run"]
    out = ["## Linear ↔ Dense conformance", "", f"**{first}**", ""]
    out += [f"- {line}" for line in rest]
    out += [
        "",
        f"Profile `{run['hypothesis']['profile']}`, exit status {run['pytest_exit_status']}.",
        "",
    ]
    columns, rows = matrix.layout(data)
    if rows:
        multi = len({dev for dev, _, _ in columns}) > 1
        out += _markdown_table(
            [f"{dev + ' ' if multi else ''}{d} {s}" for dev, d, s in columns], rows
        )
    pair_columns, pair_rows = matrix.pairs(data)
    if pair_rows:
        out += _markdown_table([f"{dev} {d}" for dev, d in pair_columns], pair_rows)
    out += [("✅ pass · ❌ fail · ⚠️ error · 💥 crashed · ⏸ not run · ➖ skipped · 🟡 known divergence; "
             "numbers: worst budget used (≤ 1 passes)"), ""]  # fmt: skip
    if data["reproducibility"]:
        out += ["### Reproducibility", "",
                "Whether the same input gave the same bits again (yes), or how far it drifted. "
                + reproducibility.stance(data["options"]), ""]  # fmt: skip
        out += [
            "| " + " | ".join(row) + " |"
            for row in [
                list(reproducibility.HEADS),
                ["---"] * len(reproducibility.HEADS),
                *map(reproducibility.cells_of, data["reproducibility"]),
            ]
        ]
        out.append("")
    failures = verdict.failures(data)
    if failures:
        out += ["### Failures", "", "Replay commands run from the report directory.", ""]
        out += [
            f"- {line.strip()}" if not line.startswith("  ") else f"  - `{line.strip()}`"
            for line in failures
        ]
        out.append("")
    return "\n".join(out)


def summary_lines(data: dict, report_dir=None) -> list[str]:
    """The terminal summary: the verdict, then the worst budget used per subject and dtype."""
    worst: dict[str, dict[str, float]] = {}
    for c in records(data):
        b = c.budget
        if b is not None and c.ended == Status.PASS and not c.id.pair:
            by_dtype = worst.setdefault(c.subject, {})
            by_dtype[c.dtype] = max(by_dtype.get(c.dtype, 0.0), b)
    order = data["options"]["dtypes"]
    budgets = [
        f"worst budget used by {subject} (passing cells): "
        + ", ".join(f"{d} {matrix.budget_text(by_dtype[d])}" for d in order if d in by_dtype)
        for subject, by_dtype in sorted(worst.items())
    ]
    return (
        verdict.lines(data, report_dir)
        + budgets
        + reproducibility.overview(data["reproducibility"], data["options"])
    )


def write_all(data: dict, directory: Path) -> list[str]:
    """Reproducers, junit.xml, summary.md, report.html, then report.json; returns the paths written."""
    directory = Path(directory)
    written = write_reproducers(data, directory / "reproducers")
    for name, content in (
        ("junit.xml", junit(data)),
        ("summary.md", markdown(data)),
        ("report.html", render(data)),
    ):
        report.write_atomic(directory / name, content)
        written.append(directory / name)
    report.write_atomic(directory / "report.json", report.dumps(data))
    return [str(p) for p in [directory / "report.json", *written]]
