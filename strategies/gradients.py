"""Backward-pass draws: a random upstream gradient G for a case, and batches for SGD steps.

G is never all ones (not a plain sum): its values come from the numpy-filled families other
than `ones`, bounded so that G W, G^T X, sum(G), G^T (G W) and a few SGD steps cannot overflow.
"""

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from conformance.core.formats import FORMATS, Format
from strategies.cases import Caps, Case, draw_case, redraw_values
from strategies.values import FAMILIES, SEEDS, _family, magnitude_cap, to_format

UPSTREAM_FAMILIES = tuple(f for f in FAMILIES if f != "ones")
UPSTREAM = st.tuples(st.sampled_from(UPSTREAM_FAMILIES), SEEDS)
MAX_STEPS = 5


def upstream_cap(fmt: Format, case: Case) -> float:
    """Largest power of two c_g with (out+1) c_g c, (rows+1) c_g c and (rows+1)(out+1) c_g^2 c all <= max/8."""
    limit = fmt.max / 8
    c = magnitude_cap(fmt, case.in_features)
    rows = math.prod(case.leading) + 1
    out = case.out_features + 1
    cap = min(limit / (out * c), limit / (rows * c), math.sqrt(limit / (rows * out * c)))
    return 2.0 ** math.floor(math.log2(cap))


def upstream_for(case: Case, family: str, seed: int) -> np.ndarray:
    fmt = FORMATS[case.dtype]
    cap = upstream_cap(fmt, case)
    rng = np.random.default_rng(seed)
    values = _family(rng, family, (*case.leading, case.out_features), fmt, cap)
    return to_format(np.clip(values, -cap, cap), fmt)


def draw_upstream(data, case: Case, label: str = "upstream gradient (family, seed)") -> np.ndarray:
    family, seed = data.draw(UPSTREAM, label=label)
    return upstream_for(case, family, seed)


@dataclass(frozen=True)
class Backward:
    """A case and an upstream gradient G of its output's shape: the loss is sum(G * layer(x))."""

    case: Case
    upstream: np.ndarray

    def arrays(self) -> dict:
        return {**self.case.arrays(), "upstream": self.upstream}

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Backward":
        return cls(Case.from_arrays(dtype, device, arrays), arrays["upstream"])


def draw_backward(data, dtype: str, device: str, caps: Caps, **kwargs) -> Backward:
    """A case and a random upstream gradient of the output's shape."""
    case = draw_case(data, dtype, device, caps, **kwargs)
    return Backward(case, draw_upstream(data, case))


def draw_empty_backward(data, dtype: str, device: str, caps: Caps) -> Backward:
    """A backward example whose batch is empty (a zero-size leading dim)."""
    return draw_backward(data, dtype, device, caps, zero_size=True)


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

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Repeated":
        prefix = "earlier_"
        earlier = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
        return cls(
            Backward.from_arrays(dtype, device, earlier),
            Backward.from_arrays(dtype, device, arrays),
        )


def draw_repeated(data, dtype: str, device: str, caps: Caps) -> Repeated:
    later = draw_backward(data, dtype, device, caps)
    earlier = redraw_values(data, later.case, "earlier case on the same layer (family, seed)")
    upstream = draw_upstream(data, earlier, "earlier upstream (family, seed)")
    return Repeated(Backward(earlier, upstream), later)


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

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Training":
        steps = sorted(int(k.removeprefix("x_")) for k in arrays if k.startswith("x_"))
        batches = tuple((arrays[f"x_{t}"], arrays[f"upstream_{t}"]) for t in steps)
        case = Case.from_arrays(dtype, device, arrays)
        return cls(case, batches, float(arrays["learning_rate"]))


def draw_training(data, dtype: str, device: str, caps: Caps) -> Training:
    """1-5 steps; the rate is a power of two, so every framework applies exactly the same rate."""
    case = draw_case(data, dtype, device, caps)
    steps, rate = data.draw(
        st.tuples(st.integers(1, MAX_STEPS), st.integers(1, 6)),
        label="(steps, -log2 rate)",
    )
    batches = [(case.x, draw_upstream(data, case, "batch 1: upstream (family, seed)"))]
    for step in range(2, steps + 1):
        family, seed = data.draw(UPSTREAM, label=f"batch {step}: x and upstream (family, seed)")
        x = to_format(
            _family(np.random.default_rng(seed), family, case.x.shape, FORMATS[dtype], 1.0),
            FORMATS[dtype],
        )
        batches.append((x, upstream_for(case, family, seed + 1)))
    return Training(case=case, batches=tuple(batches), learning_rate=2.0**-rate)
