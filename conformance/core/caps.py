"""The size caps of a run: how large the examples it draws may be, from options, the environment
or these defaults (strategies.shapes draws within them, per cell)."""

import os
from dataclasses import dataclass, replace
from typing import Any

#: the caps and their defaults: in/out features and rows (the product of the leading dims) of the
#: bulk of small cases; the largest features and most rows of the tail of large shapes
DEFAULT_CAPS = {"max_features": 32, "max_rows": 64, "large_features": 1024, "large_rows": 4096}
#: environment variables that set the size caps when no option does
CAP_ENV = {
    "max_features": "CONFORMANCE_MAX_FEATURES",
    "max_rows": "CONFORMANCE_MAX_ROWS",
    "large_features": "CONFORMANCE_LARGE_FEATURES",
    "large_rows": "CONFORMANCE_LARGE_ROWS",
}


@dataclass(frozen=True)
class SizeCaps:
    """The bulk's caps (features per layer side, rows = the product of the leading dims) and the
    tail's (the share of examples drawn from it, its largest features and rows)."""

    max_features: int = DEFAULT_CAPS["max_features"]
    max_rows: int = DEFAULT_CAPS["max_rows"]
    #: the share of examples drawn from the tail of large shapes (0: none)
    tail: float = 0.0
    large_features: int = DEFAULT_CAPS["large_features"]
    large_rows: int = DEFAULT_CAPS["large_rows"]

    @classmethod
    def from_env(cls, tail: float = 0.0, **given: int | None) -> "SizeCaps":
        """Caps from explicit values, else the environment, else the defaults; ValueError
        naming the variable for one that is not a positive integer."""
        values: dict[str, Any] = {}
        for field, var in CAP_ENV.items():
            value = given.get(field)
            if value is None and os.environ.get(var):
                value = positive(var, os.environ[var])
            if value is not None:
                values[field] = value
        return replace(cls(tail=tail), **values)


def positive(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {text!r}")
    return value
