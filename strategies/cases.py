"""Cases: one drawn example (shapes, bias, dtype, device, values), every draw labelled."""

import dataclasses
import functools
import math
import os
from dataclasses import dataclass

import numpy as np
from hypothesis import event
from hypothesis import strategies as st

from conformance.core.formats import FORMATS
from strategies.shapes import layer_shapes, leading_shapes, shape_pool
from strategies.values import (
    ELEMENTWISE,
    ELEMENTWISE_MAX_SIZE,
    FAMILIES,
    Values,
    elementwise_arrays,
    fill,
    magnitude_cap,
    values,
)

#: environment variables that set the size caps when no option does
CAP_ENV = {
    "max_features": "CONFORMANCE_MAX_FEATURES",
    "max_rows": "CONFORMANCE_MAX_ROWS",
}


@dataclass(frozen=True)
class Caps:
    """Size caps: features per layer side and rows (product of the leading dims) per case."""

    max_features: int = 32
    max_rows: int = 64
    #: draw shapes from a fixed pool of this many (subjects that compile every new shape), or any
    shapes: int | None = None

    @classmethod
    def from_env(cls, **given: int | None) -> "Caps":
        """Caps from explicit values, else the environment, else the defaults."""
        values = {}
        for field, var in CAP_ENV.items():
            value = given.get(field)
            if value is None and os.environ.get(var):
                value = _positive(var, os.environ[var])
            if value is not None:
                values[field] = value
        return cls(**values)


def _positive(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {text!r}")
    return value


@dataclass(frozen=True)
class Case:
    """One example: x (*leading, in), canonical weight (out, in) and bias (out,) or None, in `dtype`."""

    dtype: str
    device: str
    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    family: str
    #: special values placed into the operands (the opt-in category)
    specials: tuple[str, ...] = ()
    #: how numpy filled the operands (None: drawn element by element, or built otherwise)
    values: Values | None = None

    def __repr__(self) -> str:
        bias = "bias" if self.has_bias else "no bias"
        values = self.values or self.family
        specials = f", specials {list(self.specials)}" if self.specials else ""
        return (
            f"Case({self.dtype} on {self.device}: x {self.x.shape}, "
            f"{self.in_features} -> {self.out_features} features, {bias}, values {values}{specials})"
        )

    @property
    def case(self) -> "Case":
        """The case every example carries (here: itself)."""
        return self

    def arrays(self) -> dict[str, np.ndarray | None]:
        """What a reproducer stores to rebuild this example (`from_arrays`)."""
        return {"x": self.x, "weight": self.weight, "bias": self.bias}

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Case":
        return cls(dtype, device, arrays["x"], arrays["weight"], arrays.get("bias"), "replayed")

    @property
    def leading(self) -> tuple[int, ...]:
        return self.x.shape[:-1]

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def flat_x(self) -> np.ndarray:
        """x as the 2-D batch (rows, in), rows being the product of the leading dims."""
        return self.x.reshape(math.prod(self.leading), self.in_features)

    @property
    def has_bias(self) -> bool:
        return self.bias is not None

    def summary(self) -> dict:
        return {
            "leading_shape": list(self.leading),
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.has_bias,
            "dtype": self.dtype,
            "device": self.device,
            "values": self.family,
        }

    def coverage(self) -> list[str]:
        """Coverage buckets this case falls in (also sent to Hypothesis as events)."""
        buckets = [
            f"leading rank {len(self.leading)}",
            "bias on" if self.has_bias else "bias off",
            f"values {self.family}",
        ]
        if 0 in self.leading:
            buckets.append("zero-size batch")
        if self.in_features == 0:
            buckets.append("no inputs")
        if self.in_features == self.out_features:
            buckets.append("square layer")
        if self.out_features == 1:
            buckets.append("one output")
        buckets.extend(f"special {value}" for value in sorted(set(self.specials)))
        return buckets


@functools.cache
def case_shapes(
    caps: Caps, min_leading_dims: int, out_features: int | None, zero_size: bool = False
):
    """(leading shape, in_features, out_features, bias) in one draw; out_features fixed when
    given; from a fixed pool of `caps.shapes` shapes when the caps say so."""
    if caps.shapes:
        pool = shape_pool(caps.max_rows, caps.max_features, caps.shapes,
                          min_leading_dims, out_features, zero_size)  # fmt: skip
        return st.tuples(st.sampled_from(pool), st.booleans()).map(lambda t: (*t[0], t[1]))
    leading = leading_shapes(caps.max_rows, min_dims=min_leading_dims, zero_size=zero_size)
    if out_features is None:
        layer = layer_shapes(caps.max_features)
    else:
        layer = st.tuples(st.integers(0, caps.max_features), st.just(out_features))
    return st.tuples(leading, layer, st.booleans()).map(lambda t: (t[0], *t[1], t[2]))


def _operands(draw, dtype: str, x_shape: tuple[int, ...], out_features: int, bias: bool):
    """(values, x, weight, bias or None): numpy-filled from a drawn family, or, for small cases
    (the elementwise family), every element drawn."""
    fmt, n = FORMATS[dtype], x_shape[-1]
    small = math.prod(x_shape) + out_features * n <= ELEMENTWISE_MAX_SIZE
    families = (*FAMILIES, ELEMENTWISE) if small else FAMILIES
    spec = draw(values(fmt, magnitude_cap(fmt, n), families=families))
    if spec.family != ELEMENTWISE:
        return (spec, *fill(spec, x_shape, out_features, bias, fmt))
    x = draw(elementwise_arrays(x_shape, fmt, n))
    weight = draw(elementwise_arrays((out_features, n), fmt, n))
    b = draw(elementwise_arrays((out_features,), fmt, n)) if bias else None
    return spec, x, weight, b


@st.composite
def _cases(draw, dtype, device, caps, min_leading_dims, out_features, zero_size) -> Case:
    shapes = case_shapes(caps, min_leading_dims, out_features, zero_size)
    leading, in_f, out_f, bias = draw(shapes)
    spec, x, weight, b = _operands(draw, dtype, (*leading, in_f), out_f, bias)
    case = Case(dtype, device, x, weight, b, spec.family, values=spec)
    for bucket in case.coverage():
        event(bucket)
    return case


@functools.cache
def cases(
    dtype: str,
    device: str,
    caps: Caps,
    *,
    min_leading_dims: int = 1,
    out_features: int | None = None,
    zero_size: bool = False,
) -> st.SearchStrategy[Case]:
    """Whole cases; `out_features` fixes the output size, `zero_size` forces an empty batch."""
    return _cases(dtype, device, caps, min_leading_dims, out_features, zero_size)


@st.composite
def _rank1_cases(draw, dtype, device, caps) -> Case:
    _, in_f, out_f, bias = draw(case_shapes(caps, 1, None))
    spec, x, weight, b = _operands(draw, dtype, (1, in_f), out_f, bias)
    return Case(dtype, device, x[0], weight, b, spec.family, values=spec)


@functools.cache
def rank1_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Cases whose x has no leading dims at all: shape (in,)."""
    return _rank1_cases(dtype, device, caps)


def refilled(case: Case, spec: Values) -> Case:
    """`case`'s shapes with the values of `spec`."""
    x, weight, bias = fill(
        spec, case.x.shape, case.out_features, case.has_bias, FORMATS[case.dtype]
    )
    return Case(case.dtype, case.device, x, weight, bias, spec.family, values=spec)


@functools.cache
def bias_off_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Cases whose layer has no bias."""
    return cases(dtype, device, caps).map(lambda case: dataclasses.replace(case, bias=None))


@functools.cache
def batched_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Cases with at least two leading dims (so flattening them means something)."""
    return cases(dtype, device, caps, min_leading_dims=2)


@functools.cache
def zero_out_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Cases whose layer has no outputs (out_features = 0)."""
    return cases(dtype, device, caps, out_features=0)


def _defaults(dtype: str, device: str, shape: tuple[int, int]) -> Case:
    in_f, out_f = shape
    zeros = np.zeros((out_f, in_f), FORMATS[dtype].numpy)
    return Case(dtype, device, zeros[:0], zeros, zeros[:, 0], "defaults")


@functools.cache
def layer_defaults(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Only a layer's shape (at least one input): its parameters are the framework's defaults."""
    shapes = layer_shapes(caps.max_features, min_in=1)
    return shapes.map(functools.partial(_defaults, dtype, device))
