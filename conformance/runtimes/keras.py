"""Keras 3 as a subject's runtime: which backend it runs on (one per process, chosen before Keras is
imported), what computes a Dense there, and the backward pass of a Dense through that backend's
own autodiff: TensorFlow's GradientTape, JAX's vjp over the layer's `__call__` in a
StatelessScope, torch's autograd. Each gives, for L = sum(upstream * layer(x)), the gradients with
respect to x and the layer's variables, and d||dL/dx||^2/dkernel.
"""

import json
import os
import sys

import numpy as np

from conformance.runtimes import once_per_layer
from conformance.runtimes.jax import jax_runtimes
from conformance.runtimes.torch import torch_runtimes

BACKEND_MODULES = {
    "tensorflow": ("keras", "tensorflow"),
    "jax": ("keras", "jax"),
    "torch": ("keras", "torch"),
}
BACKENDS = tuple(BACKEND_MODULES)


def keras_backend() -> str:
    """The backend Keras runs on once imported, else the one it will load: $KERAS_BACKEND, else
    keras.json, else tensorflow (Keras' own order)."""
    if "keras" in sys.modules:  # asked for every label: no file read once Keras decided
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def keras_runtimes(backend: str, device: str) -> tuple[str, ...]:
    """What computes Keras Dense on `backend` on `device` (Subject.runtimes)."""
    gpu = device.startswith("cuda")
    if backend == "torch":
        return torch_runtimes(device)
    if backend == "jax":
        return jax_runtimes(device)
    return ("tensorflow-gpu", "cublas") if gpu else ("tensorflow-cpu",)


def variables(layer) -> list:
    """The layer's parameters in canonical order: kernel, then bias when it has one."""
    return [layer.kernel] + ([layer.bias] if layer.use_bias else [])


class TensorFlowTape:
    """TensorFlow backend (and legacy tf_keras)."""

    @staticmethod
    def host(tensor) -> np.ndarray:
        return tensor.numpy()

    def gradients(self, layer, x, upstream) -> list:
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt)
        return tape.gradient(
            y, [xt, *variables(layer)], output_gradients=tf.convert_to_tensor(upstream)
        )

    def second_derivative(self, layer, x, upstream):
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(xt)
                y = layer(xt)
            dx = inner.gradient(y, xt, output_gradients=tf.convert_to_tensor(upstream))
            norm = tf.reduce_sum(dx * dx)
        return outer.gradient(norm, layer.kernel)


class JaxVjp:
    """JAX backend: the layer as a pure function of (x, trainable values): its `__call__` in a
    StatelessScope that maps its variables to those values, as a Keras model's `stateless_call`
    (which Keras' JAX trainer runs) calls each of its layers. `Layer.stateless_call` itself would
    skip `__call__`: no input cast, no dtype policy. With `jit`, each computation is
    jax.jit-compiled, once per layer (Keras on JAX in jit mode)."""

    def __init__(self, jit: bool = False):
        self.jit = jit

    @staticmethod
    def host(tensor) -> np.ndarray:
        return np.asarray(tensor)

    @staticmethod
    def _function(layer):
        import keras

        frozen = [v.value for v in layer.non_trainable_variables]

        def apply(x, trainable):
            mapping = [*zip(layer.trainable_variables, trainable, strict=True),
                       *zip(layer.non_trainable_variables, frozen, strict=True)]  # fmt: skip
            with keras.StatelessScope(state_mapping=mapping):
                return layer(x)

        trainable = [v.value for v in layer.trainable_variables]
        order = [
            next(i for i, v in enumerate(layer.trainable_variables) if v is p)
            for p in variables(layer)
        ]
        return apply, trainable, order

    def _staged(self, layer, what: str, make):
        """make(apply), a function of (x, trainable values, ...): as it is, or under jax.jit,
        compiled once per layer and what (the values are arguments, so new weights show)."""
        if not self.jit:
            return make(self._function(layer)[0])
        import jax

        return once_per_layer(layer, ("jit", what), lambda: jax.jit(make(self._function(layer)[0])))

    def call(self, layer, x):
        """The layer's result for x, as this mode computes it."""
        _, trainable, _ = self._function(layer)
        return self._staged(layer, "call", lambda apply: apply)(x, trainable)

    def gradients(self, layer, x, upstream) -> list:
        import jax
        import jax.numpy as jnp

        def make(apply):
            def gradients(x, trainable, upstream):
                y, pullback = jax.vjp(apply, x, trainable)
                return pullback(upstream.astype(y.dtype))

            return gradients

        _, trainable, order = self._function(layer)
        run = self._staged(layer, "gradients", make)
        dx, dtrainable = run(jnp.asarray(x), trainable, jnp.asarray(upstream))
        return [dx, *(dtrainable[i] for i in order)]

    def second_derivative(self, layer, x, upstream):
        import jax
        import jax.numpy as jnp

        def make(apply):
            def second(x, trainable, upstream):
                def norm(values):
                    y, pullback = jax.vjp(lambda v: apply(v, values), x)
                    (dx,) = pullback(upstream.astype(y.dtype))
                    return jnp.sum(dx * dx)

                return jax.grad(norm)(trainable)

            return second

        _, trainable, order = self._function(layer)
        run = self._staged(layer, "second_derivative", make)
        return run(jnp.asarray(x), trainable, jnp.asarray(upstream))[order[0]]


class TorchAutograd:
    """torch backend: the variables are torch parameters; autograd.grad leaves no .grad behind."""

    @staticmethod
    def host(tensor) -> np.ndarray:
        from conformance.runtimes.torch import to_numpy

        return to_numpy(tensor)

    @staticmethod
    def _inputs(layer, x, upstream):
        from conformance.runtimes.torch import to_tensor

        device = layer.kernel.value.device
        return to_tensor(x, device).requires_grad_(True), to_tensor(upstream, device)

    def gradients(self, layer, x, upstream) -> list:
        import torch

        xt, gt = self._inputs(layer, x, upstream)
        params = [v.value for v in variables(layer)]
        return list(torch.autograd.grad(layer(xt), [xt, *params], gt))

    def second_derivative(self, layer, x, upstream):
        import torch

        xt, gt = self._inputs(layer, x, upstream)
        (dx,) = torch.autograd.grad(layer(xt), xt, gt, create_graph=True)
        (dkernel,) = torch.autograd.grad((dx * dx).sum(), layer.kernel.value)
        return dkernel


AUTODIFF = {"tensorflow": TensorFlowTape, "jax": JaxVjp, "torch": TorchAutograd}
