"""This checkout's pytest configuration: the suite's entry point, for a checkout where the package
is not installed (installed, its pytest11 entry point registers the same module under the same
name, so it is registered once)."""

pytest_plugins = ("conformance.runner.entry",)
