"""Margin and likelihood losses with PyTorch's formulas, reductions and gradients
(``aten/src/ATen/native/Loss.cpp``, ``LossMultiMargin.cpp``, ``LossMultiLabelMargin.cpp`` and
``torch/nn/functional.py``): hinge embedding, soft margin, multi-class and multi-label margin,
multi-label soft margin, triplet margin with a distance function, Gaussian and Poisson NLL.

Every function is pure JAX (``jit``/``grad``/``vmap``-safe). Value checks PyTorch makes (targets
in range, non-negative variances) run when the values are concrete; under tracing they cannot,
and the facade checks them when it records the op.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_reduction
from ._losses import _as_float_input, _check_same_dtype, _reduce, pairwise_distance


def _clamp_min(x: jax.Array, low) -> jax.Array:
    """``x.clamp_min(low)`` with PyTorch's gradient: 1 where ``x >= low`` (ties included)."""
    return jnp.where(x >= low, x, jnp.asarray(low, x.dtype))


def _float_target(op: str, target, input: jax.Array) -> jax.Array:
    target = jnp.asarray(target)
    if jnp.issubdtype(target.dtype, jnp.floating):
        _check_same_dtype(op, "target", target, input)
        return target
    return target.astype(input.dtype)


def _same_shape(op: str, input: jax.Array, target: jax.Array) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{op}: target shape {tuple(target.shape)} must equal input shape {tuple(input.shape)}")


def hinge_embedding_loss(input: jax.Array, target: jax.Array, margin: float = 1.0,
                         reduction: str = "mean") -> jax.Array:
    """``torch.nn.functional.hinge_embedding_loss``: ``l = x`` where ``y = 1`` and
    ``max(0, margin - x)`` where ``y = -1`` (aten sums both terms: ``where(y != 1,
    max(0, margin - x), 0) + where(y != -1, x, 0)``).

    Args:
        input: floating array of any shape. target: ``1`` / ``-1`` labels of the input's shape
            (any real dtype). margin: default 1. reduction: ``'none'``, ``'mean'``, ``'sum'``.
    """
    op = "hinge_embedding_loss"
    check_reduction(op, reduction)
    input = _as_float_input(op, "input", input)
    target = jnp.asarray(target)
    _same_shape(op, input, target)
    zero = jnp.zeros((), input.dtype)
    margin_term = jnp.where(target != 1, _clamp_min(margin - input, 0.0), zero)
    self_term = jnp.where(target != -1, input, zero)
    return _reduce(margin_term + self_term, reduction)


def soft_margin_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """``torch.nn.functional.soft_margin_loss``: ``log(1 + exp(-y x))`` elementwise (computed as a
    stable softplus), then reduced over all elements.

    Args:
        input: floating array. target: ``1`` / ``-1`` labels of the input's shape.
        reduction: ``'none'``, ``'mean'`` (default), ``'sum'``.
    """
    op = "soft_margin_loss"
    check_reduction(op, reduction)
    input = _as_float_input(op, "input", input)
    target = _float_target(op, target, input)
    _same_shape(op, input, target)
    return _reduce(jax.nn.softplus(-target * input), reduction)


def _check_class_indices(op: str, target: jax.Array, num_classes: int, allow_minus_one: bool = False) -> None:
    if isinstance(target, jax.core.Tracer):
        return
    values = np.asarray(target)
    if allow_minus_one:
        # Only the entries before a row's first -1 are targets.
        valid = np.cumprod(values != -1, axis=-1).astype(bool)
        values = values[valid]
    bad = (values < 0) | (values >= num_classes)
    if bad.any():
        raise IndexError(f"{op}: target index {int(values[bad].flat[0])} is out of bounds: class indices must "
                         f"lie in [0, {num_classes})")


def _margin_input(op: str, input, target) -> tuple[jax.Array, jax.Array]:
    input = _as_float_input(op, "input", input)
    target = jnp.asarray(target)
    if not jnp.issubdtype(target.dtype, jnp.integer):
        raise TypeError(f"{op}: expected integer class-index targets, got dtype {target.dtype}")
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise ValueError(f"{op}: Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                         f"{tuple(input.shape)}")
    return input, target


def multi_margin_loss(input: jax.Array, target: jax.Array, p: int = 1, margin: float = 1.0,
                      weight: Optional[jax.Array] = None, reduction: str = "mean") -> jax.Array:
    """``torch.nn.functional.multi_margin_loss``: per sample
    ``sum_{i != y} w[y] * max(0, margin - x[y] + x[i])^p / C`` (``p`` 1 or 2), then
    ``'mean'`` over samples, ``'sum'`` or ``'none'``.

    Args:
        input: ``[N, C]`` or ``[C]`` floating scores.
        target: integer class indices ``[N]`` (``[]`` or ``[1]`` for a ``[C]`` input).
        p: 1 (default) or 2. margin: default 1. weight: optional ``[C]`` class weights.
        reduction: ``'none'``, ``'mean'`` (default), ``'sum'``.

    Raises:
        ValueError: ``p`` not 1 or 2, a weight that is not ``[C]``, bad shapes.
        IndexError: a concrete target outside ``[0, C)``.
    """
    op = "multi_margin_loss"
    check_reduction(op, reduction)
    if p not in (1, 2):
        raise ValueError("multi_margin_loss: only p == 1 and p == 2 supported")
    input, target = _margin_input(op, input, target)
    num_classes = input.shape[-1]
    rows = input.reshape(-1, num_classes)
    if target.size != rows.shape[0] or (input.ndim == 2 and target.shape != rows.shape[:1]):
        raise ValueError(f"{op}: inconsistent target size: expected {rows.shape[0]} class indices for input of "
                         f"shape {tuple(input.shape)}, got target of shape {tuple(target.shape)}")
    if weight is not None:
        weight = _as_float_input(op, "weight", weight)
        _check_same_dtype(op, "weight", weight, input)
        if weight.shape != (num_classes,):
            raise ValueError(f"{op}: weight must be one-dimensional with {num_classes} entries, got shape "
                             f"{tuple(weight.shape)}")
    _check_class_indices(op, target, num_classes)
    flat = target.reshape(-1)
    index = jnp.clip(flat, 0, num_classes - 1)
    picked = jnp.take_along_axis(rows, index[:, None], axis=1)
    z = margin - picked + rows
    h = z if p == 1 else z * z
    if weight is not None:
        h = h * jnp.take(weight, index)[:, None]
    others = jnp.arange(num_classes) != index[:, None]
    zero = jnp.zeros((), input.dtype)
    loss = jnp.sum(jnp.where(others & (z > 0), h, zero), axis=1) / num_classes
    bad = (flat < 0) | (flat >= num_classes)  # reached only under tracing (eager calls raise)
    loss = jnp.where(bad, jnp.asarray(jnp.nan, input.dtype), loss)
    return _reduce(loss.reshape(target.shape), reduction)


def multilabel_margin_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """``torch.nn.functional.multilabel_margin_loss``: per sample
    ``sum_{j, i} max(0, 1 - x[y_j] + x[i]) / C`` over the target classes ``y_j`` (the entries
    of the target row before its first ``-1``) and the non-target classes ``i``.

    Args:
        input: ``[N, C]`` or ``[C]`` floating scores.
        target: integer array of the input's shape: class indices padded with ``-1``.
        reduction: ``'none'`` (``[N]``, or ``[]`` for a ``[C]`` input), ``'mean'``, ``'sum'``.

    Raises:
        ValueError: target shape differs from the input's. IndexError: a concrete target index
            (before the first -1) outside ``[0, C)``.
    """
    op = "multilabel_margin_loss"
    check_reduction(op, reduction)
    input, target = _margin_input(op, input, target)
    if target.shape != input.shape:
        raise ValueError(f"{op}: inconsistent target size: {tuple(target.shape)} for input of size "
                         f"{tuple(input.shape)}")
    num_classes = input.shape[-1]
    _check_class_indices(op, target, num_classes, allow_minus_one=True)
    rows = input.reshape(-1, num_classes)
    labels = target.reshape(-1, num_classes)
    valid = jnp.cumprod((labels != -1).astype(jnp.int32), axis=1).astype(bool)  # [N, K]
    index = jnp.clip(labels, 0, num_classes - 1)
    hits = (index[:, :, None] == jnp.arange(num_classes)) & valid[:, :, None]  # [N, K, C]
    is_target = jnp.any(hits, axis=1)  # [N, C]
    picked = jnp.take_along_axis(rows, index, axis=1)  # [N, K]
    z = 1 - picked[:, :, None] + rows[:, None, :]  # [N, K, C]
    keep = valid[:, :, None] & ~is_target[:, None, :] & (z > 0)
    loss = jnp.sum(jnp.where(keep, z, jnp.zeros((), input.dtype)), axis=(1, 2)) / num_classes
    out_of_range = valid & ((labels < 0) | (labels >= num_classes))
    loss = jnp.where(jnp.any(out_of_range, axis=1), jnp.asarray(jnp.nan, input.dtype), loss)
    return _reduce(loss.reshape(input.shape[:-1]), reduction)


def multilabel_soft_margin_loss(input: jax.Array, target: jax.Array, weight: Optional[jax.Array] = None,
                                reduction: str = "mean") -> jax.Array:
    """``torch.nn.functional.multilabel_soft_margin_loss``:
    ``-sum_c w_c (y_c log sigmoid(x_c) + (1 - y_c) log sigmoid(-x_c)) / C`` over the last
    (class) dim, then reduced over the samples.

    Args:
        input: ``[N, C]`` (or ``[C]``) floating scores. target: 0/1 labels of the input's shape.
        weight: optional weights broadcastable to the input. reduction: as usual.
    """
    op = "multilabel_soft_margin_loss"
    check_reduction(op, reduction)
    input = _as_float_input(op, "input", input)
    target = _float_target(op, target, input)
    _same_shape(op, input, target)
    loss = -(target * jax.nn.log_sigmoid(input) + (1 - target) * jax.nn.log_sigmoid(-input))
    if weight is not None:
        weight = _as_float_input(op, "weight", weight)
        _check_same_dtype(op, "weight", weight, input)
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = jnp.sum(loss, axis=class_dim) / input.shape[class_dim]
    return _reduce(loss, reduction)


def check_triplet_arguments(anchor, positive, negative, margin: float, reduction: str) -> None:
    """triplet_margin_with_distance_loss's argument checks, shared with the facade's form (whose
    distance function runs on Variables): PyTorch's messages and error types."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")


def triplet_margin_with_distance_loss(anchor: jax.Array, positive: jax.Array, negative: jax.Array, *,
                                      distance_function: Optional[Callable] = None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> jax.Array:
    """``torch.nn.functional.triplet_margin_with_distance_loss``:
    ``max(d(a, p) - d(a, n) + margin, 0)`` with ``d = distance_function`` (default
    :func:`pairwise_distance`); ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative distance.

    Raises:
        ValueError: ``margin <= 0`` or a bad reduction. RuntimeError: inputs of different ranks
            (PyTorch's error type).
    """
    check_triplet_arguments(anchor, positive, negative, margin, reduction)
    distance = pairwise_distance if distance_function is None else distance_function
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = jnp.minimum(d_neg, distance(positive, negative))
    return _reduce(_clamp_min(margin + d_pos - d_neg, 0.0), reduction)


def gaussian_nll_loss(input: jax.Array, target: jax.Array, var: Union[jax.Array, float], full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> jax.Array:
    """``torch.nn.functional.gaussian_nll_loss``:
    ``0.5 * (log(max(var, eps)) + (input - target)^2 / max(var, eps))`` (plus
    ``0.5 log(2 pi)`` with ``full``), reduced over all elements. The gradient sees the clamp at
    ``eps`` as the identity (``var`` gets the gradient taken at the clamped value), as
    PyTorch's in-place clamp under ``no_grad``.

    ``var`` is a float, an array of the input's shape, of the input's shape without its last dim
    (one variance per sample), or of the input's rank with exactly one dim of size 1.

    Raises:
        ValueError: ``var`` of another shape, a negative (concrete) ``var``, a bad reduction.
    """
    op = "gaussian_nll_loss"
    input = _as_float_input(op, "input", input)
    target = _float_target(op, target, input)
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = jnp.full(input.shape, var, input.dtype)
    else:
        var = _as_float_input(op, "var", var)
        if not isinstance(var, jax.core.Tracer) and bool(np.any(np.asarray(var) < 0)):
            raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var[..., None]
        elif not (input.ndim == var.ndim
                  and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"var is of incorrect size: got {tuple(var.shape)} for input of shape "
                             f"{tuple(input.shape)}")
    check_reduction(op, reduction)
    var = var + jax.lax.stop_gradient(jnp.maximum(var, eps) - var)
    loss = 0.5 * (jnp.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: jax.Array, target: jax.Array, log_input: bool = True, full: bool = False,
                     eps: float = 1e-8, reduction: str = "mean") -> jax.Array:
    """``torch.nn.functional.poisson_nll_loss``: ``exp(x) - t x`` with ``log_input`` (default),
    else ``x - t log(x + eps)``; ``full`` adds Stirling's term
    ``t log t - t + 0.5 log(2 pi t)`` where ``t > 1``.

    Args:
        input: floating predictions. target: floating counts of the input's shape.
        reduction: ``'none'``, ``'mean'`` (default), ``'sum'``.
    """
    op = "poisson_nll_loss"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    input = _as_float_input(op, "input", input)
    target = _float_target(op, target, input)
    if log_input:
        loss = jnp.exp(input) - target * input
    else:
        loss = input - target * jnp.log(input + eps)
    if full:
        big = target > 1
        safe = jnp.where(big, target, jnp.ones((), target.dtype))
        stirling = safe * jnp.log(safe) - safe + 0.5 * jnp.log(2 * math.pi * safe)
        loss = loss + jnp.where(big, stirling, jnp.zeros((), loss.dtype))
    return _reduce(loss, reduction)
