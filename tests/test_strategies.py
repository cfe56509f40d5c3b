"""The strategies respect their bounds and caps, and reach the regions they promise to reach."""

import math
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from conformance.core import oracle
from conformance.core.caps import SizeCaps
from conformance.core.cell import buckets
from conformance.core.formats import (
    ALL_DTYPES,
    FORMATS,
    POLICIES,
    compute_format,
    operand_format,
    variable_format,
)
from conformance.core.layout import LAYOUTS, Layout
from conformance.runtimes.torch import torch_tensor
from strategies import (
    Caps,
    cases,
    rank1_cases,
    special_cases,
    subnormal_cases,
)
from strategies.cases import fitted
from strategies.coverage import built
from strategies.gradients import backward
from strategies.inputs import float_inputs, integer_inputs
from strategies.shapes import (
    MAX_ELEMENTS,
    MAX_MACS,
    SHAPE_EDGES,
    case_shapes,
    leading_shapes,
    shape_pool,
)
from strategies.specials import SPECIALS
from strategies.values import Values, values

DRAWN = settings(max_examples=200, derandomize=True, deadline=None, database=None)


def magnitude(case) -> float:
    """max over outputs of sum |x||W| + |b|, in float64."""
    m = np.abs(case.x.astype(np.float64)) @ np.abs(case.weight.astype(np.float64)).T
    if case.bias is not None:
        m = m + np.abs(case.bias.astype(np.float64))
    return float(m.max()) if m.size else 0.0


@DRAWN
@given(shape=leading_shapes(64))
def test_leading_shapes_have_rank_1_to_4_and_at_most_the_row_cap(shape):
    assert 1 <= len(shape) <= 4
    assert math.prod(shape) <= 64
    assert all(side >= 0 for side in shape) and shape.count(0) <= 1


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize(
    "caps", [Caps(), Caps(SizeCaps(max_features=3, max_rows=5))], ids=["default", "tiny"]
)
@DRAWN
@given(data=st.data())
def test_cases_respect_caps_dtype_and_overflow_margin(dtype, caps, data):
    """Operands in the layer's variable format (float32 under a policy), no overflow in the
    format it computes in."""
    case = data.draw(cases(dtype, "cpu", caps))
    fmt = operand_format(dtype)
    assert (
        0 <= case.in_features <= caps.max_features and 1 <= case.out_features <= caps.max_features
    )
    assert math.prod(case.leading) <= caps.max_rows
    assert case.x.shape == (*case.leading, case.in_features)
    assert case.weight.shape == (case.out_features, case.in_features)
    assert case.bias is None or case.bias.shape == (case.out_features,)
    for array in (case.x, case.weight, case.bias):
        if array is None:
            continue
        assert array.dtype == fmt.numpy
        values = np.abs(array.astype(np.float64))
        assert np.isfinite(values).all()
        assert ((values == 0) | (values >= fmt.tiny)).all(), (
            "the default category has no subnormals"
        )
    assert magnitude(case) <= fmt.max / 4


def test_square_single_output_and_zero_size_are_reached_on_purpose():
    seen = Counter()

    @settings(DRAWN, max_examples=500)
    @given(data=st.data())
    def sample(data):
        case = data.draw(cases("float32", "cpu", Caps()))
        seen.update(case.coverage())
        seen["cases"] += 1

    sample()
    assert seen["square layer"] >= seen["cases"] / 5
    assert seen["one output"] >= seen["cases"] / 5
    assert 0 < seen["zero-size batch"] <= seen["cases"] / 5
    assert 0 < seen["no inputs"] <= seen["cases"] / 5
    assert seen["one output"] <= seen["cases"] / 2
    assert seen["bias on"] and seen["bias off"]
    assert {f"leading rank {r}" for r in (1, 2, 3, 4)} <= set(seen)
    assert sum(1 for k in seen if k.startswith("values ")) == 7  # every value family


@DRAWN
@given(data=st.data())
def test_rank1_cases_have_no_leading_dims(data):
    case = data.draw(rank1_cases("float32", "cpu", Caps()))
    assert case.x.shape == (case.in_features,)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@DRAWN
@given(data=st.data())
def test_special_cases_place_special_values(dtype, data):
    case = data.draw(special_cases(dtype, "cpu", Caps()))
    values = np.concatenate(
        [a.astype(np.float64).ravel() for a in (case.x, case.weight, case.bias) if a is not None]
    )
    finite = values[np.isfinite(values)]
    tiny = compute_format(dtype).tiny
    special = (
        (~np.isfinite(values)).any()
        or ((finite != 0) & (np.abs(finite) < tiny)).any()
        or (finite == 0).any()
    )
    assert special or (case.x.size == 0 and case.weight.size == 0 and case.bias is None)
    assert len(SPECIALS) == 7


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@DRAWN
@given(data=st.data())
def test_subnormal_cases_have_subnormal_inputs_and_an_exact_result(dtype, data):
    """Subnormals of the format the layer computes in, held in its variable format."""
    case = data.draw(subnormal_cases(dtype, "cpu", Caps()))
    fmt = compute_format(dtype)
    assert case.x.dtype == case.weight.dtype == variable_format(dtype).numpy
    x = np.abs(case.x.astype(np.float64))
    assert ((x == 0) | (x < fmt.tiny)).all()
    exact = oracle.linear(case.x, case.weight, case.bias, dtype).value
    assert (exact.astype(fmt.numpy).astype(exact.dtype) == exact).all(), (
        "the result must be representable"
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_a_policy_draws_operands_its_cast_rounds_and_upstreams_in_its_compute_format(policy):
    """Under a mixed policy the float32 operands are not all exact in the compute format (else its
    rounding would go untested), while the upstream gradient is in the compute format."""
    compute = compute_format(policy)
    seen = Counter()

    @settings(DRAWN, max_examples=100)
    @given(data=st.data())
    def sample(data):
        example = data.draw(backward(policy, "cpu", Caps()))
        assert example.upstream.dtype == compute.numpy
        for array in (example.case.x, example.case.weight):
            rounded = array.astype(compute.numpy).astype(np.float32)
            seen["rounded by the cast"] += bool((rounded != array).any())

    sample()
    assert seen["rounded by the cast"] >= 50


def test_caps_come_from_options_then_environment(monkeypatch):
    monkeypatch.setenv("CONFORMANCE_MAX_FEATURES", "7")
    monkeypatch.setenv("CONFORMANCE_MAX_ROWS", "9")
    assert SizeCaps.from_env() == SizeCaps(max_features=7, max_rows=9)
    assert SizeCaps.from_env(max_rows=3) == SizeCaps(max_features=7, max_rows=3)
    monkeypatch.setenv("CONFORMANCE_MAX_ROWS", "many")
    with pytest.raises(ValueError, match="CONFORMANCE_MAX_ROWS must be a positive integer"):
        SizeCaps.from_env()


@pytest.mark.parametrize(
    "caps",
    [
        Caps(),
        Caps(SizeCaps(max_features=4, max_rows=3)),
        Caps(SizeCaps(max_features=1024, max_rows=4096)),
    ],
)
def test_the_shape_pool_keeps_the_caps_and_reaches_every_shape_bucket(caps):
    pool = shape_pool(caps.max_rows, caps.max_features, 8)
    assert len(pool) == 8 and pool == shape_pool(caps.max_rows, caps.max_features, 8)
    assert pool[0] == ((1,), 1, 1)  # the simplest first: Hypothesis shrinks toward it
    for leading, in_f, out_f in pool:
        assert math.prod(leading) <= caps.max_rows and 0 <= in_f <= caps.max_features
        assert 1 <= out_f <= caps.max_features
    assert {len(leading) for leading, _, _ in pool} == {1, 2, 3, 4}
    assert any(0 in leading for leading, _, _ in pool)
    assert any(i == o > 1 for _, i, o in pool) and any(o == 1 < i for _, i, o in pool)
    assert any(i == 0 for _, i, _ in pool)


@settings(max_examples=30, database=None, deadline=None)
@given(data=st.data())
def test_cases_of_a_pooled_cell_take_their_shapes_from_the_pool(data):
    caps = Caps(shapes=8)
    case = data.draw(cases("float32", "cpu", caps))
    pool = shape_pool(caps.max_rows, caps.max_features, 8)
    assert (case.leading, case.in_features, case.out_features) in pool


def test_value_families_shrink_toward_simple_values():
    """Shrinking simplifies values, not only the seed: one binade, scale 2^0, integers in {-1, 0, 1}."""
    quick = settings(database=None, max_examples=200)
    fmt = FORMATS["float32"]
    wide = find(values(fmt, 2.0**20), lambda v: v.family == "wide-exponents", settings=quick)
    assert wide == Values("wide-exponents", 0, (0, 0, 0), 0)
    drawn = cases("float32", "cpu", Caps())
    ints = find(drawn, lambda c: c.family == "small-integers" and c.x.size >= 4, settings=quick)
    assert set(np.abs(ints.x).ravel().tolist()) <= {0.0, 1.0}
    uniform = find(drawn, lambda c: c.family == "uniform" and c.x.size >= 4, settings=quick)
    assert uniform.values.scales == (0, 0, 0) and np.abs(uniform.x).max() <= 1


# -- sizes, layouts, inputs (the reach of issue-sized inputs) --------------------------------------
TAIL = Caps(SizeCaps(tail=1.0), tensors=True)


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(data=st.data())
def test_the_tail_keeps_its_caps(data):
    case = data.draw(cases("float32", "cpu", TAIL))
    rows, n, out = math.prod(case.leading), case.in_features, case.out_features
    assert rows <= TAIL.large_rows and max(n, out) <= TAIL.large_features
    assert max(rows * n, n * out, rows * out) <= MAX_ELEMENTS and rows * n * out <= MAX_MACS
    assert max(rows, n, out) > min(TAIL.max_rows, TAIL.max_features)  # it is the tail


def test_the_tail_comes_as_often_as_its_share_says():
    """Hypothesis draws integers uniformly only from small ranges: a tail chosen by the top 4% of
    1,000 slots came 1.6% of the time."""
    shapes = case_shapes(Caps(SizeCaps(tail=0.2)), 1, None)
    drawn = []

    @settings(max_examples=1000, derandomize=True, database=None, phases=[Phase.generate])
    @given(shapes)
    def draw(shape):
        drawn.append(math.prod(shape[0]) > 64 or max(shape[1], shape[2]) > 32)  # past the bulk

    draw()
    assert 0.12 < sum(drawn) / len(drawn) < 0.28


@pytest.mark.parametrize(
    "strategy",
    [cases, rank1_cases, special_cases, float_inputs, integer_inputs],
    ids=lambda s: s.__name__,
)
def test_every_promised_bucket_has_an_example_aimed_at_it(strategy):
    """What coverage aiming relies on: the strategy built with caps aimed at a bucket draws
    examples in it (the plugin draws one for each bucket a cell's examples missed)."""
    caps = Caps(SizeCaps(tail=0.04), tensors=True)
    _, promised = built(strategy, "float32", "cpu", caps)
    assert {"rows > 512", "layout fortran", "weight strided", "input tensor"} & promised
    for bucket in sorted(promised):
        aimed = strategy("float32", "cpu", replace(caps, aim=bucket))
        find(aimed, lambda e, b=bucket: b in buckets(e), settings=settings(database=None))


def test_what_is_built_from_promising_strategies_promises_what_they_do():
    """However a property composes the strategies it draws from, its strategy promises their
    buckets, on the first build and on every cached one after it."""
    caps = Caps(SizeCaps(tail=0.04), tensors=True)
    _, promised = built(cases, "float32", "cpu", caps)
    assert {"layout fortran", "weight strided", "input tensor", *SHAPE_EDGES} <= promised

    def composed(dtype, device, caps):
        mapped = cases(dtype, device, caps).map(lambda case: case)
        return st.tuples(mapped.filter(lambda case: True), st.integers())

    for _ in range(2):
        assert built(composed, "float32", "cpu", caps)[1] == promised
    _, inputs = built(lambda *a: float_inputs(*a).map(lambda e: e), "float32", "cpu", caps)
    assert promised | {"input dtype float64"} <= inputs
    assert built(lambda: st.integers())[1] == frozenset()


@pytest.mark.parametrize("name", LAYOUTS)
def test_a_layout_holds_its_values_exactly_and_is_a_view(name):
    values = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    layout = Layout(name, axis=1, step=2, offset=3)
    view = layout.arrange(fitted(values, layout))
    held = view.array()
    assert np.array_equal(held, fitted(values, layout)) and held.shape == values.shape
    assert np.shares_memory(held, view.base)
    packed = name in ("contiguous", "offset")  # an offset view is packed, past the buffer's start
    assert held.flags.c_contiguous == packed
    tensor = torch_tensor(view, "cpu")
    assert np.array_equal(tensor.numpy(), held) and tensor.is_contiguous() == packed


def test_the_memory_between_a_views_elements_holds_nan():
    view = Layout("strided", axis=0, step=2).arrange(np.ones((3, 2), np.float32))
    assert np.isnan(view.base).sum() == view.base.size - 6
