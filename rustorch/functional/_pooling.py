"""2-D max, average and adaptive average pooling with PyTorch's output sizes and gradients."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import Layout, check_ndim, is_channels_last
from ._conv import check_floating, int_pair_at_least, int_tuple_at_least

_LAYOUT = "[N, C, H, W] or unbatched [C, H, W]"
_CHANNELS_LAST_LAYOUT = "[N, H, W, C] (channels last)"

_LAYOUT_ARG = """layout: keyword-only, ``'NCHW'`` (default, PyTorch's) or ``'NHWC'``: a channels-last
        ``[N, H, W, C]`` input (batched only) and ``[N, H_out, W_out, C]`` result, with the
        same values, gradients and errors as ``'NCHW'`` on the transpose. On CPU, pooling over
        the outer axes of a channels-last array keeps whole channel vectors contiguous."""


def _logical(op, input, layout):
    """The ``[N, C, H, W]`` (or unbatched) shape the checks and output sizes read, and the two
    spatial axes of ``input`` in its ``layout``."""
    if is_channels_last(op, layout):
        check_ndim(op, "input", input, (4,), _CHANNELS_LAST_LAYOUT)
        n, h, w, c = input.shape
        return jax.ShapeDtypeStruct((n, c, h, w), input.dtype), (1, 2)
    return input, (input.ndim - 2, input.ndim - 1)


def _pool_output_size(size, kernel, pad, stride, dilation, ceil_mode):
    # ATen's pooling_output_shape_pad_lr (Pool.h). Python's // rounds towards -inf like div_rtn.
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        # ceil_mode must not create a window that starts in the right padding.
        out -= 1
    return out


def _pool_geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate pooling arguments as ATen's pool2d_shape_check does; return the static geometry."""
    check_ndim(op, "input", x, (3, 4), _LAYOUT)
    kernel = int_pair_at_least(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else int_pair_at_least(op, "stride", stride, 1)
    pad = int_pair_at_least(op, "padding", padding, 0)
    dilation = int_pair_at_least(op, "dilation", dilation, 1)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {ceil_mode!r}")
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ValueError(
            f"{op}: pad should be at most half of kernel size (padding <= kernel_size // 2 in each "
            f"dimension), but got padding={pad} and kernel_size={kernel}"
        )
    spatial = tuple(x.shape[-2:])
    if min(x.shape[-3:]) < 1:
        raise ValueError(
            f"{op}: expected non-zero channel and spatial sizes, got input of shape {tuple(x.shape)}"
        )
    out = tuple(
        _pool_output_size(*args, ceil_mode) for args in zip(spatial, kernel, pad, stride, dilation)
    )
    if min(out) < 1:
        raise ValueError(
            f"{op}: given input size ({x.shape[-3]}x{spatial[0]}x{spatial[1]}), calculated output "
            f"size ({x.shape[-3]}x{out[0]}x{out[1]}) is too small (kernel_size={kernel}, "
            f"stride={stride}, padding={pad}, dilation={dilation}); use a smaller kernel or "
            "more padding"
        )
    return kernel, stride, pad, dilation, out


def _edge_pads(spatial, kernel, stride, pad, dilation, out):
    # (lo, hi, interior) for lax.pad so that exactly `out` windows fit; a negative hi crops the
    # trailing rows PyTorch's floor rule never reaches, a positive surplus covers ceil_mode windows.
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


def _window_taps(x, axes, kernel, stride, dilation, out):
    """The ``kh * kw`` strided views that a window's taps read along the spatial ``axes`` of the
    padded ``x``, each with ``out`` along those axes, in PyTorch's row-major scan of a window
    (tap ``(i, j)`` at ``i * kw + j``)."""
    taps = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
            for axis, offset, o, s in zip(axes, (i * dilation[0], j * dilation[1]), out, stride):
                start[axis], limit[axis], strides[axis] = offset, offset + (o - 1) * s + 1, s
            taps.append(lax.slice(x, start, limit, strides))
    return taps


def _first_max_hits(taps, maximum):
    """One mask per tap: True where that tap is the element PyTorch's kernel picks, the first
    maximum in scan order, or the last NaN of a window that holds one (its loop takes a new
    index on ``val > max || isnan(val)``)."""
    hits, taken = [], None
    for tap in taps:
        hit = tap == maximum if taken is None else (tap == maximum) & ~taken
        taken = hit if taken is None else taken | hit
        hits.append(hit)
    if jnp.issubdtype(maximum.dtype, jnp.floating):
        later_nan = None
        for index in reversed(range(len(taps))):
            nan = jnp.isnan(taps[index])
            hits[index] = hits[index] | (nan if later_nan is None else nan & ~later_nan)
            later_nan = nan if later_nan is None else later_nan | nan
    return hits


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4, 5))
def _window_max(x, axes, kernel, stride, dilation, out):
    """Max over (possibly overlapping, dilated) windows along ``axes`` of the padded ``x``."""
    return functools.reduce(jnp.maximum, _window_taps(x, axes, kernel, stride, dilation, out))


@_window_max.defjvp
def _window_max_jvp(axes, kernel, stride, dilation, out, primals, tangents):
    # PyTorch routes a window's whole gradient to one element (the first maximum); jnp.max would
    # split it between ties, and JAX has no reverse mode for reduce_window max with dilation.
    # The tangent is a masked sum over the taps, whose transpose is selects and strided pads:
    # forward and reverse mode, any geometry. The masks come from a running "taken" flag rather
    # than an argmax over stacked taps: nothing but boolean masks is kept for the backward pass.
    (x,), (dx,) = primals, tangents
    taps = _window_taps(x, axes, kernel, stride, dilation, out)
    maximum = functools.reduce(jnp.maximum, taps)
    hits = _first_max_hits(taps, maximum)
    dtaps = _window_taps(dx, axes, kernel, stride, dilation, out)
    zero = jnp.zeros((), dx.dtype)
    tangent = functools.reduce(jnp.add, [jnp.where(hit, dtap, zero) for hit, dtap in zip(hits, dtaps)])
    return maximum, tangent


def _split_blocks(x, axes, kernel):
    """Reshape each spatial axis of length ``o * k`` into ``(o, k)``; returns the array and the
    positions of the two window axes."""
    shape = list(x.shape)
    for axis, k in sorted(zip(axes, kernel), reverse=True):
        shape[axis:axis + 1] = [shape[axis] // k, k]
    first, second = sorted(axes)
    return x.reshape(shape), (first + 1, second + 2)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _block_max(x, axes, kernel):
    """Max over the non-overlapping ``kernel`` blocks that tile ``axes`` of ``x`` exactly."""
    blocks, window_axes = _split_blocks(x, axes, kernel)
    return jnp.max(blocks, axis=window_axes)


@_block_max.defjvp
def _block_max_jvp(axes, kernel, primals, tangents):
    # Non-overlapping windows need no strided slices of the input: a reshape exposes each window
    # as two axes. The taps are slices of those axes; one elementwise pass over them gives the
    # maximum and the scan position of the element PyTorch picks, and the tangent sums a
    # full-size select over the window axes, so the backward pass is one elementwise select of
    # the broadcast output gradient (the strided-tap form's transpose sums kh * kw
    # interior-padded arrays). Measured on a 2-core CPU in the MNIST CNN, batch 256
    # (benchmarks/NOTES.md): the pooling backward fell from ~46 ms to ~6 ms.
    (x,), (dx,) = primals, tangents
    blocks, window_axes = _split_blocks(x, axes, kernel)
    window = kernel[0] * kernel[1]
    taps = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            index = [slice(None)] * blocks.ndim
            index[window_axes[0]], index[window_axes[1]] = i, j
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
    index_shape = [1] * blocks.ndim
    index_shape[window_axes[0]], index_shape[window_axes[1]] = kernel
    scan_order = (
        lax.broadcasted_iota(code_dtype, index_shape, window_axes[0]) * np.asarray(kernel[1], code_dtype)
        + lax.broadcasted_iota(code_dtype, index_shape, window_axes[1])
    )
    dblocks, _ = _split_blocks(dx, axes, kernel)
    hit = scan_order == jnp.expand_dims(chosen, window_axes)
    tangent = jnp.sum(jnp.where(hit, dblocks, jnp.zeros((), dx.dtype)), axis=window_axes)
    return maximum, tangent


def _max_pool(x, axes, kernel, stride, pad, dilation, out):
    """Max pooling of ``x`` along its two spatial ``axes`` with validated geometry."""
    if stride == kernel and dilation == (1, 1) and pad == (0, 0):
        # Non-overlapping windows that never reach past the input: crop what the floor rule
        # leaves out and take the block form.
        limit = list(x.shape)
        for axis, o, k in zip(axes, out, kernel):
            limit[axis] = o * k
        if all(limit[axis] <= x.shape[axis] for axis in axes):
            return _block_max(lax.slice(x, [0] * x.ndim, limit), tuple(axes), kernel)
    spatial = tuple(x.shape[axis] for axis in axes)
    pads = [(0, 0, 0)] * x.ndim
    for axis, edge in zip(axes, _edge_pads(spatial, kernel, stride, pad, dilation, out)):
        pads[axis] = edge
    x = lax.pad(x, _lowest(x.dtype), pads)
    return _window_max(x, tuple(axes), kernel, stride, dilation, out)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *,
               layout: Layout = "NCHW"):
    """2-D max pooling, ``torch.nn.functional.max_pool2d`` (without ``return_indices``).

    ``out[n, c, y, x] = max_{i,j} input_padded[n, c, s_h*y + d_h*i, s_w*x + d_w*j]`` where the
    implicit padding is ``-inf`` (the dtype's minimum for integers). Output size per dimension
    is ATen's ``div_floor(L + 2p - d(k-1) - 1 + (ceil_mode ? s-1 : 0), s) + 1``, minus one if
    ``ceil_mode`` would start the last window in the right padding. The gradient goes entirely
    to the first maximum of each window in row-major order, as PyTorch's kernel does on ties,
    or to the window's last NaN when it holds one (its output is then NaN).

    Args:
      input: ``[N, C, H, W]`` or unbatched ``[C, H, W]``, floating or integer dtype.
      kernel_size: int or pair.
      stride: int or pair; default ``None`` means ``kernel_size``.
      padding: int or pair of ``-inf`` paddings on both sides, at most ``kernel_size // 2``.
        Default 0.
      dilation: int or pair, default 1.
      ceil_mode: round the output size up instead of down. Default ``False``.
      {layout_arg}

    Raises:
      ValueError: wrong rank, empty input, non-positive kernel/stride/dilation, negative padding
        or padding above half the kernel, an output size below 1, or an unknown layout.
      TypeError: configuration of the wrong type.
    """
    logical, axes = _logical("max_pool2d", input, layout)
    geometry = _pool_geometry("max_pool2d", logical, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool(input, axes, *geometry)


def _avg_divisors(size, kernel, stride, pad, out, count_include_pad):
    # ATen's avg_pool2d kernel: a window [start, start + k) is first clipped to the padded
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


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
    *,
    layout: Layout = "NCHW",
):
    """2-D average pooling, ``torch.nn.functional.avg_pool2d``.

    Each output is the sum of its window over the zero-padded input divided by:
    ``divisor_override`` if given; else, with ``count_include_pad``, the window's size clipped
    to the padded input (a ``ceil_mode`` window hanging past the right padding does not count
    the overhang); else the number of real input elements in the window. Output size follows
    the same rule as :func:`max_pool2d` with dilation 1.

    Args:
      input: ``[N, C, H, W]`` or unbatched ``[C, H, W]``, floating dtype.
      kernel_size: int or pair.
      stride: int or pair; default ``None`` means ``kernel_size``.
      padding: int or pair of zero paddings, at most ``kernel_size // 2``. Default 0.
      ceil_mode: round the output size up instead of down. Default ``False``.
      count_include_pad: count the zero padding in the divisor. Default ``True``.
      divisor_override: a non-zero int used as the divisor for every window. Default ``None``.
      {layout_arg}

    Raises:
      ValueError: as :func:`max_pool2d`, and for ``divisor_override == 0``.
      TypeError: a non-floating input (PyTorch truncates integer averages; cast first), or
        configuration of the wrong type.
    """
    op = "avg_pool2d"
    logical, axes = _logical(op, input, layout)
    kernel, stride, pad, _, out = _pool_geometry(op, logical, kernel_size, stride, padding, 1, ceil_mode)
    check_floating(op, "input", input)
    _check_avg_divisor(op, divisor_override)
    return _avg_pool(input, axes, kernel, stride, pad, out, count_include_pad, divisor_override)


def _avg_pool(input, axes, kernel, stride, pad, out, count_include_pad, divisor_override):
    """Average pooling of ``input`` along its two spatial ``axes`` with validated geometry."""
    spatial = tuple(input.shape[axis] for axis in axes)
    zero = np.zeros((), input.dtype)  # concrete, so reduce_window sees the add monoid
    pads, window, strides = [(0, 0, 0)] * input.ndim, [1] * input.ndim, [1] * input.ndim
    for axis, edge, k, s in zip(axes, _edge_pads(spatial, kernel, stride, pad, (1, 1), out), kernel, stride):
        pads[axis], window[axis], strides[axis] = edge, k, s
    x = lax.pad(input, zero, pads)
    sums = lax.reduce_window(x, zero, lax.add, tuple(window), tuple(strides), "VALID")
    if divisor_override is not None:
        return sums / jnp.asarray(divisor_override, input.dtype)
    rows, cols = (
        _avg_divisors(size, k, s, p, o, count_include_pad)
        for size, k, s, p, o in zip(spatial, kernel, stride, pad, out)
    )
    divisors = np.outer(rows, cols).reshape(_place(axes, out, input.ndim))
    return sums / jnp.asarray(divisors, input.dtype)


def _place(axes, values, ndim):
    placed = [1] * ndim
    for axis, value in zip(axes, values):
        placed[axis] = value
    return placed


def _check_avg_divisor(op, divisor_override):
    if divisor_override is not None:
        if not isinstance(divisor_override, int) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor must be not zero (got divisor_override=0)")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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


def adaptive_avg_pool2d(input, output_size, *, layout: Layout = "NCHW"):
    """2-D adaptive average pooling, ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell ``i`` of a dimension of input length ``L`` and output length ``O`` averages the
    window ``[floor(i*L/O), ceil((i+1)*L/O))``; windows may overlap and ``O`` may exceed ``L``.

    Args:
      input: ``[N, C, H, W]`` or unbatched ``[C, H, W]``, floating dtype, non-empty ``C, H, W``.
      output_size: int, or a pair whose entries are ints or ``None`` (keep that input size).
      {layout_arg}

    Raises:
      ValueError: wrong rank, empty non-batch dimensions, negative output sizes, or an unknown
        layout.
      TypeError: a non-floating input or a malformed ``output_size``.
    """
    op = "adaptive_avg_pool2d"
    logical, axes = _logical(op, input, layout)
    check_ndim(op, "input", logical, (3, 4), _LAYOUT)
    out = _adaptive_avg_out(logical, output_size)
    sums, rows = _adaptive_sum(input, axes[0], out[0])
    sums, cols = _adaptive_sum(sums, axes[1], out[1])
    divisors = np.outer(rows, cols).reshape(_place(axes, out, input.ndim))
    return sums / jnp.asarray(divisors, input.dtype)


# ------------------------------------------------------------------------------ 1-D pooling
# A 1-D pool is the 2-D pool of the input with a height-1 axis inserted before its length.

_LAYOUT_1D = "[N, C, L] or unbatched [C, L]"


def _one(op, name, value, minimum):
    return int_tuple_at_least(op, name, value, minimum, 1)[0]


def _as_rows(op, input):
    check_ndim(op, "input", input, (2, 3), _LAYOUT_1D)
    return input[..., None, :]


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """1-D max pooling, ``torch.nn.functional.max_pool1d`` (without ``return_indices``): the
    rules of :func:`max_pool2d` along the last dimension of ``[N, C, L]`` or ``[C, L]`` input;
    each geometric argument is an int or a 1-tuple."""
    op = "max_pool1d"
    rows = _as_rows(op, input)
    k = _one(op, "kernel_size", kernel_size, 1)
    s = k if stride is None else _one(op, "stride", stride, 1)
    geometry = _pool_geometry(op, rows, (1, k), (1, s), (0, _one(op, "padding", padding, 0)),
                              (1, _one(op, "dilation", dilation, 1)), ceil_mode)
    return _max_pool(rows, (rows.ndim - 2, rows.ndim - 1), *geometry)[..., 0, :]


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling, ``torch.nn.functional.avg_pool1d``: the rules of
    :func:`avg_pool2d` along the last dimension of ``[N, C, L]`` or ``[C, L]`` input."""
    op = "avg_pool1d"
    rows = _as_rows(op, input)
    k = _one(op, "kernel_size", kernel_size, 1)
    s = k if stride is None else _one(op, "stride", stride, 1)
    return avg_pool2d(rows, (1, k), (1, s), (0, _one(op, "padding", padding, 0)), ceil_mode,
                      count_include_pad)[..., 0, :]


def adaptive_avg_pool1d(input, output_size):
    """1-D adaptive average pooling, ``torch.nn.functional.adaptive_avg_pool1d``: cell ``i`` of
    ``O`` averages ``[floor(i*L/O), ceil((i+1)*L/O))`` of the last dimension."""
    op = "adaptive_avg_pool1d"
    rows = _as_rows(op, input)
    out = _one(op, "output_size", output_size, 0)
    return adaptive_avg_pool2d(rows, (1, out))[..., 0, :]


# ------------------------------------------------------------------------ adaptive max pool

def _adaptive_windows(size, out):
    """Start indices ``[out, width]`` of PyTorch's adaptive windows (width = the widest window),
    and a mask of the taps inside each window."""
    starts = (np.arange(out) * size) // out
    ends = -((-(np.arange(out) + 1) * size) // out)
    width = int(max(ends - starts)) if out else 0
    index = starts[:, None] + np.arange(width)[None, :]
    valid = index < ends[:, None]
    return np.minimum(index, size - 1), valid


def _adaptive_max(x, out_sizes):
    """Adaptive max pooling of the last ``len(out_sizes)`` axes of ``x``: each output takes the
    first maximum of its window in row-major scan order (or the window's NaN), which receives
    the whole gradient, as ATen's adaptive_max_pool kernels."""
    n = len(out_sizes)
    lead = x.ndim - n
    masks = []
    for k, (axis, out) in enumerate(zip(range(lead, x.ndim), out_sizes)):
        index, valid = _adaptive_windows(x.shape[axis], out)
        # gather along axis -> (..., out, width, ...); windows of every axis end up as
        # [..., out_1, ..., out_n, width_1, ..., width_n] after the moves below.
        x = jnp.take(x, jnp.asarray(index.reshape(-1)), axis=lead + k)
        x = x.reshape(x.shape[:lead + k] + index.shape + x.shape[lead + k + 1:])
        x = jnp.moveaxis(x, lead + k + 1, -1)
        masks.append(valid)
    valid = masks[0]
    if n == 2:
        valid = masks[0][:, None, :, None] & masks[1][None, :, None, :]
    windows = x.reshape(x.shape[:lead + n] + (-1,))
    flat_valid = jnp.asarray(valid.reshape(valid.shape[:n] + (-1,)))
    windows = jnp.where(flat_valid, windows, _lowest(x.dtype))
    # torch's loop: a new index when `val > max || isnan(val)`: the first maximum, or the last NaN.
    nan = jnp.isnan(windows) if jnp.issubdtype(windows.dtype, jnp.floating) else None
    choice = jnp.argmax(windows, axis=-1)
    if nan is not None:
        last_nan = windows.shape[-1] - 1 - jnp.argmax(jnp.flip(nan, -1), axis=-1)
        choice = jnp.where(jnp.any(nan, axis=-1), last_nan, choice)
    return jnp.take_along_axis(windows, choice[..., None], axis=-1)[..., 0]


def _adaptive_out(op, input, output_size, n):
    if isinstance(output_size, (tuple, list)):
        entries = tuple(output_size)
        valid = len(entries) == n and all(e is None or _is_int(e) for e in entries)
    else:
        entries = (output_size,) * n
        valid = _is_int(output_size)
    if not valid:
        raise TypeError(f"{op}: output_size must be an int or {n} ints/None, got {output_size!r}")
    out = tuple(input.shape[-n + i] if e is None else e for i, e in enumerate(entries))
    if min(out) < 0:
        raise ValueError(f"{op}: elements of output_size must be >= 0, got output_size={output_size!r}")
    if any(s == 0 for s in input.shape[-n - 1:]):
        raise ValueError(
            f"{op}: expected input to have non-zero size for non-batch dimensions, got input of "
            f"shape {tuple(input.shape)}"
        )
    return out


def adaptive_max_pool2d(input, output_size):
    """2-D adaptive max pooling, ``torch.nn.functional.adaptive_max_pool2d`` (without
    ``return_indices``): output cell ``(i, j)`` is the maximum of the window
    ``[floor(i*H/O_h), ceil((i+1)*H/O_h)) x [floor(j*W/O_w), ceil((j+1)*W/O_w))``; the gradient
    goes to the window's first maximum in row-major order.

    Raises ``ValueError`` for a wrong rank, empty non-batch dimensions or negative sizes,
    ``TypeError`` for a malformed ``output_size``."""
    op = "adaptive_max_pool2d"
    check_ndim(op, "input", input, (3, 4), _LAYOUT)
    return _adaptive_max(input, _adaptive_out(op, input, output_size, 2))


def adaptive_max_pool1d(input, output_size):
    """1-D adaptive max pooling, ``torch.nn.functional.adaptive_max_pool1d``: the rules of
    :func:`adaptive_max_pool2d` along the last dimension of ``[N, C, L]`` or ``[C, L]`` input."""
    op = "adaptive_max_pool1d"
    check_ndim(op, "input", input, (2, 3), _LAYOUT_1D)
    return _adaptive_max(input, _adaptive_out(op, input, output_size, 1))


def _adaptive_avg_out(input, output_size):
    op = "adaptive_avg_pool2d"
    check_floating(op, "input", input)
    if any(s == 0 for s in input.shape[-3:]):
        raise ValueError(
            f"{op}: expected input to have non-zero size for non-batch dimensions, got input of "
            f"shape {tuple(input.shape)}"
        )
    if isinstance(output_size, (tuple, list)):
        entries = tuple(output_size)
        valid = len(entries) == 2 and all(e is None or _is_int(e) for e in entries)
    else:
        entries = (output_size, output_size)
        valid = _is_int(output_size)
    if not valid:
        raise TypeError(f"{op}: output_size must be an int or a pair of ints/None, got {output_size!r}")
    out = tuple(input.shape[-2 + i] if e is None else e for i, e in enumerate(entries))
    if min(out) < 0:
        raise ValueError(f"{op}: elements of output_size must be >= 0, got output_size={output_size!r}")
    return out


for _fn in (max_pool2d, avg_pool2d, adaptive_avg_pool2d):
    _fn.__doc__ = _fn.__doc__.replace("{layout_arg}", _LAYOUT_ARG)
