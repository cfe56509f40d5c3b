"""What the properties share: calling a subject on a case, spending budget, exact comparisons."""

import numpy as np

from conformance.budget import assess, limit
from conformance.cell import Cell
from conformance.oracle import Reference
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
    got: np.ndarray,
    reference: Reference,
    scale: float = 1.0,
):
    """Spend `subject`'s budget: |got - oracle| against `scale` times its contract's bound."""
    contract = subject.contract(cell.dtype, cell.device)
    verdict = assess(
        got, reference.value, scale * limit(reference, contract), cell.dtype
    )
    cell.spend(subject.label, what, verdict)


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
            cell.fail(
                f"{subject.label} {context}: {name} is {got.dtype}{got.shape}, not {want.dtype}{want.shape}"
            )
        index = first_bit_difference(got, want)
        if index is not None:
            cell.fail(
                f"{subject.label} {context}: {name}{list(index)} is {got[index]!r}, not {want[index]!r}"
            )
