"""A failing example's arrays, packed as .npz bytes (base64) so they travel on the test report.

The bytes are a plain .npz file: reproducers write them as they are and load them with
allow_pickle=False. bfloat16 arrays are stored as float32 (exactly) and listed under
`bfloat16`; the tested dtype is stored under `dtype`.
"""

import base64
import io
from typing import Any, cast

import numpy as np

from conformance.core.formats import FORMATS

BFLOAT16 = FORMATS["bfloat16"].numpy
MAX_BYTES = 16 * 2**20


def npz_bytes(dtype: str, arrays: dict) -> bytes:
    """An .npz of `arrays` (None values left out; strings as 0-d arrays; bfloat16 as float32)."""
    stored, bf16 = {"dtype": np.array(dtype)}, []
    for name, value in arrays.items():
        if value is None:
            continue
        value = np.asarray(value)
        if value.dtype == BFLOAT16:
            bf16.append(name)
            value = value.astype(np.float32)
        stored[name] = value
    stored["bfloat16"] = np.array(bf16, dtype=str)
    buffer = io.BytesIO()
    np.savez(buffer, **cast(dict[str, Any], stored))
    return buffer.getvalue()


def pack(dtype: str, arrays: dict) -> str | None:
    """base64 of `npz_bytes`, or None when the example is too large to carry."""
    data = npz_bytes(dtype, arrays)
    return base64.b64encode(data).decode("ascii") if len(data) <= MAX_BYTES else None


def unpack(packed: str) -> dict[str, np.ndarray]:
    """The arrays of `pack`, bfloat16 ones restored."""
    with np.load(io.BytesIO(base64.b64decode(packed)), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.pop("dtype")
    for name in arrays.pop("bfloat16").tolist():
        arrays[name] = arrays[name].astype(BFLOAT16)
    return arrays
