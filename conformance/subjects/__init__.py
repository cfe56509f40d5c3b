"""Subjects: the built-ins, `module:attr` plug-ins, and the pool that reuses their layers.

A subject imports the core (`conformance.core`) and its own framework, nothing else of the suite.
"""

import functools
import importlib
from dataclasses import dataclass
from fnmatch import fnmatchcase

from conformance.core.identity import split_label
from conformance.subjects.availability import missing_module
from conformance.subjects.base import REQUIRED_METHODS, Subject
from conformance.subjects.flax_linear import FlaxLinear, FlaxLinearX64
from conformance.subjects.keras_dense import KerasDense, TfKerasDense
from conformance.subjects.litert_dense import LiteRtDense
from conformance.subjects.onnxruntime_linear import OnnxRuntimeLinear
from conformance.subjects.torch_linear import TorchLinear


@dataclass(frozen=True)
class Builtin:
    """A built-in subject: its class, how people call it (`{backend}`: Keras' backend, from its
    label keras/<backend>), and the labels it owns (glob patterns): a plug-in labelled so inherits
    its registry entries, so it must be one of its own (a patched build, as an upgrade candidate)
    or say it stands in."""

    cls: type[Subject]
    human: str
    labels: tuple[str, ...]


#: the built-in subjects, by the name --subjects takes
BUILTINS = {
    "torch": Builtin(TorchLinear, "torch.nn.Linear", ("torch",)),
    "keras": Builtin(KerasDense, "Keras Dense ({backend} backend)", ("keras", "keras/*")),
    "tf_keras": Builtin(TfKerasDense, "tf-keras Dense (Keras 2)", ("tf_keras",)),
    "flax": Builtin(FlaxLinear, "flax.nnx.Linear", ("flax*",)),
    "flax_x64": Builtin(FlaxLinearX64, "flax.nnx.Linear (x64)", ("flax*",)),
    "onnxruntime": Builtin(OnnxRuntimeLinear, "torch.nn.Linear in ONNX Runtime", ("onnxruntime",)),
    "litert": Builtin(LiteRtDense, "Keras Dense in LiteRT", ("litert",)),
}


def owner(label: str) -> Builtin | None:
    """The built-in that owns `label` (its mode aside), or None."""
    name = split_label(label)[0]
    if name in BUILTINS:
        return BUILTINS[name]
    return next((b for b in BUILTINS.values() if any(fnmatchcase(name, p) for p in b.labels)), None)


def human_name(label: str) -> str:
    """A subject as people call it: torch.nn.Linear, Keras Dense (jax backend), ... in compile mode."""
    name, mode = split_label(label)
    builtin = owner(label)
    found = builtin.human.format(backend=name.partition("/")[2]) if builtin else name
    return found if mode == "eager" else f"{found} in {mode} mode"


class SubjectError(ValueError):
    """A --subjects entry that names nothing usable."""


def resolve(spec: str) -> Subject:
    """A built-in name or `module:attr` (a Subject class or instance) -> a ready subject."""
    valid = f"valid: {', '.join(BUILTINS)}, or module:attr naming a Subject"
    if spec in BUILTINS:
        subject = BUILTINS[spec].cls()
    elif ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise SubjectError(f"subject {spec!r} cannot be loaded ({exc}); {valid}") from None
        subject = target() if isinstance(target, type) else target
        if not isinstance(subject, Subject):
            raise SubjectError(
                f"subject {spec!r} is not a conformance.subjects.base.Subject; {valid}"
            )
        if "@" in subject.label:
            raise SubjectError(
                f"subject {spec!r} is labelled {subject.label!r}; '@' sets off an execution mode"
                " in a label (torch@compile), so give it a name without one"
            )
        builtin = owner(subject.label)
        if builtin is not None and not (isinstance(subject, builtin.cls) or subject.stands_in):
            raise SubjectError(
                f"subject {spec!r} is labelled {subject.label!r}, a label of the built-in"
                f" {builtin.cls.__name__} whose registry entries it would inherit; give it a name"
                " of its own, or set stands_in = True if it stands in for the built-in on purpose"
            )
        lacking = [m for m in REQUIRED_METHODS if getattr(type(subject), m) is getattr(Subject, m)]
        if lacking or not subject.name:
            raise SubjectError(
                f"subject {spec!r} does not implement {', '.join(lacking) or 'a name'}; {valid}"
            )
    else:
        raise SubjectError(f"unknown subject {spec!r}; {valid}")
    subject.spec = spec
    missing = missing_module(subject)
    if missing and not (spec in BUILTINS and subject.install):  # an optional built-in's cells skip
        raise SubjectError(f"subject {spec!r} needs the module {missing!r}, which is not installed")
    return subject


def runtimes_of(subjects, dtype: str):
    """device -> what the subjects (one, or a pair) run on there: for Registry.applicable."""
    return lambda device: tuple(r for s in subjects for r in s.runtimes(dtype, device))


def _build(
    subject: Subject, in_features: int, out_features: int, bias: bool, dtype: str, device: str
):
    return subject.build(in_features, out_features, bias, dtype, device)


#: one layer per subject x shape x bias x dtype x device, built once and reused across examples
pooled_layer = functools.lru_cache(maxsize=1024)(_build)
#: layers with more weights than this (the tail's) are kept only while the next examples reuse them
POOLED_WEIGHTS = 2**16
recent_large_layer = functools.lru_cache(maxsize=2)(_build)


def loaded_layer(subject: Subject, case):
    """The pooled layer for `case` with the case's weights loaded (every parameter overwritten),
    the weight from an array in the case's weight layout."""
    large = case.in_features * case.out_features > POOLED_WEIGHTS
    layer = (recent_large_layer if large else pooled_layer)(
        subject,
        case.in_features,
        case.out_features,
        case.has_bias,
        case.dtype,
        case.device,
    )
    subject.load(layer, case.weight_source(), case.bias)
    return layer


__all__ = [
    "BUILTINS",
    "Subject",
    "SubjectError",
    "loaded_layer",
    "pooled_layer",
    "resolve",
    "runtimes_of",
]
