"""linear-dense-conformance (or python -m conformance): the suite, from any directory.

    linear-dense-conformance -n 2 --special-values --hypothesis-profile ci

is `python -m pytest --pyargs conformance` with the arguments given: the installed suite's cells,
its report in ./conformance-report/. The exit status is pytest's.
"""

import sys


def main(argv: list[str] | None = None) -> int:
    import pytest

    return int(pytest.main(["--pyargs", "conformance", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
