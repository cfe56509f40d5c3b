"""The reproducibility findings checked without the suite: one framework's Linear/Dense on this
CPU, in float32, for a 4 -> 3 and a 256 -> 64 layer (weights and x from a fixed seed, 257 rows):
how many elements of the first 2, 5, 17, 64 and 257 rows differ in bits from the same rows
computed one at a time, whether five repeated calls on the whole batch give identical bits, and a
hash of the whole batch's result (compare it across thread counts).

    python docs/standalone_reproducibility.py FRAMEWORK THREADS

FRAMEWORK: torch, keras (Keras 3 on $KERAS_BACKEND), tf_keras, onnxruntime (torch's Linear
exported by torch.onnx.export), flax (linen Dense; the suite's subject is nnx.Linear: both call
lax.dot_general, then add the bias), litert (a tf.function converted by the TFLite
converter, run by ai-edge-litert). Prints one JSON line.
"""

import hashlib
import io
import json
import os
import re
import sys

FRAMEWORKS = ("torch", "keras", "tf_keras", "onnxruntime", "flax", "litert")
USAGE = f"usage: python {sys.argv[0]} FRAMEWORK THREADS (FRAMEWORK: {', '.join(FRAMEWORKS)})"


def refuse(message: str):
    print(message, file=sys.stderr)
    raise SystemExit(2)


ARGS = sys.argv[1:]
if len(ARGS) != 2 or ARGS[0] not in FRAMEWORKS or not re.fullmatch(r"[1-9][0-9]*", ARGS[1]):
    refuse(f"{USAGE}; THREADS: a positive integer")
FRAMEWORK, THREADS = sys.argv[1], int(sys.argv[2])
for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
    os.environ[name] = str(THREADS)
if THREADS == 1:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import numpy as np  # noqa: E402


def torch_linear(w, b):
    import torch

    torch.set_num_threads(THREADS)
    layer = torch.nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        layer.bias.copy_(torch.from_numpy(b))
    return layer


def make(w, b):
    """f(x) for the layer of weight w (out, in) and bias b, in FRAMEWORK."""
    n_out, n_in = w.shape
    if FRAMEWORK == "torch":
        import torch

        layer = torch_linear(w, b)

        def call(x):
            with torch.no_grad():
                return layer(torch.from_numpy(x)).numpy()

        return call
    if FRAMEWORK in ("keras", "tf_keras"):
        if FRAMEWORK == "keras":
            import keras
        else:
            import tf_keras as keras
        dense = keras.layers.Dense(n_out)
        dense.build((None, n_in))
        dense.set_weights([w.T, b])
        if FRAMEWORK == "tf_keras":
            return lambda x: np.asarray(dense(x))
        return lambda x: np.asarray(keras.ops.convert_to_numpy(dense(x)))
    if FRAMEWORK == "onnxruntime":
        import onnxruntime
        import torch

        buffer = io.BytesIO()
        torch.onnx.export(torch_linear(w, b), (torch.zeros(2, n_in),), buffer, dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}})  # fmt: skip
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = THREADS
        session = onnxruntime.InferenceSession(buffer.getvalue(), options)
        return lambda x: session.run(None, {"x": x})[0]
    if FRAMEWORK == "flax":
        import jax.numpy as jnp
        from flax import linen

        dense = linen.Dense(n_out)
        params = {"params": {"kernel": jnp.asarray(w.T), "bias": jnp.asarray(b)}}
        return lambda x: np.asarray(dense.apply(params, jnp.asarray(x)))
    if FRAMEWORK == "litert":
        import tensorflow as tf
        from ai_edge_litert.interpreter import Interpreter

        @tf.function(input_signature=[tf.TensorSpec([None, n_in], tf.float32)])
        def dense(x):
            return tf.matmul(x, tf.constant(w.T)) + tf.constant(b)

        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [dense.get_concrete_function()], dense
        )
        interpreter = Interpreter(model_content=converter.convert(), num_threads=THREADS)

        def call(x):
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, x.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(index, x)
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()

        return call
    raise SystemExit(f"unknown framework {FRAMEWORK!r}")


rng = np.random.default_rng(0)
found: dict = {
    "framework": FRAMEWORK,
    "threads": THREADS,
    "backend": os.environ.get("KERAS_BACKEND"),
}
try:
    make(np.zeros((1, 1), np.float32), np.zeros(1, np.float32))
except ImportError as exc:  # the framework, or what it needs, is not installed here
    refuse(f"{FRAMEWORK}: cannot import {exc.name or exc}; install it to measure it")
for n_in, n_out in ((4, 3), (256, 64)):
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    f = make(w, b)
    x = rng.standard_normal((257, n_in)).astype(np.float32)
    alone = np.concatenate([f(x[i : i + 1]) for i in range(257)])
    differ = total = 0
    for size in (2, 5, 17, 64, 257):
        got = f(x[:size])
        differ += int((got.view(np.uint32) != alone[:size].view(np.uint32)).sum())  # bits
        total += got.size
    found[f"{n_in}->{n_out}"] = {
        "batch_differs": differ,
        "of": total,
        "repeat_identical": all(f(x).tobytes() == f(x).tobytes() for _ in range(5)),
        "full_batch_sha1": hashlib.sha1(f(x).tobytes()).hexdigest()[:12],
    }
print(json.dumps(found))
