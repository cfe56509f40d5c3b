"""The divergence registry: known behavioural differences, as data with evidence.

The registry is a ratchet (after jax2tf's limitations): a known divergence reproducing is
neither pass nor fail; an unknown deviation fails; a known one that stops reproducing says so.
"""

import ast
import re
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("divergences.toml")
REQUIRED = ("id", "what", "properties", "subjects", "signature", "evidence")
OPTIONAL = ("dtypes", "devices")


class RegistryError(ValueError):
    """A divergence file that cannot be used."""


@dataclass(frozen=True)
class Divergence:
    """One known divergence: where it applies and how to recognise it."""

    id: str
    what: str
    properties: tuple[str, ...]
    subjects: tuple[str, ...]
    signature: re.Pattern
    evidence: str
    dtypes: tuple[str, ...] = ("*",)
    devices: tuple[str, ...] = ("*",)

    def applies(self, prop: str, subject: str, dtype: str, device: str) -> bool:
        """Whether a cell (property x subject x dtype x device) can reach this divergence."""
        return (
            prop in self.properties
            and any(fnmatchcase(subject, p) for p in self.subjects)
            and any(fnmatchcase(dtype, p) for p in self.dtypes)
            and any(fnmatchcase(device, p) for p in self.devices)
        )

    def matches(self, observation: str) -> bool:
        return self.signature.search(observation) is not None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "what": self.what,
            "properties": list(self.properties),
            "subjects": list(self.subjects),
            "dtypes": list(self.dtypes),
            "devices": list(self.devices),
            "evidence": self.evidence,
        }


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
            raise RegistryError(
                f"divergence registry {where}: not valid TOML ({exc})"
            ) from None
        raw = data.get("divergence")
        if set(data) - {"divergence"} or not isinstance(raw, list):
            raise RegistryError(
                f"divergence registry {where}: expected only [[divergence]] tables"
            )
        entries = tuple(_entry(where, i, item) for i, item in enumerate(raw))
        ids = [e.id for e in entries]
        if len(set(ids)) != len(ids):
            raise RegistryError(f"divergence registry {where}: duplicate ids in {ids}")
        known = suite_properties()
        for entry in entries:
            unknown = sorted(set(entry.properties) - known)
            if unknown:
                raise RegistryError(
                    f"divergence registry {where}: entry {entry.id!r} names unknown properties {unknown}; "
                    f"valid: {', '.join(sorted(known))}"
                )
        return cls(entries, where)

    def applicable(
        self, prop: str, subject: str, dtype: str, device: str
    ) -> tuple[Divergence, ...]:
        return tuple(e for e in self.entries if e.applies(prop, subject, dtype, device))


def suite_properties() -> set[str]:
    """Names of the suite's properties: test_<name> functions in conformance/test_*.py (read, not imported)."""
    names = set()
    for path in DEFAULT_PATH.parent.glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name.removeprefix("test_"))
    return names


def _entry(where: str, index: int, item) -> Divergence:
    label = f"divergence registry {where}: entry {index + 1}"
    if not isinstance(item, dict):
        raise RegistryError(f"{label}: expected a table")
    unknown = set(item) - set(REQUIRED) - set(OPTIONAL)
    lacking = [k for k in REQUIRED if k not in item]
    if unknown or lacking:
        problem = (
            f"unknown keys {sorted(unknown)}" if unknown else f"missing keys {lacking}"
        )
        raise RegistryError(
            f"{label}: {problem}; valid keys: {', '.join(REQUIRED + OPTIONAL)}"
        )
    lists = {
        k: item.get(k, ["*"]) for k in ("properties", "subjects", "dtypes", "devices")
    }
    if any(
        not isinstance(v, list) or not all(isinstance(s, str) for s in v)
        for v in lists.values()
    ):
        raise RegistryError(
            f"{label}: properties, subjects, dtypes and devices must be lists of strings"
        )
    if not all(
        isinstance(item[k], str) for k in ("id", "what", "signature", "evidence")
    ):
        raise RegistryError(
            f"{label}: id, what, signature and evidence must be strings"
        )
    try:
        signature = re.compile(item["signature"])
    except re.error as exc:
        raise RegistryError(
            f"{label}: signature is not a regular expression ({exc})"
        ) from None
    return Divergence(
        id=item["id"],
        what=item["what"],
        properties=tuple(lists["properties"]),
        subjects=tuple(lists["subjects"]),
        signature=signature,
        evidence=item["evidence"],
        dtypes=tuple(lists["dtypes"]),
        devices=tuple(lists["devices"]),
    )
