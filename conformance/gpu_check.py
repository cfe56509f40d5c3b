"""The GPU check: torch Linear on CUDA against Keras Dense on the JAX and on the torch backend on
CUDA, with the cross-device property (each GPU result and the CPU result within their bounds).

    python -m conformance.gpu_check [--out DIR] [--workers N] [--profile smoke]

One suite run per Keras backend (one backend per process), on the CUDA devices only, with the
`smoke` profile (25 derandomized examples per cell: JAX compiles every new shape). It needs
torch, jax and keras but no TensorFlow. It prints each run's summary and the environment
fingerprint (devices, versions, TF32 flags), and leaves DIR/<backend>/report.json beside the
other report files. Without a GPU it runs too, and every GPU cell is reported skipped with its
reason. Exit status: 0 when no cell failed, 1 when one did, 2 when a run wrote no report.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from reports import outputs

BACKENDS = ("jax", "torch")
ROOT = Path(__file__).resolve().parents[1]


def run(backend: str, out: Path, workers: int, profile: str) -> dict | None:
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-n", str(workers),
        "--keras-backend", backend, "--subjects", "torch,keras", "--devices", "cuda",
        "--special-values", "--hypothesis-profile", profile, f"--report-dir={out / backend}",
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    print(
        f"== keras on {backend}: pytest exit {proc.returncode} in {time.perf_counter() - started:.0f} s"
    )
    path = out / backend / "report.json"
    if not path.exists():
        print((proc.stdout + proc.stderr)[-3000:])
        return None
    return json.loads(path.read_text())


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu-check-report")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", default="smoke")
    args = parser.parse_args(argv)
    worst = 0
    for backend in BACKENDS:
        data = run(backend, Path(args.out), args.workers, args.profile)
        if data is None:
            worst = 2
            continue
        failures = outputs.failure_lines(data)
        for line in outputs.summary_lines(data) + failures:
            print(line)
        worst = max(worst, 1 if failures else 0)
        skipped = {c["reason"] for c in data["cells"] if c["status"] == "skipped"}
        for reason in sorted(skipped):
            print(f"skipped: {reason}")
        print("environment:", json.dumps(fingerprint(data), indent=1, default=str))
    return worst


if __name__ == "__main__":
    sys.exit(main())
