"""Parallel test farms: deterministic shards, thread caps per worker, a shared example database.

Contract of a shard: the N shards of one selection partition its cells, each shard an even share
of the cells that will run (by their durations in an earlier report where one is given; cells
that will skip cost nothing), so together they run every cell exactly once; each cell draws its
cases from its own seed (derandomized profiles, or --hypothesis-seed), so a shard runs the very
cases the unsharded run would.
"""

import atexit
import contextlib
import ctypes
import gc
import importlib
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conformance.runtimes import determinism
from conformance.subjects.availability import missing_module

SHARD = re.compile(r"(?P<index>[1-9]\d*)/(?P<count>[1-9]\d*)")
#: thread pools the frameworks size from the environment when they are first imported
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based, as written on the command line: --shard 2/4)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        match = SHARD.fullmatch(text.strip())
        if match is None or int(match["index"]) > int(match["count"]):
            raise ValueError(f"--shard: {text!r} is not K/N with 1 <= K <= N (e.g. 2/4)")
        return cls(int(match["index"]), int(match["count"]))

    def split(
        self, items: list, durations: dict[str, float], idle: Callable[[object], bool]
    ) -> tuple[list, list]:
        """(kept, dropped): this shard's items, in their original order, and the others'.

        The items that will run are shared out by pytest-split's least-duration algorithm
        (longest first, each to the shard with the least so far), weighed by `durations` (node id
        -> seconds, from an earlier report; an item without one weighs their mean, or 1); the
        `idle` ones (cells that will skip) cost nothing and go round in turn. Every shard
        computes the same split from the same items and durations."""
        from pytest_split.algorithms import Algorithms

        busy = [item for item in items if not idle(item)]
        known = {item.nodeid: durations[item.nodeid] for item in busy if item.nodeid in durations}
        groups = Algorithms.least_duration.value(self.count, busy, known)
        mine = {id(item) for item in groups[self.index - 1].selected}
        spare = sorted((item for item in items if idle(item)), key=lambda item: item.nodeid)
        mine |= {id(item) for rank, item in enumerate(spare) if rank % self.count == self.index - 1}
        kept = [item for item in items if id(item) in mine]
        dropped = [item for item in items if id(item) not in mine]
        return kept, dropped

    def as_dict(self) -> dict:
        return {"index": self.index, "count": self.count}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def thread_cap(requested: int | None, workers: int) -> int:
    """Threads per process: as requested, else the usable CPUs shared out among the workers."""
    return requested or max(1, usable_cpus() // max(1, workers))


#: glibc's mallopt parameters, and the largest block its heap may serve (its upper limit on 64 bits)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HEAP_BLOCKS = 32 * 2**20


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for the next allocation: blocks up to HEAP_BLOCKS
    from the heap, not fresh mmap()ed pages, and no trimming of the heap's top. By default a
    large array (the tail's operands, the oracle's products) gets new pages each time and takes
    a page fault on every page of them. Whether it applied (not on a C library without mallopt)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, 2**30) and mallopt(M_MMAP_THRESHOLD, HEAP_BLOCKS))


def prepare_process(subjects, threads: int, tf32: str, deterministic: bool = False) -> list[str]:
    """Size every framework's thread pools to `threads` (before the frameworks start them), keep
    freed memory for reuse, import the frameworks without their start-up banners, apply the TF32
    policy and, when asked, the determinism switches, and exempt what the imports left from
    garbage collection. The determinism switches set (none unless asked)."""
    keep_freed_memory()
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    if deterministic:
        determinism.before_import()
    present = [s for s in subjects if missing_module(s) is None]  # the others' cells skip
    needed = dict.fromkeys(m for s in present for m in s.requires)
    # TensorFlow's TFLite helpers import jax when it is installed, for converting JAX functions
    # only (tensorflow/lite/python/util.py): a worker none of whose subjects uses jax goes without
    with unimportable(() if "jax" in needed else ("jax",)):
        for module in needed:
            import_quietly(module)
    for subject in present:
        subject.prepare_process(threads, tf32)
    switched = determinism.after_import() if deterministic else []
    # The frameworks' import-time objects live as long as the process: out of the collector's
    # reach, so that no full collection walks them.
    gc.collect()
    gc.freeze()
    return switched


def exit_without_teardown() -> None:
    """At the end of an xdist worker (which has sent its results by then), end the process once
    the other exit handlers ran, without the interpreter's teardown (freeing every object of two
    frameworks), which the controller would wait for."""
    atexit.register(_exit_now)  # registered first, so it runs last


def _exit_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@contextlib.contextmanager
def unimportable(modules: tuple[str, ...]):
    """Inside, importing any of `modules` not imported yet raises ImportError (what a library
    that imports it optionally does without it); afterwards they import as usual."""
    blocked = [m for m in modules if m not in sys.modules]
    for module in blocked:  # a None entry: `import module` raises ImportError
        sys.modules[module] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for module in blocked:
            if sys.modules.get(module, False) is None:
                del sys.modules[module]


def import_quietly(module: str) -> None:
    """Import `module` with the C-level stderr set aside: TensorFlow prints start-up lines there
    that need no action (oneDNN on, CPU instructions, absl). Shown after all if the import fails."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as aside:
        os.dup2(aside.fileno(), 2)
        try:
            importlib.import_module(module)
        except BaseException:
            os.dup2(saved, 2)
            aside.seek(0)
            sys.stderr.write(aside.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def children() -> list[int]:
    """This process' child processes (Linux: /proc lists them; elsewhere none are found)."""
    found = []
    for listing in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in listing.read_text().split()]
    return found


def stop_workers() -> None:
    """End the xdist workers of an interrupted run at once: they leave SIGINT and SIGTERM to the
    controller and would finish the cell they run first (a thorough cell takes minutes, and a CI
    runner kills the job seconds after its SIGTERM). Call it once the report is written: their
    cells are reported not run. Where children cannot be listed, xdist ends them as usual."""
    for pid in children():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def visible_gpus() -> list[str]:
    """GPUs this process may use: $CUDA_VISIBLE_DEVICES when set, else one index per GPU the
    NVIDIA driver lists (read without starting CUDA)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    try:
        return [str(i) for i in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        return []


def pin_gpu(worker: str | None) -> str | None:
    """Pin xdist worker gwK to GPU K mod count (before any framework starts CUDA); the GPU or None."""
    gpus = visible_gpus()
    if worker is None or not gpus:
        return None
    gpu = gpus[int(worker.removeprefix("gw")) % len(gpus)]
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return gpu


def use_example_database(path: Path, read_only: bool) -> None:
    """Point the active Hypothesis profile at a directory database shared by every node.

    Failures found anywhere are saved there and replayed first on every node; read-only nodes
    (pull-request jobs) replay them but save nothing."""
    from hypothesis import settings
    from hypothesis.database import (
        DirectoryBasedExampleDatabase,
        ExampleDatabase,
        ReadOnlyDatabase,
    )

    database: ExampleDatabase = DirectoryBasedExampleDatabase(str(path))
    if read_only:
        database = ReadOnlyDatabase(database)
    name = settings.get_current_profile_name()
    settings.register_profile(name, parent=settings.default, database=database)
    settings.load_profile(name)
