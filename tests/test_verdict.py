"""The verdict leads with the answer: agree (where, in what, on how much), DIFFER with each failure and
its replay command, INCOMPLETE when so, and what was not checked, a device nothing ran on in one line."""

import copy
from pathlib import Path

from reports import verdict


def _cell(prop, subject, dtype, device, status, examples=100, reason=None):
    return {"property": prop, "subject": subject, "dtype": dtype, "device": device, "status": status,
            "examples": examples, "reason": reason, "failure": None, "nodeid": f"{prop}[{subject}]"}  # fmt: skip


REPORT = {
    "options": {"subjects": ["torch", "keras/tensorflow"], "dtypes": ["float16", "float32"]},
    "run": {
        "complete": True,
        "incomplete_reason": None,
        "command": ["/opt/venv/bin/python", "-m", "pytest"],
    },
    "cells": [
        _cell("forward_within_bound", "torch", "float16", "cpu", "pass"),
        _cell("forward_within_bound", "keras/tensorflow", "float32", "cpu", "pass"),
        _cell(
            "rank1_input_equals_batch_of_one",
            "keras/tensorflow",
            "float32",
            "cpu",
            "known-divergence",
        ),
        _cell(
            "forward_within_bound",
            "torch",
            "float32",
            "cuda:0",
            "skipped",
            0,
            "torch on cuda:0: no CUDA device visible to torch",
        ),
        _cell(
            "nan_and_inf_positions_agree",
            "torch",
            "float32",
            "cpu",
            "skipped",
            0,
            "special values are opt-in: pass --special-values",
        ),
    ],
    "divergences": [
        {"title": "rank-1 input", "status": "reproduced"},
        {"title": "TF32", "status": "not-run"},
    ],
}


def test_agreement_says_where_in_what_and_on_how_much_evidence():
    lines = verdict.lines(REPORT)
    assert lines[0] == (
        "torch.nn.Linear and Keras Dense (tensorflow backend) agree on cpu in float16 and float32: "
        "2 cells pass (200 examples within their contracts); 1 known difference: rank-1 input"
    )
    assert (
        "not checked on cuda:0 (1 cell): torch on cuda:0: no CUDA device visible to torch" in lines
    )
    assert "not checked (1 cell): special values are opt-in: pass --special-values" in lines


def test_a_failure_is_the_headline_and_comes_with_its_replay_command():
    report = copy.deepcopy(REPORT)
    report["cells"][0].update(status="fail", reason="torch left its forward bound ...",
                              failure={"reproducer": {"script": "reproducers/x.py"}})  # fmt: skip
    report["run"] = {
        **report["run"],
        "complete": False,
        "incomplete_reason": "interrupted (SIGTERM); 3 cells did not run",
    }
    lines = verdict.lines(report, "conformance-report")
    assert (
        lines[0] == "INCOMPLETE: interrupted (SIGTERM); 3 cells did not run; what follows covers"
        " only the cells that ran"
    )
    assert lines[1].startswith(
        "torch.nn.Linear and Keras Dense (tensorflow backend) DIFFER: 1 cell failed"
    )
    assert lines[-2:] == [
        "FAIL forward_within_bound · torch · float16 · cpu: torch left its forward bound ...",
        f"  replay: /opt/venv/bin/python {Path('conformance-report/reproducers/x.py').absolute()}",
    ]


def test_the_headline_names_only_the_subjects_that_ran():
    # tf_keras selected but not installed: it must not be said to agree
    report = copy.deepcopy(REPORT)
    report["options"]["subjects"].append("tf_keras")
    report["cells"].append(
        _cell(
            "forward_within_bound",
            "tf_keras",
            "float32",
            "cpu",
            "skipped",
            0,
            "tf_keras: not installed (pip install tf-keras)",
        )
    )
    first = verdict.lines(report)[0]
    assert first.startswith("torch.nn.Linear and Keras Dense (tensorflow backend) agree on cpu"), (
        first
    )
    assert first.endswith("; tf-keras Dense (Keras 2) ran no cell (why: below)"), first


def test_a_device_line_gives_the_device_reason_not_one_shared_with_devices_that_ran():
    report = copy.deepcopy(REPORT)
    report["cells"].append(
        _cell(
            "nan_and_inf_positions_agree",
            "torch",
            "float32",
            "cuda:0",
            "skipped",
            0,
            "special values are opt-in: pass --special-values",
        )
    )
    lines = verdict.lines(report)
    assert (
        "not checked on cuda:0 (2 cells): torch on cuda:0: no CUDA device visible to torch" in lines
    ), lines


def test_a_subject_in_a_mode_that_ran_is_named_with_the_others():
    report = copy.deepcopy(REPORT)
    report["options"]["subjects"].append("torch@compile")
    report["cells"].append(_cell("forward_within_bound", "torch@compile", "float32", "cpu", "pass"))
    first = verdict.lines(report)[0]
    assert "ran no cell" not in first and " agree on cpu" in first, first


def test_a_subject_whose_cells_errored_is_named_among_those_that_differ():
    report = copy.deepcopy(REPORT)
    report["options"]["subjects"].append("tf_keras")
    report["cells"].append(_cell("forward_within_bound", "tf_keras", "float32", "cpu", "error"))
    first = verdict.lines(report)[0]
    assert first.startswith(
        "torch.nn.Linear, Keras Dense (tensorflow backend) and tf-keras Dense (Keras 2) DIFFER: "
    ), first
    assert "ran no cell" not in first, first


def test_a_subject_an_incomplete_run_never_reached_is_not_sent_to_the_reasons_below():
    report = copy.deepcopy(REPORT)
    report["run"]["complete"] = False
    report["run"]["incomplete_reason"] = "interrupted (SIGTERM)"
    report["options"]["subjects"].append("tf_keras")
    report["cells"].append(
        _cell("forward_within_bound", "tf_keras", "float32", "cpu", "not-run", 0)
    )
    headline = verdict.headline(report)
    assert headline.endswith("; tf-keras Dense (Keras 2) ran no cell (the run is INCOMPLETE)")
