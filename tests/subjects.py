"""Plug-in subjects for the self-tests of options and of the plug-in API: broken ones (a missing
framework, no Subject, nothing implemented, a borrowed label) and ones that use the API."""

import numpy as np

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


class ModeInLabel(TorchLinear):
    """A plug-in whose label would read as a subject in an execution mode."""

    name = "mine@fast"


class KerasLabelled(TorchLinear):
    """A plug-in that would take a Keras label (and Keras' registry entries) by accident."""

    name = "keras/mine"


class OwnEntries(TorchLinear):
    """A plug-in from outside the project that refuses rank-1 x, and ships the registry entry
    that says so (own_divergences.toml, beside this module)."""

    name = "own-entries"
    divergences = "own_divergences.toml"

    def forward(self, layer, x):
        if len(x.shape) == 1:
            raise ValueError("expected x of rank 2 or more")
        return super().forward(layer, x)


class ClashingEntries(TorchLinear):
    """A plug-in whose own file reuses a built-in entry's id."""

    name = "clashing-entries"
    divergences = "clashing_divergences.toml"


class LayoutsConfused(TorchLinear):
    """A port that multiplies x by the weight as loaded, (out, in), not by its transpose: numpy
    raises inside its own code, and the message names this module's line that called it."""

    name = "layouts-confused"

    def forward(self, layer, x):
        weight, bias = self.read(layer)
        y = np.tensordot(np.asarray(x), weight, axes=1)  # the mistake: weight is (out, in)
        return y if bias is None else y + bias


class TransposedOnRead(TorchLinear):
    """A port that hands its weight back in the kernel layout (in, out)."""

    name = "transposed-on-read"

    def read(self, layer):
        weight, bias = super().read(layer)
        return np.ascontiguousarray(weight.T), bias
