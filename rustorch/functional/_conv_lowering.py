"""How a 2-D convolution is lowered to XLA, chosen per backend.

On GPU and TPU, XLA's own convolution (cuDNN and friends) is the fast path. On CPU, measured on
the plan's CNN (benchmarks/NOTES.md), XLA's convolution *weight gradient* is the slowest piece of
a training step, several times slower than the same arithmetic as one matrix product. The CPU
lowering therefore keeps XLA's convolution for the forward pass and the input gradient (both in
channels-last layout, which XLA's CPU convolution prefers) and computes the weight gradient as
``im2col(x)^T @ dy``: the ``kh * kw`` shifted views of the padded input concatenated along the
channel axis, multiplied by the output gradient in one GEMM. The arithmetic is the same sum as
PyTorch's, so results agree to float32 rounding.
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


def _im2col(x_padded, kernel, stride, dilation, out_size):
    """``[N, OH, OW, kh*kw*C]``: tap ``(i, j)`` of every output position, taps outermost."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_size
    taps = []
    for i in range(kh):
        for j in range(kw):
            taps.append(lax.slice(
                x_padded,
                (0, i * dh, j * dw, 0),
                (x_padded.shape[0], i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, x_padded.shape[3]),
                (1, sh, sw, 1),
            ))
    return jnp.concatenate(taps, axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_cpu(x, w, stride, pads, dilation):
    return _conv_nhwc(x, w, stride, pads, dilation)


def _conv_cpu_fwd(x, w, stride, pads, dilation):
    return _conv_nhwc(x, w, stride, pads, dilation), (x, w)


def _conv_cpu_bwd(stride, pads, dilation, residuals, dy):
    x, w = residuals
    kh, kw, c, o = w.shape
    _, input_vjp = jax.vjp(lambda a: _conv_nhwc(a, w, stride, pads, dilation), x)
    (dx,) = input_vjp(dy)
    x_padded = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    columns = _im2col(x_padded, (kh, kw), stride, dilation, dy.shape[1:3])
    dw = jnp.dot(columns.reshape(-1, kh * kw * c).T, dy.reshape(-1, o))
    return dx, dw.reshape(kh, kw, c, o)


_conv_cpu.defvjp(_conv_cpu_fwd, _conv_cpu_bwd)


def use_cpu_lowering(groups: int) -> bool:
    """Whether :func:`conv_cpu_nchw` applies: CPU backend, ungrouped convolution."""
    return groups == 1 and jax.default_backend() == "cpu"


def conv_cpu_nchw(x, weight, stride, pads, dilation):
    """The CPU lowering on PyTorch's layouts: NCHW input, OIHW weight, NCHW output."""
    out = _conv_cpu(
        jnp.transpose(x, (0, 2, 3, 1)), jnp.transpose(weight, (2, 3, 1, 0)),
        tuple(stride), tuple(tuple(p) for p in pads), tuple(dilation),
    )
    return jnp.transpose(out, (0, 3, 1, 2))
