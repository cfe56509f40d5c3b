"""Inputs of another dtype than the layer's: what each framework does with them.

Keras casts floating inputs to the layer's compute dtype in Layer.__call__ (autocast; integer
inputs are left alone there and promoted to the kernel's dtype by ops.matmul); torch.nn.Linear
raises ("mat1 and mat2 must have the same dtype"), a known divergence. Where a subject computes,
it is held to the cast-then-compute contract: x rounded to the layer's dtype, then the layer. A
result that misses it but fits x converted through a narrower integer dtype first (int64 through
int32, wrapping past its range, as JAX does without 64-bit types) is observed as input-narrowed.
"""

from conformance.core import oracle
from conformance.core.budget import assess, limit
from conformance.core.contract import input_cast
from conformance.core.formats import compute_format
from conformance.core.observation import BOUNDED, Code, Observation, Quantity
from conformance.properties.checks import attempt, forward, result_dtype, within_bound
from conformance.properties.declaration import declare
from strategies.inputs import MixedInput, float_inputs, integer_inputs

SHOWS = {Code.RAISES, Code.RESULT_DTYPE, Code.INPUT_NARROWED, *BOUNDED}
#: an integer input dtype and the narrower one a runtime may convert it through first
NARROWER = {"int64": "int32"}


def cast_then_linear(cell, subject, example: MixedInput) -> None:
    """The subject's result for x in another dtype: the layer's dtype, and within the bound of the
    cast-then-compute contract of the oracle on x as given."""
    case, what = example.case, f"{example.input_dtype} input"
    got = attempt(cell, subject.label, lambda: forward(cell, subject, case, example.view()))
    if got is None:
        return
    if got.dtype != compute_format(case.dtype).numpy:
        cell.deviation(subject.label, result_dtype(got.dtype, f"result for {what}", case.dtype))
        return
    reference = oracle.linear(example.x, case.weight, case.bias, case.dtype)
    cast = input_cast(case.dtype)

    def bound_for(contract):
        return limit(reference, cast(contract))

    narrower = NARROWER.get(example.input_dtype)
    # two's complement: values past the narrower dtype's range wrap; only those can show it
    wrapped = None if narrower is None else example.x.astype(narrower)
    if (
        wrapped is not None
        and (wrapped != example.x).any()
        and not _fits(cell, subject, got, reference, cast)
    ):
        narrowed = oracle.linear(wrapped, case.weight, case.bias, case.dtype)
        if _fits(cell, subject, got, narrowed, cast):
            text = f"converts {what} through {narrower} first (values past its range wrap)"
            observation = Observation(
                frozenset({Code.INPUT_NARROWED}), text, narrower, Quantity.FORWARD
            )
            cell.deviation(subject.label, observation, expected=reference.value, got=got)
            return
    within_bound(
        cell, subject, Quantity.FORWARD, got, reference.value, bound_for,
        label=f"forward of {what}",
    )  # fmt: skip


def _fits(cell, subject, got, reference, cast) -> bool:
    """Whether `got` lies within the cast-then-compute bound around `reference`."""
    contract = cast(cell.judge.judged(subject.label, cell.device).contract)
    return assess(got, reference.value, limit(reference, contract), cell.dtype).budget_used <= 1


@declare(strategy=float_inputs, example=MixedInput, shows=SHOWS)
def float_input_is_cast_to_the_layer_dtype(cell, subject, example):
    """A layer called with x of another floating dtype (float16, bfloat16, float32, float64)
    computes with x rounded to its own dtype: the result has the layer's dtype and lies within the
    bound of that cast followed by the layer."""
    cast_then_linear(cell, subject, example)


@declare(strategy=integer_inputs, example=MixedInput, shows=SHOWS)
def integer_input_is_converted_to_the_layer_dtype(cell, subject, example):
    """A layer called with integer x (int32, int64, uint8) computes with x converted to its own
    dtype: the result has the layer's dtype and lies within the bound of that conversion followed
    by the layer."""
    cast_then_linear(cell, subject, example)
