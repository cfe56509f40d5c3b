"""Whether a subject can run a cell here, and why not: its modules, its devices, the mixed-precision
policies it runs, what it declares unsupported. The suite asks these; a subject answers through
`requires` and `install`, `found_devices`, `policies` and `unsupported`."""

import functools
import importlib.metadata
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path

from conformance.core.formats import POLICIES
from conformance.subjects.base import Subject


def missing_module(subject: Subject) -> str | None:
    """The first module the subject requires that cannot be imported, or None."""
    for module in subject.requires:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def device_slots(subject: Subject) -> list[str]:
    """Devices to test: those found, plus a cuda:0 slot when no GPU is (its cells skip, saying
    why); only the CPU where the subject's framework is missing."""
    found = ["cpu"] if missing_module(subject) else subject.found_devices()
    return found if len(found) > 1 else [*found, "cuda:0"]


def why_not_on(subject: Subject, device: str) -> str | None:
    """Why `device` cannot be used here, or None when it can (an optional built-in whose
    framework is not installed: that, and how to install it)."""
    module = missing_module(subject)
    if module is not None:
        return f"the module {module!r} is not installed ({subject.install or 'install it'})"
    if device in subject.found_devices():
        return None
    kind = "CUDA device" if device.startswith("cuda") else f"device {device}"
    return f"no {kind} visible to {subject.label}"


def why_not(subject: Subject, dtype: str, device: str) -> str | None:
    """Why `dtype` on `device` cannot run here: the framework or device missing, a mixed-precision
    policy the subject does not run, or what it declares unsupported; None when it can."""
    if reason := why_not_on(subject, device):
        return reason
    if dtype in POLICIES and dtype not in subject.policies:
        runs = ", ".join(subject.policies) or "none"
        return f"{subject.label} does not run the mixed-precision policy {dtype} (it runs: {runs})"
    return subject.unsupported(dtype, device)


def own_registry(subject: Subject) -> Path | None:
    """The subject's own divergence file (`divergences`, beside its module), or None."""
    if not subject.divergences:
        return None
    module = sys.modules[type(subject).__module__].__file__ or ""
    return Path(module).with_name(subject.divergences)


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


def versions(subject: Subject) -> dict[str, str]:
    """Versions of the modules the subject runs on, read from package metadata (no import)."""
    return {module: v for module in subject.requires if (v := module_version(module))}
