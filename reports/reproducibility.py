"""The reproducibility table: per subject (or pair) x dtype x device x mode, what the
reproducibility properties found (core.reproducibility): deterministic, batch-invariant,
thread-count-invariant, and for a pair the share of elements with identical bits. report.json
holds it (`reproducibility`); the verdict, summary.md and the HTML show it; `reports diff` flags a
claim that held in the baseline and not in the candidate."""

from conformance.core.identity import PAIR
from conformance.core.record import CellRecord
from conformance.core.reproducibility import CLAIMS_HELD, COLUMNS, TITLES, drift_text


def row_key(row: dict) -> tuple[str, str, str, str]:
    return row["subject"], row["dtype"], row["device"], row["mode"]


def table(cells: list[CellRecord]) -> list[dict]:
    """One row per subject (or pair) x dtype x device x mode that a reproducibility property
    compared anything for; a claim not measured there is null."""
    rows: dict[tuple, dict] = {}
    for cell in cells:
        tally = cell.reproducibility
        if not tally:
            continue
        subject = PAIR.join(cell.id.names)
        key = (subject, cell.dtype, cell.device, cell.mode)
        row = rows.setdefault(key, {
            "subject": subject, "dtype": cell.dtype, "device": cell.device, "mode": cell.mode,
            "examples": 0, "required": [],
        })  # fmt: skip
        held, worst = COLUMNS[tally["claim"]]
        if tally["claim"] == "bitwise_identical":
            row[held] = tally.get("fraction_identical")
        else:
            row[held] = tally["holds"]
            row[worst] = None if tally["holds"] is None else tally["worst_drift_ulp"]
        if "threads" in tally:
            row["threads"] = tally["threads"]
        if tally.get("required"):
            row["required"].append(tally["claim"])
        row["examples"] += tally["examples"]
    return [rows[key] for key in sorted(rows)]


def lost(base: list[dict], candidate: list[dict]) -> list[str]:
    """Claims that held in the baseline's row and do not in the candidate's (the same subject,
    dtype, device and mode), one line each."""
    before = {row_key(r): r for r in base}
    lines = []
    for row in candidate:
        old = before.get(row_key(row))
        if old is None:
            continue
        for claim in CLAIMS_HELD:
            held, worst = COLUMNS[claim]
            if old.get(held) is True and row.get(held) is False:
                mode = "" if row["mode"] == "eager" else f"@{row['mode']}"
                lines.append(
                    f"{row['subject']}{mode} x {row['dtype']} x {row['device']}: "
                    f"{TITLES[claim]} in the baseline, not in the candidate "
                    f"(worst {drift_text(row.get(worst))})"
                )
    return lines


HEADS = ("subject", "dtype", "device", "deterministic", "batch-invariant",
         "thread-count-invariant", "identical bits (pair)")  # fmt: skip


def cells_of(row: dict) -> list[str]:
    """A row as the table's text: yes, `no (worst N ulp)`, or blank where not measured."""
    out = [row["subject"] + ("" if row["mode"] == "eager" else f" ({row['mode']})"),
           row["dtype"], row["device"]]  # fmt: skip
    for claim in CLAIMS_HELD:
        held, worst = COLUMNS[claim]
        value = row.get(held)
        out.append(
            "" if value is None else "yes" if value else f"no (worst {drift_text(row.get(worst))})"
        )
    fraction = row.get("fraction_identical")
    out.append("" if fraction is None else f"{fraction:.1%}")
    return out


def stance(options: dict) -> str:
    """Whether the run held determinism as a contract or only recorded it."""
    if options.get("deterministic"):
        return ("Run with --deterministic (the frameworks' determinism switches set): "
                "a differing bit on a repeated call fails its cell.")  # fmt: skip
    return ("Recorded, not required: a claim fails a cell only where a subject declares it, "
            "or for determinism under --deterministic.")  # fmt: skip


def overview(rows: list[dict], options: dict) -> list[str]:
    """In how many of the rows that measured it each claim held, and whether under
    --deterministic."""
    lines = []
    for claim in CLAIMS_HELD:
        held, _ = COLUMNS[claim]
        measured = [r for r in rows if r.get(held) is not None]
        if measured:
            holds = sum(bool(r[held]) for r in measured)
            lines.append(f"{TITLES[claim]}: {holds} of {len(measured)}")
    where = "subject x dtype x device x mode rows; report.json: reproducibility"
    under = " under --deterministic" if options.get("deterministic") else ""
    return [f"reproducibility{under}: {'; '.join(lines)} ({where})"] if lines else []
