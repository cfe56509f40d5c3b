"""The core: floating-point formats, the oracle, contracts and the bounds they imply, budget used,
observation codes and statuses, and how a failing example's arrays travel.

It imports nothing of the suite (numpy and ml_dtypes only): strategies, subjects, properties,
the pytest plugin and the reports all stand on it.
"""
