"""Host arrays in, rustorch tensors out: the one place where data leaves numpy.

Datasets keep their data as numpy arrays and the loader gathers batches with numpy, so the only
hand-off to the device is ``to_tensor`` on a whole batch. JAX without ``jax_enable_x64`` holds
32-bit numbers only; the narrowing is done here, explicitly and with a range check, so that JAX
never truncates silently or warns.
"""
from __future__ import annotations

import jax
import numpy as np


def canonical_array(array, what: str = "array") -> np.ndarray:
    """Return ``array`` as a numpy array in the dtype JAX would store it in.

    With ``jax_enable_x64`` off (JAX's default) int64 becomes int32, uint64 uint32, float64
    float32 and complex128 complex64; with it on, nothing changes. Accepts numpy arrays, JAX
    arrays, rustorch tensors (anything ``np.asarray`` reads) and Python numbers/lists.

    Raises ``TypeError`` for strings and Python objects (no tensor holds them) and
    ``ValueError`` when integers do not fit the 32-bit type (enable x64 to keep them).
    """
    a = np.asarray(array)
    if a.dtype.kind in "OUSVMm":
        raise TypeError(
            f"{what}: cannot make a tensor from numpy dtype {a.dtype}; tensors hold booleans "
            "and numbers only. Convert the data to a numeric array first."
        )
    target = np.dtype(jax.dtypes.canonicalize_dtype(a.dtype))
    if target == a.dtype:
        return a
    if a.dtype.kind in "iu" and a.size:
        info = np.iinfo(target)
        lo, hi = a.min(), a.max()
        if lo < info.min or hi > info.max:
            raise ValueError(
                f"{what}: {a.dtype} values in [{lo}, {hi}] do not fit {target}, the widest integer "
                "type JAX holds without 64-bit mode; call "
                "jax.config.update('jax_enable_x64', True) before building the dataset."
            )
    return a.astype(target)


def to_tensor(array):
    """Convert a host array to a rustorch tensor (``rustorch.stateful.tensor``).

    The array is first narrowed by ``canonical_array``. The stateful facade is imported here, at
    call time, because it imports this package's siblings and must not be needed to import
    ``rustorch.utils.data``.
    """
    from rustorch.stateful import tensor

    return tensor(canonical_array(array))
