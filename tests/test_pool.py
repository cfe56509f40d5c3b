"""Reusing a pooled layer (weights reloaded per example) gives what a freshly built layer gives, bit for bit."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.core.caps import SizeCaps
from conformance.properties.checks import first_bit_difference
from conformance.subjects import loaded_layer, resolve
from strategies import Caps, cases


@pytest.mark.parametrize("name", ["torch", "keras"])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(data=st.data())
def test_pooled_layer_matches_a_fresh_one(name, dtype, data):
    subject = resolve(name)
    case = data.draw(cases(dtype, "cpu", Caps(SizeCaps(max_features=6, max_rows=8))))
    pooled = subject.forward(loaded_layer(subject, case), case.x)
    fresh_layer = subject.build(case.in_features, case.out_features, case.has_bias, dtype, "cpu")
    subject.load(fresh_layer, case.weight, case.bias)
    fresh = subject.forward(fresh_layer, case.x)
    assert pooled.shape == fresh.shape and pooled.dtype == fresh.dtype
    assert first_bit_difference(pooled, fresh) is None
