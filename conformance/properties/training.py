"""Training steps and second derivatives: what a co-trained or ported model needs beyond one gradient."""

import functools

from conformance.core import oracle
from conformance.core.budget import limit
from conformance.core.contract import chained_bound, sgd_bound
from conformance.core.observation import BOUNDED, Quantity
from conformance.properties.checks import within_bound
from conformance.properties.declaration import declare
from conformance.subjects import loaded_layer
from strategies.gradients import Backward, Training, backward, trainings


@declare(strategy=trainings, example=Training, shows=BOUNDED, needs=("train",))
def sgd_steps_track_the_exact_trajectory(cell, subject, training):
    """k plain SGD steps with the framework's optimizer keep weight (= kernel^T) and bias within the
    contract's k-step bound of the exact trajectory (contract.sgd_bound, which grows with k)."""
    case, rate, dtype = training.case, training.learning_rate, training.case.dtype
    layer = loaded_layer(subject, case)
    (_, upstream), *later = training.batches  # the first x goes in the case's layout
    subject.train(layer, [(case.x_view().array(), upstream), *later], rate)
    weight, bias = subject.read(layer)
    steps = len(training.batches)
    for name, quantity, got, start, gradient in (
        ("weight", Quantity.WEIGHT_UPDATE, weight, case.weight,
         lambda x, g: oracle.weight_gradient(x, g, dtype)),
        ("bias", Quantity.BIAS_UPDATE, bias, case.bias,
         lambda x, g: oracle.bias_gradient(g, dtype)),
    ):  # fmt: skip
        if start is None:
            continue
        refs = [gradient(x, g) for x, g in training.batches]
        after = oracle.sgd_trajectory(start, refs, rate)
        bound_for = functools.partial(
            sgd_bound, learning_rate=rate, gradients=refs, after=after, start=start
        )
        within_bound(
            cell, subject, quantity, got, after[-1], bound_for,
            label=f"{name} after {steps} SGD steps",
        )  # fmt: skip


@declare(strategy=backward, example=Backward, shows=BOUNDED, needs=("second_derivative",))
def second_derivative_within_bound(cell, subject, example):
    """d ||dL/dx||^2 / dW = 2 G^T (G W) is within the bound chained through dL/dx = G W."""
    case, upstream = example.case, example.upstream
    got = subject.second_derivative(loaded_layer(subject, case), case.x_view().array(), upstream)
    if getattr(got, "shape", None) != case.weight.shape:
        cell.fail(
            f"{subject.label} returned a second derivative of shape {getattr(got, 'shape', None)}"
        )
    inner, outer, left = oracle.input_gradient_norm_gradient(upstream, case.weight, case.dtype)

    def chained(contract):
        return chained_bound(contract, oracle.rows(limit(inner, contract)), left, outer)

    within_bound(cell, subject, Quantity.SECOND_DERIVATIVE, got, outer.value, chained)
