"""The oracle: y = x W^T + b in a precision well above the tested one, from the same operands.

float16, bfloat16 and float32 operands multiply exactly in float64 (with BLAS); float64 operands
are evaluated in np.longdouble (64-bit significand on x86-64) up to LONGDOUBLE_MACS multiply-adds,
beyond that in float64 with BLAS: numpy multiplies long doubles without BLAS, about 3e8
multiply-adds a second on one core, so a 4096 x 1024 x 16 product would take a second. The
oracle's unit roundoff goes into the bound, so a float64 evaluation (or a platform whose longdouble
is plain float64) gets a looser but still sound bound: about twice the subject's own.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from conformance.core.formats import FORMATS, variable_format


@dataclass(frozen=True)
class Reference:
    """The oracle's result with what a bound needs: M = |a||b|^T + |c|, the sum length n, the
    oracle's unit roundoff, and the operands themselves (for terms only looser contracts use)."""

    value: np.ndarray
    magnitude: np.ndarray
    n: int
    u: float
    left: np.ndarray  # a (..., n)
    right: np.ndarray  # b (k, n): value = a b^T (+ c), reshaped to value's shape
    addend: np.ndarray | None = None  # c (k,) or None
    _cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def underflow_sum(self, tiny: float) -> np.ndarray:
        """Per element: sum_i |a_i| [|b_i| < tiny] + [|a_i| < tiny] |b_i|, plus 1 where |c| < tiny:
        what an operand read with an absolute error below `tiny` can move (times that error)."""
        key = ("underflow", tiny)
        if key not in self._cache:
            a, b = np.abs(self.left), np.abs(self.right)
            with np.errstate(invalid="ignore"):  # inf * 0: an infinite operand moves anything
                total = a @ (b < tiny).T.astype(a.dtype) + (a < tiny).astype(a.dtype) @ b.T
            total = np.where(np.isnan(total), np.inf, total)
            if self.addend is not None:
                total = total + (np.abs(self.addend) < tiny)
            self._cache[key] = total.reshape(self.value.shape)
        return self._cache[key]

    def held_in(self, name: str) -> tuple[bool, bool, bool]:
        """Whether the format `name` holds the left operand, the right one and the addend (None:
        held) exactly: a mixed policy's cast to its compute format rounds only those it does not."""
        key = ("held", name)
        if key not in self._cache:
            fmt = FORMATS[name].numpy

            def held(a: np.ndarray | None) -> bool:
                if a is None:
                    return True
                with np.errstate(over="ignore", invalid="ignore"):
                    back = a.astype(fmt).astype(a.dtype)
                return bool(((back == a) | (np.isnan(back) & np.isnan(a))).all())

            self._cache[key] = (held(self.left), held(self.right), held(self.addend))
        return self._cache[key]

    def past(self, limit: float) -> np.ndarray:
        """Where a finite operand, or the sum of finite products' magnitudes, passes `limit`:
        an evaluation whose largest value is `limit` may overflow there."""
        key = ("past", limit)
        if key not in self._cache:
            a, b = _finite_abs(self.left), _finite_abs(self.right)
            over = np.asarray((a > limit).any(-1))[..., None] | (b > limit).any(-1)
            magnitude = a @ b.T
            if self.addend is not None:
                c = _finite_abs(self.addend)
                over, magnitude = over | (c > limit), magnitude + c
            self._cache[key] = (over | (magnitude > limit)).reshape(self.value.shape)
        return self._cache[key]


def _finite_abs(a: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(a), np.abs(a), 0)


#: multiply-adds up to which float64 operands are evaluated in long double (beyond: float64)
LONGDOUBLE_MACS = 2**22


def oracle_dtype(dtype: str, macs: int = 0) -> np.dtype:
    """float64 when products of `dtype` values are exact in it, else the widest float numpy has
    for products of up to LONGDOUBLE_MACS multiply-adds (float64 beyond)."""
    if 2 * variable_format(dtype).precision <= 53 or macs > LONGDOUBLE_MACS:
        return np.dtype(np.float64)
    return np.dtype(np.longdouble)


def unit_roundoff(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).eps) / 2


def matmul_t(a: np.ndarray, b: np.ndarray, c: np.ndarray | None, dtype: str) -> Reference:
    """Oracle for a @ b^T (+ c) over the last axis of `a`, with operands given in `dtype`."""
    od = oracle_dtype(dtype, a.size * b.shape[0])
    a_, b_ = a.astype(od), b.astype(od)
    value = a_ @ b_.T
    magnitude = np.abs(a_) @ np.abs(b_).T
    c_ = None
    if c is not None:
        c_ = c.astype(od)
        value = value + c_
        magnitude = magnitude + np.abs(c_)
    return Reference(value, magnitude, a.shape[-1], unit_roundoff(od), a_, b_, c_)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, dtype: str) -> Reference:
    """Oracle for Linear/Dense: x (..., in), weight (out, in), bias (out,) or None."""
    return matmul_t(x, weight, bias, dtype)


#: classes of IEEE results, for exact-position comparisons
FINITE, NAN, POS_INF, NEG_INF = 0, 1, 2, 3
CLASS_NAMES = {FINITE: "a finite value", NAN: "NaN", POS_INF: "+Inf", NEG_INF: "-Inf"}
SHORT_NAMES = {FINITE: "finite", NAN: "NaN", POS_INF: "+Inf", NEG_INF: "-Inf"}


def classes(values: np.ndarray) -> np.ndarray:
    """FINITE, NAN, POS_INF or NEG_INF per element."""
    v = values.astype(np.float64)
    return np.select(
        [np.isnan(v), v == np.inf, v == -np.inf], [NAN, POS_INF, NEG_INF], FINITE
    ).astype(np.int8)


def special_classes(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """IEEE class of each element of x W^T + b, from the classes of the products and the bias
    (Inf*0 = NaN, Inf-Inf = NaN), counted with matrix products of indicators, not formed one by one.

    Finite operands are bounded so finite sums cannot overflow: only NaN/Inf operands make NaN/Inf,
    so only the rows of x and of W that hold an infinity enter the products (a few, at any size).
    """
    a, w = rows(x).astype(np.float64), weight.astype(np.float64)
    nan = np.asarray(np.isnan(a).any(axis=-1, keepdims=True) | np.isnan(w).any(axis=-1))
    positive = np.zeros_like(nan)
    negative = np.zeros_like(nan)

    def signs(v: np.ndarray) -> tuple[np.ndarray, ...]:
        """(+Inf, -Inf, > 0, < 0, == 0) indicators as float32 (exact counts up to 2^24, BLAS)."""
        with np.errstate(invalid="ignore"):
            found = (v == np.inf, v == -np.inf, v > 0, v < 0, v == 0)
        return tuple(f.astype(np.float32) for f in found)

    def infinite_products(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, ...]:
        """(NaN, +Inf, -Inf) indicators of the sums left right^T whose infinite terms have
        their infinite factor in `left`."""
        plus, minus, _, _, _ = signs(left)
        _, _, pos, neg, zero = signs(right)
        return (
            (plus + minus) @ zero.T > 0,
            plus @ pos.T + minus @ neg.T > 0,
            plus @ neg.T + minus @ pos.T > 0,
        )

    at = np.flatnonzero(np.isinf(a).any(-1))  # rows of x with an infinity
    if at.size:
        found = infinite_products(a[at], w)
        for total, more in zip((nan, positive, negative), found, strict=True):
            total[at] |= more
    at = np.flatnonzero(np.isinf(w).any(-1))  # rows of W (outputs) with an infinity
    if at.size:
        found = infinite_products(w[at], a)
        for total, more in zip((nan, positive, negative), found, strict=True):
            total[:, at] |= more.T
    if bias is not None:
        c = bias.astype(np.float64)
        nan, positive, negative = (
            nan | np.isnan(c),
            positive | (c == np.inf),
            negative | (c == -np.inf),
        )
    classes = np.select(
        [nan | (positive & negative), positive, negative], [NAN, POS_INF, NEG_INF], FINITE
    ).astype(np.int8)
    return classes.reshape(*x.shape[:-1], w.shape[0])


def rows(a: np.ndarray) -> np.ndarray:
    """a (..., k) as the 2-D batch (rows, k)."""
    return a.reshape(int(np.prod(a.shape[:-1])), a.shape[-1])


def input_gradient(upstream: np.ndarray, weight: np.ndarray, dtype: str) -> Reference:
    """dL/dx = G W for L = sum(G * y): (..., out) x (out, in), a sum over out."""
    return matmul_t(upstream, np.ascontiguousarray(weight.T), None, dtype)


def weight_gradient(x: np.ndarray, upstream: np.ndarray, dtype: str) -> Reference:
    """dL/dW = G^T X over every leading dim: (out, in), a sum over all batch rows."""
    return matmul_t(
        np.ascontiguousarray(rows(upstream).T),
        np.ascontiguousarray(rows(x).T),
        None,
        dtype,
    )


def bias_gradient(upstream: np.ndarray, dtype: str) -> Reference:
    """dL/db = the sum of G over every leading dim: (out,), a sum over all batch rows."""
    g = rows(upstream)
    reference = matmul_t(np.ones((1, g.shape[0]), g.dtype), g.T, None, dtype)
    return replace(reference, value=reference.value[0], magnitude=reference.magnitude[0])


def sgd_trajectory(
    start: np.ndarray, gradients: list[Reference], learning_rate: float
) -> list[np.ndarray]:
    """Parameters after each step P <- P - lr * g_t, in the oracle's precision."""
    params = start.astype(gradients[0].value.dtype)
    after = []
    for reference in gradients:
        params = params - learning_rate * reference.value
        after.append(params)
    return after


def input_gradient_norm_gradient(upstream: np.ndarray, weight: np.ndarray, dtype: str) -> tuple:
    """d ||dL/dx||^2 / dW = 2 G^T (G W): (inner P = G W, outer Q = 2 G^T P, |G|^T as the left operand)."""
    inner = input_gradient(upstream, weight, dtype)
    g, p = rows(upstream).astype(inner.value.dtype), rows(inner.value)
    outer = matmul_t(2 * g.T, p.T, None, dtype)
    return inner, outer, np.abs(g.T)
