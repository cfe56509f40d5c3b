"""Structural properties, checked before any numbers: shapes, dtypes, exact weight round-trip, no mutation."""

from hypothesis import given
from hypothesis import strategies as st

from conformance.formats import FORMATS
from conformance.property import first_bit_difference, forward, same_parameters
from conformance.subjects import loaded_layer
from strategies import draw_case


@given(data=st.data())
def test_output_has_expected_shape_and_dtype(subject, dtype, device, cell, caps, data):
    """The output has shape (*leading, out) and the tested dtype."""
    case = draw_case(data, dtype, device, caps)
    cell.example(case)
    got = forward(cell, subject, case)
    if got.dtype != FORMATS[dtype].numpy:
        cell.deviation(subject.label, f"returns {got.dtype} for {dtype}")


@given(data=st.data())
def test_weight_round_trip_is_bit_exact(subject, dtype, device, cell, caps, data):
    """canonical -> subject layout -> canonical returns the same bits, shapes and dtypes."""
    case = draw_case(data, dtype, device, caps)
    cell.example(case)
    same_parameters(cell, subject, case, loaded_layer(subject, case), "round-trip")


@given(data=st.data())
def test_call_mutates_neither_input_nor_weights(
    subject, dtype, device, cell, caps, data
):
    """Calling a layer leaves the caller's input array and the layer's parameters unchanged, bit for bit."""
    case = draw_case(data, dtype, device, caps)
    cell.example(case)
    layer = loaded_layer(subject, case)
    x = case.x.copy()
    subject.forward(layer, x)
    index = first_bit_difference(x, case.x)
    if index is not None:
        cell.fail(
            f"{subject.label} mutated its input at {list(index)}: {case.x[index]!r} became {x[index]!r}"
        )
    same_parameters(cell, subject, case, layer, "after a call")
