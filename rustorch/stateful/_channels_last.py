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
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp

from .. import functional as F

ENV_SWITCH = "RUSTORCH_CHANNELS_LAST"


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


def enabled() -> bool:
    """Whether programs built now use the layout pass: on the CPU backend, unless
    ``RUSTORCH_CHANNELS_LAST=0``. GPUs keep NCHW, which their convolutions handle natively."""
    return os.environ.get(ENV_SWITCH, "1") != "0" and jax.default_backend() == "cpu"


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


def _is_scalar(value) -> bool:
    return not isinstance(value, ChannelsLast) and jnp.ndim(value) == 0


def register_elementwise(op) -> None:
    """Register an op that acts elementwise on its array arguments (broadcasting only scalars):
    it runs on channels-last arrays as they are."""

    def rule(args, static):
        activations = [a for a in args if isinstance(a, ChannelsLast)]
        if not activations or not all(
            isinstance(a, ChannelsLast) and a.array.shape == activations[0].array.shape
            or _is_scalar(a)
            for a in args
        ):
            return NotImplemented
        return ChannelsLast(op(*(a.array if isinstance(a, ChannelsLast) else a for a in args), **static))

    register(op, rule)


def register_on_activation(op, channels_last_op, produces_from_nchw=False) -> None:
    """Register an op whose first argument is a 4-D activation and whose other arguments are
    not: ``channels_last_op(nhwc, *rest, **static)`` computes it channels-last and returns the
    channels-last array first (then any further outputs, such as batch statistics). With
    ``produces_from_nchw`` the op also takes an NCHW input channels-last (a convolution, whose
    CPU kernel transposes it anyway); otherwise the rule applies only to channels-last input."""

    def rule(args, static):
        first, rest = args[0], [as_nchw(a) for a in args[1:]]
        if not isinstance(first, ChannelsLast):
            if not produces_from_nchw or jnp.ndim(first) != 4:
                return NotImplemented
        out = channels_last_op(as_nhwc(first), *rest, **static)
        if isinstance(out, tuple):
            return (ChannelsLast(out[0]),) + tuple(out[1:])
        return ChannelsLast(out)

    register(op, rule)


register_on_activation(F.conv2d, F.conv2d_channels_last, produces_from_nchw=True)
register_on_activation(F.max_pool2d, F.max_pool2d_channels_last)
for _op in (F.relu, F.leaky_relu, F.gelu, F.sigmoid, F.tanh, F.elu, F.silu, F.softplus, F.hardtanh,
            jnp.add, jnp.subtract, jnp.multiply, jnp.true_divide, jnp.negative):
    register_elementwise(_op)
