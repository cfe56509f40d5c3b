"""Devices: discovery and skip reasons without a GPU, contracts from the TF32 flags (faked where
no GPU exists), the --tf32 policy, and GPU pinning of xdist workers."""

import os

import numpy as np
import pytest

from conformance.core.cell import Cell, SubjectFailure
from conformance.core.formats import TF32_U
from conformance.core.observation import Quantity
from conformance.properties import PROPERTIES
from conformance.properties.checks import within_bound
from conformance.properties.declaration import contract
from conformance.runner.farm import pin_gpu
from conformance.runtimes.torch import set_torch_tf32, torch_precision_flags
from conformance.subjects.availability import device_slots, why_not_on
from conformance.subjects.torch_linear import TorchLinear
from tests.conftest import applicable, cell_for, node
from tests.emulated_gpu import tf32
from tests.test_bound import accumulate, positive_case


class FakeGpu(TorchLinear):
    """torch, with a "cuda:0" whose flags say TF32 is (or is not) in effect."""

    name = "keras/tensorflow"  # so the registry's tf32-default entry applies to it

    def __init__(self, tf32_on: bool):
        self.tf32_on = tf32_on

    def found_devices(self):
        return ["cpu", "cuda:0"]

    def precision_flags(self, dtype, device):
        return {"tf32": self.tf32_on} if device.startswith("cuda") else {}


def test_without_a_gpu_each_subject_offers_a_cuda_slot_that_says_why_it_skips():
    torch = TorchLinear()
    assert device_slots(torch) == ["cpu", "cuda:0"]
    assert why_not_on(torch, "cuda:0") == "no CUDA device visible to torch"
    assert why_not_on(torch, "cpu") is None


def test_gpu_cells_are_reported_skipped_with_the_reason(suite):
    run = suite(node("forward_within_bound", "torch", "float32", "cuda:0"),
                node("forward_within_bound", "torch", "float32"),
                "--subjects", "torch", "--dtypes", "float32", "--devices", "cpu,cuda", "-rs")  # fmt: skip
    (gpu,) = run.cells(device="cuda:0")
    assert gpu["status"] == "skipped"
    assert gpu["reason"] == "torch on cuda:0: no CUDA device visible to torch"
    assert "no CUDA device visible to torch" in run.output
    assert run.cells(device="cpu")[0]["status"] == "pass"


def test_devices_option_selects_devices(suite):
    run = suite("conformance/test_properties.py", "--devices", "cpu", "--subjects", "torch",
                "--dtypes", "float32", "-k", "forward_within_bound")  # fmt: skip
    assert {c["device"] for c in run.report["cells"]} == {"cpu"}
    assert run.report["options"]["devices"] == ["cpu"]


def test_contract_follows_the_tf32_flag_on_gpus_only():
    assert contract(FakeGpu(True), "float32", "cuda:0").u_in == TF32_U
    assert contract(FakeGpu(False), "float32", "cuda:0").u_in == 0
    assert contract(FakeGpu(True), "float32", "cpu").u_in == 0
    assert contract(FakeGpu(True), "float64", "cuda:0").u_in == 0


def test_torch_flags_are_read_as_set():
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision()
    try:
        set_torch_tf32(True)
        assert torch_precision_flags("float32", "cuda:0")["tf32"] is True
        set_torch_tf32(False)
        assert torch_precision_flags("float32", "cuda:0")["tf32"] is False
        assert torch_precision_flags("float32", "cpu") == {}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved[0]
        torch.set_float32_matmul_precision(saved[1])


def _tf32_result_in(cell: Cell, subject) -> None:
    x, weight, reference = positive_case(32, 16, "float32")
    got = accumulate(tf32(x), tf32(weight), None, np.float32, "float32")
    within_bound(cell, subject, Quantity.FORWARD, got, reference)


def _cell(policy: str, registry: bool, subject, dtype: str = "float32") -> Cell:
    return cell_for("forward_within_bound", subject, dtype, "cuda:0", policy,
                    None if registry else ())  # fmt: skip


def test_framework_default_tf32_is_the_known_divergence_where_registered():
    cell = _cell("framework-default", True, FakeGpu(True))
    _tf32_result_in(cell, FakeGpu(True))
    assert cell.failure is None and cell.reproduced["tf32-default"] == 1


def test_framework_default_tf32_fails_where_not_registered_and_says_why():
    cell = _cell("framework-default", False, FakeGpu(True))
    with pytest.raises(
        SubjectFailure, match=r"fits TF32 operands, which no registry entry allows here \[tf32\]"
    ):
        _tf32_result_in(cell, FakeGpu(True))


def test_tf32_on_is_held_to_the_tf32_contract():
    cell = _cell("on", False, FakeGpu(True))
    _tf32_result_in(cell, FakeGpu(True))
    assert cell.failure is None and cell.worst_budget <= 1


def test_tf32_off_is_held_to_strict_float32():
    cell = _cell("off", True, FakeGpu(False))
    with pytest.raises(SubjectFailure, match="left its forward bound"):
        _tf32_result_in(cell, FakeGpu(False))


def _float32_evaluation_with_tf32_in(cell: Cell, subject) -> None:
    x, weight, reference = positive_case(32, 16, "float64")
    narrow = tf32(x.astype(np.float32)), tf32(weight.astype(np.float32))
    got = accumulate(*narrow, None, np.float32, "float32").astype(np.float64)
    within_bound(cell, subject, Quantity.FORWARD, got, reference)


class FakeJaxGpu(FakeGpu):
    name = "keras/jax"


def test_float32_evaluation_with_tf32_is_two_known_divergences_at_once():
    cell = cell_for("forward_within_bound", FakeJaxGpu(True), "float64", "cuda:0")
    _float32_evaluation_with_tf32_in(cell, FakeJaxGpu(True))
    assert set(cell.reproduced) == {"keras-jax-float64", "tf32-default"}


def test_a_composition_needs_every_code_explained():
    prop = PROPERTIES["forward_within_bound"]
    entries = tuple(
        e for e in applicable(prop, "keras/jax", "float64", "cuda:0") if e.id != "tf32-default"
    )
    cell = cell_for(prop.name, FakeJaxGpu(True), "float64", "cuda:0", entries=entries)
    with pytest.raises(
        SubjectFailure, match=r"which no registry entry allows here \[float32-evaluation\+tf32\]"
    ):
        _float32_evaluation_with_tf32_in(cell, FakeJaxGpu(True))


def test_tf32_is_no_looser_contract_where_the_flags_say_it_is_off():
    cell = cell_for("forward_within_bound", FakeJaxGpu(False), "float64", "cuda:0")
    with pytest.raises(SubjectFailure, match=r"\[float32-evaluation\]|left its forward"):
        _float32_evaluation_with_tf32_in(cell, FakeJaxGpu(False))


def test_workers_are_pinned_to_gpus_round_robin(monkeypatch):
    for worker, gpu in (("gw0", "3"), ("gw1", "5"), ("gw2", "3")):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
        assert pin_gpu(worker) == gpu and os.environ["CUDA_VISIBLE_DEVICES"] == gpu
    assert pin_gpu(None) is None
