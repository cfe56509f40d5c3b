"""The divergence registry: valid data naming observation codes, where entries apply, and the
ratchet end to end (known divergence, not reproduced: information, never a warning)."""

import numpy as np
import pytest

from conformance.core.cell import Cell, SubjectFailure
from conformance.core.observation import Code, Observation, Quantity
from conformance.core.registry import Registry, RegistryError
from conformance.properties import PROPERTIES
from conformance.runner.options import load_registry
from conformance.subjects import runtimes_of
from strategies import Case
from tests.conftest import applicable, runtimes_for
from tests.planted import BiasAddedTwice, SubnormalsFlushed

ENTRY = """
[[divergence]]
id = "{id}"
title = "a test entry"
what = "a test entry"
observations = [{observations}]
subjects = ["torch"]
evidence = "tests/test_divergences.py"
"""


def entry(id="a", observations='"tf32"', **extra) -> str:
    lines = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return ENTRY.format(id=id, observations=observations) + lines


def test_every_entry_names_codes_and_gives_evidence():
    for e in Registry.load().entries:
        assert e.codes and e.evidence.strip() and e.what.strip() and e.title.strip(), e.id


def test_an_entry_reaches_every_property_that_can_show_its_codes():
    def ids(prop, *cell):
        return {e.id for e in applicable(PROPERTIES[prop], *cell)}

    # an entry narrowed to some quantities still applies wherever its codes can show
    rank1 = ids("rank1_input_equals_batch_of_one", "keras/jax", "float16", "cpu")
    assert rank1 == {"rank-1-input", "keras-jax-float16-bias-gradient"}
    assert ids("rank1_input_equals_batch_of_one", "torch", "float16", "cpu") == set()
    assert ids("forward_within_bound", "keras/tensorflow", "float32", "cpu") == {"subnormal-ftz"}
    for prop in ("forward_within_bound", "input_gradient_within_bound",
                 "sgd_steps_track_the_exact_trajectory", "subnormals_follow_gradual_underflow"):  # fmt: skip
        assert ids(prop, "keras/tensorflow", "float32", "cuda:0") == {"tf32-default"}, prop
    assert ids("weight_round_trip_is_bit_exact", "keras/tensorflow", "float32", "cuda:0") == set()
    # a cross-device cell compares with the CPU too
    cross = ids("device_agrees_with_cpu", "keras/jax", "float64", "cuda:0")
    assert cross == {"keras-jax-float64", "tf32-default", "subnormal-ftz"}


def test_an_entry_explains_its_codes_details_quantities_and_devices():
    (bias,) = [e for e in Registry.load().entries if e.id == "tf-bfloat16-bias-gradient"]
    reduced = Observation(
        frozenset({Code.REDUCED_ACCUMULATION}), "", quantity=Quantity.BIAS_GRADIENT
    )
    assert bias.explains(Code.REDUCED_ACCUMULATION, reduced)
    weight = Observation(reduced.codes, "", quantity=Quantity.WEIGHT_GRADIENT)
    assert not bias.explains(Code.REDUCED_ACCUMULATION, weight)
    (rank1,) = [e for e in Registry.load().entries if e.id == "rank-1-input"]
    assert rank1.explains(Code.RAISES, Observation.of(Code.RAISES, "", "ValueError"))
    assert not rank1.explains(Code.RAISES, Observation.of(Code.RAISES, "", "TypeError"))
    (ftz,) = [e for e in Registry.load().entries if e.id == "subnormal-ftz"]
    on_gpu = Observation(frozenset({Code.FLUSH_TO_ZERO}), "", device="cuda:0")
    assert not ftz.explains(Code.FLUSH_TO_ZERO, on_gpu)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (entry(observations='"no-such-code"'), "names unknown observations"),
        (entry() * 2, "duplicate ids"),
        (entry().replace('["torch"]', '"torch"'), "must be non-empty lists of strings"),
        (entry(properties='["weight_round_trip_is_bit_exact"]'), "cannot show tf32"),
        (entry(quantities='["momentum"]'), "names unknown quantities"),
        (entry(isas='["sse2"]'), r"names unknown isas \['sse2'\]; valid: baseline, avx2"),
        (entry().replace("title", "headline"), r"unknown keys \['headline'\]"),
    ],
    ids=[
        "unknown code",
        "duplicate id",
        "subjects not a list",
        "property cannot show it",
        "unknown quantity",
        "unknown instruction set",
        "unknown key",
    ],
)
def test_bad_entries_are_one_line_errors(tmp_path, text, message):
    """As the suite loads a registry: the file itself, then the properties it names checked
    against the declared ones (the registry is data; its callers know the properties)."""
    path = tmp_path / "registry.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=message) as error:
        load_registry(path, ())
    assert "\n" not in str(error.value)


def test_entry_naming_an_unknown_property_is_an_error(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text(entry(properties='["no_such_property"]'))
    with pytest.raises(RegistryError, match=r"unknown properties \['no_such_property'\]; valid: "):
        load_registry(path, ())
    Registry.load(path)  # the data alone is well formed


def test_known_divergence_reads_as_xfailed_and_is_reported_reproduced(suite):
    run = suite("conformance/test_properties.py", "-k", "rank1", "--subjects", "keras",
                "--dtypes", "float32")  # fmt: skip
    assert run.returncode == 0 and "1 xfailed" in run.output, run.output
    (cell,) = run.cells()
    assert cell["status"] == "known-divergence"
    assert cell["divergences"]["rank-1-input"] == "reproduced"
    (outcome,) = [d for d in run.report["divergences"] if d["id"] == "rank-1-input"]
    assert outcome["status"] == "reproduced" and outcome["reproduced_in"] == [cell["nodeid"]]


def test_an_entry_no_example_met_is_information_not_a_warning(suite, tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text(
        entry(id="never-met", observations='"flush-to-zero"')
        + entry(
            id="skipped",
            observations='"nan-inf-position"',
            properties='["nan_and_inf_positions_agree"]',
        )
        + entry(id="elsewhere", observations='"default-bias"')
    )
    run = suite("conformance/test_properties.py", "-k", "(forward_within_bound or nan_and_inf) and float32",
                "--subjects", "torch", "--dtypes", "float32", "--divergences", str(path))  # fmt: skip
    assert run.returncode == 0, run.output
    cells = {c["property"]: c for c in run.cells()}
    assert cells["forward_within_bound"]["status"] == "pass"
    statuses = {d["id"]: d["status"] for d in run.report["divergences"]}
    assert statuses == {
        "never-met": "not-reproduced",
        "skipped": "not-run",
        "elsewhere": "not-applicable",
    }
    assert "warning" not in run.output.lower(), run.output


def _subnormal_cell(subject) -> Cell:
    prop = PROPERTIES["subnormals_follow_gradual_underflow"]
    s = np.float32(2.0**-149)
    case = Case("float32", "cpu", np.array([[2 * s, s]]), np.ones((1, 2), np.float32),
                np.array([s], np.float32), "subnormal-multiples")  # fmt: skip
    entries = applicable(prop, subject.label, "float32", "cpu", runtimes_of((subject,), "float32"))
    cell = prop.new_cell((subject,), "float32", "cpu", entries)
    cell.example(case)
    prop.check(cell, subject, case)
    return cell


def test_a_registered_flush_does_not_hide_another_error_at_the_subnormal_scale():
    class OnTensorFlowsRuntime:
        name = "keras/tensorflow"

        def runtimes(self, dtype, device):
            return ("tensorflow-cpu",)

    class FlushesLikeTensorFlow(OnTensorFlowsRuntime, SubnormalsFlushed):
        pass

    class BiasTwiceUnderTensorFlowsName(OnTensorFlowsRuntime, BiasAddedTwice):
        pass

    assert set(_subnormal_cell(FlushesLikeTensorFlow()).reproduced) == {"subnormal-ftz"}
    with pytest.raises(SubjectFailure, match="left its subnormal forward bound"):
        _subnormal_cell(BiasTwiceUnderTensorFlowsName())


def test_an_entry_by_runtime_reaches_every_subject_on_that_runtime():
    class OnXla:
        def runtimes(self, dtype, device):
            return ("xla-cpu",) if device == "cpu" else ("xla-gpu",)

    prop = PROPERTIES["forward_within_bound"]
    for label, on in (("keras/jax", runtimes_for("keras/jax")), ("my-xla-port", OnXla())):
        runtimes = on if callable(on) else runtimes_of((on,), "float32")
        assert "subnormal-ftz" in {
            e.id for e in applicable(prop, label, "float32", "cpu", runtimes)
        }, label
        on_gpu = applicable(prop, label, "float32", "cuda:0", runtimes)
        assert "subnormal-ftz" not in {e.id for e in on_gpu}, label
    assert not applicable(prop, "keras/torch", "float32", "cpu")


def test_an_entry_names_subjects_or_runtimes(tmp_path):
    path = tmp_path / "neither.toml"
    path.write_text(entry().replace('subjects = ["torch"]\n', ""))
    with pytest.raises(RegistryError, match="name the subjects or the runtimes it covers"):
        Registry.load(path)


def test_an_entry_reaches_a_subject_in_every_mode_unless_it_names_modes():
    prop = PROPERTIES["float_input_is_cast_to_the_layer_dtype"]

    def ids(label):
        return {e.id for e in applicable(prop, label, "float32", "cpu", lambda device: ())}

    assert ids("torch") == {"torch-input-dtype"}  # eager: not the compile-only entry
    assert ids("torch@compile") == {"torch-input-dtype", "torch-compile-one-input-promotes"}
    assert ids("keras/tensorflow@xla") == ids("keras/tensorflow")


def test_an_entry_that_names_instruction_sets_reaches_cpus_of_those_only():
    """A behaviour of the CPU's kernels is registered for the instruction-set levels it was seen
    at: TensorFlow's truncated bfloat16 matmul where oneDNN has no native bfloat16 (AVX2), torch's
    oneDNN flush where it has (AVX512-BF16, AMX); a GPU device is never held to a CPU's level."""
    forward = PROPERTIES["forward_within_bound"]

    def reached(label, dtype, device, isa):
        return {e.id for e in applicable(forward, label, dtype, device, isa=isa)}

    keras = "keras/tensorflow"
    assert "tf-bfloat16-truncated" in reached(keras, "bfloat16", "cpu", "avx2")
    assert "tf-bfloat16-truncated" not in reached(keras, "bfloat16", "cpu", "avx512_bf16")
    assert "torch-bfloat16-ftz" in reached("torch", "bfloat16", "cpu", "avx512_bf16")
    assert "torch-bfloat16-ftz" not in reached("torch", "bfloat16", "cpu", "avx2")


def test_the_cpu_level_comes_from_its_flags_lowered_by_onednn_max_cpu_isa():
    from conformance.core.cpu import cpu_isa

    avx512 = {"avx2", "fma", "avx512f"}
    assert cpu_isa(set(), "") == "baseline" and cpu_isa({"avx2", "fma"}, "") == "avx2"
    assert cpu_isa(avx512, "") == "avx512" and cpu_isa(avx512 | {"amx_bf16"}, "") == "avx512_bf16"
    assert cpu_isa(avx512 | {"avx512_bf16"}, "AVX2") == "avx2"  # an AVX2 runner's kernels
    assert cpu_isa(avx512 | {"avx512_bf16"}, "avx512_core") == "avx512"
    assert cpu_isa({"avx2", "fma"}, "AVX512_CORE_BF16") == "avx2"  # a cap never raises it
