"""Affine map with PyTorch's ``[out_features, in_features]`` weight layout."""
from __future__ import annotations

import jax.numpy as jnp

from ._conv import check_floating


def linear(input, weight, bias=None):
    """Affine map, ``torch.nn.functional.linear``: ``y = input @ weight.T + bias``.

    Args:
      input: ``[..., in_features]`` with any number (including zero) of leading dimensions.
      weight: ``[out_features, in_features]``, same floating dtype as ``input``.
      bias: optional ``[out_features]``, same dtype. Default ``None``.

    Returns ``[..., out_features]``.

    Raises:
      ValueError: a 0-D input, a weight that is not 2-D, ``input.shape[-1] != in_features``,
        or a bias that is not ``[out_features]``.
      TypeError: non-floating or mismatched dtypes.
    """
    op = "linear"
    if input.ndim < 1:
        raise ValueError(f"{op}: expected input of shape [..., in_features], got a 0-D input")
    if weight.ndim != 2:
        raise ValueError(
            f"{op}: expected weight to be 2-D [out_features, in_features], got shape {tuple(weight.shape)}"
        )
    check_floating(op, "input", input)
    if weight.dtype != input.dtype:
        raise TypeError(
            f"{op}: input dtype {input.dtype} and weight dtype {weight.dtype} should be the same"
        )
    out_features, in_features = weight.shape
    if input.shape[-1] != in_features:
        raise ValueError(
            f"{op}: input of shape {tuple(input.shape)} has {input.shape[-1]} features in its last "
            f"dimension, but weight of shape {tuple(weight.shape)} expects in_features={in_features}"
        )
    out = jnp.matmul(input, weight.T)
    if bias is None:
        return out
    if bias.shape != (out_features,):
        raise ValueError(
            f"{op}: expected bias of shape ({out_features},) to match weight of shape "
            f"{tuple(weight.shape)}, got bias of shape {tuple(bias.shape)}"
        )
    if bias.dtype != input.dtype:
        raise TypeError(f"{op}: bias dtype {bias.dtype} should equal the input dtype {input.dtype}")
    return out + bias
