"""A failing example's arrays, packed as compressed .npz bytes (base64) so they travel from the
worker that found the failure to the controller, which writes them as the reproducer's .npz
beside report.json (report.json itself holds no arrays), and the command that replays it.

The bytes are a plain .npz file: reproducers load them with allow_pickle=False. bfloat16 arrays
are stored as float32 (exactly) and listed under `bfloat16`; the tested dtype is stored under
`dtype`. There is no size limit: an example too large to pack (memory) says why instead.
"""

import base64
import io
import shlex
import sys
from pathlib import Path
from typing import Any, cast

import numpy as np

from conformance.core.formats import FORMATS

BFLOAT16 = FORMATS["bfloat16"].numpy


def npz_bytes(dtype: str, arrays: dict) -> bytes:
    """A compressed .npz of `arrays` (None values left out; strings as 0-d arrays; bfloat16 as
    float32)."""
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
    np.savez_compressed(buffer, **cast(dict[str, Any], stored))
    return buffer.getvalue()


def pack(dtype: str, arrays: dict) -> tuple[str | None, str | None]:
    """(base64 of `npz_bytes`, None), or (None, why it could not be packed)."""
    try:
        data = npz_bytes(dtype, arrays)
    except MemoryError:
        size = sum(np.asarray(a).nbytes for a in arrays.values() if a is not None)
        return None, f"its arrays ({size / 2**20:,.0f} MiB) did not fit in memory to be stored"
    return base64.b64encode(data).decode("ascii"), None


def unpack(packed: str) -> dict[str, np.ndarray]:
    """The arrays of `pack`, bfloat16 ones restored."""
    with np.load(io.BytesIO(base64.b64decode(packed)), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.pop("dtype")
    for name in arrays.pop("bfloat16").tolist():
        arrays[name] = arrays[name].astype(BFLOAT16)
    return arrays


def replay_command(script: str | Path, python: str = sys.executable) -> str:
    """The command that runs a reproducer script pasted into any shell, in any directory: the
    interpreter that ran the suite and the script, both by their full paths."""
    return shlex.join([python, str(Path(script).absolute())])
