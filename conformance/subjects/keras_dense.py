"""Subjects `keras` (keras.layers.Dense on the active Keras 3 backend) and `tf_keras` (legacy Keras 2's
Dense, which `tf.keras` is under TF_USE_LEGACY_KERAS=1): kernel (in, out) = weight^T."""

import os

import numpy as np

from conformance.core.formats import POLICIES
from conformance.core.identity import with_mode
from conformance.core.layout import ViewOps
from conformance.runtimes import device_parts, once_per_layer
from conformance.runtimes.jax import jax_devices, jax_precision_flags, prepare_jax
from conformance.runtimes.keras import (
    AUTODIFF,
    BACKEND_MODULES,
    keras_backend,
    keras_runtimes,
    variables,
)
from conformance.runtimes.tensorflow import (
    prepare_tensorflow,
    tensorflow_environment,
    tensorflow_gpus,
)
from conformance.runtimes.torch import prepare_torch, torch_precision_flags
from conformance.subjects.base import Subject

#: Keras' execution modes besides eager, by backend, and what each assumes of the layer
#: (Subject.mode_contract)
KERAS_MODES = {
    "tensorflow": {
        "graph": (
            "graph: the call (and its gradient, second derivative and SGD step) traced once per"
            " layer and input rank by tf.function, the graph reading the variables at every run,"
            " so a weight loaded after tracing must show; Grappler may fuse the bias add"
        ),
        "xla": (
            "xla: tf.function(jit_compile=True), compiled by XLA for each input shape; XLA may"
            " fuse the bias add and reorder the accumulation (both within the bound)"
        ),
    },
    "jax": {
        "jit": (
            "jit: the layer's __call__ in a StatelessScope, as a Keras model's stateless_call runs"
            " it (and its vjp and second derivative), under jax.jit, compiled once per layer and"
            " input shape, the weights passed as arguments so that new ones show; the SGD step"
            " applies the jitted gradients with Keras' optimizer"
        ),
    },
}


class KerasDense(Subject):
    name = "keras"
    #: Dense(dtype="mixed_float16") takes the DTypePolicy of that name
    policies = tuple(POLICIES)

    @property
    def requires(self) -> tuple[str, ...]:  # type: ignore[override]  # from the backend chosen at run time
        return BACKEND_MODULES.get(self.backend(), ("keras",))

    @property
    def label(self) -> str:
        return with_mode(f"keras/{self.backend()}", self.mode)

    def backend(self) -> str:
        return keras_backend()

    def __init__(self):
        # XLA compiles each new shape of every op JAX runs eagerly
        self.compiles_per_shape = self.backend() == "jax"

    @property
    def modes(self) -> tuple[str, ...]:  # type: ignore[override]  # from the backend chosen at run time
        return ("eager", *KERAS_MODES.get(self.backend(), ()))

    def mode_contract(self):
        return KERAS_MODES.get(self.backend(), {}).get(self.mode) or super().mode_contract()

    def unsupported_case(self, case):
        # bias or not: bias_off_equals_layer_without_bias_parameter runs each case with a zero bias too
        if (
            self.mode == "graph"
            and case.in_features == 0
            and not case.device.startswith("cuda")
            and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0"
        ):
            return (
                "TensorFlow aborts the process running a traced Dense with 0 inputs and a bias on"
                " the CPU (Grappler fuses MatMul and BiasAdd into a oneDNN inner product, which"
                " throws 'could not create a primitive descriptor'; docs/modes.md)"
            )
        return None

    def staged(self, fn):
        """`fn` as this mode runs it: itself (eager); a tf.function whose input signatures relax
        after a retrace (graph), compiled by XLA for each input shape (xla)."""
        if self.mode not in ("graph", "xla"):  # eager; jit stages inside JaxVjp
            return fn
        import tensorflow as tf

        return tf.function(fn, jit_compile=self.mode == "xla", reduce_retracing=True)

    def staged_once(self, layer, what: str, x, fn):
        """`staged(fn)`, made once per layer, `what` and rank of x (fn closes over the layer; a
        signature relaxed across ranks would lose the rank Dense needs)."""
        return once_per_layer(layer, (what, len(x.shape)), lambda: self.staged(fn))

    def keras(self):
        import keras

        return keras

    def scope(self, device: str):
        """Where the layer's variables live and its ops run."""
        kind, index = device_parts(device)
        return self.keras().device(f"{kind}:{index}")

    def environment(self):
        keras = self.keras()
        found = {"backend": keras.backend.backend(), "floatx": keras.config.floatx()}
        if self.backend() == "tensorflow":
            found.update(tensorflow_environment())
        elif self.backend() == "jax":
            import jax

            found.update(
                jax_devices=[str(d) for d in jax.devices()],
                jax_enable_x64=jax.config.jax_enable_x64,
                jax_default_matmul_precision=jax.config.jax_default_matmul_precision,
                xla_flags=os.environ.get("XLA_FLAGS", ""),
            )
        else:
            import torch

            found.update(
                torch_threads=torch.get_num_threads(),
                torch_float32_matmul_precision=torch.get_float32_matmul_precision(),
            )
        return found

    def found_devices(self):
        backend = self.backend()
        if backend == "tensorflow":
            count = tensorflow_gpus()
        elif backend == "jax":
            return jax_devices()
        else:
            import torch

            count = torch.cuda.device_count()
        return ["cpu"] + [f"cuda:{i}" for i in range(count)]

    def prepare_process(self, threads, tf32):
        backend = self.backend()
        if backend == "tensorflow":
            prepare_tensorflow(threads, tf32)
        elif backend == "torch":
            prepare_torch(threads, tf32)
        else:
            prepare_jax(threads, tf32)

    def runtimes(self, dtype, device):
        if self.mode == "xla":
            return ("xla-gpu",) if device.startswith("cuda") else ("xla-cpu",)
        return keras_runtimes(self.backend(), device)

    def precision_flags(self, dtype, device):
        if not device.startswith("cuda"):
            return {}
        backend = self.backend()
        if backend == "torch":
            return torch_precision_flags(dtype, device)
        if backend == "jax":
            return jax_precision_flags(device)
        import tensorflow as tf

        return {"tf32": tf.config.experimental.tensor_float_32_execution_enabled()}

    # -- the layer ----------------------------------------------------------------------------
    def build(self, in_features, out_features, bias, dtype, device):
        with self.scope(device):
            layer = self.keras().layers.Dense(out_features, use_bias=bias, dtype=dtype)
            layer.build((None, in_features))
        layer.conformance_device = device
        return layer

    def load(self, layer, weight, bias):
        with self.scope(layer.conformance_device):
            layer.kernel.assign(weight.T)
            if bias is not None:
                layer.bias.assign(bias)

    def read(self, layer):
        host = self.autodiff().host
        kernel = host(self.value(layer.kernel))
        bias = host(self.value(layer.bias)) if layer.use_bias else None
        return np.ascontiguousarray(kernel.T), bias

    @staticmethod
    def value(variable):
        """The backend tensor a Keras 3 variable holds."""
        return variable.value

    def forward(self, layer, x):
        autodiff = self.autodiff()
        with self.scope(layer.conformance_device):
            if self.mode == "jit":
                return autodiff.host(autodiff.call(layer, x))
            call = self.staged_once(layer, "forward", x, lambda x: layer(x))
            return autodiff.host(call(x))

    def tensor(self, view, device):
        ops = self.array_ops()
        views = ViewOps(permute=ops.transpose, broadcast=ops.broadcast_to, reshape=ops.reshape)
        with self.scope(device):
            return view.build(views, ops.convert_to_tensor(view.base))

    def array_ops(self):
        """Where transpose, broadcast_to, reshape and convert_to_tensor come from (keras.ops)."""
        return self.keras().ops

    # -- the backward pass, through the backend's own autodiff ------------------------------------
    def autodiff(self):
        backend = AUTODIFF[self.backend()]
        return backend(jit=True) if self.mode == "jit" else backend()

    def gradients(self, layer, x, upstream):
        autodiff = self.autodiff()
        with self.scope(layer.conformance_device):
            call = self.staged_once(
                layer, "gradients", x, lambda x, u: autodiff.gradients(layer, x, u)
            )
            dx, dkernel, *dbias = map(autodiff.host, call(x, upstream))
        return dx, np.ascontiguousarray(dkernel.T), dbias[0] if dbias else None

    def train(self, layer, batches, learning_rate):
        """Keras' SGD, made once per layer as a training loop makes it once per model (plain SGD
        keeps no state but its step count); each call sets its learning rate, a variable that a
        staged step reads at every run."""
        with self.scope(layer.conformance_device):
            optimizer = once_per_layer(layer, ("optimizer",), lambda: self.optimizer(layer))
            optimizer.learning_rate = learning_rate

            def step(x, upstream):
                _, *grads = self.autodiff().gradients(layer, x, upstream)
                optimizer.apply_gradients(zip(grads, variables(layer), strict=True))

            for x, upstream in batches:
                self.staged_once(layer, "train", x, step)(x, upstream)

    def optimizer(self, layer):
        """Keras' SGD for the layer's variables, its own made eagerly (before any staging)."""
        optimizer = self.keras().optimizers.SGD(learning_rate=1.0)
        optimizer.build(variables(layer))
        return optimizer

    def second_derivative(self, layer, x, upstream):
        autodiff = self.autodiff()
        with self.scope(layer.conformance_device):
            call = self.staged_once(
                layer, "second_derivative", x, lambda x, u: autodiff.second_derivative(layer, x, u)
            )
            dkernel = autodiff.host(call(x, upstream))
        return np.ascontiguousarray(dkernel.T)


class TfKerasDense(KerasDense):
    """Legacy Keras 2 (the tf-keras package), on TensorFlow."""

    name = "tf_keras"
    requires = ("tf_keras", "tensorflow")
    install = "pip install --no-deps tf-keras==2.21.0"

    @property
    def label(self) -> str:
        return with_mode("tf_keras", self.mode)

    def backend(self) -> str:
        return "tensorflow"

    def keras(self):
        os.environ["TF_USE_LEGACY_KERAS"] = "1"  # so tf.keras is this Keras too
        import tf_keras

        return tf_keras

    @staticmethod
    def value(variable):
        return variable  # a tf.Variable

    def scope(self, device):
        import tensorflow as tf

        kind, index = device_parts(device)
        return tf.device(f"/{kind.upper()}:{index}")

    def array_ops(self):
        import tensorflow as tf

        return tf

    def environment(self):
        keras = self.keras()
        return {"keras": keras.__version__, "floatx": keras.backend.floatx()} | (
            tensorflow_environment()
        )
