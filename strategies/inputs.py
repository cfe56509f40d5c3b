"""Inputs of another dtype than the layer's: a float32 layer called with float64, float16 or
integer x (the examples of the mixed-input properties).

x keeps the case's shape and layout; its values come from a drawn family within the magnitude
cap of both formats (so neither the input nor its cast can overflow), in the input's own
precision: a wider input carries bits the layer's dtype rounds away, an integer one whole
numbers up to the cap (at most 2^53, exact in the oracle).
"""

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from conformance.core.formats import DTYPES, FORMATS, Format, operand_format, variable_format
from conformance.core.layout import View
from strategies.cases import Caps, Case, cases, cut, fitted
from strategies.coverage import derived, narrowed, promising, reaching
from strategies.values import FAMILIES, Values, fill_one, magnitude_cap, values

#: the integer input dtypes drawn (unsigned bytes, as images come)
INTEGER_INPUTS = ("int32", "int64", "uint8")


@dataclass(frozen=True)
class MixedInput:
    """A case whose layer is called with `x` in `input_dtype` instead of the case's own x."""

    case: Case
    input_dtype: str
    x: np.ndarray

    def view(self) -> View:
        """x in the case's layout."""
        return self.case.layout.arrange(self.x)

    def coverage(self) -> list[str]:
        return [*self.case.coverage(), f"input dtype {self.input_dtype}"]

    def arrays(self) -> dict:
        return {**self.case.arrays(), "input": self.x, "input_dtype": np.array(self.input_dtype)}

    def resized(
        self, leading: tuple[int, ...], in_features: int, out_features: int
    ) -> "MixedInput":
        """This example cut down to these sizes (see Case.resized)."""
        case = self.case.resized(leading, in_features, out_features)
        return MixedInput(case, self.input_dtype, cut(self.x, leading, in_features))

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "MixedInput":
        case = Case.from_arrays(dtype, device, arrays)
        return cls(case, str(arrays["input_dtype"]), arrays["input"])


def fill_format(case: Case, input_dtype: str) -> tuple[Format, float]:
    """The format x is filled in and its magnitude cap: the input's own format within both
    formats' caps, or float64 for an integer dtype (whole numbers up to its largest, at most 2^53)."""
    n = case.in_features
    cap = magnitude_cap(operand_format(case.dtype), n)
    if input_dtype in FORMATS:
        fmt = FORMATS[input_dtype]
        return fmt, min(cap, magnitude_cap(fmt, n))
    return FORMATS["float64"], min(cap, float(np.iinfo(input_dtype).max), 2.0**53)


def input_values(spec: Values, case: Case, input_dtype: str) -> np.ndarray:
    """x of the case's shape in `input_dtype`, filled as `spec` says (see `fill_format`)."""
    fmt, cap = fill_format(case, input_dtype)
    x = fill_one(spec, case.x.shape, fmt, cap)
    if input_dtype not in FORMATS:
        x = np.rint(x)
        x = (np.abs(x) if np.iinfo(input_dtype).min == 0 else x).astype(input_dtype)
    return fitted(x, case.layout)


def _others(dtype: str, input_dtypes: tuple[str, ...]) -> tuple[str, ...]:
    """The input dtypes other than the one a layer of `dtype` is handed x in."""
    return tuple(d for d in input_dtypes if d not in (dtype, variable_format(dtype).name))


@st.composite
def _mixed(draw, dtype: str, device: str, caps: Caps, input_dtypes: tuple[str, ...]):
    case = draw(cases(dtype, device, caps))
    others = _others(dtype, input_dtypes)
    input_dtype = draw(st.sampled_from(narrowed(caps.aim, "input dtype", others)))
    fmt, cap = fill_format(case, input_dtype)
    spec = draw(values(fmt, cap, operands=1, families=FAMILIES))
    return MixedInput(case, input_dtype, input_values(spec, case, input_dtype))


def _mixed_inputs(dtype, device, caps, input_dtypes) -> st.SearchStrategy[MixedInput]:
    base = cases(dtype, device, caps)
    promised = {f"input dtype {d}" for d in _others(dtype, input_dtypes)}
    return reaching(derived(_mixed(dtype, device, caps, input_dtypes), base), promised)


@promising
def float_inputs(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[MixedInput]:
    """Cases called with x of each other floating dtype."""
    return _mixed_inputs(dtype, device, caps, DTYPES)


@promising
def integer_inputs(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[MixedInput]:
    """Cases called with integer x (int32, int64, uint8)."""
    return _mixed_inputs(dtype, device, caps, INTEGER_INPUTS)
