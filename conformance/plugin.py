"""The conformance matrix in pytest: parametrisation into cells, the cell fixture, cell statuses.

Each test item is one cell. Its record travels to the controller on the test report (as a
user property), so reports are correct under pytest-xdist.
"""

import itertools

import pytest

from conformance.cell import Cell
from conformance.options import SELECTION, Selection

CELL_PROPERTY = "conformance.cell"
CELL = pytest.StashKey[Cell]()


def selection(config) -> Selection:
    return config.stash[SELECTION]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "special_values: opt-in property over NaN, Inf and subnormal values"
    )


def pytest_generate_tests(metafunc):
    sel = selection(metafunc.config)
    names = metafunc.fixturenames
    if "subject" in names:
        targets = [(s, d) for s in sel.subjects for d in s.devices()]
        metafunc.parametrize(
            ("subject", "device"), targets, ids=[f"{s.label}-{d}" for s, d in targets]
        )
    if "pair" in names:
        pairs = [
            ((a, b), d)
            for a, b in itertools.combinations(sel.subjects, 2)
            for d in sorted(set(a.devices()) & set(b.devices()))
        ]
        metafunc.parametrize(
            ("pair", "device"),
            pairs,
            ids=[f"{a.label}~{b.label}-{d}" for (a, b), d in pairs],
        )
    if "dtype" in names:
        metafunc.parametrize("dtype", sel.dtypes)


def identity(item) -> tuple[str, str, str, str] | None:
    """(property, subject, dtype, device) of a conformance cell, or None for other tests."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    subjects = params.get("pair") or (
        (params["subject"],) if "subject" in params else None
    )
    if subjects is None or "dtype" not in params:
        return None
    prop = item.originalname.removeprefix("test_")
    return (
        prop,
        " vs ".join(s.label for s in subjects),
        params["dtype"],
        params["device"],
    )


@pytest.fixture(scope="session")
def caps(pytestconfig):
    return selection(pytestconfig).caps


@pytest.fixture
def cell(request) -> Cell:
    """The record of this cell; skips with the reason when a subject cannot run its dtype/device."""
    prop, label, dtype, device = identity(request.node)
    params = request.node.callspec.params
    for subject in params.get("pair") or (params["subject"],):
        reason = subject.unsupported(dtype, device)
        if reason:
            pytest.skip(f"{subject.label} on {device}: {reason}")
    if (
        request.node.get_closest_marker("special_values")
        and not selection(request.config).special_values
    ):
        pytest.skip("special values are opt-in: pass --special-values")
    registry = selection(request.config).registry
    record = Cell(
        prop, label, dtype, device, registry.applicable(prop, label, dtype, device)
    )
    request.node.stash[CELL] = record
    return record


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def _last_line(text: str) -> str | None:
    lines = text.strip().splitlines()
    return lines[-1] if lines else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the cell's record to its report; a reproduced known divergence reads as xfailed."""
    report = yield
    ident = identity(item)
    if (
        ident is None
        or report.when == "teardown"
        or (report.when == "setup" and report.passed)
    ):
        return report
    record = item.stash.get(CELL, None) or Cell(*ident)
    if report.skipped and not hasattr(report, "wasxfail"):
        data = record.as_dict("skipped", _skip_reason(report))
    elif report.when == "setup":
        data = record.as_dict("error", _last_line(report.longreprtext))
    else:
        status = record.status(passed=report.passed)
        reason = None
        if status == "known-divergence":
            reproduced = ", ".join(sorted(record.reproduced))
            reason = f"known divergence {reproduced}"
            report.outcome = "skipped"
            report.wasxfail = reason
        elif status == "divergence-resolved":
            reason = "known divergence no longer reproduces: " + ", ".join(
                e.id for e in record.divergences
            )
        data = record.as_dict(status, reason)
    data["nodeid"] = item.nodeid
    report.user_properties.append((CELL_PROPERTY, data))
    return report
