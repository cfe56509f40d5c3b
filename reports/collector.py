"""Reporting in pytest: gather cell records on the controller, write the report files, summarise.

Cell records travel on test reports. Each process also sends its environment fingerprint once.
Only the controller (the process without `workerinput`) writes files, and writes them
atomically; a cell whose worker crashed is recorded as crashed, and a cell that never ran
(Ctrl-C, a crash that ended the run) as not-run, with the run marked incomplete.
"""

import importlib.metadata
import importlib.util
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings

from conformance.core.identity import CellId
from conformance.core.record import CellRecord
from conformance.core.status import Status
from conformance.runner import signals
from conformance.runner.farm import stop_workers
from conformance.runner.options import SELECTION
from conformance.runner.plugin import CELL_PROPERTY, GPU, THREADS
from reports import matrix, outputs, report
from reports.environment import fingerprint

ROOT = Path(__file__).resolve().parents[1]
#: seconds between progress lines on long runs
PROGRESS_S = 60
COLLECTOR = pytest.StashKey["Collector"]()
ENVIRONMENT_PROPERTY = "conformance.environment"
PROCESS_PROPERTY = "conformance.process"
_SENT = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: the cell record is attached by then
def pytest_runtest_makereport(item, call):
    """Send this process's environment fingerprint once, on its first cell record, and its
    resources (threads, peak memory so far) on every cell record."""
    rep = yield
    config = item.config
    if not any(k == CELL_PROPERTY for k, _ in rep.user_properties):
        return rep
    if not config.stash.get(_SENT, False):
        config.stash[_SENT] = True
        rep.user_properties.append(
            (ENVIRONMENT_PROPERTY, fingerprint(config.stash[SELECTION].subjects))
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    process = {
        "pid": os.getpid(),
        "threads": config.stash.get(THREADS, None),
        "gpu": config.stash.get(GPU, None),
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }
    rep.user_properties.append((PROCESS_PROPERTY, process))
    return rep


def _record(report) -> CellRecord | None:
    """The cell record a test report carries, if it is a cell's."""
    found = next((v for k, v in getattr(report, "user_properties", ()) if k == CELL_PROPERTY), None)
    return None if found is None else CellRecord.from_json(found)


def _placeholder(nodeid: str, status: Status, reason: str, worker: str) -> CellRecord | None:
    """The record of a cell whose own never arrived (it did not run, its worker crashed)."""
    ident = CellId.parse(nodeid)
    if ident is None:
        return None
    return CellRecord(ident.property, ident.label, ident.dtype, ident.device, str(status), reason,
                      mode=ident.mode, nodeid=nodeid, worker=worker)  # fmt: skip


def imports(config) -> dict:
    """What a replay must import as this run did: the modules its -p options loaded (a plug-in
    can change a framework), and where it imported from besides the interpreter's own paths (the
    working directory, which `python -m pytest` puts first, and PYTHONPATH's entries)."""
    modules = []
    for name in config.option.plugins or ():
        if name.startswith("no:"):
            continue
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        if found is None:  # an entry point's name: its module
            entry = next(
                (e for e in importlib.metadata.entry_points(group="pytest11") if e.name == name),
                None,
            )
            name = entry.module if entry is not None else name
        modules.append(name)
    paths = [str(config.invocation_params.dir)]
    paths += [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"pytest_plugins": modules, "import_paths": list(dict.fromkeys(paths))}


def command() -> list[str]:
    """The command that started this run, as it can be run again: the interpreter by its full
    path, then its arguments (`-m pytest ...`, or the pytest script's path and its arguments)."""
    return [sys.executable, *sys.orig_argv[1:]]


class Collector:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = datetime.now(UTC)
        self.cells: dict[str, CellRecord] = {}
        self.collected: set[str] = set()
        self.environment: dict | None = None
        self.processes: dict[str, dict] = {}
        self.written: list[str] = []
        self.interrupted = False
        self.data: dict | None = None
        self.clock = self.shown = time.monotonic()

    # -- what is to run --------------------------------------------------------------------
    def pytest_collection_finish(self, session):
        self.collected.update(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self.collected.update(ids)

    # -- what ran --------------------------------------------------------------------------
    def pytest_report_teststatus(self, report, config):
        """With -v, each cell says how many examples it checked and the budget it used."""
        record = _record(report)
        if config.option.verbose <= 0 or record is None:
            return None
        seconds = f"{record.duration_s:.1f} s"
        if record.ended == Status.KNOWN_DIVERGENCE:
            entries = (record.reason or "").removeprefix("known divergence ")
            return (
                "xfailed",
                "x",
                f"KNOWN DIVERGENCE ({entries}; {record.examples} examples, {seconds})",
            )
        if record.ended == Status.SKIPPED:
            return "skipped", "s", f"SKIPPED ({record.reason})"
        budget = matrix.budget_text(record.worst_budget_used)
        detail = f"({record.examples} examples, worst budget used {budget}, {seconds})"
        if report.failed:
            return "failed", "F", f"FAILED {detail}"
        return "passed", ".", f"PASSED {detail}"

    def pytest_runtest_logreport(self, report):
        ran_on = None
        for key, value in report.user_properties:
            if key == CELL_PROPERTY:
                record = CellRecord.from_json(value)
                self.cells[record.nodeid] = record
                ran_on = record.worker
                self.progress()
            elif key == PROCESS_PROPERTY and ran_on is not None:
                self.processes[ran_on] = value
            elif key == ENVIRONMENT_PROPERTY and self.environment is None:
                self.environment = value
        if (
            report.failed
            and "crashed while running" in report.longreprtext
            and report.nodeid not in self.cells
        ):
            worker = getattr(getattr(report, "node", None), "gateway", None)
            crash = report.longreprtext.strip().splitlines()[-1]
            record = _placeholder(
                report.nodeid, Status.CRASHED, crash, getattr(worker, "id", "unknown")
            )
            if record is not None:
                self.cells[report.nodeid] = record

    def progress(self) -> None:
        """On long runs (not under -q), a line every PROGRESS_S seconds: cells done, examples, time."""
        now = time.monotonic()
        if self.config.option.verbose < 0 or now - self.shown < PROGRESS_S:
            return
        self.shown = now
        total = sum(1 for n in self.collected if CellId.parse(n))
        examples = sum(c.examples for c in self.cells.values())
        elapsed = int(now - self.clock)
        line = f"[conformance] {len(self.cells)}/{total} cells done, {examples:,} examples, {elapsed // 60} min {elapsed % 60} s"
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)

    @pytest.hookimpl(trylast=True)  # after the terminal reporter kept the interrupt to print
    def pytest_keyboard_interrupt(self, excinfo):
        """The verdict says INCOMPLETE and why; pytest's own banner (a source line and "use
        --full-trace") would only repeat it."""
        self.interrupted = True
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter._report_keyboardinterrupt = lambda: None

    def runs_cells(self, session) -> bool:
        """Whether this session is a conformance run (cells collected, or asked for before an
        interrupt ended collection), not, say, the suite's own self-tests."""
        if self.cells or any(CellId.parse(n) for n in self.collected):
            return True
        if self.collected or not self.interrupted:
            return False
        cells = ROOT / "conformance"
        return any(
            cells == path or cells in path.parents
            for path in (
                Path(session.startpath, a.split("::")[0]).resolve() for a in self.config.args
            )
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        signals.finishing()
        if self.config.option.collectonly or not self.runs_cells(session):
            return  # --collect-only ran nothing: the last run's report stays
        with signals.held():  # a second Ctrl-C must not cut the report short
            self.write(exitstatus)
        if self.interrupted:
            stop_workers()  # their cells are in the report as not run

    def write(self, exitstatus) -> None:
        selection = self.config.stash[SELECTION]
        missing = sorted(n for n in self.collected - set(self.cells) if CellId.parse(n))
        ended_early = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
        interrupted = self.interrupted or int(exitstatus) in ended_early
        for nodeid in missing:
            record = _placeholder(
                nodeid, Status.NOT_RUN, "the run ended before this cell ran", "none"
            )
            if record is not None:
                self.cells[nodeid] = record
        crashed = [c.nodeid for c in self.cells.values() if c.ended == Status.CRASHED]
        causes = {"SIGINT": "SIGINT, Ctrl-C", "SIGTERM": "SIGTERM"}
        cause = causes.get(signals.received() or "", "KeyboardInterrupt")
        reasons = ([f"interrupted ({cause})"] if interrupted else []) + [
            f"worker crashed in {n}" for n in crashed
        ]
        if interrupted and not self.cells:
            reasons.append("no cell ran")
        reasons += [f"{len(missing)} cells did not run"] if missing else []
        profile = settings.get_profile(settings.get_current_profile_name())
        run = {
            "started": self.started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "command": command(),
            "hypothesis": {
                "profile": settings.get_current_profile_name(),
                "seed": self.config.getoption("hypothesis_seed"),
                "derandomize": profile.derandomize,
                "max_examples": profile.max_examples,
                "database": selection.example_db
                and {
                    "path": str(selection.example_db),
                    "read_only": selection.example_db_read_only,
                },
            },
            "shard": selection.shard and selection.shard.as_dict(),
            "selection": {
                "keyword": self.config.option.keyword,
                "markers": self.config.option.markexpr,
                "args": [str(a) for a in self.config.args],
            },
            "workers": sorted({c.worker for c in self.cells.values() if c.worker != "none"}),
            "worker_count": int(getattr(self.config.option, "numprocesses", 0) or 0),
            "processes": dict(sorted(self.processes.items())),
            "pytest_exit_status": int(exitstatus),
            "complete": not reasons,
            "incomplete_reason": "; ".join(reasons) or None,
        }
        self.data = report.build(
            cells=list(self.cells.values()),
            selection=selection,
            environment=self.environment,
            run=run,
            imports=imports(self.config),
        )
        self.written = outputs.write_all(self.data, selection.report_dir)

    def pytest_terminal_summary(self, terminalreporter):
        if self.data is None:
            return
        tr = terminalreporter
        tr.section("conformance")
        report_dir = self.config.stash[SELECTION].report_dir
        for line in outputs.summary_lines(self.data, report_dir):
            tr.write_line(line)
        reproducers = sum(p.endswith(".py") for p in self.written)
        scripts = "reproducer" if reproducers == 1 else "reproducers"
        tr.write_line(
            f"report: {self.written[0]} (and junit.xml, summary.md, report.html, {reproducers} {scripts})"
        )


def pytest_configure(config):
    if not hasattr(config, "workerinput") and SELECTION in config.stash:
        config.stash[COLLECTOR] = Collector(config)
        config.pluginmanager.register(config.stash[COLLECTOR], "conformance-report")
