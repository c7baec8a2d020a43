"""Max, average, power-average, adaptive and unpooling ops with PyTorch's output sizes, indices
and gradients.

One implementation pools along any number of spatial axes; the 1-, 2- and 3-d functions name
their dimension and layout and share it (the 2-d ones also take a channels-last layout).
"""
from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import Layout, check_ndim, is_channels_last
from ._conv import check_floating, int_tuple_at_least

_LAYOUTS = {1: "[N, C, L] or unbatched [C, L]", 2: "[N, C, H, W] or unbatched [C, H, W]",
            3: "[N, C, D, H, W] or unbatched [C, D, H, W]"}
_CHANNELS_LAST_LAYOUT = "[N, H, W, C] (channels last)"

_LAYOUT_ARG = """layout: keyword-only, ``'NCHW'`` (default, PyTorch's) or ``'NHWC'``: a channels-last
        ``[N, H, W, C]`` input (batched only) and ``[N, H_out, W_out, C]`` result(s), with the
        same values, indices, gradients and errors as ``'NCHW'`` on the transpose. On CPU,
        pooling over the outer axes of a channels-last array keeps whole channel vectors
        contiguous."""


def _index_dtype():
    # PyTorch's indices are int64; JAX holds int32 unless x64 is enabled (as for argmax).
    return jax.dtypes.canonicalize_dtype(np.int64)


def _logical(op, n, input, layout):
    """The channels-first shape the checks and output sizes read (``[N, C, *spatial]`` or
    unbatched), and the ``n`` spatial axes of ``input`` in its ``layout``."""
    if is_channels_last(op, layout):
        check_ndim(op, "input", input, (4,), _CHANNELS_LAST_LAYOUT)
        batch, h, w, c = input.shape
        return jax.ShapeDtypeStruct((batch, c, h, w), input.dtype), (1, 2)
    check_ndim(op, "input", input, (n + 1, n + 2), _LAYOUTS[n])
    return input, tuple(range(input.ndim - n, input.ndim))


def _pool_output_size(size, kernel, pad, stride, dilation, ceil_mode):
    # ATen's pooling_output_shape_pad_lr (Pool.h). Python's // rounds towards -inf like div_rtn.
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        # ceil_mode must not create a window that starts in the right padding.
        out -= 1
    return out


def _default_stride(stride):
    # PyTorch's None (and the empty list its TorchScript signatures use) mean "the kernel size".
    return stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)


def _pool_geometry(op, n, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate pooling arguments as ATen's pool{n}d_shape_check does; return the static
    geometry ``(kernel, stride, padding, dilation, out)``, one entry per spatial dimension."""
    kernel = int_tuple_at_least(op, "kernel_size", kernel_size, 1, n)
    stride = kernel if _default_stride(stride) else int_tuple_at_least(op, "stride", stride, 1, n)
    pad = int_tuple_at_least(op, "padding", padding, 0, n)
    dilation = int_tuple_at_least(op, "dilation", dilation, 1, n)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {ceil_mode!r}")
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ValueError(
            f"{op}: pad should be at most half of kernel size (padding <= kernel_size // 2 in each "
            f"dimension), but got padding={pad} and kernel_size={kernel}"
        )
    spatial = tuple(x.shape[-n:])
    if min(x.shape[-n - 1:]) < 1:
        raise ValueError(
            f"{op}: expected non-zero channel and spatial sizes, got input of shape {tuple(x.shape)}"
        )
    out = tuple(
        _pool_output_size(*args, ceil_mode) for args in zip(spatial, kernel, pad, stride, dilation)
    )
    if min(out) < 1:
        channels = x.shape[-n - 1]
        raise ValueError(
            f"{op}: given input size ({'x'.join(map(str, (channels,) + spatial))}), calculated output "
            f"size ({'x'.join(map(str, (channels,) + out))}) is too small (kernel_size={kernel}, "
            f"stride={stride}, padding={pad}, dilation={dilation}); use a smaller kernel or "
            "more padding"
        )
    return kernel, stride, pad, dilation, out


def _edge_pads(spatial, kernel, stride, pad, dilation, out):
    # (lo, hi, interior) for lax.pad so that exactly `out` windows fit; a negative hi crops the
    # trailing elements PyTorch's floor rule never reaches, a positive surplus covers ceil_mode
    # windows.
    pads = []
    for size, k, s, p, d, o in zip(spatial, kernel, stride, pad, dilation, out):
        needed = (o - 1) * s + d * (k - 1) + 1
        pads.append((p, needed - size - p, 0))
    return pads


def _lowest(dtype):
    # Max pooling's implicit padding value: -inf, or the integer dtype's minimum.
    if jnp.issubdtype(dtype, jnp.floating):
        return np.array(-np.inf, dtype)
    return np.array(jnp.iinfo(dtype).min, dtype)


def _place(axes, values, ndim):
    placed = [1] * ndim
    for axis, value in zip(axes, values):
        placed[axis] = value
    return placed


def _along(axes, vectors, ndim, combine):
    """Combine one static vector per axis (each laid along its axis) into one broadcastable array."""
    arrays = []
    for axis, vector in zip(axes, vectors):
        shape = [1] * ndim
        shape[axis] = len(vector)
        arrays.append(np.asarray(vector).reshape(shape))
    return functools.reduce(combine, arrays)


def _tap_offsets(kernel):
    """A window's taps in PyTorch's row-major scan order, as per-axis offsets."""
    return list(itertools.product(*(range(k) for k in kernel)))


def _window_taps(x, axes, kernel, stride, dilation, out):
    """The ``prod(kernel)`` strided views that a window's taps read along the spatial ``axes``
    of the padded ``x``, each with ``out`` along those axes, in PyTorch's row-major scan of a
    window."""
    taps = []
    for offsets in _tap_offsets(kernel):
        start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
        for axis, t, d, o, s in zip(axes, offsets, dilation, out, stride):
            start[axis], limit[axis], strides[axis] = t * d, t * d + (o - 1) * s + 1, s
        taps.append(lax.slice(x, start, limit, strides))
    return taps


def _tap_inside(axes, kernel, stride, dilation, out, spans, ndim):
    """Per tap, None when every window reads it inside the input, else a static mask (broadcast
    along ``axes``) of the windows where it does; ``spans`` holds ``(pad, size)`` per axis."""
    masks = []
    for offsets in _tap_offsets(kernel):
        vectors = []
        for t, d, o, s, (p, size) in zip(offsets, dilation, out, stride, spans):
            position = np.arange(o) * s - p + t * d
            vectors.append((position >= 0) & (position < size))
        masks.append(None if all(v.all() for v in vectors) else _along(axes, vectors, ndim, np.logical_and))
    return masks


def _first_max_hits(taps, maximum, inside):
    """One mask per tap: True where that tap is the element PyTorch's kernel picks, the first
    maximum inside the input in scan order, or the last NaN of a window that holds one (its loop
    takes a new index on ``val > max || isnan(val)``, starting from the window's first element
    inside the input)."""
    hits, taken = [], None
    for tap, mask in zip(taps, inside):
        hit = tap == maximum
        if mask is not None:
            hit = hit & mask
        if taken is not None:
            hit = hit & ~taken
        taken = hit if taken is None else taken | hit
        hits.append(hit)
    if jnp.issubdtype(maximum.dtype, jnp.floating):
        later_nan = None
        for index in reversed(range(len(taps))):
            nan = jnp.isnan(taps[index])
            hits[index] = hits[index] | (nan if later_nan is None else nan & ~later_nan)
            later_nan = nan if later_nan is None else later_nan | nan
    return hits


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4, 5, 6))
def _window_max(x, axes, kernel, stride, dilation, out, spans):
    """Max over (possibly overlapping, dilated) windows along ``axes`` of the padded ``x``."""
    return functools.reduce(jnp.maximum, _window_taps(x, axes, kernel, stride, dilation, out))


@_window_max.defjvp
def _window_max_jvp(axes, kernel, stride, dilation, out, spans, primals, tangents):
    # PyTorch routes a window's whole gradient to one element (the first maximum); jnp.max would
    # split it between ties, and JAX has no reverse mode for reduce_window max with dilation.
    # The tangent is a masked sum over the taps, whose transpose is selects and strided pads:
    # forward and reverse mode, any geometry. The masks come from a running "taken" flag rather
    # than an argmax over stacked taps: nothing but boolean masks is kept for the backward pass.
    (x,), (dx,) = primals, tangents
    taps = _window_taps(x, axes, kernel, stride, dilation, out)
    maximum = functools.reduce(jnp.maximum, taps)
    hits = _first_max_hits(taps, maximum, _tap_inside(axes, kernel, stride, dilation, out, spans, x.ndim))
    dtaps = _window_taps(dx, axes, kernel, stride, dilation, out)
    zero = jnp.zeros((), dx.dtype)
    tangent = functools.reduce(jnp.add, [jnp.where(hit, dtap, zero) for hit, dtap in zip(hits, dtaps)])
    return maximum, tangent


def _split_blocks(x, axes, kernel):
    """Reshape each spatial axis of length ``o * k`` into ``(o, k)``; returns the array and the
    positions of the window axes (``axes`` ascending)."""
    shape = list(x.shape)
    for axis, k in sorted(zip(axes, kernel), reverse=True):
        shape[axis:axis + 1] = [shape[axis] // k, k]
    window_axes = tuple(axis + j + 1 for j, axis in enumerate(sorted(axes)))
    return x.reshape(shape), window_axes


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _block_max(x, axes, kernel):
    """Max over the non-overlapping ``kernel`` blocks that tile ``axes`` of ``x`` exactly."""
    blocks, window_axes = _split_blocks(x, axes, kernel)
    return jnp.max(blocks, axis=window_axes)


@_block_max.defjvp
def _block_max_jvp(axes, kernel, primals, tangents):
    # Non-overlapping windows need no strided slices of the input: a reshape exposes each window
    # as one axis per spatial axis. The taps are slices of those axes; one elementwise pass over
    # them gives the maximum and the scan position of the element PyTorch picks, and the
    # tangent sums a full-size select over the window axes, so the backward pass is one
    # elementwise select of the broadcast output gradient (the strided-tap form's transpose sums
    # prod(kernel) interior-padded arrays). Measured on a 2-core CPU in the MNIST CNN, batch 256
    # (benchmarks/NOTES.md): the pooling backward fell from ~46 ms to ~6 ms.
    (x,), (dx,) = primals, tangents
    blocks, window_axes = _split_blocks(x, axes, kernel)
    window = math.prod(kernel)
    taps = []
    for offsets in _tap_offsets(kernel):
        index = [slice(None)] * blocks.ndim
        for axis, t in zip(window_axes, offsets):
            index[axis] = t
        taps.append(blocks[tuple(index)])
    maximum = functools.reduce(jnp.maximum, taps)
    # PyTorch's pick (see _first_max_hits) as one code per window: the first maximum's scan
    # position, or -1 - position for the last NaN, so a single running minimum finds either.
    code_dtype = jnp.int8 if window < 127 else jnp.int32
    code = None
    for position, tap in enumerate(taps):
        candidate = jnp.where(tap == maximum, np.asarray(position, code_dtype), np.asarray(window, code_dtype))
        if jnp.issubdtype(x.dtype, jnp.floating):
            candidate = jnp.where(jnp.isnan(tap), np.asarray(-1 - position, code_dtype), candidate)
        code = candidate if code is None else jnp.minimum(code, candidate)
    chosen = jnp.where(code < 0, -1 - code, code)
    scan_order = _along(window_axes, [np.arange(k) * math.prod(kernel[i + 1:]) for i, k in enumerate(kernel)],
                        blocks.ndim, np.add).astype(code_dtype)
    dblocks, _ = _split_blocks(dx, axes, kernel)
    hit = scan_order == jnp.expand_dims(chosen, window_axes)
    tangent = jnp.sum(jnp.where(hit, dblocks, jnp.zeros((), dx.dtype)), axis=window_axes)
    return maximum, tangent


def _max_indices(x, axes, kernel, stride, pad, dilation, out):
    """PyTorch's ``return_indices``: per window, the flat index into the input's spatial plane
    (row-major over ``axes``) of the element its kernel picks (see :func:`_first_max_hits`)."""
    spatial = tuple(x.shape[axis] for axis in axes)
    pads = [(0, 0, 0)] * x.ndim
    for axis, edge in zip(axes, _edge_pads(spatial, kernel, stride, pad, dilation, out)):
        pads[axis] = edge
    padded = lax.pad(lax.stop_gradient(x), _lowest(x.dtype), pads)
    taps = _window_taps(padded, axes, kernel, stride, dilation, out)
    maximum = functools.reduce(jnp.maximum, taps)
    inside = _tap_inside(axes, kernel, stride, dilation, out, tuple(zip(pad, spatial)), x.ndim)
    hits = _first_max_hits(taps, maximum, inside)
    dtype = _index_dtype()
    plane_strides = [math.prod(spatial[i + 1:]) for i in range(len(spatial))]
    starts = _along(axes, [(np.arange(o) * s - p) * ps for o, s, p, ps in zip(out, stride, pad, plane_strides)],
                    x.ndim, np.add).astype(dtype)
    zero = np.zeros((), dtype)
    picked = functools.reduce(jnp.add, [
        jnp.where(hit, np.asarray(sum(t * d * ps for t, d, ps in zip(offsets, dilation, plane_strides)), dtype), zero)
        for hit, offsets in zip(hits, _tap_offsets(kernel))
    ])
    return jnp.asarray(starts) + picked


def _max_pool(x, axes, kernel, stride, pad, dilation, out, return_indices=False):
    """Max pooling of ``x`` along its spatial ``axes`` (ascending) with validated geometry; with
    ``return_indices`` also PyTorch's indices."""
    values = None
    if stride == kernel and all(d == 1 for d in dilation) and not any(pad):
        # Non-overlapping windows that never reach past the input: crop what the floor rule
        # leaves out and take the block form.
        limit = list(x.shape)
        for axis, o, k in zip(axes, out, kernel):
            limit[axis] = o * k
        if all(limit[axis] <= x.shape[axis] for axis in axes):
            values = _block_max(lax.slice(x, [0] * x.ndim, limit), tuple(axes), kernel)
    if values is None:
        spatial = tuple(x.shape[axis] for axis in axes)
        pads = [(0, 0, 0)] * x.ndim
        for axis, edge in zip(axes, _edge_pads(spatial, kernel, stride, pad, dilation, out)):
            pads[axis] = edge
        padded = lax.pad(x, _lowest(x.dtype), pads)
        values = _window_max(padded, tuple(axes), kernel, stride, dilation, out, tuple(zip(pad, spatial)))
    if return_indices:
        return values, _max_indices(x, axes, kernel, stride, pad, dilation, out)
    return values


def _max_pool_nd(n, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, layout="NCHW"):
    op = f"max_pool{n}d"
    logical, axes = _logical(op, n, input, layout)
    geometry = _pool_geometry(op, n, logical, kernel_size, stride, padding, dilation, ceil_mode)
    if not isinstance(return_indices, bool):
        raise TypeError(f"{op}: return_indices must be a bool, got {return_indices!r}")
    return _max_pool(input, axes, *geometry, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool_nd(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *,
               layout: Layout = "NCHW"):
    return _max_pool_nd(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, layout)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool_nd(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    """:func:`max_pool1d` returning ``(output, indices)`` whatever ``return_indices`` says, as
    ``torch.nn.functional.max_pool1d_with_indices``."""
    return _max_pool_nd(1, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True, *, layout: Layout = "NCHW"):
    """:func:`max_pool2d` returning ``(output, indices)`` whatever ``return_indices`` says, as
    ``torch.nn.functional.max_pool2d_with_indices``."""
    return _max_pool_nd(2, input, kernel_size, stride, padding, dilation, ceil_mode, True, layout)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    """:func:`max_pool3d` returning ``(output, indices)`` whatever ``return_indices`` says, as
    ``torch.nn.functional.max_pool3d_with_indices``."""
    return _max_pool_nd(3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


_MAX_POOL_DOC = """{n}-D max pooling, ``torch.nn.functional.max_pool{n}d``.

    ``out[n, c, o] = max_t input_padded[n, c, s*o + d*t]`` per spatial dimension, where the
    implicit padding is ``-inf`` (the dtype's minimum for integers). Output size per dimension
    is ATen's ``div_floor(L + 2p - d(k-1) - 1 + (ceil_mode ? s-1 : 0), s) + 1``, minus one if
    ``ceil_mode`` would start the last window in the right padding. The gradient goes entirely
    to the first maximum of each window in row-major order, as PyTorch's kernel does on ties,
    or to the window's last NaN when it holds one (its output is then NaN).

    Args:
      input: ``{layout}``, floating or integer dtype.
      kernel_size: int or {n} ints.
      stride: int or {n} ints; default ``None`` means ``kernel_size``.
      padding: int or {n} ints of ``-inf`` paddings on both sides, at most ``kernel_size // 2``.
        Default 0.
      dilation: int or {n} ints, default 1.
      ceil_mode: round the output size up instead of down. Default ``False``.
      return_indices: also return, per output, the flat index into the input's spatial plane
        (row-major, ``{plane}``) of the element the gradient goes to, in JAX's default integer
        dtype (PyTorch's int64 when x64 is enabled), as :func:`max_unpool{n}d` reads it.
        Default ``False``.{layout_arg}

    Returns:
      The pooled array, or ``(output, indices)`` with ``return_indices``.

    Raises:
      ValueError: wrong rank, empty input, non-positive kernel/stride/dilation, negative padding
        or padding above half the kernel, an output size below 1, or an unknown layout.
      TypeError: configuration of the wrong type.
    """

_PLANES = {1: "L", 2: "H * W", 3: "D * H * W"}


def _avg_divisors(size, kernel, stride, pad, out, count_include_pad):
    # ATen's avg_pool kernels: a window [start, start + k) is first clipped to the padded
    # extent [-pad, size + pad) (that length is the count_include_pad divisor), then to the
    # input [0, size) (the divisor otherwise). Windows of ceil_mode that hang over the right
    # padding therefore never count the overhang.
    divisors = np.empty(out, np.int64)
    for i in range(out):
        start = i * stride - pad
        end = min(start + kernel, size + pad)
        padded_len = end - start
        real_len = min(end, size) - max(start, 0)
        divisors[i] = padded_len if count_include_pad else real_len
    return divisors


def _avg_pool_nd(n, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                 layout="NCHW"):
    op = f"avg_pool{n}d"
    logical, axes = _logical(op, n, input, layout)
    kernel, stride, pad, _, out = _pool_geometry(op, n, logical, kernel_size, stride, padding, 1, ceil_mode)
    check_floating(op, "input", input)
    _check_avg_divisor(op, divisor_override)
    return _avg_pool(input, axes, kernel, stride, pad, out, count_include_pad, divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool_nd(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, layout: Layout = "NCHW"):
    return _avg_pool_nd(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                        layout)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool_nd(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


_AVG_POOL_DOC = """{n}-D average pooling, ``torch.nn.functional.avg_pool{n}d``.

    Each output is the sum of its window over the zero-padded input divided by:
    ``divisor_override`` if given; else, with ``count_include_pad``, the window's size clipped
    to the padded input (a ``ceil_mode`` window hanging past the right padding does not count
    the overhang); else the number of real input elements in the window. Output size follows
    the same rule as :func:`max_pool{n}d` with dilation 1.

    Args:
      input: ``{layout}``, floating dtype.
      kernel_size: int or {n} ints.
      stride: int or {n} ints; default ``None`` means ``kernel_size``.
      padding: int or {n} ints of zero paddings, at most ``kernel_size // 2``. Default 0.
      ceil_mode: round the output size up instead of down. Default ``False``.
      count_include_pad: count the zero padding in the divisor. Default ``True``.{divisor}{layout_arg}

    Raises:
      ValueError: as :func:`max_pool{n}d`, and for ``divisor_override == 0``.
      TypeError: a non-floating input (PyTorch truncates integer averages; cast first), or
        configuration of the wrong type.
    """

_DIVISOR_ARG = """
      divisor_override: a non-zero int used as the divisor for every window. Default ``None``."""


def _avg_pool(input, axes, kernel, stride, pad, out, count_include_pad, divisor_override):
    """Average pooling of ``input`` along its spatial ``axes`` with validated geometry."""
    spatial = tuple(input.shape[axis] for axis in axes)
    zero = np.zeros((), input.dtype)  # concrete, so reduce_window sees the add monoid
    pads, window, strides = [(0, 0, 0)] * input.ndim, [1] * input.ndim, [1] * input.ndim
    ones = (1,) * len(axes)
    for axis, edge, k, s in zip(axes, _edge_pads(spatial, kernel, stride, pad, ones, out), kernel, stride):
        pads[axis], window[axis], strides[axis] = edge, k, s
    x = lax.pad(input, zero, pads)
    sums = lax.reduce_window(x, zero, lax.add, tuple(window), tuple(strides), "VALID")
    if divisor_override is not None:
        return sums / jnp.asarray(divisor_override, input.dtype)
    divisors = _along(axes, [
        _avg_divisors(size, k, s, p, o, count_include_pad)
        for size, k, s, p, o in zip(spatial, kernel, stride, pad, out)
    ], input.ndim, np.multiply)
    return sums / jnp.asarray(divisors, input.dtype)


def _check_avg_divisor(op, divisor_override):
    if divisor_override is not None:
        if not isinstance(divisor_override, int) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor must be not zero (got divisor_override=0)")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------- power-average pool

def _lp_pool_nd(n, input, norm_type, kernel_size, stride, ceil_mode):
    op = f"lp_pool{n}d"
    logical, axes = _logical(op, n, input, "NCHW")
    check_floating(op, "input", input)
    if not isinstance(norm_type, (int, float)) or isinstance(norm_type, bool):
        raise TypeError(f"{op}: norm_type must be a real number, got {norm_type!r}")
    geometry = _pool_geometry(op, n, logical, kernel_size, stride, 0, 1, ceil_mode)
    kernel, stride, pad, _, out = geometry
    if norm_type == math.inf:
        return _max_pool(jnp.abs(input), axes, *geometry)
    if norm_type == -math.inf:
        return -_max_pool(-jnp.abs(input), axes, *geometry)
    exponent = 1.0 / norm_type
    mean = _avg_pool(jnp.power(input, norm_type), axes, kernel, stride, pad, out, True, None)
    # PyTorch's (sign(out) * relu(|out|) * prod(kernel)) ** (1/p): the same value, and its
    # gradient, which the relu zeroes where the window's sum of powers is 0.
    total = mean * np.asarray(math.prod(kernel), input.dtype)
    zero = total == 0
    root = jnp.power(jnp.where(zero, jnp.ones((), input.dtype), total), exponent)
    with np.errstate(divide="ignore"):  # a negative p: 0 ** (1/p) is inf, as PyTorch's
        at_zero = np.power(np.asarray(0.0, input.dtype), np.asarray(exponent, input.dtype))
    return jnp.where(zero, at_zero, root)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool_nd(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool_nd(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool_nd(3, input, norm_type, kernel_size, stride, ceil_mode)


_LP_POOL_DOC = """{n}-D power-average pooling, ``torch.nn.functional.lp_pool{n}d``.

    ``out = (sign(a) * relu(|a|) * prod(kernel_size)) ** (1/p)`` with ``a`` the
    :func:`avg_pool{n}d` of ``input ** p`` (no padding, ``count_include_pad``), which is
    ``(sum over the window of x**p) ** (1/p)`` for whole windows. ``p = inf`` is the max pool of
    ``|x|`` and ``p = -inf`` minus the max pool of ``-|x|``. Where a window's sum of powers is
    0, the gradient is 0, as PyTorch's.

    Args:
      input: ``{layout}``, floating dtype.
      norm_type: the power ``p`` (int or float, may be ``inf``).
      kernel_size: int or {n} ints.
      stride: int or {n} ints; default ``None`` means ``kernel_size``.
      ceil_mode: round the output size up instead of down. Default ``False``.

    Raises:
      ValueError, TypeError: as :func:`avg_pool{n}d`; TypeError for a non-numeric ``norm_type``.
    """


# ------------------------------------------------------------------------ adaptive pooling

def _adaptive_windows(size, out):
    """Start indices ``[out, width]`` of PyTorch's adaptive windows (width = the widest window),
    and a mask of the taps inside each window."""
    starts = (np.arange(out) * size) // out
    ends = -((-(np.arange(out) + 1) * size) // out)
    width = int(max(ends - starts)) if out else 0
    index = starts[:, None] + np.arange(width)[None, :]
    valid = index < ends[:, None]
    return np.minimum(index, size - 1), valid


def _adaptive_out(op, n, input, output_size):
    """Validate ``output_size`` (an int, or ``n`` ints/None keeping that input size) as
    PyTorch's adaptive pools do; return one size per spatial dimension."""
    if isinstance(output_size, (tuple, list)):
        entries = tuple(output_size)
        # PyTorch's 1-d adaptive pools take no None.
        valid = len(entries) == n and all((e is None and n > 1) or _is_int(e) for e in entries)
    else:
        entries = (output_size,) * n
        valid = _is_int(output_size)
    if not valid:
        what = {1: "a 1-tuple of an int", 2: "a pair of ints/None"}.get(n, f"{n} ints/None")
        raise TypeError(f"{op}: output_size must be an int or {what}, got {output_size!r}")
    out = tuple(input.shape[-n + i] if e is None else e for i, e in enumerate(entries))
    if min(out) < 0:
        raise ValueError(f"{op}: elements of output_size must be >= 0, got output_size={output_size!r}")
    if any(s == 0 for s in input.shape[-n - 1:]):
        raise ValueError(
            f"{op}: expected input to have non-zero size for non-batch dimensions, got input of "
            f"shape {tuple(input.shape)}"
        )
    return out


def _adaptive_max(x, out_sizes, return_indices=False):
    """Adaptive max pooling of the last ``len(out_sizes)`` axes of ``x``: each output takes the
    first maximum of its window in row-major scan order (or the window's last NaN), which
    receives the whole gradient, as ATen's adaptive_max_pool kernels; with ``return_indices``
    also its flat index into the input's spatial plane."""
    n = len(out_sizes)
    lead = x.ndim - n
    spatial = x.shape[lead:]
    out_shape = x.shape[:lead] + tuple(out_sizes)
    if min(out_sizes) == 0:
        empty = jnp.zeros(out_shape, x.dtype)
        return (empty, jnp.zeros(out_shape, _index_dtype())) if return_indices else empty
    windows, starts, widths, valid = x, [], [], np.ones((1,) * (2 * n), bool)
    for k, (size, out) in enumerate(zip(spatial, out_sizes)):
        index, inside = _adaptive_windows(size, out)
        # gather along the axis -> (..., out, width, ...); the windows of every axis end up as
        # [..., out_1, ..., out_n, width_1, ..., width_n] after the moves.
        windows = jnp.take(windows, jnp.asarray(index.reshape(-1), np.int32), axis=lead + k)
        windows = windows.reshape(windows.shape[:lead + k] + index.shape + windows.shape[lead + k + 1:])
        windows = jnp.moveaxis(windows, lead + k + 1, -1)
        shape = [1] * (2 * n)
        shape[k], shape[n + k] = inside.shape
        valid = valid & inside.reshape(shape)
        starts.append(index[:, 0])
        widths.append(index.shape[1])
    windows = windows.reshape(windows.shape[:lead + n] + (-1,))
    windows = jnp.where(jnp.asarray(valid.reshape(valid.shape[:n] + (-1,))), windows, _lowest(x.dtype))
    # torch's loop: a new index when `val > max || isnan(val)`: the first maximum, or the last NaN.
    choice = jnp.argmax(windows, axis=-1)
    if jnp.issubdtype(windows.dtype, jnp.floating):
        nan = jnp.isnan(windows)
        last_nan = windows.shape[-1] - 1 - jnp.argmax(jnp.flip(nan, -1), axis=-1)
        choice = jnp.where(jnp.any(nan, axis=-1), last_nan, choice)
    values = jnp.take_along_axis(windows, choice[..., None], axis=-1)[..., 0]
    if not return_indices:
        return values
    dtype = _index_dtype()
    choice = lax.stop_gradient(choice).astype(dtype)
    axes = tuple(range(lead, x.ndim))
    plane_strides = [math.prod(spatial[i + 1:]) for i in range(n)]
    index = jnp.asarray(_along(axes, [s * ps for s, ps in zip(starts, plane_strides)], x.ndim, np.add).astype(dtype))
    for k in range(n):
        position = (choice // np.asarray(math.prod(widths[k + 1:]), dtype)) % np.asarray(widths[k], dtype)
        index = index + position * np.asarray(plane_strides[k], dtype)
    return values, index


def _adaptive_max_pool_nd(n, input, output_size, return_indices):
    op = f"adaptive_max_pool{n}d"
    check_ndim(op, "input", input, (n + 1, n + 2), _LAYOUTS[n])
    if not isinstance(return_indices, bool):
        raise TypeError(f"{op}: return_indices must be a bool, got {return_indices!r}")
    return _adaptive_max(input, _adaptive_out(op, n, input, output_size), return_indices)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd(3, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    """:func:`adaptive_max_pool1d` returning ``(output, indices)``, as PyTorch's namesake."""
    return _adaptive_max_pool_nd(1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    """:func:`adaptive_max_pool2d` returning ``(output, indices)``, as PyTorch's namesake."""
    return _adaptive_max_pool_nd(2, input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=True):
    """:func:`adaptive_max_pool3d` returning ``(output, indices)``, as PyTorch's namesake."""
    return _adaptive_max_pool_nd(3, input, output_size, True)


_ADAPTIVE_MAX_DOC = """{n}-D adaptive max pooling, ``torch.nn.functional.adaptive_max_pool{n}d``.

    Output cell ``i`` of a dimension of input length ``L`` and output length ``O`` is the
    maximum over the window ``[floor(i*L/O), ceil((i+1)*L/O))`` (per dimension); the gradient
    goes to the window's first maximum in row-major order (or its last NaN).

    Args:
      input: ``{layout}``, non-empty non-batch dimensions.
      output_size: int, or {n} ints or ``None`` (keep that input size).
      return_indices: also return the flat index (row-major, ``{plane}``) of each output's
        element in the input's spatial plane, as :func:`max_pool{n}d`. Default ``False``.

    Raises:
      ValueError: wrong rank, empty non-batch dimensions, negative output sizes.
      TypeError: a malformed ``output_size``.
    """


def _adaptive_sum(x, axis, out):
    """Sum ``x`` over PyTorch's adaptive windows along (non-negative) ``axis``; return the sums
    and the window lengths."""
    size = x.shape[axis]
    if out > 0 and size % out == 0:
        k = size // out
        shape = x.shape[:axis] + (out, k) + x.shape[axis + 1 :]
        return x.reshape(shape).sum(axis=axis + 1), np.full(out, k, np.int64)
    starts = (np.arange(out) * size) // out
    ends = -((-(np.arange(out) + 1) * size) // out)
    member = (np.arange(size)[None, :] >= starts[:, None]) & (np.arange(size)[None, :] < ends[:, None])
    selector = jnp.asarray(member, x.dtype)
    # A 0/1 selection matrix: HIGHEST keeps the sum exact in float32 on accelerators whose default
    # matmul precision would round the inputs to bf16/tf32.
    moved = jnp.moveaxis(x, axis, -1)
    sums = jnp.matmul(moved, selector.T, precision=lax.Precision.HIGHEST)
    return jnp.moveaxis(sums, -1, axis), ends - starts


def _adaptive_avg_pool_nd(n, input, output_size, layout="NCHW"):
    op = f"adaptive_avg_pool{n}d"
    logical, axes = _logical(op, n, input, layout)
    check_floating(op, "input", input)
    out = _adaptive_out(op, n, logical, output_size)
    sums, lengths = input, []
    for axis, size in zip(axes, out):
        sums, length = _adaptive_sum(sums, axis, size)
        lengths.append(length)
    return sums / jnp.asarray(_along(axes, lengths, input.ndim, np.multiply), input.dtype)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool_nd(1, input, output_size)


def adaptive_avg_pool2d(input, output_size, *, layout: Layout = "NCHW"):
    return _adaptive_avg_pool_nd(2, input, output_size, layout)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool_nd(3, input, output_size)


_ADAPTIVE_AVG_DOC = """{n}-D adaptive average pooling, ``torch.nn.functional.adaptive_avg_pool{n}d``.

    Output cell ``i`` of a dimension of input length ``L`` and output length ``O`` averages the
    window ``[floor(i*L/O), ceil((i+1)*L/O))``; windows may overlap and ``O`` may exceed ``L``.

    Args:
      input: ``{layout}``, floating dtype, non-empty non-batch dimensions.
      output_size: int, or {n} ints or ``None`` (keep that input size).{layout_arg}

    Raises:
      ValueError: wrong rank, empty non-batch dimensions, negative output sizes, or an unknown
        layout.
      TypeError: a non-floating input or a malformed ``output_size``.
    """


# -------------------------------------------------------------------------------- unpooling

def unpool_output_size(op, n, input_shape, kernel_size, stride, padding, output_size):
    """The spatial output size of ``max_unpool{n}d``, validated as PyTorch's
    ``_unpool_output_size``: by default ``(L - 1) * stride + kernel - 2 * padding``; a requested
    ``output_size`` (``n`` sizes, or ``n + 2`` with batch and channels) must lie strictly within
    ``stride`` of it."""
    kernel = int_tuple_at_least(op, "kernel_size", kernel_size, 1, n)
    stride = kernel if _default_stride(stride) else int_tuple_at_least(op, "stride", stride, 1, n)
    pad = int_tuple_at_least(op, "padding", padding, 0, n)
    default = tuple((size - 1) * s + k - 2 * p for size, k, s, p in zip(input_shape[-n:], kernel, stride, pad))
    if output_size is None:
        size = default
    else:
        if not isinstance(output_size, (tuple, list)) or not all(_is_int(e) for e in output_size):
            raise TypeError(f"{op}: output_size must be a sequence of ints or None, got {output_size!r}")
        size = tuple(output_size)
        if len(size) == n + 2:
            size = size[2:]
        if len(size) != n:
            raise ValueError(
                f"{op}: output_size should be a sequence containing {n} or {n + 2} elements, but it has "
                f"a length of '{len(size)}'"
            )
        for d in range(n):
            low, high = default[d] - stride[d], default[d] + stride[d]
            if not low < size[d] < high:
                raise ValueError(
                    f'{op}: invalid output_size "{tuple(output_size)}" (dim {d} must be between {low} and {high})'
                )
    for d in range(n):
        if size[d] < 0:
            raise ValueError(
                f"{op}: output_size must contain non-negative spatial dimensions, but got "
                f"output_size[{d}]={size[d]}"
            )
    return size


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _unpool_scatter(x, indices, length):
    """``out[b, indices[b, i]] = x[b, i]`` into zeros of ``[B, length]``; where indices repeat, the
    last write wins, as PyTorch's sequential kernel."""
    rows = jnp.arange(x.shape[0], dtype=indices.dtype)[:, None]
    positions = jnp.broadcast_to(jnp.arange(x.shape[1], dtype=indices.dtype), x.shape)
    writer = jnp.full((x.shape[0], length), -1, indices.dtype).at[rows, indices].max(positions, mode="drop")
    taken = jnp.take_along_axis(x, jnp.maximum(writer, 0), axis=1)
    return jnp.where(writer >= 0, taken, jnp.zeros((), x.dtype))


@_unpool_scatter.defjvp
def _unpool_scatter_jvp(length, primals, tangents):
    # PyTorch's backward gathers the output gradient at every index (repeats included); the
    # tangent is the scatter-add whose transpose is that gather.
    (x, indices), (dx, _) = primals, tangents
    out = _unpool_scatter(x, indices, length)
    rows = jnp.arange(x.shape[0], dtype=indices.dtype)[:, None]
    tangent = jnp.zeros((x.shape[0], length), dx.dtype).at[rows, indices].add(dx, mode="drop")
    return out, tangent


def _max_unpool_nd(n, input, indices, kernel_size, stride, padding, output_size):
    op = f"max_unpool{n}d"
    check_ndim(op, "input", input, (n + 1, n + 2), _LAYOUTS[n])
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise TypeError(f"{op}: expected integer indices (as max_pool{n}d returns), got dtype {indices.dtype}")
    if tuple(indices.shape) != tuple(input.shape):
        raise ValueError(
            f"{op}: expected indices of the input's shape {tuple(input.shape)}, got indices of shape "
            f"{tuple(indices.shape)}"
        )
    size = unpool_output_size(op, n, input.shape, kernel_size, stride, padding, output_size)
    length = math.prod(size)
    if not isinstance(indices, jax.core.Tracer):
        check_unpool_indices(op, np.asarray(indices), size)
    lead = tuple(input.shape[:-n])
    batch = math.prod(lead)
    flat_indices = indices.reshape(batch, -1).astype(np.int32)
    out = _unpool_scatter(input.reshape(batch, -1), flat_indices, length)
    if jnp.issubdtype(input.dtype, jnp.floating):
        # Traced indices cannot raise: a plane with an index outside it comes out NaN.
        invalid = jnp.any((flat_indices < 0) | (flat_indices >= length), axis=1, keepdims=True)
        out = jnp.where(invalid, np.asarray(np.nan, input.dtype), out)
    return out.reshape(lead + tuple(size))


def unpool_indices_invalid(indices, *, length):
    """Whether any index lies outside ``[0, length)`` (a traced check for the facade)."""
    return jnp.any((indices < 0) | (indices >= length))


def check_unpool_indices(op, indices: np.ndarray, size) -> None:
    """Raise PyTorch's error for known indices outside the output plane of spatial ``size``."""
    length = math.prod(size)
    bad = indices[(indices < 0) | (indices >= length)]
    if bad.size:
        raise RuntimeError(
            f"{op}: Found an invalid max index: {int(bad.flat[0])} (output volumes are of size "
            f"{'x'.join(map(str, size))}); indices must lie in [0, {length})"
        )


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool_nd(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool_nd(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool_nd(3, input, indices, kernel_size, stride, padding, output_size)


_MAX_UNPOOL_DOC = """{n}-D max unpooling, ``torch.nn.functional.max_unpool{n}d``: a partial inverse
    of :func:`max_pool{n}d`.

    ``out`` is zero except ``out[..., indices[..., i]] = input[..., i]`` in each flattened
    spatial plane (``{plane}``); where an index repeats, the last element in row-major order
    wins, as PyTorch's CPU kernel. The gradient of ``input[..., i]`` is the output gradient at
    ``indices[..., i]`` (repeats included), as PyTorch's.

    Args:
      input: ``{layout}``.
      indices: integer array of ``input``'s shape (from ``max_pool{n}d(..., return_indices=True)``).
      kernel_size: int or {n} ints.
      stride: int or {n} ints; default ``None`` means ``kernel_size``.
      padding: int or {n} ints. Default 0.
      output_size: ``None`` for ``(L - 1) * stride + kernel - 2 * padding`` per dimension, or
        {n} (or {n2}, with batch and channels) sizes, each strictly within ``stride`` of that.

    Raises:
      ValueError: wrong rank, indices of another shape, or an ``output_size`` out of range.
      TypeError: non-integer indices or a malformed configuration.
      RuntimeError: concrete indices outside the output plane (traced ones make that plane NaN).
    """


for _n in (1, 2, 3):
    _fields = dict(n=_n, n2=_n + 2, layout=_LAYOUTS[_n], plane=_PLANES[_n],
                   layout_arg=("\n      " + _LAYOUT_ARG) if _n == 2 else "")
    for _fn, _doc in ((f"max_pool{_n}d", _MAX_POOL_DOC), (f"avg_pool{_n}d", _AVG_POOL_DOC),
                      (f"lp_pool{_n}d", _LP_POOL_DOC), (f"adaptive_max_pool{_n}d", _ADAPTIVE_MAX_DOC),
                      (f"adaptive_avg_pool{_n}d", _ADAPTIVE_AVG_DOC), (f"max_unpool{_n}d", _MAX_UNPOOL_DOC)):
        globals()[_fn].__doc__ = _doc.format(**_fields, divisor=_DIVISOR_ARG if _n > 1 else "")
