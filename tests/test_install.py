"""The suite as its users install it: a wheel built from this checkout, installed into a fresh
venv that already holds the frameworks (whatever versions it holds: the package pins none), run
from an empty directory, its report read with the console script; and the commands a failing run
prints, pasted into a shell that activated nothing."""

import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, verdict_of


def run(*command, cwd, env=None, check=True) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    done = subprocess.run([str(c) for c in command], cwd=cwd, env={**environ, **(env or {})},
                          capture_output=True, text=True, check=False, timeout=1800)  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(
            f"{command}: exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done


@pytest.fixture(scope="session")
def venv(tmp_path_factory) -> Path:
    """A fresh venv whose frameworks are this interpreter's (a .pth file points at them), with
    the wheel installed by pip, which finds every dependency the package declares satisfied;
    made once for the whole self-test session, also under xdist (the first worker to ask makes
    it, holding a lock)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    where = root / "installed"
    with open(root / "installed.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (where / "venv" / "bin" / "conformance-reports").exists():
            install(where)
    return where / "venv" / "bin"


def install(where: Path) -> None:
    """Build the wheel from a copy of the checkout's files (a build writes build/ and *.egg-info
    beside the sources), install it into a fresh venv."""
    source, dist = where / "source", where / "dist"
    tracked = run("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file() and not name.startswith("tests/"):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=where)
    (wheel,) = dist.glob("linear_dense_conformance-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"conformance/divergences.toml", "reports/schema.json"} <= set(names), names
    assert not any(n.startswith("tests/") for n in names), "the self-tests are not shipped"
    run(sys.executable, "-m", "venv", where / "venv", cwd=where)
    python = where / "venv" / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  cwd=where).stdout.strip()  # fmt: skip
    Path(purelib, "frameworks.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(python, "-m", "pip", "install", "-q", "--no-index", wheel, cwd=where)


def test_the_installed_suite_runs_from_an_empty_directory_and_reports_there(venv, tmp_path):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    suite = run(venv / "python", "-m", "pytest", "--pyargs", "conformance", "-p", "no:randomly",
                "-n", "2", "--devices", "cpu", "--dtypes", "float32", "--hypothesis-profile", "ci",
                "-k", "forward_within_bound or weight_round_trip", cwd=empty)  # fmt: skip
    assert verdict_of(suite.stdout).startswith(
        "torch.nn.Linear and Keras Dense (tensorflow backend) agree on cpu in float32"
    ), suite.stdout
    assert (empty / "conformance-report" / "report.json").exists()
    shown = run(venv / "conformance-reports", "show", "conformance-report", cwd=empty)
    assert shown.stdout.startswith("torch.nn.Linear and Keras Dense"), shown.stdout
    assert run(venv / "python", "-m", "reports", "show", "conformance-report", cwd=empty).stdout
    # the console script that wraps the suite takes the same arguments
    again = run(venv / "linear-dense-conformance", "-p", "no:randomly", "--devices", "cpu",
                "--dtypes", "float32", "--subjects", "torch", "-k", "weight_round_trip",
                "--report-dir=again", cwd=empty)  # fmt: skip
    assert (empty / "again" / "report.json").exists(), again.stdout


def test_an_unrelated_run_in_the_same_venv_imports_no_framework(venv, tmp_path):
    (tmp_path / "test_theirs.py").write_text(
        "import sys\n\ndef test_theirs():\n"
        "    assert not {'torch', 'tensorflow', 'keras', 'hypothesis'} & set(sys.modules)\n"
    )
    run(venv / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_theirs.py",
        cwd=tmp_path)  # fmt: skip
    assert not (tmp_path / "conformance-report").exists()


PLUGIN = '''"""A -p plug-in that breaks torch's Linear once imported (a bug a run loads)."""
import torch

_forward = torch.nn.Linear.forward
torch.nn.Linear.forward = lambda self, x: _forward(self, x) * 2
'''


def test_a_printed_replay_command_works_pasted_into_a_shell_that_activated_nothing(venv, tmp_path):
    """A failure caused by a plug-in the run loaded (-p, from PYTHONPATH) replays as still
    failing, exit 1, when its printed command is pasted elsewhere, with no PYTHONPATH; a
    reproducer run by an interpreter without the suite's packages exits 2 with one line."""
    plugins, empty, other = tmp_path / "plugins", tmp_path / "run", tmp_path / "other"
    for folder in (plugins, empty, other):
        folder.mkdir()
    (plugins / "mybug.py").write_text(PLUGIN)
    failing = run(venv / "python", "-m", "pytest", "--pyargs", "conformance", "-p", "mybug",
                  "-p", "no:randomly", "--devices", "cpu", "--dtypes", "float32", "--subjects",
                  "torch", "-k", "forward_within_bound", "--hypothesis-profile", "ci",
                  cwd=empty, env={"PYTHONPATH": str(plugins)}, check=False)  # fmt: skip
    assert failing.returncode == 1, failing.stdout[-3000:]
    printed = [line for line in failing.stdout.splitlines() if line.startswith("replay: ")]
    assert printed, failing.stdout[-3000:]
    command = printed[0].removeprefix("replay: ").split("  (written")[0]
    pasted = subprocess.run(["/bin/sh", "-c", command], cwd=other, env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert pasted.returncode == 1 and "STILL FAILING" in pasted.stdout, (
        pasted.stdout + pasted.stderr
    )
    script = shlex.split(command)[-1]
    base = Path(sys.base_prefix, "bin", "python3")  # the interpreter the venvs were made from
    bare = subprocess.run([base, "-I", script], cwd=other, env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)  # fmt: skip
    if base.exists():
        assert bare.returncode == 2, bare.stdout + bare.stderr
        assert bare.stdout.startswith("cannot replay: No module named"), bare.stdout
        assert len((bare.stdout + bare.stderr).strip().splitlines()) == 1
