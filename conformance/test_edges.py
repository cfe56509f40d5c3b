"""Edges of the domain where frameworks are known to part ways: each reaches a registry entry."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance import oracle
from conformance.cell import SubjectFailure
from conformance.property import forward, within_bound
from strategies import Case, draw_case, draw_rank1_case
from strategies.shapes import layer_shapes


def _attempt(cell, who: str, call):
    """Run `call`; an exception is a deviation (a known divergence or a failure). None if it raised."""
    try:
        return call()
    except SubjectFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the subject raises is the observation
        cell.deviation(who, f"raises {type(exc).__name__}: {exc}")
        return None


@given(data=st.data())
def test_rank1_input_equals_batch_of_one(subject, dtype, device, cell, caps, data):
    """x of shape (in,) gives shape (out,) and the result of the batch x[None] (within bound)."""
    case = draw_rank1_case(data, dtype, device, caps)
    cell.example(case)
    got = _attempt(cell, subject.label, lambda: forward(cell, subject, case))
    if got is not None:
        within_bound(
            cell,
            subject,
            "rank-1 forward",
            got,
            oracle.linear(case.x, case.weight, case.bias, dtype),
        )


@given(data=st.data())
def test_zero_out_features_gives_empty_output(subject, dtype, device, cell, caps, data):
    """A layer with out_features = 0 returns an empty (*leading, 0) result of the tested dtype."""
    case = draw_case(data, dtype, device, caps, out_features=0)
    cell.example(case)
    got = _attempt(cell, subject.label, lambda: forward(cell, subject, case))
    if got is not None and got.dtype != case.x.dtype:
        cell.fail(f"{subject.label} returned {got.dtype} for an empty {dtype} result")


@given(data=st.data())
def test_default_initialisation_agrees(pair, dtype, device, cell, caps, data):
    """Freshly built layers of both subjects agree on whether the default bias is zero."""
    in_f, out_f = data.draw(
        layer_shapes(caps.max_features, min_in=1), label="(in_features, out_features)"
    )
    cell.example(
        Case(
            dtype,
            device,
            np.zeros((0, in_f)),
            np.zeros((out_f, in_f)),
            np.zeros(out_f),
            "defaults",
        )
    )
    zero_bias = {}
    for subject in pair:
        weight, bias = subject.read(subject.build(in_f, out_f, True, dtype, device))
        if weight.shape != (out_f, in_f) or bias is None or bias.shape != (out_f,):
            shapes = f"{weight.shape} and {getattr(bias, 'shape', None)}"
            cell.fail(
                f"{subject.label} default layer has parameters {shapes}, not ({out_f}, {in_f}) and ({out_f},)"
            )
        zero_bias[subject.label] = not np.any(bias.astype(np.float64))
    zeros = [s for s, z in zero_bias.items() if z]
    others = [s for s, z in zero_bias.items() if not z]
    if zeros and others:
        cell.deviation(
            cell.subject,
            f"default bias is zero in {', '.join(zeros)} but not in {', '.join(others)}",
        )
