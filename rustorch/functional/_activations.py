"""Elementwise activations and (log-)softmax with PyTorch's formulas and gradients.

Where PyTorch's backward differs from what autodiff of the plain formula would give (the
gradient of relu, hardtanh and elu at their kinks, overflow in the unused branch of a
``where``), the forward is written so that autodiff reproduces PyTorch's backward exactly.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ._conv import check_floating
from ._shape import wrap_dim


def _check_numeric(op: str, x) -> None:
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"{op}: expected a floating or integer input, got dtype {x.dtype}")


def relu(input):
    """``max(input, 0)``, ``torch.nn.functional.relu``.

    NaN propagates, and the gradient is ``grad * (input > 0)``, so it is 0 at exactly 0 as in
    PyTorch. Integer inputs are allowed, as in PyTorch.

    Raises ``TypeError`` for a non-numeric (e.g. bool) dtype.
    """
    _check_numeric("relu", input)
    return jax.nn.relu(input)


def leaky_relu(input, negative_slope=0.01):
    """``input if input > 0 else input * negative_slope``, ``torch.nn.functional.leaky_relu``.

    The gradient at exactly 0 is ``negative_slope``, as PyTorch's ``leaky_relu_backward``.
    ``negative_slope`` defaults to 0.01. Raises ``TypeError`` for a non-floating input.
    """
    check_floating("leaky_relu", "input", input)
    return jnp.where(input > 0, input, input * negative_slope)


_SQRT1_2 = 1.0 / math.sqrt(2.0)
_TANH_BETA = math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5  # sqrt(2/pi), as ATen spells it
_TANH_KAPPA = 0.044715


def gelu(input, approximate="none"):
    """Gaussian error linear unit, ``torch.nn.functional.gelu``.

    ``approximate='none'`` (default): ``x * 0.5 * (1 + erf(x / sqrt(2)))``.
    ``approximate='tanh'``: ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``.

    Raises ``ValueError`` for another ``approximate`` and ``TypeError`` for a non-floating input.
    """
    check_floating("gelu", "input", input)
    if approximate == "none":
        return input * 0.5 * (1.0 + jax.lax.erf(input * _SQRT1_2))
    if approximate == "tanh":
        inner = _TANH_BETA * (input + _TANH_KAPPA * input * input * input)
        return 0.5 * input * (1.0 + jnp.tanh(inner))
    raise ValueError(f"gelu: approximate argument must be either 'none' or 'tanh', got {approximate!r}")


def sigmoid(input):
    """``1 / (1 + exp(-input))``, ``torch.sigmoid``; gradient ``grad * y * (1 - y)``.

    Raises ``TypeError`` for a non-floating input (cast integers first).
    """
    check_floating("sigmoid", "input", input)
    return jax.nn.sigmoid(input)


def tanh(input):
    """Hyperbolic tangent, ``torch.tanh``; gradient ``grad * (1 - y^2)``.

    Raises ``TypeError`` for a non-floating input (cast integers first).
    """
    check_floating("tanh", "input", input)
    return jnp.tanh(input)


def _along_dim(fn, op, input, dim):
    check_floating(op, "input", input)
    axis = wrap_dim(op, "dim", dim, input.ndim)
    if input.ndim == 0:
        # PyTorch treats a scalar as a one-element vector here (softmax of a scalar is 1).
        return fn(input.reshape(1), axis=0).reshape(())
    return fn(input, axis=axis)


def softmax(input, dim):
    """``exp(x - max) / sum(exp(x - max))`` along ``dim``, ``torch.nn.functional.softmax``.

    ``dim`` is required (PyTorch's implicit-dim choice is deprecated); negative values count from
    the end and a 0-D input accepts 0 or -1. The gradient is ``y * (g - sum(g * y, dim))``.

    Raises ``IndexError`` for an out-of-range ``dim`` (as PyTorch), ``TypeError`` for a non-int
    ``dim`` or a non-floating input.
    """
    return _along_dim(jax.nn.softmax, "softmax", input, dim)


def log_softmax(input, dim):
    """``x - max - log(sum(exp(x - max)))`` along ``dim``, ``torch.nn.functional.log_softmax``.

    ``dim`` is required; see :func:`softmax` for its rules and the errors raised.
    """
    return _along_dim(jax.nn.log_softmax, "log_softmax", input, dim)


def elu(input, alpha=1.0):
    """``x if x > 0 else alpha * (exp(x) - 1)``, ``torch.nn.functional.elu`` (``alpha`` default 1.0).

    The gradient for ``x <= 0`` is ``alpha * exp(x)`` (so ``alpha`` at 0, as PyTorch). The
    exponential only sees non-positive values, so large inputs cannot overflow into a NaN
    gradient. Raises ``TypeError`` for a non-floating input.
    """
    check_floating("elu", "input", input)
    positive = input > 0
    negative_part = alpha * jnp.expm1(jnp.where(positive, jnp.zeros((), input.dtype), input))
    return jnp.where(positive, input, negative_part)


def silu(input):
    """``x * sigmoid(x)``, ``torch.nn.functional.silu``.

    Gradient ``s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``, finite for large ``|x|``.
    Raises ``TypeError`` for a non-floating input.
    """
    check_floating("silu", "input", input)
    return input * jax.nn.sigmoid(input)


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, or ``x`` where ``beta * x > threshold``,
    ``torch.nn.functional.softplus`` (defaults ``beta=1.0``, ``threshold=20.0``).

    The gradient is 1 above the threshold and ``sigmoid(beta * x)`` below it. The exponential
    never sees the values above the threshold, so they cannot overflow into a NaN gradient.
    Raises ``TypeError`` for a non-floating input.
    """
    check_floating("softplus", "input", input)
    scaled = input * beta
    linear_region = scaled > threshold
    safe = jnp.where(linear_region, jnp.zeros((), input.dtype), scaled)
    return jnp.where(linear_region, input, jnp.log1p(jnp.exp(safe)) / beta)


def hardtanh(input, min_val=-1.0, max_val=1.0):
    """``clamp(x, min_val, max_val)``, ``torch.nn.functional.hardtanh`` (defaults -1.0, 1.0).

    The gradient is ``grad`` strictly inside ``(min_val, max_val)`` and 0 on and outside the
    bounds, as PyTorch's ``hardtanh_backward``; NaN propagates.

    Raises ``ValueError`` if ``min_val > max_val`` and ``TypeError`` for a non-numeric input.
    """
    _check_numeric("hardtanh", input)
    if min_val > max_val:
        raise ValueError(
            f"hardtanh: min_val cannot be greater than max_val, got min_val={min_val} and max_val={max_val}"
        )
    low = jnp.asarray(min_val, input.dtype)
    high = jnp.asarray(max_val, input.dtype)
    return jnp.where(input <= low, low, jnp.where(input >= high, high, input))


def relu6(input):
    """``min(max(x, 0), 6)``, ``torch.nn.functional.relu6`` (``hardtanh(x, 0, 6)``: gradient 0 at
    both kinks, as PyTorch). Raises ``TypeError`` for a non-numeric input."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input):
    """``relu6(x + 3) / 6``, ``torch.nn.functional.hardsigmoid``; gradient ``1/6`` strictly
    inside ``(-3, 3)`` and 0 elsewhere (ATen's ``hardsigmoid_backward``).
    Raises ``TypeError`` for a non-floating input."""
    check_floating("hardsigmoid", "input", input)
    three = jnp.asarray(3.0, input.dtype)
    inside = (input > -three) & (input < three)
    outside = jnp.where(input >= three, jnp.ones((), input.dtype), jnp.zeros((), input.dtype))
    return jnp.where(inside, (input + three) / jnp.asarray(6.0, input.dtype), outside)


def hardswish(input):
    """``x * relu6(x + 3) / 6``, ``torch.nn.functional.hardswish``; gradient 0 up to -3,
    ``x/3 + 1/2`` strictly between -3 and 3, and 1 from 3 on (ATen's ``hardswish_backward``).
    Raises ``TypeError`` for a non-floating input."""
    check_floating("hardswish", "input", input)
    three = jnp.asarray(3.0, input.dtype)
    middle = input * (input + three) / jnp.asarray(6.0, input.dtype)
    return jnp.where(input <= -three, jnp.zeros((), input.dtype), jnp.where(input < three, middle, input))


def mish(input):
    """``x * tanh(softplus(x))``, ``torch.nn.functional.mish``. The softplus is the
    overflow-free ``log(1 + exp(x))``, so large inputs keep a finite gradient.
    Raises ``TypeError`` for a non-floating input."""
    check_floating("mish", "input", input)
    return input * jnp.tanh(jax.nn.softplus(input))


def prelu(input, weight):
    """``x if x > 0 else weight * x``, ``torch.nn.functional.prelu``, with one learnable slope or
    one per channel (``weight`` of ``C`` elements, broadcast along dimension 1; dimension 0 of
    a 1-D input).

    Raises:
      ValueError: ``weight`` not 1-D, or with a count other than 1 and the channel count.
      TypeError: non-floating input.
    """
    check_floating("prelu", "input", input)
    if weight.ndim != 1:
        raise ValueError(f"prelu: expected weight to be 1-D, got shape {tuple(weight.shape)}")
    count = weight.shape[0]
    if count != 1:
        channels = input.shape[1] if input.ndim >= 2 else (input.shape[0] if input.ndim == 1 else 1)
        if count != channels:
            raise ValueError(
                f"prelu: mismatch of parameter numbers and input channel size: weight has {count} "
                f"elements, input of shape {tuple(input.shape)} has {channels} channels; use "
                f"PReLU(num_parameters={channels}) or 1"
            )
        axis = 1 if input.ndim >= 2 else 0
        weight = weight.reshape((count,) + (1,) * (input.ndim - axis - 1))
    else:
        weight = weight.reshape(())
    return jnp.where(input > 0, input, weight * input)
