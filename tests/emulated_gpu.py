"""An emulated GPU: a subject whose `cuda:0` is CPU arithmetic doing what the H200 of
tests/evidence/gpu-h200-1 was seen to do, so that GPU behaviour is testable without a GPU.

`Arithmetic` switches, in any combination:
- tf32: float32 matmul operands rounded to TF32 (10 fraction bits, nearest even, on the bit
  pattern, so a subnormal keeps only its bits above 2^-136);
- float32_evaluation: a float64 layer computed in float32 (operands rounded to float32, products
  and sums in float32), its result widened back;
- flush: subnormal matmul operands read as zero and subnormal matmul results written as zero.

Each device has its own switches (`gpu`, `cpu`), and the subject reports TF32 flags as a
framework would (`tf32_flag`), so a framework that uses TF32 while saying it does not can be
emulated too. The bias is added as its own op after the matmul (as Keras does); `widen_bias` adds
it in the stored dtype (Keras on torch widens a float32 product back to float64 that way).
"""

from dataclasses import dataclass, field, fields

import numpy as np

from conformance.core import oracle
from conformance.core.formats import FORMATS
from conformance.subjects.base import Subject
from tests.conftest import runtimes_for

F32 = np.dtype(np.float32)


def tf32(a: np.ndarray) -> np.ndarray:
    """float32 values rounded to TF32 (nearest even at 10 fraction bits), as Ampere+ tensor cores read them."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0xFFF + ((bits >> 13) & 1)) & 0xFFFFE000
    return rounded.astype(np.uint32).view(np.float32).reshape(np.shape(a))


def flushed(a: np.ndarray) -> np.ndarray:
    tiny = FORMATS["float32" if a.dtype == F32 else "float64"].tiny
    return np.where(np.abs(a) < tiny, 0, a).astype(a.dtype)


@dataclass(frozen=True)
class Arithmetic:
    """How one device computes."""

    tf32: bool = False
    float32_evaluation: bool = False
    flush: bool = False

    def evaluation(self, dtype: str) -> np.dtype:
        wide = dtype == "float64" and not self.float32_evaluation
        return np.dtype(np.float64) if wide else F32

    def matmul(self, a: np.ndarray, b: np.ndarray, dtype: str) -> np.ndarray:
        """a (..., n) times b (k, n) transposed, in this arithmetic's evaluation format."""
        ev = self.evaluation(dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            a, b = a.astype(ev), b.astype(ev)
            if self.tf32 and ev == F32:
                a, b = tf32(a), tf32(b)
            if self.flush:
                a, b = flushed(a), flushed(b)
            y = (a @ b.T).astype(ev)
        return flushed(y) if self.flush else y


@dataclass
class Layer:
    weight: np.ndarray
    bias: np.ndarray | None
    dtype: str
    device: str


@dataclass(eq=False)
class EmulatedGpu(Subject):
    """A subject computing in numpy, with a `cuda:0` that computes as `gpu` says."""

    label_as: str = "emulated"
    gpu: Arithmetic = field(default_factory=Arithmetic)
    cpu: Arithmetic = field(default_factory=Arithmetic)
    tf32_flag: bool = False
    widen_bias: bool = False
    #: a float64 layer keeps float32 parameters and returns float32 (Keras on JAX without x64)
    float32_storage: bool = False

    stands_in = True  # labelled as the built-in it emulates, with that one's registry entries

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.label_as

    def runtimes(self, dtype, device):
        return runtimes_for(self.label_as)(device)

    def found_devices(self):
        return ["cpu", "cuda:0"]

    def precision_flags(self, dtype, device):
        return {"tf32": self.tf32_flag} if device.startswith("cuda") else {}

    def arithmetic(self, layer: Layer) -> Arithmetic:
        return self.gpu if layer.device.startswith("cuda") else self.cpu

    def stored(self, dtype: str) -> np.dtype:
        narrow = dtype == "float64" and self.float32_storage
        return F32 if narrow else FORMATS[dtype].numpy

    def build(self, in_features, out_features, bias, dtype, device):
        rng = np.random.default_rng(0)
        limit = 1 / np.sqrt(max(in_features, 1))
        weight = rng.uniform(-limit, limit, (out_features, in_features))
        b = rng.uniform(-limit, limit, out_features) if bias else None
        layer = Layer(weight, b, dtype, device)
        self.load(layer, weight, b)
        return layer

    def load(self, layer, weight, bias):
        stored = self.stored(layer.dtype)
        with np.errstate(over="ignore"):  # float64 parameters past float32's range stored as inf
            layer.weight = np.asarray(weight).astype(stored)
            layer.bias = None if bias is None else np.asarray(bias).astype(stored)

    def read(self, layer):
        return layer.weight.copy(), None if layer.bias is None else layer.bias.copy()

    def result(self, layer: Layer, product: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """The matmul result with the bias added as its own op, in the dtype the subject returns."""
        out = self.stored(layer.dtype)
        if bias is None:
            return product.astype(out)
        wide = FORMATS[layer.dtype].numpy if self.widen_bias else product.dtype
        with np.errstate(over="ignore", invalid="ignore"):
            total = product.astype(out).astype(wide) + bias.astype(wide)
        return total.astype(wide if self.widen_bias else out)

    def forward(self, layer, x):
        product = self.arithmetic(layer).matmul(x, layer.weight, layer.dtype)
        return self.result(layer, product, layer.bias)

    def gradients(self, layer, x, upstream):
        arithmetic, out = self.arithmetic(layer), self.stored(layer.dtype)
        g, rows = oracle.rows(upstream), oracle.rows(x)
        dx = arithmetic.matmul(upstream, layer.weight.T, layer.dtype).astype(out)
        dweight = arithmetic.matmul(g.T, rows.T, layer.dtype).astype(out)
        dbias = None
        if layer.bias is not None:
            dbias = g.astype(arithmetic.evaluation(layer.dtype)).sum(0).astype(out)
        return dx, dweight, dbias

    def train(self, layer, batches, learning_rate):
        for x, upstream in batches:
            _, dweight, dbias = self.gradients(layer, x, upstream)
            ev = self.arithmetic(layer).evaluation(layer.dtype)
            layer.weight = (layer.weight.astype(ev) - learning_rate * dweight.astype(ev)).astype(
                layer.weight.dtype
            )
            if layer.bias is not None:
                layer.bias = (layer.bias.astype(ev) - learning_rate * dbias.astype(ev)).astype(
                    layer.bias.dtype
                )

    def second_derivative(self, layer, x, upstream):
        arithmetic, out = self.arithmetic(layer), self.stored(layer.dtype)
        g = oracle.rows(upstream)
        inner = arithmetic.matmul(g, layer.weight.T, layer.dtype)
        return arithmetic.matmul(2 * g.T, inner.T, layer.dtype).astype(out)


class BiasDropped(EmulatedGpu):
    """A planted bug on the emulated GPU: cuda:0 leaves the bias out."""

    def forward(self, layer, x):
        if not layer.device.startswith("cuda"):
            return super().forward(layer, x)
        product = self.arithmetic(layer).matmul(x, layer.weight, layer.dtype)
        return self.result(layer, product, None)


class WeightUntransposed(EmulatedGpu):
    """A planted bug on the emulated GPU: cuda:0 reads weight (out, in) as if it were (in, out)."""

    def forward(self, layer, x):
        if not layer.device.startswith("cuda"):
            return super().forward(layer, x)
        wrong = layer.weight.reshape(layer.weight.shape[::-1]).T
        product = self.arithmetic(layer).matmul(x, wrong, layer.dtype)
        return self.result(layer, product, layer.bias)


#: the H200 runs of tests/evidence/gpu-h200-1, emulated: per run, its --tf32 policy and its subjects
XLA_CPU = Arithmetic(float32_evaluation=True, flush=True)
H200_RUNS = {
    "jax": ("framework-default", {
        "keras/jax": EmulatedGpu(
            "keras/jax", gpu=Arithmetic(tf32=True, float32_evaluation=True), cpu=XLA_CPU,
            tf32_flag=True, float32_storage=True,
        ),
    }),
    "jax-tf32-off": ("off", {
        "keras/jax": EmulatedGpu(
            "keras/jax", gpu=Arithmetic(float32_evaluation=True), cpu=XLA_CPU,
            float32_storage=True,
        ),
    }),
    "torch-thorough": ("framework-default", {
        "keras/torch": EmulatedGpu(
            "keras/torch", gpu=Arithmetic(float32_evaluation=True),
            cpu=Arithmetic(float32_evaluation=True), widen_bias=True,
        ),
    }),
    "torch-tf32-on": ("on", {
        label: EmulatedGpu(label, gpu=Arithmetic(tf32=True), tf32_flag=True)
        for label in ("torch", "keras/torch")
    }),
}  # fmt: skip


# `module:attr` plug-ins for suite runs on the emulated GPU (`--subjects tests.emulated_gpu:JAX_H200`)
JAX_H200 = H200_RUNS["jax"][1]["keras/jax"]
JAX_H200_TF32_OFF = H200_RUNS["jax-tf32-off"][1]["keras/jax"]
KERAS_TORCH_H200 = H200_RUNS["torch-thorough"][1]["keras/torch"]
TORCH_H200_TF32_ON = H200_RUNS["torch-tf32-on"][1]["torch"]


def like(cls: type, subject: EmulatedGpu, **changes) -> EmulatedGpu:
    """A `cls` configured as `subject`, with `changes`."""
    return cls(**{f.name: getattr(subject, f.name) for f in fields(subject)} | changes)


#: planted bugs on the emulated GPU, each otherwise the H200's keras/jax under framework-default
JAX_H200_BIAS_DROPPED = like(BiasDropped, JAX_H200)
JAX_H200_WEIGHT_UNTRANSPOSED = like(WeightUntransposed, JAX_H200)
#: a framework that runs TF32 while its flags say it does not: never a known divergence
JAX_H200_TF32_UNDECLARED = like(EmulatedGpu, JAX_H200, tf32_flag=False)
