"""The suite's properties, each declared once (`declaration.declare`), in the order the docs list
them: structure first, then forward results, edges, devices, gradients, training, inputs of
another dtype, reproducibility and the opt-in special values. A declaration imports the core, the subjects, the
strategies and `checks` (what the checks share); never the runner or `reports`."""

from conformance.properties import (
    devices,
    edges,
    forward,
    gradients,
    inputs,
    reproducibility,
    special_values,
    structure,
    training,
)
from conformance.properties.declaration import PROPERTIES, Property

#: the modules that declare properties, in the order their properties are listed
MODULES = (
    structure, forward, edges, devices, gradients, training, inputs, reproducibility,
    special_values,
)  # fmt: skip

__all__ = ["MODULES", "PROPERTIES", "Property"]
