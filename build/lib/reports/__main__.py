"""conformance-reports (or python -m reports): show, merge, diff, replay and render conformance
reports.

Exit status: 0 success (for diff: nothing regressed), 1 diff found a regression or merge wrote an
incomplete report (a shard missing, interrupted or crashed), 2 unusable input (one line on stderr
naming the file and the problem; nothing is written).
"""

import argparse
import json
import sys
from pathlib import Path

from reports import outputs, replay, report, verdict
from reports.diff import BUDGET_GROWTH, comparable, diff
from reports.html import render
from reports.merge import merge
from reports.report import ReportError

REPORT = "a report.json, or the report directory that holds one"


def show(args) -> int:
    path = report.located(args.report)
    data = report.load(path)
    run = data["run"]
    for line in outputs.summary_lines(data, path.parent):
        print(line)
    print(
        f"report: {path} (profile {run['hypothesis']['profile']}, pytest exit status "
        f"{run['pytest_exit_status']})"
    )
    return 0


def merge_command(args) -> int:
    shards = [(str(path), report.load(path)) for path in map(report.located, args.reports)]
    merged = merge(shards)
    written = outputs.write_all(merged, Path(args.output))
    stopped = verdict.incomplete(merged)
    if stopped:
        print(stopped)
    print(
        f"merged {len(shards)} reports into {written[0]} (and junit.xml, summary.md, report.html)"
    )
    return 1 if stopped else 0


def diff_command(args) -> int:
    base = report.load(report.located(args.base))
    candidate = report.load(report.located(args.candidate))
    comparable(base, candidate)
    result = diff(base, candidate, args.max_budget_growth)
    print(json.dumps(result.as_dict(), indent=1) if args.json else "\n".join(result.lines()))
    return 1 if result.regressed else 0


def replay_command(args) -> int:
    return replay.main(Path(args.reproducer))


def html_command(args) -> int:
    path = report.located(args.report)
    output = Path(args.output) if args.output else path.with_name("report.html")
    report.write_atomic(output, render(report.load(path)))
    print(f"wrote {output}")
    return 0


def prog() -> str:
    """How this command was run, as it runs again pasted anywhere: the console script's name
    (conformance-reports), or this interpreter by its full path with -m reports."""
    invoked = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return invoked if invoked and invoked != "__main__.py" else f"{sys.executable} -m reports"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog(), description=__doc__.splitlines()[0])
    commands = p.add_subparsers(dest="command", required=True)
    c = commands.add_parser("show", help="the verdict of a report, in the terminal")
    c.add_argument("report", help=REPORT)
    c.set_defaults(run=show)
    c = commands.add_parser("merge", help="merge shard reports into one report directory")
    c.add_argument("reports", nargs="+", help=REPORT)
    c.add_argument(
        "-o", "--output", required=True,
        help="directory for report.json, junit.xml, summary.md, report.html, reproducers",
    )  # fmt: skip
    c.set_defaults(run=merge_command)
    c = commands.add_parser("diff", help="the upgrade gate: exit 1 when the candidate regressed")
    c.add_argument("base", help=REPORT)
    c.add_argument("candidate", help=REPORT)
    c.add_argument(
        "--max-budget-growth", type=float, default=BUDGET_GROWTH,
        help=f"worst budget used may grow by at most this much per cell (default {BUDGET_GROWTH})",
    )  # fmt: skip
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(run=diff_command)
    c = commands.add_parser(
        "replay", help="re-run a reproducer's example: exit 1 while it fails, 0 once fixed"
    )
    c.add_argument("reproducer", help="a .npz from a report's reproducers/ directory")
    c.set_defaults(run=replay_command)
    c = commands.add_parser("html", help="render a report as one self-contained HTML page")
    c.add_argument("report", help=REPORT)
    c.add_argument(
        "-o", "--output", help="the page to write (default: report.html beside the report)"
    )
    c.set_defaults(run=html_command)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"error: cannot write {getattr(exc, 'filename', '') or 'the output'}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
