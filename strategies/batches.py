"""Rebatched examples: a case, and another batch its rows are computed in. The other batch takes
`size` rows from the case's rows in turn, starting at row `offset`, so each row sits at other
positions in a batch smaller or larger than the case's: often a few rows, and a quarter of the
time a size from the tail's range (at a block edge half of those), where matmul kernels switch.
The case itself keeps every promise of `cases`."""

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from strategies.cases import Caps, Case, cases
from strategies.coverage import derived, promising
from strategies.shapes import MAX_ELEMENTS, large_sizes


@dataclass(frozen=True)
class Rebatched:
    """A case and the batch (`size` rows from row `offset` on, in turn) its rows go into again."""

    case: Case
    size: int
    offset: int

    def rows(self) -> np.ndarray:
        """Which of the case's rows fill the other batch, in order (empty for an empty batch)."""
        count = self.case.rows
        return (self.offset + np.arange(self.size if count else 0)) % max(count, 1)

    def arrays(self) -> dict:
        return {**self.case.arrays(), "size": np.array(self.size), "offset": np.array(self.offset)}

    def resized(self, leading: tuple[int, ...], in_features: int, out_features: int) -> "Rebatched":
        """This example with its case cut down (see Case.resized); the other batch the same size."""
        return Rebatched(
            self.case.resized(leading, in_features, out_features), self.size, self.offset
        )

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Rebatched":
        case = Case.from_arrays(dtype, device, arrays)
        return cls(case, int(arrays["size"]), int(arrays["offset"]))


@st.composite
def _rebatched(draw, dtype: str, device: str, caps: Caps) -> Rebatched:
    case = draw(cases(dtype, device, caps))
    widest = max(case.in_features, case.out_features, 1)
    most = max(1, min(caps.large_rows if caps.has_tail() else 4 * caps.max_rows,
                      MAX_ELEMENTS // widest))  # fmt: skip
    small = st.integers(1, min(most, max(2 * case.rows, 2)))
    size = draw(st.one_of(small, small, small, large_sizes(1, most)))
    offset = draw(st.integers(0, max(case.rows - 1, 0)))
    return Rebatched(case, size, offset)


@promising
def rebatched(dtype: str, device: str, caps: Caps) -> st.SearchStrategy[Rebatched]:
    """Cases, each with another batch of its rows (see the module's docstring)."""
    return derived(_rebatched(dtype, device, caps), cases(dtype, device, caps))
