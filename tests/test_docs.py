"""The docs say what the code does: generated pages up to date, every link inside the repository,
the worked example of adding a property runs, and the README stays a landing page."""

import re

from conformance.docs import main as generate
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_generated_pages_are_up_to_date():
    assert generate(["--check"]) == 0, "run python -m conformance.docs"


def test_every_link_points_inside_the_repository():
    for page in PAGES:
        text = page.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, page
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            assert path.exists() and ROOT in path.parents, f"{page.name}: {target}"


def test_the_readme_is_a_landing_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_the_worked_example_of_adding_a_property_runs(suite, tmp_path):
    page = (ROOT / "docs" / "adding-a-property.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    (tmp_path / "zero_input_example.py").write_text(code)
    run = suite("-p", "zero_input_example", "-k", "zero_input_gives_the_bias", "--dtypes", "float32",
                "--subjects", "torch,tests.planted:BiasAddedTwice",
                env={"PYTHONPATH": f"{ROOT}:{tmp_path}"})  # fmt: skip
    statuses = {c["subject"]: c["status"] for c in run.cells()}
    assert statuses == {"torch": "pass", "planted-bias-twice": "fail"}, run.output[-3000:]
    (torch,) = [c for c in run.cells() if c["subject"] == "torch"]
    # the promises of `cases` survive the example's .map: every layout reached, aimed if need be
    assert torch["unreached"] == [] and "layout fortran" in torch["coverage"], torch


def _commands(lines) -> list[str]:
    return [
        line.split("  #")[0].strip() for line in lines if line.strip() and not line.startswith("#")
    ]


def test_ci_runs_exactly_the_readmes_set_up_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = {
        heading: re.search(rf"## {heading}.*?```sh\n(.*?)```", readme, re.DOTALL)[1].splitlines()
        for heading in ("Set up", "Test the suite itself")
    }
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    ci = [line for line in ci if not line.startswith(("set -", "cd "))]
    assert _commands(ci) == _commands(blocks["Set up"] + blocks["Test the suite itself"])
