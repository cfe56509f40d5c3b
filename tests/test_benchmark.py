"""The benchmark keeps running: every part prints its figures (no timing is asserted)."""

import subprocess
import sys

from tests.benchmark import PARTS
from tests.conftest import ROOT


def test_the_benchmark_prints_every_figure_of_every_part():
    command = [
        sys.executable, "-m", "tests.benchmark", "--examples", "5", "--subjects", "torch,keras",
        "--dtypes", "float32", "--workers", "1",
        "--select", "forward_within_bound and torch-cpu-float32",
    ]  # fmt: skip
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("property"))
    assert all(part in header for part in PARTS)
    for prop in ("forward", "gradients"):
        for subject in ("torch", "keras/tensorflow"):
            row = next(
                line.split() for line in lines if line.startswith(f"{prop} ") and subject in line
            )
            # examples/s, one figure per part, the bare calls' rate and the ratio: all numbers
            assert len([float(v) for v in row[3:]]) == 1 + len(PARTS) + 2, row
        assert any(line.startswith(f"{prop} ") and "cells together" in line for line in lines)
    farm = next(line.split() for line in lines if line.split()[:1] == ["1"])
    assert int(farm[2]) > 0 and float(farm[5]) == 1.0, farm  # examples ran; baseline speed-up
