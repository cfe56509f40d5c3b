"""A cell's record: what one cell of the matrix saw, as report.json holds it, typed. The runner
makes one per cell, the replay reads its failure, the reports read and merge them (by attribute,
never by string key); the report's JSON Schema is checked against these fields."""

import builtins
from dataclasses import asdict, dataclass, field, fields

from conformance.core.identity import CellId
from conformance.core.status import Status


@dataclass
class CellRecord:
    """One cell: its identity, how it ended, how much it checked and spent, and why."""

    property: str
    subject: str  # the label: one subject (torch@compile) or a pair (torch vs keras/tensorflow)
    dtype: str
    device: str
    status: str  # a Status
    reason: str | None = None
    mode: str = "eager"
    examples: int = 0
    worst_budget_used: float | str | None = None  # inf and nan as strings
    #: budget used over every check: checks, p50, p90, p99, max (None: no check ran)
    budget_quantiles: dict | None = None
    #: the case and element where the most budget was used
    worst: dict | None = None
    #: the failing case, message, verdict, reproducer (None: it did not fail)
    failure: dict | None = None
    #: examples per coverage bucket
    coverage: dict[str, int] = field(default_factory=dict)
    #: buckets the cell's strategy promised that no example reached
    unreached: list[str] = field(default_factory=list)
    #: per registry entry the cell reaches: reproduced, not reproduced or not-run
    divergences: dict[str, str] = field(default_factory=dict)
    #: per subject label: the contract its bounds used and the looser ones it may fall back to
    contracts: dict[str, dict] = field(default_factory=dict)
    #: its shapes came from a fixed pool of this many (a subject compiles per shape), or None
    shape_pool: int | None = None
    #: examples a subject declared it cannot take, by "label: reason"
    unsupported: dict[str, int] = field(default_factory=dict)
    #: what a reproducibility property compared (core.reproducibility.Tally), else None
    reproducibility: dict | None = None
    nodeid: str = ""
    duration_s: float = 0.0
    worker: str = "main"

    @builtins.property
    def id(self) -> CellId:
        return CellId.of(self.property, self.subject, self.dtype, self.device)

    @builtins.property
    def ended(self) -> Status:
        return Status(self.status)

    @builtins.property
    def budget(self) -> float | None:
        """The worst budget used, where it is a finite number."""
        value = self.worst_budget_used
        return float(value) if isinstance(value, (int, float)) else None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "CellRecord":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def records(report: dict) -> list[CellRecord]:
    """The cells of a report (its JSON), typed."""
    return [CellRecord.from_json(c) for c in report["cells"]]
