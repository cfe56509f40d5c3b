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
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from conformance.cell import Cell, SubjectFailure
from conformance.core import oracle
from conformance.core.budget import assess, limit, overspend_message
from conformance.core.formats import compute_format
from conformance.core.layout import View
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
def subject_input(subject: Subject, case: Case, view: View | None = None):
    """x as `subject` is handed it: in the case's memory layout (or `view`), as the subject's own
    tensor where the case says so and the subject takes one, else as a numpy view."""
    view = case.x_view() if view is None else view
    if case.kind == "tensor" and subject.lacks("tensor") is None:
        return subject.tensor(view, case.device)
    return view.array()


def forward(cell: Cell, subject: Subject, case: Case, x: np.ndarray | View | None = None):
    """The subject's result for `case` (x in its layout), or for `x` through the case's layer (an
    array as it is, a View as `subject_input` hands it over); the shape is checked first."""
    __tracebackhide__ = True
    if x is None:
        x = case.x_view()
    shape = x.shape
    given = subject_input(subject, case, x) if isinstance(x, View) else x
    got = subject.forward(loaded_layer(subject, case), given)
    expected = (*shape[:-1], case.out_features)
    if not isinstance(got, np.ndarray):
        cell.fail(
            f"{subject.label}.forward() returned a {type(got).__module__}.{type(got).__name__}, "
            "not a numpy.ndarray"
        )
    if got.shape != expected:
        cell.fail(
            f"{subject.label} returned shape {got.shape} for x of shape {shape}; expected {expected}"
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
    # NaN or Inf where the exact result is finite and a contract bounds it is an observation of
    # its own (nan-inf-position), which no arithmetic explains: the other elements are judged
    # without those
    got64 = np.asarray(got, np.float64)
    wrong = ~np.isfinite(got64) & np.isfinite(centre)
    candidates = list(judged.compositions())
    if wrong.any():
        candidates.insert(0, (frozenset(), judged.contract))
    fitting = []
    for codes, contract in candidates:
        c_centre, c_bound = judge(contract)
        flagged = wrong & np.isfinite(c_bound)
        trial = np.where(flagged, c_centre, got64) if flagged.any() else got
        if assess(trial, c_centre, c_bound, contract.dtype).budget_used > 1:
            continue
        text, detail = _describe(codes, label, cell.dtype), None
        if flagged.any():
            text, detail = _non_finite(text, got64, flagged)
            codes = codes | {Code.NAN_INF_POSITION}
        if not codes:
            continue  # within the contract after all (what it admits past its range)
        observation = Observation(codes, text, detail, quantity, device)
        if cell.explains(observation):
            cell.deviation(subject.label, observation)
            return
        fitting.append(observation)
    if not fitting:
        cell.fail(overspent, **evidence)
    least = min(len(o.codes) for o in fitting)
    cell.deviation(
        subject.label, either([o for o in fitting if len(o.codes) == least]), overspent, **evidence
    )


def either(observations: list[Observation]) -> Observation:
    """One observation naming every smallest composition a result fits ("that fits accumulation
    in float16, or results rounded in one direction"): the evidence does not tell them apart."""
    first, *others = observations
    if not others:
        return first
    fits = [o.text.partition("; that fits ")[2] for o in observations]
    if not all(fits):  # not all of the one form: the first says what was seen
        return first
    text = f"{first.text.partition('; that fits ')[0]}; that fits {', or '.join(fits)}"
    shown = " | ".join(o.names() for o in observations)
    return replace(first, text=text, shown=shown)


def _non_finite(text: str, got64: np.ndarray, wrong: np.ndarray) -> tuple[str, str]:
    """The observation's text with the NaN/Inf it puts where the exact result is finite, and
    its detail (NaN-for-finite, +Inf-for-finite, -Inf-for-finite)."""
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    found = int(oracle.classes(got64[index]))
    where = (
        f"puts {oracle.CLASS_NAMES[found]} at element {list(index)} where the exact result is "
        f"finite ({int(wrong.sum())} of {wrong.size} elements)"
    )
    return " and ".join(filter(None, [where, text])), f"{oracle.SHORT_NAMES[found]}-for-finite"


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


#: what a result fits, per looser contract (named only when the result fits it)
_FITS = {
    Code.FLOAT32_EVALUATION: "a float32 evaluation",
    Code.TF32: "TF32 operands",
    Code.DIRECTED_ROUNDING: "results rounded in one direction (toward zero, say), not to nearest",
    Code.REDUCED_ACCUMULATION: "accumulation in {compute}",
    Code.FLUSH_TO_ZERO: "subnormal operands read as zero",
}


def _describe(codes: frozenset[Code], label: str, dtype: str) -> str:
    """What a result past its bound fits: "has its forward past its float32 bound; that fits
    TF32 operands" (empty without codes)."""
    if not codes:
        return ""
    compute = compute_format(dtype).name  # a policy accumulates in its compute format
    fits = " with ".join(_FITS[c].format(compute=compute) for c in ARITHMETIC if c in codes)
    return f"has its {label} past its {dtype} bound; that fits {fits}"


def gradients(cell: Cell, subject: Subject, case: Case, upstream: np.ndarray):
    """The subject's (dx, dweight, dbias) for `case`, their shapes and dtypes checked first."""
    __tracebackhide__ = True
    layer = loaded_layer(subject, case)
    dx, dweight, dbias = subject.gradients(layer, subject_input(subject, case), upstream)
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


def raised_in_subject(exc: BaseException, case: Case | None = None) -> str | None:
    """What an exception escaping a check says when a subject's method raised it: the outermost
    subject method on its way, the exception, the subject's own line that called into the
    framework (and the framework's line that raised, when that is elsewhere), and the layouts the
    suite handed over; None when no subject method is on its way (the suite itself broke)."""
    method, own, tb, last = None, None, exc.__traceback__, None
    while tb is not None:
        me = tb.tb_frame.f_locals.get("self")
        if isinstance(me, Subject):
            if method is None:
                method = f"{me.label}.{tb.tb_frame.f_code.co_name}()"
            if _defined_by_subject(tb.tb_frame, me):
                own = tb
        last, tb = tb, tb.tb_next
    if method is None or last is None:
        return None
    where = f"at {_line(own or last)}"
    if own is not None and own is not last:
        where += f"; raised at {_line(last)}"
    message = f"{method} raised {type(exc).__name__}: {exc} ({where})"
    if case is None:
        return message
    x = (*case.leading, case.in_features)
    return (
        f"{message}; the suite hands load() weight (out, in) = {case.weight.shape}"
        f" and forward() x (..., in) = {x}"
    )


def _defined_by_subject(frame, subject: Subject) -> bool:
    """Whether `frame` runs code of the subject's own class (or a class it derives from that is
    not the suite's base class): the line of the subject that called into its framework."""
    code = frame.f_code
    return any(
        getattr(getattr(cls, code.co_name, None), "__code__", None) is code
        for cls in type(subject).__mro__
        if cls is not Subject
    )


def _line(tb) -> str:
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


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
        if got.shape != want.shape:
            layout = "weight (out, in)" if name == "weight" else "bias (out,)"
            cell.fail(
                f"{subject.label} {context}: read() gave a {name} of shape {got.shape}, not "
                f"{want.shape}: the suite loads and reads back {layout} = {want.shape}"
            )
        if got.dtype != want.dtype:
            text = f"{context}: {name} is {got.dtype}, not {want.dtype}"
            cell.deviation(
                subject.label, Observation.of(Code.PARAMETER_DTYPE, text, str(got.dtype))
            )
            continue  # a known divergence: its bits cannot be compared
        index = first_bit_difference(got, want)
        if index is not None:
            cell.fail(
                f"{subject.label} {context}: {name}{list(index)} is {got[index]!r}, not {want[index]!r}"
            )
