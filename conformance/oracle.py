"""The oracle: y = x W^T + b in a precision well above the tested one, from the same operands.

float16, bfloat16 and float32 operands multiply exactly in float64; float64 operands are
evaluated in np.longdouble (64-bit significand on x86-64). The oracle's unit roundoff goes into
the bound, so a platform whose longdouble is plain float64 gets a looser but still sound bound.
"""

from dataclasses import dataclass

import numpy as np

from conformance.formats import FORMATS


@dataclass(frozen=True)
class Reference:
    """The oracle's result with what the bound needs: M = |x||W|^T + |b|, the sum length n, its unit roundoff."""

    value: np.ndarray
    magnitude: np.ndarray
    n: int
    u: float


def oracle_dtype(dtype: str) -> np.dtype:
    """float64 when products of `dtype` values are exact in it, else the widest float numpy has."""
    return (
        np.dtype(np.float64)
        if 2 * FORMATS[dtype].precision <= 53
        else np.dtype(np.longdouble)
    )


def unit_roundoff(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).eps) / 2


def matmul_t(
    a: np.ndarray, b: np.ndarray, c: np.ndarray | None, dtype: str
) -> Reference:
    """Oracle for a @ b^T (+ c) over the last axis of `a`, with operands given in `dtype`."""
    od = oracle_dtype(dtype)
    a_, b_ = a.astype(od), b.astype(od)
    value = a_ @ b_.T
    magnitude = np.abs(a_) @ np.abs(b_).T
    if c is not None:
        c_ = c.astype(od)
        value = value + c_
        magnitude = magnitude + np.abs(c_)
    return Reference(
        value=value, magnitude=magnitude, n=a.shape[-1], u=unit_roundoff(od)
    )


def linear(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, dtype: str
) -> Reference:
    """Oracle for Linear/Dense: x (..., in), weight (out, in), bias (out,) or None."""
    return matmul_t(x, weight, bias, dtype)


#: classes of IEEE results, for exact-position comparisons
FINITE, NAN, POS_INF, NEG_INF = 0, 1, 2, 3
CLASS_NAMES = {FINITE: "a finite value", NAN: "NaN", POS_INF: "+Inf", NEG_INF: "-Inf"}


def classes(values: np.ndarray) -> np.ndarray:
    """FINITE, NAN, POS_INF or NEG_INF per element."""
    v = values.astype(np.float64)
    return np.select(
        [np.isnan(v), v == np.inf, v == -np.inf], [NAN, POS_INF, NEG_INF], FINITE
    ).astype(np.int8)


def special_classes(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None
) -> np.ndarray:
    """IEEE class of each element of x W^T + b, from every product summed in float64 (Inf*0 = NaN, Inf-Inf = NaN).

    Finite operands are bounded so finite sums cannot overflow: only NaN/Inf operands make NaN/Inf.
    """
    x64, w64 = x.astype(np.float64), weight.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        products = x64[..., None, :] * w64  # (*leading, out, in)
        total = products.sum(axis=-1)
        if bias is not None:
            total = total + bias.astype(np.float64)
    return classes(total)
