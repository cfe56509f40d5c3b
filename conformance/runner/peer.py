"""A peer: a second process with the same frameworks at another thread count, computing a
subject's results for a case there, so that the thread-count property can compare bits. A
framework's thread pools are fixed when it starts (TensorFlow's, XLA's), so only another process
can run it at another count. One peer per worker, started on first use; it ends when its worker
closes the pipe (or dies), and is killed after its worker's last cell.

Run as `python -m conformance.runner.peer THREADS TF32 DETERMINISTIC`: it reads pickled requests
on stdin and writes pickled replies on the stdout it started with (the frameworks' own output goes
to stderr).
"""

import atexit
import os
import pickle
import subprocess
import sys

from conformance.subjects import Subject, loaded_layer, resolve


class PeerError(RuntimeError):
    """The peer could not compute what was asked (its message says what it raised)."""


class Peer:
    """The client side: results of a subject at `threads` framework threads, computed in the
    peer process."""

    def __init__(self, threads: int, here: int, tf32: str, deterministic: bool):
        self.threads = threads
        #: the thread count of the worker it serves
        self.here = here
        self._args = [str(threads), tf32, "1" if deterministic else "0"]
        self._process: subprocess.Popen | None = None

    def results(self, subject: Subject, case, upstream) -> dict:
        """{"forward": y, "gradients": (dx, dweight, dbias) or None} for `case` (x rows as the
        case holds them, contiguous), computed by the same subject (its spec and mode) there."""
        request = {
            "spec": subject.spec, "mode": subject.mode, "gradients": subject.lacks("gradients") is None,
            "dtype": case.dtype, "device": case.device, "x": case.x, "weight": case.weight,
            "bias": case.bias, "upstream": upstream,
        }  # fmt: skip
        process = self._started()
        assert process.stdin is not None and process.stdout is not None
        try:
            pickle.dump(request, process.stdin)
            process.stdin.flush()
            reply = pickle.load(process.stdout)
        except (BrokenPipeError, EOFError, pickle.UnpicklingError) as exc:
            self.close()
            raise PeerError(
                f"the peer process at {self.threads} threads ended or broke the exchange "
                f"({type(exc).__name__}; exit {process.poll()})"
            ) from None
        except BaseException:  # interrupted mid-exchange: its reply would answer the next request
            self.close()
            raise
        if "error" in reply:
            raise PeerError(reply["error"])
        return reply

    def _started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            command = [sys.executable, "-m", "conformance.runner.peer", *self._args]
            # the worker's import path, so that a plug-in subject it loaded loads there too
            paths = os.pathsep.join(p for p in sys.path if p)
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": paths},
            )
            atexit.register(self.close)
        return self._process

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def _compute(subjects: dict, request: dict, settings: tuple[int, str, bool]) -> dict:
    from conformance.runner.farm import prepare_process
    from strategies import Case

    key = (request["spec"], request["mode"])
    if key not in subjects:
        subject = resolve(request["spec"])
        subject = subject.in_mode(request["mode"]) if request["mode"] != "eager" else subject
        prepare_process((subject,), *settings)
        subjects[key] = subject
    subject = subjects[key]
    case = Case(request["dtype"], request["device"], request["x"], request["weight"],
                request["bias"], "peer")  # fmt: skip
    layer = loaded_layer(subject, case)
    reply: dict = {"forward": subject.forward(layer, case.x), "gradients": None}
    if request["gradients"]:
        reply["gradients"] = subject.gradients(layer, case.x, request["upstream"])
    return reply


def serve(threads: int, tf32: str, deterministic: bool) -> None:
    """Answer requests until stdin closes."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what the frameworks print goes to stderr, never into the replies
    sys.stdout = sys.stderr
    subjects: dict = {}
    requests = sys.stdin.buffer
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        try:
            reply = _compute(subjects, request, (threads, tf32, deterministic))
        except Exception as exc:  # the client raises it as a PeerError, naming it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        pickle.dump(reply, channel)
        channel.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1")
