"""Throughput benchmark: forward examples/s per process, against the bare framework calls.

    python -m tests.benchmark [--examples N] [--subjects torch,keras] [--dtypes float32,...]

For each subject x dtype it runs the real property test_forward_within_bound (Hypothesis
`ci` profile: derandomized, no database) for N examples in this process, then replays the
very cases it drew as bare framework calls (load the weights into an already built layer and
call it) and prints both rates and their ratio. Nothing is asserted: the figures are printed.
"""

import argparse
import time

import numpy as np
from hypothesis import settings

import conftest  # noqa: F401 - registers the Hypothesis profiles
from conformance.cell import Cell
from conformance.formats import DTYPES
from conformance.subjects import loaded_layer, resolve
from strategies import Caps


class RecordingCell(Cell):
    """A cell that also keeps every case, so the bare calls replay exactly what the suite drew."""

    def __init__(self, *args):
        super().__init__(*args)
        self.cases = []

    def example(self, case):
        super().example(case)
        self.cases.append(case)


def suite_rate(subject, dtype: str, caps: Caps) -> tuple[float, RecordingCell]:
    from conformance.test_forward import (
        test_forward_within_bound,  # after the profile is loaded
    )

    cell = RecordingCell("forward_within_bound", subject.label, dtype, "cpu")
    started = time.perf_counter()
    test_forward_within_bound(
        subject=subject, dtype=dtype, device="cpu", cell=cell, caps=caps
    )
    return cell.examples / (time.perf_counter() - started), cell


def bare_rate(subject, cases) -> float:
    """Load + call on layers built beforehand: the floor the framework itself sets."""
    for case in cases:
        loaded_layer(subject, case)  # builds every layer before timing
    started = time.perf_counter()
    for case in cases:
        subject.forward(loaded_layer(subject, case), case.x)
    return len(cases) / (time.perf_counter() - started)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--subjects", default="torch,keras")
    parser.add_argument("--dtypes", default="float32")
    args = parser.parse_args(argv)
    dtypes = args.dtypes.split(",")
    if unknown := set(dtypes) - set(DTYPES):
        parser.error(f"unknown dtypes {sorted(unknown)}; valid: {', '.join(DTYPES)}")
    caps = Caps.from_env()
    settings.register_profile(
        "benchmark", parent=settings.get_profile("ci"), max_examples=args.examples
    )
    settings.load_profile("benchmark")
    subjects = [resolve(name) for name in args.subjects.split(",")]
    for subject in subjects:  # import the framework and warm it up outside the timings
        subject.forward(
            subject.build(1, 1, True, "float32", "cpu"), np.ones((1, 1), np.float32)
        )
    print(
        f"forward examples/s in one process, {args.examples} examples per cell, {caps}"
    )
    print(f"{'subject':<18} {'dtype':<9} {'suite':>7} {'bare calls':>11} {'ratio':>6}")
    seconds = 0.0
    for subject in subjects:
        for dtype in dtypes:
            rate, cell = suite_rate(subject, dtype, caps)
            seconds += cell.examples / rate
            bare = bare_rate(subject, cell.cases)
            print(
                f"{subject.label:<18} {dtype:<9} {rate:7.0f} {bare:11.0f} {rate / bare:6.2f}"
            )
    cells = len(subjects) * len(dtypes)
    print(
        f"all {cells} cells together: {cells * args.examples / seconds:.0f} examples/s"
    )


if __name__ == "__main__":
    main()
