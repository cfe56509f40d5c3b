"""Plug-in subjects for the option self-tests: one needs a missing framework, one is no Subject, one is empty."""

from conformance.subjects.base import Subject
from conformance.subjects.torch_linear import TorchLinear


class NeedsMissingFramework(TorchLinear):
    name = "needs-missing"
    requires = ("no_such_framework_installed",)


class NotASubject:
    name = "not-a-subject"


class ForwardOnlyHalfDone(Subject):
    """A Subject that implements nothing."""

    name = "half-done"


class RaisesInBuild(TorchLinear):
    """A plug-in whose build() raises for layers of more than one output."""

    name = "raises-in-build"

    def build(self, in_features, out_features, bias, dtype, device):
        if out_features > 1:
            raise ZeroDivisionError("division by zero")
        return super().build(in_features, out_features, bias, dtype, device)


class NoEmptyBatches(TorchLinear):
    """A plug-in that declares it cannot take an empty batch."""

    name = "no-empty-batches"

    def unsupported_case(self, case):
        return "no empty batches" if case.rows == 0 else None
