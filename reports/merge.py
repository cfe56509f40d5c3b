"""Merge shard reports into one whose verdicts equal an unsharded run of the same cases."""

from reports import report
from reports.report import ReportError, cell_key, settle, summary

#: what every shard of one run must share
SAME = ("options", "run.hypothesis", "environment.versions")


def _field(data: dict, dotted: str):
    for part in dotted.split("."):
        data = (data or {}).get(part)
    return data


def merge(reports: list[tuple[str, dict]]) -> dict:
    """One report from (path, report) shards; ReportError when they are not shards of one run."""
    if not reports:
        raise ReportError("nothing to merge")
    first_path, first = reports[0]
    for path, data in reports[1:]:
        for field in SAME:
            if (
                _field(data, field) is not None
                and _field(first, field) is not None
                and _field(data, field) != _field(first, field)
            ):
                raise ReportError(
                    f"{path} and {first_path} are not shards of one run: their {field} differ"
                )
    cells: dict[tuple, tuple[str, dict]] = {}
    for path, data in reports:
        for cell in data["cells"]:
            key = cell_key(cell)
            if (
                key in cells
                and cells[key][1]["status"] != "not-run"
                and cell["status"] != "not-run"
            ):
                raise ReportError(
                    f"{path} and {cells[key][0]} both ran {cell['nodeid']}: shards overlap"
                )
            if key not in cells or cells[key][1]["status"] == "not-run":
                cells[key] = (path, dict(cell))
    merged = sorted((cell for _, cell in cells.values()), key=cell_key)
    entries = first["divergences"]
    outcomes = settle(
        merged, entries, first["options"]["subjects"], first["options"]["dtypes"]
    )
    runs = [data["run"] for _, data in reports]
    reasons = [
        f"{path}: {data['run']['incomplete_reason']}"
        for path, data in reports
        if not data["run"]["complete"]
    ]
    run = {
        "started": min(r["started"] for r in runs),
        "finished": max(r["finished"] for r in runs),
        "command": runs[0]["command"],
        "hypothesis": runs[0]["hypothesis"],
        "shard": None,
        "workers": sorted({w for r in runs for w in r["workers"]}),
        "pytest_exit_status": max(r["pytest_exit_status"] for r in runs),
        "complete": not reasons,
        "incomplete_reason": "; ".join(reasons) or None,
        "merged_from": [path for path, _ in reports],
    }
    environment = next(
        (data["environment"] for _, data in reports if data["environment"]), None
    )
    return {
        "schema_version": report.SCHEMA_VERSION,
        "tool": report.TOOL,
        "run": run,
        "environment": environment,
        "options": first["options"],
        "summary": summary(merged),
        "cells": merged,
        "divergences": outcomes,
    }
