"""The GPU set-up (docs/requirements-gpu.txt) parses, pins every requirement to one version, and
names versions and extras that exist on the package index (read there: the index's listing, and
the METADATA of one wheel per requirement with extras, read by HTTP ranges, not downloaded)."""

import io
import json
import urllib.error
import urllib.request
import zipfile

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

GPU_SET_UP = ROOT / "docs" / "requirements-gpu.txt"
INDEX = "https://pypi.org/simple"


def requirements() -> list[Requirement]:
    lines = [line.split("#")[0].strip() for line in GPU_SET_UP.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def test_every_requirement_is_pinned_and_the_frameworks_are_cuda_builds():
    found = {r.name: r for r in requirements()}
    assert all(
        len(r.specifier) == 1 and next(iter(r.specifier)).operator == "==" for r in found.values()
    )
    assert found["tensorflow"].extras == {"and-cuda"} and "jax" in found and found["jax"].extras
    assert "tensorflow-cpu" not in found  # it would shadow the CUDA build
    pinned = {line.split("==")[0]: line for line in (ROOT / "requirements.txt").read_text().split()
              if "==" in line}  # fmt: skip
    for name in ("torch", "keras", "numpy", "hypothesis", "pytest"):
        assert str(found[name].specifier) == pinned[name].removeprefix(name), name


def listing(name: str) -> dict:
    request = urllib.request.Request(
        f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except (urllib.error.URLError, TimeoutError) as exc:
        pytest.skip(f"the package index ({INDEX}) cannot be reached from here: {exc}")


class Ranged(io.RawIOBase):
    """A remote file read by HTTP range requests: zipfile reads a wheel's METADATA through it."""

    def __init__(self, url: str, size: int):
        self.url, self.size, self.at = url, size, 0

    def seekable(self):
        return True

    def readable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.at = {io.SEEK_SET: 0, io.SEEK_CUR: self.at, io.SEEK_END: self.size}[whence] + offset
        return self.at

    def tell(self):
        return self.at

    def read(self, n=-1):
        end = self.size if n < 0 else min(self.size, self.at + n)
        if end <= self.at:
            return b""
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={self.at}-{end - 1}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            data = response.read()
        self.at += len(data)
        return data


def extras_of(wheel: dict) -> set[str]:
    """The extras a wheel's METADATA provides."""
    with zipfile.ZipFile(Ranged(wheel["url"], wheel["size"])) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    return {
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Provides-Extra:")
    }


@pytest.mark.parametrize("requirement", requirements(), ids=lambda r: r.name)
def test_the_index_has_each_version_and_extra(requirement):
    found = listing(requirement.name)
    version = next(iter(requirement.specifier)).version
    assert version in found["versions"], f"{requirement.name} {version} is not on {INDEX}"
    linux = [f for f in found["files"] if f["filename"].endswith(".whl") and f"-{version}-" in f["filename"]
             and (("manylinux" in f["filename"] and "x86_64" in f["filename"]) or "-none-any" in f["filename"])]  # fmt: skip
    assert linux, f"{requirement.name} {version} has no wheel for Linux x86_64"
    if requirement.extras:
        assert requirement.extras <= extras_of(min(linux, key=lambda f: f["size"])), requirement
