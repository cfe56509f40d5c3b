"""Cases: one drawn example (shapes, bias, dtype, device, values, memory layouts), every draw labelled."""

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
from hypothesis import event
from hypothesis import strategies as st

from conformance.core.formats import operand_format, variable_format
from conformance.core.layout import CONTIGUOUS, WEIGHT_LAYOUTS, Layout, View, applicable
from strategies.coverage import derived, narrowed, promising, reaching
from strategies.shapes import (
    SHAPE_EDGES,
    Caps,
    case_shapes,
    edge_reach,
    layer_shapes,
    pool_reach,
    shape_buckets,
    shape_pool,
    shape_reach,
)
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

__all__ = ["Caps", "Case", "cases"]

#: how a subject receives x: a numpy array, or its framework's own tensor (built in the layout)
INPUT_KINDS = ("array", "tensor")


@dataclass(frozen=True)
class Case:
    """One example: x (*leading, in), canonical weight (out, in) and bias (out,) or None, in
    `dtype`; the layouts x and the weight are handed over in, and whether x goes as a tensor."""

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
    layout: Layout = CONTIGUOUS
    weight_layout: Layout = CONTIGUOUS
    kind: str = "array"

    def __repr__(self) -> str:
        bias = "bias" if self.has_bias else "no bias"
        values = self.values or self.family
        specials = f", specials {list(self.specials)}" if self.specials else ""
        return (
            f"Case({self.dtype} on {self.device}: x {self.x.shape} as a {self.layout} "
            f"{self.kind}, {self.in_features} -> {self.out_features} features, weight from a "
            f"{self.weight_layout} array, {bias}, values {values}{specials})"
        )

    @property
    def case(self) -> "Case":
        """The case every example carries (here: itself)."""
        return self

    def arrays(self) -> dict[str, np.ndarray | None]:
        """What a reproducer stores to rebuild this example (`from_arrays`)."""
        return {
            "x": self.x,
            "weight": self.weight,
            "bias": self.bias,
            "layout": np.array(self.layout.encode()),
            "weight_layout": np.array(self.weight_layout.encode()),
            "kind": np.array(self.kind),
        }

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Case":
        def layout(name: str) -> Layout:
            return Layout.decode(str(arrays[name])) if name in arrays else CONTIGUOUS

        return cls(
            dtype, device, arrays["x"], arrays["weight"], arrays.get("bias"), "replayed",
            layout=layout("layout"), weight_layout=layout("weight_layout"),
            kind=str(arrays.get("kind", "array")),
        )  # fmt: skip

    def resized(self, leading: tuple[int, ...], in_features: int, out_features: int) -> "Case":
        """This case cut down to these sizes (each at most its own; `leading` may have fewer
        dims, the first ones dropped at index 0): every operand keeps its first elements, the
        layouts and the value family stay (the values are no longer those `values` draws)."""
        return dataclasses.replace(
            self,
            x=cut(self.x, leading, in_features),
            weight=np.ascontiguousarray(self.weight[:out_features, :in_features]),
            bias=None if self.bias is None else self.bias[:out_features].copy(),
            values=None,
        )

    @property
    def leading(self) -> tuple[int, ...]:
        return self.x.shape[:-1]

    @property
    def rows(self) -> int:
        return math.prod(self.leading)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def flat_x(self) -> np.ndarray:
        """x as the 2-D batch (rows, in), rows being the product of the leading dims."""
        return self.x.reshape(self.rows, self.in_features)

    def x_view(self) -> View:
        """x in its layout: a view of a new base (build it in a framework with View.build)."""
        return self.layout.arrange(self.x)

    def weight_source(self) -> np.ndarray:
        """The weight as the array a subject loads it from: a view in its layout."""
        return self.weight_layout.arrange(self.weight).array()

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
            "layout": str(self.layout),
            "weight_layout": str(self.weight_layout),
            "input": self.kind,
        }

    def coverage(self) -> list[str]:
        """Coverage buckets this case falls in (also sent to Hypothesis as events)."""
        buckets = [
            f"leading rank {len(self.leading)}",
            "bias on" if self.has_bias else "bias off",
            f"values {self.family}",
            f"layout {self.layout.name}",
            f"weight {self.weight_layout.name}",
            f"input {self.kind}",
            *shape_buckets(self.leading, self.in_features, self.out_features),
        ]
        buckets.extend(f"special {value}" for value in sorted(set(self.specials)))
        return buckets


def cut(array: np.ndarray, leading: tuple[int, ...], last: int) -> np.ndarray:
    """`array` (*its leading, last) cut to (*leading, last): leading dims it has more of are
    dropped from the front (index 0), then every dim keeps its first elements."""
    while array.ndim - 1 > len(leading):
        array = array[0]
    index = (*(slice(0, n) for n in leading), slice(0, last))
    return np.ascontiguousarray(array[index])


def case_reach(
    caps: Caps,
    min_leading_dims: int = 1,
    out_features: int | None = None,
    zero_size: bool = False,
    ndim: int = 2,
    edges: bool = True,
) -> frozenset[str]:
    """The buckets a cell drawing these cases reaches in every run (a cell aims an example at
    each one its drawn examples missed): the size bands its caps allow, the edges of shape (where
    `edges`: an empty batch, no inputs, a square layer, one output), every applicable layout of x
    and of the weight source, and each input kind its subjects take."""
    if caps.shapes:
        pool = shape_pool(caps.max_rows, caps.max_features, caps.shapes,
                          min_leading_dims, out_features, zero_size)  # fmt: skip
        sizes = pool_reach(pool) if edges else pool_reach(pool) - set(SHAPE_EDGES)
    else:
        sizes = shape_reach(caps, rows=not zero_size and ndim >= 2, out_free=out_features is None)
        sizes |= edge_reach(ndim, out_features is None) if edges else set()
    return frozenset(
        sizes
        | {f"layout {name}" for name in applicable(ndim)}
        | {f"weight {name}" for name in WEIGHT_LAYOUTS}
        | {f"input {kind}" for kind in input_kinds(caps)}
    )


def input_kinds(caps: Caps) -> tuple[str, ...]:
    """How x can be handed over: as an array, and as a tensor where every subject takes one."""
    return INPUT_KINDS if caps.tensors else ("array",)


#: a layout's parameters: the step, the offset in elements (and the axis a step applies to)
_STEPS = st.integers(2, 3)
_OFFSETS = st.integers(1, 7)


@functools.cache
def _axes(ndim: int) -> st.SearchStrategy[int]:
    return st.integers(0, ndim - 1)


def _layout(draw, ndim: int, names: st.SearchStrategy[str]) -> Layout:
    """A layout for an operand of `ndim` dims, its parameters drawn only where it has them."""
    name = draw(names)
    if name == "strided":
        return Layout(name, axis=draw(_axes(ndim)), step=draw(_STEPS))
    return Layout(name, offset=draw(_OFFSETS)) if name == "offset" else Layout(name)


def fitted(x: np.ndarray, layout: Layout) -> np.ndarray:
    """x as its layout can hold it: for a broadcast, every row is the first one."""
    rows = math.prod(x.shape[:-1])
    if layout.name != "broadcast" or rows == 0:
        return x
    return np.ascontiguousarray(np.broadcast_to(x.reshape(rows, x.shape[-1])[0], x.shape))


@functools.cache
def handover(ndim: int, caps: Caps) -> st.SearchStrategy[tuple[Layout, Layout, str]]:
    """(x layout, weight layout, input kind), only those that reach the caps' aim if it names one;
    layouts shrink toward contiguous."""
    return _handover(
        ndim,
        st.sampled_from(narrowed(caps.aim, "layout", applicable(ndim))),
        st.sampled_from(narrowed(caps.aim, "weight", WEIGHT_LAYOUTS)),
        st.sampled_from(narrowed(caps.aim, "input", input_kinds(caps))),
    )


@st.composite
def _handover(draw, ndim: int, x_names, weight_names, kinds) -> tuple[Layout, Layout, str]:
    return _layout(draw, ndim, x_names), _layout(draw, 2, weight_names), draw(kinds)


def _operands(draw, dtype: str, x_shape: tuple[int, ...], out_features: int, bias: bool):
    """(values, x, weight, bias or None): numpy-filled from a drawn family, or, for small cases
    (the elementwise family), every element drawn."""
    fmt, n = operand_format(dtype), x_shape[-1]
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
    layout, weight_layout, kind = draw(handover(len(leading) + 1, caps))
    spec, x, weight, b = _operands(draw, dtype, (*leading, in_f), out_f, bias)
    case = Case(dtype, device, fitted(x, layout), weight, b, spec.family, values=spec,
                layout=layout, weight_layout=weight_layout, kind=kind)  # fmt: skip
    for bucket in case.coverage():
        event(bucket)
    return case


@promising
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
    return reaching(
        _cases(dtype, device, caps, min_leading_dims, out_features, zero_size),
        case_reach(caps, min_leading_dims, out_features, zero_size),
    )


@st.composite
def _rank1_cases(draw, dtype, device, caps) -> Case:
    _, in_f, out_f, bias = draw(case_shapes(caps, 1, None))
    layout, weight_layout, kind = draw(handover(1, caps))
    spec, x, weight, b = _operands(draw, dtype, (1, in_f), out_f, bias)
    return Case(dtype, device, x[0], weight, b, spec.family, values=spec,
                layout=layout, weight_layout=weight_layout, kind=kind)  # fmt: skip


@promising
def rank1_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Cases whose x has no leading dims at all: shape (in,)."""
    return reaching(_rank1_cases(dtype, device, caps), case_reach(caps, ndim=1))


def refilled(case: Case, spec: Values) -> Case:
    """`case`'s shapes and layouts with the values of `spec`."""
    x, weight, bias = fill(
        spec, case.x.shape, case.out_features, case.has_bias, operand_format(case.dtype)
    )
    return dataclasses.replace(case, x=fitted(x, case.layout), weight=weight, bias=bias,
                               family=spec.family, values=spec)  # fmt: skip


@promising
def bias_off_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Cases whose layer has no bias."""
    base = cases(dtype, device, caps)
    return derived(base.map(lambda case: dataclasses.replace(case, bias=None)), base)


@promising
def batched_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Cases with at least two leading dims (so flattening them means something)."""
    return cases(dtype, device, caps, min_leading_dims=2)


@promising
def zero_out_cases(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Cases whose layer has no outputs (out_features = 0)."""
    return cases(dtype, device, caps, out_features=0)


def _defaults(dtype: str, device: str, shape: tuple[int, int]) -> Case:
    in_f, out_f = shape
    zeros = np.zeros((out_f, in_f), variable_format(dtype).numpy)
    return Case(dtype, device, zeros[:0], zeros, zeros[:, 0], "defaults")


@promising
def layer_defaults(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Case]:
    """Only a layer's shape (at least one input): its parameters are the framework's defaults."""
    shapes = layer_shapes(caps.max_features, min_in=1)
    return shapes.map(functools.partial(_defaults, dtype, device))
