"""The suite's pytest entry point: its `pytest11` entry point where the package is installed, and
this checkout's conftest.py where it is not (both register it under this module's name, so it
never registers twice).

It adds the suite's options to every run, and does nothing else unless the run collects the
suite's cells (a path or module it is given lies in this package, or a checkout that holds it):
then it registers the suite's plugins (`conformance.runner.plugin`, the cells; `reports.collector`, the
report), which set up signals, Hypothesis profiles, the selection and the frameworks. A run of
someone else's tests in the same environment imports no framework and changes no setting.
"""

import importlib.util
from pathlib import Path

import pytest

from conformance.runner.options import add_options

PACKAGE = Path(__file__).resolve().parents[1]  # conformance/
#: folders that hold installed packages: a run given one of their parents is not the suite's
INSTALLED = frozenset({"site-packages", "dist-packages", ".venv", "venv", ".tox"})
#: the plugins a run of the suite registers, in order
SUITE_PLUGINS = ("conformance.runner.plugin", "reports.collector")


def pytest_addoption(parser):
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    given = list(config.args) if config.args_source == pytest.Config.ArgsSource.ARGS else []
    stray = [arg for arg in given if not _collectable(arg, config)]
    rest = [arg for arg in given if arg not in stray]
    if stray and names_the_suite(config, rest or [str(config.invocation_params.dir)]):
        # under xdist the controller collects nothing: the run would end as 'no tests ran'
        raise pytest.UsageError(
            f"{stray[0]!r} names no file, folder or (with --pyargs) package to collect; "
            "options that take a list take it comma-separated: --dtypes float32,float64"
        )
    if names_the_suite(config, config.args):
        for name in SUITE_PLUGINS:
            config.pluginmanager.import_plugin(name)


def _collectable(arg: str, config) -> bool:
    """Whether a positional argument names something to collect."""
    target = arg.split("::")[0]
    if not target or Path(config.invocation_params.dir, target).exists():
        return True
    return bool(config.option.pyargs and _module_path(target))


def names_the_suite(config, args) -> bool:
    """Whether a run given `args` collects the suite's cells: one of them (for the run's own
    arguments, or the testpaths it falls back on) names a path or, under --pyargs, a module
    inside this package, or a checkout folder that holds it."""
    base = config.invocation_params.dir
    for arg in args:
        target = arg.split("::")[0]
        path = Path(base, target)
        if config.option.pyargs and not path.exists():
            path = _module_path(target) or path
        path = path.resolve()
        if path == PACKAGE or PACKAGE in path.parents:
            return True
        if path in PACKAGE.parents and not INSTALLED & set(PACKAGE.relative_to(path).parts):
            return True
    return False


def _module_path(name: str) -> Path | None:
    """Where module or package `name` lives (--pyargs), or None."""
    try:
        spec = importlib.util.find_spec(name)
    except Exception:  # a parent package that fails to import names nothing here
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin else None
