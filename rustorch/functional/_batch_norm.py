"""Batch normalisation with PyTorch's statistics, running-average rule and CPU numerics."""
from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import Layout, is_channels_last


class BatchNormState(NamedTuple):
    """The buffers of a PyTorch ``BatchNorm`` layer, as an immutable pytree.

    Attributes:
        running_mean: ``[C]``, PyTorch initialises it to zeros.
        running_var: ``[C]``, PyTorch initialises it to ones. It holds the *unbiased* variance.
        num_batches_tracked: int32 scalar counting training steps. PyTorch stores it as int64;
            code that reads or writes PyTorch checkpoints casts it.
    """

    running_mean: jax.Array
    running_var: jax.Array
    num_batches_tracked: jax.Array

    @classmethod
    def create(cls, num_features: int, dtype=jnp.float32) -> "BatchNormState":
        """Fresh buffers as PyTorch's ``reset_running_stats`` leaves them: zeros, ones and 0.

        Raises ``ValueError`` unless ``num_features`` is a positive int, and ``TypeError`` unless
        ``dtype`` is a floating dtype.
        """
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(
                f"BatchNormState.create: num_features must be a positive int, got {num_features!r}"
            )
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"BatchNormState.create: dtype must be a floating dtype such as jnp.float32, "
                f"got {dtype!r}"
            )
        return cls(
            running_mean=jnp.zeros((num_features,), dtype),
            running_var=jnp.ones((num_features,), dtype),
            num_batches_tracked=jnp.zeros((), jnp.int32),
        )


def _check_channels(name: str, value, num_channels: int, input_shape, channel_axis: int = 1) -> None:
    if value.ndim != 1 or value.shape[0] != num_channels:
        raise ValueError(
            f"batch_norm: {name} should be 1-D with {num_channels} elements (one per channel, "
            f"dim {channel_axis % len(input_shape)} of the input of shape {tuple(input_shape)}), "
            f"got shape {tuple(value.shape)}; "
            f"create the layer with num_features={num_channels} or feed inputs with "
            f"{value.shape[0] if value.ndim == 1 else '?'} channels"
        )


def _check_float(name: str, value) -> None:
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(
            f"batch_norm: {name} must be a floating-point array, got dtype {value.dtype}"
        )


def _batch_stats(x: jax.Array, axes: tuple[int, ...], bshape: tuple[int, ...], n: int):
    """Per-channel mean, biased variance and sum of squared deviations, two-pass.

    PyTorch's CPU kernel accumulates the mean in double and rounds it to float once. A float32
    sum followed by one correction pass (the mean of the residuals) reproduces that rounding
    almost always; the variance is then the mean of squared deviations from that mean, as
    PyTorch computes it.
    """
    mean = jnp.sum(x, axis=axes) / n
    mean = mean + jnp.sum(x - mean.reshape(bshape), axis=axes) / n
    centred = x - mean.reshape(bshape)
    var_sum = jnp.sum(centred * centred, axis=axes)
    return mean, centred, var_sum


def _reduction_layout(x, channel_axis):
    """The axes to reduce, the broadcast shape of a per-channel vector, and the number of
    values per channel."""
    channel_axis %= x.ndim
    axes = tuple(axis for axis in range(x.ndim) if axis != channel_axis)
    bshape = tuple(x.shape[channel_axis] if axis == channel_axis else 1 for axis in range(x.ndim))
    return axes, bshape, math.prod(x.shape) // x.shape[channel_axis]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _normalize_with_batch_stats(x, weight, bias, eps, channel_axis):
    """``(out, mean, var_sum)`` of batch normalisation with batch statistics; ``x``, ``weight``
    and ``bias`` in the compute dtype (ones and zeros stand in for absent affine parameters)."""
    out, mean, var_sum, _ = _batch_stats_forward(x, weight, bias, eps, channel_axis)
    return out, mean, var_sum


def _batch_stats_forward(x, weight, bias, eps, channel_axis):
    axes, bshape, n = _reduction_layout(x, channel_axis)
    mean, centred, var_sum = _batch_stats(x, axes, bshape, n)
    invstd = 1 / jnp.sqrt(var_sum / n + eps)
    out = centred * invstd.reshape(bshape) * weight.reshape(bshape) + bias.reshape(bshape)
    return out, mean, var_sum, invstd


def _normalize_with_batch_stats_fwd(x, weight, bias, eps, channel_axis):
    out, mean, var_sum, invstd = _batch_stats_forward(x, weight, bias, eps, channel_axis)
    return (out, mean, var_sum), (x, mean, invstd, weight)


def _normalize_with_batch_stats_bwd(eps, channel_axis, residuals, cotangents):
    # ATen's batch_norm_backward_cpu_template in training mode: two per-channel reductions
    # (sum(dy) and dot(x - mean, dy)) and one elementwise pass. Differentiating the forward
    # instead costs several more passes over the activation, and on a 2-core CPU batch norm's
    # backward was the largest item of a batch-256 step (benchmarks/NOTES.md). The batch
    # statistics feed only the running buffers, which carry no gradient: their cotangents are
    # zero and ignored.
    x, mean, invstd, weight = residuals
    grad_out = cotangents[0]
    axes, bshape, n = _reduction_layout(x, channel_axis)
    centred = x - mean.reshape(bshape)
    grad_bias = jnp.sum(grad_out, axis=axes)
    dot = jnp.sum(centred * grad_out, axis=axes)
    k = dot * invstd * invstd / n
    grad_mean = grad_bias / n
    grad_input = (grad_out - grad_mean.reshape(bshape) - centred * k.reshape(bshape)) * (
        invstd * weight
    ).reshape(bshape)
    return grad_input, dot * invstd, grad_bias


_normalize_with_batch_stats.defvjp(_normalize_with_batch_stats_fwd, _normalize_with_batch_stats_bwd)


def batch_norm(
    input: jax.Array,
    weight: Optional[jax.Array],
    bias: Optional[jax.Array],
    state: Optional[BatchNormState],
    *,
    training: bool,
    momentum: Optional[float] = 0.1,
    eps: float = 1e-5,
    layout: Layout = "NCHW",
) -> tuple[jax.Array, Optional[BatchNormState]]:
    """Batch normalisation over ``[N, C, *]`` inputs, matching ``torch.nn.functional.batch_norm``
    together with the buffer bookkeeping of ``torch.nn.BatchNorm{1,2,3}d.forward``.

    ``y = (x - mean) * invstd * weight + bias`` with ``invstd = 1 / sqrt(var + eps)``, per channel
    (dim 1), reducing over every other dim (``n = N * prod(spatial)`` values per channel).

    * Batch statistics (``mean`` and the *biased* ``var``) are used when ``training`` is true or
      when ``state`` is None (PyTorch's ``track_running_stats=False``, in either mode).
    * Training with a ``state``: ``num_batches_tracked`` is incremented first, then
      ``running = (1 - f) * running + f * batch`` for the mean and for the *unbiased* variance
      ``var * n / (n - 1)``, with ``f = momentum``, or ``f = 1 / num_batches_tracked`` (a
      cumulative average) when ``momentum`` is None. The factor is a traced value, so the update
      is jit-safe. The update carries no gradient, as PyTorch does not differentiate through
      buffers.
    * Eval mode with a ``state`` normalises with ``running_mean`` and ``running_var`` and returns
      the state unchanged.

    Args:
        input: floating ``[N, C, *]`` array (``[N, C]``, ``[N, C, L]``, ``[N, C, H, W]``, ...).
        weight, bias: ``[C]`` affine parameters, or None for ``affine=False``.
        state: a ``BatchNormState``, or None for no running statistics.
        training: keyword-only; selects batch statistics and the buffer update.
        momentum: default 0.1; None selects the cumulative average.
        eps: default 1e-5, added to the variance.
        layout: keyword-only, ``'NCHW'`` (default, PyTorch's: the channel is dim 1) or
            ``'NHWC'``: a channels-last ``[N, *, C]`` input (``[N, H, W, C]`` for images) with
            the channel as the last dim, giving the same statistics, buffer update, errors and
            gradients as ``'NCHW'`` on the ``[N, C, *]`` transpose.

    Returns:
        ``(output, new_state)``; ``output`` has the input's shape and dtype and ``new_state`` is
        None exactly when ``state`` is None. Statistics are computed in float32 for half-precision
        inputs (as PyTorch's CPU kernel does) and stored in the state's dtype.

    Raises:
        ValueError: input with fewer than 2 dims; ``weight``/``bias``/state buffers whose length
            is not the channel count; batch statistics over a single value per channel
            (PyTorch's "Expected more than 1 value per channel when training").
        TypeError: non-floating input, parameters or buffers; a non-numeric momentum.
    """
    channel_axis = -1 if is_channels_last("batch_norm", layout) else 1
    return _batch_norm(input, weight, bias, state, training, momentum, eps, channel_axis)


def _batch_norm(input, weight, bias, state, training, momentum, eps, channel_axis):
    input = jnp.asarray(input)
    if input.ndim < 2:
        layout = "[N, C, *]" if channel_axis == 1 else "[N, *, C]"
        raise ValueError(
            f"batch_norm: expected input of shape {layout} with at least 2 dims, got "
            f"{input.ndim}-D input of shape {tuple(input.shape)}; add a batch dim with x[None]"
        )
    _check_float("input", input)
    num_channels = input.shape[channel_axis]
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None:
            value = jnp.asarray(value)
            _check_float(name, value)
            _check_channels(name, value, num_channels, input.shape, channel_axis)
    if state is not None:
        _check_float("state.running_mean", state.running_mean)
        _check_float("state.running_var", state.running_var)
        for name in ("running_mean", "running_var"):
            _check_channels(f"state.{name}", getattr(state, name), num_channels, input.shape, channel_axis)
    if momentum is not None and (
        isinstance(momentum, bool)
        or not (
            isinstance(momentum, (int, float))
            or (isinstance(momentum, (jax.Array, np.ndarray)) and momentum.ndim == 0)
        )
    ):
        raise TypeError(
            f"batch_norm: momentum must be a float, a scalar array or None, got {momentum!r}"
        )

    # Half-precision inputs are normalised in float32, as PyTorch's CPU kernel does (opmath).
    compute_dtype = input.dtype if jnp.finfo(input.dtype).bits >= 32 else jnp.dtype(jnp.float32)
    x = input.astype(compute_dtype)
    _, bshape, n = _reduction_layout(x, channel_axis)

    if training or state is None:
        if n == 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size "
                f"{tuple(input.shape)}"
            )
        ones = jnp.ones((num_channels,), compute_dtype)
        out, mean, var_sum = _normalize_with_batch_stats(
            x,
            ones if weight is None else jnp.asarray(weight).astype(compute_dtype),
            jnp.zeros_like(ones) if bias is None else jnp.asarray(bias).astype(compute_dtype),
            float(eps),
            channel_axis,
        )
    else:
        centred = x - state.running_mean.astype(compute_dtype).reshape(bshape)
        invstd = 1 / jnp.sqrt(state.running_var.astype(compute_dtype) + eps)
        out = centred * invstd.reshape(bshape)
        if weight is not None:
            out = out * jnp.asarray(weight).astype(compute_dtype).reshape(bshape)
        if bias is not None:
            out = out + jnp.asarray(bias).astype(compute_dtype).reshape(bshape)
    out = out.astype(input.dtype)

    if state is None:
        return out, None
    if not training:
        return out, state

    count = state.num_batches_tracked + jnp.ones((), state.num_batches_tracked.dtype)
    if momentum is None:
        factor = 1 / count.astype(compute_dtype)
    else:
        factor = jnp.asarray(momentum, compute_dtype)
    batch_mean = jax.lax.stop_gradient(mean)
    unbiased_var = jax.lax.stop_gradient(var_sum / (n - 1))
    running_mean = state.running_mean.astype(compute_dtype)
    running_var = state.running_var.astype(compute_dtype)
    new_state = BatchNormState(
        running_mean=(factor * batch_mean + (1 - factor) * running_mean).astype(
            state.running_mean.dtype
        ),
        running_var=(factor * unbiased_var + (1 - factor) * running_var).astype(
            state.running_var.dtype
        ),
        num_batches_tracked=count,
    )
    return out, new_state
