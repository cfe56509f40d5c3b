"""Optional built-in subjects (their frameworks are not in requirements.txt): cells that skip,
saying how to install them, where the framework is missing; where it is installed, the subject
runs and inherits the registry's entries by runtime."""

import importlib.util

import pytest

from conformance.subjects import BUILTIN, resolve
from conformance.subjects.flax_linear import FlaxLinear

HAS_FLAX = importlib.util.find_spec("flax") is not None


class FlaxNeedingMore(FlaxLinear):
    requires: tuple[str, ...] = ("flax", "no_such_flax_companion")


def test_an_optional_built_in_without_its_framework_skips_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(BUILTIN, "flax", FlaxNeedingMore)
    subject = resolve("flax")  # not a usage error: its cells skip
    assert subject.devices() == ["cpu", "cuda:0"]
    reason = subject.missing_device("cpu")
    assert reason == "the module 'no_such_flax_companion' is not installed (pip install flax)"


@pytest.mark.skipif(HAS_FLAX, reason="flax is installed here: the next test runs it")
def test_flax_cells_skip_with_the_install_command_where_flax_is_missing(suite):
    run = suite("conformance", "--dtypes", "float32", "--subjects", "torch,flax",
                "-k", "forward_within_bound")  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    (cell,) = run.cells(subject="flax")
    assert cell["status"] == "skipped"
    assert "is not installed (pip install flax)" in cell["reason"], cell


@pytest.mark.skipif(not HAS_FLAX, reason="flax is not installed (pip install flax)")
def test_flax_runs_and_inherits_the_xla_cpu_flush_by_runtime(suite):
    run = suite("conformance", "--dtypes", "float32", "--subjects", "torch,flax",
                "--special-values", "-k", "forward_within_bound or subnormals_follow")  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    (forward,) = run.cells(subject="flax", property="forward_within_bound")
    assert forward["status"] == "pass", forward
    (flush,) = run.cells(subject="flax", property="subnormals_follow_gradual_underflow")
    assert flush["status"] == "known-divergence", flush
    assert flush["divergences"]["subnormal-ftz"] == "reproduced", flush
