"""Value families: Hypothesis draws a family, a seed and how simple the values are; numpy fills
the arrays.

Every family keeps operands finite, normal (or zero) and at most `magnitude_cap` in absolute value,
so that sum|x||W| + |b| stays below a quarter of the format's largest value and cannot overflow.
Per-element Python work stays out of the strategies: only the small `elementwise` family lets
Hypothesis draw each element. The others shrink toward simple values too: each operand's scale
toward 2^0, small integers toward {-1, 0, 1}, wide exponents toward a single binade.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.core.formats import Format

FAMILIES = (
    "ones",
    "small-integers",
    "uniform",
    "normal",
    "wide-exponents",
    "cancellation",
)
ELEMENTWISE = "elementwise"
ELEMENTWISE_MAX_SIZE = 96  # elements of x and W together
#: the largest magnitude of the small-integers family
MAX_INTEGER = 3
SEEDS = st.integers(0, 2**32 - 1)


def magnitude_cap(fmt: Format, n: int) -> float:
    """Largest power of two c with n*c*c + c <= max/8: with |x|, |W|, |b| <= c, M stays below max/4."""
    return 2.0 ** math.floor(math.log2(math.sqrt(fmt.max / 8 / (n + 1))))


@dataclass(frozen=True)
class Values:
    """How numpy fills one example's operands: a family, a seed, a scale exponent per operand (of
    uniform, normal and cancellation values; the lowest binade of wide exponents) and a spread
    (small integers up to spread + 1; wide exponents over spread + 1 binades)."""

    family: str
    seed: int = 0
    scales: tuple[int, ...] = (0, 0, 0)
    spread: int = 0

    def __str__(self) -> str:
        if self.family in ("ones", ELEMENTWISE):
            return self.family
        return (
            f"{self.family} (seed {self.seed}, scales 2^{list(self.scales)}, spread {self.spread})"
        )

    def rng(self, *sizes: int) -> np.random.Generator:
        """The generator that fills operands of these sizes, seeded by the seed and the sizes:
        examples of different shapes get independent values even while Hypothesis holds the seed
        at its simplest, as its early examples and its mutations of them do."""
        return np.random.default_rng([self.seed, *sizes])


def _exponents(fmt: Format, cap: float) -> tuple[int, int]:
    """The lowest binade wide exponents may start from and the highest within the cap (a cap
    below 2^-3, as large shapes give an upstream gradient, leaves one binade)."""
    hi = int(math.log2(cap)) - 1
    return min(max(int(math.log2(fmt.tiny)) + 1, -(hi + 8)), hi), hi


@functools.cache
def values(
    fmt: Format, cap: float, operands: int = 3, families: tuple[str, ...] = FAMILIES
) -> st.SearchStrategy[Values]:
    """A family from `families` (shrinking toward the first), a seed, and its simplicity: one
    scale per operand, within `cap`, shrinking toward 2^0, and a spread shrinking toward 0."""
    top = int(math.log2(cap))
    low, high = _exponents(fmt, cap)
    scale = st.integers(min(-6, top), top)
    detail = {  # family -> (the scale of each operand or None: 2^0, the spread or None: 0)
        "ones": (None, None),
        "small-integers": (None, st.integers(0, MAX_INTEGER - 1)),
        "wide-exponents": (st.integers(low, high), st.integers(0, high - low)),
    }
    return _values(st.sampled_from(families), operands, detail, (scale, None))


@st.composite
def _values(draw, family, operands: int, detail: dict, other: tuple) -> Values:
    """Drawn directly (one Hypothesis draw per choice, no nested strategies: draws cost)."""
    name = draw(family)
    scale, spread = detail.get(name, other)
    seed = draw(SEEDS)
    scales = (0,) * operands if scale is None else tuple(draw(scale) for _ in range(operands))
    return Values(name, seed, scales, 0 if spread is None else draw(spread))


def carrier(fmt: Format) -> np.dtype:
    """The dtype numpy fills operands of `fmt` in before rounding: float32 for formats it holds
    exactly (half the memory traffic of float64, which matters for the tail's large operands)."""
    return np.dtype(np.float64 if fmt.precision > 24 else np.float32)


def _family(
    rng: np.random.Generator,
    spec: Values,
    which: int,
    shape: tuple[int, ...],
    fmt: Format,
    cap: float,
) -> np.ndarray:
    """Operand `which` (0 x, 1 weight, 2 bias) of the family, its magnitudes within `cap`, in the
    format's carrier (every step in place)."""
    family, scale, dtype = spec.family, 2.0 ** spec.scales[which], carrier(fmt)
    if family == "ones":
        return np.ones(shape, dtype)
    if family == "small-integers":
        top = spec.spread + 1
        return rng.integers(-top, top + 1, size=shape, dtype=np.int8).astype(dtype)
    if family in ("uniform", "cancellation"):
        values = rng.random(shape, dtype)
        values *= 2 * scale
        values -= scale
        return values
    if family == "normal":  # |unit| <= 4: two binades of headroom below the cap
        values = rng.standard_normal(shape, dtype)
        np.clip(values, -4.0, 4.0, out=values)
        values *= min(scale, cap / 4)
        return values
    if family == "wide-exponents":
        high = _exponents(fmt, cap)[1]
        base = spec.scales[which]
        values = rng.random(shape, dtype)
        values += 1
        np.negative(values, out=values, where=rng.integers(0, 2, size=shape, dtype=bool))
        binades = rng.integers(base, min(base + spec.spread, high) + 1, size=shape, dtype=np.int32)
        return np.ldexp(values, binades, out=values)
    raise ValueError(
        f"unknown value family {family!r}; valid: {', '.join((*FAMILIES, ELEMENTWISE))}"
    )


def to_format(values: np.ndarray, fmt: Format) -> np.ndarray:
    """Round to the format, then flush to zero what rounded to a subnormal (the default category
    has none): those with an all-zero exponent field. May reuse `values`' memory."""
    rounded = np.asarray(values, dtype=fmt.numpy)
    if rounded is values:
        rounded = rounded.copy()
    exponent = ((1 << (8 * fmt.numpy.itemsize - fmt.precision)) - 1) << (fmt.precision - 1)
    bits = rounded.view(f"u{fmt.numpy.itemsize}")
    rounded[(bits & exponent) == 0] = 0
    return rounded


def fill_one(spec: Values, shape: tuple[int, ...], fmt: Format, cap: float) -> np.ndarray:
    """One operand of `shape` in the format (the first operand's scale)."""
    return to_format(_family(spec.rng(*shape), spec, 0, shape, fmt, cap), fmt)


def fill(
    spec: Values,
    x_shape: tuple[int, ...],
    out_features: int,
    bias: bool,
    fmt: Format,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """x, weight (out, in) and bias (out,) or None for a numpy-filled family, exactly representable in fmt."""
    n = x_shape[-1]
    cap = magnitude_cap(fmt, n)
    rng = spec.rng(*x_shape, out_features, bias)
    x = to_format(_family(rng, spec, 0, x_shape, fmt, cap), fmt)
    weight = to_format(_family(rng, spec, 1, (out_features, n), fmt, cap), fmt)
    if not bias:
        return x, weight, None
    b = _family(rng, spec, 2, (out_features,), fmt, cap)
    rows = x.reshape(math.prod(x_shape[:-1]), n)
    if spec.family == "cancellation" and rows.shape[0] > 0:
        b = -(rows[0].astype(np.float64) @ weight.astype(np.float64).T)
    return x, weight, to_format(b, fmt)


def elementwise_arrays(
    shape: tuple[int, ...], fmt: Format, n: int
) -> st.SearchStrategy[np.ndarray]:
    """Arrays whose every element Hypothesis draws (finite, normal or zero, within the cap).

    bfloat16 is drawn as float32 and rounded: the cap is a power of two, so it stays within it.
    """
    cap = magnitude_cap(fmt, n)
    carrier = np.dtype({"float16": np.float16, "float64": np.float64}.get(fmt.name, np.float32))
    elements = hnp.from_dtype(
        carrier,
        min_value=-cap,
        max_value=cap,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    )
    return hnp.arrays(carrier, shape, elements=elements).map(lambda a: to_format(a, fmt))
