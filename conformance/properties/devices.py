"""Cross-device properties: a subject on another device (a GPU) agrees with itself on the CPU."""

from dataclasses import replace

from conformance.core import oracle
from conformance.core.observation import BOUNDED, Quantity
from conformance.properties.checks import forward, within_bound
from conformance.properties.declaration import declare
from strategies import cases


@declare(strategy=cases, shows=BOUNDED, cross_device=True)
def device_agrees_with_cpu(cell, subject, case):
    """The same case on `device` and on the CPU: each result within its own contract's bound of the
    oracle (so the two differ by at most the sum of both bounds)."""
    reference = oracle.linear(case.x, case.weight, case.bias, case.dtype)
    on_device = forward(cell, subject, case)
    on_cpu = forward(cell, subject, replace(case, device="cpu"))
    within_bound(
        cell, subject, Quantity.FORWARD, on_device, reference, label=f"forward on {case.device}"
    )
    within_bound(
        cell, subject, Quantity.FORWARD, on_cpu, reference, device="cpu", label="forward on cpu"
    )
