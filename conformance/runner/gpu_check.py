"""The GPU check: torch Linear on CUDA against Keras Dense on the JAX and on the torch backend on
CUDA, with the cross-device property (each GPU result and the CPU result within their bounds).

    python -m conformance.runner.gpu_check [--out DIR] [--workers N] [--profile smoke] [--devices cuda]
                                    [--dtypes LIST]

One suite run per Keras backend (one backend per process), on the CUDA devices only, with the
`smoke` profile (25 derandomized examples per cell), in every dtype and both mixed-precision
policies (autocast and Keras' policies on cuBLAS); Keras on JAX draws each cell's shapes from
a fixed pool (JAX compiles every new shape). It needs torch, jax and keras but no TensorFlow.
Each run prints its verdict as it ends and leaves DIR/<backend>/report.json beside the other
report files; the check then prints examples/s per backend and the environment fingerprint
(devices, versions, TF32 flags), and before it what the reproducibility properties found per
subject x dtype x device (the same bits on a second call and in another batch, and the share of
identical bits between torch and Keras). Without a GPU every GPU cell is reported skipped with
its reason.

SIGINT and SIGTERM (what CI time-outs send) are passed on to the run in progress, which writes
its report marked incomplete; the check waits for it and starts no further run.
Exit status: 0 when no cell failed, 1 when one did, 2 when a run wrote no report, 128 + the
signal's number when interrupted.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conformance.core.formats import ALL_DTYPES
from conformance.core.record import records
from conformance.core.reproducibility import describe
from conformance.core.status import BROKEN
from conformance.runner import signals
from conformance.runner.farm import usable_cpus

BACKENDS = ("jax", "torch")
#: the folder that holds this package (a checkout, or site-packages)
HOME = Path(__file__).resolve().parents[2]
#: how long a run may take to write its report once interrupted (it waits for its session to
#: start, which on a loaded machine can take minutes, then writes it within a second)
GRACE_S = 600


class Interrupts:
    """Signals received by the check, passed on to the run in progress."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.at: float | None = None
        self.run: subprocess.Popen | None = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.forward)

    def forward(self, signum, frame) -> None:
        if not self.received and self.run is not None and self.run.poll() is None:
            self.run.send_signal(signum)
        self.received.append(signum)
        self.at = self.at or time.monotonic()

    def wait(self) -> int:
        """The run's exit status; killed when it has not ended GRACE_S after an interrupt."""
        run = self.run
        assert run is not None, "wait() follows starting a run"
        while (status := run.poll()) is None:
            if self.at is not None and time.monotonic() - self.at > GRACE_S:
                os.killpg(run.pid, signal.SIGKILL)
                print(f"== no report within {GRACE_S} s of the interrupt: the run was killed")
                return run.wait()
            time.sleep(0.2)
        return status


def run(backend: str, args, interrupts: Interrupts) -> dict | None:
    out, workers = Path(args.out).resolve(), args.workers
    # the suite this process imported: started in the folder that holds the package (first on
    # its path there), so neither the user's directory (its conftest.py, ini file or a folder
    # named like a package of the suite) nor another install of the suite takes its place
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:randomly",
        "-p", "no:cacheprovider", "-n", str(workers),
        "--keras-backend", backend, "--subjects", "torch,keras", "--devices", args.devices,
        "--dtypes", args.dtypes,
        "--special-values", "--hypothesis-profile", args.profile, f"--report-dir={out / backend}",
    ]  # fmt: skip
    started = time.perf_counter()
    # its own session: the run hears a signal once, from here, and its workers stay its own;
    # started with SIGINT and SIGTERM held back here and there (a signal mask is inherited): one
    # that comes while it starts is passed on once it has started, and waits there for its
    # session, so it ends the run with a report
    with signals.held():
        interrupts.run = subprocess.Popen(command, cwd=HOME, start_new_session=True)
    print(f"== keras on {backend}: {' '.join(command[1:])}", flush=True)
    status = interrupts.wait()
    wall = time.perf_counter() - started
    path = out / backend / "report.json"
    if not path.exists():
        print(f"== keras on {backend}: pytest exit {status} in {wall:.0f} s, and no report")
        return None
    data = json.loads(path.read_text())
    examples = sum(c.examples for c in records(data))
    state = (
        "complete" if data["run"]["complete"] else f"INCOMPLETE: {data['run']['incomplete_reason']}"
    )
    print(
        f"== keras on {backend}: pytest exit {status} in {wall:.0f} s, {examples} examples "
        f"({examples / wall:.1f}/s on {workers} workers), {state}; report {path}"
    )
    return data


def fingerprint(data: dict) -> dict:
    """What tells this machine apart: devices, versions, TF32 and reduced-precision flags."""
    env = data.get("environment") or {}
    subjects = {
        label: {k: v for k, v in found.items() if "build" not in k}
        for label, found in (env.get("subjects") or {}).items()
    }
    return {
        "versions": env.get("versions"),
        "cpu": (env.get("cpu") or {}).get("model"),
        "subjects": subjects,
        "workers": data["run"].get("processes"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.runner.gpu_check",
        description=" ".join(__doc__.split("\n\n")[0].split()),
    )
    parser.add_argument("--out", default="gpu-check-report")
    parser.add_argument(
        "--workers", type=int, default=min(8, usable_cpus()),
        help="xdist workers per run (default: the usable CPUs, at most 8)",
    )  # fmt: skip
    parser.add_argument("--profile", default="smoke")
    parser.add_argument(
        "--devices", default="cuda",
        help="devices to run on (default cuda; cpu runs the same check on the CPU)",
    )  # fmt: skip
    parser.add_argument(
        "--dtypes", default=",".join(ALL_DTYPES),
        help="dtypes to run (default: every plain dtype and both mixed-precision policies)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    interrupts, worst = Interrupts(), 0
    for backend in BACKENDS:
        if interrupts.received:  # before the first run started: none starts
            break
        data = run(backend, args, interrupts)
        if data is None:
            worst = 2
        else:
            failed = [c for c in records(data) if c.ended in BROKEN]
            worst = max(worst, 1 if failed else 0)
            for row in data.get("reproducibility", []):  # what cuBLAS and XLA did, bit for bit
                print(f"reproducibility: {describe(row)}")
            print("environment:", json.dumps(fingerprint(data), indent=1, default=str))
    if interrupts.received:
        name = signal.Signals(interrupts.received[0]).name
        print(f"== interrupted ({name}): no further run started")
        return 128 + interrupts.received[0]
    return worst


if __name__ == "__main__":
    sys.exit(main())
