"""A cell: what one property saw on one square of the matrix (property x subject x dtype x device).

Each cell is its own test item, so one subject's failure never stops another subject's search.
"""

import re
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import NoReturn

import numpy as np
from hypothesis import event
from hypothesis.control import currently_in_test_context

from conformance import signals
from conformance.core.budget import Verdict, json_float
from conformance.core.contract import Judgement, judgement
from conformance.core.evidence import pack
from conformance.core.observation import Observation
from conformance.core.status import NEVER_RAN, Status
from conformance.divergence import Divergence


def buckets(example) -> list[str]:
    """The coverage buckets an example (a Case, or one carrying a Case in `.case`) reaches."""
    return (example if hasattr(example, "coverage") else example.case).coverage()


class SubjectFailure(AssertionError):
    """A subject broke the property on this example."""


def reproducer_name(nodeid: str) -> str:
    """The file name (without suffix) of a cell's reproducer: its test name and parameters."""
    name = nodeid.split("::")[-1].removeprefix("test_")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def replay_command(script: str | Path, python: str = sys.executable) -> str:
    """The command that runs a reproducer script pasted into any shell, in any directory: the
    interpreter that ran the suite and the script, both by their full paths."""
    return shlex.join([python, str(Path(script).absolute())])


class Cell:
    """Accumulates examples, budget used, the worst and the failing case, coverage and divergences."""

    def __init__(
        self,
        prop: str,
        subject: str,
        dtype: str,
        device: str,
        divergences: tuple[Divergence, ...] = (),
        tf32: str = "framework-default",
    ):
        self.property = prop
        self.subject = subject
        #: the execution mode, from the label (torch@compile); a pair of subjects runs eagerly
        self.mode = "eager" if " vs " in subject else subject.partition("@")[2] or "eager"
        self.dtype = dtype
        self.device = device
        self.divergences = divergences
        #: the run's --tf32 policy (see conformance.core.contract.judgement)
        self.tf32 = tf32
        self.examples = 0
        self.budgets: list[float] = []  # budget used by every check of every example
        self.worst_budget: float | None = None
        self.worst: dict | None = None
        self.failure: dict | None = None
        #: the failing example and the evidence arrays (expected, bound, got) of `failure`,
        #: packed for its reproducer only when the cell's record is made (`as_dict`)
        self.failing: tuple[object, dict] | None = None
        self.coverage: Counter[str] = Counter()
        #: the buckets the cell's strategy promises to reach (aimed at once its draws are done)
        self.promised: frozenset[str] = frozenset()
        self.reproduced: Counter[str] = Counter()
        self.skip_reason: str | None = None
        #: examples a subject declared it cannot take, by "label: reason"
        self.unsupported: Counter[str] = Counter()
        #: its shapes come from a fixed pool of this many (a subject compiles per shape), or None
        self.shape_pool: int | None = None
        #: per subject label: the contract its bounds use and the looser ones it may be observed in
        self.contracts: dict[str, dict] = {}
        self._judged: dict[tuple[str, str], Judgement] = {}
        self._example = None

    def judged(self, subject, device: str) -> Judgement:
        """The contract `subject` is held to on `device` in this cell, and its looser ones."""
        key = (subject.label, device)
        if key not in self._judged:
            self._judged[key] = judgement(
                subject.contract(self.dtype, device),
                subject.contract("float32", device),
                self.tf32,
            )
        return self._judged[key]

    def describe_contracts(self, subjects) -> None:
        """Record, per subject, the contract of this cell and the observations it can fall back to."""
        for subject in subjects:
            judged = self.judged(subject, self.device)
            self.contracts[subject.label] = {
                **judged.contract.as_dict(),
                "observable": [str(code) for code in judged.looser],
                "mode": subject.mode_contract(),
            }

    def example(self, example) -> None:
        """Start one example (a Case, or an example carrying one in `.case`)."""
        signals.check()  # a safe point for an interrupt a finalizer swallowed
        self.examples += 1
        self._example = example
        self.coverage.update(buckets(example))

    def close(self) -> None:
        """No more examples: let go of the last one and of the failing one (its record has been
        made), so that a run's cells do not hold one example each to its end (an aimed example of
        2^20+ elements holds 8-32 MB)."""
        self._example = None
        self.failing = None

    def scratch(self) -> "Cell":
        """A cell of the same identity, registry entries and contracts that records nothing in
        this one: for trying an example (a smaller failing one) without counting it."""
        other = Cell(self.property, self.subject, self.dtype, self.device, self.divergences,
                     self.tf32)  # fmt: skip
        other._judged = self._judged
        return other

    def adopt(self, other: "Cell", reduced_from: dict | None) -> None:
        """Take the failure `other` (a scratch cell) found on a smaller example as this cell's,
        saying which case it was reduced from."""
        assert other.failure is not None
        self.failure = {**other.failure, "reduced_from": reduced_from}
        self.failing = other.failing

    def declined(self, checked, example) -> bool:
        """Whether a subject of `checked` (a subject or a pair) declares `example` unsupported
        (counted by reason, not checked)."""
        for subject in checked if isinstance(checked, tuple) else (checked,):
            reason = subject.unsupported_case(example.case)
            if reason:
                self.unsupported[f"{subject.label}: {reason}"] += 1
                return True
        return False

    def unreached(self) -> list[str]:
        """The promised buckets no example has reached yet."""
        return sorted(self.promised - self.coverage.keys())

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

    def explains(self, observation: Observation) -> tuple[Divergence, ...] | None:
        """The entries that together explain every code of `observation` here, or None."""
        found = []
        for code in observation.codes:
            entry = next((e for e in self.divergences if e.explains(code, observation)), None)
            if entry is None:
                return None
            found.append(entry)
        return tuple(dict.fromkeys(found))

    def deviation(self, who: str, observation: Observation, context: str = "", **evidence) -> None:
        """`who` did not behave as the property claims: a known divergence where the registry
        explains the observation, else a failure (`evidence` goes into its reproducer)."""
        __tracebackhide__ = True
        entries = self.explains(observation)
        if entries is not None:
            for entry in entries:
                self.reproduced[entry.id] += 1
                if currently_in_test_context():
                    event(f"known divergence {entry.id}")
            return
        message = (
            f"{who} {observation.text}, which no registry entry allows here [{observation.names()}]"
        )
        self.fail(f"{message}: {context}" if context else message, **evidence)

    def fail(self, message: str, **evidence) -> NoReturn:
        """This example breaks the property: keep the example, what was expected and what came back, and raise."""
        __tracebackhide__ = True
        arrays = {name: evidence.pop(name, None) for name in ("expected", "bound", "got")}
        self.failing = (self._example, arrays)
        self.failure = {"case": self._summary(), "message": message, **evidence}
        raise SubjectFailure(message)

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

    def divergence_outcomes(self, status: Status) -> dict[str, str]:
        """For each entry this cell reaches: reproduced, not reproduced, or not-run."""
        if status in NEVER_RAN:
            return {e.id: "not-run" for e in self.divergences}
        return {
            e.id: "reproduced" if self.reproduced[e.id] else "not reproduced"
            for e in self.divergences
        }

    def as_dict(self, status: Status | None = None, reason: str | None = None) -> dict:
        final = status or self.status()
        return {
            "property": self.property,
            "subject": self.subject,
            "dtype": self.dtype,
            "device": self.device,
            "mode": self.mode,
            "status": str(final),
            "reason": reason if status else self.reason(),
            "examples": self.examples,
            "worst_budget_used": json_float(self.worst_budget),
            "budget_quantiles": quantiles(self.budgets),
            "worst": self.worst,
            "failure": self.packed_failure(),
            "coverage": dict(self.coverage),
            "unreached": self.unreached(),
            "divergences": self.divergence_outcomes(final),
            "contracts": self.contracts,
            "shape_pool": self.shape_pool,
            "unsupported": dict(self.unsupported),
        }


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
