"""Every property can fail: each planted bug is reported by the property that owns it."""

import pytest

from tests.conftest import cli, selected_cells
from tests.planted import FORWARD_INTACT, PLANTED, PLANTED_MODES, PLANTED_OPT_IN, ZeroDefaultBias


def test_planted_run_fails_and_writes_a_report(planted_run):
    assert planted_run.returncode == 1, planted_run.output[-3000:]
    assert len(planted_run.report["cells"]) == len(selected_cells())


@pytest.mark.parametrize("planted", list(PLANTED), ids=lambda c: c.name)
def test_planted_bug_is_reported_by_its_property(planted_run, planted):
    prop, dtypes = PLANTED[planted]
    for dtype in dtypes:
        (cell,) = planted_run.cells(property=prop, subject=planted.name, dtype=dtype)
        assert cell["status"] == "fail", cell
        assert planted.name in cell["reason"], cell["reason"]


@pytest.mark.parametrize("planted", FORWARD_INTACT, ids=lambda c: c.name)
def test_bugs_outside_the_forward_result_leave_forward_passing(planted_run, planted):
    (cell,) = planted_run.cells(property="forward_within_bound", subject=planted.name)
    assert cell["status"] == "pass", cell


def test_real_torch_passes_the_same_cells(planted_run):
    cells = planted_run.cells(subject="torch")
    assert cells and {c["status"] for c in cells} <= {"pass", "known-divergence"}, cells


def test_overspend_message_names_subject_element_and_budget(planted_run):
    (cell,) = planted_run.cells(
        property="forward_within_bound", subject="planted-bias-twice", dtype="float32"
    )
    message = cell["failure"]["message"]
    assert message.startswith("planted-bias-twice left its forward bound at element (")
    assert "budget used" in message and "ulp" in message
    assert cell["failure"]["verdict"]["budget_used"] > 1
    assert cell["failure"]["case"]["dtype"] == "float32"


def test_an_input_narrowed_to_int32_is_named_as_such(planted_run):
    (cell,) = planted_run.cells(
        property="integer_input_is_converted_to_the_layer_dtype",
        subject="planted-int64-via-int32",
        dtype="float32",
    )
    assert "which no registry entry allows here [input-narrowed:int32]" in cell["reason"], cell


def test_default_initialisation_property_fails_on_an_unknown_pair(suite):
    pair = f"torch,tests.planted:{ZeroDefaultBias.__name__}"
    run = suite(
        "conformance",
        "--dtypes",
        "float32",
        "--subjects",
        pair,
        "-k",
        "default_initialisation",
    )
    (cell,) = run.cells(property="default_initialisation_agrees")
    assert cell["status"] == "fail", cell
    assert "default bias is zero in planted-zero-default-bias" in cell["reason"]


def test_a_default_bias_that_is_zero_by_chance_is_no_disagreement(suite):
    """A random bias on a coarse grid is all zero in 1 of 4 one-output layers: the property
    confirms a disagreement over 16 elements before it fails, so a random pair agrees."""
    from tests.planted import CoarseRandomBias

    pair = f"tests.planted:{CoarseRandomBias.__name__},tests.planted:{ZeroDefaultBias.__name__}"
    run = suite("conformance", "--dtypes", "float32,bfloat16", "--subjects", f"torch,{pair}",
                "-k", "default_initialisation")  # fmt: skip
    statuses = {c["subject"]: c["status"] for c in run.cells(dtype="bfloat16")}
    assert statuses == {
        "torch vs coarse-random-bias": "pass",
        "torch vs planted-zero-default-bias": "fail",
        "coarse-random-bias vs planted-zero-default-bias": "fail",
    }, run.output[-3000:]


def test_every_property_has_a_planted_bug():
    from conformance.properties import PROPERTIES

    planted = {prop for prop, _ in [*PLANTED.values(), *PLANTED_OPT_IN.values()]}
    planted |= {"default_initialisation_agrees"}
    assert set(PROPERTIES) <= planted, sorted(set(PROPERTIES) - planted)


@pytest.mark.parametrize(
    ("planted", "backend"), list(PLANTED_MODES), ids=lambda p: getattr(p, "name", p) or "-"
)
def test_a_bug_planted_in_an_execution_mode_shows_there_and_only_there(suite, planted, backend):
    modes = PLANTED_MODES[planted, backend]
    run = suite("conformance", "--dtypes", "float32", "--devices", "cpu",
                "--modes", ",".join(("eager", *modes)),
                "--subjects", f"tests.planted:{planted.__name__}", "-k", "forward_within_bound",
                env={"KERAS_BACKEND": backend} if backend else None)  # fmt: skip
    assert run.returncode == 1, run.output[-3000:]
    (eager,) = run.cells(subject=planted.name)
    assert eager["status"] == "pass" and eager["mode"] == "eager", eager
    for mode in modes:
        (cell,) = run.cells(subject=f"{planted.name}@{mode}")
        assert cell["status"] == "fail" and cell["mode"] == mode, cell
        assert f"{planted.name}@{mode} left its forward bound" in cell["reason"], cell["reason"]
        # the reproducer replays in the mode (these bugs need an earlier call, so alone it passes)
        replay = cli("replay", run.report_dir / cell["failure"]["reproducer"]["npz"])
        assert replay.returncode in (0, 1), replay.stdout + replay.stderr
        assert replay.stdout.startswith(f"forward_within_bound x {planted.name}@{mode} x")


def test_every_execution_mode_has_a_planted_bug():
    from conformance.subjects.keras_dense import KERAS_MODES
    from conformance.subjects.torch_linear import TORCH_MODES

    modes = {m for backend in KERAS_MODES.values() for m in backend} | set(TORCH_MODES)
    planted = {mode for found in PLANTED_MODES.values() for mode in found}
    assert modes - {"eager"} <= planted
