"""Root configuration: options, Hypothesis profiles, and the suite's pytest plugins."""

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from conformance import signals
from conformance.options import SELECTION, OptionError, add_options, parse

pytest_plugins = ("conformance.plugin", "reports.plugin")
# TensorFlow's C++ warnings (the LiteRT converter writes several per conversion) are not the
# suite's to act on; a level the user set stays
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# SIGTERM (a CI time-out) ends a run as Ctrl-C does; xdist workers leave it to the controller
if "PYTEST_XDIST_WORKER" in os.environ:
    signals.ignore_signals()
else:
    signals.interrupt_on_signals()

# Every example calls real frameworks (first calls warm up), and a cell fixture deliberately
# accumulates over all examples of its test.
# No explain phase: it lists the suite's own lines, while a failure already says which subject left
# which bound where. No target phase: in Hypothesis 6.170 its hill climbing can re-run the same
# overrunning attempt without end (a replay that falls out of step with the strategy is cached
# under the choices it made, not those it was given, so the cache never answers it, and the
# optimiser goes round again while it makes calls) until Hypothesis' limit on invalid examples
# ends the whole test: a Keras bfloat16 cell ran 17,758 such attempts for 173 of 200 examples in
# 65 s, and five cells of a thorough run stopped at 289 to 938 of their 2,500 examples.
_COMMON: dict[str, Any] = {
    "deadline": None,
    "phases": tuple(p for p in Phase if p not in (Phase.explain, Phase.target)),
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}
settings.register_profile("dev", max_examples=50, **_COMMON)
# Builds on Hypothesis' own ci profile (derandomize, no database, print_blob).
settings.register_profile("ci", parent=settings.get_profile("ci"), max_examples=100, **_COMMON)
# Long runs explore with fresh randomness; no example database, failures still print a
# reproduce blob.
settings.register_profile("thorough", max_examples=2500, database=None, **_COMMON)
# A quick derandomized pass (the GPU check, backend smoke runs): JAX compiles every new shape.
settings.register_profile("smoke", max_examples=25, derandomize=True, database=None, **_COMMON)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_addoption(parser):
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    try:
        config.stash[SELECTION] = parse(config.getoption)
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
