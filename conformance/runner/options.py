"""Command-line options of the suite, validated into one Selection (a bad value is a usage error)."""

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.core.caps import CAP_ENV, DEFAULT_CAPS, SizeCaps
from conformance.core.contract import TF32_POLICIES
from conformance.core.cpu import cpu_isa
from conformance.core.formats import ALL_DTYPES, DTYPES, POLICIES
from conformance.core.registry import DEFAULT_PATH, Registry, RegistryError
from conformance.runner.farm import Shard
from conformance.runtimes.keras import BACKENDS
from conformance.subjects import BUILTINS, Subject, SubjectError, resolve
from conformance.subjects.availability import own_registry

#: the share of examples drawn from the tail of large shapes, by Hypothesis profile (default: 4%)
TAIL_SHARE = {"thorough": 0.12}
DEFAULT_TAIL_SHARE = 0.04

PROFILES = ("dev", "ci", "thorough", "smoke")
DEFAULT_REPORT_DIR = "conformance-report"


class OptionError(ValueError):
    """An option value the suite cannot use; the message names the valid ones."""


@dataclass(frozen=True)
class Selection:
    """What this run covers and where it reports."""

    subjects: tuple[Subject, ...]
    dtypes: tuple[str, ...]
    caps: SizeCaps
    special_values: bool
    registry: Registry
    report_dir: Path
    shard: Shard | None = None
    #: seconds each cell took in an earlier run, by test id (test name and parameters)
    shard_durations: dict[str, float] = field(default_factory=dict)
    threads: int | None = None
    example_db: Path | None = None
    example_db_read_only: bool = False
    devices: tuple[str, ...] | None = None
    tf32: str = "framework-default"
    shapes: int = 0
    #: the subjects as cells run them: each in each selected mode it has (--modes)
    cell_subjects: tuple[Subject, ...] = ()
    #: the instruction-set level the CPU's kernels use here (conformance.core.cpu.cpu_isa)
    isa: str = "baseline"
    #: --deterministic: the frameworks' determinism switches set, determinism held as a contract
    deterministic: bool = False
    #: --thread-counts: the opt-in thread-count invariance property runs
    thread_counts: bool = False

    def selects(self, device: str) -> bool:
        """Whether --devices selects `device` (every device when it was not given)."""
        return self.devices is None or any(
            device == d or device.startswith(f"{d}:") for d in self.devices
        )


#: what each size cap limits (core.caps holds the defaults and environment variables)
CAP_HELP = {
    "max_features": "largest in/out features drawn",
    "max_rows": "largest product of leading dims drawn",
    "large_features": "largest in/out features of the tail of large shapes",
    "large_rows": "most rows of the tail of large shapes",
}


def add_options(parser) -> None:
    group = parser.getgroup("conformance", "Linear/Dense conformance")
    group.addoption(
        "--subjects",
        default="torch,keras",
        help=f"comma-separated subjects: {', '.join(BUILTINS)} or module:attr (default: torch,keras)",
    )
    group.addoption(
        "--dtypes",
        default=",".join(DTYPES),
        help=f"comma-separated dtypes from {', '.join(ALL_DTYPES)} (default: the plain ones; "
        f"{' and '.join(POLICIES)} are Keras' mixed-precision policies, against torch.autocast)",
    )
    for cap, text in CAP_HELP.items():
        group.addoption(
            f"--{cap.replace('_', '-')}",
            default=None,
            help=f"{text} (env {CAP_ENV[cap]}, default {DEFAULT_CAPS[cap]})",
        )
    group.addoption(
        "--tail",
        default=None,
        help="share of examples drawn from the tail of large shapes, 0 to 1 (default: 0.04, "
        "0.12 under the thorough profile; 0: none); a cell reaches every size band its tail allows",
    )
    group.addoption(
        "--shapes",
        default="8",
        help="subjects that compile every new shape (Keras on JAX) draw each cell's shapes from a "
        "fixed pool of this many, while values keep varying (0: any shape; default 8)",
    )
    group.addoption(
        "--modes",
        default="eager",
        help="comma-separated execution modes: eager, and graph, xla (Keras on TensorFlow), jit"
        " (Keras on JAX), compile, export (torch); each subject runs in those it has (default: eager)",
    )
    group.addoption(
        "--devices",
        default=None,
        help="comma-separated devices: cpu, cuda (every GPU), cuda:N (default: every device found, "
        "plus a cuda:0 slot that skips, saying why, when there is no GPU)",
    )
    group.addoption(
        "--tf32",
        default="framework-default",
        help=f"TF32 for float32 matmuls on GPUs, set in every framework: {', '.join(TF32_POLICIES)}",
    )
    group.addoption(
        "--keras-backend",
        default=None,
        help=f"Keras 3 backend for this run ({', '.join(BACKENDS)}; default: $KERAS_BACKEND, else tensorflow)",
    )
    group.addoption(
        "--special-values",
        action="store_true",
        help="also run the opt-in NaN/Inf/subnormal properties",
    )
    group.addoption(
        "--deterministic",
        action="store_true",
        help="set each framework's determinism switches at start-up and hold every subject to "
        "identical bits on a second call (without it, whether they were is recorded)",
    )
    group.addoption(
        "--thread-counts",
        action="store_true",
        help="also run the opt-in thread-count invariance property (one framework thread against "
        "several, in a second process per worker)",
    )
    group.addoption(
        "--divergences",
        default=str(DEFAULT_PATH),
        help="known-divergence registry (TOML)",
    )
    group.addoption(
        "--report-dir",
        default=os.environ.get("CONFORMANCE_REPORT_DIR", DEFAULT_REPORT_DIR),
        help=f"where report.json is written (default: {DEFAULT_REPORT_DIR}/)",
    )
    _farm_options(parser)


def _farm_options(parser) -> None:
    farm = parser.getgroup("conformance farms", "Linear/Dense conformance on test farms")
    farm.addoption(
        "--shard",
        default=None,
        help="run shard K of N (K/N): N shards together run every cell of the selection once",
    )
    farm.addoption(
        "--shard-durations",
        default=None,
        metavar="REPORT",
        help="an earlier run's report.json (or its directory): --shard shares the cells out by "
        "the durations it recorded (default: every cell that will run counts the same)",
    )
    farm.addoption(
        "--threads",
        default=None,
        help="framework threads per process (default: usable CPUs / workers)",
    )
    farm.addoption(
        "--example-db",
        default=os.environ.get("CONFORMANCE_EXAMPLE_DB"),
        help="shared Hypothesis example database directory (env CONFORMANCE_EXAMPLE_DB)",
    )
    farm.addoption(
        "--example-db-read-only",
        action="store_true",
        help="replay the shared database's failures but save nothing (pull-request jobs)",
    )


def listed(option: str, text: str, valid: str) -> tuple[str, ...]:
    """The entries of a comma-separated option, each once; an empty entry (`float32,`) or an
    empty list is an error naming what is valid."""
    chosen = tuple(s.strip() for s in text.split(","))
    if not all(chosen):
        raise OptionError(
            f"{option}: an empty entry in {text!r}; give a comma-separated list of {valid}"
        )
    return tuple(dict.fromkeys(chosen))


def _choices(option: str, text: str, valid: tuple[str, ...]) -> tuple[str, ...]:
    chosen = listed(option, text, ", ".join(valid))
    unknown = [c for c in chosen if c not in valid]
    if unknown or not chosen:
        raise OptionError(
            f"{option}: unknown value {', '.join(unknown) or repr(text)}; valid: {', '.join(valid)}"
        )
    return chosen


def _cap(option: str, text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise OptionError(f"{option}: {text!r} is not a positive integer")
    return int(text)


def _profile(given: str | None) -> str:
    """The Hypothesis profile in effect: the one given, else conftest's default."""
    return given or ("ci" if os.environ.get("CI") else "dev")


def _share(option: str, text: str | None, profile: str) -> float:
    if text is None:
        return TAIL_SHARE.get(profile, DEFAULT_TAIL_SHARE)
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise OptionError(f"{option}: {text!r} is not a share from 0 to 1")
    return share


def _count(option: str, text: str) -> int:
    if not text.isdigit():
        raise OptionError(f"{option}: {text!r} is not a whole number (0 or more)")
    return int(text)


def _example_db(text: str | None, read_only: bool, seed) -> Path | None:
    if text and seed is not None:
        raise OptionError(
            "--example-db: Hypothesis uses no example database under --hypothesis-seed; drop one"
        )
    if not text:
        if read_only:
            raise OptionError("--example-db-read-only: give the database with --example-db DIR")
        return None
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise OptionError(f"--example-db: {text} is not a directory")
    if not read_only:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OptionError(f"--example-db: cannot create {text}: {exc.strerror}") from None
    return path


def _durations(text: str | None, shard: Shard | None) -> dict[str, float]:
    """Cell durations from an earlier report, by test id (what follows the node id's `::`)."""
    if text is None:
        return {}
    if shard is None:
        raise OptionError("--shard-durations: it shares cells out among shards; give --shard K/N")
    path = Path(text)
    found = path / "report.json" if path.is_dir() else path
    try:
        cells = json.loads(found.read_text())["cells"]  # only these two fields: any schema version
        return {c["nodeid"].rpartition("::")[2]: float(c["duration_s"]) for c in cells}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OptionError(
            f"--shard-durations: {text} is not a report.json of this suite (or a directory "
            f"holding one): {exc}"
        ) from None


DEVICE = re.compile(r"cpu(:\d+)?|cuda(:\d+)?")


def _devices(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    chosen = listed("--devices", text, "cpu, cuda, cuda:N")
    wrong = [d for d in chosen if not DEVICE.fullmatch(d)]
    if wrong or not chosen:
        raise OptionError(
            f"--devices: unknown device {', '.join(wrong) or repr(text)}; valid: cpu, cuda, cuda:N"
        )
    return chosen


def select_keras_backend(option: str | None) -> None:
    """Make --keras-backend (or $KERAS_BACKEND) the backend Keras loads; it must precede Keras' import."""
    chosen = option or os.environ.get("KERAS_BACKEND")
    if chosen is None:
        return
    where = "--keras-backend" if option else "KERAS_BACKEND"
    if chosen not in BACKENDS:
        raise OptionError(f"{where}: unknown backend {chosen!r}; valid: {', '.join(BACKENDS)}")
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() != chosen:
        raise OptionError(
            f"{where}: Keras is already imported with the {keras.backend.backend()} backend; "
            "one backend per process"
        )
    os.environ["KERAS_BACKEND"] = chosen


def parse(getoption) -> Selection:
    """Validate every option; raises OptionError with one line naming the valid values."""
    select_keras_backend(getoption("keras_backend"))
    profile = getoption("hypothesis_profile")
    if profile is not None and profile not in PROFILES:
        raise OptionError(
            f"--hypothesis-profile: unknown profile {profile!r}; valid: {', '.join(PROFILES)}"
        )
    specs = listed("--subjects", getoption("subjects"), f"{', '.join(BUILTINS)}, or module:attr")
    try:
        subjects = tuple(resolve(s) for s in specs)
    except SubjectError as exc:
        raise OptionError(f"--subjects: {exc}") from None
    labels = [s.label for s in subjects]
    if len(set(labels)) != len(labels):
        raise OptionError(
            f"--subjects: two subjects share a label ({', '.join(labels)}); give each its own name"
        )
    try:
        caps = SizeCaps.from_env(
            tail=_share("--tail", getoption("tail"), _profile(profile)),
            max_features=_cap("--max-features", getoption("max_features")),
            max_rows=_cap("--max-rows", getoption("max_rows")),
            large_features=_cap("--large-features", getoption("large_features")),
            large_rows=_cap("--large-rows", getoption("large_rows")),
        )
        registry = load_registry(getoption("divergences"), subjects)
        shard = Shard.parse(getoption("shard")) if getoption("shard") else None
        shard_durations = _durations(getoption("shard_durations"), shard)
    except (ValueError, RegistryError) as exc:
        raise OptionError(str(exc)) from None
    return Selection(
        subjects=subjects,
        dtypes=_choices("--dtypes", getoption("dtypes"), ALL_DTYPES),
        caps=caps,
        special_values=getoption("special_values"),
        deterministic=getoption("deterministic"),
        thread_counts=getoption("thread_counts"),
        registry=registry,
        report_dir=Path(getoption("report_dir")),
        shard=shard,
        shard_durations=shard_durations,
        threads=_cap("--threads", getoption("threads")),
        example_db=_example_db(
            getoption("example_db"),
            getoption("example_db_read_only"),
            getoption("hypothesis_seed"),
        ),
        example_db_read_only=getoption("example_db_read_only"),
        devices=_devices(getoption("devices")),
        tf32=_choices("--tf32", getoption("tf32"), TF32_POLICIES)[0],
        shapes=_count("--shapes", getoption("shapes")),
        cell_subjects=_in_modes(subjects, getoption("modes")),
        isa=cpu_isa(),
    )


def load_registry(path, subjects) -> Registry:
    """The registry at `path` with the entries each subject ships, every property it names
    checked against the declared ones; RegistryError (one line) when it cannot be used."""
    from conformance.properties import PROPERTIES  # declared once the suite runs (Hypothesis)

    registry = Registry.load(path).with_files(own_registry(s) for s in subjects)
    registry.check_properties({name: p.shows for name, p in PROPERTIES.items()})
    return registry


def _in_modes(subjects: tuple[Subject, ...], text: str) -> tuple[Subject, ...]:
    """Each subject in each of the --modes it has; every mode chosen must be some subject's."""
    valid = dict.fromkeys(m for s in subjects for m in s.modes)
    has = "; ".join(f"{s.label}: {', '.join(s.modes)}" for s in subjects)
    chosen = listed("--modes", text, has)
    wrong = [m for m in chosen if m not in valid]
    if wrong or not chosen:
        raise OptionError(
            f"--modes: no subject selected runs in {', '.join(wrong) or repr(text)}; valid: {has}"
        )
    return tuple(
        s if mode == "eager" else s.in_mode(mode)
        for s in subjects
        for mode in chosen
        if mode in s.modes
    )


SELECTION = pytest.StashKey[Selection]()
