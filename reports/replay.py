"""Replay one failing conformance example with numpy and the frameworks alone.

Each reproducer is this file, copied next to its .npz (the example's arrays, what the suite
expected and the bound it allowed, and which property broke for which subject). It re-runs the
property's check on the failing subject and on every other framework it can import, prints
their results, the oracle and the error, and exits 1 while the failing subject still breaks the
property, 0 once it does not (2 when it cannot run). A subject that is a plug-in is imported
from the project it came from.
"""

import importlib
import pathlib
import sys

import numpy as np

BUILT_IN = ("torch", "keras")


def load(path: pathlib.Path) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return {
        k: (v.item() if v.ndim == 0 and v.dtype.kind == "U" else v)
        for k, v in arrays.items()
    }


# -- subjects: build, load, read, forward, gradients, train, second derivative -----------------
class Torch:
    label = "torch"

    def __init__(self, dtype: str):
        import torch

        self.torch, self.dtype = torch, getattr(torch, dtype)

    def tensor(self, a):
        if self.dtype != self.torch.bfloat16 and a.dtype == np.dtype(
            str(self.dtype).removeprefix("torch.")
        ):
            return self.torch.from_numpy(
                a
            )  # shares memory, as the suite's subject does
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.dtype)

    def array(self, t):
        t = t.detach()
        return (t.float() if t.dtype == self.torch.bfloat16 else t).numpy().copy(), str(
            t.dtype
        ).removeprefix("torch.")

    def build(self, weight, bias, *, defaults=False):
        out_f, in_f = weight.shape
        layer = self.torch.nn.Linear(
            in_f, out_f, bias=bias is not None, dtype=self.dtype
        )
        if not defaults:
            with self.torch.no_grad():
                layer.weight.copy_(self.tensor(weight))
                if bias is not None:
                    layer.bias.copy_(self.tensor(bias))
        return layer

    def read(self, layer):
        return self.array(layer.weight)[0], None if layer.bias is None else self.array(
            layer.bias
        )[0]

    def forward(self, layer, x):
        with self.torch.no_grad():
            return self.array(layer(self.tensor(x)))

    def gradients(self, layer, x, upstream):
        layer.zero_grad(set_to_none=True)
        xt = self.tensor(x).clone().requires_grad_(True)
        layer(xt).backward(self.tensor(upstream))
        bias = None if layer.bias is None else self.array(layer.bias.grad)[0]
        return self.array(xt.grad)[0], self.array(layer.weight.grad)[0], bias

    def train(self, layer, batches, rate):
        optimizer = self.torch.optim.SGD(layer.parameters(), lr=rate)
        for x, upstream in batches:
            optimizer.zero_grad(set_to_none=True)
            layer(self.tensor(x)).backward(self.tensor(upstream))
            optimizer.step()

    def second_derivative(self, layer, x, upstream):
        xt = self.tensor(x).clone().requires_grad_(True)
        (dx,) = self.torch.autograd.grad(
            layer(xt), xt, self.tensor(upstream), create_graph=True
        )
        (dw,) = self.torch.autograd.grad((dx * dx).sum(), layer.weight)
        return self.array(dw)[0]


class Keras:
    label = "keras"

    def __init__(self, dtype: str):
        import keras
        import tensorflow as tf

        self.keras, self.tf, self.dtype = keras, tf, dtype
        self.label = f"keras/{keras.backend.backend()}"

    def array(self, t):
        return np.array(t, dtype=np.float32 if self.dtype == "bfloat16" else None), str(
            t.dtype.name
        )

    def build(self, weight, bias, *, defaults=False):
        out_f, in_f = weight.shape
        layer = self.keras.layers.Dense(
            out_f, use_bias=bias is not None, dtype=self.dtype
        )
        layer.build((None, in_f))
        if not defaults:
            layer.kernel.assign(np.ascontiguousarray(weight.T))
            if bias is not None:
                layer.bias.assign(bias)
        return layer

    def read(self, layer):
        kernel = self.array(self.tf.convert_to_tensor(layer.kernel))[0]
        bias = (
            self.array(self.tf.convert_to_tensor(layer.bias))[0]
            if layer.use_bias
            else None
        )
        return np.ascontiguousarray(kernel.T), bias

    def cast(self, a):
        return self.tf.cast(self.tf.convert_to_tensor(a), self.dtype)

    def forward(self, layer, x):
        return self.array(layer(self.cast(x)))

    def tape(self, layer, x, upstream):
        xt = self.cast(x)
        variables = [layer.kernel] + ([layer.bias] if layer.use_bias else [])
        with self.tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt)
        return tape.gradient(
            y, [xt, *variables], output_gradients=self.cast(upstream)
        ), variables

    def gradients(self, layer, x, upstream):
        (dx, dkernel, *dbias), _ = self.tape(layer, x, upstream)
        bias = self.array(dbias[0])[0] if dbias else None
        return self.array(dx)[0], np.ascontiguousarray(self.array(dkernel)[0].T), bias

    def train(self, layer, batches, rate):
        optimizer = self.keras.optimizers.SGD(learning_rate=rate)
        for x, upstream in batches:
            (_, *grads), variables = self.tape(layer, x, upstream)
            optimizer.apply_gradients(zip(grads, variables, strict=True))

    def second_derivative(self, layer, x, upstream):
        xt = self.cast(x)
        with self.tf.GradientTape() as outer:
            with self.tf.GradientTape() as inner:
                inner.watch(xt)
                y = layer(xt)
            dx = inner.gradient(y, xt, output_gradients=self.cast(upstream))
            norm = self.tf.reduce_sum(dx * dx)
        return np.ascontiguousarray(self.array(outer.gradient(norm, layer.kernel))[0].T)


class Plugin:
    """A `module:attr` subject of the suite, driven through the suite's Subject interface."""

    def __init__(self, dtype: str, spec: str, root: str):
        sys.path.insert(0, root)
        from conformance.formats import FORMATS

        module, _, attr = spec.partition(":")
        target = getattr(importlib.import_module(module), attr)
        self.subject = target() if isinstance(target, type) else target
        self.label, self.dtype, self.numpy = (
            self.subject.label,
            dtype,
            FORMATS[dtype].numpy,
        )

    def native(self, a):
        return None if a is None else np.asarray(a).astype(self.numpy)

    def array(self, a):
        return np.asarray(a).astype(
            np.float32 if self.dtype == "bfloat16" else a.dtype
        ), str(np.asarray(a).dtype)

    def build(self, weight, bias, *, defaults=False):
        layer = self.subject.build(
            weight.shape[1], weight.shape[0], bias is not None, self.dtype, "cpu"
        )
        if not defaults:
            self.subject.load(layer, self.native(weight), self.native(bias))
        return layer

    def read(self, layer):
        weight, bias = self.subject.read(layer)
        return self.array(weight)[0], None if bias is None else self.array(bias)[0]

    def forward(self, layer, x):
        return self.array(
            self.subject.forward(layer, self.native(x) if x.dtype != self.numpy else x)
        )

    def gradients(self, layer, x, upstream):
        dx, dw, db = self.subject.gradients(
            layer, self.native(x), self.native(upstream)
        )
        return (
            self.array(dx)[0],
            self.array(dw)[0],
            None if db is None else self.array(db)[0],
        )

    def train(self, layer, batches, rate):
        self.subject.train(
            layer, [(self.native(x), self.native(g)) for x, g in batches], rate
        )

    def second_derivative(self, layer, x, upstream):
        return self.array(
            self.subject.second_derivative(layer, self.native(x), self.native(upstream))
        )[0]


# -- the checks, one per property: (broken?, lines to print) ------------------------------------
class MissingEvidence(LookupError):
    """The report kept no oracle values for this failure: nothing to compare against."""


def against_bound(got, a: dict, label: str) -> tuple[bool, list[str]]:
    if "expected" not in a or "bound" not in a:
        raise MissingEvidence("the failure carries no oracle values or bound")
    expected, bound = a["expected"], a["bound"]
    got = np.asarray(got, dtype=np.float64).astype(expected.dtype)
    if got.shape != expected.shape:
        return True, [
            f"{label}: result of shape {got.shape}, expected {expected.shape}"
        ]
    if got.size == 0:
        return False, [f"{label}: empty result, as expected"]
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(got - expected)
        ratio = np.where(np.isnan(error), np.inf, error) / bound
    i = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    used = float(ratio[i])
    lines = [
        (
            f"{label}: budget used {used:.4g} at element {tuple(int(k) for k in i)}: got {float(got[i])!r}, "
            f"oracle {float(expected[i])!r}, |error| {float(error[i]):.4g}, bound {float(bound[i]):.4g}"
        )
    ]
    return used > 1, lines


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(f"u{a.dtype.itemsize}")


def same_bits(x, y) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return (
        x.shape == y.shape and x.dtype == y.dtype and bool(np.all(bits(x) == bits(y)))
    )


def classes(values):
    v = np.asarray(values, dtype=np.float64)
    return np.select([np.isnan(v), v == np.inf, v == -np.inf], [1, 2, 3], 0)


def check(subject, a: dict) -> tuple[bool, list[str]]:
    prop, what, label = a["property"], a.get("what", ""), subject.label
    x, weight, bias, upstream = (
        a.get("x"),
        a["weight"],
        a.get("bias"),
        a.get("upstream"),
    )
    if prop in ("forward_within_bound", "rank1_input_equals_batch_of_one"):
        return against_bound(
            subject.forward(subject.build(weight, bias), x)[0], a, label
        )
    if prop == "bias_off_equals_layer_without_bias_parameter":
        layer = subject.build(weight, None)
        if subject.read(layer)[1] is not None:
            return True, [f"{label}: a layer built with bias off has a bias parameter"]
        if what == "zero-bias forward":
            layer = subject.build(weight, np.zeros(weight.shape[0], weight.dtype))
        return against_bound(subject.forward(layer, x)[0], a, label)
    if prop == "leading_shape_equals_flattened_batch":
        layer = subject.build(weight, bias)
        batched = subject.forward(layer, x)[0]
        flat = subject.forward(layer, x.reshape(-1, x.shape[-1]))[0].reshape(
            batched.shape
        )
        return against_bound(
            batched, {**a, "expected": flat.astype(a["expected"].dtype)}, label
        )
    if prop == "output_has_expected_shape_and_dtype":
        got, dtype = subject.forward(subject.build(weight, bias), x)
        shape_ok = got.shape == (*x.shape[:-1], weight.shape[0])
        return not (shape_ok and dtype == a["dtype"]), [
            f"{label}: output {dtype}{got.shape}, tested dtype {a['dtype']}"
        ]
    if prop == "weight_round_trip_is_bit_exact":
        read_weight, read_bias = subject.read(subject.build(weight, bias))
        ok = same_bits(read_weight.astype(weight.dtype), weight) and (
            bias is None or same_bits(read_bias.astype(bias.dtype), bias)
        )
        return not ok, [
            f"{label}: weights read back {'bit for bit' if ok else 'CHANGED'}"
        ]
    if prop == "call_mutates_neither_input_nor_weights":
        layer = subject.build(weight, bias)
        copy = x.copy()
        subject.forward(layer, copy)
        read_weight, read_bias = subject.read(layer)
        ok = same_bits(copy, x) and same_bits(read_weight.astype(weight.dtype), weight)
        ok = ok and (bias is None or same_bits(read_bias.astype(bias.dtype), bias))
        return not ok, [
            f"{label}: input and weights {'unchanged' if ok else 'CHANGED'} by a call"
        ]
    if prop == "zero_out_features_gives_empty_output":
        got, dtype = subject.forward(subject.build(weight, bias), x)
        ok = got.shape == (*x.shape[:-1], 0) and dtype == a["dtype"]
        return not ok, [f"{label}: output {dtype}{got.shape}"]
    if prop == "nan_and_inf_positions_agree":
        got = classes(subject.forward(subject.build(weight, bias), x)[0])
        wrong = (got != a["expected"]) & (got != a["flushed"])
        return bool(wrong.any()), [
            f"{label}: {int(wrong.sum())} elements with NaN/Inf where IEEE arithmetic has none, or the reverse"
        ]
    if prop == "subnormals_follow_gradual_underflow":
        got = subject.forward(subject.build(weight, bias), x)[0].astype(np.float64)
        wrong = got != a["expected"].astype(np.float64)
        return bool(wrong.any()), [
            f"{label}: {int(wrong.sum())} of {got.size} exact subnormal results differ"
        ]
    if prop in (
        "input_gradient_within_bound",
        "weight_gradient_within_bound",
        "bias_gradient_within_bound",
    ):
        which = {"input": 0, "weight": 1, "bias": 2}[prop.split("_")[0]]
        return against_bound(
            subject.gradients(subject.build(weight, bias), x, upstream)[which], a, label
        )
    if prop == "zero_size_batch_gives_zero_parameter_gradients":
        _, dw, db = subject.gradients(subject.build(weight, bias), x, upstream)
        ok = not np.any(dw) and (db is None or not np.any(db))
        return not ok, [
            f"{label}: parameter gradients of an empty batch are {'zero' if ok else 'NOT zero'}"
        ]
    if prop == "gradients_do_not_leak_between_examples":
        layer = subject.build(weight, bias)
        subject.gradients(layer, a["earlier_x"], a["earlier_upstream"])
        first = subject.gradients(layer, x, upstream)
        again = subject.gradients(layer, x, upstream)
        ok = all(same_bits(p, q) for p, q in zip(first, again, strict=True))
        return not ok, [
            f"{label}: two identical gradient calls {'agree' if ok else 'DIFFER'}"
        ]
    if prop == "sgd_steps_track_the_exact_trajectory":
        layer = subject.build(weight, bias)
        steps = sorted(int(k.split("_")[1]) for k in a if k.startswith("x_"))
        subject.train(
            layer,
            [(a[f"x_{t}"], a[f"upstream_{t}"]) for t in steps],
            float(a["learning_rate"]),
        )
        return against_bound(
            subject.read(layer)[0 if what.startswith("weight") else 1], a, label
        )
    if prop == "second_derivative_within_bound":
        return against_bound(
            subject.second_derivative(subject.build(weight, bias), x, upstream),
            a,
            label,
        )
    if prop == "default_initialisation_agrees":
        zero = not np.any(
            subject.read(
                subject.build(weight, np.zeros(weight.shape[0]), defaults=True)
            )[1]
        )
        return False, [f"{label}: default bias is {'zero' if zero else 'non-zero'}"]
    raise ValueError(f"no replay for property {prop!r}")


def subjects_for(a: dict) -> list:
    """The failing subject first (a plug-in, or a built-in framework), then every other built-in one."""
    found, failing = [], a["subject"].split(" vs ")
    for name in failing:
        if name.split("/")[0] not in BUILT_IN:
            found.append(
                Plugin(
                    a["dtype"],
                    a["plugins"].split("|")[a["plugin_labels"].split("|").index(name)],
                    a["root"],
                )
            )
    for cls in (Torch, Keras):
        try:
            found.append(cls(a["dtype"]))
        except ImportError as exc:
            print(f"({cls.label} not available here: {exc})")
    return found


def main(path: pathlib.Path) -> int:
    a = load(path)
    print(f"{a['property']} x {a['subject']} x {a['dtype']} x {a['device']}")
    print(f"the suite reported: {a['message']}")
    try:
        subjects = subjects_for(a)
    except Exception as exc:  # noqa: BLE001 - say why it cannot run, as exit status 2
        print(f"cannot load the subjects: {type(exc).__name__}: {exc}")
        return 2
    if a["property"] == "default_initialisation_agrees":
        zeros = {}
        for subject in subjects:
            zeros[subject.label] = check(subject, a)[1][0]
            print(zeros[subject.label])
        pair = a["subject"].split(" vs ")
        verdicts = {
            label: text.endswith(" zero")
            for label, text in zeros.items()
            if label in pair
        }
        broken = len(set(verdicts.values())) > 1
    else:
        broken = False
        for subject in subjects:
            try:
                failed, lines = check(subject, a)
            except MissingEvidence as exc:
                print(f"cannot check: {exc}")
                return 2
            except Exception as exc:  # noqa: BLE001 - a subject that raises breaks the property
                failed, lines = (
                    True,
                    [f"{subject.label}: raised {type(exc).__name__}: {exc}"],
                )
            for line in lines:
                print(line + ("  <- breaks the property" if failed else ""))
            if subject.label == a["subject"]:
                broken = failed
    print("STILL FAILING" if broken else "fixed: the property holds on this example")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
