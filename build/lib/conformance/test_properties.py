"""The conformance matrix in pytest: one test function per declared property (conformance.properties)."""

from conformance.plugin import property_test
from conformance.properties import PROPERTIES

for _declared in PROPERTIES.values():
    globals()[f"test_{_declared.name}"] = property_test(_declared)
