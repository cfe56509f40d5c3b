"""Edges of the domain where frameworks are known to part ways: each reaches a registry entry."""

import numpy as np

from conformance.core import oracle
from conformance.core.formats import compute_format
from conformance.core.observation import BOUNDED, Code, Observation, Quantity
from conformance.properties.checks import attempt, forward, result_dtype, within_bound
from conformance.properties.declaration import declare
from strategies import rank1_cases
from strategies.cases import layer_defaults, zero_out_cases


@declare(strategy=rank1_cases, shows={Code.RAISES, *BOUNDED})
def rank1_input_equals_batch_of_one(cell, subject, case):
    """x of shape (in,) gives shape (out,) and the result of the batch x[None] (within bound)."""
    got = attempt(cell, subject.label, lambda: forward(cell, subject, case))
    if got is not None:
        reference = oracle.linear(case.x, case.weight, case.bias, case.dtype)
        within_bound(cell, subject, Quantity.FORWARD, got, reference, label="rank-1 forward")


@declare(strategy=zero_out_cases, shows={Code.RAISES, Code.RESULT_DTYPE})
def zero_out_features_gives_empty_output(cell, subject, case):
    """A layer with out_features = 0 returns an empty (*leading, 0) result of the tested dtype."""
    got = attempt(cell, subject.label, lambda: forward(cell, subject, case))
    if got is not None and got.dtype != compute_format(case.dtype).numpy:
        cell.deviation(subject.label, result_dtype(got.dtype, "empty result", case.dtype))


#: bias elements a subject's default bias must show, all zero, before it counts as zero
MIN_BIAS_ELEMENTS = 16


@declare(strategy=layer_defaults, shows={Code.DEFAULT_BIAS}, pair=True)
def default_initialisation_agrees(cell, pair, case):
    """Freshly built layers of both subjects agree on whether the default bias is zero.

    A bias drawn at random is exactly zero now and then once rounded to a narrow format (JAX's
    uniform in bfloat16 lands on 0 for about 1 element in 128, in float16 1 in 1,000), so a
    disagreement no registry entry explains is confirmed before it fails: the side whose bias
    was all zero is built afresh until MIN_BIAS_ELEMENTS of its bias elements have been seen,
    and counts as zero only if every one is. For a uniform draw on a grid of 2^7 points the
    chance that 16 elements are all zero is 2^-112: no example fails by chance.
    """
    zero_bias = {subject.label: _all_zero(cell, subject, case) for subject in pair}
    observation = _disagreement(cell, zero_bias)
    if observation is not None and not cell.judge.explains(observation):
        for subject in pair:
            if zero_bias[subject.label]:
                zero_bias[subject.label] = _all_zero(cell, subject, case, MIN_BIAS_ELEMENTS)
        observation = _disagreement(cell, zero_bias)
    if observation is not None:
        cell.deviation(cell.subject, observation)


def _all_zero(cell, subject, case, elements: int = 0) -> bool:
    """Whether the default bias of fresh layers of `subject` is zero in every element, over one
    layer or as many as it takes to see `elements` bias elements (any nonzero one ends it)."""
    in_f, out_f = case.in_features, case.out_features
    seen = 0
    while True:
        weight, bias = subject.read(subject.build(in_f, out_f, True, case.dtype, case.device))
        if weight.shape != (out_f, in_f) or bias is None or bias.shape != (out_f,):
            shapes = f"{weight.shape} and {getattr(bias, 'shape', None)}"
            cell.fail(
                f"{subject.label} default layer has parameters {shapes}, not ({out_f}, {in_f}) and ({out_f},)"
            )
        if np.any(bias.astype(np.float64)):
            return False
        seen += bias.size
        if seen >= elements:
            return True


def _disagreement(cell, zero_bias: dict[str, bool]) -> Observation | None:
    zeros = [s for s, z in zero_bias.items() if z]
    others = [s for s, z in zero_bias.items() if not z]
    if not (zeros and others):
        return None
    text = (
        f"disagree: the default bias is zero in {', '.join(zeros)} but not in {', '.join(others)}"
    )
    return Observation.of(Code.DEFAULT_BIAS, text)
