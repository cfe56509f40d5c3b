"""Merge shard reports into one whose verdicts equal an unsharded run of the same cases."""

from pathlib import Path

from conformance.core.record import CellRecord, records
from conformance.core.status import Status
from reports import report, reproducibility
from reports.report import ReportError, divergence_outcomes, summary

#: what every shard of one run must share
SAME = ("options", "run.hypothesis", "run.selection", "environment.versions")


def _field(data: dict, dotted: str):
    found: object = data
    for part in dotted.split("."):
        found = (found or {}).get(part)  # type: ignore[attr-defined]
    return found


def _shard_name(shard: dict) -> str:
    return f"{shard['index']}/{shard['count']}"


def missing_shards(reports: list[tuple[str, dict]]) -> list[str]:
    """The shards K/N of the split that were not given; ReportError when the shards cannot be one split."""
    shards = [(path, data["run"].get("shard")) for path, data in reports]
    sharded = [(path, shard) for path, shard in shards if shard]
    if not sharded:
        return []
    unsharded = next((path for path, shard in shards if not shard), None)
    first_path, first = sharded[0]
    if unsharded:
        raise ReportError(
            f"{first_path} is shard {_shard_name(first)} but {unsharded} is not a shard"
        )
    seen: dict[int, str] = {}
    for path, shard in sharded:
        if shard["count"] != first["count"]:
            raise ReportError(
                f"{first_path} is shard {_shard_name(first)} and {path} is shard "
                f"{_shard_name(shard)}: not shards of one split"
            )
        if shard["index"] in seen:
            raise ReportError(
                f"{seen[shard['index']]} and {path} are both shard {_shard_name(shard)}: shards overlap"
            )
        seen[shard["index"]] = path
    count = first["count"]
    return [f"{k}/{count}" for k in range(1, count + 1) if k not in seen]


def merge(reports: list[tuple[str, dict]]) -> dict:
    """One report from (path, report) shards; ReportError when they are not shards of one run."""
    if not reports:
        raise ReportError("nothing to merge")
    _check_one_run(reports)
    run = _merged_run(reports)  # before the cells: shards of another split are named as such
    merged = _merged_cells(reports)
    first = reports[0][1]
    fields = ("status", "reproduced_in", "not_reproduced_in")
    entries = [{k: v for k, v in e.items() if k not in fields} for e in first["divergences"]]
    outcomes = divergence_outcomes(entries, merged)
    environment = next((data["environment"] for _, data in reports if data["environment"]), None)
    return {
        "schema_version": report.SCHEMA_VERSION,
        "tool": report.TOOL,
        "run": run,
        "environment": environment,
        "options": first["options"],
        "summary": summary(merged),
        "cells": [c.to_json() for c in merged],
        "divergences": outcomes,
        "reproducibility": reproducibility.table(merged),
    }


def _check_one_run(reports: list[tuple[str, dict]]) -> None:
    """ReportError unless every report shares the first one's SAME fields (where both have them)."""
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


def _merged_cells(reports: list[tuple[str, dict]]) -> list[CellRecord]:
    """Every cell once, from the shard that ran it (ReportError when two did); a reproducer is
    written again beside the merged report, from its shard's arrays."""
    cells: dict[tuple, tuple[str, CellRecord]] = {}
    for path, data in reports:
        for cell in records(data):
            key = cell.id.key
            if key in cells and Status.NOT_RUN not in (cells[key][1].ended, cell.ended):
                raise ReportError(
                    f"{path} and {cells[key][0]} both ran {cell.nodeid}: shards overlap"
                )
            if key not in cells or cells[key][1].ended == Status.NOT_RUN:
                cells[key] = (path, cell)
    for path, cell in cells.values():
        reproducer = (cell.failure or {}).get("reproducer")
        if reproducer:
            cell.failure = {
                **(cell.failure or {}),
                "reproducer_source": str(Path(path).parent / reproducer["npz"]),
            }
    return sorted((cell for _, cell in cells.values()), key=lambda c: c.id.key)


def _merged_run(reports: list[tuple[str, dict]]) -> dict:
    """The merged run: its span, workers and processes over every shard; incomplete when a shard
    was, or when shards are missing."""
    missing = missing_shards(reports)
    runs = [data["run"] for _, data in reports]
    reasons = [
        f"{path}: {data['run']['incomplete_reason']}"
        for path, data in reports
        if not data["run"]["complete"]
    ] + ([f"shards not given: {', '.join(missing)}"] if missing else [])
    return {
        "started": min(r["started"] for r in runs),
        "finished": max(r["finished"] for r in runs),
        "command": runs[0]["command"],
        "hypothesis": runs[0]["hypothesis"],
        "shard": None,
        "selection": runs[0].get("selection"),
        "workers": sorted({w for r in runs for w in r["workers"]}),
        "worker_count": runs[0]["worker_count"],
        "processes": {
            f"{_shard_name(r['shard']) if r.get('shard') else path} {worker}": process
            for (path, _), r in zip(reports, runs, strict=True)
            for worker, process in r.get("processes", {}).items()
        },
        "pytest_exit_status": max(r["pytest_exit_status"] for r in runs),
        "complete": not reasons,
        "incomplete_reason": "; ".join(reasons) or None,
        "merged_from": [path for path, _ in reports],
        "missing_shards": missing,
    }
