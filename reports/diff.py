"""The upgrade gate: what a candidate report does worse than its baseline, cell by cell.

A gate compares like with like: two runs whose selection, options, Hypothesis profile, shard or
worker and thread counts differ draw other cases (or run kernels another way) and cannot be
compared; `unlike` says how they differ, and the CLI refuses them.
"""

from dataclasses import dataclass, field

from conformance.core.record import records
from conformance.core.status import BROKEN, NEVER_RAN, Status
from reports import reproducibility
from reports.report import ReportError

#: what two runs must share, as (what to call it, how to read it from a report)
LIKE = (
    ("subjects", lambda d: d["options"]["subjects"]),
    ("dtypes", lambda d: d["options"]["dtypes"]),
    ("devices", lambda d: d["options"]["devices"]),
    ("size caps", lambda d: (d["options"]["max_features"], d["options"]["max_rows"])),
    ("special values", lambda d: d["options"]["special_values"]),
    ("--tf32", lambda d: d["options"]["tf32"]),
    ("--shapes", lambda d: d["options"].get("shapes")),
    ("--deterministic", lambda d: d["options"].get("deterministic", False)),
    ("--thread-counts", lambda d: d["options"].get("thread_counts", False)),
    ("Hypothesis profile", lambda d: d["run"]["hypothesis"]),
    ("shard", lambda d: d["run"]["shard"]),
    ("selection (-k, -m, paths)", lambda d: d["run"].get("selection")),
    ("workers asked for (-n)", lambda d: d["run"]["worker_count"]),
    (
        "threads per process",
        lambda d: sorted({p["threads"] for p in d["run"]["processes"].values()}),
    ),
)


def unlike(base: dict, candidate: dict) -> str | None:
    """How two runs differ in what decides which cases they draw and how they run, or None."""
    for name, read in LIKE:
        if read(base) != read(candidate):
            return f"{name}: {read(base)} in the baseline, {read(candidate)} in the candidate"
    return None


def comparable(base: dict, candidate: dict) -> None:
    """ReportError (one line) unless the two runs can be compared."""
    difference = unlike(base, candidate)
    if difference:
        raise ReportError(
            f"the runs differ in {difference}; a gate compares like with like: run both with the "
            "same command"
        )


#: default: a worst budget used that grows by more than this (in budget units) is a regression
BUDGET_GROWTH = 0.25


@dataclass
class Diff:
    new_failures: list[str] = field(default_factory=list)
    new_divergences: list[str] = field(default_factory=list)
    budget_growth: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    resolved_divergences: list[str] = field(default_factory=list)
    lost_reproducibility: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)

    REGRESSIONS = (
        "new_failures", "new_divergences", "budget_growth", "vanished", "lost_reproducibility"
    )  # fmt: skip

    @property
    def regressed(self) -> bool:
        return any(getattr(self, name) for name in self.REGRESSIONS)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {
            "regressed": self.regressed
        }

    def lines(self) -> list[str]:
        out = []
        for name in self.__dataclass_fields__:
            items = getattr(self, name)
            kind = "REGRESSION" if name in self.REGRESSIONS else "info"
            out.append(f"{name.replace('_', ' ')}: {len(items)}" + (f"  [{kind}]" if items else ""))
            out += [f"  {item}" for item in items]
        out.append("verdict: " + ("REGRESSED" if self.regressed else "no regression"))
        return out


def diff(base: dict, candidate: dict, budget_growth: float = BUDGET_GROWTH) -> Diff:
    """Compare two reports cell by cell (property x subject x dtype x device)."""
    before = {c.id.key: c for c in records(base)}
    after = {c.id.key: c for c in records(candidate)}
    result = Diff()
    for key, old in before.items():
        name = " x ".join(key)
        new = after.get(key)
        if old.ended in (Status.SKIPPED, Status.NOT_RUN):
            continue  # only a cell the baseline ran can vanish or change
        if new is None or new.ended in (Status.SKIPPED, Status.NOT_RUN):
            where = "absent" if new is None else new.status
            result.vanished.append(f"{name} (was {old.status}, now {where})")
            continue
        if new.ended in BROKEN and old.ended not in BROKEN:
            result.new_failures.append(f"{name}: {new.reason}")
        elif old.ended in BROKEN and new.ended not in BROKEN:
            result.fixed.append(f"{name} (now {new.status})")
        was = {d for d, o in old.divergences.items() if o == "reproduced"}
        now = {d for d, o in new.divergences.items() if o == "reproduced"}
        result.new_divergences += [f"{name}: {d}" for d in sorted(now - was)]
        if new.ended not in NEVER_RAN:  # a cell that did not run resolves nothing
            result.resolved_divergences += [f"{name}: {d}" for d in sorted(was - now)]
        b_old, b_new = old.budget, new.budget
        if (
            b_old is not None
            and b_new is not None
            and b_new - b_old > budget_growth
            and new.ended not in BROKEN
        ):
            result.budget_growth.append(f"{name}: worst budget used {b_old:.3f} -> {b_new:.3f}")
    for key, new in after.items():
        if key not in before and new.ended in BROKEN:
            result.new_failures.append(f"{' x '.join(key)} (new cell): {new.reason}")
    result.lost_reproducibility = reproducibility.lost(
        base["reproducibility"], candidate["reproducibility"]
    )
    return result
