"""Conformance of torch.nn.Linear and Keras Dense: subjects, oracle, contracts, properties."""
