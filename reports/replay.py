"""Replay one failing example: the same subject, the same property check, the same contract.

A reproducer is the failing example's .npz (its arrays, what the subject returned, the oracle
values and bound, and which property broke for which subject under which options) and a tiny
script beside it that calls `main`; `python -m reports replay FILE.npz` does the same. It needs
the frameworks and this project (or the installed package), nothing else. A plug-in subject is
replayed as itself (its module:attr is imported). Exit status: 1 while the property still
breaks, 0 once it holds (or the registry now explains what it observes), 2 when the example
cannot be replayed here (a missing framework or device, an unreadable file).
"""

import importlib
import os
import pathlib
import sys

import numpy as np

from conformance.core.evidence import BFLOAT16
from conformance.core.identity import CellId, split_label
from reports.report import ReportError

#: meta fields a reproducer stores beside the example's arrays
META = (
    "property",
    "subject",
    "specs",
    "dtype",
    "device",
    "tf32",
    "threads",
    "divergences",
    "message",
)
#: meta fields listing names, which reproducers of earlier versions lack: the run's -p plug-ins,
#: the paths it imported from, and the claims it held as contracts (--deterministic)
LISTS = ("pytest_plugins", "paths", "required")
#: the thread count a thread-count comparison ran its peer at (0: none), also absent from older ones
PEER_THREADS = "peer_threads"
#: arrays that are evidence of the failure, not part of the example
EVIDENCE = ("expected", "bound", "got")


def load(path: pathlib.Path) -> tuple[dict, dict]:
    """(meta, arrays) of a reproducer; ReportError when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            stored = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: not a reproducer .npz ({exc})") from None
    missing = [k for k in META if k not in stored]
    if missing:
        raise ReportError(f"{path}: not a reproducer of this suite (no {', '.join(missing)})")
    meta = {k: stored.pop(k).item() for k in META}
    meta.update({k: stored.pop(k).tolist() if k in stored else [] for k in LISTS})
    meta[PEER_THREADS] = int(stored.pop(PEER_THREADS).item()) if PEER_THREADS in stored else 0
    for name in stored.pop("bfloat16", np.array([], str)).tolist():
        stored[name] = stored[name].astype(BFLOAT16)
    return meta, stored


def recorded(meta: dict, arrays: dict) -> list[str]:
    """What the run saw, from the stored evidence: the worst element of the recorded result."""
    expected, bound, got = (arrays.get(k) for k in EVIDENCE)
    if got is None or expected is None or bound is None or np.shape(got) != np.shape(expected):
        return []
    from conformance.core.budget import assess

    verdict = assess(np.asarray(got), np.asarray(expected), np.asarray(bound), meta["dtype"])
    where = f"{verdict.budget_used:.3g} at element {verdict.index}"
    found = f"got {verdict.got!r}, oracle {verdict.expected!r}, bound {verdict.bound:.3g}"
    return [f"recorded result ({np.shape(got)}): budget used {where}: {found}"]


def replay(meta: dict, arrays: dict) -> tuple[int, list[str]]:
    """Run the property's check once on the stored example; (exit status, lines to print)."""
    cell_id = CellId.of(meta["property"], meta["subject"], meta["dtype"], meta["device"])
    backend = next((n.partition("/")[2] for n in cell_id.names if n.startswith("keras/")), None)
    if backend:
        os.environ.setdefault("KERAS_BACKEND", backend)
    sys.path[:0] = [p for p in meta["paths"] if p not in sys.path]
    for module in meta["pytest_plugins"]:  # a plug-in the run loaded may change a framework
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return 2, [
                f"cannot replay: the run loaded the plug-in {module} (-p), which does not import here: {exc}"
            ]
    from conformance.core.cell import SubjectFailure
    from conformance.core.cpu import cpu_isa
    from conformance.core.registry import RegistryError
    from conformance.properties import PROPERTIES
    from conformance.runner.farm import prepare_process
    from conformance.runner.options import load_registry
    from conformance.subjects import SubjectError, resolve
    from conformance.subjects.availability import why_not

    prop = PROPERTIES.get(cell_id.property)
    if prop is None:
        return 2, [f"cannot replay: this version of the suite has no property {cell_id.property!r}"]
    try:
        subjects = tuple(in_its_mode(resolve, spec) for spec in meta["specs"].split("|"))
        registry = load_registry(meta["divergences"], subjects)
    except (SubjectError, RegistryError) as exc:
        return 2, [f"cannot replay: {exc}"]
    device, dtype = cell_id.device, cell_id.dtype
    for subject in subjects:
        missing = why_not(subject, dtype, device)
        if missing:
            return 2, [f"cannot replay here: {subject.label} on {device}: {missing}"]
    deterministic = "deterministic" in meta["required"]
    prepare_process(subjects, int(meta["threads"]), meta["tf32"], deterministic)
    example = prop.example.from_arrays(dtype, device, arrays)
    entries = prop.reaches(registry, subjects, dtype, device, cpu_isa())
    cell = prop.new_cell(subjects, dtype, device, entries, meta["tf32"])
    cell.required = frozenset(meta["required"])
    if prop.thread_counts and meta[PEER_THREADS]:
        from conformance.runner.peer import Peer

        cell.peer = Peer(meta[PEER_THREADS], int(meta["threads"]), meta["tf32"], deterministic)
    try:
        prop.check(cell, subjects if prop.pair else subjects[0], example)
    except SubjectFailure as exc:
        return 1, [f"STILL FAILING: {exc}"]
    except Exception as exc:
        return 1, [f"STILL FAILING: {cell_id.label} raised {type(exc).__name__}: {exc}"]
    if cell.reproduced:
        return 0, [f"now a known divergence here: {', '.join(sorted(cell.reproduced))}"]
    budget = "" if cell.worst_budget is None else f" (worst budget used {cell.worst_budget:.3g})"
    return 0, [f"fixed: the property holds on this example{budget}"]


def in_its_mode(resolve, spec: str):
    """The subject a reproducer's spec names, in the mode it names (torch@compile), if any."""
    name, mode = split_label(spec)
    subject = resolve(name)
    return subject if mode == "eager" else subject.in_mode(mode)


def main(path: pathlib.Path) -> int:
    try:
        meta, arrays = load(path)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{meta['property']} x {meta['subject']} x {meta['dtype']} x {meta['device']}")
    print(f"the suite reported: {meta['message']}")
    for line in recorded(meta, arrays):
        print(line)
    status, lines = replay(meta, arrays)
    for line in lines:
        print(line)
    return status
