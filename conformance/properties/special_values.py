"""Opt-in properties over special values (--special-values): NaN/Inf positions and gradual underflow."""

import numpy as np

from conformance.core import oracle
from conformance.core.contract import overflow_limit
from conformance.core.formats import FORMATS, compute_format
from conformance.core.observation import BOUNDED, Code, Observation, Quantity
from conformance.properties.checks import forward, within_bound
from conformance.properties.declaration import declare
from strategies import special_cases, subnormal_cases


def _narrowed(values: np.ndarray | None, evaluation: str) -> np.ndarray | None:
    """`values` as a narrower format reads them: rounded, past its range infinite, tiny ones zero."""
    if values is None:
        return None
    with np.errstate(over="ignore"):
        return values.astype(FORMATS[evaluation].numpy).astype(np.float64)


def _flushed(values: np.ndarray | None, dtype: str) -> np.ndarray | None:
    """`values` with subnormals replaced by zero (what a flush-to-zero implementation computes with)."""
    if values is None:
        return None
    v = values.astype(np.float64)
    return np.where(np.abs(v) < compute_format(dtype).tiny, 0.0, v)


@declare(
    strategy=special_cases,
    shows={Code.NAN_INF_POSITION, Code.FLOAT32_EVALUATION},
    special_values=True,
)
def nan_and_inf_positions_agree(cell, subject, case):
    """NaN, +Inf and -Inf appear exactly where IEEE arithmetic on the operands puts them.

    Subnormal operands may count as themselves or as zero (0 * Inf is NaN): flushing them is
    judged by subnormals_follow_gradual_underflow, not here. A subject observed evaluating in a
    narrower format is held to the classes of its operands as that format reads them, and may put
    anything where that format overflows.
    """
    operands = (case.x, case.weight, case.bias)
    want = oracle.special_classes(*operands)
    flushed = oracle.special_classes(*(_flushed(a, case.dtype) for a in operands))
    got = oracle.classes(forward(cell, subject, case))
    wrong = (got != want) & (got != flushed)
    if not wrong.any():
        return
    with np.errstate(invalid="ignore", over="ignore"):
        reference = oracle.linear(*operands, case.dtype)
    for codes, contract in cell.judge.judged(subject.label, case.device).compositions():
        limit = overflow_limit(contract)
        if limit is None:
            continue
        read = [_narrowed(a, contract.evaluation) for a in operands]
        narrowed = oracle.special_classes(*read)
        narrowed_flushed = oracle.special_classes(*(_flushed(a, contract.evaluation) for a in read))
        admitted = (got == narrowed) | (got == narrowed_flushed) | reference.past(limit)
        if not (wrong & ~admitted).any():
            text = (
                f"puts NaN or Inf where IEEE arithmetic on its operands does not, and where a"
                f" {contract.evaluation} evaluation of them does (it fits that)"
            )
            observation = Observation(codes, text, quantity=Quantity.FORWARD)
            if cell.judge.explains(observation):
                cell.deviation(subject.label, observation)
                return
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    got_name, want_name = oracle.CLASS_NAMES[got[index]], oracle.CLASS_NAMES[want[index]]
    text = f"puts {got_name} at element {list(index)} where IEEE arithmetic gives {want_name}"
    detail = f"{oracle.SHORT_NAMES[got[index]]}-for-{oracle.SHORT_NAMES[want[index]]}"
    observation = Observation.of(Code.NAN_INF_POSITION, text, detail)
    cell.deviation(subject.label, observation, expected=want, got=got)


@declare(strategy=subnormal_cases, shows=BOUNDED, special_values=True)
def subnormals_follow_gradual_underflow(cell, subject, case):
    """With subnormal inputs whose products and sums are exact, the result is exact, bit for bit,
    wherever the subject's contract reads operands exactly (TF32 reads subnormals at TF32 precision
    and is held to its bound instead)."""
    reference = oracle.linear(case.x, case.weight, case.bias, case.dtype)
    got = forward(cell, subject, case)
    within_bound(
        cell, subject, Quantity.FORWARD, got, reference, exact=True, label="subnormal forward"
    )
