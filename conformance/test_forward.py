"""Forward properties: the result of every subject lies within its contract's bound of the oracle."""

from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance import oracle
from conformance.budget import limit
from conformance.property import forward, within_bound
from conformance.subjects import loaded_layer
from strategies import draw_case


@given(data=st.data())
def test_forward_within_bound(subject, dtype, device, cell, caps, data):
    """Each subject's forward result is within its bound of the oracle, element by element."""
    case = draw_case(data, dtype, device, caps)
    cell.example(case)
    reference = oracle.linear(case.x, case.weight, case.bias, dtype)
    within_bound(cell, subject, "forward", forward(cell, subject, case), reference)


@given(data=st.data())
def test_bias_off_equals_layer_without_bias_parameter(
    subject, dtype, device, cell, caps, data
):
    """A bias-off layer has no bias parameter and computes x W^T, as a bias-on layer with a zero bias does."""
    case = replace(draw_case(data, dtype, device, caps), bias=None)
    cell.example(case)
    _, bias = subject.read(loaded_layer(subject, case))
    if bias is not None:
        cell.fail(
            f"{subject.label} built with bias off still has a bias parameter of shape {bias.shape}"
        )
    reference = oracle.linear(case.x, case.weight, None, dtype)
    within_bound(
        cell, subject, "bias-off forward", forward(cell, subject, case), reference
    )
    zero = replace(case, bias=np.zeros(case.out_features, case.weight.dtype))
    within_bound(
        cell, subject, "zero-bias forward", forward(cell, subject, zero), reference
    )


@given(data=st.data())
def test_leading_shape_equals_flattened_batch(subject, dtype, device, cell, caps, data):
    """x of any leading shape gives the flattened 2-D batch's result, reshaped (within both bounds)."""
    case = draw_case(data, dtype, device, caps, min_leading_dims=2)
    cell.example(case)
    batched = forward(cell, subject, case)
    flat = forward(cell, subject, case, x=case.flat_x())
    reference = oracle.linear(case.x, case.weight, case.bias, dtype)
    # The two results may differ by both of their bounds, no more.
    flat_as_batched = flat.astype(reference.value.dtype).reshape(reference.value.shape)

    def both(contract):
        return 2 * limit(reference, contract)

    within_bound(cell, subject, "batched-vs-flat", batched, flat_as_batched, both)
