"""What the properties share: calling a subject on a case, spending budget, exact comparisons."""

import functools

import numpy as np

from conformance.budget import assess, limit, overspend_message
from conformance.cell import Cell
from conformance.contract import (
    ContractError,
    float32_evaluation,
    past_float32_range,
    reduced_accumulation,
    without_tf32,
)
from conformance.subjects import Subject, loaded_layer
from strategies import Case


def forward(
    cell: Cell, subject: Subject, case: Case, x: np.ndarray | None = None
) -> np.ndarray:
    """The subject's result for `case` (or for `x` through the case's layer); the shape is checked first."""
    x = case.x if x is None else x
    got = subject.forward(loaded_layer(subject, case), x)
    expected = (*x.shape[:-1], case.out_features)
    if not isinstance(got, np.ndarray) or got.shape != expected:
        shape = getattr(got, "shape", type(got).__name__)
        cell.fail(
            f"{subject.label} returned shape {shape} for x of shape {x.shape}; expected {expected}"
        )
    return got


def within_bound(
    cell: Cell,
    subject: Subject,
    what: str,
    got,
    expected,
    bound_for=None,
    device: str | None = None,
) -> None:
    """Spend `subject`'s budget: |got - expected| against the bound its contract gives this comparison.

    `expected` is an oracle Reference (bound: the contract's bound around it), or an array with
    `bound_for(contract)` deriving its bound. The contract is the subject's on `device` (default:
    the cell's). A result past that bound is observed rather than failed outright where it fits
    a named looser contract: "accumulates its <what> in <dtype>" (accumulation in the output
    format), "computes its <what> in float32" (a float64 result evaluated in float32), or,
    under --tf32 framework-default, "float32 result within the TF32 bound only" (a framework
    that turns TF32 on by itself is held to strict float32 first); a worst element that is inf
    or NaN where the oracle's is finite is observed as "returns a non-finite <what> where the
    exact one is finite". An observation is
    a known divergence where the registry says so, a failure elsewhere.
    """
    if bound_for is None:
        expected, bound_for = expected.value, functools.partial(limit, expected)
    contract = subject.contract(cell.dtype, device or cell.device)
    # (looser contract, observation, where it admits any result)
    looser = [
        (
            reduced_accumulation(contract),
            f"accumulates its {what} in {cell.dtype}",
            None,
        ),
        (
            float32_evaluation(contract),
            f"computes its {what} in float32",
            past_float32_range,
        ),
    ]
    strict = without_tf32(contract) if cell.tf32 == "framework-default" else None
    if strict is not None:
        looser.insert(0, (contract, "float32 result within the TF32 bound only", None))
        contract = strict
    bound = bound_for(contract)
    verdict = assess(got, expected, bound, cell.dtype)
    fitting = verdict.budget_used > 1 and next(
        (
            text
            for c, text, anything in looser
            if _fits(got, expected, bound_for, c, anything)
        ),
        None,
    )
    if verdict.budget_used > 1 and not fitting and _overflowed(verdict):
        fitting = f"returns a non-finite {what} where the exact one is finite"
    if fitting:
        cell.record(subject.label, what, verdict)
        cell.deviation(
            subject.label,
            f"{fitting}: {overspend_message(subject.label, what, verdict)}",
            verdict=verdict.as_dict(),
            what=what,
            expected=expected,
            bound=bound,
        )
        return
    cell.spend(subject.label, what, verdict, expected=expected, bound=bound)


def _overflowed(verdict) -> bool:
    """The worst element is inf or NaN where the oracle's is finite (an overflow, or inf * 0)."""
    return not np.isfinite(verdict.got) and np.isfinite(verdict.expected)


def _fits(got, expected, bound_for, contract, anything=None) -> bool:
    """Whether `got` lies within the looser `contract`'s bound (anywhere where `anything(bound)`)."""
    if contract is None:
        return False
    try:
        bound = bound_for(contract)
    except ContractError:  # a sum too long for that accumulation to bound at all
        return False
    if anything is not None:
        bound = np.where(anything(bound), np.inf, bound)
    return assess(got, expected, bound, contract.dtype).budget_used <= 1


def gradients(cell: Cell, subject: Subject, case: Case, upstream: np.ndarray):
    """The subject's (dx, dweight, dbias) for `case`, their shapes and dtypes checked first."""
    dx, dweight, dbias = subject.gradients(
        loaded_layer(subject, case), case.x, upstream
    )
    expected = {
        "input": case.x.shape,
        "weight": case.weight.shape,
        "bias": getattr(case.bias, "shape", None),
    }
    for name, got in (("input", dx), ("weight", dweight), ("bias", dbias)):
        shape = getattr(got, "shape", None)
        if shape != expected[name]:
            cell.fail(
                f"{subject.label} returned a {name} gradient of shape {shape}; expected {expected[name]}"
            )
        if got is not None and got.dtype != case.x.dtype:
            cell.deviation(
                subject.label, f"returns {got.dtype} gradients for {case.dtype}"
            )
    return dx, dweight, dbias


def first_bit_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first element whose bits differ (so -0 != +0 and NaN payloads count), else None."""
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError("compare arrays of one shape and dtype")
    bits = np.dtype(f"u{a.dtype.itemsize}")
    diff = np.flatnonzero(a.view(bits) != b.view(bits))
    return (
        None
        if diff.size == 0
        else tuple(int(i) for i in np.unravel_index(diff[0], a.shape))
    )


def same_parameters(
    cell: Cell, subject: Subject, case: Case, layer, context: str
) -> None:
    """Fail unless the layer's parameters read back as the case's canonical weights, bit for bit."""
    weight, bias = subject.read(layer)
    for name, want, got in (("weight", case.weight, weight), ("bias", case.bias, bias)):
        if want is None or got is None:
            if want is not got:
                cell.fail(
                    f"{subject.label} {context}: {name} is {'missing' if got is None else 'unexpected'}"
                )
            continue
        if got.shape != want.shape or got.dtype != want.dtype:
            cell.deviation(
                subject.label,
                f"{context}: {name} is {got.dtype}{got.shape}, not {want.dtype}{want.shape}",
            )
            continue  # a known divergence: its bits cannot be compared
        index = first_bit_difference(got, want)
        if index is not None:
            cell.fail(
                f"{subject.label} {context}: {name}{list(index)} is {got[index]!r}, not {want[index]!r}"
            )
