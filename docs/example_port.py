"""A worked example of a subject: a port of torch.nn.Linear to numpy, checked against torch.

Run it (the self-tests do, in tests/test_plugin_api.py):

    PYTHONPATH=docs python -m pytest -n 2 --subjects torch,example_port:NumpyPort \
        --devices cpu --hypothesis-profile ci

Replace the numpy arithmetic with your own port (a layer from a converter, an ONNX file run by
a runtime, a Flax or Keras re-implementation): the suite builds a layer, loads canonical weights
into it (weight (out, in), bias (out,), numpy arrays in the tested dtype), calls it on inputs of
every shape and layout it draws, and holds each result to the bound of the contract it derives.
"""

import math
from dataclasses import dataclass

import numpy as np

from conformance.subjects.base import Subject


@dataclass
class Layer:
    """The port's own layer: it keeps its kernel as (in, out), as Keras and Flax do."""

    kernel: np.ndarray
    bias: np.ndarray | None


class NumpyPort(Subject):
    name = "numpy-port"  # how cells, reports and the verdict name it

    def unsupported(self, dtype, device):
        # numpy has no bfloat16 matmul of its own: say so, and those cells skip with this reason
        return "numpy has no bfloat16 arithmetic" if dtype == "bfloat16" else None

    def build(self, in_features, out_features, bias, dtype, device):
        # the port's default initialisation (the default_initialisation property compares it)
        rng = np.random.default_rng(0)
        bound = 1 / np.sqrt(max(in_features, 1))
        kernel = rng.uniform(-bound, bound, (in_features, out_features)).astype(dtype)
        return Layer(
            kernel, rng.uniform(-bound, bound, out_features).astype(dtype) if bias else None
        )

    def load(self, layer, weight, bias):
        layer.kernel = np.ascontiguousarray(weight.T)  # every parameter overwritten
        if bias is not None:
            layer.bias = bias.copy()

    def read(self, layer):
        return np.ascontiguousarray(
            layer.kernel.T
        ), None if layer.bias is None else layer.bias.copy()

    def forward(self, layer, x):
        x = np.asarray(x)
        y = np.matmul(x.astype(layer.kernel.dtype), layer.kernel)  # x of any dtype is converted
        return y if layer.bias is None else y + layer.bias

    def gradients(self, layer, x, upstream):
        x = np.asarray(x)
        n = math.prod(x.shape[:-1])  # the batch rows (reshape(-1, ...) fails for 0 features)
        rows = x.reshape(n, x.shape[-1])
        g = upstream.reshape(n, upstream.shape[-1])
        dx = upstream @ layer.kernel.T
        dweight = g.T @ rows  # canonical (out, in)
        dbias = None if layer.bias is None else g.sum(axis=0, dtype=g.dtype)
        return dx, dweight, dbias
