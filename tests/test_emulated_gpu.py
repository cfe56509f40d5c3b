"""GPU behaviour without a GPU: the H200 evidence replayed through an emulated GPU, and suite runs
on the emulated GPU under each --tf32 policy, where planted bugs must still fail."""

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conformance.core.cell import Cell, SubjectFailure
from conformance.core.evidence import BFLOAT16
from conformance.core.registry import Registry
from conformance.properties import PROPERTIES
from strategies import Case
from tests.emulated_gpu import H200_RUNS, EmulatedGpu, like

EVIDENCE = Path(__file__).with_name("evidence") / "gpu-h200-1"
REPRODUCERS = sorted(EVIDENCE.glob("*/reproducers/*.npz"))
#: what the fixed suite says of each run's failures, by dtype: (status, entries that explain
#: every one of them, entries that may join: TF32 shows only where a result is not past float32's range)
EXPECTED = {
    ("jax", "float32"): ("known-divergence", {"tf32-default"}, set()),
    ("jax", "float64"): ("known-divergence", {"keras-jax-float64"}, {"tf32-default"}),
    ("jax-tf32-off", "float64"): ("known-divergence", {"keras-jax-float64"}, set()),
    ("torch-thorough", "float64"): ("known-divergence", {"keras-torch-float64"}, set()),
    # TF32 reads subnormals below 2^-136 as zero: part of the contract --tf32 on asks for
    ("torch-tf32-on", "float32"): ("pass", set(), set()),
}
#: the worst element a failure message recorded: what it was about, where, what the GPU returned
RECORDED = (
    re.compile(
        r"left its (?P<what>.+?) bound at element \((?P<index>[^)]*)\): got (?P<got>[^,]+), oracle"
    ),
    re.compile(
        r"(?:returned|became) (?P<got>np\.float32\([^)]*\)|0)() where the exact result is .* at \[(?P<index>[^\]]*)\]"
    ),
)


def load(path: Path) -> tuple[dict, dict]:
    """(meta, arrays) of a reproducer as the suite wrote them on the H200 (report schema 2)."""
    with np.load(path, allow_pickle=False) as npz:
        stored = {name: npz[name] for name in npz.files}
    meta = {k: stored.pop(k).item() for k in ("property", "subject", "dtype", "device", "message")}
    for name in stored.pop("bfloat16").tolist():
        stored[name] = stored[name].astype(BFLOAT16)
    return meta, stored


@dataclass(eq=False)
class Recorded(EmulatedGpu):
    """The emulated GPU with the value the real one returned spliced in at the recorded element."""

    what: str = "forward"
    index: tuple = ()
    value: float = 0.0

    def splice(self, result, layer):
        if result is None or not layer.device.startswith("cuda"):
            return result
        result = result.copy()
        result[self.index] = self.value
        return result

    def forward(self, layer, x):
        result = super().forward(layer, x)
        return self.splice(result, layer) if "forward" in self.what else result

    def gradients(self, layer, x, upstream):
        dx, dweight, dbias = super().gradients(layer, x, upstream)
        if self.what == "input gradient":
            dx = self.splice(dx, layer)
        elif self.what == "weight gradient":
            dweight = self.splice(dweight, layer)
        return dx, dweight, dbias


def with_recorded(subject: EmulatedGpu, message: str) -> EmulatedGpu:
    for pattern in RECORDED:
        match = pattern.search(message)
        if match:
            value = float(match["got"].removeprefix("np.float32(").rstrip(")"))
            index = tuple(int(i) for i in match["index"].split(",") if i.strip())
            what = match.groupdict().get("what") or "forward"
            return like(Recorded, subject, what=what, index=index, value=value)
    return subject  # an SGD trajectory: only the emulated arithmetic


def replay(path: Path, subject: EmulatedGpu, policy: str) -> Cell:
    meta, arrays = load(path)
    prop = PROPERTIES[meta["property"]]
    dtype, device = meta["dtype"], meta["device"]
    cell = prop.new_cell(
        (subject,), dtype, device, prop.reaches(Registry.load(), (subject,), dtype, device), policy
    )
    with contextlib.suppress(SubjectFailure):
        prop.check(cell, subject, prop.example.from_arrays(dtype, device, arrays))
    return cell


def test_every_run_of_the_evidence_is_emulated():
    assert {p.parts[-3] for p in REPRODUCERS} == set(H200_RUNS) and len(REPRODUCERS) == 18


@pytest.mark.parametrize("path", REPRODUCERS, ids=lambda p: f"{p.parts[-3]}/{p.stem}")
def test_evidence_replays_as_the_fixed_suite_says(path):
    run = path.parts[-3]
    policy, subjects = H200_RUNS[run]
    meta, _ = load(path)
    subject = with_recorded(subjects[meta["subject"]], meta["message"])
    cell = replay(path, subject, policy)
    status, always, maybe = EXPECTED[(run, meta["dtype"])]
    assert cell.status() == status, cell.reason()
    assert always <= set(cell.reproduced) <= always | maybe, cell.reason()


@pytest.mark.parametrize("path", REPRODUCERS[:8], ids=lambda p: f"{p.parts[-3]}/{p.stem}")
def test_evidence_with_the_registry_emptied_fails(path):
    """The same examples with no registry: what the H200 did is a failure, never a silent pass,
    except where the contract the run asked for covers it."""
    run = path.parts[-3]
    policy, subjects = H200_RUNS[run]
    meta, arrays = load(path)
    prop = PROPERTIES[meta["property"]]
    subject = with_recorded(subjects[meta["subject"]], meta["message"])
    cell = prop.new_cell((subject,), meta["dtype"], meta["device"], (), policy)
    with pytest.raises(SubjectFailure, match="which no registry entry allows here"):
        prop.check(cell, subject, prop.example.from_arrays(meta["dtype"], meta["device"], arrays))


EMULATED = (
    "--devices",
    "cuda",
    "--hypothesis-profile",
    "smoke",
    "--special-values",
    "-p",
    "no:randomly",
)


#: XLA on the CPU side of device_agrees_with_cpu flushes what a float32 evaluation makes subnormal
XLA_CPU_FLUSH = {"subnormal-ftz"}


@pytest.mark.parametrize(
    ("subject", "policy", "reproduced", "maybe"),
    [
        ("JAX_H200", "framework-default", {"tf32-default", "keras-jax-float64"}, XLA_CPU_FLUSH),
        ("JAX_H200_TF32_OFF", "off", {"keras-jax-float64"}, XLA_CPU_FLUSH),
        ("KERAS_TORCH_H200", "framework-default", {"keras-torch-float64"}, set()),
        ("TORCH_H200_TF32_ON", "on", set(), set()),
    ],
)
def test_suite_on_the_emulated_gpu_reports_only_known_divergences(
    suite, subject, policy, reproduced, maybe
):
    run = suite("--subjects", f"tests.emulated_gpu:{subject}", "--tf32", policy, *EMULATED)
    cells = run.report["cells"]
    assert cells and {c["status"] for c in cells} <= {"pass", "known-divergence"}, [
        c["reason"] for c in cells if c["status"] not in ("pass", "known-divergence")
    ]
    seen = {d["id"] for d in run.report["divergences"] if d["status"] == "reproduced"}
    assert reproduced <= seen <= reproduced | maybe


@pytest.mark.parametrize(
    ("subject", "properties"),
    [
        ("JAX_H200_BIAS_DROPPED", {"forward_within_bound", "device_agrees_with_cpu"}),
        ("JAX_H200_WEIGHT_UNTRANSPOSED", {"forward_within_bound", "device_agrees_with_cpu"}),
        ("JAX_H200_TF32_UNDECLARED", {"forward_within_bound", "device_agrees_with_cpu"}),
    ],
)
def test_planted_bug_on_the_emulated_gpu_fails(suite, subject, properties):
    run = suite("--subjects", f"tests.emulated_gpu:{subject}", "--dtypes", "float32",
                "-k", " or ".join(properties), *EMULATED)  # fmt: skip
    failed = {c["property"] for c in run.report["cells"] if c["status"] == "fail"}
    assert failed == properties, run.output[-2000:]


def test_float32_evaluation_holds_special_values_to_its_own_reading_of_the_operands():
    """+Inf times 3.6e-46 is +Inf in float64; a float32 evaluation reads 3.6e-46 as zero and gets
    NaN: the known float32 evaluation, not a NaN out of nowhere; unregistered, still a failure."""
    prop, subject = (
        PROPERTIES["nan_and_inf_positions_agree"],
        H200_RUNS["torch-thorough"][1]["keras/torch"],
    )
    case = Case("float64", "cuda:0", np.array([[np.inf]]), np.array([[3.6e-46]]), None, "special")
    entries = prop.reaches(Registry.load(), (subject,), "float64", "cuda:0")
    known = prop.new_cell((subject,), "float64", "cuda:0", entries)
    prop.check(known, subject, case)
    assert set(known.reproduced) == {"keras-torch-float64"}
    with pytest.raises(SubjectFailure, match="puts NaN at element"):
        prop.check(prop.new_cell((subject,), "float64", "cuda:0"), subject, case)
