"""Backward-pass draws: a random upstream gradient G for a case, and batches for SGD steps.

G is never all ones (not a plain sum): its values come from the numpy-filled families other
than `ones`, bounded so that G W, G^T X, sum(G), G^T (G W) and a few SGD steps cannot overflow.
"""

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from conformance.core.formats import Format, compute_format, operand_format
from strategies.cases import Caps, Case, cases, cut, refilled
from strategies.coverage import derived, promising
from strategies.values import FAMILIES, Values, fill_one, magnitude_cap, to_format, values

UPSTREAM_FAMILIES = tuple(f for f in FAMILIES if f != "ones")
MAX_STEPS = 5


def upstream_cap(fmt: Format, case: Case) -> float:
    """Largest power of two c_g with (out+1) c_g c, (rows+1) c_g c and (rows+1)(out+1) c_g^2 c all <= max/8."""
    limit = fmt.max / 8
    c = magnitude_cap(fmt, case.in_features)
    rows = math.prod(case.leading) + 1
    out = case.out_features + 1
    cap = min(limit / (out * c), limit / (rows * c), math.sqrt(limit / (rows * out * c)))
    return 2.0 ** math.floor(math.log2(cap))


def upstream_for(case: Case, spec: Values) -> np.ndarray:
    """An upstream gradient of the case's output shape (in the format the layer computes in),
    filled as `spec` says within its cap."""
    fmt = compute_format(case.dtype)
    cap = upstream_cap(fmt, case)
    shape = (*case.leading, case.out_features)
    return to_format(np.clip(fill_one(spec, shape, fmt, cap), -cap, cap), fmt)


def _upstream(draw, case: Case) -> np.ndarray:
    fmt = compute_format(case.dtype)
    cap = upstream_cap(fmt, case)
    return upstream_for(case, draw(values(fmt, cap, operands=1, families=UPSTREAM_FAMILIES)))


@dataclass(frozen=True)
class Backward:
    """A case and an upstream gradient G of its output's shape: the loss is sum(G * layer(x))."""

    case: Case
    upstream: np.ndarray

    def arrays(self) -> dict:
        return {**self.case.arrays(), "upstream": self.upstream}

    def resized(self, leading: tuple[int, ...], in_features: int, out_features: int) -> "Backward":
        """This example cut down to these sizes (see Case.resized)."""
        case = self.case.resized(leading, in_features, out_features)
        return Backward(case, cut(self.upstream, leading, out_features))

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Backward":
        return cls(Case.from_arrays(dtype, device, arrays), arrays["upstream"])


@st.composite
def _backward(draw, dtype: str, device: str, caps: Caps, zero_size: bool) -> Backward:
    case = draw(cases(dtype, device, caps, zero_size=zero_size))
    return Backward(case, _upstream(draw, case))


@promising
def backward(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Backward]:
    """A case and a random upstream gradient of the output's shape."""
    return derived(_backward(dtype, device, caps, False), cases(dtype, device, caps))


@promising
def empty_backward(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Backward]:
    """A backward example whose batch is empty (a zero-size leading dim)."""
    base = cases(dtype, device, caps, zero_size=True)
    return derived(_backward(dtype, device, caps, True), base)


@dataclass(frozen=True)
class Repeated:
    """A backward example run on a layer that just ran another one (same shapes, other values)."""

    earlier: Backward
    later: Backward

    @property
    def case(self) -> Case:
        return self.later.case

    def arrays(self) -> dict:
        earlier = {f"earlier_{k}": v for k, v in self.earlier.arrays().items()}
        return {**self.later.arrays(), **earlier}

    def resized(self, leading: tuple[int, ...], in_features: int, out_features: int) -> "Repeated":
        """Both examples cut down to these sizes (see Case.resized)."""
        sizes = (leading, in_features, out_features)
        return Repeated(self.earlier.resized(*sizes), self.later.resized(*sizes))

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Repeated":
        prefix = "earlier_"
        earlier = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
        return cls(
            Backward.from_arrays(dtype, device, earlier),
            Backward.from_arrays(dtype, device, arrays),
        )


@st.composite
def _repeated(draw, dtype: str, device: str, caps: Caps) -> Repeated:
    later = draw(backward(dtype, device, caps))
    fmt = operand_format(dtype)
    earlier = refilled(later.case, draw(values(fmt, magnitude_cap(fmt, later.case.in_features))))
    return Repeated(Backward(earlier, _upstream(draw, earlier)), later)


@promising
def repeated(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Repeated]:
    """A backward example, after another of the same shapes and other values on the same layer."""
    return derived(_repeated(dtype, device, caps), backward(dtype, device, caps))


@dataclass(frozen=True)
class Training:
    """k SGD steps on one layer: batch t is (x_t, G_t), the loss sum(G_t * y_t), a power-of-two rate."""

    case: Case
    batches: tuple[tuple[np.ndarray, np.ndarray], ...]
    learning_rate: float

    def arrays(self) -> dict:
        batches = {
            f"{name}_{t}": a
            for t, batch in enumerate(self.batches)
            for name, a in zip(("x", "upstream"), batch, strict=True)
        }
        return {**self.case.arrays(), "learning_rate": np.array(self.learning_rate), **batches}

    def resized(self, leading: tuple[int, ...], in_features: int, out_features: int) -> "Training":
        """Every step's batch cut down to these sizes (see Case.resized)."""
        batches = tuple(
            (cut(x, leading, in_features), cut(g, leading, out_features)) for x, g in self.batches
        )
        case = self.case.resized(leading, in_features, out_features)
        return Training(case, batches, self.learning_rate)

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Training":
        steps = sorted(int(k.removeprefix("x_")) for k in arrays if k.startswith("x_"))
        batches = tuple((arrays[f"x_{t}"], arrays[f"upstream_{t}"]) for t in steps)
        case = Case.from_arrays(dtype, device, arrays)
        return cls(case, batches, float(arrays["learning_rate"]))


@st.composite
def _trainings(draw, dtype: str, device: str, caps: Caps) -> Training:
    case = draw(cases(dtype, device, caps))
    steps = draw(st.integers(1, MAX_STEPS))
    rate = 2.0 ** -draw(st.integers(1, 6))
    fmt = operand_format(dtype)
    batches = [(case.x, _upstream(draw, case))]
    for _ in range(1, steps):
        x = fill_one(
            draw(values(fmt, 1.0, operands=1, families=UPSTREAM_FAMILIES)), case.x.shape, fmt, 1.0
        )
        batches.append((x, _upstream(draw, case)))
    return Training(case=case, batches=tuple(batches), learning_rate=rate)


@promising
def trainings(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Training]:
    """1-5 SGD steps on one layer; the rate is a power of two, so every framework applies exactly
    the same rate."""
    return derived(_trainings(dtype, device, caps), cases(dtype, device, caps))
