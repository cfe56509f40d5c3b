"""Optional built-in subjects (their frameworks are not in requirements.txt): cells that skip,
saying how to install them, where the framework is missing; where it is installed, the subject
runs and inherits the registry's entries by runtime."""

import importlib.util

import pytest

from conformance.subjects import BUILTIN, resolve
from conformance.subjects.flax_linear import FlaxLinear

HAS_FLAX = importlib.util.find_spec("flax") is not None
HAS_ONNXRUNTIME = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))


class FlaxNeedingMore(FlaxLinear):
    requires: tuple[str, ...] = ("flax", "no_such_flax_companion")


def test_an_optional_built_in_without_its_framework_skips_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(BUILTIN, "flax", FlaxNeedingMore)
    subject = resolve("flax")  # not a usage error: its cells skip
    assert subject.devices() == ["cpu", "cuda:0"]
    reason = subject.missing_device("cpu")  # the first of its modules missing here
    missing = "flax" if not HAS_FLAX else "no_such_flax_companion"
    assert reason == f"the module {missing!r} is not installed (pip install flax)"


@pytest.mark.parametrize(
    ("name", "module", "install"),
    [
        ("flax", "flax", "pip install flax"),
        ("onnxruntime", "onnxruntime", "pip install onnx onnxruntime"),
    ],
)
def test_optional_cells_skip_with_the_install_command_where_the_framework_is_missing(
    suite, name, module, install
):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here: the subject's own test runs it")
    run = suite("conformance", "--dtypes", "float32", "--subjects", f"torch,{name}",
                "-k", "forward_within_bound")  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    (cell,) = run.cells(subject=name)
    assert cell["status"] == "skipped"
    assert f"is not installed ({install})" in cell["reason"], cell


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


@pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="onnx and onnxruntime are not installed")
def test_onnxruntime_runs_the_exported_linear_and_raises_for_other_input_dtypes(suite):
    run = suite("conformance", "--dtypes", "float32,bfloat16", "--subjects", "torch,onnxruntime",
                "-k", "forward_within_bound or input_is_cast")  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    (forward,) = run.cells(subject="onnxruntime", property="forward_within_bound", dtype="float32")
    assert forward["status"] == "pass", forward
    (cast,) = run.cells(subject="onnxruntime", property="float_input_is_cast_to_the_layer_dtype",
                        dtype="float32")  # fmt: skip
    assert cast["divergences"]["onnxruntime-input-dtype"] == "reproduced", cast
    for cell in run.cells(subject="onnxruntime", dtype="bfloat16"):
        assert cell["status"] == "skipped" and "no bfloat16 Gemm kernel" in cell["reason"], cell
