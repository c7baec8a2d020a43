"""``torch.nn.functional.pad``: constant, reflect, replicate and circular padding."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode: str = "constant", value=None):
    """Pad the last ``len(pad) // 2`` dimensions of ``input``, ``torch.nn.functional.pad``.

    ``pad`` lists ``(lo, hi)`` pairs starting from the **last** dimension:
    ``(left, right)`` pads the last dimension, ``(left, right, top, bottom)`` the last two, and
    so on (PyTorch's order). Modes:

    * ``'constant'``: fill with ``value`` (default 0); negative entries crop; any number of
      dimensions.
    * ``'reflect'``: mirror without repeating the edge (``[1, 2, 3]`` padded by 2 on the left
      starts ``3, 2, 1, ...``); each pad must be smaller than its dimension.
    * ``'replicate'``: repeat the edge value.
    * ``'circular'``: wrap around; each pad at most its dimension.

    The non-constant modes pad the last 1, 2 or 3 dimensions of a batched or unbatched input
    (``len(pad)`` 2, 4 or 6 with a 2-3-, 3-4- or 4-5-D input), as PyTorch. Gradients sum over
    every place an element was copied to.

    Raises:
      ValueError: an odd-length ``pad`` or one longer than twice the rank, an unknown mode,
        ``value`` with a non-constant mode, pads too large for ``reflect``/``circular`` or
        negative for a non-constant mode.
      NotImplementedError: a rank the non-constant mode does not support (as PyTorch).
      TypeError: non-int pad entries.
    """
    op = "pad"
    pad = tuple(pad)
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"{op}: pad must be a sequence of ints, got {pad!r}")
    if len(pad) % 2:
        raise ValueError(f"{op}: padding length must be divisible by 2, got pad={pad}")
    dims = len(pad) // 2
    if dims > input.ndim:
        raise ValueError(
            f"{op}: padding length {len(pad)} is too large for a {input.ndim}-D input of shape "
            f"{tuple(input.shape)} (at most {2 * input.ndim})"
        )
    if mode not in _MODES:
        raise ValueError(f"{op}: unrecognised padding mode {mode!r}; expected one of {sorted(_MODES)}")
    widths = [(0, 0)] * input.ndim
    for i in range(dims):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode == "constant":
        fill = jnp.asarray(0 if value is None else value, input.dtype)
        return lax.pad(input, fill, [(lo, hi, 0) for lo, hi in widths])
    if value is not None and value != 0:
        raise ValueError(f"{op}: padding mode {mode!r} doesn't take in value argument (got value={value})")
    if dims not in (1, 2, 3) or input.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(
            f"{op}: mode {mode!r} pads the last 1, 2 or 3 dimensions of a batched or unbatched "
            f"input: len(pad)=2 needs a 2-D or 3-D input, 4 a 3-D or 4-D, 6 a 4-D or 5-D; got "
            f"len(pad)={len(pad)} and input of shape {tuple(input.shape)}"
        )
    for axis in range(input.ndim - dims, input.ndim):
        lo, hi = widths[axis]
        size = input.shape[axis]
        if min(lo, hi) < 0:
            raise ValueError(f"{op}: mode {mode!r} needs non-negative pads, got pad={pad}")
        if mode == "reflect" and max(lo, hi) >= size:
            raise ValueError(
                f"{op}: padding size should be less than the corresponding input dimension for "
                f"mode 'reflect', but got padding ({lo}, {hi}) at dimension {axis} of input "
                f"{tuple(input.shape)}"
            )
        if mode == "circular" and max(lo, hi) > size:
            raise ValueError(
                f"{op}: padding value causes wrapping around more than once: padding ({lo}, {hi}) "
                f"at dimension {axis} of input {tuple(input.shape)}"
            )
        if mode == "replicate" and size == 0 and max(lo, hi) > 0:
            raise ValueError(f"{op}: cannot replicate an empty dimension {axis} of {tuple(input.shape)}")
    return jnp.pad(input, widths, mode=_MODES[mode])
