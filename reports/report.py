"""report.json: assembly from cell records, its JSON Schema, loading with validation, atomic writing."""

import json
import os
import tempfile
from collections import Counter
from fnmatch import fnmatchcase
from pathlib import Path

SCHEMA_VERSION = 2
TOOL = "linear-dense-conformance"
SCHEMA_PATH = Path(__file__).with_name("schema.json")
#: what a cell can end in
STATUSES = (
    "pass",
    "fail",
    "error",
    "crashed",
    "not-run",
    "skipped",
    "known-divergence",
    "divergence-resolved",
)


#: statuses of cells whose examples never ran
NEVER_RAN = ("skipped", "not-run", "crashed", "error")


class ReportError(ValueError):
    """A report that cannot be used; the message is one line."""


def applies(entry: dict, prop: str, subject: str, dtype: str, device: str) -> bool:
    """Whether a registry entry (as stored in a report) covers a cell."""
    return (
        prop in entry["properties"]
        and any(fnmatchcase(subject, p) for p in entry["subjects"])
        and any(fnmatchcase(dtype, p) for p in entry["dtypes"])
        and any(fnmatchcase(device, p) for p in entry["devices"])
    )


def divergence_outcomes(
    entries: list[dict], cells: list[dict], subjects: list[str], dtypes: list[str]
) -> list[dict]:
    """Per registry entry: reproduced or resolved where cells reached it; otherwise not-run (none of
    its properties ran), unreached (they ran and the entry applies to the selected subjects and
    dtypes, yet no cell reached it: a warning), or not-applicable."""
    ran = {c["property"] for c in cells if c["status"] not in ("not-run", "crashed")}
    # devices where something ran: an entry for GPUs is not-applicable to a run whose GPU cells skip
    devices = {c["device"] for c in cells if c["status"] not in NEVER_RAN}
    outcomes = []
    for entry in entries:
        fields = {
            k: entry[k]
            for k in (
                "id",
                "what",
                "properties",
                "subjects",
                "dtypes",
                "devices",
                "evidence",
            )
        }
        reached = [c for c in cells if entry["id"] in c["divergences"]]
        reproduced = [
            c["nodeid"]
            for c in reached
            if c["divergences"][entry["id"]] == "reproduced"
        ]
        resolved = [
            c["nodeid"]
            for c in reached
            if c["divergences"][entry["id"]] != "reproduced"
        ]
        combos = (
            (p, s, d, dev)
            for p in entry["properties"]
            for s in subjects
            for d in dtypes
            for dev in devices
        )
        if reached:
            status = "reproduced" if reproduced else "resolved"
        elif not ran & set(entry["properties"]):
            status = "not-run"
        elif any(applies(entry, *combo) for combo in combos):
            status = "unreached"
        else:
            status = "not-applicable"
        outcomes.append(
            {
                **fields,
                "status": status,
                "reproduced_in": reproduced,
                "not_reproduced_in": resolved,
            }
        )
    return outcomes


def settle(
    cells: list[dict], entries: list[dict], subjects: list[str], dtypes: list[str]
) -> list[dict]:
    """Decide what only the whole run can decide: divergence outcomes, and which passing cells'
    entries reproduced nowhere (divergence-resolved). Returns the outcomes; updates the cells."""
    for cell in (
        cells
    ):  # a shard may have marked a cell resolved that another shard's cells reproduce
        if cell["status"] == "divergence-resolved":
            cell["status"], cell["reason"] = "pass", None
    outcomes = divergence_outcomes(entries, cells, subjects, dtypes)
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
    return outcomes


def cell_key(cell: dict) -> tuple[str, str, str, str]:
    return cell["property"], cell["subject"], cell["dtype"], cell["device"]


def build(*, cells: list[dict], selection, environment: dict | None, run: dict) -> dict:
    """The whole report from the controller's cell records (statuses settled across the run)."""
    cells = sorted(cells, key=cell_key)
    labels = [s.label for s in selection.subjects]
    entries = [entry.as_dict() for entry in selection.registry.entries]
    outcomes = settle(cells, entries, labels, list(selection.dtypes))
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
        },
        "summary": summary(cells),
        "cells": cells,
        "divergences": outcomes,
    }


def summary(cells: list[dict]) -> dict[str, int]:
    return dict(sorted(Counter(c["status"] for c in cells).items()))


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
        raise ReportError(
            f"does not match the report schema at {where}: {error.message}"
        )


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
        os.chmod(
            tmp, 0o666 & ~umask
        )  # mkstemp makes 0600; the report is for others to read
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
