"""Benchmark: where each example's time goes, per cell, against the bare framework calls; and the
default CI run's wall time, scaling and memory with 1, 2, ... workers.

    python -m tests.benchmark [--parts throughput,farm] [--examples N] [--subjects torch,keras]
                              [--dtypes float32,...] [--properties forward,gradients]
                              [--workers 1,2] [--select EXPR]

throughput: for each property x subject x dtype it runs the real property
(test_forward_within_bound or test_weight_gradient_within_bound; Hypothesis `ci` profile:
derandomized, no database) for N examples in this process and prints its examples/s and the
milliseconds per example each part takes: Hypothesis' engine (its own search and bookkeeping),
generation (drawing a case), the subject's calls (building, loading weights, calling), the
oracle, the bound and the cell's bookkeeping, and the cell's report. Then it replays the very
cases it drew as bare framework calls (load the weights into an already built layer and call it,
or take its gradients) and prints their rate and the suite's ratio to it.

farm: runs the default CI job (`pytest -n W --special-values --hypothesis-profile ci`, only the
items `--select` names if given, as pytest -k) once per worker count W and prints its wall time,
examples/s in all and per worker, the speed-up over the first worker count (the baseline,
measured in the same invocation) and each worker's peak resident memory.

Nothing is asserted: the figures are printed (tests/test_benchmark.py keeps every part running).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from hypothesis import settings

import conftest  # noqa: F401 - registers the Hypothesis profiles
from conformance.core import oracle
from conformance.core.caps import SizeCaps
from conformance.core.cell import Cell
from conformance.core.formats import DTYPES
from conformance.core.registry import Registry
from conformance.runner.farm import prepare_process, thread_cap
from conformance.runner.options import DEFAULT_TAIL_SHARE
from conformance.subjects import loaded_layer, resolve
from strategies.gradients import upstream_for
from strategies.values import Values

#: property -> (the declared property, the bare framework call it makes per example)
PROPERTIES = {
    "forward": (
        "forward_within_bound",
        lambda s, layer, case: s.forward(layer, case.x),
    ),
    "gradients": (
        "weight_gradient_within_bound",
        lambda s, layer, case: s.gradients(layer, case.x, upstream_for(case, Values("uniform"))),
    ),
}

#: the parts of an example's time, in the order they are printed
PARTS = ("engine", "generation", "subject", "oracle", "bound", "report")
#: the subject's methods a property calls: their time is the subject's part
SUBJECT_CALLS = ("build", "load", "read", "forward", "tensor", "gradients")
#: the oracle's functions the properties call
ORACLE_CALLS = tuple(
    name for name in vars(oracle) if not name.startswith("_") and callable(getattr(oracle, name))
    and getattr(getattr(oracle, name), "__module__", None) == oracle.__name__
)  # fmt: skip


class Phases:
    """Exclusive wall time per part: a wrapped function's time goes to its part, minus the time
    of wrapped functions it calls; what no wrapper claims goes to the part the run started in."""

    def __init__(self, base: str):
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack = [base]
        self._mark = time.perf_counter()
        self._undo: list[tuple[object, str, object]] = []

    def _switch(self, push: str | None) -> None:
        now = time.perf_counter()
        self.seconds[self._stack[-1]] += now - self._mark
        self._mark = now
        if push is None:
            self._stack.pop()
        else:
            self._stack.append(push)

    def timed(self, function, part: str):
        def timed(*args, **kwargs):
            self._switch(part)
            try:
                return function(*args, **kwargs)
            finally:
                self._switch(None)

        return timed

    def wrap(self, owner, names, part: str) -> None:
        """Time `owner.name` for each of `names` as `part` until `restore`."""
        for name in names:
            original = getattr(owner, name)
            self._undo.append((owner, name, owner.__dict__.get(name)))
            setattr(owner, name, self.timed(original, part))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._undo.clear()

    def stop(self) -> dict[str, float]:
        self._switch("stopped")
        return self.seconds


class RecordingCell(Cell):
    """A cell that also keeps every case, so the bare calls replay exactly what the suite drew."""

    def __init__(self, cell: Cell):
        super().__init__(cell.id, cell.judge)
        self.contracts = cell.contracts
        self.cases: list = []

    def example(self, example):
        super().example(example)
        self.cases.append(example.case)


def suite_rate(prop: str, subject, dtype: str, run: SizeCaps) -> tuple[float, RecordingCell, dict]:
    """The property's examples/s in this cell, the cell, and milliseconds per example by part."""
    from conformance.properties import PROPERTIES as DECLARED
    from conformance.runner.plugin import cell_caps, property_test

    phases = Phases("engine")
    declared = DECLARED[PROPERTIES[prop][0]]
    entries = declared.reaches(Registry.load(), (subject,), dtype, "cpu")
    cell = RecordingCell(declared.new_cell((subject,), dtype, "cpu", entries))
    caps = cell_caps(run, cell, (subject,))
    test = property_test(replace(declared, check=phases.timed(declared.check, "bound")))
    test.hypothesis.inner_test = phases.timed(test.hypothesis.inner_test, "generation")
    phases.wrap(subject, SUBJECT_CALLS, "subject")
    phases.wrap(oracle, ORACLE_CALLS, "oracle")
    try:
        test(subject=subject, dtype=dtype, device="cpu", cell=cell, caps=caps)
        phases.timed(lambda: json.dumps(cell.record_of().to_json()), "report")()
    finally:
        phases.restore()
    seconds = phases.stop()
    per_example = {part: 1000 * seconds[part] / max(cell.examples, 1) for part in PARTS}
    return cell.examples / sum(seconds.values()), cell, per_example


def bare_rate(prop: str, subject, cases) -> float:
    """The property's framework calls on layers built beforehand: the floor the framework sets."""
    call = PROPERTIES[prop][1]
    for case in cases:
        loaded_layer(subject, case)  # builds every layer before timing
    started = time.perf_counter()
    for case in cases:
        call(subject, loaded_layer(subject, case), case)
    return len(cases) / (time.perf_counter() - started)


def farm(workers: list[int], select: str | None) -> None:
    """The default CI run at each worker count: wall time, rates, speed-up, peak memory."""
    chosen = f" -k {select!r}" if select else ""
    print(f"the default CI run: pytest -n W --special-values --hypothesis-profile ci{chosen}")
    print(
        f"{'workers':>7} {'wall s':>7} {'examples':>9} {'ex/s':>6} {'ex/s/worker':>12} "
        f"{'speed-up':>9}  peak RSS per worker (MiB)"
    )
    baseline = None
    for count in workers:
        with tempfile.TemporaryDirectory() as tmp:
            command = [
                sys.executable, "-m", "pytest", "-q", "-n", str(count), "--special-values",
                "--hypothesis-profile", "ci", f"--report-dir={tmp}", *(["-k", select] if select else []),
            ]  # fmt: skip
            started = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
            path = Path(tmp) / "report.json"
            if not path.exists():
                sys.exit(f"the run wrote no report:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            data = json.loads(path.read_text())
        examples = sum(c["examples"] for c in data["cells"])
        baseline = baseline or wall
        peaks = [p["peak_rss_mib"] for p in data["run"]["processes"].values()]
        print(
            f"{count:>7} {wall:7.1f} {examples:>9} {examples / wall:6.0f} "
            f"{examples / wall / count:12.0f} {baseline / wall:9.2f}  "
            f"{', '.join(f'{p:.0f}' for p in peaks)}"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--subjects", default="torch,keras")
    parser.add_argument("--dtypes", default="float32")
    parser.add_argument("--properties", default="forward,gradients")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--select", help="farm: run only the items this pytest -k expression names")
    parser.add_argument("--parts", default="throughput,farm")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    if unknown := set(parts) - {"throughput", "farm"}:
        parser.error(f"unknown parts {sorted(unknown)}; valid: throughput, farm")
    if "throughput" in parts:
        with warnings.catch_warnings():  # the frameworks' warnings on empty layers, not figures
            warnings.simplefilter("ignore")
            throughput(args, parser)
    if "farm" in parts:
        try:
            workers = [int(w) for w in args.workers.split(",")]
        except ValueError:
            parser.error(f"--workers: {args.workers!r} is not a list of integers")
        farm(workers, args.select)


def throughput(args, parser) -> None:
    dtypes, props = args.dtypes.split(","), args.properties.split(",")
    if unknown := set(dtypes) - set(DTYPES):
        parser.error(f"unknown dtypes {sorted(unknown)}; valid: {', '.join(DTYPES)}")
    if unknown := set(props) - set(PROPERTIES):
        parser.error(f"unknown properties {sorted(unknown)}; valid: {', '.join(PROPERTIES)}")
    caps = SizeCaps.from_env(tail=DEFAULT_TAIL_SHARE)  # the default run's caps
    for name, examples in (
        ("benchmark-warm-up", min(args.examples, 50)),
        ("benchmark", args.examples),
    ):
        settings.register_profile(name, parent=settings.get_profile("ci"), max_examples=examples)
    subjects = [resolve(name) for name in args.subjects.split(",")]
    # as a worker of the suite prepares itself (its threads, and malloc keeping freed memory)
    prepare_process(subjects, thread_cap(None, 1), "framework-default")
    for subject in subjects:  # import the framework and warm it up outside the timings
        layer = subject.build(1, 1, True, "float32", "cpu")
        subject.gradients(layer, np.ones((1, 1), np.float32), np.ones((1, 1), np.float32))
    # Hypothesis and numpy warm up on a process' first cell: a throwaway cell first, so that no
    # cell's figures depend on its place in the order
    settings.load_profile("benchmark-warm-up")
    suite_rate(props[0], subjects[0], dtypes[0], caps)
    settings.load_profile("benchmark")
    print(f"examples/s in one process, {args.examples} examples per cell, {caps}")
    print(
        f"{'property':<10} {'subject':<18} {'dtype':<9} {'ex/s':>6} "
        + " ".join(f"{part:>10}" for part in PARTS)
        + f" {'bare/s':>7} {'ratio':>6}"
    )
    print(f"{'':<45}" + " ".join(f"{'ms/example':>10}" for _ in PARTS))
    for prop in props:
        seconds, cells = 0.0, 0
        for subject in subjects:
            for dtype in dtypes:
                rate, cell, split = suite_rate(prop, subject, dtype, caps)
                seconds, cells = seconds + cell.examples / rate, cells + 1
                bare = bare_rate(prop, subject, cell.cases)
                print(
                    f"{prop:<10} {subject.label:<18} {dtype:<9} {rate:6.0f} "
                    + " ".join(f"{split[part]:10.3f}" for part in PARTS)
                    + f" {bare:7.0f} {rate / bare:6.2f}"
                )
        print(
            f"{prop:<10} all {cells} cells together: {cells * args.examples / seconds:.0f} examples/s"
        )


if __name__ == "__main__":
    main()
