"""The environment fingerprint: interpreter, machine, CPU, and what each subject's framework reports."""

import json
import os
import platform

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


def cpu() -> dict:
    """CPU model and the relevant feature flags, from /proc/cpuinfo where there is one."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() in ("flags", "Features"):
                    flags.update(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "flags": [f for f in CPU_FLAGS if f in flags],
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
            s.label: {"missing": s.missing()}
            if s.missing()
            else {"devices": s.found_devices(), **s.environment()}
            for s in subjects
        },
    }
    return json.loads(json.dumps(found, default=str))  # it travels between processes
