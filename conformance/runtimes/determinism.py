"""The frameworks' determinism switches (--deterministic), set in every process of a run: what
must be in the environment before a framework starts, then what each framework imported turns
on. Sources: torch.use_deterministic_algorithms and PyTorch's reproducibility notes (cuBLAS needs
CUBLAS_WORKSPACE_CONFIG=:4096:8 for deterministic results on CUDA 10.2 and later);
tf.config.experimental.enable_op_determinism; XLA's --xla_gpu_deterministic_ops (JAX on GPUs,
openxla/xla#12520); onnxruntime's SessionOptions.use_deterministic_compute (its subject reads
`requested`)."""

import os
import sys

#: set in the environment of a process whose run asked for determinism (subjects read it)
REQUESTED = "CONFORMANCE_DETERMINISTIC"
#: what goes into the environment before any framework starts
ENVIRONMENT = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
XLA_FLAG = "--xla_gpu_deterministic_ops=true"


def before_import() -> None:
    """Put the switches that must precede a framework's start into the environment."""
    os.environ[REQUESTED] = "1"
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    flags = [
        f for f in os.environ.get("XLA_FLAGS", "").split() if "xla_gpu_deterministic_ops" not in f
    ]
    os.environ["XLA_FLAGS"] = " ".join([*flags, XLA_FLAG])


def after_import() -> list[str]:
    """Turn on each imported framework's own switch; what was set."""
    switched = [f"{name}={os.environ[name]}" for name in ENVIRONMENT]
    switched.append(f"XLA_FLAGS={XLA_FLAG}")
    if "torch" in sys.modules:
        import torch

        torch.use_deterministic_algorithms(True)
        switched.append("torch.use_deterministic_algorithms(True)")
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        switched.append("tf.config.experimental.enable_op_determinism()")
    return switched


def requested() -> bool:
    """Whether this process's run asked for deterministic execution."""
    return os.environ.get(REQUESTED) == "1"


def state() -> dict | None:
    """The switches in effect in this process where the run asked for them, else None (the
    environment fingerprint's `determinism`; the frameworks' own flags are in their entries)."""
    if not requested():
        return None
    flags = os.environ.get("XLA_FLAGS", "").split()
    return {
        **{name: os.environ.get(name) for name in ENVIRONMENT},
        "XLA_FLAGS": next((f for f in flags if "xla_gpu_deterministic_ops" in f), None),
    }
