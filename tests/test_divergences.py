"""The divergence registry: valid data, and the ratchet (known, resolved, unreached) end to end."""

import importlib
from pathlib import Path

import pytest

from conformance.divergence import DEFAULT_PATH, Registry, RegistryError

ENTRY = """
[[divergence]]
id = "{id}"
what = "a test entry"
properties = ["{prop}"]
subjects = ["torch"]
signature = "{signature}"
evidence = "tests/test_divergences.py"
"""


def test_every_entry_names_real_properties_and_gives_evidence():
    properties = {
        name.removeprefix("test_")
        for path in Path(DEFAULT_PATH).parent.glob("test_*.py")
        for name in dir(importlib.import_module(f"conformance.{path.stem}"))
        if name.startswith("test_")
    }
    for entry in Registry.load().entries:
        assert set(entry.properties) <= properties, entry.id
        assert entry.evidence.strip() and entry.what.strip()


def test_applicability_follows_the_glob_patterns():
    registry = Registry.load()
    ids = lambda *cell: {e.id for e in registry.applicable(*cell)}
    assert ids("rank1_input_equals_batch_of_one", "keras/jax", "float16", "cpu") == {
        "rank-1-input"
    }
    assert ids("rank1_input_equals_batch_of_one", "torch", "float16", "cpu") == set()
    assert (
        ids("subnormals_follow_gradual_underflow", "keras/tensorflow", "float16", "cpu")
        == set()
    )
    assert ids("forward_within_bound", "keras/tensorflow", "float32", "cpu") == set()
    assert ids("forward_within_bound", "keras/tensorflow", "float32", "cuda:0") == {
        "tf32-default"
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ENTRY.format(id="a", prop="p", signature="("),
            "signature is not a regular expression",
        ),
        (ENTRY.format(id="a", prop="p", signature="x") * 2, "duplicate ids"),
        (
            ENTRY.format(id="a", prop="p", signature="x").replace(
                '["torch"]', '"torch"'
            ),
            "must be lists of strings",
        ),
    ],
    ids=["bad regex", "duplicate id", "subjects not a list"],
)
def test_bad_entries_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "registry.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=message) as error:
        Registry.load(path)
    assert "\n" not in str(error.value)


def test_known_divergence_reads_as_xfailed_and_is_reported_reproduced(suite):
    run = suite(
        "conformance/test_edges.py",
        "-k",
        "rank1",
        "--subjects",
        "keras",
        "--dtypes",
        "float32",
    )
    assert run.returncode == 0 and "1 xfailed" in run.output, run.output
    (cell,) = run.cells()
    assert cell["status"] == "known-divergence" and cell["divergences"] == {
        "rank-1-input": "reproduced"
    }
    (outcome,) = [d for d in run.report["divergences"] if d["id"] == "rank-1-input"]
    assert outcome["status"] == "reproduced" and outcome["reproduced_in"] == [
        cell["nodeid"]
    ]


def test_entry_naming_an_unknown_property_is_an_error(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text(ENTRY.format(id="stale", prop="no_such_property", signature="x"))
    with pytest.raises(
        RegistryError, match=r"names unknown properties \['no_such_property'\]; valid: "
    ):
        Registry.load(path)


def test_entry_that_stops_reproducing_is_resolved_and_one_nothing_reaches_warns(
    suite, tmp_path
):
    path = tmp_path / "registry.toml"
    stale = ENTRY.format(id="stale", prop="forward_within_bound", signature="x")
    path.write_text(
        ENTRY.format(
            id="never-seen", prop="forward_within_bound", signature="this never happens"
        )
        + stale.replace(
            'subjects = ["torch"]', 'subjects = ["torch"]\ndtypes = ["float16"]'
        )
        + ENTRY.format(
            id="elsewhere", prop="rank1_input_equals_batch_of_one", signature="x"
        )
    )
    run = suite(
        "conformance/test_forward.py", "-k", "forward_within_bound and float32",
        "--subjects", "torch", "--dtypes", "float16,float32", "--divergences", str(path),
    )  # fmt: skip
    assert run.returncode == 0, run.output
    (cell,) = run.cells()
    assert cell["status"] == "divergence-resolved" and "never-seen" in cell["reason"]
    statuses = {d["id"]: d["status"] for d in run.report["divergences"]}
    assert statuses == {
        "never-seen": "resolved",
        "stale": "unreached",
        "elsewhere": "not-run",
    }
    assert (
        "known divergence 'stale' applies to this run and its property ran"
        in run.output
    )
    assert "'elsewhere'" not in run.output
