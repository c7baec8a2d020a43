"""Instance normalisation and local response normalisation (image layers) with PyTorch's formulas."""
from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ._conv import check_floating


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5):
    """Normalise each ``(n, c)`` feature map over its spatial positions,
    ``torch.nn.functional.instance_norm``: ``y = (x - mean) / sqrt(var + eps) * weight + bias``
    with the biased variance of that map.

    With ``use_input_stats=False`` the running statistics normalise instead. Pure: when
    ``running_mean``/``running_var`` are given and ``use_input_stats`` is True the updated
    statistics are returned too, ``running = (1 - momentum) * running + momentum * batch``
    where ``batch`` averages the per-instance mean and *unbiased* variance over the batch (as
    PyTorch's batch-norm-on-``[1, N*C, ...]`` formulation does).

    Args:
      input: ``[N, C, *spatial]`` (at least one spatial dimension).
      running_mean, running_var: optional ``[C]``.
      weight, bias: optional ``[C]`` affine parameters.

    Returns:
      ``y``, or ``(y, new_running_mean, new_running_var)`` when running statistics are given
      and ``use_input_stats`` is True.

    Raises:
      ValueError: fewer than 3 dimensions, one value per map when using input statistics, or
        ``use_input_stats=False`` without running statistics.
      TypeError: non-floating input.
    """
    op = "instance_norm"
    check_floating(op, "input", input)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input [N, C, *spatial] of at least 3 dimensions, got shape {tuple(input.shape)}")
    axes = tuple(range(2, input.ndim))
    count = 1
    for axis in axes:
        count *= input.shape[axis]
    shape = (1, -1) + (1,) * len(axes)
    if use_input_stats:
        if count <= 1:
            raise ValueError(
                f"{op}: expected more than 1 spatial element when training, got input size {tuple(input.shape)}"
            )
        mean = jnp.mean(input, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(input - mean), axis=axes, keepdims=True)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: expected running_mean and running_var when use_input_stats=False")
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    y = (input - mean) * lax.rsqrt(var + jnp.asarray(eps, input.dtype))
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    if running_mean is None or running_var is None or not use_input_stats:
        return y
    m = jnp.asarray(momentum, input.dtype)
    batch_mean = jnp.mean(mean.reshape(input.shape[:2]), axis=0)
    unbiased = var.reshape(input.shape[:2]) * jnp.asarray(count / (count - 1), input.dtype)
    batch_var = jnp.mean(unbiased, axis=0)
    return y, (1 - m) * running_mean + m * batch_mean, (1 - m) * running_var + m * batch_var


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
    """Normalise across neighbouring channels, ``torch.nn.functional.local_response_norm``:
    ``y[n, c] = x[n, c] / (k + alpha / size * sum_{c'} x[n, c']^2) ** beta`` where ``c'`` runs
    over the ``size`` channels ``c - size//2 .. c + (size-1)//2`` (zero beyond the edges; the
    average always divides by ``size``).

    Raises ``ValueError`` for fewer than 3 dimensions or ``size < 1``, ``TypeError`` for a
    non-floating input."""
    op = "local_response_norm"
    check_floating(op, "input", input)
    if input.ndim < 3:
        raise ValueError(
            f"{op}: expected 3D or higher dimensionality input (got {input.ndim} dimensions)"
        )
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"{op}: size must be a positive int, got {size!r}")
    square = input * input
    channels = input.shape[1]
    pads = [(0, 0)] * input.ndim
    pads[1] = (size // 2, (size - 1) // 2)
    padded = jnp.pad(square, pads)
    total = None
    for offset in range(size):
        tap = lax.slice_in_dim(padded, offset, offset + channels, axis=1)
        total = tap if total is None else total + tap
    div = (total / jnp.asarray(size, input.dtype)) * jnp.asarray(alpha, input.dtype) + jnp.asarray(k, input.dtype)
    return input / div ** jnp.asarray(beta, input.dtype)
