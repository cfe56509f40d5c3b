"""Forward properties: the result of every subject lies within its contract's bound of the oracle."""

from dataclasses import replace

import numpy as np

from conformance.core import oracle
from conformance.core.budget import limit
from conformance.core.observation import BOUNDED, Quantity
from conformance.properties.checks import forward, within_bound
from conformance.properties.declaration import declare
from conformance.subjects import loaded_layer
from strategies import cases
from strategies.cases import batched_cases, bias_off_cases


@declare(strategy=cases, shows=BOUNDED)
def forward_within_bound(cell, subject, case):
    """Each subject's forward result is within its bound of the oracle, element by element."""
    reference = oracle.linear(case.x, case.weight, case.bias, case.dtype)
    within_bound(cell, subject, Quantity.FORWARD, forward(cell, subject, case), reference)


@declare(strategy=bias_off_cases, shows=BOUNDED)
def bias_off_equals_layer_without_bias_parameter(cell, subject, case):
    """A bias-off layer has no bias parameter and computes x W^T, as a bias-on layer with a zero bias does."""
    _, bias = subject.read(loaded_layer(subject, case))
    if bias is not None:
        cell.fail(
            f"{subject.label} built with bias off still has a bias parameter of shape {bias.shape}"
        )
    reference = oracle.linear(case.x, case.weight, None, case.dtype)
    got = forward(cell, subject, case)
    within_bound(cell, subject, Quantity.FORWARD, got, reference, label="bias-off forward")
    zero = replace(case, bias=np.zeros(case.out_features, case.weight.dtype))
    got = forward(cell, subject, zero)
    within_bound(cell, subject, Quantity.FORWARD, got, reference, label="zero-bias forward")


@declare(strategy=batched_cases, shows=BOUNDED)
def leading_shape_equals_flattened_batch(cell, subject, case):
    """x of any leading shape gives the flattened 2-D batch's result, reshaped (within both bounds)."""
    batched = forward(cell, subject, case)
    flat = forward(cell, subject, case, x=case.flat_x())
    reference = oracle.linear(case.x, case.weight, case.bias, case.dtype)
    # The two results may differ by both of their bounds, no more.
    flat_as_batched = flat.astype(reference.value.dtype).reshape(reference.value.shape)

    def both(contract):
        return 2 * limit(reference, contract)

    within_bound(
        cell, subject, Quantity.FORWARD, batched, flat_as_batched, both,
        label="batched-vs-flat",
    )  # fmt: skip
