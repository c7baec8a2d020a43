"""The bilinear form and pairwise distances: ``torch.nn.functional.bilinear`` and ``pdist``."""
from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._conv import check_floating


def bilinear(input1: jax.Array, input2: jax.Array, weight: jax.Array, bias: Optional[jax.Array] = None) -> jax.Array:
    """``torch.nn.functional.bilinear``: ``y_k = x1^T A_k x2 + b_k``.

    Args:
        input1: ``[*, in1_features]``. input2: ``[*, in2_features]`` with the same leading dims.
        weight: ``[out_features, in1_features, in2_features]``. bias: optional ``[out_features]``.

    Returns:
        ``[*, out_features]``.

    Raises:
        ValueError: mismatched leading dims or feature sizes.
    """
    op = "bilinear"
    for name, value in (("input1", input1), ("input2", input2), ("weight", weight)):
        check_floating(op, name, value)
    if weight.ndim != 3:
        raise ValueError(f"{op}: expected a 3-D weight [out, in1, in2], got shape {tuple(weight.shape)}")
    if input1.shape[:-1] != input2.shape[:-1] or input1.ndim == 0:
        raise ValueError(f"{op}: input1 and input2 must have the same size except the last dimension, got "
                         f"{tuple(input1.shape)} and {tuple(input2.shape)}")
    if input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2]:
        raise ValueError(f"{op}: expected input1 [*, {weight.shape[1]}] and input2 [*, {weight.shape[2]}] for a "
                         f"weight of shape {tuple(weight.shape)}, got {tuple(input1.shape)} and "
                         f"{tuple(input2.shape)}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"{op}: expected a bias of shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    # (x1 A_k) first, then the product with x2: PyTorch's _trilinear order.
    left = jnp.einsum("...i,kij->...kj", input1, weight, precision=jax.lax.Precision.HIGHEST)
    out = jnp.einsum("...kj,...j->...k", left, input2, precision=jax.lax.Precision.HIGHEST)
    return out if bias is None else out + bias


def pdist(input: jax.Array, p: float = 2.0) -> jax.Array:
    """``torch.nn.functional.pdist``: the ``p``-norm distances between the rows of ``[N, M]``
    ``input``, for every pair ``i < j`` in row-major order (``[N (N - 1) / 2]``).

    The gradient is PyTorch's: 0 for a pair at distance 0 (and for a zero coordinate difference
    when ``p < 1``).

    Raises:
        ValueError: input not 2-D, or ``p < 0``.
    """
    op = "pdist"
    check_floating(op, "input", input)
    if input.ndim != 2:
        raise ValueError(f"{op}: pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise ValueError(f"{op}: pdist only supports non-negative p values, got {p}")
    rows, cols = np.triu_indices(input.shape[0], k=1)
    diff = input[rows] - input[cols]
    zero = jnp.zeros((), input.dtype)
    if p == 0:
        return jnp.sum((diff != 0).astype(input.dtype), axis=-1)
    magnitude = jnp.abs(diff)
    if p == math.inf:
        # PyTorch's gradient: sign(d) at every coordinate attaining the maximum, ties included.
        top = jax.lax.stop_gradient(jnp.max(magnitude, axis=-1, initial=0.0))
        attained = (magnitude == top[:, None]) & (magnitude > 0)
        slope = jax.lax.stop_gradient(jnp.sign(diff))
        return top + jnp.sum(jnp.where(attained, slope * (diff - jax.lax.stop_gradient(diff)), zero), axis=-1)
    if p == 2:
        total = jnp.sum(diff * diff, axis=-1)
    else:
        positive = magnitude > 0
        safe = jnp.where(positive, magnitude, jnp.ones((), input.dtype))
        total = jnp.sum(jnp.where(positive, safe ** p, zero), axis=-1)
    nonzero = total > 0
    safe_total = jnp.where(nonzero, total, jnp.ones((), input.dtype))
    root = jnp.sqrt(safe_total) if p == 2 else safe_total ** (1.0 / p)
    return jnp.where(nonzero, root, zero)
