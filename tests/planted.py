"""Planted bugs: deliberately broken subjects, each of which one property must report.

Each class is a `module:attr` plug-in (`--subjects tests.planted:BiasIgnored`). PLANTED maps
it to the property that must fail (and the dtypes on which the bug can show).
"""

import os

import ml_dtypes
import numpy as np

from conformance.core.formats import POLICIES, compute_format
from conformance.core.identity import with_mode
from conformance.runtimes import once_per_layer
from conformance.runtimes.torch import to_numpy, to_tensor
from conformance.subjects.flax_linear import FlaxLinear
from conformance.subjects.keras_dense import KerasDense
from conformance.subjects.litert_dense import LiteRtDense
from conformance.subjects.onnxruntime_linear import OnnxRuntimeLinear
from conformance.subjects.torch_linear import TorchLinear


class _Planted(TorchLinear):
    """A torch subject with a bug planted by the subclass."""


def host(x) -> np.ndarray:
    """x as a numpy array, whether it came as one or as a torch tensor (a planted kernel in numpy)."""
    return to_numpy(to_tensor(x, "cpu"))


class _PlantedKeras(KerasDense):
    """A Keras subject with a bug planted by the subclass, named by its own name, not its backend."""

    @property
    def label(self) -> str:
        return with_mode(self.name, self.mode)


class ReshapedNotTransposed(_PlantedKeras):
    """Keras conversion that reshapes weight (out, in) to (in, out) instead of transposing it."""

    name = "planted-reshape"

    def load(self, layer, weight, bias):
        layer.kernel.assign(weight.reshape(weight.shape[1], weight.shape[0]))
        if bias is not None:
            layer.bias.assign(bias)

    def read(self, layer):
        kernel, bias = super().read(layer)  # kernel.T, undone below
        return np.ascontiguousarray(kernel.T).reshape(kernel.shape), bias


class TransposedOnlyWhenShapesDiffer(_PlantedKeras):
    """Keras conversion that transposes only when the shapes disagree: square layers go in as W, not W^T."""

    name = "planted-square-untransposed"

    def load(self, layer, weight, bias):
        same = tuple(layer.kernel.shape) == weight.shape
        layer.kernel.assign(weight if same else weight.T)
        if bias is not None:
            layer.bias.assign(bias)

    def read(self, layer):
        kernel, bias = super().read(layer)
        return (kernel.T if kernel.shape[0] == kernel.shape[1] else kernel), bias


class BiasIgnored(_Planted):
    name = "planted-bias-ignored"

    def forward(self, layer, x):
        import torch

        with torch.no_grad():
            return to_numpy(torch.nn.functional.linear(to_tensor(x, "cpu"), layer.weight))


class BiasAddedTwice(_Planted):
    name = "planted-bias-twice"

    def forward(self, layer, x):
        y = super().forward(layer, x)
        return y if layer.bias is None else y + to_numpy(layer.bias)


class Float32ThroughFloat16(_Planted):
    """float32 computed in float16 and cast back."""

    name = "planted-float32-via-float16"

    def forward(self, layer, x):
        import torch

        if layer.weight.dtype != torch.float32:
            return super().forward(layer, x)
        with torch.no_grad():
            half = torch.nn.functional.linear(
                to_tensor(x, "cpu").half(),
                layer.weight.half(),
                None if layer.bias is None else layer.bias.half(),
            )
            return to_numpy(half.float())


class HalfAccumulation(_Planted):
    """float16 products summed one by one in float16 (a plausible kernel, and a reduced-precision one)."""

    name = "planted-half-accumulation"

    def forward(self, layer, x):
        weight, bias = self.read(layer)
        if weight.dtype != np.float16:
            return super().forward(layer, x)
        x = host(x)
        total = np.zeros((*x.shape[:-1], weight.shape[0]), np.float16)
        for i in range(x.shape[-1]):  # products are exact in float32, then rounded
            product = x[..., i, None].astype(np.float32) * weight[:, i].astype(np.float32)
            total = total + product.astype(np.float16)
        return total if bias is None else total + bias


class TruncatedBfloat16Matmul(_Planted):
    """bfloat16 x W^T summed in float32 and rounded toward zero (truncated) to bfloat16, the bias
    then added and rounded to nearest: what TensorFlow's bfloat16 matmul does on CPUs without
    AVX512-BF16, in a subject the registry says nothing about."""

    name = "planted-bfloat16-truncated"

    def forward(self, layer, x):
        import torch

        weight, bias = self.read(layer)
        if weight.dtype != ml_dtypes.bfloat16:
            return super().forward(layer, x)
        flat = host(x).astype(np.float32)
        total = (flat @ weight.astype(np.float32).T).astype(np.float32)
        bits = torch.from_numpy(total).view(torch.int32) & -65536  # the low 16 bits cut
        y = bits.view(torch.float32).numpy().astype(ml_dtypes.bfloat16)
        if bias is None:
            return y
        return (y.astype(np.float32) + bias.astype(np.float32)).astype(ml_dtypes.bfloat16)


class BatchingBugFromRank3(_Planted):
    """For x of rank >= 3 the leading dims are flattened in the wrong order."""

    name = "planted-batching-rank3"

    def forward(self, layer, x):
        if x.ndim < 3:
            return super().forward(layer, x)
        scrambled = np.ascontiguousarray(np.swapaxes(host(x), 0, 1)).reshape(x.shape)
        return super().forward(layer, scrambled)


class PromotesHalfToFloat32(_Planted):
    """float16/bfloat16 results come back as float32 (computed in float32, never cast back)."""

    name = "planted-dtype-promotion"

    def forward(self, layer, x):
        import torch

        if layer.weight.dtype not in (torch.float16, torch.bfloat16):
            return super().forward(layer, x)
        with torch.no_grad():
            bias = None if layer.bias is None else layer.bias.float()
            y = torch.nn.functional.linear(to_tensor(x, "cpu").float(), layer.weight.float(), bias)
            return y.numpy()


class InputMutated(_Planted):
    """Scales the input in place by 2 and halves x W^T: right values, clobbered input (a stride-0
    broadcast, whose elements share memory, is left alone: torch refuses to write to it)."""

    name = "planted-input-mutated"

    def forward(self, layer, x):
        import torch

        with torch.no_grad():
            xt = to_tensor(x, "cpu")
            scale = 1 if 0 in xt.stride() else 2
            if scale != 1:
                xt.mul_(scale)
            y = torch.nn.functional.linear(xt, layer.weight) / scale
            return to_numpy(y if layer.bias is None else y + layer.bias)


class WeightsDrift(_Planted):
    """Each call nudges the weight in place after computing the result."""

    name = "planted-weights-drift"

    def forward(self, layer, x):
        import torch

        y = super().forward(layer, x)
        with torch.no_grad():
            layer.weight.mul_(1.5)
        return y


class LossyRoundTrip(_Planted):
    """Reads float32/float64 weights back through float16."""

    name = "planted-lossy-read"

    def read(self, layer):
        weight, bias = super().read(layer)
        if weight.dtype in (np.float32, np.float64):
            with np.errstate(over="ignore"):
                weight = weight.astype(np.float16).astype(weight.dtype)
        return weight, bias


class BiasParameterAlways(_Planted):
    """Builds a (randomly initialised) bias even when asked for none."""

    name = "planted-bias-always"

    def build(self, in_features, out_features, bias, dtype, device):
        return super().build(in_features, out_features, True, dtype, device)


class Rank1Rejected(_Planted):
    """Refuses x without leading dims, like Keras, but is not Keras: not a known divergence."""

    name = "planted-rank1-rejected"

    def forward(self, layer, x):
        if x.ndim < 2:
            raise ValueError("expected min_ndim=2")
        return super().forward(layer, x)


class ZeroOutRejected(_Planted):
    name = "planted-zero-out-rejected"

    def build(self, in_features, out_features, bias, dtype, device):
        if out_features == 0:
            raise ValueError("out_features must be positive")
        return super().build(in_features, out_features, bias, dtype, device)


class NanSwallowed(_Planted):
    """Replaces NaN in the result by zero."""

    name = "planted-nan-swallowed"

    def forward(self, layer, x):
        return np.nan_to_num(super().forward(layer, x), nan=0.0, posinf=np.inf, neginf=-np.inf)


class SubnormalsFlushed(_Planted):
    """Flushes subnormal inputs to zero, like TensorFlow on CPU, but is not Keras."""

    name = "planted-subnormals-flushed"

    def forward(self, layer, x):
        x = host(x)
        tiny = ml_dtypes.finfo(x.dtype).smallest_normal
        x = np.where(np.abs(x.astype(np.float64)) < tiny, 0, x).astype(x.dtype)
        return super().forward(layer, x)


class ZeroDefaultBias(_Planted):
    """Default initialisation with a zero bias, paired against torch: not the known torch/Keras divergence."""

    name = "planted-zero-default-bias"

    def build(self, in_features, out_features, bias, dtype, device):
        import torch

        layer = super().build(in_features, out_features, bias, dtype, device)
        if layer.bias is not None:
            torch.nn.init.zeros_(layer.bias)
        return layer


class CoarseRandomBias(_Planted):
    """Not a bug: a default bias drawn at random on a coarse grid, so each element is exactly
    zero one time in four (as a uniform draw rounded to a narrow format is, now and then)."""

    name = "coarse-random-bias"

    def build(self, in_features, out_features, bias, dtype, device):
        import torch

        layer = super().build(in_features, out_features, bias, dtype, device)
        if layer.bias is not None:
            with torch.no_grad():
                grid = torch.tensor([-0.5, 0.0, 0.25, 0.5], dtype=layer.bias.dtype)
                layer.bias.copy_(grid[torch.randint(0, 4, layer.bias.shape)])
        return layer


class SquareWeightGradientUntransposed(_Planted):
    """Reads a kernel-layout (in, out) weight gradient back without transposing it on square layers."""

    name = "planted-square-weight-gradient"

    def gradients(self, layer, x, upstream):
        dx, dweight, dbias = super().gradients(layer, x, upstream)
        square = dweight.shape[0] == dweight.shape[1]
        return dx, (np.ascontiguousarray(dweight.T) if square else dweight), dbias


class BiasGradientAveraged(_Planted):
    """Averages the bias gradient over the batch instead of summing it."""

    name = "planted-bias-gradient-mean"

    def gradients(self, layer, x, upstream):
        dx, dweight, dbias = super().gradients(layer, x, upstream)
        rows = max(1, int(np.prod(x.shape[:-1])))
        return (
            dx,
            dweight,
            None if dbias is None else (dbias.astype(np.float64) / rows).astype(dbias.dtype),
        )


class WeightGradientFromFirstRow(_Planted):
    """Computes the weight gradient from the first batch row only."""

    name = "planted-weight-gradient-first-row"

    def gradients(self, layer, x, upstream):
        dx, dweight, dbias = super().gradients(layer, x, upstream)
        flat_x, flat_g = (
            x.reshape(-1, x.shape[-1])[:1],
            upstream.reshape(-1, upstream.shape[-1])[:1],
        )
        if flat_x.shape[0]:
            _, dweight, _ = super().gradients(layer, flat_x, flat_g)
        return dx, dweight, dbias


class UpstreamGradientIgnored(_Planted):
    """Backpropagates ones (a plain sum) instead of the upstream gradient."""

    name = "planted-upstream-ignored"

    def gradients(self, layer, x, upstream):
        return super().gradients(layer, x, np.ones_like(upstream))


class GradientsAccumulate(_Planted):
    """Never clears .grad, so gradients add up across calls."""

    name = "planted-gradients-accumulate"

    def gradients(self, layer, x, upstream):
        device = layer.weight.device
        xt = to_tensor(x, device).requires_grad_(True)
        layer(xt).backward(to_tensor(upstream, device))
        bias = None if layer.bias is None else to_numpy(layer.bias.grad)
        return to_numpy(xt.grad), to_numpy(layer.weight.grad), bias


class SgdStepInKernelLayout(_Planted):
    """Applies each SGD step's weight update in the (in, out) kernel layout, reshaped onto (out, in)."""

    name = "planted-sgd-wrong-layout"

    def train(self, layer, batches, learning_rate):
        import torch

        for x, upstream in batches:
            _, dweight, dbias = self.gradients(layer, x, upstream)
            with torch.no_grad():
                step = torch.from_numpy(
                    np.ascontiguousarray(dweight.T).reshape(dweight.shape).astype(np.float64)
                )
                layer.weight.sub_((learning_rate * step).to(layer.weight.dtype))
                if dbias is not None:
                    layer.bias.sub_(
                        (learning_rate * torch.from_numpy(dbias.astype(np.float64))).to(
                            layer.bias.dtype
                        )
                    )


class SecondDerivativeDetached(_Planted):
    """Detaches dL/dx before squaring it: the second derivative comes back as zeros."""

    name = "planted-second-derivative-detached"

    def second_derivative(self, layer, x, upstream):
        import torch

        device = layer.weight.device
        xt = to_tensor(x, device).requires_grad_(True)
        (dx,) = torch.autograd.grad(layer(xt), xt, to_tensor(upstream, device))
        norm = (dx.detach() * dx.detach()).sum() + 0 * layer.weight.sum()
        (dw,) = torch.autograd.grad(norm, layer.weight)
        return to_numpy(dw)


class EmptyBatchGradientsNotZero(_Planted):
    """Returns ones, not zeros, as weight and bias gradients of an empty batch."""

    name = "planted-empty-batch-gradients"

    def gradients(self, layer, x, upstream):
        dx, dweight, dbias = super().gradients(layer, x, upstream)
        if 0 in x.shape[:-1]:
            dweight = np.ones_like(dweight)
            dbias = None if dbias is None else np.ones_like(dbias)
        return dx, dweight, dbias


class SecondDeviceDropsBias(_Planted):
    """Right on the CPU, drops the bias on its second device: a stand-in "cpu:1" (a layer on the
    CPU flagged as the other device), as a GPU-only kernel bug would."""

    name = "planted-second-device-drops-bias"
    #: the device its planted cells run on
    device = "cpu:1"

    def found_devices(self):
        return ["cpu", self.device]

    def build(self, in_features, out_features, bias, dtype, device):
        layer = super().build(in_features, out_features, bias, dtype, "cpu")
        layer.stand_in = device == self.device
        return layer

    def forward(self, layer, x):
        if not layer.stand_in or layer.bias is None:
            return super().forward(layer, x)
        weight, _ = self.read(layer)
        product = host(x).astype(np.float64) @ weight.astype(np.float64).T
        return product.astype(weight.dtype)


class WrongBeyondSize(_Planted):
    """A kernel that takes another path past 256 input features, and gets it slightly wrong
    (each result scaled by 1 + 2^-10): only the tail of large shapes meets it."""

    name = "planted-wrong-beyond-256"

    def forward(self, layer, x):
        y = super().forward(layer, x)
        return y * np.float32(1 + 2**-10) if layer.in_features > 256 else y


class ScaledPast100Rows(_Planted):
    """Scales the result by 1 + 1e-3 when x has more than 100 rows: a bug only large batches
    meet, which must be reported on the smallest batch that shows it (101 rows), not on the
    1024 x 1024 example aimed at the 2^20-element band."""

    name = "planted-scaled-past-100-rows"

    def forward(self, layer, x):
        y = super().forward(layer, x)
        rows = int(np.prod(x.shape[:-1])) if len(x.shape) > 1 else 1
        return (y * (1 + 1e-3)).astype(y.dtype) if rows > 100 else y


class StridedReadAsContiguous(_Planted):
    """A kernel that reads a non-contiguous input's memory as if it were contiguous."""

    name = "planted-strided-as-contiguous"

    def forward(self, layer, x):
        import torch

        t = to_tensor(x, "cpu")
        if not t.is_contiguous():
            packed = torch.empty(t.shape, dtype=t.dtype).stride()
            t = t.as_strided(t.shape, packed, t.storage_offset())
        return super().forward(layer, t)


class MixedInputThroughFloat16(_PlantedKeras):
    """Casts an input of another floating dtype to float16 before the layer casts it to its own."""

    name = "planted-mixed-via-float16"

    def forward(self, layer, x):
        import keras

        dtype = keras.backend.standardize_dtype(x.dtype)
        if dtype.startswith("float") and dtype != layer.compute_dtype:
            x = keras.ops.cast(x, "float16")
        return super().forward(layer, x)


class IntegerInputWrapsToInt8(_PlantedKeras):
    """Converts integer input through int8 (wrapping) before the layer's own conversion."""

    name = "planted-integer-via-int8"

    def forward(self, layer, x):
        import keras

        if keras.backend.standardize_dtype(x.dtype) in ("int32", "int64", "uint8"):
            x = keras.ops.cast(keras.ops.cast(x, "int8"), "int32")
        return super().forward(layer, x)


class Int64InputThroughInt32(_PlantedKeras):
    """Converts int64 input through int32 (wrapping past its range), as JAX without 64-bit types
    does: reported as input-narrowed:int32, which no registry entry explains for this subject."""

    name = "planted-int64-via-int32"

    def forward(self, layer, x):
        import keras

        if keras.backend.standardize_dtype(x.dtype) == "int64":
            x = keras.ops.cast(x, "int32")
        return super().forward(layer, x)


# -- mixed precision: bugs only a policy's cells show (plain dtypes run as torch does) ----------
def _policy(layer) -> str | None:
    """The mixed-precision policy a planted torch layer was built for, or None."""
    return layer.conformance_dtype if layer.conformance_dtype in POLICIES else None


class AutocastForgotten(_Planted):
    """Calls a policy's layer without torch.autocast: computed and returned in float32."""

    name = "planted-autocast-forgotten"

    def forward(self, layer, x):
        import torch

        with torch.no_grad():
            return to_numpy(layer(to_tensor(x, layer.weight.device)))


class AutocastToTheOtherHalf(_Planted):
    """Autocasts mixed_float16 to bfloat16 (8 significand bits, not 11), the result cast to float16."""

    name = "planted-autocast-bfloat16"

    def forward(self, layer, x):
        import torch

        if _policy(layer) != "mixed_float16":
            return super().forward(layer, x)
        with torch.no_grad(), torch.autocast(layer.weight.device.type, dtype=torch.bfloat16):
            y = layer(to_tensor(x, layer.weight.device))
        return to_numpy(y.to(torch.float16))


class MastersInComputeFormat(_PlantedKeras):
    """Builds a policy's Dense in its compute format: float16 variables, no float32 masters."""

    name = "planted-no-float32-masters"

    def build(self, in_features, out_features, bias, dtype, device):
        compute = compute_format(dtype).name
        return super().build(in_features, out_features, bias, compute, device)


class GradientsInComputeFormat(_Planted):
    """Returns a policy's gradients in its compute format, never cast back to float32."""

    name = "planted-gradients-not-float32"

    def gradients(self, layer, x, upstream):
        found = super().gradients(layer, x, upstream)
        if _policy(layer) is None:
            return found
        compute = compute_format(_policy(layer)).numpy
        return tuple(None if g is None else g.astype(compute) for g in found)


class SgdOnComputeCopy(_Planted):
    """Applies each SGD step to the compute-format copy of a policy's weights and writes it back:
    the float32 masters keep only the compute format's bits."""

    name = "planted-sgd-on-compute-copy"

    def train(self, layer, batches, learning_rate):
        import torch

        policy = _policy(layer)
        for batch in batches:
            super().train(layer, [batch], learning_rate)
            if policy is not None:
                compute = getattr(torch, compute_format(policy).name)
                with torch.no_grad():
                    for p in layer.parameters():
                        p.copy_(p.to(compute).float())


def summed_in_order(layer, x, order, bias: bool = True) -> np.ndarray:
    """x W^T (+ b) with the products over the input features in `order` (a permutation of them:
    the same sum, rounded another way; or some of them: a partial sum)."""
    import torch

    with torch.no_grad():
        xt = to_tensor(x, layer.weight.device)
        index = torch.as_tensor(np.array(order, dtype=np.int64), device=layer.weight.device)
        y = torch.nn.functional.linear(
            xt.index_select(-1, index),
            layer.weight.index_select(1, index),
            layer.bias if bias else None,
        )
        return to_numpy(y)


class SummationOrderPerCall(_Planted):
    """Sums the products in another order on each call (its input features rotated by the call
    count): every result within rounding, but other bits from call to call."""

    name = "planted-order-per-call"
    calls = 0

    def forward(self, layer, x):
        SummationOrderPerCall.calls += 1
        features = layer.in_features
        return summed_in_order(
            layer, x, np.roll(np.arange(features), self.calls % max(features, 1))
        )


class OneRowPath(_Planted):
    """Takes another kernel path for a batch of one row (its input features summed in reverse, as
    a matrix-vector kernel might) and declares itself batch-invariant."""

    name = "planted-one-row-path"
    batch_invariant = True

    def forward(self, layer, x):
        rows = int(np.prod(x.shape[:-1])) if len(x.shape) > 1 else 1
        if rows != 1:
            return super().forward(layer, x)
        return summed_in_order(layer, x, np.arange(layer.in_features)[::-1])


class OneRowPathUndeclared(OneRowPath):
    """The same kernel paths, with no claim of batch invariance: characterised, not failed."""

    name = "planted-one-row-path-undeclared"
    batch_invariant = False


class SplitByThreadCount(_Planted):
    """Splits the sum over the input features into one part per torch thread and adds the parts
    (as a parallel reduction does), and declares itself thread-count-invariant."""

    name = "planted-split-by-threads"
    thread_invariant = True

    def forward(self, layer, x):
        import torch

        features = layer.in_features
        parts = [p for p in np.array_split(np.arange(features), torch.get_num_threads()) if p.size]
        if len(parts) < 2:
            return super().forward(layer, x)
        total = summed_in_order(layer, x, parts[0])
        for part in parts[1:]:
            total = total + summed_in_order(layer, x, part, bias=False)
        return total


class LeadingDimsFlattened(_Planted):
    """Returns x of rank 3 or more with its leading dimensions flattened into one: (rows, out)."""

    name = "planted-leading-dims-flattened"

    def forward(self, layer, x):
        y = super().forward(layer, x)
        return y.reshape(-1, y.shape[-1]) if y.ndim > 2 else y


#: bugs of an opt-in claim: subject -> (property that must report it, the option that asks for
#: the claim); each is checked by tests/test_reproducibility.py (with torch, in float32)
PLANTED_OPT_IN = {
    SummationOrderPerCall: ("repeated_calls_give_the_same_bits", "--deterministic"),
    SplitByThreadCount: ("results_do_not_depend_on_the_thread_count", "--thread-counts"),
    LeadingDimsFlattened: ("pair_shares_bits", ""),
}

POLICY_DTYPES = tuple(POLICIES)
#: planted subject -> (property that must report it, dtypes the bug shows on)
PLANTED = {
    ReshapedNotTransposed: ("forward_within_bound", ("float32",)),
    TransposedOnlyWhenShapesDiffer: ("forward_within_bound", ("float32",)),
    BiasIgnored: ("forward_within_bound", ("float16", "float32")),
    BiasAddedTwice: ("forward_within_bound", ("float16", "float32", "mixed_float16")),
    Float32ThroughFloat16: ("forward_within_bound", ("float32",)),
    HalfAccumulation: ("forward_within_bound", ("float16",)),
    TruncatedBfloat16Matmul: ("forward_within_bound", ("bfloat16",)),
    SecondDeviceDropsBias: ("device_agrees_with_cpu", ("float32",)),
    BatchingBugFromRank3: (
        "leading_shape_equals_flattened_batch",
        ("float16", "float32", "mixed_float16"),
    ),
    PromotesHalfToFloat32: ("output_has_expected_shape_and_dtype", ("float16",)),
    InputMutated: ("call_mutates_neither_input_nor_weights", ("float16", "float32")),
    WeightsDrift: ("call_mutates_neither_input_nor_weights", ("float16", "float32")),
    LossyRoundTrip: ("weight_round_trip_is_bit_exact", ("float32", "mixed_float16")),
    BiasParameterAlways: (
        "bias_off_equals_layer_without_bias_parameter",
        ("float16", "float32"),
    ),
    Rank1Rejected: ("rank1_input_equals_batch_of_one", ("float16", "float32", "mixed_float16")),
    ZeroOutRejected: (
        "zero_out_features_gives_empty_output",
        ("float16", "float32", "mixed_float16"),
    ),
    NanSwallowed: ("nan_and_inf_positions_agree", ("float16", "float32", "mixed_float16")),
    SubnormalsFlushed: ("subnormals_follow_gradual_underflow", ("float32",)),
    SquareWeightGradientUntransposed: (
        "weight_gradient_within_bound",
        ("float16", "float32", "mixed_float16"),
    ),
    BiasGradientAveraged: ("bias_gradient_within_bound", ("float16", "float32", "mixed_float16")),
    WeightGradientFromFirstRow: (
        "weight_gradient_within_bound",
        ("float16", "float32"),
    ),
    UpstreamGradientIgnored: (
        "input_gradient_within_bound",
        ("float16", "float32", "mixed_float16"),
    ),
    GradientsAccumulate: (
        "gradients_do_not_leak_between_examples",
        ("float16", "float32", "mixed_float16"),
    ),
    SgdStepInKernelLayout: (
        "sgd_steps_track_the_exact_trajectory",
        ("float16", "float32", "mixed_float16"),
    ),
    SecondDerivativeDetached: (
        "second_derivative_within_bound",
        ("float16", "float32", "mixed_float16"),
    ),
    EmptyBatchGradientsNotZero: (
        "zero_size_batch_gives_zero_parameter_gradients",
        ("float16", "float32", "mixed_float16"),
    ),
    OneRowPath: ("rows_do_not_depend_on_their_batch", ("float32",)),
    WrongBeyondSize: ("forward_within_bound", ("float32",)),
    StridedReadAsContiguous: ("forward_within_bound", ("float32",)),
    MixedInputThroughFloat16: ("float_input_is_cast_to_the_layer_dtype", ("float32",)),
    IntegerInputWrapsToInt8: ("integer_input_is_converted_to_the_layer_dtype", ("float32",)),
    Int64InputThroughInt32: ("integer_input_is_converted_to_the_layer_dtype", ("float32",)),
    AutocastForgotten: ("output_has_expected_shape_and_dtype", POLICY_DTYPES),
    AutocastToTheOtherHalf: ("forward_within_bound", ("mixed_float16",)),
    MastersInComputeFormat: ("weight_round_trip_is_bit_exact", POLICY_DTYPES),
    GradientsInComputeFormat: ("weight_gradient_within_bound", POLICY_DTYPES),
    SgdOnComputeCopy: ("sgd_steps_track_the_exact_trajectory", POLICY_DTYPES),
}

#: bugs that leave the forward result right: their forward cells must still pass
FORWARD_INTACT = (
    PromotesHalfToFloat32,
    InputMutated,
    WeightsDrift,
    LossyRoundTrip,
    SquareWeightGradientUntransposed,
    BiasGradientAveraged,
    WeightGradientFromFirstRow,
    UpstreamGradientIgnored,
    GradientsAccumulate,
    SgdStepInKernelLayout,
    SecondDerivativeDetached,
    EmptyBatchGradientsNotZero,
)


# -- subjects for the reporting self-tests (not bugs a property owns) ---------------------------
class CrashesWorker(_Planted):
    """Kills its own process on the first call, as a segfaulting kernel would."""

    name = "planted-crash"

    def forward(self, layer, x):
        os._exit(3)


class InterruptsRun(_Planted):
    """Raises KeyboardInterrupt on the first call: what Ctrl-C does to a run."""

    name = "planted-interrupt"

    def forward(self, layer, x):
        raise KeyboardInterrupt


class HangsUntilKilled(_Planted):
    """Never returns from a call, as a hung kernel would; first it creates the file
    $CONFORMANCE_PLANTED_HUNG, so that a test knows the cell has started."""

    name = "planted-hangs"

    def forward(self, layer, x):
        import pathlib
        import threading

        pathlib.Path(os.environ["CONFORMANCE_PLANTED_HUNG"]).touch()
        threading.Event().wait()


class BiasTwiceUntilFixed(BiasAddedTwice):
    """Adds the bias twice unless CONFORMANCE_PLANTED_FIXED=1: a bug that a release can fix."""

    name = "planted-fixable"

    def forward(self, layer, x):
        fixed = os.environ.get("CONFORMANCE_PLANTED_FIXED") == "1"
        return TorchLinear.forward(self, layer, x) if fixed else super().forward(layer, x)


class RegressedTorch(BiasAddedTwice):
    """Calls itself torch: a candidate 'upgrade' of torch with a regression, for the diff gate."""

    name = "torch"


# -- the optional subjects' deployment paths (each runs where its framework is installed) --------
class FlaxKernelReshaped(FlaxLinear):
    """A Flax port that reshapes weight (out, in) to the (in, out) kernel instead of transposing."""

    name = "planted-flax-reshape"

    def load(self, layer, weight, bias):
        super().load(layer, np.ascontiguousarray(weight.reshape(weight.shape[::-1]).T), bias)


class OnnxExportStaleBias(OnnxRuntimeLinear):
    """An export made before the bias was written: the graph keeps torch's default bias."""

    name = "planted-onnxruntime-stale-bias"

    def load(self, layer, weight, bias):
        super().load(layer, weight, None)


class LiteRtFloat16Everywhere(LiteRtDense):
    """A conversion that takes the float16 path for float32 layers too (weights rounded to float16)."""

    name = "planted-litert-float16-weights"

    def weights_in_float16(self, dtype):
        return True


#: each optional subject's planted bug -> the property that must report it, on float32
PLANTED_OPTIONAL = {
    FlaxKernelReshaped: "forward_within_bound",
    OnnxExportStaleBias: "forward_within_bound",
    LiteRtFloat16Everywhere: "forward_within_bound",
}


# -- execution modes: bugs that only a staged or compiled call shows ------------------------------
class StagedWithFrozenWeights(_PlantedKeras):
    """Keras staged (graph, xla; jit on JAX) with the weights captured as constants when first
    traced: weights loaded afterwards are ignored. Eager calls are right."""

    name = "planted-staged-frozen-weights"

    def forward(self, layer, x):
        if self.mode == "eager":
            return super().forward(layer, x)

        def make():
            ops = self.keras().ops
            kernel = ops.convert_to_numpy(layer.kernel)
            bias = ops.convert_to_numpy(layer.bias) if layer.use_bias else 0
            if self.mode == "jit":
                import jax
                import jax.numpy as jnp

                return jax.jit(lambda x: jnp.tensordot(x.astype(kernel.dtype), kernel, 1) + bias)
            import tensorflow as tf

            return self.staged(lambda x: tf.tensordot(tf.cast(x, kernel.dtype), kernel, 1) + bias)

        return np.asarray(once_per_layer(layer, ("planted", len(x.shape)), make)(x))


class CompiledWithFrozenWeights(_Planted):
    """torch.compile over a copy of the weights taken at the first call: weights loaded afterwards
    are ignored. Eager calls are right."""

    name = "planted-compiled-frozen-weights"

    def call(self, layer):
        if self.mode == "eager":
            return layer

        def make():
            import torch

            weight = layer.weight.detach().clone()
            bias = None if layer.bias is None else layer.bias.detach().clone()
            return torch.compile(lambda x: torch.nn.functional.linear(x, weight, bias))

        return once_per_layer(layer, "planted", make)


class ExportedWithFrozenWeights(_Planted):
    """torch.export of a copy of the layer taken at the first call: weights loaded afterwards are
    ignored. Eager calls are right."""

    name = "planted-exported-frozen-weights"

    def call(self, layer):
        if self.mode == "eager":
            return layer
        import copy

        return super().call(once_per_layer(layer, "planted", lambda: copy.deepcopy(layer)))


#: each mode's planted bug -> (the Keras backend to run it on, or None; the modes that must
#: report it in forward_within_bound, where eager passes)
PLANTED_MODES = {
    (StagedWithFrozenWeights, "tensorflow"): ("graph", "xla"),
    (StagedWithFrozenWeights, "jax"): ("jit",),
    (CompiledWithFrozenWeights, None): ("compile",),
    (ExportedWithFrozenWeights, None): ("export",),
}
