"""The floating-point formats under test and the constants the bounds are built from."""

from dataclasses import dataclass

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
DTYPES = tuple(FORMATS)

#: TensorFloat-32: float32 range, 11-bit significand; the rounding of matmul inputs on Ampere+ GPUs.
TF32_U = 2.0**-11
