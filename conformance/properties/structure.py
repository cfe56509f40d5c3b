"""Structural properties, checked before any numbers: shapes, dtypes, exact weight round-trip, no mutation."""

from conformance.core.formats import compute_format
from conformance.core.observation import Code
from conformance.properties.checks import (
    first_bit_difference,
    forward,
    result_dtype,
    same_parameters,
)
from conformance.properties.declaration import declare
from conformance.subjects import loaded_layer
from strategies import cases


@declare(strategy=cases, shows={Code.RESULT_DTYPE})
def output_has_expected_shape_and_dtype(cell, subject, case):
    """The output has shape (*leading, out) and the tested dtype."""
    got = forward(cell, subject, case)
    if got.dtype != compute_format(case.dtype).numpy:
        cell.deviation(subject.label, result_dtype(got.dtype, "result", case.dtype))


@declare(strategy=cases, shows={Code.PARAMETER_DTYPE})
def weight_round_trip_is_bit_exact(cell, subject, case):
    """canonical -> subject layout -> canonical returns the same bits, shapes and dtypes."""
    same_parameters(cell, subject, case, loaded_layer(subject, case), "round-trip")


@declare(strategy=cases, shows={Code.PARAMETER_DTYPE})
def call_mutates_neither_input_nor_weights(cell, subject, case):
    """Calling a layer leaves the caller's input array (in its layout) and the layer's parameters
    unchanged, bit for bit."""
    layer = loaded_layer(subject, case)
    x = case.x_view().array()
    subject.forward(layer, x)
    index = first_bit_difference(x, case.x)
    if index is not None:
        cell.fail(
            f"{subject.label} mutated its input at {list(index)}: {case.x[index]!r} became {x[index]!r}"
        )
    same_parameters(cell, subject, case, layer, "after a call")
