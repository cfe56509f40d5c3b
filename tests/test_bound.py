"""The bound is sound (implementations it models never exceed it) and sharp (planted errors fail it)."""

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.core import oracle
from conformance.core.budget import assess, limit
from conformance.core.caps import SizeCaps
from conformance.core.contract import (
    cpu_contract,
    directed_rounding,
    float32_evaluation,
    gamma,
    sgd_bound,
)
from conformance.core.formats import (
    DTYPES,
    FORMATS,
    POLICIES,
    TF32_U,
    compute_format,
    variable_format,
)
from strategies import Caps, cases
from tests.emulated_gpu import tf32

DRAWN = settings(max_examples=150, derandomize=True, deadline=None, database=None)


def budget(got: np.ndarray, reference, contract) -> float:
    return assess(got, reference.value, limit(reference, contract), contract.dtype).budget_used


def truncate(values: np.ndarray, fmt) -> np.ndarray:
    """`values` (float32 or float64) rounded toward zero to `fmt`: the bits below its precision cut."""
    wide = np.asarray(values, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        near = wide.astype(fmt.numpy).astype(np.float64)
        below = np.nextafter(near.astype(fmt.numpy), np.zeros((), fmt.numpy)).astype(np.float64)
    return np.where(np.abs(near) > np.abs(wide), below, near).astype(fmt.numpy)


def accumulate(x, weight, bias, acc, dtype, *, order=1, split_bias=False, flush=False, to_out=None):
    """y = x W^T + b as an implementation might run it: one product and one add at a time in `acc`.

    order=-1 sums backwards; split_bias rounds the matmul to `out` before adding the bias (and
    rounds again after, like Keras' separate bias op); flush sets tiny results to zero; `to_out`
    rounds the accumulated matmul to `out` (default: to nearest).
    """
    out = FORMATS[dtype].numpy
    xa, wa = (
        x.reshape(math.prod(x.shape[:-1]), x.shape[-1]).astype(acc),
        weight.astype(acc),
    )
    total = np.zeros((xa.shape[0], wa.shape[0]), acc)
    for i in range(xa.shape[1])[::order]:
        total = (total + (xa[:, i : i + 1] * wa[:, i]).astype(acc)).astype(acc)
    if bias is not None and not split_bias:
        total = (total + bias.astype(acc)).astype(acc)
    y = total.astype(out) if to_out is None else to_out(total, FORMATS[dtype])
    if bias is not None and split_bias:
        y = (y.astype(acc) + bias.astype(acc)).astype(out)
    if flush:
        y = np.where(np.abs(y.astype(np.float64)) < FORMATS[dtype].tiny, 0, y).astype(out)
    return y.reshape(*x.shape[:-1], weight.shape[0])


def accumulator(dtype: str):
    return np.float64 if dtype == "float64" else np.float32


@pytest.mark.parametrize("dtype", DTYPES)
@DRAWN
@given(data=st.data())
def test_correctly_rounded_result_is_within_bound(dtype, data):
    case = data.draw(cases(dtype, "cpu", Caps()))
    reference = oracle.linear(case.x, case.weight, case.bias, dtype)
    exact = reference.value.astype(FORMATS[dtype].numpy)
    assert budget(exact, reference, cpu_contract(dtype)) <= 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"order": -1},
        {"split_bias": True},
        {"split_bias": True, "order": -1},
        {"flush": True},
    ],
    ids=[
        "sequential",
        "reversed",
        "split-bias",
        "split-bias-reversed",
        "flush-to-zero",
    ],
)
@DRAWN
@given(data=st.data())
def test_modelled_implementations_stay_within_bound(dtype, variant, data):
    """Sequential, reversed, split-bias (two roundings) and flushing evaluations never exceed the bound."""
    case = data.draw(cases(dtype, "cpu", Caps(SizeCaps(max_features=24, max_rows=16))))
    reference = oracle.linear(case.x, case.weight, case.bias, dtype)
    with np.errstate(under="ignore"):
        got = accumulate(case.x, case.weight, case.bias, accumulator(dtype), dtype, **variant)
    assert budget(got, reference, cpu_contract(dtype)) <= 1


def positive_case(n: int, rows: int, dtype: str, seed: int = 0):
    """x (rows, n) and W (8, n) uniform in [0.5, 1): no cancellation, so rounding errors add up."""
    rng = np.random.default_rng(seed)
    fmt = FORMATS[dtype]
    x = rng.uniform(0.5, 1.0, (rows, n)).astype(fmt.numpy)
    weight = rng.uniform(0.5, 1.0, (8, n)).astype(fmt.numpy)
    return x, weight, oracle.linear(x, weight, None, dtype)


def test_float16_accumulated_in_float16_fails_the_float32_accumulation_contract():
    x, weight, reference = positive_case(32, 16, "float16")
    got = accumulate(x, weight, None, np.float16, "float16")
    assert budget(got, reference, cpu_contract("float16")) > 1


def test_float32_from_tf32_rounded_inputs_fails_the_cpu_contract_but_not_a_tf32_one():
    x, weight, reference = positive_case(32, 16, "float32")
    got = accumulate(tf32(x), tf32(weight), None, np.float32, "float32")
    assert budget(got, reference, cpu_contract("float32")) > 1
    assert budget(got, reference, replace(cpu_contract("float32"), u_in=TF32_U)) <= 1


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(
    "variant",
    [{}, {"order": -1}, {"split_bias": True}],
    ids=["sequential", "reversed", "split-bias"],
)
@DRAWN
@given(data=st.data())
def test_a_policy_cast_then_computed_stays_within_its_bound(policy, variant, data):
    """float32 operands rounded to the policy's compute format, then summed in float32 in any
    order and rounded to the compute format (the bias split or fused): within the policy's bound."""
    case = data.draw(cases(policy, "cpu", Caps(SizeCaps(max_features=24, max_rows=16))))
    assert case.x.dtype == case.weight.dtype == np.float32
    compute = compute_format(policy)
    cast = [
        None if a is None else a.astype(compute.numpy) for a in (case.x, case.weight, case.bias)
    ]
    reference = oracle.linear(case.x, case.weight, case.bias, policy)
    with np.errstate(under="ignore"):
        got = accumulate(*cast, np.float32, compute.name, **variant)
    assert got.dtype == compute.numpy
    assert budget(got, reference, cpu_contract(policy)) <= 1


def wide_signed(rng, shape) -> np.ndarray:
    """Values of either sign over seven binades (as the wide-exponents family draws them)."""
    values = rng.uniform(1, 2, shape) * np.exp2(rng.integers(-3, 4, shape))
    return values * np.where(rng.integers(0, 2, shape) == 1, -1.0, 1.0)


@pytest.mark.parametrize("dtype", ["bfloat16", "mixed_bfloat16"])
def test_a_truncated_matmul_with_a_separate_bias_fits_directed_rounding_only(dtype):
    """TensorFlow's bfloat16 matmul on AVX2 CPUs: a float32 sum truncated to bfloat16, the bias
    then added and rounded to nearest. On this case (4 terms; seed 11 of the construction) it
    leaves the round-to-nearest bound (sharp) and stays within the directed-rounding one."""
    rng = np.random.default_rng(11)
    n = int(rng.integers(1, 24))  # 4
    bf16, stored = FORMATS["bfloat16"].numpy, variable_format(dtype).numpy
    x, weight, bias = (
        wide_signed(rng, shape).astype(bf16).astype(stored) for shape in ((4, n), (3, n), (3,))
    )
    reference = oracle.linear(x, weight, bias, dtype)
    cast = [a.astype(bf16) for a in (x, weight, bias)]
    got = accumulate(*cast, np.float32, "bfloat16", split_bias=True, to_out=truncate)
    contract = cpu_contract(dtype)
    assert budget(got, reference, contract) > 1
    assert budget(got, reference, directed_rounding(contract)) <= 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("split_bias", [False, True], ids=["fused", "split-bias"])
@DRAWN
@given(data=st.data())
def test_results_rounded_toward_zero_stay_within_the_directed_rounding_bound(
    dtype, split_bias, data
):
    case = data.draw(cases(dtype, "cpu", Caps(SizeCaps(max_features=24, max_rows=16))))
    reference = oracle.linear(case.x, case.weight, case.bias, dtype)
    with np.errstate(under="ignore"):
        got = accumulate(case.x, case.weight, case.bias, accumulator(dtype), dtype,
                         split_bias=split_bias, to_out=truncate)  # fmt: skip
    assert budget(got, reference, directed_rounding(cpu_contract(dtype))) <= 1


def test_mixed_float16_computed_from_bfloat16_operands_fails_its_bound():
    """The policy's bound has room for float16's rounding of the operands, not bfloat16's."""
    x, weight, _ = positive_case(1, 16, "float32")
    reference = oracle.linear(x, weight, None, "mixed_float16")
    as_float16 = accumulate(
        x.astype(np.float16), weight.astype(np.float16), None, np.float32, "float16"
    )
    bf16 = FORMATS["bfloat16"].numpy
    as_bfloat16 = accumulate(x.astype(bf16), weight.astype(bf16), None, np.float32, "float16")
    assert budget(as_float16, reference, cpu_contract("mixed_float16")) <= 1
    assert budget(as_bfloat16, reference, cpu_contract("mixed_float16")) > 1


@pytest.mark.parametrize("policy", POLICIES)
def test_a_policy_charges_its_cast_only_to_operands_its_compute_format_does_not_hold(policy):
    """sum(G) with G in the compute format (a bias gradient) is bounded as in that format: the cast
    rounds nothing there. A float32 x and weight (the forward) get the cast on top."""
    compute = compute_format(policy)
    rng = np.random.default_rng(0)
    upstream = rng.uniform(0.5, 1.0, (64, 4)).astype(compute.numpy)
    as_policy = limit(oracle.bias_gradient(upstream, policy), cpu_contract(policy))
    as_compute = limit(oracle.bias_gradient(upstream, compute.name), cpu_contract(compute.name))
    assert (as_policy == as_compute).all()
    x, weight = rng.uniform(0.5, 1.0, (8, 16)), rng.uniform(0.5, 1.0, (4, 16))
    x, weight = x.astype(np.float32), weight.astype(np.float32)
    forward = limit(oracle.linear(x, weight, None, policy), cpu_contract(policy))
    held = [a.astype(compute.numpy) for a in (x, weight)]
    exact = limit(oracle.linear(*held, None, compute.name), cpu_contract(compute.name))
    assert (forward > 1.5 * exact).all()  # x and the weight each rounded by u_cast on top


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 4])
def test_an_error_of_a_few_ulps_fails_short_exact_sums(dtype, n):
    """For n positive terms the bound is below n+3 ulps of the result: n+4 ulps fail it."""
    fmt = FORMATS[dtype]
    x = np.full((1, n), 1.5, fmt.numpy)
    weight = np.full((1, n), 1.25, fmt.numpy)
    reference = oracle.linear(x, weight, None, dtype)
    exact = reference.value.astype(fmt.numpy)
    ulp = float(np.exp2(np.floor(np.log2(abs(float(reference.value[0, 0]))))) * 2 * fmt.u)
    off = (exact.astype(np.float64) + (n + 4) * ulp).astype(fmt.numpy)
    assert budget(exact, reference, cpu_contract(dtype)) <= 1
    assert budget(off, reference, cpu_contract(dtype)) > 1


@pytest.mark.parametrize("dtype", DTYPES)
@DRAWN
@given(data=st.data(), factor=st.sampled_from([1.01, 2.0, 3.0]))
def test_a_planted_error_past_the_bound_fails(dtype, factor, data):
    """A result moved by `factor` bounds at one element spends more than its budget."""
    case = data.draw(cases(dtype, "cpu", Caps()))
    reference = oracle.linear(case.x, case.weight, case.bias, dtype)
    if reference.value.size == 0:
        return
    bounds = limit(reference, cpu_contract(dtype))
    got = (
        reference.value.copy()
    )  # in the oracle precision, so the planted error is not rounded away
    got.reshape(-1)[0] += factor * float(bounds.reshape(-1)[0]) * 1.001
    verdict = assess(got, reference.value, bounds, dtype)
    assert verdict.budget_used > 1
    assert verdict.index == tuple(0 for _ in got.shape)


def test_gamma_bounds_sums_of_any_length():
    assert gamma(10, 2.0**-24) == pytest.approx(10 * 2.0**-24)
    for k in (1, 100, 2**20):  # below Higham's gamma_k wherever that is defined
        assert gamma(k, 2.0**-24) <= k * 2.0**-24 / (1 - k * 2.0**-24)
    # a bfloat16 sum of 4097 terms: (1 + 2^-8)^4097 - 1, about e^16, where k*u/(1 - k*u) has none
    assert gamma(4097, 2.0**-8) == pytest.approx(np.expm1(4097 * np.log1p(2.0**-8)))
    assert gamma(4097, 2.0**-8) > 8e6


def test_float64_oracle_is_more_precise_than_float64():
    od = oracle.oracle_dtype("float64")
    assert oracle.unit_roundoff(od) <= 2.0**-53
    assert oracle.oracle_dtype("float32") == np.float64


@settings(DRAWN, max_examples=300)
@given(data=st.data(), steps=st.integers(1, 3))
def test_sgd_held_in_float32_stays_within_the_float32_evaluation_bound(data, steps):
    """A float64 layer trained in float32 (parameters held in float32 from the start, gradients
    and the update in float32, as JAX without x64 does) stays within the SGD bound of the
    float32-evaluation contract: the rounding of P_0 to float32 counts from the first step."""
    case = data.draw(cases("float64", "cpu", Caps(SizeCaps(max_features=12, max_rows=12))))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rate = 2.0 ** data.draw(st.integers(-6, 0))
    contract = float32_evaluation(cpu_contract("float32"))(cpu_contract("float64"))
    batches = [(case.x, rng.standard_normal((*case.x.shape[:-1], case.out_features)))
               for _ in range(steps)]  # fmt: skip
    with np.errstate(over="ignore"):
        held = case.weight.astype(np.float32)
    for x, g in batches:
        with np.errstate(over="ignore", invalid="ignore"):
            dweight = accumulate(oracle.rows(g).T, oracle.rows(x).T, None, np.float32, "float32")
            held = held - np.float32(rate) * dweight
    refs = [oracle.weight_gradient(x, g, "float64") for x, g in batches]
    after = oracle.sgd_trajectory(case.weight, refs, rate)
    bound = sgd_bound(contract, rate, refs, after, case.weight)
    with np.errstate(invalid="ignore"):
        error = np.abs(held.astype(np.float64) - after[-1])
    held_to = np.isinf(bound) | (error <= bound)  # inf: past float32's range, where it overflows
    assert np.all(held_to), float(np.max(np.where(held_to, 0, error / bound)))
