"""Shapes: a cheap bulk of small cases and a rare tail of large ones that cross kernel thresholds.

The bulk: leading (batch) shapes of 1-4 dims with zero-size dims reached on purpose, and layer
shapes (square, one output, no inputs), within the size caps. The tail (a share `Caps.tail` of
the examples: those whose first draw, a slot, lands in the top share of TAIL_SLOTS, so that
shrinking moves them to the bulk): many
rows, many features, or both, up to `Caps.large_rows` and `Caps.large_features`, half the time at
a power of two, one either side of it, or a common block size (31, 32, 33, 48, ..., 4097), where
BLAS, oneDNN and XLA switch kernels. Each operand of a tail shape (x, W, y) holds at most
MAX_ELEMENTS elements and x W^T takes at most MAX_MACS multiply-adds, so a tail example costs tens
of milliseconds, not seconds.

Strategies are built once per argument set and cached: building and validating a strategy
costs more than drawing from it. Leading shapes are tuples of per-dim integers (not
hnp.array_shapes, which draws through st.lists, at a higher cost per case).
"""

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

from conformance.core.caps import SizeCaps

#: at most this many elements in each operand of a tail shape, and multiply-adds in x W^T
MAX_ELEMENTS = 2**22
MAX_MACS = 2**22


@dataclass(frozen=True)
class Caps:
    """What one cell draws: the run's size caps (`sizes`), and the cell's own context: the
    longest sum its contracts bound usefully, a fixed pool of shapes, whether its subjects take
    tensors, and the bucket its aimed examples must reach."""

    sizes: SizeCaps = field(default_factory=SizeCaps)
    #: the longest sum the cell's contracts bound usefully (None: any); the tail stays within it
    longest_sum: int | None = None
    #: draw shapes from a fixed pool of this many (subjects that compile every new shape), or any
    shapes: int | None = None
    #: whether every subject of the cell takes its own tensor type as input (else arrays only)
    tensors: bool = False
    #: draw only examples that reach this coverage bucket (the aimed examples of a cell)
    aim: str | None = None

    @property
    def max_features(self) -> int:
        return self.sizes.max_features

    @property
    def max_rows(self) -> int:
        return self.sizes.max_rows

    @property
    def tail(self) -> float:
        return self.sizes.tail

    @property
    def large_features(self) -> int:
        return self.sizes.large_features

    @property
    def large_rows(self) -> int:
        return self.sizes.large_rows

    def tail_rows(self) -> int:
        """The most rows a tail shape has: large_rows, within the longest sum (a weight gradient
        sums over rows)."""
        return min(self.large_rows, self.longest_sum or self.large_rows)

    def tail_features(self) -> int:
        return min(self.large_features, self.longest_sum or self.large_features)

    def has_tail(self) -> bool:
        return self.tail > 0 and not self.shapes


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


#: the edge of shape each bucket names: an empty batch, and the layer kinds past "any"
SHAPE_EDGES = {
    "zero-size batch": "zero-size",
    "no inputs": "no inputs",
    "square layer": "square",
    "one output": "one output",
}


def shape_edges(leading: tuple[int, ...], in_features: int, out_features: int) -> list[str]:
    """The edges of shape (coverage buckets, SHAPE_EDGES) one shape is at."""
    at = {
        "zero-size batch": 0 in leading,
        "no inputs": in_features == 0,
        "square layer": in_features == out_features,
        "one output": out_features == 1,
    }
    return [bucket for bucket, hit in at.items() if hit]


def shape_buckets(leading: tuple[int, ...], in_features: int, out_features: int) -> list[str]:
    """The size bands and edges of shape (coverage buckets) one shape falls in."""
    rows = math.prod(leading)
    return [
        *size_bands(rows, in_features, out_features),
        *shape_edges(leading, in_features, out_features),
    ]


def edge_reach(ndim: int, out_free: bool) -> set[str]:
    """The edges of shape whole cases reach on purpose: an empty batch where x has leading dims,
    and each layer kind where the output size is free."""
    reach = {"zero-size batch"} if ndim >= 2 else set()
    return reach | ({"no inputs", "square layer", "one output"} if out_free else set())


@functools.cache
def layer_shapes(
    max_features: int, min_in: int = 0, only: str | None = None
) -> st.SearchStrategy[tuple[int, int]]:
    """(in_features, out_features), with square layers (in == out, from 2: a transposed weight
    shows only there), one output (out == 1) and, when min_in is 0, no inputs (in == 0) each
    reached on purpose (LAYER_KINDS); only the kind `only` names when given."""
    size = st.integers(1, max_features)
    kinds = {
        "any": st.tuples(size, size),
        "square": st.integers(min(2, max_features), max_features).map(lambda k: (k, k)),
        "one output": size.map(lambda k: (k, 1)),
        "no inputs": size.map(lambda k: (0, k)),
    }
    choices = [
        kinds[kind]
        for kind, weight in LAYER_KINDS
        for _ in range(weight)
        if (min_in == 0 or kind != "no inputs") and only in (None, kind)
    ]
    return st.integers(0, len(choices) - 1).flatmap(choices.__getitem__)


# -- the tail of large shapes ----------------------------------------------------------------------
#: the bands the report counts examples in: rows and features past the default bulk caps and past
#: a middle threshold, an operand of 2^20 elements or more, a size at a block edge
ROW_BANDS = (64, 512)
FEATURE_BANDS = (32, 256)
ELEMENTS_BAND = 2**20
SIZE_BANDS = frozenset(
    [f"rows > {t}" for t in ROW_BANDS]
    + [f"features > {t}" for t in FEATURE_BANDS]
    + ["2^20+ elements", "block-edge size"]
)


def edges(lo: int, hi: int) -> tuple[int, ...]:
    """Sizes in [lo, hi] at a power of two, one either side of it, or a common block size
    (3 * 2^k): 31, 32, 33, 48, 63, 64, 65, 96, 127, ... 4097."""
    found: set[int] = set()
    for k in range(5, 16):
        found.update((2**k - 1, 2**k, 2**k + 1, 3 * 2 ** (k - 1)))
    return tuple(sorted(s for s in found if lo <= s <= hi))


#: every block-edge size a coverage bucket counts (size_bands runs for every example)
EDGES = frozenset(edges(31, 2**16))


def size_bands(rows: int, in_features: int, out_features: int) -> list[str]:
    """The size bands one shape falls in (coverage buckets)."""
    features = max(in_features, out_features)
    bands = [f"rows > {t}" for t in ROW_BANDS if rows > t]
    bands += [f"features > {t}" for t in FEATURE_BANDS if features > t]
    largest = max(rows * in_features, rows * out_features, in_features * out_features)
    if largest >= ELEMENTS_BAND:
        bands.append("2^20+ elements")
    if not EDGES.isdisjoint((rows, in_features, out_features)):
        bands.append("block-edge size")
    return bands


@functools.cache
def large_sizes(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Sizes in [lo, hi]: any, as likely in each octave [2^k, 2^(k+1)) (so most are cheap and the
    largest still come), shrinking toward lo; or, as often, one at a block edge."""
    at_edges = edges(lo, hi)
    octaves = st.integers(lo.bit_length() - 1, hi.bit_length() - 1)
    anywhere = octaves.flatmap(lambda k: st.integers(max(lo, 2**k), min(hi, 2 ** (k + 1) - 1)))
    return st.one_of(anywhere, st.sampled_from(at_edges)) if at_edges else anywhere


@st.composite
def _many_rows(draw, lo: int, hi: int, min_dims: int) -> tuple[int, ...]:
    """A leading shape with lo..hi rows: up to two small leading dims, then a large one."""
    prefix = draw(st.lists(st.integers(1, 4), min_size=max(min_dims - 1, 0), max_size=2))
    p = math.prod(prefix)
    if -(-lo // p) > hi // p:  # no large last dim fits after this prefix
        prefix, p = [], 1
    return (*prefix, draw(large_sizes(-(-lo // p), hi // p)))


#: how often each kind of tail shape comes: an x of 2^20+ elements ("both") costs what a hundred
#: of the others do (x of 1.6M elements on average, against 8.7K for many rows and 1.1K for many
#: features), so it comes a quarter as often as each (and a cell that drew none aims one at the
#: "2^20+ elements" bucket)
TAIL_KIND_WEIGHTS = {"rows": 4, "features": 4, "both": 1}


def tail_kinds(caps: Caps, zero_size: bool) -> tuple[str, ...]:
    """The kinds of tail shape the caps leave room for: many rows, many features, both; for an
    aim, those that reach it, the one Hypothesis tries first (its simplest) first: an x of 2^20
    elements in many rows rather than a weight of 2^20 (no large layer to build, and more than
    512 rows as well)."""
    rows = caps.max_rows < caps.tail_rows() and not zero_size
    features = caps.max_features < caps.tail_features()
    found = (("rows", rows), ("features", features), ("both", rows and features))
    kinds = tuple(kind for kind, room in found if room) if caps.has_tail() else ()
    aimed = {
        "2^20+ elements": ("both", "features"),
        "rows": ("rows", "both"),
        "features": ("features", "both"),
    }
    keep = aimed.get(caps.aim or "", aimed.get(_band(caps.aim)[0], kinds))
    return tuple(k for k in keep if k in kinds) or kinds


def _band(aim: str | None) -> tuple[str, int]:
    """("rows" or "features", threshold) for an aim such as "rows > 512", else ("", 0)."""
    words = (aim or "").split(" ")
    if len(words) == 3 and words[0] in ("rows", "features") and words[1] == ">":
        return words[0], int(words[2])
    return "", 0


@st.composite
def _tail_shapes(draw, caps: Caps, min_dims: int, out_features: int | None, zero_size: bool):
    """(leading, in, out) from the tail: many rows, many features, or both (an operand of 2^20
    elements or more where the caps allow)."""
    rows_lo, rows_hi = caps.max_rows + 1, caps.tail_rows()
    feat_lo, feat_hi = caps.max_features + 1, caps.tail_features()
    # aimed at a band: sizes from its threshold up, where the caps reach it
    band, threshold = _band(caps.aim)
    if band == "rows" and threshold < rows_hi:
        rows_lo = max(rows_lo, threshold + 1)
    if band == "features" and threshold < feat_hi:
        feat_lo = max(feat_lo, threshold + 1)
    kinds = tail_kinds(caps, zero_size)
    kind = draw(st.sampled_from([k for k in kinds for _ in range(TAIL_KIND_WEIGHTS[k])]))
    small = st.integers(1, caps.max_features)
    if kind == "rows":
        leading = draw(_many_rows(rows_lo, rows_hi, min_dims))
        in_f = draw(small)
        out_f = draw(small) if out_features is None else out_features
        return leading, in_f, out_f
    if kind == "features":
        # which side is large: in, out or both (out is fixed for some strategies)
        sides: tuple[str, ...] = ("in",) if out_features is not None else ("in", "out", "both")
        most = min(feat_hi, MAX_ELEMENTS // caps.max_features)
        if caps.aim == "2^20+ elements" and out_features is None and most**2 >= ELEMENTS_BAND:
            sides, feat_lo = ("both",), max(feat_lo, -(-ELEMENTS_BAND // most))
        elif band == "features":  # the sum's length is what switches kernels: a large input side
            sides = tuple(s for s in sides if s != "out")
        side = draw(st.sampled_from(sides))
        large = large_sizes(feat_lo, most)
        in_f = draw(large if side in ("in", "both") else small)
        out_f = (
            out_features
            if out_features is not None
            else draw(large if side in ("out", "both") else small)
        )
        rows = max(1, min(caps.max_rows, MAX_MACS // max(1, in_f * out_f)))
        leading = draw(leading_shapes(rows, min_dims=min_dims, zero_size=zero_size))
        return leading, in_f, out_f
    # both: an x of 2^20 elements or more where the caps allow it
    least = max(rows_lo, -(-ELEMENTS_BAND // feat_hi))
    leading = draw(_many_rows(least if least <= rows_hi else rows_lo, rows_hi, min_dims))
    rows = math.prod(leading)
    most_in = max(feat_lo, min(feat_hi, MAX_ELEMENTS // rows))
    in_f = draw(large_sizes(min(most_in, max(feat_lo, -(-ELEMENTS_BAND // rows))), most_in))
    if out_features is not None:
        return leading, in_f, out_features
    most = max(1, min(caps.max_features, MAX_MACS // (rows * in_f), MAX_ELEMENTS // rows))
    return leading, in_f, draw(st.integers(1, most))


@functools.cache
def tail_shapes(caps: Caps, min_dims: int, out_features: int | None, zero_size: bool):
    """(leading, in, out) from the tail of large shapes."""
    return _tail_shapes(caps, min_dims, out_features, zero_size)


def shape_reach(caps: Caps, *, rows: bool = True, out_free: bool = True) -> set[str]:
    """The size bands a strategy's shapes can fall in, from the bulk's and the tail's caps: `rows`
    when it draws a non-empty batch, `out_free` when out_features is drawn (not fixed)."""
    most_rows, most_features = caps.max_rows if rows else 0, caps.max_features
    elements = max(most_rows * most_features, most_features**2 if out_free else 0)
    if caps.has_tail():
        tail_rows, tail_features = caps.tail_rows() if rows else 0, caps.tail_features()
        most_rows, most_features = max(most_rows, tail_rows), max(most_features, tail_features)
        both_sides = min(tail_features, MAX_ELEMENTS // caps.max_features) ** 2
        elements = max(
            elements,
            min(tail_rows * tail_features, MAX_ELEMENTS),
            both_sides if out_free else 0,
        )
    reach = {f"rows > {t}" for t in ROW_BANDS if most_rows > t}
    reach |= {f"features > {t}" for t in FEATURE_BANDS if most_features > t}
    if elements >= ELEMENTS_BAND:
        reach.add("2^20+ elements")
    if edges(31, max(most_rows, most_features)):
        reach.add("block-edge size")
    return reach


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


def pool_reach(pool) -> set[str]:
    """The size bands and edges of shape a pool's shapes fall in."""
    return {b for leading, i, o in pool for b in shape_buckets(leading, i, o)}


#: out of TAIL_SLOTS, this many times the share of examples come from the tail (drawn from the
#: top of the range, so shrinking moves an example to the bulk); read with bias on or off from
#: one draw of at most 256 values, the widest range Hypothesis draws integers from uniformly (past
#: it, its distribution thins out toward large values)
TAIL_SLOTS = 125


@functools.cache
def case_shapes(
    caps: Caps, min_leading_dims: int, out_features: int | None, zero_size: bool = False
):
    """(leading shape, in_features, out_features, bias) in one draw; out_features fixed when
    given; from a fixed pool of `caps.shapes` shapes when the caps say so; a share `caps.tail`
    from the tail of large shapes."""
    if caps.shapes:
        pool = shape_pool(caps.max_rows, caps.max_features, caps.shapes,
                          min_leading_dims, out_features, zero_size)  # fmt: skip
        aimed = [s for s in pool if caps.aim in shape_buckets(*s)]
        return st.tuples(st.booleans(), st.sampled_from(aimed or pool)).map(lambda t: (*t[1], t[0]))
    edge = SHAPE_EDGES.get(caps.aim or "")
    leading = leading_shapes(caps.max_rows, min_dims=min_leading_dims,
                             zero_size=zero_size or edge == "zero-size")  # fmt: skip
    if out_features is None:
        layer = layer_shapes(caps.max_features, only=None if edge == "zero-size" else edge)
    else:
        layer = st.tuples(st.integers(0, caps.max_features), st.just(out_features))
    tail, first_tail = None, TAIL_SLOTS
    if tail_kinds(caps, zero_size) and edge is None:
        tail = tail_shapes(caps, min_leading_dims, out_features, zero_size)
        first_tail = TAIL_SLOTS - round(caps.tail * TAIL_SLOTS)
        if caps.aim in SIZE_BANDS:  # the tail, and the bulk for the edges it holds too
            first_tail = TAIL_SLOTS // 2 if caps.aim == "block-edge size" else 0
    shapes = _case_shapes(leading, layer, tail, first_tail)
    if caps.aim in SIZE_BANDS:
        aim = caps.aim
        shapes = shapes.filter(lambda s: aim in size_bands(math.prod(s[0]), s[1], s[2]))
    return shapes


@st.composite
def _case_shapes(draw, leading, layer, tail, first_tail: int):
    """(leading, in, out, bias): bias and a slot out of TAIL_SLOTS read from the first draw (the
    one Hypothesis varies even in its first examples, whose later draws start at their simplest),
    from `tail` when the slot is first_tail or past it, else a leading and a layer shape from the
    bulk."""
    slot, bias = divmod(draw(st.integers(0, 2 * TAIL_SLOTS - 1)), 2)
    if tail is not None and slot >= first_tail:
        return (*draw(tail), bool(bias))
    return (draw(leading), *draw(layer), bool(bias))
