"""Interrupts: SIGTERM (what CI time-outs send) ends a run as Ctrl-C does, and the report says which.

The controller (or the only process of a run without workers) turns SIGINT and SIGTERM into
KeyboardInterrupt, which pytest handles by ending the session: the report plugin then writes a
report marked incomplete. Until the session has started both signals are blocked, so one that
arrives while the frameworks load or the workers start waits for it (pytest writes a session's
end, and so the report, only once its start is done). xdist workers ignore both signals (a
terminal's Ctrl-C and `timeout` reach the whole process group): the controller stops them, so one
interrupt gives one clean report rather than a traceback per worker. A worker inherits the
controller's blocked signals (a signal mask survives fork and exec), so one sent while it starts
is still pending when it begins to ignore them, and is dropped rather than killing it.

Where Python drops exceptions (a garbage-collection callback, a finalizer) a signal is only
recorded, and `check` raises it at the next safe point (every example, every cell, every report on
the controller) until pytest has seen one; `timeout` signals the controller twice within microseconds, and a signal that comes once the
run is finishing (its report being written) is only recorded.
"""

import gc
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: a second signal this soon after a raise is the same interrupt delivered twice
REPEAT_S = 0.5
_received: list[str] = []
_session = {"started": False, "seen": False, "finishing": False, "raised_at": -1.0}


def _raise() -> None:
    _session["raised_at"] = time.monotonic()
    raise KeyboardInterrupt(_received[0])


def _interrupt(signum, frame) -> None:
    _received.append(signal.Signals(signum).name)
    if _wanted() and time.monotonic() - _session["raised_at"] > REPEAT_S and not _dropping(frame):
        _raise()


def _dropping(frame) -> bool:
    """Whether `frame` runs where Python drops exceptions: a garbage-collection callback or a
    finalizer (the next safe point raises the interrupt instead)."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _wanted() -> bool:
    """An interrupt is due: one was received, the session runs, pytest has not seen it yet."""
    return (
        bool(_received)
        and bool(_session["started"])
        and not (_session["seen"] or _session["finishing"])
    )


def interrupt_on_signals() -> None:
    """In the controller: SIGINT and SIGTERM end the run; they wait until its session has started."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    for signum in SIGNALS:
        signal.signal(signum, _interrupt)


def ignore_signals() -> None:
    """In an xdist worker: leave interrupts to the controller (one pending from start-up is
    dropped: ignoring a pending signal discards it)."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def session_started() -> None:
    """From now on a signal interrupts at once; one that came earlier interrupts now."""
    _session["started"] = True
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # a pending one runs its handler here
    check()


def check() -> None:
    """At a safe point: raise the interrupt a signal asked for if it has not reached pytest yet."""
    if _wanted():
        _raise()


def seen() -> None:
    """pytest has handled an interrupt: no more raising."""
    _session["seen"] = True


def drop_lineless(tb) -> None:
    """Unlink the entries of a traceback whose line is unknown (tb_lineno None: a signal that lands
    on an instruction without a line, as Python 3.11 has in its exception handling), which pytest
    cannot format: it turned a clean SIGTERM into an INTERNALERROR in a clean-clone CI run."""
    while tb is not None and tb.tb_next is not None:
        if tb.tb_next.tb_lineno is None:
            tb.tb_next = tb.tb_next.tb_next
        else:
            tb = tb.tb_next


def finishing() -> None:
    """The run is ending: from now on a signal is only recorded."""
    _session["finishing"] = True


def received() -> str | None:
    """The first signal that interrupted this run (SIGINT or SIGTERM), or None."""
    return _received[0] if _received else None


@contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (e.g. while the report is written), deliver them after."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
