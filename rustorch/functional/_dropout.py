"""Dropout with PyTorch's scaling rule; the randomness is an explicit PRNG key."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ._checks import check_probability


def dropout(input: jax.Array, p: float = 0.5, *, key, training: bool = True) -> jax.Array:
    """Zero each element with probability ``p`` and scale the kept ones by ``1 / (1 - p)``,
    as ``torch.nn.functional.dropout`` does.

    PyTorch's CPU path computes ``input * noise`` with ``noise = bernoulli(1 - p) / (1 - p)`` in
    the input's dtype; this does the same with the mask drawn by
    ``jax.random.bernoulli(key, 1 - p, input.shape)``, so kept units equal PyTorch's bit for bit
    and the gradient is ``noise``. The random stream itself differs from PyTorch's.

    * ``training=False`` or ``p == 0``: the identity (``input`` is returned as is).
    * ``p == 1``: ``input * 0`` (zeros, with zero gradients), as PyTorch does.

    Args:
        input: floating array of any shape.
        p: probability of zeroing an element, default 0.5 (a Python number: it is static).
        key: keyword-only ``jax.random`` key; the same key gives the same mask. It may be None
            only when the call is the identity (``training=False`` or ``p == 0``).
        training: default True.

    Raises:
        ValueError: ``p`` outside [0, 1], or ``key`` None when a mask must be drawn.
        TypeError: non-floating ``input``.
    """
    check_probability("dropout", p)
    input = jnp.asarray(input)
    if not jnp.issubdtype(input.dtype, jnp.floating):
        raise TypeError(
            f"dropout: expected a floating-point input, got dtype {input.dtype}; "
            f"cast it with .astype(jnp.float32)"
        )
    if not training or p == 0:
        return input
    if p == 1:
        return input * jnp.zeros((), input.dtype)
    if key is None:
        raise ValueError(
            "dropout: a PRNG key is required in training mode with p > 0; pass "
            "key=jax.random.key(seed) (split it for every call) or training=False"
        )
    keep = jax.random.bernoulli(key, 1.0 - p, input.shape)
    scale = jnp.ones((), input.dtype) / jnp.asarray(1.0 - p, input.dtype)
    noise = jnp.where(keep, scale, jnp.zeros((), input.dtype))
    return input * noise
