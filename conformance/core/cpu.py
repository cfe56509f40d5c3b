"""The CPU's instruction-set level: which kernels oneDNN (TensorFlow's and torch's on the CPU)
picks here, and so how they round and flush. Registry entries may name the levels they were seen
at."""

import os

#: instruction-set levels, lowest first, each with the CPU flags (/proc/cpuinfo) that make it
ISA_LEVELS = {
    "baseline": (),
    "avx2": ("avx2", "fma"),
    "avx512": ("avx512f",),
    "avx512_bf16": ("avx512_bf16",),
}
#: ONEDNN_MAX_CPU_ISA values (oneDNN's names) and the level each caps oneDNN's kernels at
ONEDNN_CAPS = {
    "SSE41": "baseline",
    "AVX": "baseline",
    "AVX2": "avx2",
    "AVX2_VNNI": "avx2",
    "AVX2_VNNI_2": "avx2",
    "AVX512_CORE": "avx512",
    "AVX512_CORE_VNNI": "avx512",
}


def cpu_flags() -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo's first `flags` line; none where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def cpu_isa(flags: set[str] | None = None, cap: str | None = None) -> str:
    """The level oneDNN's kernels use here: the highest the CPU has (AMX's bfloat16 counts as
    avx512_bf16), lowered to the cap ONEDNN_MAX_CPU_ISA sets (as on a runner without them)."""
    flags = cpu_flags() if flags is None else flags
    if "amx_bf16" in flags:
        flags = flags | {"avx512_bf16"}
    levels = list(ISA_LEVELS)
    found = max((i for i, level in enumerate(levels) if set(ISA_LEVELS[level]) <= flags), default=0)
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "") if cap is None else cap
    capped = ONEDNN_CAPS.get(cap.upper())
    if capped is not None:
        found = min(found, levels.index(capped))
    return levels[found]
