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
    zeros, flat = st.just((0,) * operands), st.just(0)
    scaled = (st.tuples(*[st.integers(min(-6, top), top)] * operands), flat)
    detail = {  # family -> (scales, spread)
        "ones": (zeros, flat),
        "small-integers": (zeros, st.integers(0, MAX_INTEGER - 1)),
        "wide-exponents": (
            st.tuples(*[st.integers(low, high)] * operands),
            st.integers(0, high - low),
        ),
    }
    return st.one_of(
        [
            st.builds(Values, st.just(family), SEEDS, *detail.get(family, scaled))
            for family in families
        ]
    )


def _family(
    rng: np.random.Generator,
    spec: Values,
    which: int,
    shape: tuple[int, ...],
    fmt: Format,
    cap: float,
) -> np.ndarray:
    """Operand `which` (0 x, 1 weight, 2 bias) of the family, its magnitudes within `cap`."""
    family, scale = spec.family, 2.0 ** spec.scales[which]
    if family == "ones":
        return np.ones(shape)
    if family == "small-integers":
        top = spec.spread + 1
        return rng.integers(-top, top + 1, size=shape).astype(np.float64)
    if family in ("uniform", "cancellation"):
        return rng.uniform(-1.0, 1.0, size=shape) * scale
    if family == "normal":  # |unit| <= 4: two binades of headroom below the cap
        return np.clip(rng.standard_normal(shape), -4.0, 4.0) * min(scale, cap / 4)
    if family == "wide-exponents":
        high = _exponents(fmt, cap)[1]
        base = spec.scales[which]
        sign = rng.choice([-1.0, 1.0], size=shape)
        binades = rng.integers(base, min(base + spec.spread, high) + 1, size=shape)
        return sign * (1.0 + rng.random(shape)) * np.exp2(binades)
    raise ValueError(
        f"unknown value family {family!r}; valid: {', '.join((*FAMILIES, ELEMENTWISE))}"
    )


def to_format(values: np.ndarray, fmt: Format) -> np.ndarray:
    """Round to the format, first flushing what would be subnormal (the default category has none)."""
    values = np.where(np.abs(values) < fmt.tiny, 0.0, values)
    return values.astype(fmt.numpy)


def fill_one(spec: Values, shape: tuple[int, ...], fmt: Format, cap: float) -> np.ndarray:
    """One operand of `shape` in the format (the first operand's scale)."""
    return to_format(_family(np.random.default_rng(spec.seed), spec, 0, shape, fmt, cap), fmt)


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
    rng = np.random.default_rng(spec.seed)
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
