"""Properties, declared once. A property is a claim checked over many examples. `declare` registers
one from its check function: the function's name is the property's name, its docstring the claim;
the declaration says which strategy draws its examples, which observation codes its comparisons
can show (so registry entries apply to it), and what it needs from a subject. The tests
(conformance/test_properties.py), the registry's check of the properties it names, the replay
and the docs all read `PROPERTIES`.
"""

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from conformance.core.cell import Cell
from conformance.core.contract import device_contract, judgement
from conformance.core.identity import CellId
from conformance.core.judge import Judge
from conformance.core.observation import Code
from conformance.core.registry import Divergence, Registry
from conformance.subjects import runtimes_of
from strategies import Case


class Example(Protocol):
    """What a property draws: a Case, or an example carrying one, that a reproducer can store."""

    @property
    def case(self) -> Case: ...

    def arrays(self) -> dict: ...

    @classmethod
    def from_arrays(cls, dtype: str, device: str, arrays: dict) -> "Example": ...


@dataclass(frozen=True)
class Property:
    """One claim: how to draw an example, how to check it, what it can observe and needs."""

    name: str
    claim: str
    check: Callable  # check(cell, subject or pair, example)
    strategy: Callable  # strategy(dtype, device, caps) -> SearchStrategy of examples
    example: type[Example]  # rebuilt from a reproducer by example.from_arrays
    shows: frozenset[Code]  # the observation codes its comparisons can show
    needs: tuple[str, ...] = ()  # subject methods it calls beyond forward
    special_values: bool = False  # opt-in: --special-values
    thread_counts: bool = False  # opt-in: --thread-counts (a second process per worker)
    cross_device: bool = False  # compares each non-CPU device with the CPU
    pair: bool = False  # checks two subjects together

    def reaches(
        self, registry: Registry, subjects: tuple, dtype: str, device: str, isa: str | None = None
    ) -> tuple[Divergence, ...]:
        """The registry entries a cell of this property for `subjects` can meet (on a CPU of
        instruction-set level `isa`; None: any)."""
        cell = CellId(self.name, tuple(s.label for s in subjects), dtype, device)
        runtimes = runtimes_of(subjects, dtype)
        return registry.applicable(cell, self.shows, self.cross_device, runtimes, isa)

    def new_cell(
        self,
        subjects: tuple,
        dtype: str,
        device: str,
        entries: tuple[Divergence, ...] = (),
        tf32: str = "framework-default",
    ) -> Cell:
        """A cell of this property for `subjects` (one, or a pair) in `dtype` on `device`,
        judged by their contracts there (and on the CPU, which a cross-device cell compares
        with) under the run's --tf32 policy, against the registry `entries` it reaches."""
        judgements = {
            (s.label, d): judgement(contract(s, dtype, d), contract(s, "float32", d), tf32)
            for s in subjects
            for d in dict.fromkeys((device, "cpu"))
        }
        cell = Cell(
            CellId(self.name, tuple(s.label for s in subjects), dtype, device),
            Judge(dtype, judgements, entries),
        )
        for s in subjects:
            held = judgements[s.label, device]
            cell.contracts[s.label] = {
                **held.contract.as_dict(),
                "observable": [str(code) for code in held.looser],
                "mode": s.mode_contract(),
            }
        return cell


PROPERTIES: dict[str, Property] = {}


def declare(
    *,
    strategy: Callable,
    shows: Iterable[Code],
    example: type[Example] = Case,
    needs: tuple[str, ...] = (),
    special_values: bool = False,
    cross_device: bool = False,
    pair: bool = False,
    thread_counts: bool = False,
):
    """Register the decorated check function as a property named after it."""

    def register(check: Callable) -> Callable:
        name = check.__name__
        if name in PROPERTIES:
            raise ValueError(f"property {name!r} is declared twice")
        PROPERTIES[name] = Property(
            name, inspect.getdoc(check) or "", check, strategy, example, frozenset(shows),
            needs, special_values, thread_counts, cross_device, pair,
        )  # fmt: skip
        return check

    return register


def contract(subject, dtype: str, device: str):
    """The contract `subject` is held to for `dtype` on `device`: the device's, given the flags
    the subject says are in effect there (TF32, reduced-precision reductions)."""
    return device_contract(dtype, device, **subject.precision_flags(dtype, device))
