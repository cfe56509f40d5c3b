"""The conformance matrix in pytest: one test function per declared property (conformance.properties)."""

from conformance.properties import PROPERTIES
from conformance.runner.plugin import property_test

for _declared in PROPERTIES.values():
    globals()[f"test_{_declared.name}"] = property_test(_declared)
