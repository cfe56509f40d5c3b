"""The divergence registry: known behavioural differences, as data with evidence.

An entry names observation codes (`conformance.core.observation.Code`, optionally `code:detail`),
never message text, and the subjects (by label) or the runtimes (by cause: what a subject runs
on, `Subject.runtimes`) it covers, and the dtypes and devices. By default it reaches every
property whose comparisons can show one of its codes; it may narrow itself to properties and to
quantities (forward, weight gradient, ...); its callers check that those properties are declared
(`Registry.check_properties`). The registry is a ratchet (after jax2tf's
limitations): a known divergence reproducing is neither pass nor fail, an unknown deviation
fails, and a known one that no example met is reported as not reproduced.
"""

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path

from conformance.core.cpu import ISA_LEVELS
from conformance.core.identity import PAIR, CellId
from conformance.core.observation import Code, Observation, Quantity

#: what a cell's subjects run on, per device (see Subject.runtimes)
RuntimesOf = Callable[[str], tuple[str, ...]] | None

#: the built-in registry, beside the core (conformance/divergences.toml)
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "divergences.toml"
REQUIRED = ("id", "title", "what", "observations", "evidence")
#: an entry names the subjects it covers, the runtimes it covers, or both
WHO = ("subjects", "runtimes")
OPTIONAL = (*WHO, "properties", "dtypes", "devices", "modes", "quantities", "isas")
EVERYTHING = ("*",)


class RegistryError(ValueError):
    """A divergence file that cannot be used."""


@dataclass(frozen=True)
class Divergence:
    """One known divergence: the observations it explains and where."""

    id: str
    title: str
    what: str
    observations: tuple[str, ...]  # codes, or code:detail
    evidence: str
    subjects: tuple[str, ...] = ()
    runtimes: tuple[str, ...] = ()
    properties: tuple[str, ...] = EVERYTHING
    dtypes: tuple[str, ...] = EVERYTHING
    devices: tuple[str, ...] = EVERYTHING
    modes: tuple[str, ...] = EVERYTHING
    quantities: tuple[str, ...] = EVERYTHING
    #: the instruction-set levels it was seen at (ISA_LEVELS: baseline, avx2, avx512,
    #: avx512_bf16): a behaviour of the CPU's kernels, met only on such a CPU
    isas: tuple[str, ...] = EVERYTHING

    @property
    def codes(self) -> frozenset[Code]:
        return frozenset(Code(o.split(":")[0]) for o in self.observations)

    def applies(
        self,
        cell: CellId,
        shows: frozenset[Code],
        runtimes: tuple[str, ...] = (),
        isa: str | None = None,
    ) -> bool:
        """Whether `cell` (its property able to show the codes `shows`, its subjects running on
        `runtimes` there, on a CPU of instruction-set level `isa`) can reach this divergence: the
        entry names the subjects (their labels, the mode aside: torch@compile is torch in mode
        compile) or one of those runtimes, and the mode (and, on the CPU, the level)."""
        named = cell.property in self.properties or (
            self.properties == EVERYTHING and bool(self.codes & shows)
        )
        subjects = PAIR.join(cell.names)
        return (
            named
            and any(fnmatchcase(cell.mode, p) for p in self.modes)
            and (
                any(fnmatchcase(subjects, p) for p in self.subjects)
                or any(fnmatchcase(r, p) for r in runtimes for p in self.runtimes)
            )
            and any(fnmatchcase(cell.dtype, p) for p in self.dtypes)
            and any(fnmatchcase(cell.device, p) for p in self.devices)
            and (
                isa is None
                or not cell.device.startswith("cpu")
                or any(fnmatchcase(isa, p) for p in self.isas)
            )
        )

    def explains(self, code: Code, observation: Observation) -> bool:
        """Whether this entry accounts for `code` of `observation` (its detail and quantity too)."""
        quantity = observation.quantity
        if (
            quantity is not None
            and self.quantities != EVERYTHING
            and quantity not in self.quantities
        ):
            return False
        device = observation.device
        if device is not None and not any(fnmatchcase(device, p) for p in self.devices):
            return False
        return code in self.observations or (
            observation.detail is not None and f"{code}:{observation.detail}" in self.observations
        )

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}


@dataclass(frozen=True)
class Registry:
    entries: tuple[Divergence, ...]
    path: str

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> "Registry":
        """Read and validate a registry file; any problem is one RegistryError line."""
        where = str(path)
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise RegistryError(
                f"divergence registry {where}: cannot read it ({exc.strerror})"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise RegistryError(f"divergence registry {where}: not valid TOML ({exc})") from None
        raw = data.get("divergence")
        if set(data) - {"divergence"} or not isinstance(raw, list):
            raise RegistryError(f"divergence registry {where}: expected only [[divergence]] tables")
        entries = tuple(_entry(where, i, item) for i, item in enumerate(raw))
        ids = [e.id for e in entries]
        if len(set(ids)) != len(ids):
            raise RegistryError(f"divergence registry {where}: duplicate ids in {ids}")
        return cls(entries, where)

    def applicable(
        self,
        cell: CellId,
        shows: frozenset[Code],
        cross_device: bool = False,
        runtimes: RuntimesOf = None,
        isa: str | None = None,
    ) -> tuple[Divergence, ...]:
        """The entries `cell` can reach (a cross-device cell compares with the CPU too);
        `runtimes(device)`: what the cell's subjects run on there (Subject.runtimes); `isa`: the
        CPU's instruction-set level (None: any)."""
        devices = (cell.device, "cpu") if cross_device else (cell.device,)
        return tuple(
            e
            for e in self.entries
            if any(
                e.applies(replace(cell, device=d), shows, runtimes(d) if runtimes else (), isa)
                for d in devices
            )
        )

    def check_properties(self, declared: Mapping[str, frozenset[Code]]) -> None:
        """RegistryError (one line) unless every property an entry names is declared (`declared`:
        name -> the codes its comparisons can show) and can show one of the entry's codes."""
        for e in self.entries:
            label = f"divergence registry {self.path}: entry {e.id!r}"
            unknown = sorted(set(e.properties) - set(declared) - set(EVERYTHING))
            if unknown:
                raise RegistryError(
                    f"{label} names unknown properties {unknown}; valid: {', '.join(declared)}"
                )
            for name in e.properties:
                if name in declared and not e.codes & declared[name]:
                    shows = ", ".join(sorted(declared[name]))
                    codes = ", ".join(sorted(e.codes))
                    raise RegistryError(
                        f"{label}: property {name} cannot show {codes} (it shows {shows})"
                    )

    def merged(self, other: "Registry") -> "Registry":
        """This registry with `other`'s entries (a plug-in's own file); ids stay unique, the path
        stays this one's (the subjects name their own files again wherever they are resolved)."""
        ids = {e.id for e in self.entries}
        twice = sorted(ids & {e.id for e in other.entries})
        if twice:
            raise RegistryError(
                f"divergence registry {other.path}: ids {twice} are already in {self.path}"
            )
        return Registry(self.entries + other.entries, self.path)

    def with_files(self, paths) -> "Registry":
        """This registry with the entries of each file in `paths` (None: none), as plug-ins ship."""
        registry = self
        for path in paths:
            if path is not None:
                registry = registry.merged(Registry.load(path))
        return registry


def _entry(where: str, index: int, item) -> Divergence:
    label = f"divergence registry {where}: entry {index + 1}"
    if not isinstance(item, dict):
        raise RegistryError(f"{label}: expected a table")
    strange = set(item) - set(REQUIRED) - set(OPTIONAL)
    lacking = [k for k in REQUIRED if k not in item]
    if strange or lacking:
        problem = f"unknown keys {sorted(strange)}" if strange else f"missing keys {lacking}"
        raise RegistryError(f"{label}: {problem}; valid keys: {', '.join(REQUIRED + OPTIONAL)}")
    lists = {
        k: item.get(k, [] if k in WHO else list(EVERYTHING)) for k in ("observations", *OPTIONAL)
    }
    if any(
        not isinstance(v, list) or not (v or k in WHO) or not all(isinstance(s, str) for s in v)
        for k, v in lists.items()
    ):
        raise RegistryError(f"{label}: {', '.join(lists)} must be non-empty lists of strings")
    if not any(lists[k] for k in WHO):
        raise RegistryError(f"{label}: name the subjects or the runtimes it covers (or both)")
    if not all(isinstance(item[k], str) for k in ("id", "title", "what", "evidence")):
        raise RegistryError(f"{label}: id, title, what and evidence must be strings")
    label = f"divergence registry {where}: entry {item['id']!r}"
    codes = [o.split(":")[0] for o in lists["observations"]]
    wrong = [c for c in codes if c not in set(Code)]
    if wrong:
        raise RegistryError(f"{label} names unknown observations {wrong}; valid: {', '.join(Code)}")
    for key, valid in (("quantities", [q.value for q in Quantity]), ("isas", tuple(ISA_LEVELS))):
        unknown = sorted(set(lists[key]) - set(valid) - set(EVERYTHING))
        if unknown:
            raise RegistryError(f"{label} names unknown {key} {unknown}; valid: {', '.join(valid)}")
    return Divergence(
        id=item["id"],
        title=item["title"],
        what=item["what"],
        evidence=item["evidence"],
        **{k: tuple(v) for k, v in lists.items()},
    )
