"""Keras runs on each backend (one per process) and legacy Keras 2 runs as the tf_keras subject:
forward, backward and training through each backend's own autodiff, and their registered
float64 divergences."""

import importlib.util

import pytest

SMOKE = ("--devices", "cpu", "--hypothesis-profile", "smoke", "-p", "no:randomly")
CELLS = "forward_within_bound or weight_gradient_within_bound or sgd_steps or second_derivative"


@pytest.mark.parametrize(
    ("args", "label"),
    [
        (("--keras-backend", "jax", "--subjects", "keras"), "keras/jax"),
        (("--keras-backend", "torch", "--subjects", "keras"), "keras/torch"),
        pytest.param(
            ("--subjects", "tf_keras"),
            "tf_keras",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("tf_keras") is None,
                reason="the optional tf_keras subject needs tf-keras, which requirements.txt "
                "does not install: pip install --no-deps tf-keras==2.21.0, or tox -e suite-tfkeras",
            ),
        ),
    ],
    ids=["jax", "torch", "tf_keras"],
)
def test_keras_passes_forward_backward_and_training(suite, args, label):
    run = suite(*args, *SMOKE, "--dtypes", "float32", "-k", CELLS)
    cells = run.cells(subject=label, device="cpu")
    assert len(cells) == 4, run.output[-3000:]
    assert {c["status"] for c in cells} == {"pass"}, [c["reason"] for c in cells]
    # JAX compiles every new shape: its cells draw from a fixed pool, and the report says so
    assert {c["shape_pool"] for c in cells} == ({8} if label == "keras/jax" else {None})


@pytest.mark.parametrize(
    ("backend", "entry"),
    [("jax", "keras-jax-float64"), ("torch", "keras-torch-float64")],
)
def test_float64_in_float32_is_the_registered_divergence(suite, backend, entry):
    run = suite("--keras-backend", backend, "--subjects", "keras", *SMOKE,
                "--dtypes", "float64", "-k", "output_has_expected_shape")  # fmt: skip
    (cell,) = run.cells(subject=f"keras/{backend}", device="cpu")
    assert cell["status"] == "known-divergence" and entry in cell["reason"], cell


def test_unknown_backend_is_a_usage_error(suite):
    run = suite("conformance", "--keras-backend", "theano", "--co")
    assert run.returncode == 4
    assert "--keras-backend: unknown backend 'theano'; valid: tensorflow, jax, torch" in run.output
