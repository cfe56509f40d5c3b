"""The runner: the pytest plugins that turn properties into cells and run them (options and
selection, one Hypothesis test per cell, reduction to the smallest failing case, signals, shards
and worker farms) and the GPU check that wraps a whole run. It stands on the properties, the
subjects and the core; the reports stand on what it records.
"""
