"""Channels-last execution of recorded image ops on CPU: the interpreter's layout pass.

Users see PyTorch's NCHW layout, and recording (shapes, errors) works on it. XLA's CPU
convolution, though, computes channels-last, so in an NCHW program every convolution sits
between two transposes, and batch norm and max pooling then walk NCHW arrays whose innermost
axis is a short image row. When the facade builds a CPU program, it therefore keeps a 4-D
activation channels-last (``[N, H, W, C]``) from the convolution that produces it through every
op with a channels-last form registered here (batch norm, max pooling, dropout, elementwise
activations and arithmetic), and transposes it back to NCHW only where an op without such a
form reads it (``flatten``, for instance) or where the value leaves the program. Values,
gradients and dropout masks are those of the NCHW ops (tests/facade/test_layout_pass.py);
measured on the MNIST CNN on a 2-core CPU, the facade's training step is 1.5-1.6x faster than
the same model's NCHW step (benchmarks/NOTES.md).

An op's rule receives the op's positional arguments, where a channels-last activation appears
as a :class:`ChannelsLast`, and its static keyword arguments; it returns the op's output(s),
possibly as ``ChannelsLast``, or ``NotImplemented`` to have the interpreter run the NCHW op.
Whether programs use the pass is a platform choice (``rustorch._config.use_channels_last_pass``:
CPU only, ``RUSTORCH_CHANNELS_LAST=0`` turns it off).
"""
from __future__ import annotations

import jax.numpy as jnp

from .. import functional as F


class ChannelsLast:
    """A ``[N, H, W, C]`` array standing for the NCHW value ``transpose(array, (0, 3, 1, 2))``."""

    __slots__ = ("array", "_nchw")

    def __init__(self, array):
        self.array = array
        self._nchw = None

    def nchw(self):
        """The NCHW value, transposed once however many ops read it."""
        if self._nchw is None:
            self._nchw = jnp.transpose(self.array, (0, 3, 1, 2))
        return self._nchw


_RULES: dict = {}


def register(op, rule) -> None:
    """Give ``op`` (a function the facade records) a channels-last form ``rule(args, static)``."""
    _RULES[op] = rule


def as_nchw(value):
    return value.nchw() if isinstance(value, ChannelsLast) else value


def as_nhwc(value):
    """The channels-last array of a 4-D activation, transposing an NCHW one."""
    if isinstance(value, ChannelsLast):
        return value.array
    return jnp.transpose(value, (0, 2, 3, 1))


def run(op, args, static):
    """``op(*args, **static)`` through its channels-last rule when it has one that applies."""
    rule = _RULES.get(op)
    if rule is not None:
        out = rule(args, static)
        if out is not NotImplemented:
            return out
    return op(*(as_nchw(a) for a in args), **static)


def _broadcast_nhwc(value):
    """An operand of an elementwise op next to a channels-last activation, channels-last: a
    scalar as it is; an NCHW array of at most 4 dimensions (broadcasting against ``[N, C, H, W]``,
    such as a residual branch or a ``[C, 1, 1]`` scale) padded to 4-D and transposed, which
    broadcasts against ``[N, H, W, C]`` exactly as it did against the NCHW value."""
    if isinstance(value, ChannelsLast):
        return value.array
    if jnp.ndim(value) == 0:
        return value
    value = jnp.reshape(value, (1,) * (4 - jnp.ndim(value)) + jnp.shape(value))
    return jnp.transpose(value, (0, 2, 3, 1))


def register_elementwise(op) -> None:
    """Register an op that acts elementwise (with broadcasting) on its array arguments: once
    one of them is a channels-last activation, it runs channels-last, the NCHW operands of at
    most 4 dimensions transposed to meet it (one transpose of that operand, instead of one of
    the activation and another before the next convolution)."""

    def rule(args, static):
        if not any(isinstance(a, ChannelsLast) for a in args) or any(
            not isinstance(a, ChannelsLast) and jnp.ndim(a) > 4 for a in args
        ):
            return NotImplemented
        return ChannelsLast(op(*(_broadcast_nhwc(a) for a in args), **static))

    register(op, rule)


def register_on_activation(op, produces_from_nchw=False, activation_outputs=1) -> None:
    """Register an op whose first argument is a 4-D activation and whose other arguments are
    not, and which takes a ``layout`` keyword (``'NCHW'`` by default): ``op(nhwc, *rest,
    **static, layout='NHWC')`` computes it channels-last and returns the channels-last array
    first (then any further outputs, such as batch statistics; the first
    ``activation_outputs`` of a tuple are channels-last, as max pooling's indices). With
    ``produces_from_nchw`` the op also takes an NCHW input channels-last (a convolution, whose
    CPU kernel transposes it anyway); otherwise the rule applies only to channels-last input.
    A call recorded with a layout of its own runs as recorded."""

    def rule(args, static):
        if static.get("layout", "NCHW") != "NCHW":
            return NotImplemented
        first, rest = args[0], [as_nchw(a) for a in args[1:]]
        if not isinstance(first, ChannelsLast):
            if not produces_from_nchw or jnp.ndim(first) != 4:
                return NotImplemented
        out = op(as_nhwc(first), *rest, **dict(static, layout="NHWC"))
        if isinstance(out, tuple):
            return (tuple(ChannelsLast(o) for o in out[:activation_outputs])
                    + tuple(out[activation_outputs:]))
        return ChannelsLast(out)

    register(op, rule)


register_on_activation(F.conv2d, produces_from_nchw=True)
register_on_activation(F.max_pool2d, activation_outputs=2)  # (values, indices) with return_indices
register_on_activation(F.max_pool2d_with_indices, activation_outputs=2)
for _op in (F.relu, F.leaky_relu, F.gelu, F.sigmoid, F.tanh, F.elu, F.silu, F.softplus, F.hardtanh,
            jnp.add, jnp.subtract, jnp.multiply, jnp.true_divide, jnp.negative):
    register_elementwise(_op)


def _pad_channels_last(args, static):
    """``F.pad`` of a channels-last activation: the same pads per axis, in NHWC order (any pad
    with ``'constant'``; the other modes when they pad height and width only, as
    ``ReflectionPad2d`` and ``ReplicationPad2d`` do)."""
    (x,), pad, mode = args, tuple(static["pad"]), static.get("mode", "constant")
    if not isinstance(x, ChannelsLast) or len(pad) > 8 or (mode != "constant" and len(pad) != 4):
        return NotImplemented
    pad = pad + (0,) * (8 - len(pad))
    pairs = {"W": pad[0:2], "H": pad[2:4], "C": pad[4:6], "N": pad[6:8]}  # torch's order: last axis first
    nhwc = pairs["C"] + pairs["W"] + pairs["H"] + pairs["N"]
    if mode != "constant":
        nhwc = nhwc[:6]  # height and width after a zero channel pad: a 3-axis pad, as torch allows
    return ChannelsLast(F.pad(x.array, **dict(static, pad=nhwc)))


register(F.pad, _pad_channels_last)
