"""Plug-in subjects for the option self-tests: one needs a framework that is not installed, one is no subject."""

from conformance.subjects.torch_linear import TorchLinear


class NeedsMissingFramework(TorchLinear):
    name = "needs-missing"
    requires = ("no_such_framework_installed",)


class NotASubject:
    name = "not-a-subject"
