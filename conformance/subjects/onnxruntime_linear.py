"""Subject `onnxruntime` (optional): torch.nn.Linear exported with torch.onnx.export and run by
ONNX Runtime, as a deployed model is. Inference only: no gradients.

Skipped, saying why, where onnx or onnxruntime is not installed (`pip install onnx onnxruntime`).
The weights are the exported graph's initialisers, so loading new ones re-exports: each input
rank gets its own export (its leading dimensions dynamic), made when that rank is first called.
"""

import io
import warnings
from dataclasses import dataclass, field

import numpy as np

from conformance.runtimes import determinism
from conformance.runtimes.torch import prepare_torch, to_numpy, to_tensor, torch_dtype
from conformance.subjects.base import Subject


@dataclass
class Exported:
    """A torch Linear holding the loaded weights, and its ONNX Runtime sessions by input rank."""

    module: object
    device: str
    sessions: dict = field(default_factory=dict)


class OnnxRuntimeLinear(Subject):
    name = "onnxruntime"
    requires: tuple[str, ...] = ("onnx", "onnxruntime", "torch")
    install = "pip install onnx onnxruntime"

    #: the process's thread count, for each session's intra-op pool (prepare_process)
    threads: int | None = None

    def prepare_process(self, threads, tf32):
        prepare_torch(threads, tf32)
        OnnxRuntimeLinear.threads = threads

    def session_options(self):
        """A session's options: the process's thread count; deterministic compute where the
        run asked for determinism (--deterministic)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        options.use_deterministic_compute = determinism.requested()
        return options

    def runtimes(self, dtype, device):
        return ("onnxruntime-cuda",) if device.startswith("cuda") else ("onnxruntime-cpu",)

    def found_devices(self):
        import onnxruntime

        cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        return ["cpu", "cuda:0"] if cuda else ["cpu"]

    def unsupported(self, dtype, device):
        if dtype == "bfloat16" and not device.startswith("cuda"):
            return (
                "ONNX Runtime's CPU provider has no bfloat16 Gemm kernel (NOT_IMPLEMENTED when"
                " the session is created)"
            )
        return None

    def build(self, in_features, out_features, bias, dtype, device):
        import torch

        module = torch.nn.Linear(in_features, out_features, bias=bias, dtype=torch_dtype(dtype))
        return Exported(module, device)

    def load(self, layer, weight, bias):
        import torch

        with torch.no_grad():
            layer.module.weight.copy_(to_tensor(np.ascontiguousarray(weight), "cpu"))
            if bias is not None:
                layer.module.bias.copy_(to_tensor(bias, "cpu"))
        layer.sessions.clear()  # the weights are baked into each export

    def _session(self, layer, rank: int):
        """The session of the graph exported from an x of `rank` dims (its leading ones dynamic)."""
        if rank not in layer.sessions:
            import onnx
            import onnxruntime
            import torch

            sample = torch.zeros((1,) * (rank - 1) + (layer.module.in_features,),
                                 dtype=layer.module.weight.dtype)  # fmt: skip
            buffer = io.BytesIO()
            with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    layer.module, (sample,), buffer,  # type: ignore[arg-type]  # a file object is accepted
                    dynamo=False, input_names=["x"],
                    output_names=["y"], dynamic_axes={"x": {i: f"d{i}" for i in range(rank - 1)}},
                )  # fmt: skip
            model = onnx.load_from_string(buffer.getvalue())
            provider = (
                "CUDAExecutionProvider"
                if layer.device.startswith("cuda")
                else "CPUExecutionProvider"
            )
            session = onnxruntime.InferenceSession(
                model.SerializeToString(), self.session_options(), providers=[provider]
            )
            layer.sessions[rank] = (model, session)
        return layer.sessions[rank]

    def read(self, layer):
        """The parameters as the exported rank-2 graph holds them (its Gemm's initialisers)."""
        from onnx import numpy_helper

        model, _ = self._session(layer, 2)
        found = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        if "weight" not in found:  # a layer with nothing to multiply exports no Gemm weight
            return to_numpy(layer.module.weight), None if layer.module.bias is None else to_numpy(
                layer.module.bias
            )
        return np.ascontiguousarray(found["weight"]), found.get("bias")

    def forward(self, layer, x):
        _, session = self._session(layer, len(x.shape))
        return session.run(None, {"x": np.asarray(x)})[0]
