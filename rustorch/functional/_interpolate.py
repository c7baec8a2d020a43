"""``torch.nn.functional.interpolate`` (nearest, linear/bilinear/trilinear, bicubic) and
``pixel_shuffle``/``pixel_unshuffle``.

Resizing is separable: each spatial axis is resampled in turn, nearest by a gather and the
linear and cubic modes by a static ``[out, in]`` weight matrix (built on the host with
PyTorch's source-index rules, in float32 as ATen computes them), so the gradient is the exact
transpose, a sum of each output's weights back onto the inputs it read.
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import check_ndim
from ._conv import check_floating

_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}
_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear")
_CUBIC_A = -0.75


def _scale(in_size, out_size, align_corners, scale_factor):
    """ATen's ``area_pixel_compute_scale`` in float32."""
    f32 = np.float32
    if align_corners:
        return f32(in_size - 1) / f32(out_size - 1) if out_size > 1 else f32(0)
    if scale_factor is not None and scale_factor > 0:
        return f32(1.0) / f32(scale_factor)
    return f32(in_size) / f32(out_size)


def _nearest_index(in_size, out_size, scale_factor):
    # ATen's nearest_idx: identity and exact doubling are special cases; otherwise
    # floor(dst * scale) in float, clipped to the last input.
    dst = np.arange(out_size)
    if out_size == in_size:
        return dst
    if out_size == 2 * in_size:
        return dst >> 1
    scale = np.float32(1.0) / np.float32(scale_factor) if scale_factor else np.float32(in_size) / np.float32(out_size)
    return np.minimum(np.floor(dst.astype(np.float32) * scale).astype(np.int64), in_size - 1)


def _source(dst, scale, align_corners, cubic):
    f32 = np.float32
    if align_corners:
        return dst.astype(f32) * scale
    src = scale * (dst.astype(f32) + f32(0.5)) - f32(0.5)
    return src if cubic else np.maximum(src, f32(0))


def _cubic_weights(t):
    a = np.float32(_CUBIC_A)
    one = np.float32(1)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + one

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + one), near(t), near(one - t), far(np.float32(2) - t)]


def _weight_matrix(mode, in_size, out_size, align_corners, scale_factor):
    scale = _scale(in_size, out_size, align_corners, scale_factor)
    dst = np.arange(out_size)
    matrix = np.zeros((out_size, in_size), np.float64)
    if mode == "bicubic":
        src = _source(dst, scale, align_corners, cubic=True)
        base = np.floor(src).astype(np.int64)
        t = (src - base.astype(np.float32)).astype(np.float32)
        for offset, w in zip(range(-1, 3), _cubic_weights(t)):
            index = np.clip(base + offset, 0, in_size - 1)
            np.add.at(matrix, (dst, index), w.astype(np.float64))
        return matrix
    src = _source(dst, scale, align_corners, cubic=False)
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    lam = (src - low.astype(np.float32)).astype(np.float32)
    np.add.at(matrix, (dst, low), (np.float32(1) - lam).astype(np.float64))
    np.add.at(matrix, (dst, high), lam.astype(np.float64))
    return matrix


def _output_sizes(op, input, n, size, scale_factor, recompute_scale_factor):
    spatial = input.shape[-n:]
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: exactly one of size or scale_factor should be defined")
    if size is not None:
        sizes = (size,) * n if isinstance(size, int) else tuple(size)
        if len(sizes) != n or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ValueError(
                f"{op}: size must be a positive int or {n} positive ints for a {input.ndim}-D input, "
                f"got size={size!r}"
            )
        return sizes, (None,) * n
    factors = (scale_factor,) * n if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
    if len(factors) != n or not all(isinstance(f, (int, float)) and f > 0 for f in factors):
        raise ValueError(
            f"{op}: scale_factor must be a positive number or {n} of them for a {input.ndim}-D "
            f"input, got scale_factor={scale_factor!r}"
        )
    sizes = tuple(int(math.floor(float(s) * float(f))) for s, f in zip(spatial, factors))
    if min(sizes) < 1:
        raise ValueError(f"{op}: scale_factor={scale_factor!r} gives an empty output for input {tuple(input.shape)}")
    # recompute_scale_factor=True maps coordinates with in/out instead of 1/scale_factor.
    return sizes, (None,) * n if recompute_scale_factor else tuple(float(f) for f in factors)


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False):
    """Resize the spatial dimensions of ``[N, C, *spatial]`` input,
    ``torch.nn.functional.interpolate``.

    * ``nearest``: output ``i`` reads input ``min(floor(i * scale), L - 1)`` with ``scale =
      1/scale_factor`` (or ``L_in / L_out`` when ``size`` is given or
      ``recompute_scale_factor=True``).
    * ``linear`` (3-D input), ``bilinear`` (4-D), ``trilinear`` (5-D), ``bicubic`` (4-D): the
      source coordinate is ``scale * (i + 0.5) - 0.5`` (clamped at 0 for the linear modes), or
      ``i * (L_in - 1) / (L_out - 1)`` with ``align_corners=True``; bicubic uses Keys' kernel with
      ``A = -0.75`` and replicates edge pixels, as PyTorch.

    Args:
      input: ``[N, C, L]``, ``[N, C, H, W]`` or ``[N, C, D, H, W]``.
      size: output spatial size (an int or one per dimension), or
      scale_factor: a multiplier (or one per dimension); output size ``floor(L * factor)``.
      mode: one of ``'nearest'``, ``'linear'``, ``'bilinear'``, ``'bicubic'``, ``'trilinear'``.
      align_corners: for the linear and cubic modes (default False); must be None for nearest.
      recompute_scale_factor: map coordinates with the computed sizes instead of ``scale_factor``.
      antialias: not supported (raises when True).

    Raises:
      ValueError: both or neither of ``size`` and ``scale_factor``, a mode that does not fit the
        input's rank, ``align_corners`` with ``nearest``, ``antialias=True``.
      TypeError: a non-floating input for the linear and cubic modes.
    """
    op = "interpolate"
    check_ndim(op, "input", input, (3, 4, 5), "[N, C, L], [N, C, H, W] or [N, C, D, H, W]")
    n = input.ndim - 2
    if mode not in _MODES:
        raise ValueError(f"{op}: unknown mode {mode!r}; expected one of {_MODES}")
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported; resize with antialias=False")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(
                f"{op}: align_corners option can only be set with the interpolating modes: linear | "
                "bilinear | bicubic | trilinear"
            )
    else:
        wanted = 2 if mode == "bicubic" else _LINEAR_MODES[mode]
        if wanted != n:
            raise ValueError(
                f"{op}: mode {mode!r} expects a {wanted + 2}-D input, got a {input.ndim}-D input of "
                f"shape {tuple(input.shape)}"
            )
        check_floating(op, "input", input)
    sizes, factors = _output_sizes(op, input, n, size, scale_factor, recompute_scale_factor)
    out = input
    for k, (out_size, factor) in enumerate(zip(sizes, factors)):
        axis = 2 + k
        in_size = input.shape[axis]
        if mode == "nearest":
            index = _nearest_index(in_size, out_size, factor)
            if not np.array_equal(index, np.arange(in_size)):
                out = jnp.take(out, jnp.asarray(index, jnp.int32), axis=axis)
            continue
        matrix = _weight_matrix(mode, in_size, out_size, bool(align_corners), factor)
        weights = jnp.asarray(matrix, input.dtype)
        # HIGHEST: keep float32 products on accelerators whose default matmul rounds to bf16/tf32.
        moved = jnp.moveaxis(out, axis, -1)
        out = jnp.moveaxis(jnp.matmul(moved, weights.T, precision=lax.Precision.HIGHEST), -1, axis)
    return out


def pixel_shuffle(input, upscale_factor: int):
    """``[*, C * r^2, H, W] -> [*, C, H * r, W * r]``, ``torch.nn.functional.pixel_shuffle``:
    ``out[..., c, h*r + i, w*r + j] = input[..., c*r*r + i*r + j, h, w]``.

    Raises ``ValueError`` for fewer than 3 dimensions or channels not divisible by ``r^2``."""
    r = upscale_factor
    if input.ndim < 3:
        raise ValueError(f"pixel_shuffle: expected an input with at least 3 dimensions, got shape {tuple(input.shape)}")
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"pixel_shuffle: upscale_factor must be a positive int, got {r!r}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(
            f"pixel_shuffle: expected the channel dimension ({c}) to be divisible by the square of "
            f"upscale_factor ({r * r}), got input of shape {tuple(input.shape)}"
        )
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    k = len(lead)
    x = jnp.transpose(x, tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor: int):
    """``[*, C, H * r, W * r] -> [*, C * r^2, H, W]``, ``torch.nn.functional.pixel_unshuffle``, the
    inverse of :func:`pixel_shuffle`.

    Raises ``ValueError`` for fewer than 3 dimensions or a height/width not divisible by ``r``."""
    r = downscale_factor
    if input.ndim < 3:
        raise ValueError(f"pixel_unshuffle: expected an input with at least 3 dimensions, got shape {tuple(input.shape)}")
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"pixel_unshuffle: downscale_factor must be a positive int, got {r!r}")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(
            f"pixel_unshuffle: expected height ({h}) and width ({w}) to be divisible by "
            f"downscale_factor ({r}), got input of shape {tuple(input.shape)}"
        )
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    k = len(lead)
    x = jnp.transpose(x, tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
    return x.reshape(*lead, c * r * r, h // r, w // r)
