"""The suite's own tests: strategies, bound, registry, properties and planted bugs, reports and
CLI, signals, farms, the emulated GPU and its evidence, docs and architecture; the benchmark.
Tests may import anything."""
