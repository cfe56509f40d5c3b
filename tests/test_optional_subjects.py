"""Optional built-in subjects (their frameworks are not in requirements.txt): cells that skip,
saying how to install them, where the framework is missing; where it is installed, the subject
runs and inherits the registry's entries by runtime."""

import importlib.util

import pytest

from conformance.runtimes.keras import keras_backend
from conformance.subjects import BUILTINS, Builtin, resolve
from conformance.subjects.availability import device_slots, missing_module, why_not_on
from conformance.subjects.flax_linear import FlaxLinear
from tests.planted import PLANTED_OPTIONAL

HAS_FLAX = importlib.util.find_spec("flax") is not None
HAS_ONNXRUNTIME = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))
HAS_LITERT = importlib.util.find_spec("ai_edge_litert") is not None


class FlaxNeedingMore(FlaxLinear):
    requires: tuple[str, ...] = ("flax", "no_such_flax_companion")


def test_an_optional_built_in_without_its_framework_skips_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(BUILTINS, "flax", Builtin(FlaxNeedingMore, "flax.nnx.Linear", ("flax*",)))
    subject = resolve("flax")  # not a usage error: its cells skip
    assert device_slots(subject) == ["cpu", "cuda:0"]
    reason = why_not_on(subject, "cpu")  # the first of its modules missing here
    missing = "flax" if not HAS_FLAX else "no_such_flax_companion"
    assert reason == f"the module {missing!r} is not installed (pip install flax)"


@pytest.mark.parametrize(
    ("name", "module", "install"),
    [
        ("flax", "flax", "pip install flax"),
        ("onnxruntime", "onnxruntime", "pip install onnx onnxruntime"),
        ("litert", "ai_edge_litert", "pip install ai-edge-litert"),
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


@pytest.mark.skipif(not HAS_LITERT, reason="ai-edge-litert is not installed")
@pytest.mark.skipif(keras_backend() != "tensorflow", reason="LiteRT converts Keras on TensorFlow")
def test_litert_runs_the_converted_dense_and_its_float16_path_returns_float32(suite):
    run = suite("conformance", "--dtypes", "float16,float32,float64", "--subjects", "torch,litert",
                "--special-values", "-k", "forward_within_bound or output_has or subnormals_follow")  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    for dtype in ("float16", "float32"):
        (forward,) = run.cells(subject="litert", property="forward_within_bound", dtype=dtype)
        assert forward["status"] == "pass", forward
    (io,) = run.cells(subject="litert", property="output_has_expected_shape_and_dtype",
                      dtype="float16")  # fmt: skip
    assert io["divergences"]["litert-float16-io"] == "reproduced", io
    (flush,) = run.cells(subject="litert", property="subnormals_follow_gradual_underflow",
                         dtype="float32")  # fmt: skip
    assert flush["divergences"]["subnormal-ftz"] == "reproduced", flush
    for cell in run.cells(subject="litert", dtype="float64"):
        assert cell["status"] == "skipped" and "no float64 FULLY_CONNECTED" in cell["reason"], cell


@pytest.mark.parametrize("planted", list(PLANTED_OPTIONAL), ids=lambda c: c.name)
def test_a_bug_planted_in_an_optional_subject_is_reported(suite, planted):
    subject = planted()
    missing = missing_module(subject)
    if missing is not None:
        pytest.skip(f"the module {missing!r} is not installed here")
    if reason := subject.unsupported("float32", "cpu"):
        pytest.skip(reason)
    prop = PLANTED_OPTIONAL[planted]
    run = suite("conformance", "--dtypes", "float32", "--devices", "cpu",
                "--subjects", f"tests.planted:{planted.__name__}", "-k", prop)  # fmt: skip
    (cell,) = run.cells(property=prop, subject=planted.name)
    assert cell["status"] == "fail", cell
    assert planted.name in cell["reason"], cell["reason"]
