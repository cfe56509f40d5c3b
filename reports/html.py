"""A self-contained HTML page for a report: the matrix, budget plots, environment, failures.

One file, inline CSS and SVG, no scripts and nothing fetched, so it opens from a CI artifact.
"""

import json
from html import escape

from reports import report

COLOURS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "error": "#ef6c00",
    "crashed": "#6a1b9a",
    "not-run": "#757575",
    "skipped": "#9e9e9e",
    "known-divergence": "#f9a825",
}
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f5f5f5}.cell{color:#fff;text-align:center;white-space:nowrap}
.legend span{display:inline-block;padding:2px 8px;margin:2px;color:#fff;border-radius:3px;font-size:.8em}
.incomplete{background:#ffebee;border:1px solid #c62828;padding:.5em}
code,pre{font-size:.85em}pre{background:#f5f5f5;padding:.5em;overflow-x:auto;white-space:pre-wrap}
svg text{font-size:10px;font-family:system-ui,sans-serif}
"""


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _shade(cell: dict) -> str:
    """Status colour; passing cells get lighter the less of their budget they used."""
    colour = COLOURS[cell["status"]]
    budget = _number(cell["worst_budget_used"])
    if cell["status"] == "pass" and budget is not None:
        alpha = 0.35 + 0.65 * min(max(budget, 0.0), 1.0)
        return f"{colour};opacity:{alpha:.2f}"
    return colour


def matrix(cells: list[dict]) -> str:
    columns = sorted({(c["subject"], c["dtype"], c["device"]) for c in cells})
    by_key = {report.cell_key(c): c for c in cells}
    head = "".join(
        f"<th>{escape(s)}<br>{escape(d)} {escape(dev)}</th>" for s, d, dev in columns
    )
    rows = []
    for prop in sorted({c["property"] for c in cells}):
        tds = []
        for s, d, dev in columns:
            c = by_key.get((prop, s, d, dev))
            if c is None:
                tds.append("<td></td>")
                continue
            budget = _number(c["worst_budget_used"])
            text = f"{budget:.2f}" if budget is not None else c["status"]
            title = escape(
                f"{c['status']}: {c['reason'] or ''} ({c['examples']} examples)"
            )
            tds.append(
                f'<td class="cell" style="background:{_shade(c)}" title="{title}">{escape(text)}</td>'
            )
        rows.append(f"<tr><th><code>{escape(prop)}</code></th>{''.join(tds)}</tr>")
    legend = "".join(
        f'<span style="background:{c}">{escape(s)}</span>' for s, c in COLOURS.items()
    )
    return (
        f'<p class="legend">{legend}</p><table><tr><th>property</th>{head}</tr>{"".join(rows)}</table>'
        "<p>Numbers: worst budget used (max |subject − oracle| / bound; ≤ 1 passes). "
        "Passing cells are darker the more of their budget they used.</p>"
    )


def budget_plot(cells: list[dict], dtype: str) -> str:
    """Per property, a bar per subject: p50, p90 and max budget used, against the line at 1."""
    chosen = [c for c in cells if c["dtype"] == dtype and c["budget_quantiles"]]
    if not chosen:
        return ""
    width, row, left, scale = (
        720,
        14,
        300,
        360,
    )  # budget 1.0 sits at left + scale * (1 / 1.25)
    height = row * len(chosen) + 30
    parts = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="budget used, {escape(dtype)}">'
    ]
    one = left + scale / 1.25
    parts.append(
        f'<line x1="{one:.1f}" y1="0" x2="{one:.1f}" y2="{height - 18}" stroke="#c62828"/>'
    )
    parts.append(f'<text x="{one - 8:.1f}" y="{height - 5}">1.0</text>')
    for i, c in enumerate(sorted(chosen, key=lambda c: (c["property"], c["subject"]))):
        y = i * row + 2
        q = c["budget_quantiles"]
        parts.append(
            f'<text x="0" y="{y + 10}">{escape(c["property"][:34])} · {escape(c["subject"][:16])}</text>'
        )
        for key, colour in (("max", "#ef9a9a"), ("p90", "#90caf9"), ("p50", "#1565c0")):
            value = _number(q[key])
            length = scale * min(value if value is not None else 1.25, 1.25) / 1.25
            parts.append(
                f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{row - 4}" fill="{colour}">'
            )
            parts.append(f"<title>{escape(key)} {q[key]}</title></rect>")
    parts.append("</svg>")
    return f"<h3>{escape(dtype)}</h3>" + "".join(parts)


def environment(env: dict | None) -> str:
    if not env:
        return "<p>No environment was recorded (no cell ran).</p>"
    rows = [
        ("python", env["python"]),
        ("platform", env["platform"]),
        ("cpu", json.dumps(env["cpu"])),
    ]
    rows += [(name, version) for name, version in env["versions"].items()]
    rows += [
        (f"subject {label}", json.dumps(info))
        for label, info in env["subjects"].items()
    ]
    return (
        "<table>"
        + "".join(
            f"<tr><th>{escape(k)}</th><td><code>{escape(str(v))}</code></td></tr>"
            for k, v in rows
        )
        + "</table>"
    )


def failures(cells: list[dict]) -> str:
    broken = [c for c in cells if c["status"] in ("fail", "error", "crashed")]
    if not broken:
        return "<p>None.</p>"
    items = []
    for c in broken:
        parts = [
            f"<li><code>{escape(c['nodeid'])}</code><pre>{escape(c['reason'] or '')}</pre>"
        ]
        failure = c["failure"] or {}
        if failure.get("case"):
            parts.append(
                f"<p>case: <code>{escape(json.dumps(failure['case']))}</code></p>"
            )
        if failure.get("reproducer"):
            script = escape(failure["reproducer"]["script"])
            parts.append(
                f'<p>reproducer: <a href="{script}"><code>{script}</code></a> (run it with python)</p>'
            )
        if failure.get("reproduce_blob"):
            parts.append(
                f"<p>Hypothesis: <code>{escape(failure['reproduce_blob'])}</code></p>"
            )
        items.append("".join(parts) + "</li>")
    return f"<ul>{''.join(items)}</ul>"


def divergences(outcomes: list[dict]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(d['id'])}</code></td><td>{escape(d['status'])}</td><td>{escape(d['what'])}</td>"
        f"<td>{escape(d['evidence'])}</td></tr>"
        for d in outcomes
    )
    return f"<table><tr><th>id</th><th>status</th><th>what</th><th>evidence</th></tr>{rows}</table>"


def render(data: dict) -> str:
    run, cells = data["run"], data["cells"]
    counts = ", ".join(f"{n} {escape(s)}" for s, n in data["summary"].items())
    warning = (
        ""
        if run["complete"]
        else f'<p class="incomplete">INCOMPLETE: {escape(run["incomplete_reason"])}</p>'
    )
    plots = "".join(budget_plot(cells, dtype) for dtype in data["options"]["dtypes"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Linear ↔ Dense conformance</title><style>{STYLE}</style></head>
<body>
<h1>Linear ↔ Dense conformance</h1>
<p><strong>{counts}</strong> · profile <code>{escape(run["hypothesis"]["profile"])}</code> ·
exit status {run["pytest_exit_status"]} · {escape(run["started"])} → {escape(run["finished"])}</p>
{warning}
<h2>Conformance matrix</h2>{matrix(cells)}
<h2>Budget used per property (p50, p90, max)</h2>{plots}
<h2>Failures</h2>{failures(cells)}
<h2>Known divergences</h2>{divergences(data["divergences"])}
<h2>Environment</h2>{environment(data["environment"])}
</body></html>
"""
