"""A cell: what one property saw on one square of the matrix (property x subject x dtype x device),
recorded as it happens. The judge (`core.judge`) decides whether each comparison or observation
passes, is known, or fails; the cell keeps count: examples, budget used, the worst and the failing
case, coverage, the registry entries met, what subjects declined.

Each cell is its own test item, so one subject's failure never stops another subject's search.
"""

from collections import Counter
from typing import NoReturn

import numpy as np

from conformance.core.budget import Verdict, json_float
from conformance.core.evidence import pack
from conformance.core.identity import CellId
from conformance.core.judge import Finding, Judge
from conformance.core.observation import Observation
from conformance.core.record import CellRecord
from conformance.core.reproducibility import Tally, ThreadPeer
from conformance.core.status import NEVER_RAN, Status


class SubjectFailure(AssertionError):
    """A subject broke the property on this example."""


def buckets(example) -> list[str]:
    """The coverage buckets an example (a Case, or one carrying a Case in `.case`) reaches."""
    return (example if hasattr(example, "coverage") else example.case).coverage()


class Cell:
    """The record being filled of one cell (see the module's docstring)."""

    def __init__(self, id: CellId, judge: Judge):
        self.id = id
        self.judge = judge
        self.examples = 0
        self.budgets: list[float] = []  # budget used by every check of every example
        self.worst_budget: float | None = None
        self.worst: dict | None = None
        self.failure: dict | None = None
        #: the failing example and the evidence arrays (expected, bound, got) of `failure`,
        #: packed for its reproducer only when the cell's record is made (`record_of`)
        self.failing: tuple[object, dict] | None = None
        self.coverage: Counter[str] = Counter()
        #: the buckets the cell's strategy promises to reach (aimed at once its draws are done)
        self.promised: frozenset[str] = frozenset()
        #: registry entries met, by id
        self.reproduced: Counter[str] = Counter()
        self.skip_reason: str | None = None
        #: examples a subject declared it cannot take, by "label: reason"
        self.unsupported: Counter[str] = Counter()
        #: its shapes come from a fixed pool of this many (a subject compiles per shape), or None
        self.shape_pool: int | None = None
        #: per subject label: the contract its bounds use and the looser ones it may be observed in
        self.contracts: dict[str, dict] = {}
        #: the reproducibility claims this run holds as contracts ("deterministic" under
        #: --deterministic); a subject's own (batch_invariant, thread_invariant) it declares itself
        self.required: frozenset[str] = frozenset()
        #: what a reproducibility property compared (None for the other properties)
        self.tally: Tally | None = None
        #: computes a subject's results in a process at another thread count (thread_counts
        #: cells only; the runner provides it)
        self.peer: ThreadPeer | None = None
        self._example = None

    # -- who and what: read by the properties --------------------------------------------------
    @property
    def subject(self) -> str:
        return self.id.label

    @property
    def dtype(self) -> str:
        return self.id.dtype

    @property
    def device(self) -> str:
        return self.id.device

    # -- what was seen -------------------------------------------------------------------------
    def example(self, example) -> None:
        """Start one example (a Case, or an example carrying one in `.case`)."""
        self.examples += 1
        self._example = example
        self.coverage.update(buckets(example))

    def decline(self, label: str, reason: str) -> None:
        """A subject declares the example unsupported: counted by reason, not checked."""
        self.unsupported[f"{label}: {reason}"] += 1

    def record(self, who: str, what: str, verdict: Verdict) -> None:
        """Record a subject's budget used on this example (the worst one is kept)."""
        budget = verdict.budget_used
        self.budgets.append(budget)
        if self.worst_budget is None or budget > self.worst_budget:
            self.worst_budget = budget
            self.worst = {
                "case": self._summary(),
                "subject": who,
                "what": what,
                **verdict.as_dict(),
            }

    def settle(self, finding: Finding, **evidence) -> None:
        """What the judge found: nothing to keep (a pass), registry entries met (known), or a
        failure (raised, with its evidence and `evidence`)."""
        __tracebackhide__ = True
        for entry in finding.known:
            self.reproduced[entry.id] += 1
        if finding.failure is not None:
            self.fail(finding.failure, **{**finding.evidence, **evidence})

    def deviation(self, who: str, observation: Observation, context: str = "", **evidence) -> None:
        """`who` did not behave as the property claims: known where the judge finds the registry
        explains it, else a failure (`evidence` goes into its reproducer)."""
        __tracebackhide__ = True
        self.settle(self.judge.observe(who, observation, context), **evidence)

    def fail(self, message: str, **evidence) -> NoReturn:
        """This example breaks the property: keep the example, what was expected and what came
        back, and raise."""
        __tracebackhide__ = True
        arrays = {name: evidence.pop(name, None) for name in ("expected", "bound", "got")}
        self.failing = (self._example, arrays)
        self.failure = {"case": self._summary(), "message": message, **evidence}
        raise SubjectFailure(message)

    # -- the failure on a smaller example (runner.reduction) --------------------------------------
    def scratch(self) -> "Cell":
        """A cell of the same identity and judge that records nothing in this one: for trying an
        example (a smaller failing one) without counting it."""
        return Cell(self.id, self.judge)

    def adopt(self, other: "Cell", reduced_from: dict | None) -> None:
        """Take the failure `other` (a scratch cell) found on a smaller example as this cell's,
        saying which case it was reduced from."""
        assert other.failure is not None
        self.failure = {**other.failure, "reduced_from": reduced_from}
        self.failing = other.failing

    def close(self) -> None:
        """No more examples: let go of the last one and of the failing one (its record has been
        made), so that a run's cells do not hold one example each to its end."""
        self._example = None
        self.failing = None

    # -- how it ended ----------------------------------------------------------------------------
    def unreached(self) -> list[str]:
        """The promised buckets no example has reached yet."""
        return sorted(self.promised - self.coverage.keys())

    def status(self) -> Status:
        if self.skip_reason is not None or (self.unsupported and not self.examples):
            return Status.SKIPPED
        if self.failure is not None:
            return Status.FAIL
        if self.reproduced:
            return Status.KNOWN_DIVERGENCE
        return Status.PASS

    def reason(self) -> str | None:
        status = self.status()
        if status == Status.SKIPPED:
            unsupported = "; ".join(sorted(self.unsupported))
            return self.skip_reason or f"no example it could take ({unsupported})"
        if status == Status.FAIL and self.failure is not None:
            return self.failure["message"]
        if status == Status.KNOWN_DIVERGENCE:
            return "known divergence " + ", ".join(sorted(self.reproduced))
        return None

    def packed_failure(self) -> dict | None:
        """The failure with its example and evidence packed for the reproducer (`arrays`), or
        why they could not be (`unstored`)."""
        if self.failure is None or self.failing is None:
            return self.failure
        example, evidence = self.failing
        arrays = {} if example is None else dict(example.arrays())  # type: ignore[attr-defined]
        packed, unstored = pack(self.dtype, {**arrays, **evidence})
        return {**self.failure, "arrays": packed, "unstored": unstored}

    def _summary(self) -> dict | None:
        return None if self._example is None else self._example.case.summary()

    def record_of(self, status: Status | None = None, reason: str | None = None) -> CellRecord:
        """The cell's record; `status` and `reason` where the runner settled them otherwise (a
        skip, an error, a crash)."""
        final = status or self.status()
        if final in NEVER_RAN:
            outcomes = {e.id: "not-run" for e in self.judge.entries}
        else:
            outcomes = {
                e.id: "reproduced" if self.reproduced[e.id] else "not reproduced"
                for e in self.judge.entries
            }
        return CellRecord(
            property=self.id.property,
            subject=self.id.label,
            dtype=self.dtype,
            device=self.device,
            mode=self.id.mode,
            status=str(final),
            reason=reason if status else self.reason(),
            examples=self.examples,
            worst_budget_used=json_float(self.worst_budget),
            budget_quantiles=quantiles(self.budgets),
            worst=self.worst,
            failure=self.packed_failure(),
            coverage=dict(self.coverage),
            unreached=self.unreached(),
            divergences=outcomes,
            contracts=self.contracts,
            shape_pool=self.shape_pool,
            unsupported=dict(self.unsupported),
            reproducibility=None if self.tally is None else self.tally.to_json(),
            nodeid=self.id.node_id,
        )


def quantiles(budgets: list[float]) -> dict | None:
    """The distribution of budget used over every check: count, median, p90, p99, max."""
    if not budgets:
        return None
    values = np.asarray(budgets, dtype=np.float64)
    finite = values[np.isfinite(values)]
    points = np.quantile(finite, [0.5, 0.9, 0.99]) if finite.size else [float("inf")] * 3
    return {
        "checks": int(values.size),
        "p50": json_float(float(points[0])),
        "p90": json_float(float(points[1])),
        "p99": json_float(float(points[2])),
        "max": json_float(float(values.max())),
    }
