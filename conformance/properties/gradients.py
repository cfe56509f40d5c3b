"""Gradient properties: dL/dx, dL/dW (under the transpose) and dL/db for L = sum(G * layer(x)).

Each is checked against the oracle with the contract's bound over its own sum: out terms for
dL/dx = G W, every batch row for dL/dW = G^T X and dL/db = sum(G).
"""

import functools

import numpy as np

from conformance.core import oracle
from conformance.core.observation import BOUNDED, Code, Quantity
from conformance.properties.checks import first_bit_difference, gradients, within_bound
from conformance.properties.declaration import declare
from strategies.gradients import (
    Backward,
    Repeated,
    backward,
    empty_backward,
    repeated,
)

#: a gradient property: draws a backward example, observes the arithmetic and gradients of
#: another dtype, needs the subject's gradients()
gradient_property = functools.partial(
    declare,
    strategy=backward,
    example=Backward,
    shows={*BOUNDED, Code.RESULT_DTYPE},
    needs=("gradients",),
)


@gradient_property()
def input_gradient_within_bound(cell, subject, example):
    """dL/dx is within its bound of G W (a sum over out_features)."""
    case, upstream = example.case, example.upstream
    dx, _, _ = gradients(cell, subject, case, upstream)
    reference = oracle.input_gradient(upstream, case.weight, case.dtype)
    within_bound(cell, subject, Quantity.INPUT_GRADIENT, dx, reference)


@gradient_property()
def weight_gradient_within_bound(cell, subject, example):
    """dL/dW, read back in the canonical (out, in) layout, is within its bound of G^T X over every row."""
    case, upstream = example.case, example.upstream
    _, dweight, _ = gradients(cell, subject, case, upstream)
    reference = oracle.weight_gradient(case.x, upstream, case.dtype)
    within_bound(cell, subject, Quantity.WEIGHT_GRADIENT, dweight, reference)


@gradient_property()
def bias_gradient_within_bound(cell, subject, example):
    """dL/db is within its bound of sum(G) over every row; a bias-off layer gives no bias gradient."""
    case, upstream = example.case, example.upstream
    _, _, dbias = gradients(cell, subject, case, upstream)
    if case.bias is not None:
        reference = oracle.bias_gradient(upstream, case.dtype)
        within_bound(cell, subject, Quantity.BIAS_GRADIENT, dbias, reference)


@gradient_property(strategy=empty_backward, shows={Code.RESULT_DTYPE})
def zero_size_batch_gives_zero_parameter_gradients(cell, subject, example):
    """An empty batch gives an empty input gradient and weight and bias gradients that are exactly zero."""
    dx, dweight, dbias = gradients(cell, subject, example.case, example.upstream)
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


@gradient_property(strategy=repeated, example=Repeated)
def gradients_do_not_leak_between_examples(cell, subject, example):
    """Gradients of one case on a reused layer do not depend on what ran before (nothing accumulates)."""
    case, upstream = example.case, example.later.upstream
    gradients(cell, subject, example.earlier.case, example.earlier.upstream)
    first = gradients(cell, subject, case, upstream)
    again = gradients(cell, subject, case, upstream)
    for name, a, b in zip(("input", "weight", "bias"), first, again, strict=True):
        index = None if a is None else first_bit_difference(a, b)
        if index is not None:
            cell.fail(
                f"{subject.label} {name} gradient changed between two identical calls at {list(index)}: {a[index]!r} then {b[index]!r}"
            )
    reference = oracle.weight_gradient(case.x, upstream, case.dtype)
    within_bound(cell, subject, Quantity.WEIGHT_GRADIENT, first[1], reference)
