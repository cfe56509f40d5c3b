"""The environment fingerprint: interpreter, machine, CPU, and what each subject's framework reports."""

import json
import os
import platform

from conformance.core.cpu import cpu_flags, cpu_isa
from conformance.runtimes import determinism
from conformance.subjects.availability import missing_module
from reports.versions import versions

#: CPU features that change which kernels the frameworks pick (and so their rounding and flushing)
CPU_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_tile",
    "asimd",
    "sve",
)
#: environment variables that lower the instruction sets the frameworks' CPU kernels use
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS")


def cpu() -> dict:
    """CPU model, the feature flags that change kernels, the instruction-set level oneDNN's
    kernels use here (registry entries may name it), and the variables that lowered it."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (v.strip() for k, _, v in map(lambda line: line.partition(":"), f)
                 if k.strip() == "model name"),
                model,
            )  # fmt: skip
    except OSError:
        pass
    flags = cpu_flags()
    return {
        "model": model,
        "flags": [f for f in CPU_FLAGS if f in flags],
        "isa": cpu_isa(flags),
        "isa_caps": {name: os.environ[name] for name in ISA_CAPS if name in os.environ},
        "logical_cpus": os.cpu_count(),
    }


def fingerprint(subjects) -> dict:
    """Everything a reader needs to tell two runs' machines and frameworks apart (plain JSON data)."""
    found = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu(),
        "versions": versions(subjects),
        "subjects": {
            s.label: {"missing": missing_module(s)}
            if missing_module(s)
            else {"devices": s.found_devices(), **s.environment()}
            for s in subjects
        },
        "determinism": determinism.state(),
    }
    return json.loads(json.dumps(found, default=str))  # it travels between processes
