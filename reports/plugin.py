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

#: divergence outcomes that need a person's attention
WARNINGS = {
    "unreached": "known divergence {id!r} applies to this run and its property ran, but no cell reached it; "
    "check the entry in {path}",
    "resolved": "known divergence {id!r} no longer reproduces in any cell it applies to; "
    "narrow or remove the entry in {path}",
}


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
            if outcome["status"] in WARNINGS:
                message = WARNINGS[outcome["status"]].format(
                    id=outcome["id"], path=selection.registry.path
                )
                self.config.issue_config_time_warning(
                    pytest.PytestWarning(message), stacklevel=2
                )

    def pytest_terminal_summary(self, terminalreporter):
        if self.data is None:
            return
        tr = terminalreporter
        tr.section("conformance")
        tr.write_line(
            "cells: "
            + ", ".join(
                f"{n} {status}" for status, n in sorted(self.data["summary"].items())
            )
        )
        worst = {}
        for c in self.data["cells"]:
            b = c["worst_budget_used"]
            if isinstance(b, (int, float)) and c["status"] in (
                "pass",
                "divergence-resolved",
            ):
                key = (c["subject"], c["dtype"])
                worst[key] = max(worst.get(key, 0.0), b)
        for (subject, dtype), b in sorted(worst.items()):
            tr.write_line(
                f"worst budget used  {subject:<22} {dtype:<9} {b:.3f}  (passing cells)"
            )
        for d in self.data["divergences"]:
            if d["status"] not in ("not-applicable", "not-run"):
                tr.write_line(f"divergence {d['id']}: {d['status']}")
        tr.write_line(f"report: {self.written}")


def pytest_configure(config):
    if not hasattr(config, "workerinput") and SELECTION in config.stash:
        config.stash[COLLECTOR] = Collector(config)
        config.pluginmanager.register(config.stash[COLLECTOR], "conformance-report")
