"""How a 2-D convolution is lowered to XLA, chosen per backend.

On GPU and TPU, XLA's own convolution (cuDNN and friends) is the fast path. On CPU, measured on
the plan's CNN (benchmarks/NOTES.md), XLA's convolution *weight gradient* is the slowest piece of
a training step, several times slower than the same arithmetic as one matrix product. The CPU
lowering therefore keeps XLA's convolution for the forward pass and the input gradient (both in
channels-last layout, which XLA's CPU convolution prefers) and computes the weight gradient with
matrix products over the ``kh * kw`` shifted views of the padded input: for a narrow input, the
views concatenated along the channel axis (im2col) times the output gradient in one GEMM; for a
wide one, one GEMM per view. The arithmetic is the same sum as PyTorch's, so results agree to
float32 rounding.
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


# Below this many input channels the weight gradient is one GEMM over im2col columns; from it
# on, one GEMM per tap. Measured on a 2-core CPU (benchmarks/NOTES.md): with 1 channel the
# single GEMM wins (b256: 10.9 ms against 42 ms), with 32 channels the XLA concatenation that
# builds the columns is slower than the product (b256: 133 ms against 58 ms per tap).
_IM2COL_MAX_CHANNELS = 8


def _weight_grad(x, dy, kernel, stride, pads, dilation):
    """``dw[i, j, c, o] = sum_{n, y, x} x_padded[n, s*y + d*i, s*x + d*j, c] * dy[n, y, x, o]``."""
    c, o = x.shape[3], dy.shape[3]
    x_padded = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    flat_dy = dy.reshape(-1, o)
    if c < _IM2COL_MAX_CHANNELS:
        columns = jnp.concatenate(_taps(x_padded, kernel, stride, dilation, dy.shape[1:3]), axis=-1)
        return jnp.dot(columns.reshape(-1, kernel[0] * kernel[1] * c).T, flat_dy).reshape(*kernel, c, o)
    # The barrier makes XLA write the padded channels-last input once; without it every tap's
    # slice recomputes the transpose from the caller's NCHW array (2.5-15 ms each).
    x_padded = lax.optimization_barrier(x_padded)
    taps = _taps(x_padded, kernel, stride, dilation, dy.shape[1:3])
    return jnp.stack([jnp.dot(tap.reshape(-1, c).T, flat_dy) for tap in taps]).reshape(*kernel, c, o)


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
