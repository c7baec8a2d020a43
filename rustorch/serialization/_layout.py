"""Shapes and strided views checked against their storage before anything is allocated.

Every reader builds tensors through :func:`strided_view`: a numpy view over the buffer of its
storage, so tensors sharing a storage share memory (as ``torch.load`` gives) and
a file can never make the loader allocate more than the storages it holds.
"""
import math

import numpy as np

# numpy's limits: at most 64 dimensions (NPY_MAXDIMS), and the product of the non-zero
# dimensions times the element size must fit a signed pointer-sized integer.
MAX_DIMS = 64
_MAX_BYTES = np.iinfo(np.intp).max

ALIGNMENT = 64


class LayoutError(Exception):
    """A shape, stride or offset that does not fit its storage; the readers add the file name."""


def check_shape(shape, itemsize: int, what: str) -> tuple:
    """``shape`` as a tuple of non-negative ints that numpy can represent.

    Raises:
        LayoutError: not a sequence of non-negative ints, more than 64 dimensions, or a shape
            whose non-zero dimensions multiply to more bytes than an array can address.
    """
    if type(shape) not in (tuple, list) or any(type(n) is not int or n < 0 for n in shape):
        raise LayoutError(f"the {what} must be a sequence of non-negative ints, got {_short(shape)}")
    if len(shape) > MAX_DIMS:
        raise LayoutError(f"the {what} has {len(shape)} dimensions, more than the {MAX_DIMS} an array can have")
    if math.prod(max(n, 1) for n in shape) * itemsize > _MAX_BYTES:
        raise LayoutError(
            f"the {what} {_short(shape)} describes more than {_MAX_BYTES} bytes of {itemsize}-byte "
            "elements, more than any array can address"
        )
    return tuple(shape)


def strided_view(buffer: np.ndarray, offset, shape, strides, what: str) -> np.ndarray:
    """A view of the 1-D ``buffer`` with element ``offset``, ``shape`` and element ``strides``.

    The view shares ``buffer``'s memory; nothing is copied. As with torch's views, writing
    through one view shows in the others of the same buffer; a view in which several
    elements share memory (a stride-0 ``expand``) is read-only. Bounds are checked with Python
    integers first, so a hostile offset or stride cannot overflow numpy's arithmetic.

    Raises:
        LayoutError: a malformed offset, shape or stride, or a view reaching past the buffer.
    """
    itemsize = buffer.dtype.itemsize
    if type(offset) is not int or offset < 0:
        raise LayoutError(f"the {what} has the invalid storage offset {_short(offset)}")
    shape = check_shape(shape, itemsize, f"size of the {what}")
    if type(strides) not in (tuple, list) or any(type(s) is not int or s < 0 for s in strides):
        raise LayoutError(f"the stride of the {what} must be a sequence of non-negative ints, got {_short(strides)}")
    if len(strides) != len(shape):
        raise LayoutError(
            f"the {what} has size {_short(shape)} but stride {_short(strides)} of a different length"
        )
    count = buffer.size
    if 0 in shape:
        if offset > count:
            raise LayoutError(
                f"the {what} starts at element {offset} of a storage of {count} elements"
            )
        return np.empty(shape, dtype=buffer.dtype)
    # A dimension of size 1 never steps, so its stride (which may be anything) is irrelevant.
    strides = tuple(s if n > 1 else 0 for n, s in zip(shape, strides))
    last = offset + sum((n - 1) * s for n, s in zip(shape, strides))
    if last >= count:
        raise LayoutError(
            f"the {what} of size {_short(shape)}, stride {_short(strides)} and offset {offset} reaches "
            f"element {last} of a storage that has only {count} elements"
        )
    view = np.ndarray(
        shape, dtype=buffer.dtype, buffer=buffer, offset=offset * itemsize,
        strides=tuple(s * itemsize for s in strides),
    )
    if not buffer.flags.writeable or _overlaps_itself(shape, strides):
        view.flags.writeable = False
    return view


def _overlaps_itself(shape, strides) -> bool:
    """True unless every element of the view has its own memory (a stride-0 ``expand`` has not).

    Sufficient test: with the stepping dimensions sorted by stride, each stride exceeds the
    span of all smaller ones.
    """
    span = 0
    for stride, size in sorted((s, n) for n, s in zip(shape, strides) if n > 1):
        if stride <= span:
            return True
        span += (size - 1) * stride
    return False


def aligned_empty(nbytes: int) -> np.ndarray:
    """An uninitialised flat ``uint8`` array of ``nbytes`` whose data starts on a 64-byte boundary.

    JAX on CPU adopts such a buffer without copying it (``jax.device_put``), so a storage read
    into it costs its size once.
    """
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + nbytes]


def _short(value) -> str:
    """``repr(value)`` cut to a readable length: hostile files carry huge values.

    Never raises: an int too long to print (``sys.get_int_max_str_digits``) is described.
    """
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__} too large to print>"
    return text if len(text) <= 120 else text[:100] + f"... ({len(text)} characters)"
