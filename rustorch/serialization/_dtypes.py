"""The dtypes a checkpoint may hold, and how PyTorch and safetensors spell each of them.

bfloat16 comes from ``ml_dtypes`` (a dependency of JAX itself), whose ``bfloat16`` has the
same bit layout as ``torch.bfloat16`` and safetensors' ``BF16``.
"""
from typing import NamedTuple

import ml_dtypes
import numpy as np


class DtypeInfo(NamedTuple):
    """One supported element type: numpy dtype, PyTorch legacy storage class, safetensors code."""

    numpy: np.dtype
    torch_storage: str
    safetensors: str


SUPPORTED = (
    DtypeInfo(np.dtype(np.float32), "FloatStorage", "F32"),
    DtypeInfo(np.dtype(np.float64), "DoubleStorage", "F64"),
    DtypeInfo(np.dtype(np.float16), "HalfStorage", "F16"),
    DtypeInfo(np.dtype(ml_dtypes.bfloat16), "BFloat16Storage", "BF16"),
    DtypeInfo(np.dtype(np.int64), "LongStorage", "I64"),
    DtypeInfo(np.dtype(np.int32), "IntStorage", "I32"),
    DtypeInfo(np.dtype(np.int16), "ShortStorage", "I16"),
    DtypeInfo(np.dtype(np.int8), "CharStorage", "I8"),
    DtypeInfo(np.dtype(np.uint8), "ByteStorage", "U8"),
    DtypeInfo(np.dtype(np.bool_), "BoolStorage", "BOOL"),
)

BY_STORAGE = {info.torch_storage: info for info in SUPPORTED}
BY_SAFETENSORS = {info.safetensors: info for info in SUPPORTED}
SUPPORTED_NAMES = ", ".join(str(info.numpy) for info in SUPPORTED)


def lookup(dtype: np.dtype):
    """The ``DtypeInfo`` for a native-byte-order numpy dtype, or ``None`` if unsupported."""
    for info in SUPPORTED:
        if info.numpy == dtype:
            return info
    return None


def from_bytes(buffer, dtype: np.dtype, byteorder: str = "little") -> np.ndarray:
    """A 1-D native-byte-order array of ``dtype`` over ``buffer``, whose bytes are in ``byteorder``."""
    array = np.frombuffer(buffer, dtype=dtype)
    if dtype.itemsize == 1 or (byteorder == "little") == np.little_endian:
        return array
    return array.byteswap()


def to_little_endian_bytes(array: np.ndarray) -> np.ndarray:
    """The C-contiguous little-endian bytes of ``array`` as a flat ``uint8`` array (no copy if possible)."""
    array = np.ascontiguousarray(array)
    if not np.little_endian and array.dtype.itemsize > 1:
        array = array.byteswap()
    # reshape(-1) first: a 0-d array cannot change its itemsize through view().
    return array.reshape(-1).view(np.uint8)
