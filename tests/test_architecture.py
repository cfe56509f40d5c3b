"""Dependencies run one way, module by module: each module imports only the layers below it and,
in its own layer, what that layer allows; no import cycle exists, counting the imports inside
functions too (a function-level import that dodges a cycle is still one). The folders are the
layers:

    conformance.core            formats, contracts, oracle, judge, registry, cells, identity
    conformance.runtimes        torch, TensorFlow, JAX, Keras as runtimes     (core)
    conformance.subjects        the implementations under test                (core, runtimes)
    strategies                  what Hypothesis draws                         (core)
    conformance.properties      the declarations and what their checks share (+ subjects, strategies)
    conformance.runner          pytest plugin, options, farms, signals, GPU check (+ properties)
    conformance                 the matrix module, the docs tool, __main__    (+ runner)
    reports                     the report, its files and CLI                 (everything)
"""

import ast
import sys

import pytest

from tests.conftest import ROOT

SUITE = ("conformance", "strategies", "reports")
BELOW = {
    "conformance.core": (),
    "conformance.runtimes": ("conformance.core",),
    "conformance.subjects": ("conformance.core", "conformance.runtimes"),
    "strategies": ("conformance.core",),
    "conformance.properties": (
        "conformance.core", "conformance.runtimes", "conformance.subjects", "strategies",
    ),
    "conformance.runner": (
        "conformance.core", "conformance.runtimes", "conformance.subjects", "strategies",
        "conformance.properties",
    ),
    "conformance": ("conformance", "strategies"),
    "reports": ("conformance", "strategies"),
}  # fmt: skip
#: within conformance.subjects, a subject module imports these of its own layer, never another
#: subject (the runtimes hold what subjects share)
SUBJECTS_SHARED = ("conformance.subjects.base", "conformance.subjects.availability")


def modules(root=ROOT) -> dict[str, object]:
    found = {}
    for top in SUITE:
        for path in sorted((root / top).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def layer(module: str) -> str:
    return max((p for p in BELOW if module == p or module.startswith(p + ".")), key=len)


def imports(path, known=MODULES) -> dict[str, bool]:
    """The suite's modules `path` imports -> whether only inside a function (a lazy import);
    `from pkg import name` counts as the module pkg.name where there is one, else pkg."""
    found: dict[str, bool] = {}

    def visit(node, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            targets = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                targets = [
                    f"{child.module}.{a.name}"
                    if f"{child.module}.{a.name}" in known
                    else child.module
                    for a in child.names
                ]
            for target in targets:
                if target.split(".")[0] in SUITE:
                    found[target] = found.get(target, True) and inner
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_the_layers_below_it(name):
    own = layer(name)
    allowed = (*BELOW[own], own)
    wrong = [
        m
        for m in imports(MODULES[name])
        if not any(m == a or m.startswith(a + ".") for a in allowed)
    ]
    assert not wrong, f"{name} (layer {own}) imports {wrong}; it may import {allowed}"
    if own == "conformance.subjects" and name not in ("conformance.subjects", *SUBJECTS_SHARED):
        others = [m for m in imports(MODULES[name]) if layer(m) == own and m not in SUBJECTS_SHARED]
        assert not others, f"{name} imports another subject's module {others}: use a runtime"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def graph(known=MODULES) -> dict[str, set[str]]:
    """Every import between the suite's modules, those inside functions too."""
    return {
        name: {m for m in imports(path, known) if m in known and m != name}
        for name, path in known.items()
    }


def test_no_import_cycle_not_even_through_an_import_inside_a_function():
    assert cycles(graph()) == []


def test_the_checks_see_a_wrong_import_and_a_dodged_cycle(tmp_path):
    for folder in ("conformance/core", "conformance/runner", "strategies", "reports"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "conformance/core/low.py").write_text(
        "def f():\n    from conformance.runner import high\n"  # a layer above, lazily
    )
    (tmp_path / "conformance/runner/high.py").write_text("from conformance.core import low\n")
    known = modules(tmp_path)
    assert imports(known["conformance.core.low"], known) == {"conformance.runner.high": True}
    assert cycles(graph(known)) == [["conformance.core.low", "conformance.runner.high"]]
    assert layer("conformance.core.low") == "conformance.core"
