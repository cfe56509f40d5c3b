"""Opt-in properties over special values (--special-values): NaN/Inf positions and gradual underflow."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import oracle
from conformance.formats import FORMATS
from conformance.property import forward
from strategies import draw_special_case, draw_subnormal_case

pytestmark = pytest.mark.special_values


def _flushed(values: np.ndarray | None, dtype: str) -> np.ndarray | None:
    """`values` with subnormals replaced by zero (what a flush-to-zero implementation computes with)."""
    if values is None:
        return None
    v = values.astype(np.float64)
    return np.where(np.abs(v) < FORMATS[dtype].tiny, 0.0, v)


@given(data=st.data())
def test_nan_and_inf_positions_agree(subject, dtype, device, cell, caps, data):
    """NaN, +Inf and -Inf appear exactly where IEEE arithmetic on the operands puts them.

    Subnormal operands may count as themselves or as zero (0 * Inf is NaN): flushing them is
    judged by test_subnormals_follow_gradual_underflow, not here.
    """
    case = draw_special_case(data, dtype, device, caps)
    operands = (case.x, case.weight, case.bias)
    want = oracle.special_classes(*operands)
    flushed = oracle.special_classes(*(_flushed(a, dtype) for a in operands))
    cell.example(case, flushed=flushed)
    got = oracle.classes(forward(cell, subject, case))
    wrong = (got != want) & (got != flushed)
    if wrong.any():
        index = tuple(int(i) for i in np.argwhere(wrong)[0])
        got_name, want_name = (
            oracle.CLASS_NAMES[got[index]],
            oracle.CLASS_NAMES[want[index]],
        )
        cell.deviation(
            subject.label,
            f"puts {got_name} at element {list(index)} where IEEE arithmetic gives {want_name}",
            expected=want,
        )


@given(data=st.data())
def test_subnormals_follow_gradual_underflow(subject, dtype, device, cell, caps, data):
    """With subnormal inputs whose products and sums are exact, the result is exact, bit for bit."""
    case = draw_subnormal_case(data, dtype, device, caps)
    cell.example(case)
    exact = oracle.linear(case.x, case.weight, case.bias, dtype).value.astype(
        FORMATS[dtype].numpy
    )
    got = forward(cell, subject, case)
    wrong = got != exact
    if not wrong.any():
        return
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    where = f"{exact[index]!r} at {list(index)}"
    if np.all(got[wrong].astype(np.float64) == 0):
        observation = (
            f"flushes subnormals to zero: became 0 where the exact result is {where}"
        )
    else:
        observation = f"returned {got[index]!r} where the exact result is {where}"
    cell.deviation(subject.label, observation, expected=exact)
