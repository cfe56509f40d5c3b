"""A cell's identity: the property, its subjects (one, or a pair), the dtype and the device, and
the names it goes by: its label in reports (`torch@compile`, `torch vs keras/tensorflow`), its
pytest node id, its reproducer's file name. Every one of them is formatted and read here."""

import builtins
import re
from dataclasses import dataclass

#: the test module whose items are the cells
TEST_MODULE = "conformance/test_properties.py"
#: between the two subjects of a pair, in a label and in a node id's parameters
PAIR, PAIR_IN_ID = " vs ", "~"
#: before the execution mode in a subject's label (eager has none)
MODE = "@"
_NODE = re.compile(r"(?:.*/)?test_properties\.py::test_(?P<prop>\w+)\[(?P<params>[^\]]+)\]")


@dataclass(frozen=True, order=True)
class CellId:
    """One square of the matrix: property x subjects x dtype x device (`subjects`: their labels,
    a mode after `@` but in eager mode, one or two of them)."""

    property: str
    subjects: tuple[str, ...]
    dtype: str
    device: str

    @builtins.property
    def label(self) -> str:
        """The subjects as reports name them: `torch@compile`, or `torch vs keras/tensorflow`."""
        return PAIR.join(self.subjects)

    @builtins.property
    def pair(self) -> bool:
        return len(self.subjects) > 1

    @builtins.property
    def mode(self) -> str:
        """The execution mode the subject runs in (a pair runs eagerly)."""
        return "eager" if self.pair else split_label(self.subjects[0])[1]

    @builtins.property
    def names(self) -> tuple[str, ...]:
        """The subjects' labels without their mode (torch@compile is torch)."""
        return tuple(split_label(label)[0] for label in self.subjects)

    @builtins.property
    def params(self) -> str:
        """The node id's parameters: `torch-cpu-float32`, `torch~keras/tensorflow-cpu-float32`."""
        return f"{PAIR_IN_ID.join(self.subjects)}-{self.device}-{self.dtype}"

    @builtins.property
    def node_id(self) -> str:
        return f"{TEST_MODULE}::test_{self.property}[{self.params}]"

    @builtins.property
    def reproducer(self) -> str:
        """The file name (without suffix) of the cell's reproducer."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.property}[{self.params}]").strip("_")

    @builtins.property
    def key(self) -> tuple[str, str, str, str]:
        """(property, label, dtype, device): how reports order and match cells."""
        return self.property, self.label, self.dtype, self.device

    @classmethod
    def of(cls, prop: str, label: str, dtype: str, device: str) -> "CellId":
        """From a label as reports write it."""
        return cls(prop, tuple(label.split(PAIR)), dtype, device)

    @classmethod
    def parse(cls, node_id: str) -> "CellId | None":
        """From a cell's node id (wherever the suite was collected from); None for another
        item's, or an empty parametrization's (no device selected for a property)."""
        match = _NODE.fullmatch(node_id)
        if match is None:
            return None
        parts = match["params"].rsplit("-", 2)
        if len(parts) != 3:
            return None
        subjects, device, dtype = parts
        return cls(match["prop"], tuple(subjects.split(PAIR_IN_ID)), dtype, device)

    def __str__(self) -> str:
        return f"{self.property} x {self.label} x {self.dtype} x {self.device}"


def split_label(label: str) -> tuple[str, str]:
    """(name, mode) of one subject's label: torch@compile -> (torch, compile), torch -> (torch, eager)."""
    name, _, mode = label.partition(MODE)
    return name, mode or "eager"


def with_mode(name: str, mode: str) -> str:
    """A subject's label in `mode` (eager: the name alone)."""
    return name if mode == "eager" else f"{name}{MODE}{mode}"
