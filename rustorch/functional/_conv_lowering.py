"""How a 2-D convolution is lowered to XLA, chosen per backend.

On GPU and TPU, XLA's own convolution (cuDNN and friends) is the fast path. On CPU, XLA's
convolution is fast on large maps but slow in two places: its weight gradient with few
channels (several times slower than the same arithmetic as matrix products, measured on the
MNIST CNN) and everything on small maps with many channels (ResNet-18's last stage, 2x2 maps:
50x slower than a GEMM). The CPU lowering works channels-last (XLA's CPU convolution's own
layout) and picks, per shape (``_plan``; the measurements are in benchmarks/NOTES.md):

* the forward pass as XLA's convolution, or on small maps as ``im2col(x) @ w``, one cache-sized
  chunk of the batch at a time (narrow inputs, ``kh * kw * C_in < 32``, in one GEMM);
* the input gradient as XLA's transposed convolution, or on small maps as the column gradient
  ``dy @ w^T`` (one GEMM) added back onto the input tap by tap (col2im);
* the weight gradient as XLA's, or (few channels, small maps) as ``im2col(x)^T @ dy`` (the
  ``kh * kw`` shifted views of the padded input concatenated along the channel axis, times the
  output gradient), one cache-sized chunk of the batch at a time.

The arithmetic is the same sums as PyTorch's, in another order, so results agree to float32
rounding.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .. import _config

_NHWC = ("NHWC", "HWIO", "NHWC")


def _conv_nhwc(x, w, stride, pads, dilation):
    return lax.conv_general_dilated(
        x, w, window_strides=stride, padding=pads, rhs_dilation=dilation, dimension_numbers=_NHWC
    )


def _taps(x_padded, kernel, stride, dilation, out_size):
    """The ``kh * kw`` shifted views ``[N, OH, OW, C]`` of the padded input that the kernel's
    taps ``(i, j)`` read, row-major over ``(i, j)``."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_size
    return [
        lax.slice(
            x_padded,
            (0, i * dh, j * dw, 0),
            (x_padded.shape[0], i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, x_padded.shape[3]),
            (1, sh, sw, 1),
        )
        for i in range(kh)
        for j in range(kw)
    ]


# A convolution reads every input element kh * kw times. On a CPU whose memory is slow next to
# its arithmetic (the 2-core CPU of benchmarks/NOTES.md streams ~5 GB/s against ~100 GFLOP/s), XLA's
# convolution and one im2col GEMM over the whole batch (which writes and reads back a kh*kw times
# larger copy of the input) both wait on memory, and so does one GEMM per kernel tap (which
# re-streams the output gradient for every tap). The forward pass and the weight gradient
# therefore walk the batch in chunks of images whose im2col columns fill about this many bytes,
# so that the columns are built and consumed by their GEMM while still in the core's cache.
# Measured on the MNIST CNN (benchmarks/NOTES.md): conv2's weight gradient at batch 256,
# 63 ms -> ~35 ms; the whole batch-256 step 220 -> 201 ms for the chunked forward pass.
_CHUNK_BYTES = 1 << 20

# Below this many im2col columns (kh * kw * C_in: the first layer of an image network) the
# forward columns are small, and one GEMM over the whole batch avoids the chunk loop; XLA's
# convolution vectorises poorly over so few input channels (conv1 of the MNIST CNN, batch 256:
# 31 ms against 22 ms).
_WHOLE_BATCH_MAX_COLUMNS = 32


def _batch_chunk(batch, per_image_bytes):
    """The largest divisor of ``batch`` whose images fill at most ``_CHUNK_BYTES`` of columns
    (at least one image)."""
    target = max(1, min(batch, _CHUNK_BYTES // max(per_image_bytes, 1)))
    return next(size for size in range(target, 0, -1) if batch % size == 0)


def _columns(x_padded, kernel, stride, dilation, out_size):
    """im2col: ``[N * OH * OW, kh * kw * C]``, the taps concatenated along the channel axis."""
    taps = _taps(x_padded, kernel, stride, dilation, out_size)
    return jnp.concatenate(taps, axis=-1).reshape(-1, len(taps) * x_padded.shape[3])


def _output_size(x_padded, kernel, stride, dilation):
    return tuple(
        (size - d * (k - 1) - 1) // s + 1
        for size, k, s, d in zip(x_padded.shape[1:3], kernel, stride, dilation)
    )


def _forward(x, w, stride, pads, dilation):
    """``out[n, y, x, o] = sum_{i, j, c} x_padded[n, s*y + d*i, s*x + d*j, c] * w[i, j, c, o]``."""
    kernel, out_channels = w.shape[:2], w.shape[3]
    x_padded = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    out_size = _output_size(x_padded, kernel, stride, dilation)
    weights = w.reshape(-1, out_channels)

    def chunk_out(x_chunk):
        columns = _columns(x_chunk, kernel, stride, dilation, out_size)
        return jnp.dot(columns, weights).reshape(x_chunk.shape[0], *out_size, out_channels)

    batch, width = x.shape[0], weights.shape[0]
    if width < _WHOLE_BATCH_MAX_COLUMNS:
        return chunk_out(x_padded)
    chunk = _batch_chunk(batch, out_size[0] * out_size[1] * width * x.dtype.itemsize)
    if chunk == batch:
        return chunk_out(x_padded)
    out = lax.map(chunk_out, x_padded.reshape(batch // chunk, chunk, *x_padded.shape[1:]))
    return out.reshape(batch, *out.shape[2:])


def _weight_grad(x, dy, kernel, stride, pads, dilation):
    """``dw[i, j, c, o] = sum_{n, y, x} x_padded[n, s*y + d*i, s*x + d*j, c] * dy[n, y, x, o]``."""
    batch, channels, out_channels = x.shape[0], x.shape[3], dy.shape[3]
    x_padded = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    out_size = dy.shape[1:3]

    def chunk_grad(x_chunk, dy_chunk):
        columns = _columns(x_chunk, kernel, stride, dilation, out_size)
        return jnp.dot(columns.T, dy_chunk.reshape(-1, out_channels))

    width = kernel[0] * kernel[1] * channels
    chunk = _batch_chunk(batch, out_size[0] * out_size[1] * width * x.dtype.itemsize)
    if chunk == batch:
        dw = chunk_grad(x_padded, dy)
    else:
        def accumulate(total, chunk_inputs):
            return total + chunk_grad(*chunk_inputs), None

        split = [a.reshape(batch // chunk, chunk, *a.shape[1:]) for a in (x_padded, dy)]
        dw, _ = lax.scan(accumulate, jnp.zeros((width, out_channels), x.dtype), tuple(split))
    return dw.reshape(*kernel, channels, out_channels)


def _input_grad_col2im(w, dy, x_shape, stride, pads, dilation):
    """``dx[n, h, w, c] = sum_{i, j, o} dy[n, y, x, o] * w[i, j, c, o]`` over the ``(y, x)`` with
    ``s*y + d*i - pad = h`` (and likewise along the width): the column gradient ``dy @ w^T`` as
    one GEMM, ``[N*OH*OW, kh*kw*C]``, then each tap's ``[N, OH, OW, C]`` block spread back onto
    the padded input (interior padding by ``stride - 1``) and summed."""
    (kh, kw), channels, out_channels = w.shape[:2], w.shape[2], w.shape[3]
    batch, oh, ow = dy.shape[:3]
    padded = (x_shape[1] + sum(pads[0]), x_shape[2] + sum(pads[1]))
    columns = jnp.dot(dy.reshape(-1, out_channels), w.reshape(-1, out_channels).T)
    columns = columns.reshape(batch, oh, ow, kh * kw, channels)
    (sh, sw), (dh, dw) = stride, dilation
    total = None
    for t in range(kh * kw):
        i, j = divmod(t, kw)
        low_h, low_w = i * dh, j * dw
        high_h = padded[0] - low_h - ((oh - 1) * sh + 1)
        high_w = padded[1] - low_w - ((ow - 1) * sw + 1)
        spread = lax.pad(
            columns[:, :, :, t, :], jnp.zeros((), dy.dtype),
            ((0, 0, 0), (low_h, high_h, sh - 1), (low_w, high_w, sw - 1), (0, 0, 0)),
        )
        total = spread if total is None else total + spread
    (ph, _), (pw, _) = pads
    return lax.slice(total, (0, ph, pw, 0), (batch, ph + x_shape[1], pw + x_shape[2], channels))


# Which lowering computes each piece is a platform choice: the lowering plan's thresholds (measured with
# benchmarks/conv_lowerings.py) and the switch that forces a piece's lowering live in
# rustorch._config, with the measurements behind them.


def _plan(x_shape, w_shape, out_size):
    """The lowering of each piece for an NHWC input of ``x_shape``, an HWIO weight of
    ``w_shape`` and ``out_size`` output positions: ``(forward, input_grad, weight_grad)``."""
    positions = out_size[0] * out_size[1]
    taps, channels = w_shape[0] * w_shape[1], x_shape[3]
    forward = "gemm" if positions <= _config.CONV_PLAN_SMALL_MAP_FORWARD else "xla"
    eigen = _config.EIGEN_CONVOLUTIONS
    small_input_grad = _config.CONV_PLAN_EIGEN_SMALL_MAP_INPUT_GRAD if eigen else _config.CONV_PLAN_SMALL_MAP_INPUT_GRAD
    input_grad = "col2im" if positions <= small_input_grad else "xla"
    xla_weight = eigen or positions >= _config.CONV_PLAN_XLA_WEIGHT_GRAD_MAP and (
        channels >= _config.CONV_PLAN_XLA_WEIGHT_GRAD_CHANNELS or taps >= _config.CONV_PLAN_XLA_WEIGHT_GRAD_TAPS)
    weight_grad = "xla" if xla_weight else "gemm"
    force = _config.CONV_LOWERING_FORCE
    return (force.get("forward", forward), force.get("input_grad", input_grad),
            force.get("weight_grad", weight_grad))


def _out_size(x_shape, kernel, stride, pads, dilation):
    return tuple(
        (size + sum(p) - d * (k - 1) - 1) // s + 1
        for size, k, s, p, d in zip(x_shape[1:3], kernel, stride, pads, dilation)
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_cpu(x, w, stride, pads, dilation):
    return _conv_cpu_fwd(x, w, stride, pads, dilation)[0]


def _conv_cpu_fwd(x, w, stride, pads, dilation):
    forward, _, _ = _plan(x.shape, w.shape, _out_size(x.shape, w.shape[:2], stride, pads, dilation))
    if forward == "gemm":
        out = _forward(x, w, stride, pads, dilation)
    else:
        out = _conv_nhwc(x, w, stride, pads, dilation)
    return out, (x, w)


def _conv_cpu_bwd(stride, pads, dilation, residuals, dy):
    x, w = residuals
    _, input_grad, weight_grad = _plan(x.shape, w.shape, dy.shape[1:3])
    if input_grad == "col2im":
        dx = _input_grad_col2im(w, dy, x.shape, stride, pads, dilation)
    else:
        (dx,) = jax.vjp(lambda a: _conv_nhwc(a, w, stride, pads, dilation), x)[1](dy)
    if weight_grad == "xla":
        (dw,) = jax.vjp(lambda b: _conv_nhwc(x, b, stride, pads, dilation), w)[1](dy)
    else:
        dw = _weight_grad(x, dy, w.shape[:2], stride, pads, dilation)
    return dx, dw


_conv_cpu.defvjp(_conv_cpu_fwd, _conv_cpu_bwd)


def _grouped_forward(x, weight, stride, pads, dilation, groups):
    """A grouped convolution (NHWC input, OIHW weight) on CPU, by autodiff-friendly pieces.

    XLA's CPU grouped convolution is slow, above all its weight gradient (measured on a 2-core
    CPU: [16, 128, 16, 16] with 32 groups, forward and backward 15.6 s against PyTorch's
    0.28 s). Two lowerings replace it:

    * depthwise (one input channel per group): the output is a sum over the kernel taps of
      the tap's shifted input view times the tap's per-channel weight, elementwise passes that
      XLA fuses ([32, 144, 16, 16]: forward 11 ms against XLA's 126-174 ms);
    * otherwise: im2col columns per group, ``[groups, N*OH*OW, kh*kw*C_in/groups]``, times the
      per-group weights as one batched GEMM (forward and backward 157 ms against 15.6 s).
    """
    kernel = weight.shape[2:]
    out_channels, in_per_group = weight.shape[0], weight.shape[1]
    x_padded = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    out_size = _output_size(x_padded, kernel, stride, dilation)
    taps = _taps(x_padded, kernel, stride, dilation, out_size)
    batch = x.shape[0]
    if in_per_group == 1:
        multiplier = out_channels // groups
        # out[..., c * multiplier + m] = sum_t tap_t[..., c] * weight[c * multiplier + m, 0, t]
        per_tap = weight.reshape(out_channels, -1).T
        out = None
        for tap, w in zip(taps, per_tap):
            if multiplier > 1:
                tap = jnp.repeat(tap, multiplier, axis=-1)
            term = tap * w
            out = term if out is None else out + term
        return out
    out_per_group = out_channels // groups
    rows = batch * out_size[0] * out_size[1]
    columns = jnp.stack(taps, axis=-2).reshape(rows, len(taps), groups, in_per_group)
    columns = jnp.transpose(columns, (2, 0, 1, 3)).reshape(groups, rows, len(taps) * in_per_group)
    # weight[g * og + o, c, i, j] -> [g, (i, j, c), o], matching the columns' (tap, channel) order.
    w = weight.reshape(groups, out_per_group, in_per_group, len(taps))
    w = jnp.transpose(w, (0, 3, 2, 1)).reshape(groups, len(taps) * in_per_group, out_per_group)
    out = lax.dot_general(columns, w, (((2,), (1,)), ((0,), (0,))))
    return jnp.transpose(out, (1, 0, 2)).reshape(batch, *out_size, out_channels)


def conv_cpu_nhwc(x, weight, stride, pads, dilation, groups=1):
    """The CPU lowering on a channels-last input: NHWC input, OIHW weight, NHWC output."""
    stride, pads, dilation = tuple(stride), tuple(tuple(p) for p in pads), tuple(dilation)
    if groups != 1:
        return _grouped_forward(x, weight, stride, pads, dilation, groups)
    return _conv_cpu(x, jnp.transpose(weight, (2, 3, 1, 0)), stride, pads, dilation)


def conv_cpu_nchw(x, weight, stride, pads, dilation, groups=1):
    """The CPU lowering on PyTorch's layouts: NCHW input, OIHW weight, NCHW output."""
    out = conv_cpu_nhwc(jnp.transpose(x, (0, 2, 3, 1)), weight, stride, pads, dilation, groups)
    return jnp.transpose(out, (0, 3, 1, 2))
