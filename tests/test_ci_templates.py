"""The CI templates in docs/ parse, and every command they run exists with the options they give it."""

import re
import shlex
import subprocess
import sys

import pytest
import yaml

from reports.__main__ import parser as reports_parser
from tests.conftest import ROOT

TEMPLATES = {
    "github": ROOT / "docs" / "github-actions.yml",
    "gitlab": ROOT / "docs" / "gitlab-ci.yml",
}
#: what the templates' CI variables stand for in one job
VARIABLES = {
    "matrix.shard": "1",
    "matrix.subject": "flax",
    "CI_NODE_INDEX": "1",
    "CI_NODE_TOTAL": "4",
}
#: files a run or a merge writes into a report directory
REPORT_FILES = {"report.json", "junit.xml", "summary.md", "report.html"}
SHELL = {"if", "then", "fi", "cat", "echo", "[", "true"}


def scripts(name: str) -> list[str]:
    """Every shell script a template runs (GitHub `run` steps, GitLab scripts)."""
    data = yaml.safe_load(TEMPLATES[name].read_text())
    if name == "github":
        steps = [s for job in data["jobs"].values() for s in job["steps"]]
        assert all("run" in s or "uses" in s for s in steps)
        return [s["run"] for s in steps if "run" in s]
    jobs = [job for job in data.values() if isinstance(job, dict) and "script" in job]
    return [
        line
        for job in [data["default"], *jobs]
        for key in ("before_script", "script")
        for line in job.get(key, [])
    ]


def commands(script: str) -> list[list[str]]:
    """The simple commands of a script, with CI variables replaced by one job's values."""
    script = re.sub(r"\$\{\{\s*([\w.]+)[^}]*\}\}", lambda m: VARIABLES.get(m[1], ""), script)
    script = re.sub(r"\$\{?(\w+)\}?", lambda m: VARIABLES.get(m[1], ""), script)
    found: list[list[str]] = []
    current: list[str] = []
    script = script.replace("\\\n", " ").replace("\n", " ; ").replace(";", " ; ")
    for token in [*shlex.split(script, posix=True), ";"]:
        if token in (";", "&&", "||", "|", ">", ">>"):
            if current:
                found.append(current)
            current = [] if token not in (">", ">>") else ["redirect"]
        else:
            current.append(token)
    return [c for c in found if c[0] not in SHELL and c[0] != "redirect"]


def all_commands() -> list[tuple[str, list[str]]]:
    return [
        (name, command)
        for name in TEMPLATES
        for script in scripts(name)
        for command in commands(script)
    ]


def tox_environments() -> set[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "tox", "list"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {line.split(" ->")[0].strip() for line in listed.splitlines() if "->" in line}


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_parses_and_runs_only_python_modules(name):
    found = [c for n, c in all_commands() if n == name]
    assert found
    assert all(c[:2] == ["python", "-m"] for c in found), found


def test_every_report_file_the_templates_read_is_one_a_run_writes():
    text = " ".join(path.read_text() for path in TEMPLATES.values())
    read = set(re.findall(r"[\w-]+/([\w.]+\.(?:json|xml|md|html))", text))
    assert read and read <= REPORT_FILES | {"diff.json"}


def test_reports_commands_parse():
    for _, command in all_commands():
        if command[2] == "reports":
            reports_parser().parse_args(command[3:])  # SystemExit(2) on a bad one


def test_tox_environments_exist():
    named = [c[c.index("-e") + 1] for _, c in all_commands() if c[2] == "tox"]
    assert named and set(named) <= tox_environments()


def test_pip_installs_as_the_readme_sets_up():
    readme = (ROOT / "README.md").read_text()
    set_up = readme.split("## Set up", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    (install,) = [shlex.split(line) for line in set_up.splitlines() if "pip install" in line]
    for _, command in all_commands():
        if command[2] == "pip":
            assert command[3:] == install[1:], command


def test_pytest_commands_are_accepted_by_the_suite(tmp_path):
    """Each pytest line collects (options valid, shard and database accepted) without running."""
    for index, (_, command) in enumerate(all_commands()):
        if command[2] != "pytest":
            continue
        args = [
            str(tmp_path / f"{index}-{a}") if previous in ("--report-dir", "--example-db") else a
            for previous, a in zip([None, *command], command, strict=False)
        ]
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--co", "-q", *args[3:]],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
