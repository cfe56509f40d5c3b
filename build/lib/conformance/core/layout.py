"""Memory layouts: an operand handed over as a view of a contiguous base, not as its own array.

A `Layout` says how (transposed, Fortran order, sliced with a step, a stride-0 broadcast of one
row, at an offset into a larger buffer); `arrange` puts values into such a view. The view is a
base array and view operations that every framework has (permute, a step along one axis,
broadcast, a slice at an offset), so a subject builds the same layout in its own tensor type with
`View.build`: torch gets real strided tensors, TensorFlow and JAX the tensors their own view
operations return. Memory a view skips holds NaN (or the integer format's largest value): a
kernel that reads it returns something no contract admits.
"""

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

#: layouts of the input x, and those a weight is loaded from
LAYOUTS = ("contiguous", "transposed", "fortran", "strided", "broadcast", "offset")
WEIGHT_LAYOUTS = ("contiguous", "transposed", "strided")


@dataclass(frozen=True)
class Layout:
    """How an operand is laid out: a name from LAYOUTS and its parameters (the axis a step
    applies to and the step, elements before the data)."""

    name: str = "contiguous"
    axis: int = 0
    step: int = 1
    offset: int = 0

    def __post_init__(self):
        if self.name not in LAYOUTS:
            raise ValueError(f"unknown layout {self.name!r}; valid: {', '.join(LAYOUTS)}")

    def __str__(self) -> str:
        if self.name == "strided":
            return f"strided (every {ordinal(self.step)} element along axis {self.axis})"
        if self.name == "offset":
            return f"offset ({self.offset} elements in)"
        return self.name

    def encode(self) -> str:
        """A string a reproducer stores (`decode` reads it back)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> "Layout":
        return cls(**json.loads(text))

    def arrange(self, values: np.ndarray) -> "View":
        """`values` in this layout: a view of a new base whose elements are `values`, exactly."""
        return _ARRANGE[self.name](self, np.asarray(values))


CONTIGUOUS = Layout()


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def applicable(ndim: int) -> tuple[str, ...]:
    """The layouts an operand of `ndim` dims can take (transposes and broadcasts need two)."""
    return LAYOUTS if ndim >= 2 else ("contiguous", "strided", "offset")


@dataclass(frozen=True)
class ViewOps:
    """A framework's view operations: permute(a, axes), broadcast(a, shape), reshape(a, shape);
    a step along an axis and a slice of the flat buffer use Python indexing."""

    permute: Callable
    broadcast: Callable
    reshape: Callable


@dataclass(frozen=True)
class View:
    """An operand as `ops` applied in turn to the contiguous `base`."""

    base: np.ndarray
    ops: tuple[tuple, ...]
    layout: Layout

    def build(self, views: ViewOps, base):
        """The operand in a framework's tensor type, from `base` (this view's base, converted)."""
        for op, *args in self.ops:
            if op == "permute":
                base = views.permute(base, args[0])
            elif op == "step":
                axis, step = args
                index = [slice(None)] * len(base.shape)
                index[axis] = slice(None, None, step)
                base = base[tuple(index)]
            elif op == "broadcast":
                base = views.broadcast(base, args[0])
            else:  # "skip": the elements after `offset` of the flat buffer, reshaped
                offset, shape = args
                flat = views.reshape(base, (-1,))
                base = views.reshape(flat[offset : offset + math.prod(shape)], shape)
        return base

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array().shape

    def array(self) -> np.ndarray:
        """The operand as a numpy view of the base (writeable, sharing its memory)."""
        return self.build(NUMPY, self.base)


def _broadcast(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """np.broadcast_to, but writeable (frameworks warn about read-only arrays)."""
    strides = (0,) * (len(shape) - a.ndim) + a.strides
    return np.lib.stride_tricks.as_strided(a, shape, strides)


NUMPY = ViewOps(
    permute=lambda a, axes: a.transpose(axes),
    broadcast=_broadcast,
    reshape=lambda a, shape: a.reshape(shape),
)


def _gap(dtype: np.dtype):
    """What the memory between a view's elements holds."""
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    return True if dtype.kind == "b" else np.nan


def _contiguous(layout: Layout, values: np.ndarray) -> View:
    return View(np.ascontiguousarray(values), (), layout)


def _permuted(axes: tuple[int, ...]):
    def arrange(layout: Layout, values: np.ndarray) -> View:
        base = np.ascontiguousarray(values.transpose(np.argsort(axes)))
        return View(base, (("permute", axes),), layout)

    return arrange


def _transposed(layout: Layout, values: np.ndarray) -> View:
    axes = (*range(values.ndim - 2), values.ndim - 1, values.ndim - 2)
    return _permuted(axes)(layout, values)


def _fortran(layout: Layout, values: np.ndarray) -> View:
    return _permuted(tuple(reversed(range(values.ndim))))(layout, values)


def _strided(layout: Layout, values: np.ndarray) -> View:
    axis, step = layout.axis % values.ndim, layout.step
    shape = list(values.shape)
    shape[axis] *= step
    base = np.full(shape, _gap(values.dtype), values.dtype)
    view = View(base, (("step", axis, step),), layout)
    view.array()[...] = values
    return view


def _broadcast_row(layout: Layout, values: np.ndarray) -> View:
    rows = np.ascontiguousarray(values).reshape(math.prod(values.shape[:-1]), values.shape[-1])
    row = rows[0] if len(rows) else np.zeros(values.shape[-1], values.dtype)
    if len(rows) and not (rows.view(np.uint8) == row.view(np.uint8)).all():
        raise ValueError("a broadcast layout needs every row of the operand to be the same")
    return View(row.copy(), (("broadcast", values.shape),), layout)


def _offset(layout: Layout, values: np.ndarray) -> View:
    base = np.full(layout.offset + values.size, _gap(values.dtype), values.dtype)
    base[layout.offset :] = values.reshape(-1)
    return View(base, (("skip", layout.offset, values.shape),), layout)


_ARRANGE = {
    "contiguous": _contiguous,
    "transposed": _transposed,
    "fortran": _fortran,
    "strided": _strided,
    "broadcast": _broadcast_row,
    "offset": _offset,
}
