"""Subject `keras`: keras.layers.Dense on the active Keras backend, kernel (in, out) = weight^T."""

import json
import os

import numpy as np

from conformance.subjects.base import Subject

BACKEND_MODULES = {
    "tensorflow": ("keras", "tensorflow"),
    "jax": ("keras", "jax"),
    "torch": ("keras", "torch"),
}


def keras_backend() -> str:
    """The backend Keras will load: $KERAS_BACKEND, else keras.json, else tensorflow (Keras' own order)."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


class KerasDense(Subject):
    name = "keras"

    @property
    def requires(self) -> tuple[str, ...]:
        return BACKEND_MODULES.get(keras_backend(), ("keras",))

    @property
    def label(self) -> str:
        return f"keras/{keras_backend()}"

    def environment(self):
        import keras

        found = {"backend": keras.backend.backend(), "floatx": keras.config.floatx()}
        if found["backend"] == "tensorflow":
            import tensorflow as tf

            found.update(
                build=tf.sysconfig.get_build_info(),
                tensor_float_32_execution=tf.config.experimental.tensor_float_32_execution_enabled(),
                onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
                deterministic_ops=os.environ.get("TF_DETERMINISTIC_OPS", "unset"),
                intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
                devices=[d.name for d in tf.config.list_physical_devices()],
            )
        return found

    def limit_threads(self, threads):
        backend = keras_backend()
        if backend == "tensorflow":
            import tensorflow as tf

            for pool in ("intra_op", "inter_op"):
                try:
                    getattr(tf.config.threading, f"set_{pool}_parallelism_threads")(
                        threads
                    )
                except RuntimeError:  # TensorFlow already started: its pools stay
                    pass
        elif backend == "torch":
            import torch

            torch.set_num_threads(threads)
        elif backend == "jax" and threads == 1:  # XLA reads its flags when jax starts
            os.environ["XLA_FLAGS"] = " ".join(
                [os.environ.get("XLA_FLAGS", ""), "--xla_cpu_multi_thread_eigen=false"]
            ).strip()

    def build(self, in_features, out_features, bias, dtype, device):
        import keras

        layer = keras.layers.Dense(out_features, use_bias=bias, dtype=dtype)
        layer.build((None, in_features))
        return layer

    def load(self, layer, weight, bias):
        layer.kernel.assign(weight.T)
        if bias is not None:
            layer.bias.assign(bias)

    def read(self, layer):
        import keras

        kernel = keras.ops.convert_to_numpy(layer.kernel)
        bias = keras.ops.convert_to_numpy(layer.bias) if layer.use_bias else None
        return np.ascontiguousarray(kernel.T), bias

    def forward(self, layer, x):
        import keras

        return keras.ops.convert_to_numpy(layer(x))

    # The backward pass goes through the backend's own autodiff; this suite drives TensorFlow's.
    def lacks(self, feature):
        if keras_backend() != "tensorflow":
            return f"{self.label}: {feature}() is driven through TensorFlow's GradientTape only"
        return super().lacks(feature)

    def _variables(self, layer):
        return [layer.kernel] + ([layer.bias] if layer.use_bias else [])

    def _tape_gradients(self, layer, x, upstream):
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt)
        return tape.gradient(
            y,
            [xt, *self._variables(layer)],
            output_gradients=tf.convert_to_tensor(upstream),
        )

    def gradients(self, layer, x, upstream):
        dx, dkernel, *dbias = (
            g.numpy() for g in self._tape_gradients(layer, x, upstream)
        )
        return dx, np.ascontiguousarray(dkernel.T), dbias[0] if dbias else None

    def train(self, layer, batches, learning_rate):
        import keras

        optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
        for x, upstream in batches:
            _, *grads = self._tape_gradients(layer, x, upstream)
            optimizer.apply_gradients(zip(grads, self._variables(layer), strict=True))

    def second_derivative(self, layer, x, upstream):
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(xt)
                y = layer(xt)
            dx = inner.gradient(y, xt, output_gradients=tf.convert_to_tensor(upstream))
            norm = tf.reduce_sum(dx * dx)
        return np.ascontiguousarray(outer.gradient(norm, layer.kernel).numpy().T)
