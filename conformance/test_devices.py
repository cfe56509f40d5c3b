"""Cross-device properties: a subject on another device (a GPU) agrees with itself on the CPU."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import oracle
from conformance.property import forward, within_bound
from strategies import draw_case


@pytest.mark.cross_device
@given(data=st.data())
def test_device_agrees_with_cpu(subject, dtype, device, cell, caps, data):
    """The same case on `device` and on the CPU: each result within its own contract's bound of the
    oracle (so the two differ by at most the sum of both bounds)."""
    case = draw_case(data, dtype, device, caps)
    cell.example(case)
    reference = oracle.linear(case.x, case.weight, case.bias, dtype)
    on_device = forward(cell, subject, case)
    on_cpu = forward(cell, subject, replace(case, device="cpu"))
    within_bound(cell, subject, f"forward on {device}", on_device, reference)
    within_bound(cell, subject, "forward on cpu", on_cpu, reference, device="cpu")
