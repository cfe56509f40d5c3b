"""The opt-in special-values category: NaN, +-Inf, +-0 and subnormals, placed where Hypothesis says."""

import functools
from dataclasses import replace

import numpy as np
from hypothesis import event
from hypothesis import strategies as st

from conformance.core.formats import Format, compute_format, variable_format
from strategies.cases import Caps, Case, case_reach, cases, fitted, handover
from strategies.coverage import derived, promising, reaching
from strategies.shapes import case_shapes
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


@st.composite
def _special_cases(draw, dtype: str, device: str, caps: Caps) -> Case:
    case = draw(cases(dtype, device, caps))
    fmt = compute_format(dtype)  # a policy's subnormals: those of the format it computes in
    arrays = {"x": case.x.copy(), "weight": case.weight.copy()}
    if case.bias is not None:
        arrays["bias"] = case.bias.copy()
    targets = tuple(name for name, array in arrays.items() if array.size)
    placements = []
    if targets:  # constructed: only arrays that can hold a value are offered
        where = st.tuples(
            st.sampled_from(targets), st.integers(0, 2**16), st.sampled_from(SPECIALS)
        )
        placements = draw(st.lists(where, min_size=1, max_size=4))
        for name, position, value in placements:
            if name == "x" and case.layout.name == "broadcast":  # one column of the shared row
                arrays[name][..., position % case.in_features] = special_value(value, fmt)
            else:
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


@promising
def special_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Regular cases with one to four special values written into a non-empty x, weight or bias."""
    return derived(_special_cases(dtype, device, caps), cases(dtype, device, caps))


@functools.cache
def subnormal_shapes(caps: Caps, max_in: int):
    """Case shapes with 1 to max_in inputs and at least one output."""
    return case_shapes(caps, 1, None).map(
        lambda t: (t[0], min(max(t[1], 1), max_in), max(t[2], 1), t[3])
    )


@st.composite
def _subnormal_cases(draw, dtype: str, device: str, caps: Caps) -> Case:
    fmt, stored = compute_format(dtype), variable_format(dtype).numpy
    leading, in_f, out_f, bias = draw(subnormal_shapes(caps, subnormal_inputs(fmt)))
    layout, weight_layout, kind = draw(handover(len(leading) + 1, caps))
    multiples = draw(st.integers(1, 4))  # subnormal multiples up to this many times s
    rng = np.random.default_rng(draw(SEEDS))
    x = rng.integers(-multiples, multiples + 1, size=(*leading, in_f)) * fmt.subnormal
    weight = rng.integers(-2, 3, size=(out_f, in_f)).astype(stored)
    b = rng.integers(-multiples, multiples + 1, size=out_f) * fmt.subnormal if bias else None
    return Case(dtype, device, fitted(x.astype(stored), layout), weight,
                None if b is None else b.astype(stored), "subnormal-multiples",
                layout=layout, weight_layout=weight_layout, kind=kind)  # fmt: skip


def subnormal_inputs(fmt: Format) -> int:
    """The most inputs a subnormal case has: its sums stay exact multiples of s below 2**precision * s."""
    return (2**fmt.precision - 8) // 8


@promising
def subnormal_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Subnormal x (small multiples of the smallest subnormal s, fewer as it shrinks) with
    small-integer weights. Every product and partial sum is an exact multiple of s below
    2**precision * s, so a conformant (gradual-underflow) implementation returns the exact result,
    bit for bit. Under a mixed policy s is its compute format's: the float32 operands are exact
    there, so its cast is exact too."""
    most = subnormal_inputs(compute_format(dtype))
    # promised: what the caps reach with at most `most` inputs (out may reach further)
    sizes = replace(caps.sizes, max_features=min(caps.max_features, most),
                    large_features=min(caps.large_features, most))  # fmt: skip
    narrowed = replace(caps, sizes=sizes)
    return reaching(_subnormal_cases(dtype, device, caps), case_reach(narrowed, edges=False))
