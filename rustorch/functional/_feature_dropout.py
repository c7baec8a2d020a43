"""Channel-wise dropout (``dropout1d``, ``dropout2d``, ``dropout3d``): whole feature maps at once."""
from __future__ import annotations

import warnings

import jax.numpy as jnp

from ._checks import check_probability
from ._dropout import _keep_mask


def _feature_dropout(op, input, p, key, training, spatial):
    check_probability(op, p)
    if not jnp.issubdtype(input.dtype, jnp.floating):
        raise TypeError(f"{op}: expected a floating-point input, got dtype {input.dtype}")
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"{op}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input "
            f"[N, C, *{spatial} spatial dims], got shape {tuple(input.shape)}"
        )
    if not training or p == 0:
        return input
    if p == 1:
        return input * jnp.zeros((), input.dtype)
    if key is None:
        raise ValueError(f"{op}: a PRNG key is required in training mode with p > 0")
    channels = input.ndim - spatial
    keep = _keep_mask(key, 1.0 - p, input.shape[:channels] + (1,) * spatial)
    scale = jnp.ones((), input.dtype) / jnp.asarray(1.0 - p, input.dtype)
    return input * jnp.where(keep, scale, jnp.zeros((), input.dtype))


def dropout1d(input, p: float = 0.5, *, key, training: bool = True):
    """Zero whole channels of ``[N, C, L]`` (or ``[C, L]``) input with probability ``p`` and scale
    the kept ones by ``1 / (1 - p)``, ``torch.nn.functional.dropout1d``: one Bernoulli draw per
    ``(n, c)``, shared over ``L``. The identity when ``training=False`` or ``p == 0``.

    Raises ``ValueError`` for ``p`` outside [0, 1], another rank or a missing key, ``TypeError``
    for a non-floating input."""
    return _feature_dropout("dropout1d", input, p, key, training, 1)


def dropout2d(input, p: float = 0.5, *, key, training: bool = True):
    """Channel-wise dropout of ``[N, C, H, W]`` (or ``[C, H, W]``) input,
    ``torch.nn.functional.dropout2d``: one draw per ``(n, c)`` shared over ``H, W``.

    A 3-D input is taken as ``[N, C, L]`` (1-D channel-wise dropout) with a warning, as PyTorch
    does. See :func:`dropout1d` for the errors."""
    if getattr(input, "ndim", None) == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
            "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
            "dim. This behavior will change in a future release to interpret the input as one "
            "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
            "dropout behavior, please switch to using dropout1d instead.",
            UserWarning,
            stacklevel=2,
        )
        return _feature_dropout("dropout2d", input, p, key, training, 1)
    return _feature_dropout("dropout2d", input, p, key, training, 2)


def dropout3d(input, p: float = 0.5, *, key, training: bool = True):
    """Channel-wise dropout of ``[N, C, D, H, W]`` (or ``[C, D, H, W]``) input,
    ``torch.nn.functional.dropout3d``. See :func:`dropout1d` for the errors."""
    return _feature_dropout("dropout3d", input, p, key, training, 3)
