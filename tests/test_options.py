"""Bad input is a one-line usage error that names what is valid, exits 4, and writes nothing."""

import pytest

BAD_OPTIONS = {
    "unknown subject": (
        ["--subjects", "torch,jaxx"],
        "--subjects: unknown subject 'jaxx'; valid: torch, keras",
    ),
    "empty subjects": (
        ["--subjects", ","],
        "--subjects: an empty entry in ','; give a comma-separated list of torch, keras",
    ),
    "a trailing comma": (
        ["--dtypes", "float32,"],
        "--dtypes: an empty entry in 'float32,'; give a comma-separated list of float16",
    ),
    "unimportable plug-in": (
        ["--subjects", "no_such_module:Thing"],
        "cannot be loaded",
    ),
    "plug-in not a subject": (
        ["--subjects", "tests.subjects:NotASubject"],
        "is not a conformance.subjects.base.Subject",
    ),
    "plug-in without methods": (
        ["--subjects", "tests.subjects:ForwardOnlyHalfDone"],
        "does not implement build, load, read, forward",
    ),
    "plug-in under a built-in's label": (
        ["--subjects", "tests.subjects:KerasLabelled"],
        "is labelled 'keras/mine', a label of the built-in KerasDense",
    ),
    "plug-in's own registry clashing": (
        ["--subjects", "tests.subjects:ClashingEntries"],
        "ids ['rank-1-input'] are already in",
    ),
    "missing framework": (
        ["--subjects", "tests.subjects:NeedsMissingFramework"],
        "needs the module 'no_such_framework_installed', which is not installed",
    ),
    "unknown dtype": (
        ["--dtypes", "float32,float8"],
        "--dtypes: unknown value float8; valid: float16, bfloat16",
    ),
    "zero cap": (
        ["--max-features", "0"],
        "--max-features: '0' is not a positive integer",
    ),
    "word cap": (
        ["--max-rows", "lots"],
        "--max-rows: 'lots' is not a positive integer",
    ),
    "unknown profile": (
        ["--hypothesis-profile", "fast"],
        "unknown profile 'fast'; valid: dev, ci, thorough",
    ),
    "shard past the count": (
        ["--shard", "3/2"],
        "--shard: '3/2' is not K/N with 1 <= K <= N",
    ),
    "shard not a fraction": (["--shard", "half"], "--shard: 'half' is not K/N"),
    "zero threads": (["--threads", "0"], "--threads: '0' is not a positive integer"),
    "example database a file": (
        ["--example-db", "README.md"],
        "--example-db: README.md is not a directory",
    ),
    "read-only without a database": (
        ["--example-db-read-only"],
        "--example-db-read-only: give the database with --example-db DIR",
    ),
    "example database with a fixed seed": (
        ["--example-db", "db", "--hypothesis-seed", "3"],
        "--example-db: Hypothesis uses no example database under --hypothesis-seed",
    ),
    "tail share past 1": (["--tail", "2"], "--tail: '2' is not a share from 0 to 1"),
    "tail size not a number": (
        ["--large-rows", "many"],
        "--large-rows: 'many' is not a positive integer",
    ),
    "mode no subject has": (
        ["--subjects", "torch", "--modes", "eager,graph"],
        "--modes: no subject selected runs in graph; valid: torch: eager, compile",
    ),
    "plug-in labelled with a mode": (
        ["--subjects", "tests.subjects:ModeInLabel"],
        "is labelled 'mine@fast'; '@' sets off an execution mode in a label",
    ),
    "a list split by a space, under workers": (
        ["-n", "2", "--dtypes", "float32", "float64"],
        "'float64' names no file, folder or (with --pyargs) package to collect",
    ),
    "missing registry": (
        ["--divergences", "nowhere.toml"],
        "divergence registry nowhere.toml: cannot read it",
    ),
}


@pytest.mark.parametrize("name", BAD_OPTIONS)
def test_bad_option_is_a_one_line_usage_error(suite, name):
    args, message = BAD_OPTIONS[name]
    run = suite("conformance", *args, "--co")
    assert run.returncode == 4, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and message in errors[0], run.output
    assert "Traceback" not in run.output
    assert run.report is None


def test_bad_cap_in_the_environment_is_a_usage_error(suite):
    run = suite("conformance", "--co", env={"CONFORMANCE_MAX_ROWS": "-3"})
    assert run.returncode == 4 and "CONFORMANCE_MAX_ROWS must be a positive integer" in run.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[divergence]]\nid = ", "not valid TOML"),
        ('[[divergence]]\nid = "x"\n', "missing keys"),
        ('[[divergence]]\nid = "x"\ncolour = "red"\n', "unknown keys ['colour']"),
        ("[something]\n", "expected only [[divergence]] tables"),
    ],
    ids=["bad toml", "missing keys", "unknown key", "other table"],
)
def test_malformed_registry_is_a_usage_error(suite, tmp_path, text, message):
    path = tmp_path / "registry.toml"
    path.write_text(text)
    run = suite("conformance", "--divergences", str(path), "--co")
    assert run.returncode == 4 and message in run.output, run.output
    assert "Traceback" not in run.output


def test_a_stray_argument_in_the_checkout_is_a_usage_error_without_naming_the_package(suite):
    # `pytest -n 2 --dtypes float32 float64` from the checkout: only 'float64' is positional
    run = suite("-n", "2", "--dtypes", "float32", "float64", "--co")
    assert run.returncode == 4, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "'float64' names no file, folder" in errors[0], run.output
    assert run.report is None
