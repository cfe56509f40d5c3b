"""Observations: what a subject did that its property does not claim, named by stable codes.

A code names a behaviour, never a message: the divergence registry matches codes, so rewording
a message cannot drop a known divergence. The arithmetic codes each name a looser contract that a
result fits, and they compose: a float64 Dense evaluated in float32 with TF32 operands is
observed as both `float32-evaluation` and `tf32`.
"""

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """What a subject was observed to do (each member's meaning: `DESCRIPTIONS`)."""

    FLOAT32_EVALUATION = "float32-evaluation"
    TF32 = "tf32"
    DIRECTED_ROUNDING = "directed-rounding"
    REDUCED_ACCUMULATION = "reduced-accumulation"
    FLUSH_TO_ZERO = "flush-to-zero"
    RESULT_DTYPE = "result-dtype"
    PARAMETER_DTYPE = "parameter-dtype"
    NAN_INF_POSITION = "nan-inf-position"
    INPUT_NARROWED = "input-narrowed"
    RAISES = "raises"
    DEFAULT_BIAS = "default-bias"


#: what each code says was observed (the registry page lists these)
DESCRIPTIONS = {
    Code.FLOAT32_EVALUATION: "a float64 result past its bound that fits evaluation in float32 "
    "(operands, sums and result rounded to float32)",
    Code.TF32: "a float32 result past its bound that fits TF32 operands (10 fraction bits; "
    "subnormal operands may read as zero)",
    Code.DIRECTED_ROUNDING: "a result past its bound that fits rounding in one direction "
    "(toward zero, say): errors up to a whole unit in the last place of the result, not half",
    Code.REDUCED_ACCUMULATION: "a float16 or bfloat16 result past its bound that fits "
    "accumulation in its own format (a kernel that rounds each product to it fits too)",
    Code.FLUSH_TO_ZERO: "a result past its bound that fits subnormal operands read as zero "
    "(and subnormal results written as zero)",
    Code.RESULT_DTYPE: "a result or gradient of another dtype than the one tested "
    "(detail: the dtype returned)",
    Code.PARAMETER_DTYPE: "parameters that read back in another dtype than the one loaded "
    "(detail: that dtype); a shape that differs is a failure, not this",
    Code.NAN_INF_POSITION: "NaN or Inf where IEEE arithmetic puts none, or the reverse "
    "(detail: NaN-for-finite, +Inf-for-finite, ...)",
    Code.INPUT_NARROWED: "integer x whose result fits conversion through a narrower integer "
    "dtype first, past whose range values wrap (detail: that dtype)",
    Code.RAISES: "the subject raised where the property expects a result "
    "(detail: the exception type)",
    Code.DEFAULT_BIAS: "the default bias is zero in one subject of a pair and not in the other",
}


#: the looser contracts, in the order they compose (float32 evaluation first: TF32 then applies to it)
ARITHMETIC = (
    Code.FLOAT32_EVALUATION,
    Code.TF32,
    Code.DIRECTED_ROUNDING,
    Code.REDUCED_ACCUMULATION,
    Code.FLUSH_TO_ZERO,
)
#: what a comparison against a bound can show: looser arithmetic, or NaN/Inf where the exact
#: result is finite (every finite element within its bound)
BOUNDED = frozenset({*ARITHMETIC, Code.NAN_INF_POSITION})


class Quantity(StrEnum):
    """Which result a comparison is about; a registry entry may narrow itself to some."""

    FORWARD = "forward"
    INPUT_GRADIENT = "input gradient"
    WEIGHT_GRADIENT = "weight gradient"
    BIAS_GRADIENT = "bias gradient"
    WEIGHT_UPDATE = "weight update"
    BIAS_UPDATE = "bias update"
    SECOND_DERIVATIVE = "second derivative"


@dataclass(frozen=True)
class Observation:
    """One observed behaviour: its codes (several for a compound contract), an optional detail,
    the quantity and device it was seen in (None: the cell's), and one line for people."""

    codes: frozenset[Code]
    text: str
    detail: str | None = None
    quantity: Quantity | None = None
    device: str | None = None
    #: how `names` shows it, where it stands for several compositions the result fits alike
    shown: str | None = None

    @classmethod
    def of(cls, code: Code, text: str, detail: str | None = None) -> "Observation":
        return cls(frozenset({code}), text, detail)

    def names(self) -> str:
        """The codes as the registry spells them, in composition order (e.g. float32-evaluation+tf32)."""
        if self.shown is not None:
            return self.shown
        ordered = [c for c in Code if c in self.codes]
        return "+".join(
            f"{c}:{self.detail}" if self.detail and len(ordered) == 1 else str(c) for c in ordered
        )
