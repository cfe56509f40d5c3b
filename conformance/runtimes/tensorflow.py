"""TensorFlow as a subject's runtime (Keras on its TensorFlow backend, tf_keras, LiteRT's
converter): process set-up, GPUs, what it reports about itself."""

import os


def tensorflow_gpus() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def prepare_tensorflow(threads: int, tf32: str) -> None:
    """Thread pools, memory growth on every GPU (workers share them), the TF32 policy."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # TensorFlow already started: its settings stay
        pass
    if tf32 != "framework-default":
        tf.config.experimental.enable_tensor_float_32_execution(tf32 == "on")


def op_determinism() -> bool | None:
    """Whether tf.config.experimental.enable_op_determinism() is in effect (None: this
    TensorFlow does not say; its getter is not public API)."""
    try:
        from tensorflow.python.framework import config
    except ImportError:
        return None
    getter = getattr(config, "is_op_determinism_enabled", None)
    return None if getter is None else bool(getter())


def tensorflow_environment() -> dict:
    import tensorflow as tf

    return {
        "tensorflow_build": tf.sysconfig.get_build_info(),
        "tensor_float_32_execution": tf.config.experimental.tensor_float_32_execution_enabled(),
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "deterministic_ops": os.environ.get("TF_DETERMINISTIC_OPS", "unset"),
        "op_determinism": op_determinism(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "physical_devices": [d.name for d in tf.config.list_physical_devices()],
    }
