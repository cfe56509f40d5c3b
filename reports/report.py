"""report.json: assembly from cell records, its JSON Schema, loading with validation, atomic writing."""

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

from conformance.core.record import CellRecord
from reports import reproducibility

SCHEMA_VERSION = 5
TOOL = "linear-dense-conformance"
SCHEMA_PATH = Path(__file__).with_name("schema.json")


class ReportError(ValueError):
    """A report that cannot be used; the message is one line."""


def divergence_outcomes(entries: list[dict], cells: list[CellRecord]) -> list[dict]:
    """Per registry entry: reproduced (an example met it), not-reproduced (cells that ran reach
    it, no example met it: information, since meeting one can depend on the drawn cases, the
    machine and the threads), not-run (the cells that reach it never ran), or not-applicable."""
    outcomes = []
    for entry in entries:
        reached = {
            c.nodeid: c.divergences[entry["id"]] for c in cells if entry["id"] in c.divergences
        }
        reproduced = [n for n, o in reached.items() if o == "reproduced"]
        missed = [n for n, o in reached.items() if o == "not reproduced"]
        if reproduced:
            status = "reproduced"
        elif missed:
            status = "not-reproduced"
        else:
            status = "not-run" if reached else "not-applicable"
        outcomes.append(
            {**entry, "status": status, "reproduced_in": reproduced, "not_reproduced_in": missed}
        )
    return outcomes


def build(
    *,
    cells: list[CellRecord],
    selection,
    environment: dict | None,
    run: dict,
    imports: dict | None = None,
) -> dict:
    """The whole report from the controller's cell records (statuses settled across the run);
    `imports`: what a replay imports as the run did (its -p plug-ins, its import paths)."""
    cells = sorted(cells, key=lambda c: c.id.key)
    labels = [s.label for s in selection.cell_subjects or selection.subjects]
    entries = [entry.as_dict() for entry in selection.registry.entries]
    outcomes = divergence_outcomes(entries, cells)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": TOOL,
        "run": run,
        "environment": environment,
        "options": {
            "subjects": labels,
            "dtypes": list(selection.dtypes),
            "max_features": selection.caps.max_features,
            "max_rows": selection.caps.max_rows,
            "special_values": selection.special_values,
            "divergences": selection.registry.path,
            "plugins": {s.label: s.spec for s in selection.subjects if ":" in s.spec},
            "devices": selection.devices and list(selection.devices),
            "tf32": selection.tf32,
            "shapes": selection.shapes,
            "modes": list(dict.fromkeys(s.mode for s in selection.cell_subjects)),
            "pytest_plugins": (imports or {}).get("pytest_plugins", []),
            "import_paths": (imports or {}).get("import_paths", []),
            "deterministic": selection.deterministic,
            "thread_counts": selection.thread_counts,
        },
        "summary": summary(cells),
        "cells": [c.to_json() for c in cells],
        "divergences": outcomes,
        "reproducibility": reproducibility.table(cells),
    }


def summary(cells: list[CellRecord]) -> dict[str, int]:
    return dict(sorted(Counter(c.status for c in cells).items()))


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(data) -> None:
    """Raise ReportError unless `data` is a report of this tool and schema version, valid against the schema."""
    if not isinstance(data, dict) or data.get("tool") != TOOL:
        raise ReportError(f'not a {TOOL} report (no "tool": "{TOOL}" field)')
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(
            f"schema version {data.get('schema_version')!r}; this tool reads version {SCHEMA_VERSION}"
        )
    import jsonschema  # only where reports are read back (a GPU box may run the suite without it)

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema()).iter_errors(data)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise ReportError(f"does not match the report schema at {where}: {error.message}")


def located(path: str | Path) -> Path:
    """A report.json, or the report.json inside a report directory."""
    path = Path(path)
    if not path.is_dir():
        return path
    if not (path / "report.json").exists():
        raise ReportError(f"{path}: a directory without a report.json")
    return path / "report.json"


def load(path: str | Path) -> dict:
    """A validated report from `path`; every problem is one ReportError line that names the file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    try:
        validate(data)
    except ReportError as exc:
        raise ReportError(f"{path}: {exc}") from None
    return data


def dumps(data: dict) -> str:
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the report is for others to read
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
