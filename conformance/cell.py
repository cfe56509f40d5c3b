"""A cell: what one property saw on one square of the matrix (property x subject x dtype x device).

Each cell is its own test item, so one subject's failure never stops another subject's search.
"""

from collections import Counter

import numpy as np
from hypothesis import event, target

from conformance.budget import Verdict, json_float, overspend_message
from conformance.divergence import Divergence
from conformance.evidence import pack
from reports.report import NEVER_RAN


class SubjectFailure(AssertionError):
    """A subject broke the property on this example."""


class Cell:
    """Accumulates examples, budget used, the worst and the failing case, coverage and divergences."""

    #: the run's --tf32 policy: under framework-default a TF32 contract is held to strict float32
    tf32 = "framework-default"

    def __init__(
        self,
        prop: str,
        subject: str,
        dtype: str,
        device: str,
        divergences: tuple[Divergence, ...] = (),
    ):
        self.property = prop
        self.subject = subject
        self.dtype = dtype
        self.device = device
        self.divergences = divergences
        self.examples = 0
        self.budgets: list[float] = []  # budget used by every check of every example
        self.worst_budget: float | None = None
        self.worst: dict | None = None
        self.failure: dict | None = None
        self.coverage: Counter[str] = Counter()
        self.reproduced: Counter[str] = Counter()
        self.skip_reason: str | None = None
        self.contracts: dict[
            str, dict
        ] = {}  # per subject label: the precision assumptions of its bounds
        self._case = None
        self._extra: dict = {}

    def example(self, case, **extra) -> None:
        """Start one example; `extra` arrays (an upstream gradient, SGD batches) go into reproducers."""
        self.examples += 1
        self._case = case
        self._extra = extra
        self.coverage.update(case.coverage())

    def record(self, who: str, what: str, verdict: Verdict) -> None:
        """Record a subject's budget used on this example (the worst one is kept)."""
        budget = verdict.budget_used
        self.budgets.append(budget)
        if budget < float("inf"):
            target(budget, label=f"budget used ({who}, {what})")
        if self.worst_budget is None or budget > self.worst_budget:
            self.worst_budget = budget
            self.worst = {
                "case": self._summary(),
                "subject": who,
                "what": what,
                **verdict.as_dict(),
            }

    def spend(
        self, who: str, what: str, verdict: Verdict, expected=None, bound=None
    ) -> None:
        """Record a subject's budget used on this example; fail when it exceeds 1."""
        self.record(who, what, verdict)
        if verdict.budget_used > 1:
            message = overspend_message(who, what, verdict)
            self.fail(
                message,
                verdict=verdict.as_dict(),
                what=what,
                expected=expected,
                bound=bound,
            )

    def deviation(self, who: str, observation: str, **evidence) -> None:
        """`who` did not behave as the property claims: a known divergence here, or a failure.

        `evidence` (expected=..., bound=...) goes with the failure into its reproducer.
        """
        for entry in self.divergences:
            if entry.matches(observation):
                self.reproduced[entry.id] += 1
                event(f"known divergence {entry.id}")
                return
        self.fail(f"{who} {observation}", **evidence)

    def fail(self, message: str, *, expected=None, bound=None, **detail) -> None:
        """This example breaks the property: keep the case, its arrays and what was expected, and raise."""
        case = self._case
        arrays = (
            {}
            if case is None
            else {"x": case.x, "weight": case.weight, "bias": case.bias}
        )
        arrays.update(self._extra, expected=expected, bound=bound)
        self.failure = {
            "case": self._summary(),
            "message": message,
            **detail,
            "arrays": pack(self.dtype, arrays),
        }
        raise SubjectFailure(message)

    def _summary(self) -> dict | None:
        return None if self._case is None else self._case.summary()

    def status(self) -> str:
        if self.skip_reason is not None:
            return "skipped"
        if self.failure is not None:
            return "fail"
        if self.reproduced:
            return "known-divergence"
        return "pass"  # the controller marks it divergence-resolved if no cell reproduced its entries

    def reason(self) -> str | None:
        status = self.status()
        if status == "skipped":
            return self.skip_reason
        if status == "fail":
            return self.failure["message"]
        if status == "known-divergence":
            return "known divergence " + ", ".join(sorted(self.reproduced))
        return None

    def divergence_outcomes(self) -> dict[str, str]:
        """For each entry this cell could reach: reproduced, or not reproduced in any example."""
        return {
            e.id: "reproduced" if self.reproduced[e.id] else "not reproduced"
            for e in self.divergences
        }

    def as_dict(self, status: str | None = None, reason: str | None = None) -> dict:
        return {
            "property": self.property,
            "subject": self.subject,
            "dtype": self.dtype,
            "device": self.device,
            "status": status or self.status(),
            "reason": reason if status else self.reason(),
            "examples": self.examples,
            "worst_budget_used": json_float(self.worst_budget),
            "budget_quantiles": quantiles(self.budgets),
            "worst": self.worst,
            "failure": self.failure,
            "coverage": dict(self.coverage),
            # a cell that never ran its examples says nothing about the entries it could reach
            "divergences": {}
            if (status or self.status()) in NEVER_RAN
            else self.divergence_outcomes(),
            "contracts": self.contracts,
        }


def quantiles(budgets: list[float]) -> dict | None:
    """The distribution of budget used over every check: count, median, p90, p99, max."""
    if not budgets:
        return None
    values = np.asarray(budgets, dtype=np.float64)
    finite = values[np.isfinite(values)]
    points = (
        np.quantile(finite, [0.5, 0.9, 0.99]) if finite.size else [float("inf")] * 3
    )
    return {
        "checks": int(values.size),
        "p50": json_float(float(points[0])),
        "p90": json_float(float(points[1])),
        "p99": json_float(float(points[2])),
        "max": json_float(float(values.max())),
    }
