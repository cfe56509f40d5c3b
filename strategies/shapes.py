"""Shapes: leading (batch) shapes of 1-4 dims, zero-size dims reached on purpose, and layer shapes.

Strategies are built once per argument set and cached: building and validating a strategy
costs more than drawing from it. Leading shapes are tuples of per-dim integers rather than
hnp.array_shapes, which draws through st.lists and measured 1.5x slower per whole case here.
"""

import functools

import numpy as np
from hypothesis import strategies as st


def side_cap(max_rows: int, ndim: int) -> int:
    """Largest side s with s**ndim <= max_rows, so that any shape drawn has at most max_rows rows."""
    side = 1
    while (side + 1) ** ndim <= max_rows:
        side += 1
    return side


#: weight of each rank's all-sides->=1 shapes against one weight per (rank, position of a zero dim):
#: with ranks 1-4 that is 10 zero-size variants in 98, about one shape in ten
NONZERO_WEIGHT = 22


def _zero_at(at: int, sides: tuple[int, ...]) -> tuple[int, ...]:
    return (*sides[:at], 0, *sides[at:])


@functools.cache
def leading_shapes(
    max_rows: int, min_dims: int = 1, max_dims: int = 4, zero_size: bool = False
) -> st.SearchStrategy[tuple[int, ...]]:
    """Leading shapes with at most max_rows rows (their product), constructed, not filtered.

    Ranks min_dims..max_dims; sides >= 1, except that about one shape in ten has one zero-size
    dim (every shape has one when zero_size is set).
    """
    nonzero: list[st.SearchStrategy] = []
    zero: list[st.SearchStrategy] = []
    for ndim in range(min_dims, max_dims + 1):
        side = st.integers(1, side_cap(max_rows, ndim))
        nonzero.append(st.tuples(*[side] * ndim))
        rest = st.tuples(*[side] * (ndim - 1))
        zero.extend(rest.map(functools.partial(_zero_at, at)) for at in range(ndim))
    choices = zero if zero_size else nonzero * NONZERO_WEIGHT + zero
    return st.integers(0, len(choices) - 1).flatmap(choices.__getitem__)


#: layer kinds and their weights: about 55% any, 18% square, 18% one output, 9% no inputs (in = 0)
LAYER_KINDS = (("any", 6), ("square", 2), ("one output", 2), ("no inputs", 1))


@functools.cache
def layer_shapes(max_features: int, min_in: int = 0) -> st.SearchStrategy[tuple[int, int]]:
    """(in_features, out_features), with square layers (in == out), one output (out == 1) and, when
    min_in is 0, no inputs (in == 0) each reached on purpose (LAYER_KINDS)."""
    size = st.integers(1, max_features)
    kinds = {
        "any": st.tuples(size, size),
        "square": size.map(lambda k: (k, k)),
        "one output": size.map(lambda k: (k, 1)),
        "no inputs": size.map(lambda k: (0, k)),
    }
    choices = [
        kinds[kind]
        for kind, weight in LAYER_KINDS
        for _ in range(weight)
        if min_in == 0 or kind != "no inputs"
    ]
    return st.integers(0, len(choices) - 1).flatmap(choices.__getitem__)


@functools.cache
def shape_pool(
    max_rows: int,
    max_features: int,
    count: int,
    min_dims: int = 1,
    out_features: int | None = None,
    zero_size: bool = False,
) -> tuple[tuple[tuple[int, ...], int, int], ...]:
    """`count` fixed (leading, in, out) shapes, for subjects that compile every new shape: the
    simplest first (Hypothesis shrinks toward it), then every rank and layer kind in turn with
    sizes from a fixed generator within the caps, the last one a zero-size batch."""
    rng = np.random.default_rng(count)
    kinds = ("any", "square", "one output", "no inputs") if out_features is None else ("fixed",)
    ranks = range(min_dims, max(min_dims, 4) + 1)
    first = (0 if zero_size else 1,) + (1,) * (min_dims - 1)
    shapes = [(first, 1, 1 if out_features is None else out_features)]
    while len(shapes) < count:
        i = len(shapes)
        ndim = ranks[i % len(ranks)]
        leading = [int(v) for v in rng.integers(1, side_cap(max_rows, ndim) + 1, ndim)]
        if zero_size or i == count - 1:
            leading[i % ndim] = 0
        k, other = (int(v) for v in rng.integers(1, max_features + 1, 2))
        in_f, out_f = {
            "any": (k, other),
            "square": (k, k),
            "one output": (k, 1),
            "no inputs": (0, k),
            "fixed": (k, k if out_features is None else out_features),
        }[kinds[i % len(kinds)]]
        shapes.append((tuple(leading), in_f, out_f))
    return tuple(shapes)
