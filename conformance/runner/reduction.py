"""The smallest failing example: a failure found on a large example is cut down, dimension by
dimension, to the smallest example that still fails the same way, so that a bug that shows past
100 rows is reported on x of shape (101, 1), not on an aimed 1024 x 1024.

Hypothesis shrinks a drawn failure within its strategy, but a strategy aimed at a size band keeps
its examples in that band, and the tail's shrink toward the smallest size of their octave. This
search leaves both: it cuts the failing example's operands to their first elements
(`resized`), fewer leading dims first, then each size by bisection, and keeps a candidate only
if the property fails on it the same way (the same message, its numbers and bracketed parts left
out). Each candidate runs on a scratch cell, so nothing is counted; at most MAX_CHECKS run.
"""

import re
from collections.abc import Callable

from conformance.core.cell import Cell, SubjectFailure

#: property checks the search may run for one failure
MAX_CHECKS = 120
_DETAIL = re.compile(r"\([^)]*\)|\[[^\]]*\]|[-+]?\d[\w.+-]*")


def kind(message: str) -> str:
    """What a failure says before its first colon, without numbers, (...) or [...]: two failures
    of one kind differ only in where and by how much."""
    return _DETAIL.sub("#", message.split(":", 1)[0])


def sizes_of(example) -> list[int]:
    """[*leading dims, in_features, out_features] of an example's case."""
    case = example.case
    return [*case.leading, case.in_features, case.out_features]


def smallest_failure(cell: Cell, check: Callable[[Cell, object], None]) -> bool:
    """Replace `cell`'s failure by the same failure on the smallest example found; whether one
    was. `check(scratch, example)` runs the property on a scratch cell (raising SubjectFailure)."""
    if cell.failure is None or cell.failing is None:
        return False
    example = cell.failing[0]
    if example is None or not hasattr(example, "resized"):
        return False
    want, checks = kind(cell.failure["message"]), 0
    best: Cell | None = None

    def fails(sizes: list[int]) -> Cell | None:
        nonlocal checks
        checks += 1
        scratch = cell.scratch()
        candidate = example.resized(tuple(sizes[:-2]), sizes[-2], sizes[-1])
        try:
            check(scratch, candidate)
        except SubjectFailure:
            if scratch.failure is not None and kind(scratch.failure["message"]) == want:
                return scratch
        return None

    sizes, improved = sizes_of(example), True
    while improved and checks < MAX_CHECKS:
        improved = False
        while len(sizes) > 3 and checks < MAX_CHECKS:  # one leading dim fewer
            found = fails(sizes[1:])
            if found is None:
                break
            best, sizes, improved = found, sizes[1:], True
        for i, size in enumerate(sizes):
            low, high = 1, size  # `high` fails; no size shrinks to 0 (an empty batch or layer)
            while low < high and checks < MAX_CHECKS:
                middle = (low + high) // 2
                trial = [*sizes[:i], middle, *sizes[i + 1 :]]
                found = fails(trial)
                if found is None:
                    low = middle + 1
                else:
                    best, sizes, high, improved = found, trial, middle, True
    if best is None:
        return False
    cell.adopt(best, reduced_from=cell.failure["case"])
    return True
