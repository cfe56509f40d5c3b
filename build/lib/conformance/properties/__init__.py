"""The suite's properties, each declared once (`conformance.property.declare`), in the order the
docs list them: structure first, then forward results, edges, devices, gradients, training,
inputs of another dtype and the opt-in special values. A declaration imports the core, the
subjects, the strategies and `conformance.property`; never `reports`."""

import importlib

from conformance.property import PROPERTIES, Property

#: the modules that declare properties, in the order their properties are listed
MODULES = (
    "structure",
    "forward",
    "edges",
    "devices",
    "gradients",
    "training",
    "inputs",
    "special_values",
)
for _module in MODULES:
    importlib.import_module(f"conformance.properties.{_module}")

__all__ = ["PROPERTIES", "Property"]
