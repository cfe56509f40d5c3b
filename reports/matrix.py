"""The conformance matrix: which cell goes where, and how a budget is written."""

from conformance.core.record import CellRecord, records
from conformance.core.status import NEVER_RAN


def budget_text(value) -> str:
    """A budget as the failure messages write it (3 significant digits), or a dash."""
    return f"{value:.3g}" if isinstance(value, (int, float)) else str(value or "–")


def _properties(cells: list[CellRecord]) -> list[str]:
    """The properties of `cells`, in the order they are declared."""
    from conformance.properties import PROPERTIES  # the declarations draw with Hypothesis

    names = {c.property for c in cells}
    return [p for p in PROPERTIES if p in names] + sorted(names - set(PROPERTIES))


def layout(data: dict) -> tuple[list[tuple[str, str, str]], list[tuple[str, list]]]:
    """The single-subject cells as (columns, rows): a column per device that ran x dtype x
    subject, the subjects of one dtype side by side; a row per property that has a cell there,
    in declared order, with a cell (or None) per column."""
    cells = [c for c in records(data) if not c.id.pair]
    ran = [c for c in cells if c.ended not in NEVER_RAN]
    devices = sorted({c.device for c in ran})
    subjects = [s for s in data["options"]["subjects"] if any(c.subject == s for c in cells)]
    columns = [(dev, d, s) for dev in devices for d in data["options"]["dtypes"] for s in subjects]
    by_key = {c.id.key: c for c in cells}
    rows = [(p, [by_key.get((p, s, d, dev)) for dev, d, s in columns]) for p in _properties(cells)]
    return columns, [(p, found) for p, found in rows if any(found)]


def pairs(data: dict) -> tuple[list[tuple[str, str]], list[tuple[str, list]]]:
    """The cells that check two subjects together: a column per device that ran x dtype, a row
    per property and pair."""
    cells = [c for c in records(data) if c.id.pair]
    ran = [c for c in cells if c.ended not in NEVER_RAN]
    columns = [
        (dev, d) for dev in sorted({c.device for c in ran}) for d in data["options"]["dtypes"]
    ]
    by_key = {c.id.key: c for c in cells}
    rows = [
        (f"{p} · {pair}", [by_key.get((p, pair, d, dev)) for dev, d in columns])
        for p in _properties(cells)
        for pair in sorted({c.subject for c in cells if c.property == p})
    ]
    return columns, [(name, found) for name, found in rows if any(found)]
