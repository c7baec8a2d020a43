"""Parameter initialisers with ``torch.nn.init``'s formulas, as pure functions of a PRNG key.

Shapes use PyTorch's layouts: ``[out, in]`` for linear weights and ``[out, in/groups, kH, kW]``
(OIHW) for convolution weights, so fans are computed exactly as
``torch.nn.init._calculate_fan_in_and_fan_out`` does (dim 1 is fan-in, dim 0 fan-out, both times
the receptive field ``prod(shape[2:])``). Bounds and standard deviations are computed in Python
double precision with torch's expressions, then rounded once to the requested dtype. The random
streams are JAX's (threefry), not torch's Mersenne twister: the same key gives the same values,
but not the values torch would draw.
"""
from __future__ import annotations

import math
import operator
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import pair

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def _check_shape(op: str, shape) -> tuple[int, ...]:
    """Normalise ``shape`` to a tuple of non-negative Python ints."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{op}: shape must be a tuple of ints, got {shape!r}")
    out = []
    for dim in shape:
        if isinstance(dim, bool):
            raise TypeError(f"{op}: shape must be a tuple of ints, got {tuple(shape)!r}")
        try:
            dim = operator.index(dim)
        except TypeError:
            raise TypeError(f"{op}: shape must be a tuple of ints, got {tuple(shape)!r}") from None
        if dim < 0:
            raise ValueError(f"{op}: shape entries must be >= 0, got {tuple(shape)!r}")
        out.append(dim)
    return tuple(out)


def _check_float_dtype(op: str, dtype):
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            f"{op}: dtype must be a floating-point dtype (float32, bfloat16, ...), got {dtype}"
        )
    return dtype


def _check_positive_int(op: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{op}: {name} must be a positive integer, got {value}")
    return int(value)


def fan_in_and_fan_out(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape``, as ``torch.nn.init._calculate_fan_in_and_fan_out``.

    ``fan_in = shape[1] * prod(shape[2:])`` and ``fan_out = shape[0] * prod(shape[2:])``, which
    is right for PyTorch's ``[out, in]`` linear and ``[out, in/groups, *kernel]`` conv layouts.

    Args:
        shape: the weight's shape (a tuple of ints).

    Raises:
        ValueError: for fewer than 2 dimensions (PyTorch's message: "Fan in and fan out can not
            be computed for tensor with fewer than 2 dimensions").
        TypeError: if ``shape`` is not a tuple of ints.
    """
    shape = _check_shape("fan_in_and_fan_out", shape)
    if len(shape) < 2:
        raise ValueError(
            "fan_in_and_fan_out: Fan in and fan out can not be computed for tensor with fewer "
            f"than 2 dimensions, got shape {shape}; initialise biases and other 1-D "
            "parameters with `uniform` and an explicit bound instead"
        )
    receptive_field_size = 1
    for s in shape[2:]:
        receptive_field_size *= s
    return shape[1] * receptive_field_size, shape[0] * receptive_field_size


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    """The recommended gain for ``nonlinearity``, as ``torch.nn.init.calculate_gain``.

    ``1`` for linear/conv*/conv_transpose*/sigmoid, ``5/3`` for tanh, ``sqrt(2)`` for relu,
    ``sqrt(2 / (1 + negative_slope**2))`` for leaky_relu (``param`` is the negative slope,
    default 0.01), ``3/4`` for selu.

    Args:
        nonlinearity: the ``nn.functional`` name of the non-linearity.
        param: the leaky_relu negative slope (an int or float; ignored otherwise).

    Raises:
        ValueError: for an unknown nonlinearity, or a leaky_relu ``param`` that is not an
            int or float (bools are rejected, as in torch).
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(
                f"calculate_gain: negative_slope {param} not a valid number; pass an int or a float"
            )
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: Unsupported nonlinearity {nonlinearity!r}; expected one of "
        f"{', '.join(_LINEAR_FNS)}, sigmoid, tanh, relu, leaky_relu, selu"
    )


def _correct_fan(op: str, shape: tuple[int, ...], mode: str) -> int:
    if not isinstance(mode, str):
        raise TypeError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(
            f"{op}: Mode {mode} not supported, please use one of ['fan_in', 'fan_out']"
        )
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


def _uniform(key, shape, low: float, high: float, dtype):
    # jax.random.uniform draws from [minval, maxval), the same half-open range as torch's
    # uniform_; the bounds are rounded once from Python doubles. The draw is flat because XLA
    # compiles JAX's (partitionable) threefry several times faster for a 1-D shape than for a
    # 4-D one, and every new weight shape compiles once.
    flat = jax.random.uniform(key, (math.prod(shape),), dtype=dtype, minval=low, maxval=high)
    return flat.reshape(shape)


def _normal(key, shape, std: float, dtype):
    # Flat for the same compile-time reason as _uniform.
    flat = jax.random.normal(key, (math.prod(shape),), dtype)
    return flat.reshape(shape) * jnp.asarray(std, dtype)


def uniform(key, shape: Sequence[int], low: float = 0.0, high: float = 1.0, dtype=jnp.float32):
    """Samples ``U(low, high)`` of ``shape``, as ``torch.nn.init.uniform_(t, a=low, b=high)``.

    Values lie in the half-open range ``[low, high)`` (after rounding the bounds to ``dtype``).

    Args:
        key: a JAX PRNG key.
        shape: the output shape (tuple of ints).
        low: lower bound (default 0.0).
        high: upper bound (default 1.0).
        dtype: a floating dtype (default float32).

    Raises:
        ValueError: if ``low > high`` (torch: ``"uniform_ expects to return a [from, to) range"``).
        TypeError: for a non-floating dtype or a malformed shape.
    """
    shape = _check_shape("uniform", shape)
    dtype = _check_float_dtype("uniform", dtype)
    low, high = float(low), float(high)
    if not low <= high:
        raise ValueError(
            f"uniform: expects to return a [low, high) range, but found low={low} > high={high}; "
            "swap the bounds"
        )
    return _uniform(key, shape, low, high, dtype)


def _kaiming_std(op: str, shape: tuple[int, ...], a, mode: str, nonlinearity: str) -> float:
    """He initialisation's standard deviation: ``calculate_gain(nonlinearity, a) / sqrt(fan)``."""
    fan = _correct_fan(op, shape, mode)  # mode errors first, as before the gain
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform(
    key,
    shape: Sequence[int],
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    dtype=jnp.float32,
):
    """He-uniform weights, as ``torch.nn.init.kaiming_uniform_``.

    Samples ``U(-bound, bound)`` with ``bound = sqrt(3) * calculate_gain(nonlinearity, a) /
    sqrt(fan)``, where ``fan`` is the fan-in or fan-out of ``shape`` (see
    :func:`fan_in_and_fan_out`). A zero-element shape gives an empty array, as torch's no-op.

    Args:
        key: a JAX PRNG key.
        shape: the weight shape in PyTorch layout (at least 2-D).
        a: leaky_relu negative slope (default 0.0).
        mode: ``'fan_in'`` (default) or ``'fan_out'`` (case-insensitive).
        nonlinearity: ``'leaky_relu'`` (default), ``'relu'``, or any name ``calculate_gain`` knows.
        dtype: a floating dtype (default float32).

    Raises:
        ValueError: for fewer than 2 dimensions, an unknown mode or nonlinearity.
        TypeError: for a non-floating dtype or a malformed shape.
    """
    shape = _check_shape("kaiming_uniform", shape)
    dtype = _check_float_dtype("kaiming_uniform", dtype)
    if 0 in shape:
        return jnp.zeros(shape, dtype)
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform", shape, a, mode, nonlinearity)
    return _uniform(key, shape, -bound, bound, dtype)


def kaiming_normal(
    key,
    shape: Sequence[int],
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    dtype=jnp.float32,
):
    """He-normal weights, as ``torch.nn.init.kaiming_normal_``.

    Samples ``N(0, std**2)`` with ``std = calculate_gain(nonlinearity, a) / sqrt(fan)`` (not
    truncated). Arguments and errors as :func:`kaiming_uniform`.
    """
    shape = _check_shape("kaiming_normal", shape)
    dtype = _check_float_dtype("kaiming_normal", dtype)
    if 0 in shape:
        return jnp.zeros(shape, dtype)
    return _normal(key, shape, _kaiming_std("kaiming_normal", shape, a, mode, nonlinearity), dtype)


def xavier_uniform(key, shape: Sequence[int], gain: float = 1.0, dtype=jnp.float32):
    """Glorot-uniform weights, as ``torch.nn.init.xavier_uniform_``.

    Samples ``U(-a, a)`` with ``a = sqrt(3) * gain * sqrt(2 / (fan_in + fan_out))``.

    Args:
        key: a JAX PRNG key.
        shape: the weight shape in PyTorch layout (at least 2-D).
        gain: scaling factor (default 1.0).
        dtype: a floating dtype (default float32).

    Raises:
        ValueError: for fewer than 2 dimensions, or a shape with ``fan_in + fan_out == 0``
            (torch divides by that sum and raises ``ZeroDivisionError``).
        TypeError: for a non-floating dtype or a malformed shape.
    """
    shape = _check_shape("xavier_uniform", shape)
    dtype = _check_float_dtype("xavier_uniform", dtype)
    std = gain * math.sqrt(2.0 / float(_xavier_fan_sum("xavier_uniform", shape)))
    a = math.sqrt(3.0) * std
    return _uniform(key, shape, -a, a, dtype)


def xavier_normal(key, shape: Sequence[int], gain: float = 1.0, dtype=jnp.float32):
    """Glorot-normal weights, as ``torch.nn.init.xavier_normal_``.

    Samples ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``. Arguments
    and errors as :func:`xavier_uniform`.
    """
    shape = _check_shape("xavier_normal", shape)
    dtype = _check_float_dtype("xavier_normal", dtype)
    std = gain * math.sqrt(2.0 / float(_xavier_fan_sum("xavier_normal", shape)))
    return _normal(key, shape, std, dtype)


def _xavier_fan_sum(op: str, shape: tuple[int, ...]) -> int:
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if fan_in + fan_out == 0:
        raise ValueError(f"{op}: cannot initialise a zero-element weight of shape {shape}")
    return fan_in + fan_out


def _layer_init(op: str, key, weight_shape: tuple[int, ...], bias: bool, dtype):
    """PyTorch's ``reset_parameters`` for Linear and Conv: kaiming_uniform(a=sqrt(5)) weight,
    ``U(±1/sqrt(fan_in))`` bias (zeros when ``fan_in == 0``)."""
    dtype = _check_float_dtype(op, dtype)
    if not isinstance(bias, bool):
        raise TypeError(f"{op}: bias must be True or False, got {bias!r}")
    w_key, b_key = jax.random.split(key)
    weight = kaiming_uniform(w_key, weight_shape, a=math.sqrt(5), dtype=dtype)
    if not bias:
        return weight, None
    fan_in, _ = fan_in_and_fan_out(weight_shape)
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return weight, _uniform(b_key, (weight_shape[0],), -bound, bound, dtype)


def linear_init(key, in_features: int, out_features: int, bias: bool = True, dtype=jnp.float32):
    """``(weight, bias)`` of ``torch.nn.Linear(in_features, out_features)``'s ``reset_parameters``.

    ``weight`` has shape ``[out_features, in_features]`` and is drawn from ``U(±1/sqrt(in_features))``
    (``kaiming_uniform_(a=sqrt(5))``); ``bias`` has shape ``[out_features]`` and is drawn from
    the same range, or is zeros when ``in_features == 0``. The weight and bias use independent
    subkeys of ``key``.

    Args:
        key: a JAX PRNG key.
        in_features: input size (>= 0).
        out_features: output size (>= 0).
        bias: whether to return a bias (default True); ``None`` is returned in its place if not.
        dtype: a floating dtype (default float32).

    Raises:
        TypeError: for non-int sizes, a non-bool ``bias`` or a non-floating dtype.
        ValueError: for negative sizes.
    """
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"linear_init: {name} must be an int, got {value!r}")
        if value < 0:
            raise ValueError(f"linear_init: {name} must be >= 0, got {value}")
    return _layer_init("linear_init", key, (int(out_features), int(in_features)), bias, dtype)


def conv2d_init(
    key,
    in_channels: int,
    out_channels: int,
    kernel_size,
    groups: int = 1,
    bias: bool = True,
    dtype=jnp.float32,
):
    """``(weight, bias)`` of ``torch.nn.Conv2d``'s ``reset_parameters``.

    ``weight`` has shape ``[out_channels, in_channels // groups, kH, kW]`` (OIHW) and is drawn
    from ``U(±1/sqrt(fan_in))`` with ``fan_in = (in_channels // groups) * kH * kW``
    (``kaiming_uniform_(a=sqrt(5))``); ``bias`` has shape ``[out_channels]`` and is drawn from
    the same range. The weight and bias use independent subkeys of ``key``.

    Args:
        key: a JAX PRNG key.
        in_channels: input channels (positive, divisible by ``groups``).
        out_channels: output channels (positive, divisible by ``groups``).
        kernel_size: an int or a pair ``(kH, kW)``.
        groups: number of blocked connections (default 1).
        bias: whether to return a bias (default True); ``None`` is returned in its place if not.
        dtype: a floating dtype (default float32).

    Raises:
        ValueError: for ``groups <= 0`` or channels not divisible by ``groups`` (torch's
            messages), or non-positive sizes.
        TypeError: for non-int arguments, a non-bool ``bias`` or a non-floating dtype.
    """
    op = "conv2d_init"
    in_channels = _check_positive_int(op, "in_channels", in_channels)
    out_channels = _check_positive_int(op, "out_channels", out_channels)
    kh, kw = pair(op, "kernel_size", kernel_size)
    if kh <= 0 or kw <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got {(kh, kw)}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups <= 0:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups}")
    if in_channels % groups != 0:
        raise ValueError(
            f"{op}: in_channels must be divisible by groups, got in_channels={in_channels}, "
            f"groups={groups}"
        )
    if out_channels % groups != 0:
        raise ValueError(
            f"{op}: out_channels must be divisible by groups, got out_channels={out_channels}, "
            f"groups={groups}"
        )
    return _layer_init(op, key, (out_channels, in_channels // int(groups), kh, kw), bias, dtype)
