"""Subject `torch`: torch.nn.Linear, weight (out, in) in the canonical layout already."""

from conformance.core.formats import POLICIES
from conformance.runtimes import once_per_layer
from conformance.runtimes.torch import (
    prepare_torch,
    to_numpy,
    to_tensor,
    torch_dtype,
    torch_precision_flags,
    torch_runtimes,
    torch_tensor,
    under_policy,
)
from conformance.subjects.base import Subject

#: torch's execution modes besides eager, and what each assumes of the layer (Subject.mode_contract)
TORCH_MODES = {
    "compile": (
        "compile: torch.compile (inductor) over the module, compiled for each input shape and"
        " layout (dynamic=False, no fallback to eager at the recompile limit), its graph reading"
        " the parameters at every call, so a weight loaded after compiling must show; gradients"
        " through AOTAutograd; inductor may fuse the bias add"
    ),
    "export": (
        "export: torch.export.export of the module (its leading dimensions dynamic), once per"
        " layer and input rank, run as ExportedProgram.module(), whose parameters are the layer's,"
        " so weights loaded after exporting must show; gradients and SGD through autograd on the"
        " exported graph"
    ),
}


def compiled(layer):
    """`layer` under torch.compile, made once per layer. Dynamo's recompile limit would otherwise
    send calls past it back to eager without a word: the limit is lifted, and reaching one raises."""

    def make():
        import torch

        torch._dynamo.config.recompile_limit = 1_000_000
        torch._dynamo.config.accumulated_recompile_limit = 1_000_000
        torch._dynamo.config.fail_on_recompile_limit_hit = True
        return torch.compile(layer, dynamic=False, fullgraph=True)

    return once_per_layer(layer, "compile", make)


def exported(layer, rank: int):
    """`layer` exported by torch.export for x of `rank` dims (leading ones dynamic), once per
    layer and rank: the exported program's module, which holds the layer's own parameters."""

    def make():
        import torch
        from torch.export import Dim, export

        weight = layer.weight
        sample = torch.zeros((2,) * (rank - 1) + (layer.in_features,), dtype=weight.dtype,
                             device=weight.device)  # fmt: skip
        dims = {i: Dim.AUTO for i in range(rank - 1)}  # a sample of 2, so no dim specialises
        return export(layer, (sample,), dynamic_shapes=(dims,)).module()

    return once_per_layer(layer, ("export", rank), make)


class TorchLinear(Subject):
    name = "torch"
    requires = ("torch",)
    modes: tuple[str, ...] = ("eager", *TORCH_MODES)
    policies = tuple(POLICIES)

    def environment(self):
        import torch

        show = torch.__config__.show().splitlines()
        keys = ("MKL", "OpenMP", "CPU capability")
        matmul = torch.backends.cuda.matmul
        return {
            "build": [line.strip(" -") for line in show if any(k in line for k in keys)],
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cuda_matmul_allow_tf32": matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "fp16_reduced_precision_reduction": matmul.allow_fp16_reduced_precision_reduction,
            "bf16_reduced_precision_reduction": matmul.allow_bf16_reduced_precision_reduction,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "cuda_devices": [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ],
        }

    def found_devices(self):
        import torch

        return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    def prepare_process(self, threads, tf32):
        prepare_torch(threads, tf32)

    def runtimes(self, dtype, device):
        return torch_runtimes(device)

    def mode_contract(self):
        return TORCH_MODES.get(self.mode) or super().mode_contract()

    def lacks(self, feature):
        if self.mode == "compile" and feature == "second_derivative":
            return "torch.compile has no double backward (AOTAutograd's compiled backward is not differentiable)"
        return super().lacks(feature)

    def call(self, layer):
        """The layer as this mode calls it (itself, compiled, or exported), under its policy."""
        if self.mode == "compile":
            return under_policy(layer, compiled(layer))
        if self.mode == "export":
            return under_policy(layer, lambda x: exported(layer, x.dim())(x))
        return under_policy(layer, layer)

    def precision_flags(self, dtype, device):
        return torch_precision_flags(dtype, device)

    def build(self, in_features, out_features, bias, dtype, device):
        import torch

        layer = torch.nn.Linear(
            in_features,
            out_features,
            bias=bias,
            dtype=torch_dtype(dtype),
            device=device,
        )
        layer.conformance_dtype = dtype
        return layer

    def load(self, layer, weight, bias):
        import torch

        with torch.no_grad():
            layer.weight.copy_(to_tensor(weight, layer.weight.device))
            if bias is not None:
                layer.bias.copy_(to_tensor(bias, layer.bias.device))

    def read(self, layer):
        return to_numpy(layer.weight), None if layer.bias is None else to_numpy(layer.bias)

    def forward(self, layer, x):
        import torch

        with torch.no_grad():
            return to_numpy(self.call(layer)(to_tensor(x, layer.weight.device)))

    def tensor(self, view, device):
        return torch_tensor(view, device)

    def gradients(self, layer, x, upstream):

        layer.zero_grad(set_to_none=True)
        device = layer.weight.device
        xt = to_tensor(x, device).requires_grad_(True)
        self.call(layer)(xt).backward(to_tensor(upstream, device))
        bias = None if layer.bias is None else to_numpy(layer.bias.grad)
        return to_numpy(xt.grad), to_numpy(layer.weight.grad), bias

    def train(self, layer, batches, learning_rate):
        import torch

        device = layer.weight.device
        optimizer = torch.optim.SGD(layer.parameters(), lr=learning_rate)
        for x, upstream in batches:
            optimizer.zero_grad(set_to_none=True)
            self.call(layer)(to_tensor(x, device)).backward(to_tensor(upstream, device))
            optimizer.step()

    def second_derivative(self, layer, x, upstream):
        import torch

        device = layer.weight.device
        xt = to_tensor(x, device).requires_grad_(True)
        y = under_policy(layer, layer)(xt)
        (dx,) = torch.autograd.grad(y, xt, to_tensor(upstream, device), create_graph=True)
        (dw,) = torch.autograd.grad((dx * dx).sum(), layer.weight)
        return to_numpy(dw)
