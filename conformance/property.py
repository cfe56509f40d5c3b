"""Properties, declared once, and what their checks share.

A property is a claim checked over many examples. `declare` registers one from its check
function: the function's name is the property's name, its docstring the claim; the declaration
says which strategy draws its examples, which observation codes its comparisons can show (so registry
entries apply to it), and what it needs from a subject. The tests (conformance/test_properties.py),
the divergence registry's validation, the replay and the docs all read `PROPERTIES`.
"""

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from conformance.cell import Cell, SubjectFailure
from conformance.core.budget import assess, limit, overspend_message
from conformance.core.contract import ContractError
from conformance.core.observation import ARITHMETIC, Code, Observation, Quantity
from conformance.subjects import Subject, loaded_layer
from strategies import Case


class Example(Protocol):
    """What a property draws: a Case, or an example carrying one, that a reproducer can store."""

    @property
    def case(self) -> Case: ...

    def arrays(self) -> dict: ...

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Example": ...


@dataclass(frozen=True)
class Property:
    """One claim: how to draw an example, how to check it, what it can observe and needs."""

    name: str
    claim: str
    check: Callable  # check(cell, subject or pair, example)
    strategy: Callable  # strategy(dtype, device, caps) -> SearchStrategy of examples
    example: type[Example]  # rebuilt from a reproducer by example.from_arrays
    shows: frozenset[Code]  # the observation codes its comparisons can show
    needs: tuple[str, ...] = ()  # subject methods it calls beyond forward
    special_values: bool = False  # opt-in: --special-values
    cross_device: bool = False  # compares each non-CPU device with the CPU
    pair: bool = False  # checks two subjects together


PROPERTIES: dict[str, Property] = {}


def declare(
    *,
    strategy: Callable,
    shows: Iterable[Code],
    example: type[Example] = Case,
    needs: tuple[str, ...] = (),
    special_values: bool = False,
    cross_device: bool = False,
    pair: bool = False,
):
    """Register the decorated check function as a property named after it."""

    def register(check: Callable) -> Callable:
        name = check.__name__
        if name in PROPERTIES:
            raise ValueError(f"property {name!r} is declared twice")
        PROPERTIES[name] = Property(
            name, inspect.getdoc(check) or "", check, strategy, example, frozenset(shows),
            needs, special_values, cross_device, pair,
        )  # fmt: skip
        return check

    return register


# -- what the checks share -------------------------------------------------------------------
def forward(cell: Cell, subject: Subject, case: Case, x: np.ndarray | None = None) -> np.ndarray:
    """The subject's result for `case` (or for `x` through the case's layer); the shape is checked first."""
    __tracebackhide__ = True
    x = case.x if x is None else x
    got = subject.forward(loaded_layer(subject, case), x)
    expected = (*x.shape[:-1], case.out_features)
    if not isinstance(got, np.ndarray):
        cell.fail(
            f"{subject.label}.forward() returned a {type(got).__module__}.{type(got).__name__}, "
            "not a numpy.ndarray"
        )
    if got.shape != expected:
        cell.fail(
            f"{subject.label} returned shape {got.shape} for x of shape {x.shape}; expected {expected}"
        )
    return got


def within_bound(
    cell: Cell,
    subject: Subject,
    quantity: Quantity,
    got,
    expected,
    bound_for=None,
    *,
    device: str | None = None,
    exact: bool = False,
    label: str | None = None,
) -> None:
    """Spend `subject`'s budget: |got - expected| against the bound of the contract it is held to.

    `expected` is an oracle Reference (bound: the contract's bound around it), or an array with
    `bound_for(contract)` deriving its bound. The contract is the subject's on `device` (default:
    the cell's), as `Cell.judged` gives it. With `exact` (a Reference whose every product and
    partial sum is exact), a contract that reads operands exactly claims the exact result, and one
    that does not (flush-to-zero, TF32, float32 evaluation) can only lose part of each term: its
    result lies between the sum of the negative terms and the sum of the positive ones.

    A result past that bound is observed rather than failed outright where it fits a looser
    contract, or a composition of them (float32 evaluation, TF32 operands, accumulation in the
    output format, subnormals read as zero): a known divergence where registry entries
    applicable to the cell explain every code of a composition that fits, a failure naming the
    smallest fitting composition (or none) elsewhere.
    """
    __tracebackhide__ = True
    if exact:
        judge = functools.partial(_exact, expected)
    else:
        if bound_for is None:
            expected, bound_for = expected.value, functools.partial(limit, expected)
        judge = functools.partial(_around, expected, bound_for)
    label, device = label or quantity.value, device or cell.device
    judged = cell.judged(subject, device)
    centre, bound = judge(judged.contract)
    verdict = assess(got, centre, bound, cell.dtype)
    cell.record(subject.label, label, verdict)
    if verdict.budget_used <= 1:
        return
    evidence = {
        "verdict": verdict.as_dict(),
        "what": label,
        "expected": centre,
        "bound": bound,
        "got": got,
    }
    overspent = overspend_message(subject.label, label, verdict)
    smallest = None
    for codes, contract in judged.compositions():
        if not _fits(got, judge, contract):
            continue
        text = _describe(codes, label, cell.dtype)
        observation = Observation(codes, text, quantity=quantity, device=device)
        if cell.explains(observation):
            cell.deviation(subject.label, observation)
            return
        smallest = smallest or observation
    if smallest is None:
        cell.fail(overspent, **evidence)
    cell.deviation(subject.label, smallest, overspent, **evidence)


def _around(expected, bound_for, contract) -> tuple:
    """The contract's bound around `expected`."""
    return expected, bound_for(contract)


def _exact(reference, contract) -> tuple:
    """For an exact construction: the exact result where operands are read exactly; else the
    interval of results that keep part of each term, [negative terms, positive terms] = within
    M/2 of y/2."""
    if contract.reads_exactly:
        return reference.value, np.zeros(reference.value.shape)
    return reference.value / 2, reference.magnitude / 2


_WORDS = {
    Code.FLOAT32_EVALUATION: "computes its {label} in float32",
    Code.TF32: "reads float32 operands as TF32",
    Code.REDUCED_ACCUMULATION: "accumulates its {label} in {dtype}",
    Code.FLUSH_TO_ZERO: "reads subnormals as zero",
}


def _describe(codes: frozenset[Code], label: str, dtype: str) -> str:
    return " and ".join(
        _WORDS[c].format(label=label, dtype=dtype) for c in ARITHMETIC if c in codes
    )


def _fits(got, judge, contract) -> bool:
    """Whether `got` lies within the looser `contract`'s bound."""
    try:
        centre, bound = judge(contract)
    except ContractError:  # a sum too long for that accumulation to bound at all
        return False
    return assess(got, centre, bound, contract.dtype).budget_used <= 1


def gradients(cell: Cell, subject: Subject, case: Case, upstream: np.ndarray):
    """The subject's (dx, dweight, dbias) for `case`, their shapes and dtypes checked first."""
    __tracebackhide__ = True
    dx, dweight, dbias = subject.gradients(loaded_layer(subject, case), case.x, upstream)
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
            cell.deviation(subject.label, result_dtype(got.dtype, f"{name} gradient", case.dtype))
    return dx, dweight, dbias


def result_dtype(got, what: str, dtype: str) -> Observation:
    return Observation.of(Code.RESULT_DTYPE, f"returns a {got} {what} for {dtype}", str(got))


def attempt(cell: Cell, who: str, call):
    """Run `call`; an exception is observed (a known divergence or a failure). None if it raised."""
    __tracebackhide__ = True
    try:
        return call()
    except SubjectFailure:
        raise
    except Exception as exc:
        name = type(exc).__name__
        cell.deviation(who, Observation.of(Code.RAISES, f"raises {name}: {exc}", name))
        return None


def first_bit_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first element whose bits differ (so -0 != +0 and NaN payloads count), else None."""
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError("compare arrays of one shape and dtype")
    bits = np.dtype(f"u{a.dtype.itemsize}")
    diff = np.flatnonzero(a.view(bits) != b.view(bits))
    return None if diff.size == 0 else tuple(int(i) for i in np.unravel_index(diff[0], a.shape))


def same_parameters(cell: Cell, subject: Subject, case: Case, layer, context: str) -> None:
    """Fail unless the layer's parameters read back as the case's canonical weights, bit for bit."""
    __tracebackhide__ = True
    weight, bias = subject.read(layer)
    for name, want, got in (("weight", case.weight, weight), ("bias", case.bias, bias)):
        if want is None or got is None:
            if want is not got:
                cell.fail(
                    f"{subject.label} {context}: {name} is {'missing' if got is None else 'unexpected'}"
                )
            continue
        if got.shape != want.shape or got.dtype != want.dtype:
            text = f"{context}: {name} is {got.dtype}{got.shape}, not {want.dtype}{want.shape}"
            cell.deviation(
                subject.label, Observation.of(Code.PARAMETER_DTYPE, text, str(got.dtype))
            )
            continue  # a known divergence: its bits cannot be compared
        index = first_bit_difference(got, want)
        if index is not None:
            cell.fail(
                f"{subject.label} {context}: {name}{list(index)} is {got[index]!r}, not {want[index]!r}"
            )
