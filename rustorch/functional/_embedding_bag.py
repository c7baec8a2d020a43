"""Bags of embeddings reduced by sum, mean or max, as ``torch.nn.functional.embedding_bag``."""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._conv import check_floating
from ._embedding import lookup_rows, normalize_padding_idx

_MODES = ("sum", "mean", "max")


def bag_segments(op: str, input_shape, offsets, include_last_offset: bool):
    """The number of bags and, for a 1-D ``input`` with ``offsets``, each entry's bag index and
    whether it belongs to a bag (entries past the last offset with ``include_last_offset`` do
    not). For a 2-D input (fixed-length bags) returns ``(rows, None, None)``."""
    if len(input_shape) == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2-D, then offsets has to be None, as input is treated as a "
                             f"mini-batch of fixed length sequences")
        return input_shape[0], None, None
    if len(input_shape) != 1:
        raise ValueError(f"{op}: input has to be 1-D or 2-D, but got input of shape {tuple(input_shape)}")
    if offsets is None:
        raise ValueError(f"{op}: offsets has to be a 1-D tensor but got None (a 1-D input needs the start of "
                         f"each bag)")
    if offsets.ndim != 1:
        raise ValueError(f"{op}: offsets has to be a 1-D tensor but got shape {tuple(offsets.shape)}")
    bags = offsets.shape[0] - 1 if include_last_offset else offsets.shape[0]
    if bags < 0:
        raise ValueError(f"{op}: include_last_offset needs at least one offset")
    positions = jnp.arange(input_shape[0], dtype=offsets.dtype)
    starts = offsets[:bags]
    segment = jnp.searchsorted(starts, positions, side="right").astype(jnp.int32) - 1
    inside = segment >= 0
    if include_last_offset:
        inside = inside & (positions < offsets[bags])
    return bags, jnp.clip(segment, 0, max(bags - 1, 0)), inside


def check_bag_values(op: str, input: Optional[np.ndarray], offsets: Optional[np.ndarray],
                     num_embeddings: int) -> None:
    """PyTorch's value checks, on known (numpy) values: indices in range, offsets starting at 0
    and non-decreasing, within the input.

    Raises:
        IndexError: an index outside ``[0, num_embeddings)``. ValueError: bad offsets.
    """
    if input is not None and input.size and (input.min() < 0 or input.max() >= num_embeddings):
        bad = input[(input < 0) | (input >= num_embeddings)].flat[0]
        raise IndexError(f"{op}: index {bad} out of range in self (num_embeddings={num_embeddings}); indices "
                         f"must lie in [0, {num_embeddings})")
    if offsets is not None and offsets.size:
        if offsets[0] != 0:
            raise ValueError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                             f"start from position 0. However, got {int(offsets[0])}")
        if (np.diff(offsets) < 0).any():
            raise ValueError(f"{op}: offsets must be non-decreasing, got {offsets.tolist()}")
        if input is not None and offsets[-1] > input.shape[0]:
            raise ValueError(f"{op}: offsets[-1] can not be greater than input's length ({input.shape[0]}), but "
                             f"got offsets[-1] of {int(offsets[-1])}")


def embedding_bag(input: jax.Array, weight: jax.Array, offsets: Optional[jax.Array] = None,
                  max_norm: Optional[float] = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights: Optional[jax.Array] = None,
                  include_last_offset: bool = False, padding_idx: Optional[int] = None) -> jax.Array:
    """``torch.nn.functional.embedding_bag``: the rows of ``weight`` picked by each bag of
    indices, reduced by ``mode`` (``'sum'``, ``'mean'`` (default) or ``'max'``), giving
    ``[B, embedding_dim]``.

    Bags are the rows of a 2-D ``input`` ``[B, L]``, or the slices
    ``input[offsets[i]:offsets[i + 1]]`` of a 1-D ``input`` (the last running to the end, or to
    ``offsets[-1]`` with ``include_last_offset``, where ``offsets`` has ``B + 1`` entries).
    Entries equal to ``padding_idx`` are left out of their bag (and of the mean's count); an
    empty bag gives zeros. ``per_sample_weights`` (the input's shape, ``mode='sum'`` only)
    scales each row before the sum. ``max_norm`` returns rows renormalised as
    :func:`rustorch.functional.embedding` does.

    Raises:
        ValueError: bad mode, ranks, offsets with a 2-D input, ``per_sample_weights`` with a mode
            other than ``'sum'`` or of another shape, ``sparse=True``, ``scale_grad_by_freq=True``.
        TypeError: non-integer indices or offsets, non-floating weight.
    """
    op = "embedding_bag"
    if mode not in _MODES:
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    input = jnp.asarray(input)
    if not jnp.issubdtype(input.dtype, jnp.integer):
        raise TypeError(f"{op}: expected integer indices, got dtype {input.dtype}")
    check_floating(op, "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"{op}: expected a 2-D weight [num_embeddings, embedding_dim], got shape {weight.shape}")
    if sparse:
        raise ValueError(f"{op}: sparse=True is not supported (gradients are dense JAX arrays); use sparse=False")
    if scale_grad_by_freq:
        # PyTorch's CPU kernel does not divide each row's gradient by that row's own count when
        # indices repeat (its scale depends on the other indices); rather than a different
        # number, refuse.
        raise ValueError(f"{op}: scale_grad_by_freq=True is not supported (PyTorch's kernel scales the gradient "
                         f"by counts that this library does not reproduce); use rustorch.functional.embedding "
                         f"with scale_grad_by_freq=True and reduce the rows yourself")
    if offsets is not None:
        offsets = jnp.asarray(offsets)
        if not jnp.issubdtype(offsets.dtype, jnp.integer):
            raise TypeError(f"{op}: offsets must hold integers, got dtype {offsets.dtype}")
        offsets = offsets.astype(jnp.int32)
    if per_sample_weights is not None:
        if mode != "sum":
            raise ValueError(f"{op}: embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                             f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                             f"GitHub.")
        if per_sample_weights.shape != input.shape:
            raise ValueError(f"{op}: embedding_bag: If per_sample_weights ({tuple(per_sample_weights.shape)}) is "
                             f"not None, then it must have the same shape as the input ({tuple(input.shape)})")
        check_floating(op, "per_sample_weights", per_sample_weights)
    num_embeddings, dim = weight.shape
    padding_idx = normalize_padding_idx(op, padding_idx, num_embeddings)
    bags, segment, inside = bag_segments(op, input.shape, offsets, include_last_offset)
    if not any(isinstance(value, jax.core.Tracer) for value in (input, offsets)):
        check_bag_values(op, np.asarray(input), None if offsets is None else np.asarray(offsets), num_embeddings)

    flat = input.reshape(-1)
    if segment is None:
        length = input.shape[1]
        segment = jnp.repeat(jnp.arange(bags, dtype=jnp.int32), length)
        inside = jnp.ones(flat.shape, bool)
    valid, index, rows = lookup_rows(weight, flat, max_norm, norm_type)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1)
    keep = inside if padding_idx is None else inside & (index != padding_idx)
    nan = jnp.asarray(jnp.nan, weight.dtype)
    zero = jnp.zeros((), weight.dtype)
    # An out-of-range index (only under tracing: eager calls raise) makes its bag NaN.
    broken = jax.ops.segment_max((keep & ~valid).astype(jnp.int32), segment, bags, indices_are_sorted=True) > 0
    count = jax.ops.segment_sum(keep.astype(weight.dtype), segment, bags, indices_are_sorted=True)[:, None]
    if mode == "max":
        masked = jnp.where(keep[:, None], rows, jnp.asarray(-jnp.inf, weight.dtype))
        reduced = jax.ops.segment_max(masked, segment, bags, indices_are_sorted=True)
        reduced = jnp.where(count > 0, reduced, zero)
    else:
        reduced = jax.ops.segment_sum(jnp.where(keep[:, None], rows, zero), segment, bags, indices_are_sorted=True)
        if mode == "mean":
            reduced = reduced / jnp.maximum(count, 1)
    return jnp.where(broken[:, None], nan, reduced).reshape(bags, dim)
