"""Budget used: how much of its bound a subject's result spends, and the message when it overspends."""

from dataclasses import dataclass

import numpy as np

from conformance.core.contract import Contract, bound
from conformance.core.formats import compute_format
from conformance.core.oracle import Reference


@dataclass(frozen=True)
class Verdict:
    """max |subject - oracle| / bound over one result, and where that maximum sits."""

    budget_used: float
    index: tuple[int, ...] | None
    got: float
    expected: float
    abs_error: float
    rel_error: float
    ulp_error: float
    bound: float
    over: int = 0  # elements past their bound
    size: int = 0  # elements compared

    def as_dict(self) -> dict:
        return {
            "over": self.over,
            "size": self.size,
            "budget_used": json_float(self.budget_used),
            "index": list(self.index) if self.index is not None else None,
            "got": json_float(self.got),
            "oracle": json_float(self.expected),
            "abs_error": json_float(self.abs_error),
            "rel_error": json_float(self.rel_error),
            "ulp_error": json_float(self.ulp_error),
            "bound": json_float(self.bound),
        }


def json_float(v: float | None) -> float | str | None:
    """JSON has no inf or nan: write them as strings."""
    return v if v is None or np.isfinite(v) else str(v)


def ulp(value: np.ndarray, dtype: str) -> np.ndarray:
    """Spacing of `dtype` at |value| (the subnormal spacing below the smallest normal)."""
    f = compute_format(dtype)
    mag = np.maximum(np.abs(value.astype(np.float64)), f.tiny)
    return np.exp2(np.floor(np.log2(mag))) * 2 * f.u


def limit(reference: Reference, contract: Contract) -> np.ndarray:
    """The contract's per-element bound around this oracle result."""
    return bound(contract, reference)


def assess(got: np.ndarray, expected: np.ndarray, limit: np.ndarray, dtype: str) -> Verdict:
    """max |got - expected| / limit, where, and by how much (vectorised, on the host)."""
    if got.size == 0:
        return Verdict(0.0, None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        same = got.astype(expected.dtype)
        # equal values (infinities too) and NaN against NaN are no error (self-comparisons)
        agree = (same == expected) | (np.isnan(same) & np.isnan(expected))
        error = np.where(agree, 0.0, np.abs(same - expected))
        error = np.where(np.isnan(error), np.inf, error)
        # an infinite bound admits anything; a zero bound (an exact claim) only no error
        counted = ~np.isinf(limit) & (error != 0)
        ratio = np.divide(error, limit, out=np.zeros_like(error), where=counted)
    flat = int(np.argmax(ratio))
    index = tuple(int(i) for i in np.unravel_index(flat, ratio.shape))
    value = float(expected[index])
    abs_error = float(error[index])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = abs_error / abs(value) if value != 0 else (0.0 if abs_error == 0 else np.inf)
        ulps = abs_error / float(ulp(expected[index], dtype))
    return Verdict(
        budget_used=float(ratio[index]),
        index=index,
        got=float(got[index]),
        expected=value,
        abs_error=abs_error,
        rel_error=float(rel),
        ulp_error=float(ulps),
        bound=float(limit[index]),
        over=int(np.count_nonzero(ratio > 1)),
        size=int(ratio.size),
    )


def overspend_message(who: str, what: str, verdict: Verdict) -> str:
    """One line that says which subject left its bound, by how much, at which element."""
    return (
        f"{who} left its {what} bound at element {verdict.index}: got {verdict.got!r}, "
        f"oracle {verdict.expected!r}, |error| {verdict.abs_error:.3g} ({verdict.ulp_error:.3g} ulp, "
        f"rel {verdict.rel_error:.3g}) > bound {verdict.bound:.3g}: budget used {verdict.budget_used:.3g}; "
        f"{verdict.over} of {verdict.size} elements over their bound"
    )
