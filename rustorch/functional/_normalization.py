"""Layer, group and RMS normalisation with PyTorch's formulas (biased variance, eps inside the root)."""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
from jax import lax

from ._conv import check_floating


def _normalized_axes(op: str, input, normalized_shape) -> tuple:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(shape)
    if n == 0 or input.ndim < n or tuple(input.shape[input.ndim - n:]) != shape:
        raise ValueError(
            f"{op}: given normalized_shape={list(shape)}, expected input with shape [*, "
            f"{', '.join(map(str, shape))}], but got input of size {list(input.shape)}"
        )
    return shape, tuple(range(input.ndim - n, input.ndim))


def _check_affine(op, name, value, shape):
    if value is not None and tuple(value.shape) != tuple(shape):
        raise ValueError(f"{op}: expected {name} of shape {list(shape)}, got {list(value.shape)}")


def layer_norm(input, normalized_shape: int | Sequence[int], weight=None, bias=None, eps: float = 1e-5):
    """``torch.nn.functional.layer_norm``: ``(x - E[x]) / sqrt(Var[x] + eps) * weight + bias``
    over the trailing ``normalized_shape`` dims, with the biased variance.

    Raises:
        ValueError: the input's trailing dims are not ``normalized_shape``, or a weight/bias of
            another shape.
    """
    check_floating("layer_norm", "input", input)
    shape, axes = _normalized_axes("layer_norm", input, normalized_shape)
    _check_affine("layer_norm", "weight", weight, shape)
    _check_affine("layer_norm", "bias", bias, shape)
    mean = jnp.mean(input, axis=axes, keepdims=True)
    centred = input - mean
    var = jnp.mean(centred * centred, axis=axes, keepdims=True)
    out = centred * lax.rsqrt(var + jnp.asarray(eps, input.dtype))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """``torch.nn.functional.group_norm`` on ``[N, C, *]``: the channels split into
    ``num_groups`` groups, each normalised over its channels and all spatial positions (biased
    variance), then a per-channel ``weight`` and ``bias``.

    Raises:
        ValueError: fewer than 2 dims, or ``C`` not divisible by ``num_groups``.
    """
    check_floating("group_norm", "input", input)
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected at least 2 dimensions for input, got {input.ndim}-D "
                         f"input of shape {tuple(input.shape)}")
    n, c = input.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: expected number of channels in input ({c}) to be divisible by "
                         f"num_groups ({num_groups})")
    _check_affine("group_norm", "weight", weight, (c,))
    _check_affine("group_norm", "bias", bias, (c,))
    grouped = input.reshape((n, num_groups, -1))
    mean = jnp.mean(grouped, axis=2, keepdims=True)
    centred = grouped - mean
    var = jnp.mean(centred * centred, axis=2, keepdims=True)
    out = (centred * lax.rsqrt(var + jnp.asarray(eps, input.dtype))).reshape(input.shape)
    affine_shape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(affine_shape)
    if bias is not None:
        out = out + bias.reshape(affine_shape)
    return out


def rms_norm(input, normalized_shape: int | Sequence[int], weight=None, eps: float | None = None):
    """``torch.nn.functional.rms_norm``: ``x / sqrt(mean(x^2) + eps) * weight`` over the trailing
    ``normalized_shape`` dims; ``eps=None`` means the dtype's machine epsilon, as PyTorch.

    Raises:
        ValueError: the input's trailing dims are not ``normalized_shape``.
    """
    check_floating("rms_norm", "input", input)
    shape, axes = _normalized_axes("rms_norm", input, normalized_shape)
    _check_affine("rms_norm", "weight", weight, shape)
    if eps is None:
        eps = float(jnp.finfo(input.dtype).eps)
    mean_square = jnp.mean(input * input, axis=axes, keepdims=True)
    out = input * lax.rsqrt(mean_square + jnp.asarray(eps, input.dtype))
    if weight is not None:
        out = out * weight
    return out
