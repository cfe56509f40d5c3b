"""Training steps and second derivatives: what a co-trained or ported model needs beyond one gradient."""

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import oracle
from conformance.budget import limit
from conformance.contract import chained_bound, sgd_bound
from conformance.property import within_bound
from conformance.subjects import loaded_layer
from strategies.gradients import draw_gradient_case, draw_training


@pytest.mark.needs("train")
@given(data=st.data())
def test_sgd_steps_track_the_exact_trajectory(subject, dtype, device, cell, caps, data):
    """k plain SGD steps with the framework's optimizer keep weight (= kernel^T) and bias within the
    contract's k-step bound of the exact trajectory (contract.sgd_bound, which grows with k)."""
    training = draw_training(data, dtype, device, caps)
    case, rate = training.case, training.learning_rate
    batches = {
        f"{name}_{t}": a
        for t, batch in enumerate(training.batches)
        for name, a in zip(("x", "upstream"), batch)
    }
    cell.example(case, learning_rate=rate, **batches)
    layer = loaded_layer(subject, case)
    subject.train(layer, list(training.batches), rate)
    weight, bias = subject.read(layer)
    steps = len(training.batches)
    for name, got, start, gradient in (
        (
            "weight",
            weight,
            case.weight,
            lambda x, g: oracle.weight_gradient(x, g, dtype),
        ),
        ("bias", bias, case.bias, lambda x, g: oracle.bias_gradient(g, dtype)),
    ):
        if start is None:
            continue
        refs = [gradient(x, g) for x, g in training.batches]
        after = oracle.sgd_trajectory(start, refs, rate)
        bound_for = functools.partial(
            sgd_bound, learning_rate=rate, gradients=refs, after=after
        )
        within_bound(
            cell, subject, f"{name} after {steps} SGD steps", got, after[-1], bound_for
        )


@pytest.mark.needs("second_derivative")
@given(data=st.data())
def test_second_derivative_within_bound(subject, dtype, device, cell, caps, data):
    """d ||dL/dx||^2 / dW = 2 G^T (G W) is within the bound chained through dL/dx = G W."""
    case, upstream = draw_gradient_case(data, dtype, device, caps)
    cell.example(case, upstream=upstream)
    got = subject.second_derivative(loaded_layer(subject, case), case.x, upstream)
    if getattr(got, "shape", None) != case.weight.shape:
        cell.fail(
            f"{subject.label} returned a second derivative of shape {getattr(got, 'shape', None)}"
        )
    inner, outer, left = oracle.input_gradient_norm_gradient(
        upstream, case.weight, dtype
    )

    def chained(contract):
        return chained_bound(contract, oracle.rows(limit(inner, contract)), left, outer)

    within_bound(cell, subject, "second derivative", got, outer.value, chained)
