"""The conformance matrix in pytest: rows as test items, cells inside them, cell statuses.

Each test item is one row (property x dtype x device) holding one cell per subject or subject
pair. Cell records travel to the controller on the test report (as user properties), so
reports are correct under pytest-xdist.
"""

import itertools

import pytest

from conformance.cell import Cell, Row
from conformance.options import SELECTION, Selection

CELL_PROPERTY = "conformance.cell"
ROW = pytest.StashKey[Row]()
ROW_FIXTURES = ("row", "pair_row")


def selection(config) -> Selection:
    return config.stash[SELECTION]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "special_values: opt-in property over NaN, Inf and subnormal values"
    )


def pytest_generate_tests(metafunc):
    if not any(f in metafunc.fixturenames for f in ROW_FIXTURES):
        return
    sel = selection(metafunc.config)
    devices = list(dict.fromkeys(d for s in sel.subjects for d in s.devices()))
    metafunc.parametrize("device", devices, indirect=True)
    metafunc.parametrize("dtype", sel.dtypes, indirect=True)


def _members(item, sel: Selection) -> list[tuple[object, str]]:
    if "pair_row" in item.fixturenames:
        return [
            ((a, b), f"{a.label} vs {b.label}")
            for a, b in itertools.combinations(sel.subjects, 2)
        ]
    return [(s, s.label) for s in sel.subjects]


def _skip_reason(member, dtype: str, device: str) -> str | None:
    for subject in member if isinstance(member, tuple) else (member,):
        if device not in subject.devices():
            return f"{subject.label} has no device {device}"
        reason = subject.unsupported(dtype, device)
        if reason:
            return f"{subject.label} on {device}: {reason}"
    return None


def build_row(item) -> Row:
    """The row of cells for a test item: one per selected subject (or pair), with its divergences."""
    sel = selection(item.config)
    params = item.callspec.params
    prop, dtype, device = (
        item.originalname.removeprefix("test_"),
        params["dtype"],
        params["device"],
    )
    members = []
    for member, label in _members(item, sel):
        cell = Cell(
            prop,
            label,
            dtype,
            device,
            sel.registry.applicable(prop, label, dtype, device),
        )
        cell.skip_reason = _skip_reason(member, dtype, device)
        members.append((member, cell))
    return Row(prop, dtype, device, members)


def _row(request) -> Row:
    row = request.node.stash[ROW] = build_row(request.node)
    reason = None
    if (
        request.node.get_closest_marker("special_values")
        and not selection(request.config).special_values
    ):
        reason = "special values are opt-in: pass --special-values"
    elif not row.running():
        reason = (
            "; ".join(c.skip_reason for c in row.cells) or "no subject pair selected"
        )
    if reason:
        for cell in row.cells:
            cell.skip_reason = cell.skip_reason or reason
        pytest.skip(reason)
    return row


@pytest.fixture(scope="session")
def caps(pytestconfig):
    return selection(pytestconfig).caps


@pytest.fixture
def dtype(request) -> str:
    return request.param


@pytest.fixture
def device(request) -> str:
    return request.param


@pytest.fixture
def row(request, dtype, device) -> Row:
    """This item's row: a cell per selected subject."""
    return _row(request)


@pytest.fixture
def pair_row(request, dtype, device) -> Row:
    """This item's row: a cell per pair of selected subjects."""
    return _row(request)


def _last_line(text: str) -> str | None:
    lines = text.strip().splitlines()
    return lines[-1] if lines else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the row's cell records to its report; a row whose only deviations are known reads as xfailed."""
    report = yield
    if not any(f in getattr(item, "fixturenames", ()) for f in ROW_FIXTURES):
        return report
    if report.when == "teardown" or (report.when == "setup" and report.passed):
        return report
    row = item.stash.get(ROW, None) or build_row(item)
    if report.failed and not any(c.failure for c in row.cells):
        # broken outside any subject's check (a setup error, a health check, the suite itself)
        records = [
            c.as_dict("error", _last_line(report.longreprtext)) for c in row.cells
        ]
    else:
        records = [c.as_dict() for c in row.cells]
        known = [
            f"{c.subject}: {c.reason()}"
            for c in row.cells
            if c.status() == "known-divergence"
        ]
        if report.passed and known:
            report.outcome = "skipped"
            report.wasxfail = "; ".join(known)
    for record in records:
        record["nodeid"] = item.nodeid
        record["duration_s"] = round(report.duration, 6)
        report.user_properties.append((CELL_PROPERTY, record))
    return report
