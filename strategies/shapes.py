"""Shapes: leading (batch) shapes of 1-4 dims with zero-size dims, and layer shapes (in, out)."""

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def side_cap(max_rows: int, ndim: int) -> int:
    """Largest side s with s**ndim <= max_rows, so that any shape drawn has at most max_rows rows."""
    side = 1
    while (side + 1) ** ndim <= max_rows:
        side += 1
    return side


def leading_shapes(
    max_rows: int, min_dims: int = 1, max_dims: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Leading shapes whose product is at most max_rows, zero-size dims included (constructed, not filtered)."""
    return st.integers(min_dims, max_dims).flatmap(
        lambda ndim: hnp.array_shapes(
            min_dims=ndim, max_dims=ndim, min_side=0, max_side=side_cap(max_rows, ndim)
        )
    )


def layer_shapes(
    max_features: int, min_in: int = 0
) -> st.SearchStrategy[tuple[int, int]]:
    """(in_features, out_features): any, square (in == out) and one output (out == 1), a third each."""
    size = st.integers(max(1, min_in), max_features)
    return st.one_of(
        st.tuples(st.integers(min_in, max_features), size),
        size.map(lambda k: (k, k)),
        st.integers(min_in, max_features).map(lambda k: (k, 1)),
    )
