"""Value families: Hypothesis draws a family and a seed, numpy fills the arrays.

Every family keeps operands finite, normal (or zero) and at most `magnitude_cap` in absolute value,
so that sum|x||W| + |b| stays below a quarter of the format's largest value and cannot overflow.
Per-element Python work stays out of the strategies: only the small `elementwise` family lets
Hypothesis draw (and shrink) each element.
"""

import math

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


def magnitude_cap(fmt: Format, n: int) -> float:
    """Largest power of two c with n*c*c + c <= max/8: with |x|, |W|, |b| <= c, M stays below max/4."""
    return 2.0 ** math.floor(math.log2(math.sqrt(fmt.max / 8 / (n + 1))))


SEEDS = st.integers(0, 2**32 - 1)
_WITH_ELEMENTWISE = st.tuples(st.sampled_from((*FAMILIES, ELEMENTWISE)), SEEDS)
_NUMPY_FILLED = st.tuples(st.sampled_from(FAMILIES), SEEDS)


def value_draws(size: int) -> st.SearchStrategy[tuple[str, int]]:
    """(family, seed) for a case of `size` elements; the elementwise family only for small cases."""
    return _WITH_ELEMENTWISE if size <= ELEMENTWISE_MAX_SIZE else _NUMPY_FILLED


def _scaled(
    rng: np.random.Generator, unit: np.ndarray, cap: float, headroom: int = 0
) -> np.ndarray:
    """`unit` (|unit| <= 2**headroom) times a random power of two that keeps it within cap."""
    top = int(math.log2(cap)) - headroom
    return unit * 2.0 ** int(rng.integers(min(-6, top), top + 1))


def _family(
    rng: np.random.Generator,
    family: str,
    shape: tuple[int, ...],
    fmt: Format,
    cap: float,
) -> np.ndarray:
    if family == "ones":
        return np.ones(shape)
    if family == "small-integers":
        return rng.integers(-3, 4, size=shape).astype(np.float64)
    if family in ("uniform", "cancellation"):
        return _scaled(rng, rng.uniform(-1.0, 1.0, size=shape), cap)
    if family == "normal":
        return _scaled(rng, np.clip(rng.standard_normal(shape), -4.0, 4.0), cap, headroom=2)
    if family == "wide-exponents":
        hi = int(math.log2(cap)) - 1
        lo = max(int(math.log2(fmt.tiny)) + 1, -(hi + 8))
        sign = rng.choice([-1.0, 1.0], size=shape)
        return sign * (1.0 + rng.random(shape)) * np.exp2(rng.integers(lo, hi + 1, size=shape))
    raise ValueError(
        f"unknown value family {family!r}; valid: {', '.join((*FAMILIES, ELEMENTWISE))}"
    )


def to_format(values: np.ndarray, fmt: Format) -> np.ndarray:
    """Round to the format, first flushing what would be subnormal (the default category has none)."""
    values = np.where(np.abs(values) < fmt.tiny, 0.0, values)
    return values.astype(fmt.numpy)


def fill(
    family: str,
    seed: int,
    x_shape: tuple[int, ...],
    out_features: int,
    bias: bool,
    fmt: Format,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """x, weight (out, in) and bias (out,) or None for a numpy-filled family, exactly representable in fmt."""
    n = x_shape[-1]
    cap = magnitude_cap(fmt, n)
    rng = np.random.default_rng(seed)
    x = to_format(_family(rng, family, x_shape, fmt, cap), fmt)
    weight = to_format(_family(rng, family, (out_features, n), fmt, cap), fmt)
    if not bias:
        return x, weight, None
    b = _family(rng, family, (out_features,), fmt, cap)
    rows = x.reshape(math.prod(x_shape[:-1]), n)
    if family == "cancellation" and rows.shape[0] > 0:
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
