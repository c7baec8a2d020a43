"""Dropout with PyTorch's scaling rule; the randomness is an explicit PRNG key."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from ._checks import Layout, check_probability, is_channels_last

_MAX_ELEMENTS = 2**32


def _lowbias32(h):
    # Chris Wellons' "lowbias32" integer finaliser: every input bit flips each output bit with
    # probability ~1/2 (bias 0.17 on his avalanche measure), in five cheap uint32 operations.
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x7FEB352D)
    h = h ^ (h >> 15)
    h = h * jnp.uint32(0x846CA68B)
    return h ^ (h >> 16)


def _flat_index(shape, logical_axes):
    """Each element's row-major index in the logical array ``transpose(array, logical_axes)``:
    physical axis ``logical_axes[k]`` is the logical array's axis ``k``."""
    logical_shape = [shape[axis] for axis in logical_axes]
    index = jnp.zeros(shape, jnp.uint32)
    stride = 1
    for k in reversed(range(len(shape))):
        axis = logical_axes[k]
        if shape[axis] > 1:
            index = index + lax.broadcasted_iota(jnp.uint32, shape, axis) * jnp.uint32(stride)
        stride *= logical_shape[k]
    return index


def _keep_mask(key, keep_probability: float, shape, logical_axes=None) -> jax.Array:
    """Bernoulli(``keep_probability``) mask of ``shape`` from ``key``: a counter-based hash.

    ``jax.random.bernoulli`` runs threefry over every element, which XLA's CPU backend emits as
    a rolled loop over full-size arrays: ~4 ms for 200k elements, a sixth of a CNN's training
    step on a 2-core CPU (benchmarks/NOTES.md). Here threefry draws only two 32-bit seed words
    from the key; each element's bits are the integer hash of its flat index and the seeds, an
    elementwise expression XLA fuses into the multiply that applies the mask. An element is
    kept when its 32 bits fall below ``round(keep_probability * 2**32)``. ``logical_axes``
    hashes each element by its index in ``transpose(mask, logical_axes)`` instead, so that an
    array kept in another memory layout gets the very same mask.
    """
    size = math.prod(shape)
    if size > _MAX_ELEMENTS:
        raise ValueError(
            f"dropout: an input of {size} elements is larger than the 2**32 elements one mask "
            "covers; apply dropout to slices of it"
        )
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    if logical_axes is None:
        index = lax.iota(jnp.uint32, size).reshape(shape) if size else jnp.zeros(shape, jnp.uint32)
    else:
        index = _flat_index(shape, logical_axes)
    bits = _lowbias32(_lowbias32(index ^ seeds[0]) + seeds[1])
    threshold = min(round(keep_probability * 2**32), 2**32 - 1)
    return bits < jnp.uint32(threshold)


def dropout(input: jax.Array, p: float = 0.5, *, key, training: bool = True,
            layout: Layout = "NCHW") -> jax.Array:
    """Zero each element with probability ``p`` and scale the kept ones by ``1 / (1 - p)``,
    as ``torch.nn.functional.dropout`` does.

    PyTorch's CPU path computes ``input * noise`` with ``noise = bernoulli(1 - p) / (1 - p)`` in
    the input's dtype; this does the same, so kept units equal PyTorch's bit for bit and the
    gradient is ``noise``. The random stream itself differs from PyTorch's: two seed words are
    drawn from ``key`` with ``jax.random.bits`` and each element is kept when a 32-bit integer
    hash of its flat index and the seeds falls below ``round((1 - p) * 2**32)`` (a counter-based
    generator that fuses into the multiply; ``jax.random.bernoulli`` over every element cost a
    sixth of a CNN training step on CPU).

    * ``training=False`` or ``p == 0``: the identity (``input`` is returned as is).
    * ``p == 1``: ``input * 0`` (zeros, with zero gradients), as PyTorch does.

    Args:
        input: floating array of any shape.
        p: probability of zeroing an element, default 0.5 (a Python number: it is static).
        key: keyword-only ``jax.random`` key; the same key gives the same mask. It may be None
            only when the call is the identity (``training=False`` or ``p == 0``).
        training: default True.
        layout: keyword-only, ``'NCHW'`` (default) or ``'NHWC'``: a channels-last ``[N, *, C]``
            input gets the same mask, values and gradient as ``'NCHW'`` on the ``[N, C, *]``
            transpose with the same key, because each element is hashed by its index in that
            layout.

    Raises:
        ValueError: ``p`` outside [0, 1], ``key`` None when a mask must be drawn, an input of
            more than ``2**32`` elements, or an unknown layout.
        TypeError: non-floating ``input``.
    """
    logical_axes = None
    if is_channels_last("dropout", layout):
        ndim = jnp.ndim(input)
        logical_axes = (0, ndim - 1) + tuple(range(1, ndim - 1)) if ndim > 2 else None
    return _dropout(input, p, key, training, logical_axes)


def _dropout(input, p, key, training, logical_axes):
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
    keep = _keep_mask(key, 1.0 - p, input.shape, logical_axes)
    scale = jnp.ones((), input.dtype) / jnp.asarray(1.0 - p, input.dtype)
    noise = jnp.where(keep, scale, jnp.zeros((), input.dtype))
    return input * noise
