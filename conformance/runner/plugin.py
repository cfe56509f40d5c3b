"""The conformance matrix in pytest: cells as test items, and the statuses they end in.

Each test item is one cell: property x subject (or subject pair) x dtype x device. Its record
travels to the controller on the test report (as a user property), so reports are correct
under pytest-xdist.
"""

import itertools
import os
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.errors import HypothesisException, Unsatisfiable

from conformance.core.caps import SizeCaps
from conformance.core.cell import Cell, SubjectFailure, buckets
from conformance.core.contract import longest_useful_sum
from conformance.core.evidence import replay_command
from conformance.core.identity import PAIR_IN_ID, CellId
from conformance.core.record import CellRecord
from conformance.core.status import Status
from conformance.properties import PROPERTIES, Property
from conformance.properties.checks import raised_in_subject
from conformance.runner import signals
from conformance.runner.farm import (
    exit_without_teardown,
    pin_gpu,
    prepare_process,
    thread_cap,
    usable_cpus,
    use_example_database,
)
from conformance.runner.options import SELECTION, OptionError, Selection, parse
from conformance.runner.peer import Peer
from conformance.runner.reduction import smallest_failure
from conformance.subjects import Subject, runtimes_of
from conformance.subjects.availability import device_slots, why_not
from conformance.subjects.base import draws_from_pool
from strategies import Caps
from strategies.coverage import built

#: the user property a cell's record travels under, from a worker to the controller
CELL_PROPERTY = "conformance.cell"
#: Hypothesis' reproduce line, printed with every failure under print_blob=True
REPRODUCE_BLOB = re.compile(r"@reproduce_failure\('[^']+', b'[^']*'\)")
CELL = pytest.StashKey[Cell]()
#: framework threads this process was capped to
THREADS = pytest.StashKey[int]()
#: the GPU this worker was pinned to (CUDA_VISIBLE_DEVICES), or None
GPU = pytest.StashKey["str | None"]()
PEER = pytest.StashKey[Peer]()


def selection(config) -> Selection:
    return config.stash[SELECTION]


#: what every profile of the suite shares: examples call real frameworks (first calls warm up)
#: and a cell fixture accumulates over all examples of its test. No explain phase: a failure
#: already names the subject, the bound and the element. No target phase: in Hypothesis 6.170 its
#: hill climbing can re-run one attempt that falls out of step with the strategy without end
#: (docs/running.md).
_COMMON: dict[str, Any] = {
    "deadline": None,
    "phases": tuple(p for p in Phase if p not in (Phase.explain, Phase.target)),
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}
#: warnings a run of the suite shows nobody: the frameworks' own notes, nothing for a user to do
WARNINGS_NOT_SHOWN = (
    "ignore::DeprecationWarning:tensorflow.*",
    "ignore::DeprecationWarning:keras.*",
    "ignore:Initializing zero-element tensors is a no-op:UserWarning",
    "ignore:Explicitly requested dtype float64:UserWarning",
    # JAX narrowing float64 past float32's range: the registered divergence keras-jax-float64
    "ignore:overflow encountered in cast:RuntimeWarning:jax.*",
    "ignore:overflow encountered in cast:RuntimeWarning:conformance.runtimes.keras",
    # torch.compile's own use of torch.jit
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning",
    # inductor compiling bfloat16 x under float16 autocast (a float-input example): its own note
    "ignore:bf16 and fp16 are mixed in the scheduler node:UserWarning",
)


def register_profiles(config) -> None:
    """The suite's Hypothesis profiles (docs/running.md); the default one loaded unless
    --hypothesis-profile names one (Hypothesis' plugin loads that after this)."""
    settings.register_profile("dev", max_examples=50, **_COMMON)
    # builds on Hypothesis' own ci profile (derandomize, no database, print_blob)
    ci = settings.get_profile("ci")
    settings.register_profile("ci", parent=ci, max_examples=100, **_COMMON)
    # long runs explore with fresh randomness; failures still print a reproduce blob
    settings.register_profile("thorough", max_examples=2500, database=None, **_COMMON)
    # a quick derandomized pass (the GPU check, backend smoke runs)
    settings.register_profile("smoke", max_examples=25, derandomize=True, database=None, **_COMMON)
    if config.getoption("hypothesis_profile") is None:
        settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_configure(config):
    """Set up a run of the suite (this plugin is registered only for one: conformance.runner.entry):
    signals first, then profiles, the selection (a bad option is a one-line usage error) and, in
    a process that runs cells, the frameworks."""
    if hasattr(config, "workerinput"):
        signals.ignore_signals()  # xdist workers leave SIGINT and SIGTERM to the controller
    else:
        signals.interrupt_on_signals()  # SIGTERM (a CI time-out) ends a run as Ctrl-C does
    # TensorFlow's C++ notes (the LiteRT converter writes several a conversion); a level the user set stays
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    register_profiles(config)
    for line in WARNINGS_NOT_SHOWN:
        config.addinivalue_line("filterwarnings", line)
    try:
        config.stash[SELECTION] = parse(config.getoption)
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.addinivalue_line(
        "markers", "special_values: opt-in property over NaN, Inf and subnormal values"
    )
    config.addinivalue_line(
        "markers", "thread_counts: opt-in property comparing framework thread counts"
    )
    config.addinivalue_line(
        "markers", "needs(*features): subject methods the property calls beyond forward"
    )
    config.addinivalue_line("markers", "cross_device: compares each non-CPU device with the CPU")
    if runs_cells(config):
        sel = selection(config)
        worker = getattr(config, "workerinput", {})
        if worker:
            exit_without_teardown()
        config.stash[GPU] = pin_gpu(worker.get("workerid"))
        config.stash[THREADS] = thread_cap(sel.threads, worker.get("workercount", 1))
        prepare_process(sel.subjects, config.stash[THREADS], sel.tf32, sel.deterministic)


def runs_cells(config) -> bool:
    """Whether this process runs test items (an xdist worker, or a run without workers)."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)


def pytest_sessionstart(session):
    sel = selection(session.config)
    if sel.example_db is not None:
        use_example_database(sel.example_db, sel.example_db_read_only)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    """Interrupts start here: pytest writes a session's end (and so the report) only once its
    start is done, so a signal during start-up waits for this point."""
    signals.session_started()


def pytest_runtest_setup(item):
    signals.check()


def pytest_runtest_teardown(item):
    cell = item.stash.get(CELL, None)
    if cell is not None:
        cell.close()


#: examples drawn for each promised bucket a cell's drawn examples missed: the simplest in the
#: bucket (its smallest shape, values of ones), which any deviation beyond a threshold shows
AIMED_EXAMPLES = 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a cell's drawn examples (a failure among them ends it), aim a few more at each bucket
    its strategy promises and they missed, so that every run reaches every promised bucket,
    however rare its draws (a large shape, say, drawn for a few per cent of examples)."""
    cell = item.stash.get(CELL, None)
    try:
        result = yield
        if cell is None or cell.skip_reason is not None or cell.failure is not None:
            return result
        aim(item, cell)
    except Exception:
        if cell is not None and cell.failure is not None:  # reported on its smallest example
            prop = cell_property(item)
            checked = item.funcargs["pair"] if prop.pair else item.funcargs["subject"]
            smallest_failure(
                cell, lambda scratch, example: check_example(prop, scratch, checked, example)
            )
        raise
    if cell.status() == Status.SKIPPED:  # a subject could take none of its examples
        pytest.skip(cell.reason())
    return result


def aim(item, cell: Cell) -> None:
    """Check the simplest example of each bucket the cell's strategy promises and its drawn
    examples missed (raises on a failure)."""
    prop, args = cell_property(item), item.funcargs
    checked = args["pair"] if prop.pair else args["subject"]
    for bucket in cell.unreached():  # sorted: "2^20+ elements" first, its example reaches more
        if bucket not in cell.unreached():  # an example aimed at an earlier bucket reached it
            continue
        strategy = prop.strategy(args["dtype"], args["device"], replace(args["caps"], aim=bucket))
        try:
            aimed_run(prop, cell, checked, strategy, bucket)()
        except Unsatisfiable:  # no aimed example reached it: the record lists it as unreached
            continue


def aimed_run(prop: Property, cell: Cell, checked, strategy, bucket: str):
    """A Hypothesis test of a few examples of `strategy` that reach `bucket`."""

    @settings(
        max_examples=AIMED_EXAMPLES,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        print_blob=False,  # the failure's reproducer replays it; a blob would not (another test)
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def reach_bucket(data):
        __tracebackhide__ = True
        aimed = strategy.filter(lambda example: bucket in buckets(example))
        check_drawn(prop, cell, checked, aimed, data)

    return reach_bucket


def pytest_runtest_logreport(report):
    signals.check()


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter formats its traceback
def pytest_keyboard_interrupt(excinfo):
    signals.seen()
    signals.drop_lineless(excinfo.tb)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected theirs
def pytest_collection_modifyitems(config, items):
    """Keep this shard's cells (--shard K/N): an even share of those that will run, by their
    durations in --shard-durations' report where given; the rest are deselected, as -k does."""
    sel = selection(config)
    if sel.shard is None:
        return
    durations = {
        item.nodeid: sel.shard_durations[cell_test_id(item.nodeid)]
        for item in items
        if cell_test_id(item.nodeid) in sel.shard_durations
    }
    kept, dropped = sel.shard.split(
        items, durations, lambda item: _subjects(item) is None or skip_reason(item) is not None
    )
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_generate_tests(metafunc):
    names = metafunc.fixturenames
    if "cell" not in names:
        return
    sel = selection(metafunc.config)
    prop = PROPERTIES[metafunc.function.__name__.removeprefix("test_")]
    if "subject" in names:
        # the cross-device property compares every other device with the CPU; a thread count
        # is a CPU setting: the thread-count property has CPU cells only
        targets = [
            (s, d)
            for s in sel.cell_subjects
            for d in device_slots(s)
            if sel.selects(d)
            and not (prop.cross_device and d == "cpu")
            and not (prop.thread_counts and not d.startswith("cpu"))
        ]
        metafunc.parametrize(
            ("subject", "device"), targets, ids=[f"{s.label}-{d}" for s, d in targets]
        )
    if "pair" in names:
        pairs = [
            ((a, b), d)
            for a, b in itertools.combinations(sel.subjects, 2)
            for d in sorted(set(device_slots(a)) & set(device_slots(b)))
            if sel.selects(d)
        ]
        metafunc.parametrize(
            ("pair", "device"),
            pairs,
            ids=[f"{a.label}{PAIR_IN_ID}{b.label}-{d}" for (a, b), d in pairs],
        )
    if "dtype" in names:
        metafunc.parametrize("dtype", sel.dtypes)


def _subjects(item) -> tuple | None:
    """The subjects of a cell's item; None for other items (and for an empty parametrization,
    which pytest skips: e.g. the cross-device property when no second device is selected)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "dtype" not in params:
        return None
    found = params.get("pair", (params.get("subject"),))
    if not isinstance(found, tuple):  # an empty parametrization
        return None
    return found if all(isinstance(s, Subject) for s in found) else None


def check_drawn(prop: Property, cell: Cell, checked, strategy, data) -> None:
    """Draw one example from `strategy` and check it (`check_example`)."""
    __tracebackhide__ = True
    check_example(prop, cell, checked, data.draw(strategy, label="example"))


def check_example(prop: Property, cell: Cell, checked, example) -> None:
    """Record `example` in the cell and check `checked` (a subject or a pair) on it, unless a
    subject declares it unsupported (then it is only counted). An exception a subject's method
    raises where the property does not expect one fails the cell, naming the method, the
    exception and where it was raised."""
    __tracebackhide__ = True
    signals.check()  # a safe point for an interrupt a finalizer swallowed
    for subject in checked if isinstance(checked, tuple) else (checked,):
        reason = subject.unsupported_case(example.case)
        if reason:
            cell.decline(subject.label, reason)
            return
    cell.example(example)
    met = Counter(cell.reproduced)
    try:
        prop.check(cell, checked, example)
    except (SubjectFailure, HypothesisException):
        raise
    except Exception as exc:
        message = raised_in_subject(exc, example.case)
        if message is None:
            raise
        cell.fail(message)
    finally:
        if currently_in_test_context():  # Hypothesis' statistics: the entries this example met
            for entry in cell.reproduced - met:
                event(f"known divergence {entry}")


def property_test(prop: Property):
    """The pytest function of one property: draw an example, record it in the cell, check it."""

    def test(subject, dtype, device, cell, caps, data):
        __tracebackhide__ = True
        strategy, cell.promised = built(prop.strategy, dtype, device, caps)
        check_drawn(prop, cell, subject, strategy, data)

    def test_pair(pair, dtype, device, cell, caps, data):
        __tracebackhide__ = True
        strategy, cell.promised = built(prop.strategy, dtype, device, caps)
        check_drawn(prop, cell, pair, strategy, data)

    function = test_pair if prop.pair else test
    function.__name__ = function.__qualname__ = f"test_{prop.name}"
    function.__doc__ = prop.claim
    function = given(data=st.data())(function)
    if prop.special_values:
        function = pytest.mark.special_values(function)
    if prop.thread_counts:
        function = pytest.mark.thread_counts(function)
    if prop.needs:
        function = pytest.mark.needs(*prop.needs)(function)
    if prop.cross_device:
        function = pytest.mark.cross_device(function)
    return function


def cell_property(item) -> Property:
    return PROPERTIES[item.originalname.removeprefix("test_")]


def build_cell(item) -> Cell:
    """The cell a test item fills, with the registry entries it can reach."""
    params, sel = item.callspec.params, selection(item.config)
    prop, subjects = cell_property(item), _subjects(item) or ()
    dtype, device = params["dtype"], params["device"]
    cell_id = CellId(prop.name, tuple(s.label for s in subjects), dtype, device)
    entries = sel.registry.applicable(
        cell_id, prop.shows, prop.cross_device, runtimes_of(subjects, dtype), sel.isa
    )
    cell = prop.new_cell(subjects, dtype, device, entries, sel.tf32)
    if sel.shapes and any(draws_from_pool(s) for s in subjects):
        cell.shape_pool = sel.shapes
    cell.required = frozenset({"deterministic"} if sel.deterministic else ())
    if prop.thread_counts:
        cell.peer = peer(item.config)
    return cell


def peer(config) -> Peer:
    """This process's peer at another thread count: one thread against the worker's several,
    or several (every usable CPU, at least two) against its one."""
    if PEER not in config.stash:
        sel, here = selection(config), config.stash[THREADS]
        there = 1 if here > 1 else max(2, usable_cpus())
        config.stash[PEER] = Peer(there, here, sel.tf32, sel.deterministic)
    return config.stash[PEER]


def cell_caps(run: SizeCaps, cell: Cell, subjects) -> Caps:
    """What `cell` draws under the run's caps: a fixed pool of shapes where a subject compiles per
    shape, sums no longer than its contracts bound usefully, tensors where every subject takes them."""
    longest = min(
        (
            longest_useful_sum(cell.judge.judged(s.label, d).contract)
            for s in subjects
            for d in {cell.device, "cpu"}
        ),
        default=None,
    )
    return Caps(
        run,
        shapes=cell.shape_pool,
        longest_sum=longest,
        tensors=bool(subjects) and all(s.lacks("tensor") is None for s in subjects),
    )


@pytest.fixture
def caps(request, cell) -> Caps:
    """What this cell draws (see `cell_caps`)."""
    return cell_caps(selection(request.config).caps, cell, _subjects(request.node) or ())


@pytest.fixture
def cell(request) -> Cell:
    """The record of this cell; skips, saying why, when a subject cannot run its dtype or device."""
    record = request.node.stash[CELL] = build_cell(request.node)
    record.skip_reason = skip_reason(request.node)
    if record.skip_reason:
        pytest.skip(record.skip_reason)
    return record


def skip_reason(item) -> str | None:
    """Why a cell's item will not run (an opt-in category not asked for, a subject that cannot
    run its dtype or device, or lacks a method the property needs), or None."""
    prop, params = cell_property(item), item.callspec.params
    if prop.special_values and not selection(item.config).special_values:
        return "special values are opt-in: pass --special-values"
    if prop.thread_counts and not selection(item.config).thread_counts:
        return "thread counts are opt-in: pass --thread-counts"
    for subject in _subjects(item) or ():
        reason = why_not(subject, params["dtype"], params["device"])
        if reason:
            return f"{subject.label} on {params['device']}: {reason}"
        reason = next(filter(None, map(subject.lacks, prop.needs)), None)
        if reason:
            return reason
    return None


def _raised(report, call) -> str | None:
    """What ended the test: the exception, its message and where it was raised
    ("AttributeError: ... (at path:line)"), else the traceback's last line."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if call.excinfo is not None and crash is not None:
        first = call.excinfo.exconly().strip().splitlines()[0]
        return f"{first} (at {crash.path}:{crash.lineno})"
    lines = report.longreprtext.strip().splitlines()
    return lines[-1] if lines else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the cell's record to its report; a reproduced known divergence reads as xfailed."""
    report = yield
    if (
        _subjects(item) is None
        or report.when == "teardown"
        or (report.when == "setup" and report.passed)
    ):
        return report
    cell = item.stash.get(CELL, None) or build_cell(item)
    if report.when == "setup" and report.failed:
        record = cell.record_of(Status.ERROR, _raised(report, call))
    elif report.failed and cell.failure is None:
        # the subject raised on its own, or a strategy or check did: say what, and where
        record = cell.record_of(Status.FAIL, _raised(report, call))
    elif report.skipped and cell.skip_reason is None:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        record = cell.record_of(Status.SKIPPED, reason.removeprefix("Skipped: "))
    else:
        record = cell.record_of()
        if record.ended == Status.KNOWN_DIVERGENCE:
            report.outcome = "skipped"
            report.wasxfail = record.reason
    record.nodeid = item.nodeid
    record.duration_s = round(report.duration, 6)
    record.worker = getattr(item.config, "workerinput", {}).get("workerid", "main")
    blob = REPRODUCE_BLOB.search(report.longreprtext) if report.failed else None
    if blob and record.failure is not None and not record.failure.get("reduced_from"):
        record.failure["reproduce_blob"] = blob.group(0)
    if report.failed and record.failure is not None:
        report.longrepr = failure_text(record, selection(item.config).report_dir)
    data = record.to_json()
    report.user_properties.append((CELL_PROPERTY, data))
    return report


def failure_text(record: CellRecord, report_dir) -> str:
    """What a failing cell prints: which subject left which bound where, the case (and the one it
    was reduced from), and the command that replays it, as it runs pasted anywhere."""
    failure = record.failure or {}
    case = failure.get("case") or {}
    lines = [failure["message"]]
    if case:
        bias = "bias on" if case["bias"] else "bias off"
        lines.append(
            f"case: x of shape {case_shape(case)}, "
            f"{case['in_features']} -> {case['out_features']} features, {bias}, "
            f"{case['dtype']} on {case['device']}, values {case['values']}"
        )
    if failure.get("reduced_from"):
        was = failure["reduced_from"]
        lines.append(
            f"  the smallest of its kind found: it was x of shape {case_shape(was)}, "
            f"{was['in_features']} -> {was['out_features']} features when it first failed"
        )
    if failure.get("unstored"):
        lines.append(f"no reproducer: {failure['unstored']}")
    else:
        script = Path(report_dir, "reproducers", f"{record.id.reproducer}.py")
        lines.append(f"replay: {replay_command(script)}  (written when the run ends)")
    if failure.get("reproduce_blob"):
        lines.append(f"or put {failure['reproduce_blob']} on the test function")
    return "\n".join(lines)


def case_shape(case: dict) -> tuple[int, ...]:
    """x's shape from a case summary."""
    return (*case["leading_shape"], case["in_features"])


def cell_test_id(nodeid: str) -> str:
    """A cell's test name and parameters, the same wherever the suite is collected from (its
    node id's path is relative to the run's root directory)."""
    return nodeid.rpartition("::")[2]
