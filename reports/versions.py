"""Versions of the interpreter and of every framework a run uses, from package metadata (no import)."""

import platform

from conformance.subjects.availability import module_version
from conformance.subjects.availability import versions as subject_versions

BASE_MODULES = ("numpy", "hypothesis", "pytest", "ml_dtypes")


def versions(subjects) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for module in BASE_MODULES:
        if version := module_version(module):
            found[module] = version
    for subject in subjects:
        found.update(subject_versions(subject))
    return found
