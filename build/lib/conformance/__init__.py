"""Conformance of torch.nn.Linear and Keras Dense, in layers that import one way only:

- `conformance.core`: formats, oracle, contracts and bounds, budget, observation codes, statuses
  (imports nothing of the suite);
- `conformance.subjects`: the implementations under test (imports the core);
- `strategies` (beside this package): the examples Hypothesis draws (imports the core);
- the rest of `conformance`: cells, the divergence registry, the property declarations
  (`properties/`), options, the pytest plugin, farms, signals, the GPU check, the generated docs
  (imports the core, subjects and strategies, never `reports`).
`reports` stands on top and reads what a run records. tests/test_architecture.py checks it.
"""
