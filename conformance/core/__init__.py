"""The core: floating-point formats, the oracle, contracts and the bounds they imply, budget used,
observation codes and statuses, a cell's identity, judge and record, the registry of known
divergences, size caps, the CPU's instruction set, and how a failing example's arrays travel.

It imports nothing of the suite (numpy and ml_dtypes only): strategies, subjects, properties,
the pytest plugin and the reports all stand on it.
"""
