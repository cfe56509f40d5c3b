"""Subject `flax` (optional): flax.nnx.Linear, a JAX-native port whose kernel is (in, out) like Keras'.

Skipped, saying why, where flax is not installed (`pip install flax`). JAX computes float64 in
float32 unless x64 is on (`flax_x64` turns it on, for the whole process); XLA compiles every new
shape, so its cells draw their shapes from a fixed pool.
"""

import numpy as np

from conformance.core.formats import FORMATS
from conformance.runtimes.jax import (
    jax_device,
    jax_devices,
    jax_precision_flags,
    jax_runtimes,
    prepare_jax,
)
from conformance.subjects.base import Subject


class FlaxLinear(Subject):
    name = "flax"
    requires: tuple[str, ...] = ("flax", "jax", "optax")
    install = "pip install flax"
    compiles_per_shape = True
    #: run JAX with 64-bit types (jax_enable_x64), so float64 is float64
    x64 = False

    def found_devices(self):
        return jax_devices()

    def prepare_process(self, threads, tf32):
        prepare_jax(threads, tf32, x64=self.x64)

    def precision_flags(self, dtype, device):
        return jax_precision_flags(device)

    def runtimes(self, dtype, device):
        return jax_runtimes(device)

    def unsupported_case(self, case):
        if case.in_features == 0 or case.out_features == 0:
            return (
                "nnx.Linear's default initialiser divides by the fan-in and fan-out, so a layer"
                " with 0 inputs or outputs raises ZeroDivisionError"
            )
        return None

    def build(self, in_features, out_features, bias, dtype, device):
        import jax
        from flax import nnx

        jdtype = FORMATS[dtype].numpy
        with jax.default_device(jax_device(device)):
            layer = nnx.Linear(
                in_features, out_features, use_bias=bias, dtype=jdtype, param_dtype=jdtype,
                rngs=nnx.Rngs(0),
            )  # fmt: skip
        layer.conformance_device = device
        return layer

    def _array(self, layer, value):
        import jax

        return jax.device_put(np.asarray(value), jax_device(layer.conformance_device))

    def load(self, layer, weight, bias):
        layer.kernel.set_value(self._array(layer, weight.T))
        if bias is not None:
            layer.bias.set_value(self._array(layer, bias))

    def read(self, layer):
        kernel = np.asarray(layer.kernel.get_value())
        bias = None if layer.bias is None else np.asarray(layer.bias.get_value())
        return np.ascontiguousarray(kernel.T), bias

    def forward(self, layer, x):
        """The layer called on x as a user passes it (numpy: an int64 x reaches Flax's own
        conversion, where device_put would narrow it to int32 first without x64)."""
        import jax

        with jax.default_device(jax_device(layer.conformance_device)):
            return np.asarray(layer(np.asarray(x)))

    # -- the backward pass, through JAX's autodiff over the module's parameters ----------------
    def _split(self, layer):
        from flax import nnx

        graph, params, rest = nnx.split(layer, nnx.Param, ...)

        def apply(x, values):
            return nnx.merge(graph, values, rest)(x)

        return apply, params

    @staticmethod
    def _kernel_and_bias(state) -> tuple:
        kernel = np.asarray(state["kernel"].get_value())
        bias = np.asarray(state["bias"].get_value()) if "bias" in state else None
        return np.ascontiguousarray(kernel.T), bias

    def gradients(self, layer, x, upstream):
        import jax

        apply, params = self._split(layer)
        y, pullback = jax.vjp(apply, self._array(layer, x), params)
        dx, dparams = pullback(self._array(layer, upstream).astype(y.dtype))
        return (np.asarray(dx), *self._kernel_and_bias(dparams))

    def train(self, layer, batches, learning_rate):
        import optax
        from flax import nnx

        optimizer = nnx.Optimizer(layer, optax.sgd(learning_rate), wrt=nnx.Param)
        for x, upstream in batches:
            xj, g = self._array(layer, x), self._array(layer, upstream)
            grads = nnx.grad(lambda m: (m(xj) * g).sum())(layer)  # noqa: B023 - used at once
            optimizer.update(layer, grads)

    def second_derivative(self, layer, x, upstream):
        import jax

        apply, params = self._split(layer)
        xj, g = self._array(layer, x), self._array(layer, upstream)

        def norm(values):
            y, pullback = jax.vjp(lambda v: apply(v, values), xj)
            (dx,) = pullback(g.astype(y.dtype))
            return (dx * dx).sum()

        kernel, _ = self._kernel_and_bias(jax.grad(norm)(params))
        return kernel


class FlaxLinearX64(FlaxLinear):
    """flax.nnx.Linear with JAX's 64-bit types on (for the whole process)."""

    name = "flax_x64"
    x64 = True
