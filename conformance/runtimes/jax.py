"""JAX as a subject's runtime (Keras on JAX, Flax): process set-up, devices, precision flags,
and what computes where."""

import os

from conformance.runtimes import device_parts

#: XLA's flag for one thread: no multi-threaded Eigen
SINGLE_THREADED = "--xla_cpu_multi_thread_eigen=false"
#: JAX matmul precisions that keep float32 operands in float32 on a GPU (the others allow TF32)
JAX_FULL_FLOAT32 = ("float32", "highest")


def xla_flags(flags: str, threads: int) -> str:
    """XLA_FLAGS for a process of `threads` threads: the one-thread flag added for one, removed
    for more (a process started by a one-thread one, the thread-count peer, inherits it)."""
    kept = [f for f in flags.split() if f != SINGLE_THREADED]
    return " ".join([*kept, *([SINGLE_THREADED] if threads == 1 else [])])


def prepare_jax(threads: int, tf32: str, x64: bool = False) -> None:
    """XLA's flags before jax starts (one thread: no multi-threaded Eigen), the TF32 policy as
    JAX's default matmul precision, and 64-bit types when asked."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ["XLA_FLAGS"] = xla_flags(os.environ.get("XLA_FLAGS", ""), threads)
    import jax

    if x64:
        jax.config.update("jax_enable_x64", True)
    if tf32 != "framework-default":
        precision = "tensorfloat32" if tf32 == "on" else "float32"
        jax.config.update("jax_default_matmul_precision", precision)


def jax_device(device: str):
    """The JAX device a suite device name (cpu, cpu:N, cuda:N) names."""
    import jax

    kind, index = device_parts(device)
    return jax.devices(kind)[int(index)]


def jax_devices() -> list[str]:
    """ "cpu", then "cuda:N" for each GPU JAX sees."""
    import jax

    count = sum(d.platform == "gpu" for d in jax.devices())
    return ["cpu"] + [f"cuda:{i}" for i in range(count)]


def jax_precision_flags(device: str) -> dict:
    """TF32 in effect for float32 matmuls on `device` (JAX's default matmul precision)."""
    if not device.startswith("cuda"):
        return {}
    import jax

    precision = jax.config.jax_default_matmul_precision  # type: ignore[attr-defined]
    return {"tf32": str(precision).lower() not in JAX_FULL_FLOAT32}


def jax_runtimes(device: str) -> tuple[str, ...]:
    """XLA on the device (and cuBLAS under it on a GPU), and "jax-x32" while JAX has no 64-bit
    types: float64 is computed in float32, int64 converted through int32."""
    import jax

    xla = ("xla-gpu", "cublas") if device.startswith("cuda") else ("xla-cpu",)
    x64 = jax.config.jax_enable_x64  # type: ignore[attr-defined]
    return xla if x64 else (*xla, "jax-x32")
