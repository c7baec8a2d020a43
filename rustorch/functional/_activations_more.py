"""More of PyTorch's activations: CELU, SELU, GLU, the shrink functions, softsign, log-sigmoid,
softmin, threshold, randomized leaky ReLU and alpha dropout.

Each is written so that autodiff gives PyTorch's backward, including at the kinks: the shrink
functions and ``threshold`` have gradient 0 on their boundary (``|x| == lambd``,
``x == threshold``), as ATen's ``hardshrink_backward``, ``softshrink_backward`` and
``threshold_backward`` do. The random ones (``rrelu`` in training, the alpha dropouts) take an
explicit ``jax.random`` key.
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp

from ._activations import _check_numeric, softmax
from ._checks import check_probability
from ._conv import check_floating
from ._dropout import _keep_mask
from ._shape import wrap_dim

# torch.nn.functional.selu's constants (Klambauer et al., "Self-Normalizing Neural Networks").
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
# The SELU fixed point AlphaDropout keeps: -SELU_SCALE * SELU_ALPHA.
_ALPHA_DROPOUT_ALPHA = 1.7580993408473766


def _scalar(value, dtype):
    return jnp.asarray(value, dtype)


def _exp_linear(input, alpha, scale, input_scale):
    """ATen's ``elu(x, alpha, scale, input_scale)``: ``scale * x`` for ``x > 0``, else
    ``alpha * scale * (exp(x * input_scale) - 1)``. The exponential sees only the non-positive
    values, so large inputs cannot overflow into a NaN gradient."""
    dtype = input.dtype
    positive = input > 0
    safe = jnp.where(positive, jnp.zeros((), dtype), input)
    negative = _scalar(alpha * scale, dtype) * jnp.expm1(safe * _scalar(input_scale, dtype))
    return jnp.where(positive, input * _scalar(scale, dtype), negative)


def celu(input, alpha: float = 1.0):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``, ``torch.nn.functional.celu``
    (``alpha`` default 1.0). The gradient for ``x <= 0`` is ``exp(x / alpha)``.

    Raises:
      RuntimeError: ``alpha == 0`` ("ZeroDivisionError: alpha cannot be 0 for CELU"), as PyTorch.
      TypeError: a non-floating input.
    """
    check_floating("celu", "input", input)
    if alpha == 0:
        raise RuntimeError("celu: ZeroDivisionError: alpha cannot be 0 for CELU; use a non-zero alpha")
    return _exp_linear(input, alpha, 1.0, 1.0 / alpha)


def selu(input):
    """``scale * (max(0, x) + min(0, alpha * (exp(x) - 1)))`` with ``alpha = 1.6732632...`` and
    ``scale = 1.0507009...``, ``torch.nn.functional.selu``. Raises ``TypeError`` for a
    non-floating input."""
    check_floating("selu", "input", input)
    return _exp_linear(input, SELU_ALPHA, SELU_SCALE, 1.0)


def glu(input, dim: int = -1):
    """Gated linear unit, ``torch.nn.functional.glu``: ``a * sigmoid(b)`` where ``a`` and ``b``
    are the first and second halves of ``input`` along ``dim`` (default -1).

    Raises:
      RuntimeError: a 0-D input, or an odd size along ``dim`` ("Halving dimension must be even").
      IndexError: ``dim`` out of range.
      TypeError: a non-floating input.
    """
    check_floating("glu", "input", input)
    if input.ndim == 0:
        raise RuntimeError("glu: glu does not support scalars because halving size must be even")
    axis = wrap_dim("glu", "dim", dim, input.ndim)
    size = input.shape[axis]
    if size % 2:
        raise RuntimeError(
            f"glu: Halving dimension must be even, but dimension {axis} is size {size} "
            f"(input of shape {tuple(input.shape)})")
    first, second = jnp.split(input, 2, axis=axis)
    return first * jax.nn.sigmoid(second)


def hardshrink(input, lambd: float = 0.5):
    """``x if |x| > lambd else 0``, ``torch.nn.functional.hardshrink`` (``lambd`` default 0.5);
    the gradient is 0 for ``|x| <= lambd``. Raises ``TypeError`` for a non-floating input."""
    check_floating("hardshrink", "input", input)
    lam = _scalar(lambd, input.dtype)
    return jnp.where((input >= -lam) & (input <= lam), jnp.zeros((), input.dtype), input)


def softshrink(input, lambd: float = 0.5):
    """``x - lambd`` if ``x > lambd``, ``x + lambd`` if ``x < -lambd``, else 0,
    ``torch.nn.functional.softshrink`` (``lambd`` default 0.5); the gradient is 0 for
    ``|x| <= lambd``.

    Raises ``RuntimeError`` for a negative ``lambd`` (as PyTorch) and ``TypeError`` for a non-floating input.
    """
    check_floating("softshrink", "input", input)
    if not lambd >= 0:
        raise RuntimeError(f"softshrink: lambda must be greater or equal to 0, but found to be {lambd}")
    lam = _scalar(lambd, input.dtype)
    shrunk = jnp.where(input > lam, input - lam, input + lam)
    return jnp.where((input >= -lam) & (input <= lam), jnp.zeros((), input.dtype), shrunk)


def softsign(input):
    """``x / (1 + |x|)``, ``torch.nn.functional.softsign``. Raises ``TypeError`` for a
    non-floating input."""
    check_floating("softsign", "input", input)
    return input / (jnp.abs(input) + jnp.ones((), input.dtype))


def tanhshrink(input):
    """``x - tanh(x)``, ``torch.nn.functional.tanhshrink``. Raises ``TypeError`` for a
    non-floating input."""
    check_floating("tanhshrink", "input", input)
    return input - jnp.tanh(input)


def logsigmoid(input):
    """``log(1 / (1 + exp(-x)))`` computed as ``min(x, 0) - log1p(exp(-|x|))``,
    ``torch.nn.functional.logsigmoid``; finite for large ``|x|``. Raises ``TypeError`` for a
    non-floating input."""
    check_floating("logsigmoid", "input", input)
    return jax.nn.log_sigmoid(input)


def _implicit_softmax_dim(op: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include "
                  "dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    """``softmax(-x, dim)``, ``torch.nn.functional.softmin``. ``dtype`` casts the input first.
    Without ``dim`` PyTorch's deprecated choice is made (0 for 0-, 1- and 3-D input, else 1)
    with its warning.

    Raises ``IndexError`` for an out-of-range ``dim`` and ``TypeError`` for a non-floating input.
    """
    if dtype is not None:
        input = input.astype(dtype)
    if dim is None:
        dim = _implicit_softmax_dim("softmin", input.ndim, _stacklevel)
    check_floating("softmin", "input", input)
    return softmax(-input, dim)


def softmax2d(input):
    """``softmax`` over the channels of ``[N, C, H, W]`` or ``[C, H, W]`` input (dim -3), as
    ``torch.nn.Softmax2d``. Raises ``ValueError`` for another rank."""
    if input.ndim not in (3, 4):
        raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
    return softmax(input, -3)


def threshold(input, threshold: float, value: float):
    """``x if x > threshold else value``, ``torch.nn.functional.threshold``; the gradient is 0
    for ``x <= threshold``. Raises ``TypeError`` for a non-numeric input."""
    _check_numeric("threshold", input)
    limit = _scalar(threshold, input.dtype)
    return jnp.where(input > limit, input, _scalar(value, input.dtype))


def _check_rrelu_bounds(lower, upper):
    if lower > upper:
        raise RuntimeError(
            f"rrelu: Lower bound should be less than or equal to the upper bound, got lower={lower} "
            f"and upper={upper}")


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, *, key=None):
    """Randomized leaky ReLU, ``torch.nn.functional.rrelu``: ``x`` for ``x > 0``, else ``a * x``.

    In training each element draws its slope ``a ~ U(lower, upper)`` from ``key`` (the
    gradient for ``x <= 0`` is that slope); otherwise ``a = (lower + upper) / 2`` for every
    element, as ``leaky_relu``.

    Raises:
      RuntimeError: ``lower > upper`` (as PyTorch).
      ValueError: ``key`` None in training.
      TypeError: a non-floating input.
    """
    check_floating("rrelu", "input", input)
    _check_rrelu_bounds(lower, upper)
    if not training:
        slope = _scalar((lower + upper) / 2, input.dtype)
        return jnp.where(input > 0, input, input * slope)
    if key is None:
        raise ValueError("rrelu: a PRNG key is required with training=True; pass key=jax.random.key(seed)")
    slopes = jax.random.uniform(key, input.shape, input.dtype, minval=lower, maxval=upper)
    return jnp.where(input > 0, input, input * slopes)


def _alpha_dropout(op, input, p, training, key, feature):
    check_probability(op, p)
    check_floating(op, "input", input)
    if feature and input.ndim < 2:
        raise RuntimeError(f"{op}: Feature dropout requires at least 2 dimensions in the input, got shape "
                         f"{tuple(input.shape)}")
    if not training or p == 0 or input.size == 0:
        return input
    if p == 1:
        return input * jnp.zeros((), input.dtype)
    if key is None:
        raise ValueError(f"{op}: a PRNG key is required in training mode with p > 0")
    shape = input.shape[:2] + (1,) * (input.ndim - 2) if feature else input.shape
    keep = _keep_mask(key, 1.0 - p, shape).astype(input.dtype)
    # ATen's _dropout_impl: a = 1/sqrt((alpha^2 p + 1)(1 - p)), b = (noise - 1) alpha a + alpha a p.
    a = 1.0 / ((_ALPHA_DROPOUT_ALPHA ** 2 * p + 1) * (1 - p)) ** 0.5
    dtype = input.dtype
    b = (keep - jnp.ones((), dtype)) * _scalar(_ALPHA_DROPOUT_ALPHA * a, dtype) \
        + _scalar(_ALPHA_DROPOUT_ALPHA * a * p, dtype)
    return input * (keep * _scalar(a, dtype)) + b


def alpha_dropout(input, p: float = 0.5, training: bool = False, *, key=None):
    """Dropout that keeps SELU's self-normalisation, ``torch.nn.functional.alpha_dropout``: each
    element is dropped with probability ``p`` to SELU's saturation value, then all are affinely
    rescaled to keep mean 0 and variance 1: kept ``x * a + alpha a p``, dropped
    ``-alpha a + alpha a p`` with ``alpha = 1.7580993...`` and
    ``a = 1 / sqrt((alpha^2 p + 1)(1 - p))``. The identity unless ``training`` (default False,
    as PyTorch's functional form); ``p == 1`` gives zeros.

    Raises ``ValueError`` for ``p`` outside [0, 1] or a missing key, ``TypeError`` for a
    non-floating input.
    """
    return _alpha_dropout("alpha_dropout", input, p, training, key, feature=False)


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, *, key=None):
    """:func:`alpha_dropout` of whole channels, ``torch.nn.functional.feature_alpha_dropout``: one
    draw per index of the first two dimensions (``[N, C]``), shared over the rest.

    Raises ``RuntimeError`` also for an input of fewer than 2 dimensions, as PyTorch."""
    return _alpha_dropout("feature_alpha_dropout", input, p, training, key, feature=True)
