"""The floating-point formats under test and the constants the bounds are built from."""

from dataclasses import dataclass, replace

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class Format:
    """A binary floating-point format: unit roundoff, range and the numpy type that holds it."""

    name: str
    numpy: np.dtype
    precision: int  # significand bits, the hidden bit included
    u: float  # unit roundoff, 2**-precision
    tiny: float  # smallest normal (eta in the bound)
    subnormal: float  # smallest subnormal
    max: float  # largest finite value


def _format(name: str, dtype) -> Format:
    info = ml_dtypes.finfo(dtype)
    return Format(
        name=name,
        numpy=np.dtype(dtype),
        precision=int(info.nmant) + 1,
        u=float(info.eps) / 2,
        tiny=float(info.smallest_normal),
        subnormal=float(info.smallest_subnormal),
        max=float(info.max),
    )


FORMATS: dict[str, Format] = {
    name: _format(name, dtype)
    for name, dtype in (
        ("float16", np.float16),
        ("bfloat16", ml_dtypes.bfloat16),
        ("float32", np.float32),
        ("float64", np.float64),
    )
}
#: the plain dtypes, run by default
DTYPES = tuple(FORMATS)


@dataclass(frozen=True)
class Policy:
    """A mixed-precision dtype policy, named as Keras names it: variables (the float32 masters)
    and the x a caller hands over in one format, the computation and its results in another."""

    name: str
    variables: Format
    compute: Format


POLICIES: dict[str, Policy] = {
    f"mixed_{compute}": Policy(f"mixed_{compute}", FORMATS["float32"], FORMATS[compute])
    for compute in ("float16", "bfloat16")
}
#: every dtype --dtypes takes: the plain ones and the mixed-precision policies (opt-in)
ALL_DTYPES = (*DTYPES, *POLICIES)


def variable_format(dtype: str) -> Format:
    """The format a layer of `dtype` keeps its parameters in and is handed x in."""
    return POLICIES[dtype].variables if dtype in POLICIES else FORMATS[dtype]


def compute_format(dtype: str) -> Format:
    """The format a layer of `dtype` computes and returns its results (and takes gradients of
    its output) in."""
    return POLICIES[dtype].compute if dtype in POLICIES else FORMATS[dtype]


def operand_format(dtype: str) -> Format:
    """The values a case of `dtype` draws its operands as: the variable format, within the compute
    format's range (a mixed policy's float32 operands must not overflow its float16)."""
    variables, compute = variable_format(dtype), compute_format(dtype)
    if variables == compute:
        return variables
    return replace(variables, name=dtype, max=compute.max)


#: TensorFloat-32: float32 range, 11-bit significand; the rounding of matmul inputs on Ampere+ GPUs.
TF32_U = 2.0**-11
