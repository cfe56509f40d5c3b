"""What a cell can end in, and which of those mean its examples never ran."""

from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    CRASHED = "crashed"
    NOT_RUN = "not-run"
    SKIPPED = "skipped"
    KNOWN_DIVERGENCE = "known-divergence"


#: statuses of cells whose examples never ran
NEVER_RAN = frozenset({Status.SKIPPED, Status.NOT_RUN, Status.CRASHED, Status.ERROR})
#: statuses that break a run
BROKEN = frozenset({Status.FAIL, Status.ERROR, Status.CRASHED})
