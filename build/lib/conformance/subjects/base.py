"""The subject interface: one implementation under test, bound to a framework.

A subject converts canonical weights (weight (out, in), bias (out,), numpy arrays in the tested
dtype) to its own layout losslessly, loads them into a real layer object and calls that layer.
The suite builds each layer once per (in, out, bias, dtype, device) and reloads its weights for
every example, so `load` must overwrite every parameter.
"""

import copy
import functools
import importlib.metadata
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from conformance.core.contract import Contract, device_contract
from conformance.core.formats import POLICIES
from conformance.core.layout import View

#: execution modes that compile the layer for each new input shape: their cells draw shapes from a
#: fixed pool (--shapes), as for a framework that compiles every shape
COMPILING_MODES = frozenset({"xla", "jit", "compile", "export"})
#: frameworks built on JAX, which compiles every new shape (XLA): a subject that requires one
#: draws its shapes from a fixed pool unless it says otherwise (Subject.compiles_per_shape)
JAX_MODULES = frozenset({"jax", "jaxlib", "flax", "equinox", "haiku"})
#: what the eager mode assumes (Subject.mode_contract)
EAGER = "eager: the layer called as it is, each call reading its current weights"


def once_per_layer(layer, key, make):
    """make(), made once per layer and key (a staged or compiled call of that layer), kept in the
    layer's __dict__: past Keras' attribute tracking and torch's Module.__setattr__."""
    cache = layer.__dict__.setdefault("conformance_once", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


class Subject:
    """Base class for subjects; built-ins and `module:attr` plug-ins implement the methods below."""

    #: name used by --subjects and in reports
    name: str = ""
    #: importable modules the subject needs
    requires: tuple[str, ...] = ()
    #: for an optional built-in (its framework is not in requirements.txt): the command that
    #: installs it; its cells skip with this until then
    install: str = ""
    #: how --subjects named it (a built-in name or module:attr); set when resolved
    spec: str = ""
    #: whether the framework compiles every new input shape: each cell then draws its shapes
    #: from a fixed pool (--shapes), so that its examples do not each pay a compilation; None
    #: (the default): whether it runs on JAX (a module in `requires` is one of JAX_MODULES)
    compiles_per_shape: bool | None = None
    #: a plug-in that takes a built-in's label on purpose (an emulation of it): it inherits the
    #: built-in's registry entries; any other plug-in labelled so is refused
    stands_in: bool = False
    #: a divergence file of this subject's own (TOML, as conformance/divergences.toml), named
    #: relative to the subject's module; merged with the registry and validated the same way
    divergences: str | None = None

    #: the execution modes this subject runs in (--modes): "eager" calls the layer as it is;
    #: others stage it (graph, xla, jit) or compile it (compile) first
    modes: tuple[str, ...] = ("eager",)
    #: the mode this instance runs in (Subject.in_mode)
    mode: str = "eager"
    #: the mixed-precision policies it runs (--dtypes mixed_float16, mixed_bfloat16): `build` then
    #: gets the policy's name and makes a layer with float32 parameters that computes in the
    #: policy's compute format; cells of any other policy skip, saying so
    policies: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How cells name this subject: its name and, but in eager mode, its mode (torch@compile;
        a Keras subject adds its backend: keras/tensorflow@xla)."""
        return self.name + self.mode_suffix

    @property
    def mode_suffix(self) -> str:
        return "" if self.mode == "eager" else f"@{self.mode}"

    def compiles_shapes(self) -> bool:
        """Whether each cell draws its shapes from a fixed pool (`compiles_per_shape`)."""
        if self.compiles_per_shape is not None:
            return self.compiles_per_shape
        return any(module.split(".")[0] in JAX_MODULES for module in self.requires)

    def in_mode(self, mode: str) -> "Subject":
        """This subject running in `mode` (one of `modes`): a copy with its own layers."""
        variant = copy.copy(self)
        variant.mode = mode
        variant.compiles_per_shape = self.compiles_shapes() or mode in COMPILING_MODES
        return variant

    def mode_contract(self) -> str:
        """What running in this mode assumes about the layer, for the cell's contracts."""
        return EAGER

    def missing(self) -> str | None:
        """The first required module that cannot be imported, or None."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return module
        return None

    def versions(self) -> dict[str, str]:
        """Versions of the modules the subject runs on, read from package metadata (no import)."""
        return {module: v for module in self.requires if (v := module_version(module))}

    def environment(self) -> dict:
        """What the framework reports about itself: BLAS/oneDNN, precision and determinism flags, devices."""
        return {}

    def found_devices(self) -> list[str]:
        """Devices the framework can use here: "cpu", then "cuda:N" for each visible GPU."""
        return ["cpu"]

    def devices(self) -> list[str]:
        """Devices to test: those found, plus a cuda:0 slot when no GPU is (its cells skip, saying why)."""
        found = ["cpu"] if self.missing() else self.found_devices()
        return found if len(found) > 1 else [*found, "cuda:0"]

    def missing_device(self, device: str) -> str | None:
        """Why `device` cannot be used here, or None when it can (an optional built-in whose
        framework is not installed: that)."""
        module = self.missing()
        if module is not None:
            return f"the module {module!r} is not installed ({self.install or 'install it'})"
        if device in self.found_devices():
            return None
        kind = "CUDA device" if device.startswith("cuda") else f"device {device}"
        return f"no {kind} visible to {self.label}"

    def prepare_process(self, threads: int, tf32: str) -> None:
        """Once per process, before any cell runs: size the framework's thread pools to `threads`
        and apply the TF32 policy (framework-default leaves the framework's own setting)."""

    def unsupported(self, dtype: str, device: str) -> str | None:
        """Why this subject cannot run `dtype` on `device`, or None when it can."""
        return None

    def cannot_run(self, dtype: str, device: str) -> str | None:
        """Why `dtype` on `device` cannot run here: the framework or device missing, a
        mixed-precision policy the subject does not run, or `unsupported`; None when it can."""
        if reason := self.missing_device(device):
            return reason
        if dtype in POLICIES and dtype not in self.policies:
            runs = ", ".join(self.policies) or "none"
            return f"{self.label} does not run the mixed-precision policy {dtype} (it runs: {runs})"
        return self.unsupported(dtype, device)

    def unsupported_case(self, case) -> str | None:
        """Why this subject cannot take `case` (a strategies.Case: a shape, memory layout or input
        kind it does not support), or None when it can. Such examples are not checked: the cell
        counts them by reason (report.json: `unsupported`; the verdict says so), and a cell that
        could take none of its examples is skipped with the reason."""
        return None

    def contract(self, dtype: str, device: str) -> Contract:
        """Precision assumptions on `device`, from the flags in effect (TF32, reduced-precision reductions)."""
        return device_contract(dtype, device, **self.precision_flags(dtype, device))

    def runtimes(self, dtype: str, device: str) -> tuple[str, ...]:
        """What computes `dtype` on `device` for this subject (e.g. "xla-cpu", "tensorflow-cpu",
        "torch-cpu", "cublas"): registry entries that name one of these reach this subject too."""
        return ()

    def divergence_file(self) -> Path | None:
        """The subject's own divergence file (`divergences`, beside its module), or None."""
        if not self.divergences:
            return None
        module = sys.modules[type(self).__module__].__file__ or ""
        return Path(module).with_name(self.divergences)

    def precision_flags(self, dtype: str, device: str) -> dict:
        """{"tf32": bool, "reduced_reduction": bool} in effect for `dtype` on `device` (none on the CPU)."""
        return {}

    # -- the layer itself -------------------------------------------------------------------
    def build(
        self, in_features: int, out_features: int, bias: bool, dtype: str, device: str
    ) -> Any:
        """A new framework layer with the framework's own default initialisation."""
        raise NotImplementedError

    def load(self, layer: Any, weight: np.ndarray, bias: np.ndarray | None) -> None:
        """Write canonical weights into the layer, in its own layout."""
        raise NotImplementedError

    def read(self, layer: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The layer's parameters in canonical layout and dtype; bias None when it has none."""
        raise NotImplementedError

    def forward(self, layer: Any, x: Any) -> np.ndarray:
        """Call the layer on x (..., in), a numpy array in any memory layout (or this subject's own
        tensor, from `tensor`), and return its result on the host as a numpy array."""
        raise NotImplementedError

    # -- optional: inputs as the framework's own tensors -------------------------------------
    def tensor(self, view: View, device: str) -> Any:
        """x as this framework's own tensor on `device`, laid out as `view` says: its base
        converted, then the view operations applied with the framework's own (View.build)."""
        raise NotImplementedError

    # -- optional: backward pass and training ---------------------------------------------
    def gradients(
        self, layer: Any, x: Any, upstream: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """For L = sum(upstream * layer(x)): (dL/dx, dL/dweight (out, in), dL/dbias or None), fresh each call."""
        raise NotImplementedError

    def train(
        self, layer: Any, batches: list[tuple[np.ndarray, np.ndarray]], learning_rate: float
    ) -> None:
        """Plain SGD with the framework's own optimizer: step t on L_t = sum(upstream_t * layer(x_t))."""
        raise NotImplementedError

    def second_derivative(self, layer: Any, x: np.ndarray, upstream: np.ndarray) -> np.ndarray:
        """d ||dL/dx||^2 / dweight in canonical layout (out, in), for L = sum(upstream * layer(x))."""
        raise NotImplementedError

    def lacks(self, feature: str) -> str | None:
        """Why this subject cannot take part in properties that need `feature` (a method name), or None."""
        if getattr(type(self), feature) is getattr(Subject, feature):
            return f"{self.label} does not implement {feature}()"
        return None

    def __repr__(self) -> str:
        return f"<subject {self.label}>"


class SubjectProtocol(Protocol):
    """What the suite asks of a subject (docs/subjects.md has each method's contract): the four
    it needs. `Subject` implements the rest; a plug-in that subclasses it is held to these
    signatures by a type checker, and `check: SubjectProtocol = MyDense()` states it."""

    name: str
    requires: tuple[str, ...]

    def build(
        self, in_features: int, out_features: int, bias: bool, dtype: str, device: str
    ) -> Any: ...

    def load(self, layer: Any, weight: np.ndarray, bias: np.ndarray | None) -> None: ...

    def read(self, layer: Any) -> tuple[np.ndarray, np.ndarray | None]: ...

    def forward(self, layer: Any, x: Any) -> np.ndarray: ...


def device_parts(device: str) -> tuple[str, str]:
    """("cpu" or "gpu", index) for a suite device name: cpu, cpu:N, cuda:N."""
    kind, _, index = device.partition(":")
    return ("gpu" if kind == "cuda" else kind), index or "0"


REQUIRED_METHODS = ("build", "load", "read", "forward")


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def module_version(module: str) -> str | None:
    """Version of the distribution that provides `module` (tensorflow may come from tensorflow-cpu)."""
    for dist in _distributions().get(module, [module]):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
