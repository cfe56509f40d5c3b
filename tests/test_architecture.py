"""Dependencies run one way: each package imports only the layers below it (every import counts,
those inside functions too), so the folder layout is the architecture."""

import ast

import pytest

from tests.conftest import ROOT

#: package -> the packages it may import (the most specific package a module is in decides)
MAY_IMPORT = {
    "conformance.core": ("conformance.core",),
    "conformance.subjects": ("conformance.core", "conformance.subjects"),
    "strategies": ("conformance.core", "strategies"),
    "conformance": ("conformance", "strategies"),
    "reports": ("conformance", "strategies", "reports"),
}
SUITE = ("conformance", "strategies", "reports", "tests")


def package(module: str) -> str:
    return max((p for p in MAY_IMPORT if module == p or module.startswith(p + ".")), key=len)


def imports(path) -> set[str]:
    """The suite's modules `path` imports (`from pkg import name` counts as pkg.name)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {m for m in found if m.split(".")[0] in SUITE}


MODULES = sorted(
    p for top in ("conformance", "strategies", "reports") for p in (ROOT / top).rglob("*.py")
)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_one_way(path):
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    allowed = MAY_IMPORT[package(module)]
    wrong = [m for m in imports(path) if not any(m == a or m.startswith(a + ".") for a in allowed)]
    assert not wrong, f"{module} ({package(module)}) imports {wrong}; it may import {allowed}"


def test_the_check_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from reports import outputs\n")
    assert imports(bad) == {"reports.outputs"}
    assert (
        package("conformance.cell") == "conformance"
        and package("conformance.core.oracle") == "conformance.core"
    )
