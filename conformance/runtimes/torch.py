"""torch as a subject's runtime (torch.nn.Linear, Keras on the torch backend, the ONNX export):
tensors to and from numpy exactly, dtypes, autocast, process set-up, precision flags, and what
computes where."""

import contextlib
import warnings

import numpy as np

from conformance.core.formats import FORMATS, POLICIES, compute_format, variable_format
from conformance.core.layout import View, ViewOps


def torch_dtype(dtype: str):
    """The torch dtype of a plain dtype, or of a policy's parameters (float32)."""
    import torch

    return getattr(torch, variable_format(dtype).name)


def under_policy(layer, run):
    """`run` (the layer as a mode calls it) under torch.autocast to the compute format of the
    layer's policy, on its device (float32 parameters, operands cast to float16 or bfloat16); for
    a plain dtype, `run` itself. The backward pass then runs outside autocast, as torch advises."""
    if layer.conformance_dtype not in POLICIES:
        return run

    def autocast(x):
        import torch

        compute = getattr(torch, compute_format(layer.conformance_dtype).name)
        with torch.autocast(layer.weight.device.type, dtype=compute):
            return run(x)

    return autocast


def to_tensor(array, device: str):
    """A tensor holding `array` exactly, in its memory layout: on the CPU a view of the numpy
    array's memory (bfloat16 too, through its bits); a tensor goes through, moved to `device`."""
    import torch

    if isinstance(array, torch.Tensor):
        return array.to(device)
    with warnings.catch_warnings():
        # a read-only array (a case's operand may be one) shares its memory all the same: the
        # layer never writes to its input, and call_mutates_neither_input_nor_weights checks that
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        if array.dtype == FORMATS["bfloat16"].numpy:
            bits = torch.from_numpy(array.view(np.uint16))
            return bits.view(torch.bfloat16).to(device)
        return torch.from_numpy(array).to(device)


#: torch's view operations (a permuted, expanded or reshaped tensor shares its base's memory)
TORCH_VIEWS = ViewOps(
    permute=lambda a, axes: a.permute(*axes),
    broadcast=lambda a, shape: a.expand(*shape),
    reshape=lambda a, shape: a.reshape(shape),
)


def torch_tensor(view: View, device: str):
    """The view built on `device` with torch's view operations: a strided tensor of its base."""
    return view.build(TORCH_VIEWS, to_tensor(view.base, device))


def to_numpy(tensor) -> np.ndarray:
    """A host numpy copy of `tensor` in its own dtype (bfloat16 through float32, exactly)."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.float().numpy().astype(FORMATS["bfloat16"].numpy)
    return tensor.numpy().copy()


def set_torch_tf32(on: bool) -> None:
    """TF32 for float32 matmuls and convolutions on CUDA, on or off."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    torch.set_float32_matmul_precision("high" if on else "highest")


def prepare_torch(threads: int, tf32: str) -> None:
    """torch's intra- and inter-op pools sized to `threads`; the TF32 policy applied."""
    import torch

    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        with contextlib.suppress(RuntimeError):  # inter-op work already started: its pool stays
            torch.set_num_interop_threads(threads)
    if tf32 != "framework-default":
        set_torch_tf32(tf32 == "on")


def torch_precision_flags(dtype: str, device: str) -> dict:
    """TF32 and reduced-precision reductions in effect for torch matmuls in `dtype` on `device`."""
    import torch

    if not device.startswith("cuda"):
        return {}
    matmul = torch.backends.cuda.matmul
    reduced = {
        "float16": matmul.allow_fp16_reduced_precision_reduction,
        "bfloat16": matmul.allow_bf16_reduced_precision_reduction,
    }
    return {
        "tf32": matmul.allow_tf32 or torch.get_float32_matmul_precision() != "highest",
        "reduced_reduction": bool(reduced.get(compute_format(dtype).name, False)),
    }


def torch_runtimes(device: str) -> tuple[str, ...]:
    """What computes torch's matmuls on `device`: its CPU kernels, or cuBLAS."""
    return ("cublas",) if device.startswith("cuda") else ("torch-cpu",)
