"""Subject `litert` (optional): keras.layers.Dense converted by TensorFlow's LiteRT (TFLite)
converter and run by the LiteRT interpreter (ai-edge-litert), as a model deployed to a phone is.
Inference only: no gradients.

Skipped, saying why, where ai-edge-litert is not installed (`pip install ai-edge-litert`) or Keras
does not run on TensorFlow. The weights are constants of the converted model, so loading new ones
converts again: each input rank gets its own model (leading dimensions dynamic), converted when
that rank is first called. The Dense's call is converted as a concrete function, whose variables
the converter freezes into constants; this gives the graph `Model.export(format="litert")` writes
(one FULLY_CONNECTED, weight (out, in)) in a tenth of its time.

float32 cells run the plain conversion; float16 cells the converter's float16 path: a float32
layer whose weights are stored in float16 and dequantized at load, computed in float32, with
float32 input and output. float64 and bfloat16 have no conversion.
"""

from dataclasses import dataclass, field

import numpy as np

from conformance.runtimes.keras import keras_backend
from conformance.subjects.base import Subject


@dataclass
class Converted:
    """The Keras Dense holding the loaded weights, and its interpreters by input rank."""

    dense: object
    dtype: str
    interpreters: dict = field(default_factory=dict)


class LiteRtDense(Subject):
    name = "litert"
    requires: tuple[str, ...] = ("ai_edge_litert", "tensorflow", "keras")
    install = "pip install ai-edge-litert"
    threads = 1

    def runtimes(self, dtype, device):
        return ("litert-xnnpack",)  # the CPU interpreter with its default XNNPACK delegate

    def environment(self):
        import tensorflow as tf

        return {
            "converter": f"tf.lite.TFLiteConverter.from_concrete_functions (tensorflow {tf.__version__})",
            "interpreter": "ai_edge_litert.interpreter.Interpreter, default delegates (XNNPACK)",
            "num_threads": self.threads,
        }

    def prepare_process(self, threads, tf32):
        self.threads = threads

    def unsupported(self, dtype, device):
        if keras_backend() != "tensorflow":
            return (
                f"converting a Keras Dense for LiteRT needs Keras on the TensorFlow backend"
                f" (this run: {keras_backend()})"
            )
        if dtype == "float64":
            return (
                "LiteRT's builtin ops have no float64 FULLY_CONNECTED: the converter refuses a"
                " float64 Dense (ConverterError: 'tf.MatMul' op is neither a custom op nor a flex op)"
            )
        if dtype == "bfloat16":
            return (
                "the LiteRT converter takes no bfloat16 model (ValueError: Unsupported TensorFlow"
                " type bfloat16 provided for the input type)"
            )
        return None

    def unsupported_case(self, case):
        if case.in_features == 0:
            return (
                "LiteRT's FULLY_CONNECTED returns zeros, not the bias, for rank-2 x with no input"
                " features (a bug this suite found; docs/subjects.md)"
            )
        return None

    def build(self, in_features, out_features, bias, dtype, device):
        import keras

        dense = keras.layers.Dense(out_features, use_bias=bias, dtype="float32")
        dense.build((None, in_features))
        return Converted(dense, dtype)

    def load(self, layer, weight, bias):
        layer.dense.kernel.assign(weight.T.astype(np.float32))
        if bias is not None:
            layer.dense.bias.assign(bias.astype(np.float32))
        layer.interpreters.clear()  # the weights are constants of each converted model

    def weights_in_float16(self, dtype: str) -> bool:
        """Whether `dtype` cells take the converter's float16 path (weights stored in float16)."""
        return dtype == "float16"

    def _interpreter(self, layer, rank: int):
        """The interpreter of the model converted for x of `rank` dims (its leading ones dynamic)."""
        if rank not in layer.interpreters:
            import tensorflow as tf
            from ai_edge_litert.interpreter import Interpreter

            dense = layer.dense
            spec = tf.TensorSpec([None] * (rank - 1) + [dense.kernel.shape[0]], tf.float32)
            call = tf.function(lambda x: dense(x), input_signature=[spec])
            # no trackable object: the converter then freezes the variables into constants
            converter = tf.lite.TFLiteConverter.from_concrete_functions(
                [call.get_concrete_function()]
            )
            if self.weights_in_float16(layer.dtype):
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.target_spec.supported_types = [tf.float16]
            interpreter = Interpreter(model_content=converter.convert(), num_threads=self.threads)
            layer.interpreters[rank] = interpreter
        return layer.interpreters[rank]

    def read(self, layer):
        """The parameters as the rank-2 model stores them (FULLY_CONNECTED's constant operands,
        before any dequantisation)."""
        interpreter = self._interpreter(layer, 2)
        interpreter.allocate_tensors()
        ops = interpreter._get_ops_details()  # the public API names tensors, not the graph
        made_by = {out: op for op in ops for out in op["outputs"]}
        (matmul,) = (op for op in ops if op["op_name"] == "FULLY_CONNECTED")

        def stored(index):
            producer = made_by.get(index)
            if producer is not None and producer["op_name"] == "DEQUANTIZE":
                index = producer["inputs"][0]
            return np.array(interpreter.get_tensor(index))

        _, weight, *rest = matmul["inputs"]
        kernel = stored(weight)
        if not layer.dense.use_bias:
            return kernel, None
        if rest and rest[0] >= 0:
            return kernel, stored(rest[0])
        return kernel, np.zeros(kernel.shape[0], kernel.dtype)  # an all-zero bias is dropped

    def forward(self, layer, x):
        x = np.ascontiguousarray(x)
        if layer.dtype == "float16" and x.dtype == np.float16:
            x = x.astype(np.float32)  # the float16 path keeps float32 input (exact for float16)
        interpreter = self._interpreter(layer, x.ndim)
        (given,) = interpreter.get_input_details()
        interpreter.resize_tensor_input(given["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(given["index"], x)
        interpreter.invoke()
        (result,) = interpreter.get_output_details()
        return np.array(interpreter.get_tensor(result["index"]))
