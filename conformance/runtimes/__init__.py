"""The frameworks the subjects run on, as runtimes the subjects share: torch, TensorFlow, JAX and
Keras (its backend and its autodiff on each), each a module of its own that imports the core and
its framework (lazily), never a subject. Here: what every runtime uses.
"""


def once_per_layer(layer, key, make):
    """make(), made once per layer and key (a staged or compiled call of that layer), kept in the
    layer's __dict__: past Keras' attribute tracking and torch's Module.__setattr__."""
    cache = layer.__dict__.setdefault("conformance_once", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def device_parts(device: str) -> tuple[str, str]:
    """("cpu" or "gpu", index) for a suite device name: cpu, cpu:N, cuda:N."""
    kind, _, index = device.partition(":")
    return ("gpu" if kind == "cuda" else kind), index or "0"
