"""Gradient properties: dL/dx, dL/dW (under the transpose) and dL/db for L = sum(G * layer(x)).

Each is checked against the oracle with the contract's bound over its own sum: out terms for
dL/dx = G W, every batch row for dL/dW = G^T X and dL/db = sum(G).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import oracle
from conformance.property import first_bit_difference, gradients, within_bound
from strategies.cases import redraw_values
from strategies.gradients import draw_gradient_case, draw_upstream

pytestmark = pytest.mark.needs("gradients")


def _drawn(data, subject, dtype, device, cell, caps):
    """A case, its upstream gradient G, and the subject's (dx, dweight, dbias) for it."""
    case, upstream = draw_gradient_case(data, dtype, device, caps)
    cell.example(case, upstream=upstream)
    return case, upstream, gradients(cell, subject, case, upstream)


@given(data=st.data())
def test_input_gradient_within_bound(subject, dtype, device, cell, caps, data):
    """dL/dx is within its bound of G W (a sum over out_features)."""
    case, upstream, (dx, _, _) = _drawn(data, subject, dtype, device, cell, caps)
    within_bound(
        cell,
        subject,
        "input gradient",
        dx,
        oracle.input_gradient(upstream, case.weight, dtype),
    )


@given(data=st.data())
def test_weight_gradient_within_bound(subject, dtype, device, cell, caps, data):
    """dL/dW, read back in the canonical (out, in) layout, is within its bound of G^T X over every row."""
    case, upstream, (_, dweight, _) = _drawn(data, subject, dtype, device, cell, caps)
    within_bound(
        cell,
        subject,
        "weight gradient",
        dweight,
        oracle.weight_gradient(case.x, upstream, dtype),
    )


@given(data=st.data())
def test_bias_gradient_within_bound(subject, dtype, device, cell, caps, data):
    """dL/db is within its bound of sum(G) over every row; a bias-off layer gives no bias gradient."""
    case, upstream, (_, _, dbias) = _drawn(data, subject, dtype, device, cell, caps)
    if case.bias is not None:
        within_bound(
            cell, subject, "bias gradient", dbias, oracle.bias_gradient(upstream, dtype)
        )


@given(data=st.data())
def test_zero_size_batch_gives_zero_parameter_gradients(
    subject, dtype, device, cell, caps, data
):
    """An empty batch gives an empty input gradient and weight and bias gradients that are exactly zero."""
    case, upstream = draw_gradient_case(data, dtype, device, caps, zero_size=True)
    cell.example(case, upstream=upstream)
    dx, dweight, dbias = gradients(cell, subject, case, upstream)
    for name, got in (("weight", dweight), ("bias", dbias)):
        if got is not None and np.any(got.astype(np.float64) != 0):
            index = tuple(int(i) for i in np.argwhere(got.astype(np.float64) != 0)[0])
            cell.fail(
                f"{subject.label} gives a nonzero {name} gradient {got[index]!r} at {list(index)} for an empty batch"
            )
    if dx.size:
        cell.fail(
            f"{subject.label} gives an input gradient of {dx.size} elements for an empty batch"
        )


@given(data=st.data())
def test_gradients_do_not_leak_between_examples(
    subject, dtype, device, cell, caps, data
):
    """Gradients of one case on a reused layer do not depend on what ran before (nothing accumulates)."""
    case, upstream = draw_gradient_case(data, dtype, device, caps)
    earlier = redraw_values(data, case, "earlier case on the same layer (family, seed)")
    earlier_upstream = draw_upstream(data, earlier, "earlier upstream (family, seed)")
    cell.example(
        case,
        upstream=upstream,
        earlier_x=earlier.x,
        earlier_weight=earlier.weight,
        earlier_bias=earlier.bias,
        earlier_upstream=earlier_upstream,
    )
    gradients(cell, subject, earlier, earlier_upstream)
    first = gradients(cell, subject, case, upstream)
    again = gradients(cell, subject, case, upstream)
    for name, a, b in zip(("input", "weight", "bias"), first, again, strict=True):
        index = None if a is None else first_bit_difference(a, b)
        if index is not None:
            cell.fail(
                f"{subject.label} {name} gradient changed between two identical calls at {list(index)}: {a[index]!r} then {b[index]!r}"
            )
    within_bound(
        cell,
        subject,
        "weight gradient",
        first[1],
        oracle.weight_gradient(case.x, upstream, dtype),
    )
