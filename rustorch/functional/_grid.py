"""Sampling and patch ops of spatial transformer and patch-based networks: ``affine_grid``,
``grid_sample``, ``unfold`` (im2col), ``fold`` (col2im) and ``channel_shuffle``, with
PyTorch's layouts, numerics, backward rules and errors.

``grid_sample`` mirrors ATen's ``GridSampler.h``: coordinates are unnormalised, then clipped or
reflected by the padding mode, with the same derivative rules (a clipped coordinate has
gradient 0 on and beyond the border, a reflected one flips its sign), so autodiff gives
PyTorch's gradients with respect to both the input and the grid.
"""
from __future__ import annotations

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._conv import check_floating

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since "
                  "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
                  "documentation of grid_sample for details.")
_CUBIC_A = -0.75


def _resolve_align_corners(align_corners, stacklevel=3):
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=stacklevel)
        return False
    return bool(align_corners)


# ---------------------------------------------------------------------------------- channel_shuffle

def channel_shuffle(input, groups: int):
    """``[N, C, *] -> [N, C, *]`` with the channels read as ``[groups, C / groups]`` and
    transposed, ``torch.nn.functional.channel_shuffle`` (ShuffleNet).

    Raises ``ValueError`` for an input of fewer than 3 dimensions, ``groups <= 0`` or channels
    not divisible by ``groups``."""
    if input.ndim <= 2:
        raise ValueError(f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(input.shape)}")
    if not isinstance(groups, (int, np.integer)) or groups <= 0:
        raise ValueError(f"channel_shuffle: Number of groups to divide channels in must be positive. "
                         f"Value of groups:{groups}")
    n, c = input.shape[:2]
    if c % groups:
        raise ValueError(f"channel_shuffle: Number of channels must be divisible by groups. Got {c} channels "
                         f"and {groups} groups.")
    rest = input.shape[2:]
    x = input.reshape((n, groups, c // groups) + rest)
    return jnp.swapaxes(x, 1, 2).reshape(input.shape)


# ------------------------------------------------------------------------------------ unfold / fold

def _pair(op, name, value):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return tuple(int(v) for v in pair)


def _patch_geometry(op, kernel_size, dilation, padding, stride):
    kernel = _pair(op, "kernel_size", kernel_size)
    dilation = _pair(op, "dilation", dilation)
    padding = _pair(op, "padding", padding)
    stride = _pair(op, "stride", stride)
    for name, values, low in (("kernel_size", kernel, 1), ("dilation", dilation, 1), ("stride", stride, 1),
                              ("padding", padding, 0)):
        if min(values) < low:
            raise ValueError(f"{op}: {name} must be {'non-negative' if low == 0 else 'positive'}, got {values}")
    return kernel, dilation, padding, stride


def _blocks(spatial, kernel, dilation, padding, stride):
    return tuple((s + 2 * p - d * (k - 1) - 1) // st + 1
                 for s, k, d, p, st in zip(spatial, kernel, dilation, padding, stride))


def _im2col(x, kernel, dilation, padding, stride, blocks):
    n, c = x.shape[:2]
    x = jnp.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    patches = []
    for i, j in itertools.product(range(kernel[0]), range(kernel[1])):
        start = (0, 0, i * dilation[0], j * dilation[1])
        limit = (n, c, start[2] + stride[0] * (blocks[0] - 1) + 1, start[3] + stride[1] * (blocks[1] - 1) + 1)
        patches.append(lax.slice(x, start, limit, (1, 1) + stride))
    cols = jnp.stack(patches, axis=2)  # [N, C, kh * kw, oh, ow]
    return cols.reshape(n, c * kernel[0] * kernel[1], blocks[0] * blocks[1])


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks (im2col), ``torch.nn.functional.unfold``: ``[N, C, H, W] ->
    [N, C * kh * kw, L]`` with ``L`` the number of block positions,
    ``prod((size + 2 padding - dilation (kernel - 1) - 1) // stride + 1)``; column ``l`` holds
    block ``l`` (row-major over positions), channel-major then kernel row and column. A 3-D
    input is one unbatched ``[C, H, W]`` image.

    Raises:
      ValueError: an input that is not 3-D or 4-D, a bad geometry argument, or no block fits
        ("its components must be at least one").
    """
    op = "unfold"
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: Expected 3D or 4D (batch mode) tensor for input, but got: {list(input.shape)}")
    kernel, dilation, padding, stride = _patch_geometry(op, kernel_size, dilation, padding, stride)
    unbatched = input.ndim == 3
    x = input[None] if unbatched else input
    blocks = _blocks(x.shape[2:], kernel, dilation, padding, stride)
    if min(blocks) < 1:
        raise ValueError(
            f"{op}: Given input with spatial size {tuple(x.shape[2:])}, kernel_size={kernel}, "
            f"dilation={dilation}, padding={padding}, calculated shape of the array of sliding blocks as "
            f"{blocks}, but its components must be at least one.")
    cols = _im2col(x, kernel, dilation, padding, stride, blocks)
    return cols[0] if unbatched else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding local blocks back into an image (col2im), ``torch.nn.functional.fold``, the
    transpose of :func:`unfold`: ``[N, C * kh * kw, L] -> [N, C, *output_size]``, overlapping
    values added. A 2-D input is one unbatched ``[C * kh * kw, L]`` block matrix.

    Raises:
      ValueError: an input that is not 2-D or 3-D, a dimension 1 not divisible by
        ``kh * kw``, or a dimension 2 other than the number of block positions.
    """
    op = "fold"
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: Expected 2D or 3D (batch mode) tensor for input, but got: {list(input.shape)}")
    size = _pair(op, "output_size", output_size)
    kernel, dilation, padding, stride = _patch_geometry(op, kernel_size, dilation, padding, stride)
    unbatched = input.ndim == 2
    x = input[None] if unbatched else input
    n, rows, length = x.shape
    per_channel = kernel[0] * kernel[1]
    if rows % per_channel:
        raise ValueError(
            f"{op}: Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
            f"got input.size(1)={rows} and kernel_size={kernel}.")
    blocks = _blocks(size, kernel, dilation, padding, stride)
    if min(blocks) < 1 or blocks[0] * blocks[1] != length:
        raise ValueError(
            f"{op}: Given output_size={size}, kernel_size={kernel}, dilation={dilation}, padding={padding}, "
            f"stride={stride}, expected size of input's dimension 2 to match the calculated number of sliding "
            f"blocks {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got input.size(2)={length}.")
    image = jax.ShapeDtypeStruct((n, rows // per_channel) + size, x.dtype)
    (out,) = jax.linear_transpose(lambda img: _im2col(img, kernel, dilation, padding, stride, blocks), image)(x)
    return out[0] if unbatched else out


# ------------------------------------------------------------------------------------- affine_grid

def _linspace_from_neg_one(num_steps: int, align_corners: bool, dtype) -> np.ndarray:
    """ATen's ``linspace_from_neg_one`` in ``dtype``: ``linspace(-1, 1, n)`` (symmetric form),
    scaled by ``(n - 1) / n`` without ``align_corners``; ``[0]`` for one step."""
    if num_steps <= 1:
        return np.zeros((num_steps,), dtype)
    one = dtype.type(1)
    step = (one - (-one)) / dtype.type(num_steps - 1)
    index = np.arange(num_steps)
    halfway = num_steps // 2
    values = np.where(index < halfway, -one + step * index.astype(dtype),
                      one - step * (num_steps - 1 - index).astype(dtype)).astype(dtype)
    if not align_corners:
        values = (values * dtype.type(num_steps - 1) / dtype.type(num_steps)).astype(dtype)
    return values


def affine_grid(theta, size, align_corners=None):
    """Sampling grid of an affine transform, ``torch.nn.functional.affine_grid``.

    ``theta`` ``[N, 2, 3]`` with ``size = (N, C, H, W)`` gives ``[N, H, W, 2]``;
    ``theta`` ``[N, 3, 4]`` with ``size = (N, C, D, H, W)`` gives ``[N, D, H, W, 3]``. Each
    position's normalised coordinates ``(x, y[, z], 1)`` (``x`` along the last dimension, in
    ``[-1, 1]`` at the corner pixels' centres with ``align_corners=True``, at their outer edges
    otherwise) are multiplied by ``theta``. ``align_corners=None`` means False, with PyTorch's
    warning.

    Raises:
      ValueError: a ``size`` of another length, a non-positive size, or ``theta`` of the wrong
        shape for ``size``.
      TypeError: a non-floating ``theta``.
    """
    align_corners = _resolve_align_corners(align_corners)
    if align_corners and len(size) > 2 and min(size[2:]) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", UserWarning, stacklevel=2)
    return affine_grid_checked(theta, tuple(size), align_corners)


def affine_grid_checked(theta, size, align_corners: bool):
    """:func:`affine_grid` with ``align_corners`` a bool, without warnings."""
    op = "affine_grid"
    check_floating(op, "theta", theta)
    size = tuple(int(s) for s in size)
    if len(size) == 4:
        rows, kind = 2, "2D affine matrices of shape Nx2x3"
    elif len(size) == 5:
        rows, kind = 3, "3D affine matrices of shape Nx3x4"
    else:
        raise ValueError(f"{op}: affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                         f"respectively. Got size {size}.")
    if theta.ndim != 3 or theta.shape[1:] != (rows, rows + 1):
        raise ValueError(f"{op}: Expected a batch of {kind} for size {size}. Got {tuple(theta.shape)}.")
    if min(size) <= 0:
        raise ValueError(f"{op}: Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise ValueError(f"{op}: expected theta's batch size {theta.shape[0]} to equal size[0] = {size[0]}")
    dtype = np.dtype(theta.dtype)
    spatial = size[2:]
    # Coordinates per output axis, x along the last spatial dimension.
    axes = [_linspace_from_neg_one(s, align_corners, dtype) for s in reversed(spatial)]
    n = len(spatial)
    grids = []
    for k, values in enumerate(axes):
        shape = [1] * n
        shape[n - 1 - k] = values.shape[0]
        grids.append(np.broadcast_to(values.reshape(shape), spatial))
    theta = theta[:, None] if n == 2 else theta[:, None, None]
    theta = theta[:, None]  # [N, 1, .., 1, rows, rows + 1] broadcast over the positions
    out = []
    for j in range(rows):
        acc = None
        for k in range(n):
            term = jnp.asarray(grids[k], dtype) * theta[..., j, k]
            acc = term if acc is None else acc + term
        out.append(acc + theta[..., j, n])
    return jnp.stack(out, axis=-1)


# ------------------------------------------------------------------------------------- grid_sample

def _unnormalize(coord, size, align_corners):
    dtype = coord.dtype
    if align_corners:
        return (coord + jnp.ones((), dtype)) / jnp.asarray(2, dtype) * jnp.asarray(size - 1, dtype)
    return ((coord + jnp.ones((), dtype)) * jnp.asarray(size, dtype) - jnp.ones((), dtype)) / jnp.asarray(2, dtype)


def _clip(coord, size):
    """``clip_coordinates_set_grad``: values in ``[0, size - 1]``, gradient 0 on and beyond the borders."""
    zero = jnp.zeros((), coord.dtype)
    high = jnp.asarray(size - 1, coord.dtype)
    return jnp.where(coord <= zero, zero, jnp.where(coord >= high, high, coord))


def _reflect(coord, twice_low, twice_high):
    """``reflect_coordinates_set_grad``: reflect into ``[low, high]`` by the borders."""
    dtype = coord.dtype
    if twice_low == twice_high:
        return jnp.zeros_like(coord)
    low = jnp.asarray(twice_low / 2, dtype)
    span = jnp.asarray((twice_high - twice_low) / 2, dtype)
    shifted = coord - low
    magnitude = jnp.where(shifted < 0, -shifted, shifted)
    extra = jnp.fmod(magnitude, span)
    flips = lax.stop_gradient(jnp.floor(magnitude / span))
    even = jnp.fmod(flips, jnp.asarray(2, dtype)) == 0
    return jnp.where(even, extra + low, span - extra + low)


def _pad_coordinates(coord, size, padding_mode, align_corners):
    if padding_mode == "border":
        return _clip(coord, size)
    if padding_mode == "reflection":
        if align_corners:
            coord = _reflect(coord, 0, 2 * (size - 1))
        else:
            coord = _reflect(coord, -1, 2 * size - 1)
        return _clip(coord, size)
    return coord


def _cubic_coefficients(t):
    a = jnp.asarray(_CUBIC_A, t.dtype)
    one, two = jnp.ones((), t.dtype), jnp.asarray(2, t.dtype)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + one

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + one), near(t), near(one - t), far(two - t)]


def _gather(flat, sizes, taps):
    """Sum over ``taps`` of ``weight * input[n, :, index]`` (zero outside the input).

    ``flat`` is ``[N, C, prod(sizes)]``; each tap is ``(indices, weight)`` with one integer
    index array ``[N, Q]`` per spatial dimension and a weight ``[N, Q]`` (or None for 1)."""
    total = None
    for indices, weight in taps:
        inside = None
        linear = None
        for index, size in zip(indices, sizes):
            ok = (index >= 0) & (index < size)
            inside = ok if inside is None else inside & ok
            clipped = jnp.clip(index, 0, size - 1)
            linear = clipped if linear is None else linear * size + clipped
        values = jax.vmap(lambda f, i: jnp.take(f, i, axis=1))(flat, linear)  # [N, C, Q]
        w = inside.astype(flat.dtype) if weight is None else jnp.where(inside, weight, jnp.zeros((), flat.dtype))
        term = values * w[:, None, :]
        total = term if total is None else total + term
    return total


def _index(coord):
    # Integer tap positions; far-away coordinates are bounded first so that the cast is safe
    # (the bound keeps them outside the input).
    return jnp.clip(coord, -4, 2**30).astype(jnp.int32)


def check_grid_sample_modes(mode: str, padding_mode: str) -> None:
    """grid_sample's mode checks with PyTorch's messages (shared with the facade's form)."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")


def grid_sample(input, grid, mode: str = "bilinear", padding_mode: str = "zeros", align_corners=None):
    """Sample ``input`` at the positions of ``grid``, ``torch.nn.functional.grid_sample``.

    ``input`` ``[N, C, H, W]`` with ``grid`` ``[N, H_out, W_out, 2]`` gives
    ``[N, C, H_out, W_out]``; ``input`` ``[N, C, D, H, W]`` with ``grid``
    ``[N, D_out, H_out, W_out, 3]`` gives ``[N, C, D_out, H_out, W_out]``. ``grid[..., 0]`` is
    ``x`` (along W), then ``y`` (H) and ``z`` (D), normalised to ``[-1, 1]``: the corner pixels'
    centres with ``align_corners=True``, their outer edges otherwise (``None`` means False,
    with PyTorch's warning).

    * ``mode``: ``'bilinear'`` (trilinear for 5-D), ``'nearest'`` (round half to even), or
      ``'bicubic'`` (4-D only; Keys' kernel with ``A = -0.75``, each tap padded separately).
    * ``padding_mode``: ``'zeros'`` (outside reads 0), ``'border'`` (coordinates clipped to the
      edge), ``'reflection'`` (reflected by the borders, then clipped).

    Gradients flow to ``input`` and to ``grid`` as in PyTorch (none to ``grid`` for
    ``'nearest'``).

    Raises:
      ValueError: an unknown mode or padding mode, a rank other than 4 or 5, a grid of the
        wrong rank, last size or batch size, or ``'bicubic'`` with a 5-D input.
      TypeError: a non-floating input or grid.
    """
    op = "grid_sample"
    check_grid_sample_modes(mode, padding_mode)
    align_corners = _resolve_align_corners(align_corners)
    check_floating(op, "input", input)
    check_floating(op, "grid", grid)
    if input.ndim not in (4, 5):
        raise ValueError(f"grid_sampler(): expected 4D or 5D input, but got input with sizes {list(input.shape)}")
    n = input.ndim - 2
    if grid.ndim != input.ndim:
        raise ValueError(f"grid_sampler(): expected grid to have {input.ndim} dimensions for a {input.ndim}D input, "
                         f"but got grid with sizes {list(grid.shape)}")
    if grid.shape[-1] != n:
        raise ValueError(f"grid_sampler(): expected grid to have size {n} in last dimension, but got grid with "
                         f"sizes {list(grid.shape)}")
    if grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sampler(): expected grid and input to have same batch size, but got input with "
                         f"sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if mode == "bicubic" and n != 2:
        raise ValueError("grid_sampler(): bicubic interpolation only supports 4D input")
    if input.dtype != grid.dtype:
        raise TypeError(f"grid_sampler(): expected input and grid to have the same dtype, but input has "
                        f"{input.dtype} and grid has {grid.dtype}")
    batch, channels = input.shape[:2]
    sizes = input.shape[2:]
    out_spatial = grid.shape[1:-1]
    flat = input.reshape(batch, channels, -1)
    g = grid.reshape(batch, -1, n)
    # grid's last axis is (x, y[, z]): coordinate k of the input's spatial dims is entry n-1-k.
    coords = [g[..., n - 1 - k] for k in range(n)]
    if mode == "bicubic":
        src = [_unnormalize(c, s, align_corners) for c, s in zip(coords, sizes)]
        base = [lax.stop_gradient(jnp.floor(c)) for c in src]
        coefficients = [_cubic_coefficients(c - b) for c, b in zip(src, base)]
        taps = []
        for offsets in itertools.product(range(4), repeat=n):
            indices, weight = [], None
            for k, o in enumerate(offsets):
                position = _pad_coordinates(base[k] + (o - 1), sizes[k], padding_mode, align_corners)
                indices.append(_index(position))
                w = coefficients[k][o]
                weight = w if weight is None else weight * w
            taps.append((indices, weight))
        out = _gather(flat, sizes, taps)
    else:
        src = [_pad_coordinates(_unnormalize(c, s, align_corners), s, padding_mode, align_corners)
               for c, s in zip(coords, sizes)]
        if mode == "nearest":
            out = _gather(flat, sizes, [([_index(jnp.round(lax.stop_gradient(c))) for c in src], None)])
        else:
            low = [lax.stop_gradient(jnp.floor(c)) for c in src]
            frac = [c - b for c, b in zip(src, low)]
            taps = []
            for corner in itertools.product((0, 1), repeat=n):
                indices, weight = [], None
                for k, high in enumerate(corner):
                    indices.append(_index(low[k]) + high)
                    w = frac[k] if high else jnp.ones((), frac[k].dtype) - frac[k]
                    weight = w if weight is None else weight * w
                taps.append((indices, weight))
            out = _gather(flat, sizes, taps)
    return out.reshape((batch, channels) + out_spatial)
