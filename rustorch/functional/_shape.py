"""Shape manipulation with PyTorch's dimension conventions."""
from __future__ import annotations

import math


def wrap_dim(op: str, name: str, dim, ndim: int) -> int:
    """Map a possibly negative ``dim`` into ``[0, max(ndim, 1))`` as ATen's ``maybe_wrap_dim``.

    A 0-D tensor accepts dims -1 and 0, as in PyTorch. Raises ``TypeError`` for a non-int and
    ``IndexError`` (PyTorch's exception type for this case) for an out-of-range dim.
    """
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{op}: {name} must be an int, got {dim!r}")
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(
            f"{op}: dimension out of range (expected {name} to be in range of "
            f"[{-rank}, {rank - 1}], but got {dim})"
        )
    return dim % rank


def flatten(input, start_dim=1, end_dim=-1):
    """Merge dimensions ``start_dim..end_dim`` into one, ``torch.flatten(input, start_dim, end_dim)``.

    The default ``start_dim=1`` is that of ``torch.nn.Flatten`` (keep the batch dimension);
    ``torch.flatten`` itself defaults to ``start_dim=0``. Negative dims count from the end. A 0-D
    input becomes shape ``(1,)``; ``start_dim == end_dim`` returns the input unchanged.

    Raises:
      IndexError: a dim outside ``[-ndim, ndim - 1]`` (as PyTorch).
      ValueError: ``start_dim`` after ``end_dim`` once both are made non-negative.
      TypeError: a dim that is not an int.
    """
    op = "flatten"
    start = wrap_dim(op, "start_dim", start_dim, input.ndim)
    end = wrap_dim(op, "end_dim", end_dim, input.ndim)
    if start > end:
        raise ValueError(
            f"{op}: start_dim cannot come after end_dim, got start_dim={start_dim} and "
            f"end_dim={end_dim} for a {input.ndim}-D input"
        )
    if input.ndim == 0:
        return input.reshape(1)
    if start == end:
        return input
    shape = input.shape
    return input.reshape(shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])
