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
_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_INDEX_MODES = ("nearest", "nearest-exact", "area")  # modes without align_corners
_CUBIC_A = -0.75


def _scale(in_size, out_size, align_corners, scale_factor):
    """ATen's ``area_pixel_compute_scale`` in float32."""
    f32 = np.float32
    if align_corners:
        return f32(in_size - 1) / f32(out_size - 1) if out_size > 1 else f32(0)
    if scale_factor is not None and scale_factor > 0:
        return f32(1.0 / scale_factor)  # the reciprocal in double, then rounded, as ATen
    return f32(in_size) / f32(out_size)


def _nearest_index(in_size, out_size, scale_factor):
    # ATen's nearest_idx: identity and exact doubling are special cases; otherwise
    # floor(dst * scale) in float, clipped to the last input.
    dst = np.arange(out_size)
    if out_size == in_size:
        return dst
    if out_size == 2 * in_size:
        return dst >> 1
    scale = _scale(in_size, out_size, False, scale_factor)
    return np.minimum(np.floor(dst.astype(np.float32) * scale).astype(np.int64), in_size - 1)


def _nearest_exact_index(in_size, out_size, scale_factor):
    # ATen's HelperInterpNearestExact: floor(max(scale * (dst + 0.5) - 0.5, 0) + 0.5) in float32,
    # clipped to the last input.
    f32 = np.float32
    scale = _scale(in_size, out_size, False, scale_factor)
    src = _source(np.arange(out_size), scale, False, cubic=False)
    return np.minimum(np.floor(src + f32(0.5)).astype(np.int64), in_size - 1)


def _area_matrix(in_size, out_size):
    """Adaptive average pooling along one axis: output ``i`` averages inputs
    ``floor(i * L / O)`` to ``ceil((i + 1) * L / O) - 1``."""
    matrix = np.zeros((out_size, in_size), np.float64)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _antialias_filter(mode):
    f32 = np.float32
    if mode == "bilinear":
        def triangle(x):
            x = abs(x)
            return f32(1) - x if x < 1 else f32(0)
        return 2, triangle
    a = f32(-0.5)  # PIL's (Keys') cubic for antialiasing; -0.75 is the plain bicubic's

    def cubic(x):
        x = abs(x)
        if x < 1:
            return ((a + 2) * x - (a + 3)) * x * x + f32(1)
        if x < 2:
            return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return f32(0)
    return 4, cubic


def _antialias_matrix(mode, in_size, out_size, align_corners, scale_factor):
    """ATen's ``_compute_indices_min_size_weights_aa`` (PIL's resampling): output ``i`` is the
    normalised filter-weighted sum of the inputs within ``support`` of its centre
    ``scale * (i + 0.5)``, the filter stretched by ``scale`` when downsampling. float32 where
    ATen computes in float, double where it promotes."""
    f32 = np.float32
    interp_size, filter_fn = _antialias_filter(mode)
    scale = _scale(in_size, out_size, align_corners, scale_factor)
    support = f32(interp_size * 0.5 * float(scale)) if scale >= 1.0 else f32(interp_size * 0.5)
    max_size = int(math.ceil(support)) * 2 + 1
    invscale = f32(1.0 / float(scale)) if scale >= 1.0 else f32(1.0)
    matrix = np.zeros((out_size, in_size), np.float64)
    for i in range(out_size):
        center = f32(float(scale) * (i + 0.5))
        xmin = max(int(float(center - support) + 0.5), 0)
        xsize = min(int(float(center + support) + 0.5), in_size) - xmin
        xsize = min(max(xsize, 0), max_size)
        weights = [f32(filter_fn(f32((float(f32(j + xmin) - center) + 0.5) * float(invscale))))
                   for j in range(xsize)]
        total = f32(0)
        for w in weights:
            total = f32(total + w)
        if total != 0:
            weights = [f32(w / total) for w in weights]
        matrix[i, xmin:xmin + xsize] = weights
    return matrix


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
        if recompute_scale_factor:
            raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size.")
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


def _axis_matrix(mode, in_size, out_size, align_corners, factor, antialias):
    if mode == "area":
        return _area_matrix(in_size, out_size)
    if antialias:
        return _antialias_matrix(mode, in_size, out_size, align_corners, factor)
    return _weight_matrix(mode, in_size, out_size, align_corners, factor)


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False):
    """Resize the spatial dimensions of ``[N, C, *spatial]`` input,
    ``torch.nn.functional.interpolate``.

    * ``nearest``: output ``i`` reads input ``min(floor(i * scale), L - 1)`` with ``scale =
      1/scale_factor`` (or ``L_in / L_out`` when ``size`` is given or
      ``recompute_scale_factor=True``).
    * ``nearest-exact``: input ``min(floor(scale * (i + 0.5)), L - 1)`` (pixel centres, as PIL
      and scikit-image).
    * ``area``: adaptive average pooling to the output size: output ``i`` averages inputs
      ``floor(i * L_in / L_out)`` to ``ceil((i + 1) * L_in / L_out) - 1``.
    * ``linear`` (3-D input), ``bilinear`` (4-D), ``trilinear`` (5-D), ``bicubic`` (4-D): the
      source coordinate is ``scale * (i + 0.5) - 0.5`` (clamped at 0 for the linear modes), or
      ``i * (L_in - 1) / (L_out - 1)`` with ``align_corners=True``; bicubic uses Keys' kernel with
      ``A = -0.75`` and replicates edge pixels, as PyTorch.
    * ``antialias=True`` (bilinear and bicubic, 4-D): PIL's resampling, as PyTorch: when
      downsampling the triangle (or Keys' ``A = -0.5`` cubic) filter is stretched by the scale,
      so every input contributes; weights are normalised per output.

    Args:
      input: ``[N, C, L]``, ``[N, C, H, W]`` or ``[N, C, D, H, W]``.
      size: output spatial size (an int or one per dimension), or
      scale_factor: a multiplier (or one per dimension); output size ``floor(L * factor)``.
      mode: ``'nearest'``, ``'nearest-exact'``, ``'area'``, ``'linear'``, ``'bilinear'``,
        ``'bicubic'`` or ``'trilinear'``.
      align_corners: for the linear and cubic modes (default False); must be None otherwise.
      recompute_scale_factor: map coordinates with the computed sizes instead of
        ``scale_factor`` (not allowed with ``size``).
      antialias: anti-aliased resampling, for ``bilinear`` and ``bicubic`` only.

    Raises:
      ValueError: both or neither of ``size`` and ``scale_factor``, a mode that does not fit the
        input's rank, ``align_corners`` with ``nearest``/``nearest-exact``/``area``,
        ``recompute_scale_factor`` with ``size``, ``antialias`` with another mode or rank.
      TypeError: a non-floating input for the linear, cubic and area modes.
    """
    op = "interpolate"
    check_ndim(op, "input", input, (3, 4, 5), "[N, C, L], [N, C, H, W] or [N, C, D, H, W]")
    n = input.ndim - 2
    if mode not in _MODES:
        raise ValueError(f"{op}: unknown mode {mode!r}; expected one of {_MODES}")
    if mode in _INDEX_MODES:
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
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError(f"{op}: Anti-alias option is restricted to bilinear and bicubic modes and requires a "
                         f"4-D tensor as input, got mode={mode!r} and a {input.ndim}-D input")
    if mode not in ("nearest", "nearest-exact"):
        check_floating(op, "input", input)
    if mode == "area" and size is None:
        recompute_scale_factor = True  # as PyTorch: area resizes to the computed size
    sizes, factors = _output_sizes(op, input, n, size, scale_factor, recompute_scale_factor)
    out = input
    # Separable passes; the anti-aliased resampling goes from the last axis to the first, as ATen.
    order = range(n - 1, -1, -1) if antialias else range(n)
    for k in order:
        out_size, factor = sizes[k], factors[k]
        axis = 2 + k
        in_size = input.shape[axis]
        if mode in ("nearest", "nearest-exact"):
            pick = _nearest_index if mode == "nearest" else _nearest_exact_index
            index = pick(in_size, out_size, factor)
            if not np.array_equal(index, np.arange(in_size)):
                out = jnp.take(out, jnp.asarray(index, jnp.int32), axis=axis)
            continue
        if antialias and in_size == out_size:
            continue  # ATen copies an axis whose size does not change
        matrix = _axis_matrix(mode, in_size, out_size, bool(align_corners), factor, antialias)
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
