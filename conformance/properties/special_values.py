"""Opt-in properties over special values (--special-values): NaN/Inf positions and gradual underflow."""

import numpy as np

from conformance.core import oracle
from conformance.core.contract import overflow_limit
from conformance.core.formats import FORMATS
from conformance.core.observation import ARITHMETIC, Code, Observation, Quantity
from conformance.property import declare, forward, within_bound
from strategies import draw_special_case, draw_subnormal_case


def _flushed(values: np.ndarray | None, dtype: str) -> np.ndarray | None:
    """`values` with subnormals replaced by zero (what a flush-to-zero implementation computes with)."""
    if values is None:
        return None
    v = values.astype(np.float64)
    return np.where(np.abs(v) < FORMATS[dtype].tiny, 0.0, v)


@declare(
    draw=draw_special_case,
    shows={Code.NAN_INF_POSITION, Code.FLOAT32_EVALUATION},
    special_values=True,
)
def nan_and_inf_positions_agree(cell, subject, case):
    """NaN, +Inf and -Inf appear exactly where IEEE arithmetic on the operands puts them.

    Subnormal operands may count as themselves or as zero (0 * Inf is NaN): flushing them is
    judged by subnormals_follow_gradual_underflow, not here. A subject observed evaluating in a
    narrower format may put anything where that format overflows.
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
    for codes, contract in cell.judged(subject, case.device).compositions():
        limit = overflow_limit(contract)
        if limit is not None and not (wrong & ~reference.past(limit)).any():
            text = "overflows where a float32 evaluation of its operands passes float32's range"
            observation = Observation(codes, text, quantity=Quantity.FORWARD)
            if cell.explains(observation):
                cell.deviation(subject.label, observation)
                return
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    got_name, want_name = oracle.CLASS_NAMES[got[index]], oracle.CLASS_NAMES[want[index]]
    text = f"puts {got_name} at element {list(index)} where IEEE arithmetic gives {want_name}"
    detail = f"{oracle.SHORT_NAMES[got[index]]}-for-{oracle.SHORT_NAMES[want[index]]}"
    observation = Observation.of(Code.NAN_INF_POSITION, text, detail)
    cell.deviation(subject.label, observation, expected=want, got=got)


@declare(draw=draw_subnormal_case, shows=ARITHMETIC, special_values=True)
def subnormals_follow_gradual_underflow(cell, subject, case):
    """With subnormal inputs whose products and sums are exact, the result is exact, bit for bit,
    wherever the subject's contract reads operands exactly (TF32 reads subnormals at TF32 precision
    and is held to its bound instead)."""
    reference = oracle.linear(case.x, case.weight, case.bias, case.dtype)
    got = forward(cell, subject, case)
    within_bound(
        cell, subject, Quantity.FORWARD, got, reference, exact=True, label="subnormal forward"
    )
