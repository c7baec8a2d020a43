"""How a 2-D convolution is lowered to XLA, chosen per backend.

On GPU and TPU, XLA's own convolution (cuDNN and friends) is the fast path. On CPU, measured on
the plan's CNN (benchmarks/NOTES.md), XLA's convolution *weight gradient* is the slowest piece of
a training step, several times slower than the same arithmetic as one matrix product. The CPU
lowering therefore keeps XLA's convolution for the forward pass and the input gradient (both in
channels-last layout, which XLA's CPU convolution prefers) and computes the weight gradient as
``im2col(x)^T @ dy``, the ``kh * kw`` shifted views of the padded input concatenated along the
channel axis times the output gradient, one cache-sized chunk of the batch at a time. The
arithmetic is the same sum as PyTorch's, in another order, so results agree to float32
rounding.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

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


# The weight gradient reads every input and output-gradient element kh * kw times. On a CPU
# whose memory is slow next to its arithmetic (this project's 2-core VM streams ~5 GB/s), one
# GEMM per kernel tap over the whole batch re-streams the output gradient from memory for every
# tap, and one im2col GEMM writes and reads back a kh*kw times larger copy of the input. Both
# spend most of their time waiting for memory. Instead, a scan walks the batch in chunks of
# images whose im2col columns fill about this many bytes, so that building the columns and the
# GEMM that consumes them stay within the core's cache.
_CHUNK_BYTES = 1 << 20


def _weight_grad(x, dy, kernel, stride, pads, dilation):
    """``dw[i, j, c, o] = sum_{n, y, x} x_padded[n, s*y + d*i, s*x + d*j, c] * dy[n, y, x, o]``."""
    batch, channels, out_channels = x.shape[0], x.shape[3], dy.shape[3]
    x_padded = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    out_size = dy.shape[1:3]
    width = kernel[0] * kernel[1] * channels

    def chunk_grad(x_chunk, dy_chunk):
        columns = jnp.concatenate(_taps(x_chunk, kernel, stride, dilation, out_size), axis=-1)
        return jnp.dot(columns.reshape(-1, width).T, dy_chunk.reshape(-1, out_channels))

    per_image = out_size[0] * out_size[1] * width * x.dtype.itemsize
    chunk = max(1, min(batch, _CHUNK_BYTES // max(per_image, 1)))
    full = batch // chunk
    if full <= 1:
        dw = chunk_grad(x_padded, dy)
    else:
        def accumulate(total, chunk_inputs):
            return total + chunk_grad(*chunk_inputs), None

        dw, _ = lax.scan(
            accumulate,
            jnp.zeros((width, out_channels), x.dtype),
            (
                x_padded[: full * chunk].reshape(full, chunk, *x_padded.shape[1:]),
                dy[: full * chunk].reshape(full, chunk, *dy.shape[1:]),
            ),
        )
    if full * chunk < batch and full > 0:
        dw = dw + chunk_grad(x_padded[full * chunk:], dy[full * chunk:])
    return dw.reshape(*kernel, channels, out_channels)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_cpu(x, w, stride, pads, dilation):
    return _conv_nhwc(x, w, stride, pads, dilation)


def _conv_cpu_fwd(x, w, stride, pads, dilation):
    return _conv_nhwc(x, w, stride, pads, dilation), (x, w)


def _conv_cpu_bwd(stride, pads, dilation, residuals, dy):
    x, w = residuals
    _, input_vjp = jax.vjp(lambda a: _conv_nhwc(a, w, stride, pads, dilation), x)
    (dx,) = input_vjp(dy)
    return dx, _weight_grad(x, dy, w.shape[:2], stride, pads, dilation)


_conv_cpu.defvjp(_conv_cpu_fwd, _conv_cpu_bwd)


def use_cpu_lowering(groups: int) -> bool:
    """Whether :func:`conv_cpu_nchw` applies: CPU backend, ungrouped convolution."""
    return groups == 1 and jax.default_backend() == "cpu"


def conv_cpu_nhwc(x, weight, stride, pads, dilation):
    """The CPU lowering on a channels-last input: NHWC input, OIHW weight, NHWC output."""
    return _conv_cpu(
        x, jnp.transpose(weight, (2, 3, 1, 0)),
        tuple(stride), tuple(tuple(p) for p in pads), tuple(dilation),
    )


def conv_cpu_nchw(x, weight, stride, pads, dilation):
    """The CPU lowering on PyTorch's layouts: NCHW input, OIHW weight, NCHW output."""
    out = conv_cpu_nhwc(jnp.transpose(x, (0, 2, 3, 1)), weight, stride, pads, dilation)
    return jnp.transpose(out, (0, 3, 1, 2))
