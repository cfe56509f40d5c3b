"""report.json: schema, assembly from cell records, and atomic writing."""

import json
import os
import platform
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from conformance.subjects.base import module_version

SCHEMA_VERSION = 1
TOOL = "linear-dense-conformance"
BASE_MODULES = ("numpy", "hypothesis", "pytest", "ml_dtypes")


def versions(subjects) -> dict[str, str]:
    """Python and every framework the run uses, from package metadata."""
    found = {"python": platform.python_version()}
    for module in BASE_MODULES:
        found[module] = module_version(module)
    for subject in subjects:
        found.update(subject.versions())
    return found


def divergence_outcomes(
    registry, cells: list[dict], subjects: list[str], dtypes: list[str]
) -> list[dict]:
    """Per registry entry: reproduced or resolved where cells reached it; otherwise not-run (none of
    its properties ran), unreached (they ran and the entry applies to the selected subjects and
    dtypes, yet no cell reached it: a warning), or not-applicable."""
    ran = {c["property"] for c in cells}
    devices = {c["device"] for c in cells}
    outcomes = []
    for entry in registry.entries:
        reached = [c for c in cells if entry.id in c["divergences"]]
        reproduced = [
            c["nodeid"] for c in reached if c["divergences"][entry.id] == "reproduced"
        ]
        resolved = [
            c["nodeid"] for c in reached if c["divergences"][entry.id] != "reproduced"
        ]
        if reached:
            status = "reproduced" if reproduced else "resolved"
        elif not ran & set(entry.properties):
            status = "not-run"
        elif any(
            entry.applies(p, s, d, dev)
            for p in entry.properties
            for s in subjects
            for d in dtypes
            for dev in devices
        ):
            status = "unreached"
        else:
            status = "not-applicable"
        outcomes.append(
            {
                **entry.as_dict(),
                "status": status,
                "reproduced_in": reproduced,
                "not_reproduced_in": resolved,
            }
        )
    return outcomes


def mark_resolved(cells: list[dict], outcomes: list[dict]) -> None:
    """A passing cell whose every applicable entry reproduced nowhere in the run is divergence-resolved."""
    resolved = {o["id"] for o in outcomes if o["status"] == "resolved"}
    for cell in cells:
        if (
            cell["status"] == "pass"
            and cell["divergences"]
            and set(cell["divergences"]) <= resolved
        ):
            cell["status"] = "divergence-resolved"
            cell["reason"] = "known divergence no longer reproduces: " + ", ".join(
                sorted(cell["divergences"])
            )


def build(
    *, cells: list[dict], selection, started: datetime, profile: str, exitstatus: int
) -> dict:
    cells = sorted(
        cells, key=lambda c: (c["property"], c["subject"], c["dtype"], c["device"])
    )
    labels = [s.label for s in selection.subjects]
    outcomes = divergence_outcomes(
        selection.registry, cells, labels, list(selection.dtypes)
    )
    mark_resolved(cells, outcomes)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": TOOL,
        "run": {
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "command": sys.argv,
            "hypothesis_profile": profile,
            "pytest_exit_status": exitstatus,
        },
        "versions": versions(selection.subjects),
        "options": {
            "subjects": labels,
            "dtypes": list(selection.dtypes),
            "max_features": selection.caps.max_features,
            "max_rows": selection.caps.max_rows,
            "special_values": selection.special_values,
            "divergences": selection.registry.path,
        },
        "summary": dict(Counter(c["status"] for c in cells)),
        "cells": cells,
        "divergences": outcomes,
    }


def write_atomic(path: Path, data: dict) -> None:
    """Write JSON to a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
