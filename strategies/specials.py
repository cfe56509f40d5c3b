"""The opt-in special-values category: NaN, +-Inf, +-0 and subnormals, placed where Hypothesis says."""

import functools
from dataclasses import replace

import numpy as np
from hypothesis import event
from hypothesis import strategies as st

from conformance.core.formats import FORMATS, Format
from strategies.cases import Caps, Case, case_shapes, draw_case
from strategies.values import SEEDS

SPECIALS = ("nan", "inf", "-inf", "0", "-0", "subnormal", "-subnormal")


def special_value(name: str, fmt: Format) -> float:
    return {
        "nan": np.nan,
        "inf": np.inf,
        "-inf": -np.inf,
        "0": 0.0,
        "-0": -0.0,
        "subnormal": fmt.subnormal,
        "-subnormal": -(fmt.tiny - fmt.subnormal),
    }[name]


def draw_special_case(data, dtype: str, device: str, caps: Caps) -> Case:
    """A regular case with one to four special values written into its non-empty x, weight or bias."""
    case = draw_case(data, dtype, device, caps)
    fmt = FORMATS[dtype]
    arrays = {"x": case.x.copy(), "weight": case.weight.copy()}
    if case.bias is not None:
        arrays["bias"] = case.bias.copy()
    targets = tuple(name for name, array in arrays.items() if array.size)
    placements = []
    if targets:  # constructed: only arrays that can hold a value are offered
        where = st.tuples(
            st.sampled_from(targets), st.integers(0, 2**16), st.sampled_from(SPECIALS)
        )
        placements = data.draw(
            st.lists(where, min_size=1, max_size=4),
            label="special values (array, position, value)",
        )
        for name, position, value in placements:
            arrays[name].reshape(-1)[position % arrays[name].size] = special_value(value, fmt)
            event(f"special {value}")
    return replace(
        case,
        x=arrays["x"],
        weight=arrays["weight"],
        bias=arrays.get("bias"),
        family=f"{case.family}+special",
        specials=tuple(value for _, _, value in placements),
    )


@functools.cache
def subnormal_shapes(caps: Caps, max_in: int):
    """Case shapes with 1 to max_in inputs and at least one output."""
    return case_shapes(caps, 1, None).map(
        lambda t: (t[0], min(max(t[1], 1), max_in), max(t[2], 1), t[3])
    )


def draw_subnormal_case(data, dtype: str, device: str, caps: Caps) -> Case:
    """Subnormal x (small multiples of the smallest subnormal s) with small-integer weights.

    Every product and partial sum is an exact multiple of s below 2**precision * s, so a
    conformant (gradual-underflow) implementation returns the exact result, bit for bit.
    """
    fmt = FORMATS[dtype]
    max_in = (2**fmt.precision - 8) // 8
    leading, in_f, out_f, bias = data.draw(
        subnormal_shapes(caps, max_in), label="shapes (leading, in, out, bias)"
    )
    rng = np.random.default_rng(data.draw(SEEDS, label="value seed"))
    x = (rng.integers(-4, 5, size=(*leading, in_f)) * fmt.subnormal).astype(fmt.numpy)
    weight = rng.integers(-2, 3, size=(out_f, in_f)).astype(fmt.numpy)
    b = (rng.integers(-4, 5, size=out_f) * fmt.subnormal).astype(fmt.numpy) if bias else None
    return Case(
        dtype=dtype,
        device=device,
        x=x,
        weight=weight,
        bias=b,
        family="subnormal-multiples",
    )
