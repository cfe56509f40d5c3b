"""The verdict: the answer to the user's question first — do the subjects compute the same function
here, on which devices and dtypes, how many cells and examples, which known differences — then
what was not checked and why, then each failure with the command that replays it."""

import shlex
from collections import Counter
from pathlib import Path

from conformance.core.evidence import replay_command
from conformance.core.record import CellRecord, records
from conformance.core.status import BROKEN, NEVER_RAN, Status
from conformance.subjects import human_name


def subject_name(label: str) -> str:
    """A subject as people call it (one table of the built-ins: conformance.subjects.BUILTINS)."""
    return human_name(label)


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def broke_reproducibility(cell: CellRecord) -> bool:
    """Whether the cell failed on a reproducibility claim held as a contract (not on an error,
    or a result of the wrong shape, in the same cell)."""
    tally = cell.reproducibility or {}
    return cell.ended == Status.FAIL and bool(tally.get("required")) and tally.get("holds") is False


def headline(data: dict) -> str:
    """One sentence: agree (where, in what, on how much evidence) or differ, and the known differences."""
    cells = records(data)
    ran = [c for c in cells if c.ended not in NEVER_RAN]
    broken = [c for c in cells if c.ended in BROKEN]
    # the sentence names the subjects that ran or broke a cell (labels with their mode, as
    # options.subjects holds them); one selected that did neither is said so
    seen = {label for c in ran + broken for label in c.id.subjects}
    selected = data["options"]["subjects"]
    present = [s for s in selected if s in seen] or selected
    subjects = _listing([subject_name(s) for s in present])
    absent = [subject_name(s) for s in selected if s not in present]
    passed = [c for c in ran if c.ended == Status.PASS]
    devices = sorted({c.device for c in ran})
    dtypes = [d for d in data["options"]["dtypes"] if any(c.dtype == d for c in ran)]
    examples = sum(c.examples for c in passed)
    verb = "passes" if len(passed) == 1 else "pass"
    evidence = f"{_plural(len(passed), 'cell')} {verb} ({_plural(examples, 'example')} within their contracts)"
    one = len(present) == 1  # a subject alone is held to the oracle
    if broken:
        # a broken reproducibility contract compares a subject with itself, not with the oracle
        itself = all(broke_reproducibility(c) for c in broken)
        differ = (
            "DIFFER"
            if not one
            else ("is NOT REPRODUCIBLE" if itself else "DIFFERS from the oracle")
        )
        sentence = f"{subjects} {differ}: {_plural(len(broken), 'cell')} failed (below); {evidence}"
    elif ran:
        where = f"on {_listing(devices)} in {_listing(dtypes)}"
        agree = "agrees with the oracle" if one else "agree"
        sentence = f"{subjects} {agree} {where}: {evidence}"
    else:
        return f"{subjects}: no cell ran, so nothing was checked"
    known = [d["title"] for d in data["divergences"] if d["status"] == "reproduced"]
    if known:
        sentence += f"; {_plural(len(known), 'known difference')}: {', '.join(known)}"
    if absent:
        why = " (why: below)" if data["run"]["complete"] else " (the run is INCOMPLETE)"
        sentence += f"; {_listing(absent)} ran no cell{why}"
    return sentence


def unchecked(cells: list[CellRecord]) -> list[str]:
    """What was not checked and why: a device no cell ran on is one line, other skips by reason,
    then the examples subjects declared unsupported in cells that ran, by reason."""
    lines: list[str] = []
    by_device: dict[str, list[CellRecord]] = {}
    for c in cells:
        by_device.setdefault(c.device, []).append(c)
    idle = {d for d, group in by_device.items() if all(c.ended == Status.SKIPPED for c in group)}
    # a reason that also kept cells from running on a device that ran is not this device's:
    # it is given below, with those cells
    elsewhere = {c.reason or "" for c in cells if c.device not in idle}
    for device in sorted(idle):
        group = by_device[device]
        every = {c.reason or "" for c in group}
        reasons = sorted(every - elsewhere or every)
        lines.append(
            f"not checked on {device} ({_plural(len(group), 'cell')}): {'; '.join(reasons)}"
        )
    skips: Counter[str] = Counter(
        c.reason or "" for c in cells if c.ended == Status.SKIPPED and c.device not in idle
    )
    lines += [
        f"not checked ({_plural(n, 'cell')}): {reason}" for reason, n in sorted(skips.items())
    ]
    declined: Counter[str] = Counter()
    for c in cells:
        if c.ended != Status.SKIPPED:
            declined.update(c.unsupported)
    lines += [
        f"not checked ({_plural(n, 'example')}, declared unsupported): {reason}"
        for reason, n in sorted(declined.items())
    ]
    return lines


def failures(data: dict, report_dir: Path | str | None = None) -> list[str]:
    """One line per failed, errored or crashed cell, and the command that replays it."""
    lines = []
    for c in records(data):
        if c.ended not in BROKEN:
            continue
        where = f"{c.property} · {c.subject} · {c.dtype} · {c.device}"
        lines.append(f"{c.status.upper()} {where}: {c.reason}")
        replay = replay_line(data, c, report_dir)
        if replay:
            lines.append(f"  {replay}")
    return lines


def replay_line(data: dict, cell: CellRecord, report_dir: Path | str | None) -> str | None:
    """`replay: COMMAND` for a failed cell (the run's interpreter and the script, by their full
    paths where the report directory is known), `no reproducer: WHY` when its example could not
    be stored, or None."""
    failure = cell.failure or {}
    if failure.get("unstored"):
        return f"no reproducer: {failure['unstored']}"
    reproducer = failure.get("reproducer")
    if not reproducer:
        return None
    python = data["run"]["command"][0]
    if report_dir is None:
        return f"replay: {shlex.join([python, reproducer['script']])}"
    return f"replay: {replay_command(Path(report_dir, reproducer['script']), python)}"


def incomplete(data: dict) -> str | None:
    """The line that leads a verdict whose run did not finish (interrupted, a worker crashed, a
    shard missing), or None for a complete run."""
    run = data["run"]
    if run["complete"]:
        return None
    return f"INCOMPLETE: {run['incomplete_reason']}; what follows covers only the cells that ran"


def summary(data: dict) -> list[str]:
    """INCOMPLETE first when the run did not finish, then the headline and what was not checked."""
    first = incomplete(data)
    return [*([first] if first else []), headline(data), *unchecked(records(data))]


def lines(data: dict, report_dir: Path | str | None = None) -> list[str]:
    """The whole verdict, for the terminal: the summary, then the failures."""
    return summary(data) + failures(data, report_dir)
