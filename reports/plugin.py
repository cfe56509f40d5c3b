"""Controller-side reporting: gather cell records from test reports, write report.json, summarise.

Under pytest-xdist only the controller (the process without `workerinput`) writes files.
"""

from datetime import UTC, datetime

import pytest
from hypothesis import settings

from conformance.options import SELECTION
from conformance.plugin import CELL_PROPERTY
from reports import report

COLLECTOR = pytest.StashKey["Collector"]()


class Collector:
    def __init__(self, config):
        self.config = config
        self.started = datetime.now(UTC)
        self.cells: list[dict] = []
        self.written: str | None = None
        self.data: dict | None = None

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report):
        self.cells.extend(
            value for key, value in report.user_properties if key == CELL_PROPERTY
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if not self.cells:
            return
        selection = self.config.stash[SELECTION]
        self.data = report.build(
            cells=self.cells,
            selection=selection,
            started=self.started,
            profile=settings.get_current_profile_name(),
            exitstatus=int(exitstatus),
        )
        path = selection.report_dir / "report.json"
        report.write_atomic(path, self.data)
        self.written = str(path)
        for outcome in self.data["divergences"]:
            if outcome["status"] == "unreached":
                self.config.issue_config_time_warning(
                    pytest.PytestWarning(
                        f"known divergence {outcome['id']!r} applies to this run and its property ran, "
                        "but no cell reached it "
                        f"(properties {', '.join(outcome['properties'])}); check the entry in {selection.registry.path}"
                    ),
                    stacklevel=2,
                )

    def pytest_terminal_summary(self, terminalreporter):
        if self.data is None:
            return
        tr = terminalreporter
        tr.section("conformance")
        summary = ", ".join(
            f"{n} {status}" for status, n in sorted(self.data["summary"].items())
        )
        tr.write_line(f"cells: {summary}")
        worst = {}
        for c in self.data["cells"]:
            b = c["worst_budget_used"]
            if isinstance(b, (int, float)):
                key = (c["subject"], c["dtype"])
                worst[key] = max(worst.get(key, 0.0), b)
        for (subject, dtype), b in sorted(worst.items()):
            tr.write_line(f"worst budget used  {subject:<22} {dtype:<9} {b:.3f}")
        for d in self.data["divergences"]:
            if d["status"] not in ("not-applicable", "not-run"):
                tr.write_line(f"divergence {d['id']}: {d['status']}")
        tr.write_line(f"report: {self.written}")


def pytest_configure(config):
    if not hasattr(config, "workerinput") and SELECTION in config.stash:
        config.stash[COLLECTOR] = Collector(config)
        config.pluginmanager.register(config.stash[COLLECTOR], "conformance-report")
