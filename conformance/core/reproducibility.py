"""Reproducibility: whether a subject gives the same bits again for the same numbers. Four claims,
each a property of its own: a second call on the same input (`deterministic`), a row computed in
another batch (`batch_invariant`), another framework thread count (`thread_invariant`), and for a
pair of subjects, how many elements the two give identically (`bitwise_identical`, a statistic).

A `Tally` counts what one cell compared: examples, elements, elements whose bits differed, and the
worst drift between the two results, in units in the last place of their format at the magnitude
of the terms an element sums. A claim holds when nothing differed. It is a contract only
where the run or the subject asks for one (`--deterministic`; a subject's `batch_invariant` or
`thread_invariant`); otherwise the tally is recorded (report.json: a cell's `reproducibility`).
"""

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from conformance.core.budget import json_float, ulp

CLAIMS = ("deterministic", "batch_invariant", "thread_invariant", "bitwise_identical")


def drift_ulp(first: np.ndarray, second: np.ndarray, dtype: str, scale=None) -> np.ndarray:
    """|first - second| element by element, in units in the last place of `dtype` at `scale`:
    the magnitude of the terms each element summed (sum of |x_k w_k|, plus |b|: the size at which
    its sum was rounded, so that a result near zero after cancellation drifts by the rounding of
    its terms, not by its own tiny spacing); without one, at the larger finite magnitude of the
    two results. 0 for NaN against NaN; inf where one is NaN or infinite and the other is not."""
    a, b = first.astype(np.float64), second.astype(np.float64)
    if scale is None:
        finite = np.concatenate([np.abs(a[np.isfinite(a)]), np.abs(b[np.isfinite(b)])])
        scale = float(finite.max()) if finite.size else 0.0
    with np.errstate(invalid="ignore"):
        gap = np.abs(a - b)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    gap = np.where(same, 0.0, np.where(np.isnan(gap), np.inf, gap))
    with np.errstate(invalid="ignore"):
        drift = gap / ulp(np.broadcast_to(np.asarray(scale, np.float64), gap.shape), dtype)
    return np.where(np.isnan(drift), np.inf, drift)


def bits_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each element's bits differ (so -0 and +0 differ, and NaN payloads count)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError("compare arrays of one shape and dtype")
    bits = np.dtype(f"u{a.dtype.itemsize}")
    return np.ascontiguousarray(a).view(bits) != np.ascontiguousarray(b).view(bits)


@dataclass
class Difference:
    """Where two results of one comparison drifted furthest apart, among the elements whose
    bits differ."""

    what: str
    index: tuple[int, ...]
    first: float
    second: float
    ulp: float
    differing: int
    elements: int

    def describe(self, first: str, second: str) -> str:
        return (
            f"{self.what} at element {list(self.index)}: {self.first!r} {first}, "
            f"{self.second!r} {second} ({self.ulp:.3g} ulp of its terms' magnitude apart; {self.differing} of "
            f"{self.elements} elements differ)"
        )


@dataclass
class Tally:
    """What one cell compared for one claim, over all its examples."""

    claim: str
    examples: int = 0
    elements: int = 0
    differing: int = 0
    worst_ulp: float = 0.0
    #: the thread counts compared (thread_invariant only)
    threads: tuple[int, int] | None = None
    #: examples with nothing to compare (an empty batch)
    empty: int = 0
    #: held as a contract (a difference fails the cell), not only recorded
    required: bool = False
    #: the difference of the worst drift, described, with the example it was found on
    worst: str | None = None

    def compare(
        self, what: str, first: np.ndarray, second: np.ndarray, labels=("first", "second"),
        on: str = "", scale=None,
    ) -> Difference | None:  # fmt: skip
        """Count one comparison of two results (of one dtype: bits; of two: their values) made
        on the example `on` describes, their drift measured at `scale` (drift_ulp); the element
        that drifted furthest among those whose bits differ, or None when every bit agrees."""
        first, second = np.asarray(first), np.asarray(second)
        dtype = first.dtype.name
        if first.dtype != second.dtype:  # values compared where the formats differ
            first, second = first.astype(np.float64), second.astype(np.float64)
        differ = bits_differ(first, second)
        self.elements += differ.size
        count = int(differ.sum())
        if not count:
            return None
        self.differing += count
        distance = np.where(differ, drift_ulp(first, second, dtype, scale), -1.0)
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(distance)), differ.shape))
        found = Difference(what, index, first[index].item(), second[index].item(),
                           float(distance[index]), count, differ.size)  # fmt: skip
        if self.worst is None or found.ulp > self.worst_ulp:
            self.worst_ulp = found.ulp
            self.worst = found.describe(*labels) + (f", {on}" if on else "")
        return found

    def example(self, compared: bool = True) -> None:
        """Count an example (one with nothing to compare, such as an empty batch, as empty)."""
        self.examples += 1
        self.empty += not compared

    @property
    def holds(self) -> bool | None:
        """Whether the claim held over every compared element (None: nothing was compared)."""
        return None if self.elements == 0 else self.differing == 0

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            "claim": self.claim,
            "holds": self.holds,
            "examples": self.examples,
            "elements": self.elements,
            "differing": self.differing,
            "worst_drift_ulp": json_float(self.worst_ulp),
            "empty_examples": self.empty,
            "required": self.required,
            "worst": self.worst,
        }
        if self.threads is not None:
            data["threads"] = list(self.threads)
        if self.claim == "bitwise_identical":
            data["fraction_identical"] = (
                None if not self.elements else 1 - self.differing / self.elements
            )
        return data


class ThreadPeer(Protocol):
    """Computes a subject's results in another process at another framework thread count (the
    runner's `peer.Peer`)."""

    #: the thread count there, and that of the process it serves
    threads: int
    here: int

    def results(self, subject, case, upstream) -> dict:
        """{"forward": y, "gradients": (dx, dweight, dbias) or None} for `case` there."""
        ...


# -- the reproducibility table's rows (report.json: reproducibility) ------------------------
#: claim -> (the table's column for whether it held, its column for the worst drift)
COLUMNS = {
    "deterministic": ("deterministic", "worst_drift_ulp"),
    "batch_invariant": ("batch_invariant", "worst_batch_drift_ulp"),
    "thread_invariant": ("thread_invariant", "worst_thread_drift_ulp"),
    "bitwise_identical": ("fraction_identical", None),
}
#: the claims a regression can lose (a statistic cannot)
CLAIMS_HELD = ("deterministic", "batch_invariant", "thread_invariant")
#: how the table names each claim for people
TITLES = {
    "deterministic": "deterministic",
    "batch_invariant": "batch-invariant",
    "thread_invariant": "thread-count-invariant",
    "fraction_identical": "identical bits",
}


def describe(row: dict) -> str:
    """One line for a row: `torch float32 cpu: deterministic; not batch-invariant (worst 3 ulp)`."""
    parts = []
    for claim in CLAIMS_HELD:
        held, worst = COLUMNS[claim]
        value = row.get(held)
        if value is True:
            parts.append(TITLES[claim])
        elif value is False:
            parts.append(f"not {TITLES[claim]} (worst {drift_text(row.get(worst))})")
    if row.get("fraction_identical") is not None:
        parts.append(f"{row['fraction_identical']:.1%} of elements with identical bits")
    mode = "" if row["mode"] == "eager" else f" ({row['mode']})"
    found = "; ".join(parts) or "nothing compared (every example an empty batch)"
    return f"{row['subject']}{mode} {row['dtype']} {row['device']}: {found}"


def drift_text(value) -> str:
    """A worst drift as the table prints it ("3 ulp"; "?" where not recorded)."""
    if value is None:
        return "?"
    if isinstance(value, str):
        return f"{value} ulp"
    return f"{value:.3g} ulp"
