"""python -m reports: show, merge, diff, replay and render conformance reports.

Exit status: 0 success (for diff: nothing regressed), 1 diff found a regression, 2 unusable input
(one line on stderr naming the file and the problem; nothing is written).
"""

import argparse
import json
import sys
from pathlib import Path

from reports import outputs, replay, report
from reports.diff import BUDGET_GROWTH, diff
from reports.html import render
from reports.merge import merge
from reports.report import ReportError


def show(args) -> int:
    data = report.load(args.report)
    run = data["run"]
    print(
        f"{args.report}: {report.TOOL} report, profile {run['hypothesis']['profile']}, exit status {run['pytest_exit_status']}"
    )
    for line in outputs.summary_lines(data) + outputs.failure_lines(data):
        print(line)
    return 0


def merge_command(args) -> int:
    shards = [(path, report.load(path)) for path in args.reports]
    written = outputs.write_all(merge(shards), Path(args.output))
    print(
        f"merged {len(shards)} reports into {written[0]} (and junit.xml, summary.md, report.html)"
    )
    return 0


def diff_command(args) -> int:
    result = diff(
        report.load(args.base), report.load(args.candidate), args.max_budget_growth
    )
    print(
        json.dumps(result.as_dict(), indent=1)
        if args.json
        else "\n".join(result.lines())
    )
    return 1 if result.regressed else 0


def replay_command(args) -> int:
    return replay.main(Path(args.reproducer))


def html_command(args) -> int:
    report.write_atomic(Path(args.output), render(report.load(args.report)))
    print(f"wrote {args.output}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reports", description=__doc__.splitlines()[0]
    )
    commands = p.add_subparsers(dest="command", required=True)
    c = commands.add_parser("show", help="summarise a report in the terminal")
    c.add_argument("report")
    c.set_defaults(run=show)
    c = commands.add_parser(
        "merge", help="merge shard reports into one report directory"
    )
    c.add_argument("reports", nargs="+")
    c.add_argument(
        "-o", "--output", required=True,
        help="directory for report.json, junit.xml, summary.md, report.html, reproducers",
    )  # fmt: skip
    c.set_defaults(run=merge_command)
    c = commands.add_parser(
        "diff", help="the upgrade gate: exit 1 when the candidate regressed"
    )
    c.add_argument("base")
    c.add_argument("candidate")
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
    c = commands.add_parser(
        "html", help="render a report as one self-contained HTML page"
    )
    c.add_argument("report")
    c.add_argument("-o", "--output", required=True)
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
