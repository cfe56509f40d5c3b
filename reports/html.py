"""A self-contained HTML page for a report: the matrix, budget plots, failures, coverage, environment.

One file, inline CSS and SVG, no scripts and nothing fetched, so it opens from a CI artifact.
"""

import json
from html import escape

from conformance.core.record import CellRecord, records
from conformance.core.status import BROKEN, Status
from reports import matrix, reproducibility, verdict

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
body{font-family:system-ui,sans-serif;margin:1em;color:#212121;max-width:100%}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
.verdict{font-size:1.1em;font-weight:600}.fail{color:#c62828}li,p{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f5f5f5}th.prop{position:sticky;left:0;background:#f5f5f5;white-space:nowrap}
.cell{color:#fff;text-align:center;white-space:nowrap}
.legend span{display:inline-block;padding:2px 8px;margin:2px;color:#fff;border-radius:3px;font-size:.8em}
.incomplete{background:#ffebee;border:1px solid #c62828;padding:.5em;color:#c62828}
code,pre{font-size:.85em;overflow-wrap:anywhere}pre{background:#f5f5f5;padding:.5em;overflow-x:auto;white-space:pre-wrap}
.plot{max-width:60em}.row{display:grid;grid-template-columns:minmax(10em,24em) 1fr;gap:.2em .6em;align-items:center;font-size:.8em;margin:1px 0}
.label{overflow-wrap:anywhere}.known{color:#b26a00;font-style:italic}
.track{position:relative;height:.9em;background:#fafafa;min-width:8em}
.bar{position:absolute;left:0;top:0;bottom:0}.one{position:absolute;left:80%;top:-2px;bottom:-2px;border-left:2px solid #c62828}
td.id,td.id code{white-space:nowrap;overflow-wrap:normal}td.evidence{min-width:20em}
@media (max-width:600px){.row{grid-template-columns:1fr;margin:.35em 0}}
"""


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _shade(cell: CellRecord) -> str:
    """Status colour; passing cells get lighter the less of their budget they used."""
    colour = COLOURS[cell.status]
    budget = cell.budget
    if cell.ended == Status.PASS and budget is not None:
        alpha = 0.35 + 0.65 * min(max(budget, 0.0), 1.0)
        return f"{colour};opacity:{alpha:.2f}"
    return colour


#: what a matrix cell without a budget says (its colour and title say the rest)
SHORT = {"known-divergence": "known", "skipped": "skip", "not-run": "not run"}


def _td(c: CellRecord | None) -> str:
    if c is None:
        return "<td></td>"
    budget = c.budget
    text = matrix.budget_text(budget) if budget is not None else SHORT.get(c.status, c.status)
    title = escape(f"{c.subject}: {c.status}: {c.reason or ''} ({c.examples} examples)")
    return f'<td class="cell" style="background:{_shade(c)}" title="{title}">{escape(text)}</td>'


def _table(head: str, rows: list[tuple[str, list]]) -> str:
    body = "".join(
        f'<tr><th class="prop"><code>{escape(name)}</code></th>{"".join(map(_td, found))}</tr>'
        for name, found in rows
    )
    return f'<div class="scroll"><table>{head}{body}</table></div>'


def matrix_tables(data: dict) -> str:
    """One table per device that ran: a row per property, the subjects of a dtype side by side;
    then the pairs."""
    columns, rows = matrix.layout(data)
    tables = []
    for device in dict.fromkeys(dev for dev, _, _ in columns):
        mine = [i for i, (dev, _, _) in enumerate(columns) if dev == device]
        dtypes = list(dict.fromkeys(columns[i][1] for i in mine))
        top = "".join(f'<th colspan="{len(mine) // len(dtypes)}">{escape(d)}</th>' for d in dtypes)
        sub = "".join(f"<th>{escape(columns[i][2])}</th>" for i in mine)
        head = f'<tr><th class="prop" rowspan="2">property</th>{top}</tr><tr>{sub}</tr>'
        kept = [(p, [found[i] for i in mine]) for p, found in rows if any(found[i] for i in mine)]
        tables.append(f"<h3>{escape(device)}</h3>{_table(head, kept)}")
    pair_columns, pair_rows = matrix.pairs(data)
    if pair_rows:
        heads = "".join(f"<th>{escape(dev)} {escape(d)}</th>" for dev, d in pair_columns)
        head = f'<tr><th class="prop">property · pair</th>{heads}</tr>'
        tables.append(f"<h3>pairs</h3>{_table(head, pair_rows)}")
    legend = "".join(f'<span style="background:{c}">{escape(s)}</span>' for s, c in COLOURS.items())
    return (
        f'<p class="legend">{legend}</p>{"".join(tables)}'
        "<p>Numbers: worst budget used (max |subject − oracle| / bound; ≤ 1 passes), as the failure "
        "messages write it. Passing cells are darker the more of their budget they used.</p>"
    )


PLOT = (("max", "#ef9a9a"), ("p90", "#90caf9"), ("p50", "#1565c0"))
#: the largest budget a plot shows (the line at 1.0 sits at 1 / PLOT_TOP of the track)
PLOT_TOP = 1.25


def budget_plot(cells: list[CellRecord], dtype: str) -> str:
    """Per property and subject: bars for p50, p90 and max budget used, against the line at 1,
    as HTML (labels stay text at any width: above their bars on a phone)."""
    chosen = [c for c in cells if c.dtype == dtype and c.budget_quantiles]
    if not chosen:
        return ""
    rows = []
    for c in sorted(chosen, key=lambda c: (c.property, c.subject)):
        q, known = c.budget_quantiles or {}, c.ended == Status.KNOWN_DIVERGENCE
        bars = "".join(
            f'<span class="bar" style="width:{_width(q[key]):.1f}%;background:{colour}" '
            f'title="{escape(key)} {escape(str(q[key]))}"></span>'
            for key, colour in PLOT
        )
        note = ' <span class="known">known divergence</span>' if known else ""
        label = f"{escape(c.property)} · {escape(c.subject)}{note}"
        rows.append(
            f'<div class="row"><span class="label">{label}</span>'
            f'<span class="track">{bars}<span class="one"></span></span></div>'
        )
    return f'<h3>{escape(dtype)}</h3><div class="plot">{"".join(rows)}</div>'


def _width(value) -> float:
    """A bar's length in per cent of the track (past PLOT_TOP: the whole track)."""
    number = _number(value)
    return 100.0 * min(number if number is not None else PLOT_TOP, PLOT_TOP) / PLOT_TOP


def plot_legend() -> str:
    spans = "".join(f'<span style="background:{c}">{k}</span>' for k, c in reversed(PLOT))
    return (
        f'<p class="legend">{spans}<span style="background:#c62828">budget 1.0: the bound</span></p>'
        "<p>Per cell: the median (p50), 90th percentile (p90) and largest (max) budget used over "
        "every check of every example; a passing cell's bars stay left of the red line at 1.0. "
        "A <em>known divergence</em> is measured against the same strict contract, so its bars "
        "may pass the line: what passes it fits a looser contract the registry explains.</p>"
    )


def environment(env: dict | None) -> str:
    if not env:
        return "<p>No environment was recorded (no cell ran).</p>"
    rows = [
        ("python", env["python"]),
        ("platform", env["platform"]),
        ("cpu", json.dumps(env["cpu"])),
    ]
    rows += [(name, version) for name, version in env["versions"].items() if name != "python"]
    rows += [(f"subject {label}", json.dumps(info)) for label, info in env["subjects"].items()]
    cells = "".join(
        f"<tr><th>{escape(k)}</th><td><code>{escape(str(v))}</code></td></tr>" for k, v in rows
    )
    return f'<div class="scroll"><table>{cells}</table></div>'


def failures(data: dict) -> str:
    broken = [c for c in records(data) if c.ended in BROKEN]
    if not broken:
        return "<p>None.</p>"
    items = []
    for c in broken:
        parts = [f"<li><code>{escape(c.nodeid)}</code><pre>{escape(c.reason or '')}</pre>"]
        failure = c.failure or {}
        if failure.get("case"):
            parts.append(f"<p>case: <code>{escape(json.dumps(failure['case']))}</code></p>")
        replay = verdict.replay_line(data, c, None)
        if replay and failure.get("reproducer"):
            script = escape(failure["reproducer"]["script"])
            command = escape(
                replay.removeprefix("replay: ").removesuffix(failure["reproducer"]["script"])
            )
            parts.append(
                f'<p>replay: <code>{command}<a href="{script}">{script}</a></code> (from the report directory)</p>'
            )
        elif replay:
            parts.append(f"<p>{escape(replay)}</p>")
        if failure.get("reproduce_blob"):
            parts.append(f"<p>Hypothesis: <code>{escape(failure['reproduce_blob'])}</code></p>")
        items.append("".join(parts) + "</li>")
    return f"<ul>{''.join(items)}</ul>"


#: the coverage buckets the coverage table lists (size bands, layouts, how x is handed over)
COVERED = ("rows >", "features >", "2^20+", "block-edge", "layout ", "weight ", "input ")


def coverage(cells: list[CellRecord]) -> str:
    """Per bucket: the cells whose examples reached it, their examples in it, and the cells that
    promised it and missed it (none in a complete run)."""
    ran = [c for c in cells if c.ended not in (Status.SKIPPED, Status.NOT_RUN)]
    names = sorted({b for c in ran for b in c.coverage if b.startswith(COVERED)})
    names += sorted({b for c in ran for b in c.unreached} - set(names))
    if not names:
        return "<p>No cell ran.</p>"
    rows = []
    for name in names:
        reached = [c for c in ran if c.coverage.get(name)]
        missed = [c.nodeid for c in ran if name in c.unreached]
        examples = sum(c.coverage[name] for c in reached)
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{len(reached)} of {len(ran)}</td><td>{examples:,}</td>"
            f"<td>{escape(', '.join(missed)) or 'none'}</td></tr>"
        )
    head = "<tr><th>bucket</th><th>cells reaching it</th><th>examples</th><th>promised, unreached</th></tr>"
    return f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def divergences(outcomes: list[dict]) -> str:
    rows = "".join(
        f'<tr><td class="id"><code>{escape(d["id"])}</code></td><td>{escape(d["status"])}</td>'
        f'<td>{escape(d["what"])}</td><td class="evidence">{escape(d["evidence"])}</td></tr>'
        for d in outcomes
    )
    table = (
        f"<table><tr><th>id</th><th>status</th><th>what</th><th>evidence</th></tr>{rows}</table>"
    )
    return f'<div class="scroll">{table}</div>'


def reproducibility_table(rows: list[dict], options: dict) -> str:
    """The reproducibility table (reports.reproducibility) and whether it was a contract, or a
    line saying nothing measured it."""
    if not rows:
        return "<p>No reproducibility property ran.</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in reproducibility.HEADS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in reproducibility.cells_of(r)) + "</tr>"
        for r in rows
    )
    table = f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'
    return f"<p>{escape(reproducibility.stance(options))}</p>{table}"


def render(data: dict) -> str:
    run, cells = data["run"], records(data)
    lines = verdict.summary(data)
    if not run["complete"]:
        first = "verdict incomplete"
    elif any(c.ended in BROKEN for c in cells):
        first = "verdict fail"
    else:
        first = "verdict"
    rest = "".join(f"<li>{escape(line.strip())}</li>" for line in lines[1:])
    plots = "".join(budget_plot(cells, dtype) for dtype in data["options"]["dtypes"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Linear ↔ Dense conformance</title><style>{STYLE}</style></head>
<body>
<h1>Linear ↔ Dense conformance</h1>
<p class="{first}">{escape(lines[0])}</p>
<ul>{rest}</ul>
<p>profile <code>{escape(run["hypothesis"]["profile"])}</code> · exit status {run["pytest_exit_status"]} ·
{escape(run["started"])} → {escape(run["finished"])}</p>
<h2>Conformance matrix</h2>{matrix_tables(data)}
<h2>Budget used per property (p50, p90, max)</h2>{plot_legend()}{plots}
<h2>Failures</h2>{failures(data)}
<h2>Reproducibility: the same bits again</h2>{reproducibility_table(data["reproducibility"], data["options"])}
<h2>Coverage: sizes, layouts, inputs</h2>{coverage(cells)}
<h2>Known divergences</h2>{divergences(data["divergences"])}
<h2>Environment</h2>{environment(data["environment"])}
</body></html>
"""
