"""Subject `torch`: torch.nn.Linear, weight (out, in) in the canonical layout already."""

import numpy as np

from conformance.formats import FORMATS
from conformance.subjects.base import Subject


def torch_dtype(dtype: str):
    import torch

    return getattr(torch, dtype)


def to_tensor(array: np.ndarray, device: str):
    """A tensor holding `array` exactly; shares memory with it where torch can (not bfloat16)."""
    import torch

    if array.dtype == FORMATS["bfloat16"].numpy:
        return torch.from_numpy(array.astype(np.float32)).to(
            device=device, dtype=torch.bfloat16
        )
    return torch.from_numpy(array).to(device)


def to_numpy(tensor) -> np.ndarray:
    """A host numpy copy of `tensor` in its own dtype (bfloat16 through float32, exactly)."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.float().numpy().astype(FORMATS["bfloat16"].numpy)
    return tensor.numpy().copy()


class TorchLinear(Subject):
    name = "torch"
    requires = ("torch",)

    def build(self, in_features, out_features, bias, dtype, device):
        import torch

        return torch.nn.Linear(
            in_features,
            out_features,
            bias=bias,
            dtype=torch_dtype(dtype),
            device=device,
        )

    def load(self, layer, weight, bias):
        import torch

        with torch.no_grad():
            layer.weight.copy_(to_tensor(weight, layer.weight.device))
            if bias is not None:
                layer.bias.copy_(to_tensor(bias, layer.bias.device))

    def read(self, layer):
        return to_numpy(layer.weight), None if layer.bias is None else to_numpy(
            layer.bias
        )

    def forward(self, layer, x):
        import torch

        with torch.no_grad():
            return to_numpy(layer(to_tensor(x, layer.weight.device)))
