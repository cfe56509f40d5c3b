"""The size caps of a run: how large the examples it draws may be, from options, the environment
or these defaults (strategies.shapes draws within them)."""

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
