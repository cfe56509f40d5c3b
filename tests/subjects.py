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
