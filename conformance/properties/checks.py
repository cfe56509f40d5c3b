"""What the property checks share: the subject's result for a case (its shape checked first), its
gradients, the comparison against the contract (the judge decides), exceptions from a subject
named where they came from, bit-exact comparisons of parameters."""

import numpy as np

from conformance.core.cell import Cell, SubjectFailure
from conformance.core.layout import View
from conformance.core.observation import Code, Observation, Quantity
from conformance.subjects import Subject, loaded_layer
from strategies import Case


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
    """Spend `subject`'s budget: |got - expected| against the bound of the contract it is held to
    on `device` (default: the cell's); the judge says whether that passes, is a known divergence
    or fails (`Judge.compare`: what `expected`, `bound_for` and `exact` mean)."""
    __tracebackhide__ = True
    finding = cell.judge.compare(
        subject.label, quantity, got, expected, bound_for,
        device=device or cell.device, exact=exact, label=label,
    )  # fmt: skip
    assert finding.verdict is not None
    cell.record(subject.label, label or quantity.value, finding.verdict)
    cell.settle(finding)


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
