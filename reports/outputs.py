"""Everything a run writes beside report.json: reproducers, JUnit XML, the Markdown summary.

All files are written atomically; report.json last, so a reader never finds a report that
points at reproducers which are not there yet.
"""

import re
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from conformance.evidence import npz_bytes, unpack
from reports import report
from reports.html import render

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """# Reproducer for {nodeid}
# {message}
# Run it with the frameworks of the run installed: exit 1 while it fails, 0 once fixed, 2 when it
# cannot run here. Without this project at {root}: python -m reports replay {npz}
import pathlib
import sys

sys.path.insert(0, {root!r})
from reports.replay import main

sys.exit(main(pathlib.Path(__file__).with_name({npz!r})))
"""

#: JUnit outcome per cell status (known divergences and skips are skipped with their reason)
JUNIT = {"fail": "failure", "error": "error", "crashed": "error", "not-run": "skipped", "skipped": "skipped",
         "known-divergence": "skipped"}  # fmt: skip
MARK = {"pass": "✅", "fail": "❌", "error": "⚠️", "crashed": "💥", "not-run": "⏸", "skipped": "➖",
        "known-divergence": "🟡"}  # fmt: skip


def slug(nodeid: str) -> str:
    name = nodeid.split("::")[-1].removeprefix("test_")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def specs(data: dict, label: str) -> str:
    """How --subjects named the subjects of a cell label ("|" between the two of a pair)."""
    plugins = data["options"].get("plugins", {})
    return "|".join(
        plugins.get(part, part.split("/")[0]) for part in label.split(" vs ")
    )


def write_reproducers(data: dict, directory: Path) -> list[Path]:
    """A .npz and a replay script per failing cell whose example could be carried."""
    written = []
    options, processes = data["options"], data["run"].get("processes", {})
    for cell in data["cells"]:
        failure = cell["failure"]
        if not failure or not failure.get("arrays"):
            continue
        name = slug(cell["nodeid"])
        threads = (processes.get(cell["worker"]) or {}).get("threads") or 1
        meta = {
            "property": cell["property"],
            "subject": cell["subject"],
            "specs": specs(data, cell["subject"]),
            "device": cell["device"],
            "tf32": options.get("tf32", "framework-default"),
            "threads": threads,
            "divergences": options["divergences"],
            "message": failure["message"],
        }
        npz, script = directory / f"{name}.npz", directory / f"{name}.py"
        arrays = unpack(failure["arrays"])
        report.write_atomic(npz, npz_bytes(cell["dtype"], {**arrays, **meta}))
        text = SCRIPT.format(
            nodeid=cell["nodeid"],
            message=" ".join(failure["message"].split()),
            root=str(ROOT),
            npz=npz.name,
        )
        report.write_atomic(script, text)
        failure["reproducer"] = {
            "npz": f"{directory.name}/{npz.name}",
            "script": f"{directory.name}/{script.name}",
        }
        written += [npz, script]
    return written


def junit(data: dict) -> str:
    """JUnit XML: one testcase per cell, classname = property, name = subject-dtype-device."""
    cells = data["cells"]
    counts = {
        k: sum(JUNIT.get(c["status"]) == k for c in cells)
        for k in ("failure", "error", "skipped")
    }
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        (
            f'<testsuites name="{report.TOOL}" tests="{len(cells)}" failures="{counts["failure"]}" '
            f'errors="{counts["error"]}" skipped="{counts["skipped"]}">'
        ),
        (
            f'<testsuite name="{report.TOOL}" tests="{len(cells)}" failures="{counts["failure"]}" '
            f'errors="{counts["error"]}" skipped="{counts["skipped"]}" timestamp={quoteattr(data["run"]["started"])}>'
        ),
    ]
    for c in cells:
        name = quoteattr(f"{c['subject']}-{c['dtype']}-{c['device']}")
        lines.append(
            f'<testcase classname={quoteattr(c["property"])} name={name} time="{c["duration_s"]:.3f}">'
        )
        kind = JUNIT.get(c["status"])
        if kind:
            lines.append(
                f"<{kind} message={quoteattr((c['reason'] or c['status'])[:1000])}>"
            )
            if c["failure"]:
                lines.append(escape(c["failure"]["message"]))
            lines.append(f"</{kind}>")
        note = f"status {c['status']}, examples {c['examples']}, worst budget used {c['worst_budget_used']}"
        lines.append(f"<system-out>{escape(note)}</system-out>")
        lines.append("</testcase>")
    lines += ["</testsuite>", "</testsuites>", ""]
    return "\n".join(lines)


def budget_text(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else str(value or "–")


def markdown(data: dict) -> str:
    """The conformance matrix with worst budgets, for a CI job summary."""
    cells = data["cells"]
    columns = sorted({(c["subject"], c["dtype"], c["device"]) for c in cells})
    by_key = {report.cell_key(c): c for c in cells}
    run = data["run"]
    out = [
        "## Linear ↔ Dense conformance",
        "",
        (
            f"**{', '.join(f'{n} {s}' for s, n in data['summary'].items())}** — "
            f"{'complete' if run['complete'] else 'INCOMPLETE: ' + run['incomplete_reason']}, "
            f"profile `{run['hypothesis']['profile']}`, exit status {run['pytest_exit_status']}"
        ),
        "",
        "| property | " + " | ".join(f"{s} {d} {dev}" for s, d, dev in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for prop in sorted({c["property"] for c in cells}):
        row = []
        for s, d, dev in columns:
            c = by_key.get((prop, s, d, dev))
            row.append(
                ""
                if c is None
                else f"{MARK[c['status']]} {budget_text(c['worst_budget_used'])}"
            )
        out.append(f"| `{prop}` | " + " | ".join(row) + " |")
    out += ["", ("✅ pass · ❌ fail · ⚠️ error · 💥 crashed · ⏸ not run · ➖ skipped · 🟡 known divergence; "
            "numbers: worst budget used (≤ 1 passes)"), ""]  # fmt: skip
    failures = [c for c in cells if c["status"] in ("fail", "error", "crashed")]
    if failures:
        out += ["### Failures", ""]
        for c in failures:
            out.append(f"- `{c['nodeid']}`: {c['reason']}")
            if c["failure"] and c["failure"].get("reproducer"):
                out.append(
                    f"  - reproducer (in the report directory): `python {c['failure']['reproducer']['script']}`"
                )
        out.append("")
    return "\n".join(out)


def failure_lines(data: dict) -> list[str]:
    """One line per cell that failed, errored or crashed."""
    return [
        f"{c['status'].upper()} {c['nodeid']}: {c['reason']}"
        for c in data["cells"]
        if c["status"] in ("fail", "error", "crashed")
    ]


def summary_lines(data: dict) -> list[str]:
    """The terminal summary: statuses, worst budget per subject and dtype, divergences."""
    lines = [
        "cells: " + ", ".join(f"{n} {status}" for status, n in data["summary"].items())
    ]
    if not data["run"]["complete"]:
        lines.append(f"INCOMPLETE: {data['run']['incomplete_reason']}")
    worst = {}
    for c in data["cells"]:
        b = c["worst_budget_used"]
        if isinstance(b, (int, float)) and c["status"] == "pass":
            worst[(c["subject"], c["dtype"])] = max(
                worst.get((c["subject"], c["dtype"]), 0.0), b
            )
    for (subject, dtype), b in sorted(worst.items()):
        lines.append(
            f"worst budget used  {subject:<22} {dtype:<9} {b:.3f}  (passing cells)"
        )
    lines += [
        f"divergence {d['id']}: {d['status']}"
        for d in data["divergences"]
        if d["status"] not in ("not-applicable", "not-run")
    ]
    return lines


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
