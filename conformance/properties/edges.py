"""Edges of the domain where frameworks are known to part ways: each reaches a registry entry."""

import numpy as np

from conformance.core import oracle
from conformance.core.formats import compute_format
from conformance.core.observation import BOUNDED, Code, Observation, Quantity
from conformance.property import attempt, declare, forward, result_dtype, within_bound
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


@declare(strategy=layer_defaults, shows={Code.DEFAULT_BIAS}, pair=True)
def default_initialisation_agrees(cell, pair, case):
    """Freshly built layers of both subjects agree on whether the default bias is zero."""
    in_f, out_f = case.in_features, case.out_features
    zero_bias = {}
    for subject in pair:
        weight, bias = subject.read(subject.build(in_f, out_f, True, case.dtype, case.device))
        if weight.shape != (out_f, in_f) or bias is None or bias.shape != (out_f,):
            shapes = f"{weight.shape} and {getattr(bias, 'shape', None)}"
            cell.fail(
                f"{subject.label} default layer has parameters {shapes}, not ({out_f}, {in_f}) and ({out_f},)"
            )
        zero_bias[subject.label] = not np.any(bias.astype(np.float64))
    zeros = [s for s, z in zero_bias.items() if z]
    others = [s for s, z in zero_bias.items() if not z]
    if zeros and others:
        text = f"default bias is zero in {', '.join(zeros)} but not in {', '.join(others)}"
        cell.deviation(cell.subject, Observation.of(Code.DEFAULT_BIAS, text))
