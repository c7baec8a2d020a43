"""``rustorch.nn.init``: PyTorch's in-place initialisers for parameters and tensors.

Each function computes a new value with ``torch.nn.init``'s formula (fans, gains, bounds in
Python double precision, as PyTorch), writes it into the tensor in place (the Parameter keeps
its identity, so optimizers that hold it see the new value) and returns the tensor. Samples are
drawn on the host from the default generator (:func:`rustorch.manual_seed`) or ``generator``:
the same seed gives the same values on every run, but not the values PyTorch's generator would
draw. Values keep the tensor's dtype and device.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .. import _device
from ..functional import _init as _F
from ..stateful import _random
from ..stateful._variable import Variable

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
    "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_", "uniform", "normal", "constant", "xavier_uniform", "xavier_normal", "kaiming_uniform",
    "kaiming_normal", "orthogonal", "sparse",
]


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for ``nonlinearity``, as ``torch.nn.init.calculate_gain``:
    1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu,
    ``sqrt(2 / (1 + negative_slope^2))`` for leaky_relu, 3/4 for selu.

    Raises:
        ValueError: an unknown nonlinearity or a bad leaky_relu slope.
    """
    return _F.calculate_gain(nonlinearity, param)


def _calculate_fan_in_and_fan_out(tensor) -> tuple:
    """``(fan_in, fan_out)``: ``shape[1] * receptive`` and ``shape[0] * receptive`` with
    ``receptive = prod(shape[2:])``, as PyTorch's private helper of the same name.

    Raises:
        ValueError: a tensor with fewer than 2 dimensions.
    """
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    return _F.fan_in_and_fan_out(tuple(tensor.shape))


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check_tensor(op: str, tensor) -> None:
    if not isinstance(tensor, Variable):
        raise TypeError(f"nn.init.{op}: expected a rustorch tensor, got {type(tensor).__name__}")


def _host_rng(generator) -> np.random.Generator:
    return (generator or _random.default_generator).numpy_generator()


def _write(tensor, values) -> Variable:
    """Assign ``values`` (a numpy array of the tensor's shape) in place; returns the tensor."""
    array = jnp.asarray(np.asarray(values).astype(np.dtype(tensor.dtype)) if np.dtype(tensor.dtype) != jnp.bfloat16
                        else jnp.asarray(np.asarray(values, np.float32)).astype(tensor.dtype))
    target = tensor._value if tensor._value is not None else None
    device = _device.device_of_array(target) if target is not None else tensor.device
    tensor._assign(_device.place(array, device))
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Variable:
    """Fill with samples of ``U(a, b)``."""
    _check_tensor("uniform_", tensor)
    return _write(tensor, _host_rng(generator).uniform(a, b, size=tuple(tensor.shape)))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Variable:
    """Fill with samples of ``N(mean, std^2)``."""
    _check_tensor("normal_", tensor)
    return _write(tensor, _host_rng(generator).normal(mean, std, size=tuple(tensor.shape)))


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None) -> Variable:
    """Fill with samples of ``N(mean, std^2)`` conditioned on ``[a, b]`` (absolute bounds, as
    PyTorch): by rejection, or by inverting the CDF when ``[a, b]`` holds under 0.1% of the mass.

    Raises:
        ValueError: ``a > b`` or a non-positive ``std``.
    """
    _check_tensor("trunc_normal_", tensor)
    if not a <= b:
        raise ValueError(f"trunc_normal_: expected a <= b, got a={a}, b={b}")
    if std <= 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)

    def norm_cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    low, high = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
    rng = _host_rng(generator)
    shape = tuple(tensor.shape)
    if high - low >= 1e-3:
        # Rejection: redraw the samples that fall outside [a, b] (exactly the truncated law).
        values = rng.normal(mean, std, size=shape)
        outside = (values < a) | (values > b)
        while outside.any():
            values[outside] = rng.normal(mean, std, size=int(outside.sum()))
            outside = (values < a) | (values > b)
    else:
        # A sliver of probability mass: invert the CDF (PyTorch's method) instead.
        u = rng.uniform(2 * low - 1, 2 * high - 1, size=shape)
        z = np.asarray(jax.scipy.special.erfinv(jnp.asarray(u, jnp.float32)), np.float64)
        values = np.clip(mean + std * math.sqrt(2.0) * z, a, b)
    return _write(tensor, values)


def constant_(tensor, val: float) -> Variable:
    """Fill with ``val``."""
    _check_tensor("constant_", tensor)
    return _write(tensor, np.full(tuple(tensor.shape), val))


def ones_(tensor) -> Variable:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor) -> Variable:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def eye_(tensor) -> Variable:
    """The identity matrix (a 2-D tensor only).

    Raises:
        ValueError: not 2-D.
    """
    _check_tensor("eye_", tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(tensor, np.eye(*tensor.shape))


def dirac_(tensor, groups: int = 1) -> Variable:
    """The Dirac delta for 3-, 4- or 5-D convolution weights: each output channel of each
    group copies the matching input channel (the identity convolution).

    Raises:
        ValueError: other ranks, or ``out_channels`` not divisible by ``groups``.
    """
    _check_tensor("dirac_", tensor)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    min_dim = min(out_per_group, sizes[1])
    values = np.zeros(sizes)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min_dim):
            values[(g * out_per_group + d, d) + centre] = 1
    return _write(tensor, values)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None) -> Variable:
    """``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None) -> Variable:
    """``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))`` (Glorot)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None) -> Variable:
    """``U(-bound, bound)`` with ``bound = gain * sqrt(3 / fan)`` (He), ``gain`` from
    :func:`calculate_gain(nonlinearity, a)`; ``mode`` picks fan_in or fan_out. A tensor with a
    zero dimension is left as it is, as PyTorch (with its warning)."""
    _check_tensor("kaiming_uniform_", tensor)
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * (gain / math.sqrt(fan))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None) -> Variable:
    """``N(0, std^2)`` with ``std = gain / sqrt(fan)`` (He)."""
    _check_tensor("kaiming_normal_", tensor)
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain: float = 1.0, generator=None) -> Variable:
    """A (semi-)orthogonal matrix times ``gain`` (dims after the first are flattened), from
    the QR decomposition of a normal sample with the signs of ``diag(R)`` folded in, as
    PyTorch's (Saxe et al. 2013).

    Raises:
        ValueError: fewer than 2 dimensions.
    """
    _check_tensor("orthogonal_", tensor)
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flattened = _host_rng(generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flattened = flattened.T
    q, r = np.linalg.qr(flattened)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, gain * q.reshape(tuple(tensor.shape)))


def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None) -> Variable:
    """A 2-D tensor with ``ceil(sparsity * rows)`` zeros in each column, the other entries
    from ``N(0, std^2)`` (Martens 2010).

    Raises:
        ValueError: not 2-D.
    """
    _check_tensor("sparse_", tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    rng = _host_rng(generator)
    values = rng.normal(0.0, std, size=(rows, cols))
    for col in range(cols):
        values[rng.permutation(rows)[:num_zeros], col] = 0
    return _write(tensor, values)


def _deprecated(new):
    def old(*args, **kwargs):
        warnings.warn(f"nn.init.{new.__name__[:-1]} is now deprecated in favor of nn.init.{new.__name__}.",
                      FutureWarning, stacklevel=2)
        return new(*args, **kwargs)

    old.__name__ = new.__name__[:-1]
    old.__doc__ = f"Deprecated alias of :func:`{new.__name__}`."
    return old


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
