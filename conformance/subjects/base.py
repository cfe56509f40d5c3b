"""The subject interface: one implementation under test, bound to a framework.

A subject converts canonical weights (weight (out, in), bias (out,), numpy arrays in the tested
dtype) to its own layout losslessly, loads them into a real layer object and calls that layer.
The suite builds each layer once per (in, out, bias, dtype, device) and reloads its weights for
every example, so `load` must overwrite every parameter.
"""

import copy
from typing import Any, Protocol

import numpy as np

from conformance.core.identity import with_mode
from conformance.core.layout import View

#: execution modes that compile the layer for each new input shape: their cells draw shapes from a
#: fixed pool (--shapes), as for a framework that compiles every shape
COMPILING_MODES = frozenset({"xla", "jit", "compile", "export"})
#: frameworks built on JAX, which compiles every new shape (XLA): a subject that requires one
#: draws its shapes from a fixed pool unless it says otherwise (Subject.compiles_per_shape)
JAX_MODULES = frozenset({"jax", "jaxlib", "flax", "equinox", "haiku"})
#: what the eager mode assumes (Subject.mode_contract)
EAGER = "eager: the layer called as it is, each call reading its current weights"


class Subject:
    """Base class for subjects; built-ins and `module:attr` plug-ins implement the methods below.

    Three say what it cannot do: `unsupported(dtype, device)`, `unsupported_case(case)` and
    `lacks(feature)`; whether it can run a cell here at all (its modules, its devices, the
    policies it runs) the suite works out itself (`conformance.subjects.availability`)."""

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
    #: promises its layer computes each row of a batch as it computes that row alone, bit for
    #: bit, whatever the batch's size and the row's place in it: rows_do_not_depend_on_their_batch
    #: then holds it to that (a difference fails); otherwise the property only records
    batch_invariant: bool = False
    #: promises the same bits at any framework thread count on the CPU:
    #: results_do_not_depend_on_the_thread_count then holds it to that
    thread_invariant: bool = False

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
        return with_mode(self.name, self.mode)

    def in_mode(self, mode: str) -> "Subject":
        """This subject running in `mode` (one of `modes`): a copy with its own layers."""
        variant = copy.copy(self)
        variant.mode = mode
        variant.compiles_per_shape = draws_from_pool(self) or mode in COMPILING_MODES
        return variant

    def mode_contract(self) -> str:
        """What running in this mode assumes about the layer, for the cell's contracts."""
        return EAGER

    def environment(self) -> dict:
        """What the framework reports about itself: BLAS/oneDNN, precision and determinism flags, devices."""
        return {}

    def found_devices(self) -> list[str]:
        """Devices the framework can use here: "cpu", then "cuda:N" for each visible GPU."""
        return ["cpu"]

    def prepare_process(self, threads: int, tf32: str) -> None:
        """Once per process, before any cell runs: size the framework's thread pools to `threads`
        and apply the TF32 policy (framework-default leaves the framework's own setting)."""

    def unsupported(self, dtype: str, device: str) -> str | None:
        """Why this subject cannot run `dtype` on `device`, or None when it can."""
        return None

    def unsupported_case(self, case) -> str | None:
        """Why this subject cannot take `case` (a strategies.Case: a shape, memory layout or input
        kind it does not support), or None when it can. Such examples are not checked: the cell
        counts them by reason (report.json: `unsupported`; the verdict says so), and a cell that
        could take none of its examples is skipped with the reason."""
        return None

    def runtimes(self, dtype: str, device: str) -> tuple[str, ...]:
        """What computes `dtype` on `device` for this subject (e.g. "xla-cpu", "tensorflow-cpu",
        "torch-cpu", "cublas"): registry entries that name one of these reach this subject too."""
        return ()

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


REQUIRED_METHODS = ("build", "load", "read", "forward")


def draws_from_pool(subject: Subject) -> bool:
    """Whether each cell draws its shapes from a fixed pool (`compiles_per_shape`; by default,
    whether the subject runs on JAX)."""
    if subject.compiles_per_shape is not None:
        return subject.compiles_per_shape
    return any(module.split(".")[0] in JAX_MODULES for module in subject.requires)
