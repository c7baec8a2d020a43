"""Connectionist Temporal Classification loss, as ``torch.nn.functional.ctc_loss``
(``aten/src/ATen/native/LossCTC.cpp``).

The forward variable ``alpha`` runs in log space over time in one ``lax.scan``, batched over the
samples and the ``2 S + 1`` positions of the blank-extended target. The gradient is PyTorch's:
``exp(log_probs) - gamma`` for ``t < input_length`` (``gamma`` the posterior occupancy of each
class, found here by differentiating the forward pass), which is the gradient through a
``log_softmax`` producing ``log_probs``; feed ``log_softmax`` outputs, as PyTorch asks.
"""
from __future__ import annotations

import functools
from typing import Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_reduction
from ._losses import _as_float_input

Lengths = Union[jax.Array, np.ndarray, Sequence[int], int]


def _logsumexp(*terms: jax.Array) -> jax.Array:
    """``log(sum(exp(terms)))`` with PyTorch's max shift (0 when all terms are ``-inf``), and a
    gradient that stays finite where every term is ``-inf``."""
    top = terms[0]
    for term in terms[1:]:
        top = jnp.maximum(top, term)
    shift = jax.lax.stop_gradient(jnp.where(jnp.isneginf(top), jnp.zeros((), top.dtype), top))
    total = sum(jnp.exp(term - shift) for term in terms)
    positive = total > 0
    safe = jnp.where(positive, total, jnp.ones((), total.dtype))
    return jnp.where(positive, jnp.log(safe) + shift, jnp.asarray(-jnp.inf, total.dtype))


def _negative_log_likelihood(log_probs, labels, input_lengths, target_lengths, blank):
    """``-log p(labels | log_probs)`` per sample: ``log_probs [T, N, C]``, ``labels [N, S]``
    (entries past a sample's target length are ignored)."""
    steps, batch, _ = log_probs.shape
    width = 2 * labels.shape[1] + 1
    extended = jnp.full((batch, width), blank, labels.dtype).at[:, 1::2].set(labels)
    skip = jnp.zeros((batch, width), bool).at[:, 2:].set(
        (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2]))
    emissions = jnp.take_along_axis(log_probs, jnp.broadcast_to(extended[None], (steps, batch, width)), axis=2)
    neg_inf = jnp.asarray(-jnp.inf, log_probs.dtype)
    positions = jnp.arange(width)
    alpha = jnp.where(positions < jnp.minimum(2, 2 * target_lengths + 1)[:, None], emissions[0], neg_inf)
    alpha = jnp.where((input_lengths > 0)[:, None], alpha, jnp.where(positions == 0, 0, neg_inf))
    pad1 = jnp.full((batch, 1), -jnp.inf, log_probs.dtype)
    pad2 = jnp.full((batch, 2), -jnp.inf, log_probs.dtype)

    def step(alpha, inputs):
        t, emission = inputs
        from_prev = jnp.concatenate([pad1, alpha], axis=1)[:, :width]
        from_skip = jnp.where(skip, jnp.concatenate([pad2, alpha], axis=1)[:, :width], neg_inf)
        new = _logsumexp(alpha, from_prev, from_skip) + emission
        return jnp.where((t < input_lengths)[:, None], new, alpha), None

    if steps > 1:
        alpha, _ = jax.lax.scan(step, alpha, (jnp.arange(1, steps), emissions[1:]))
    end = 2 * target_lengths
    last = jnp.take_along_axis(alpha, end[:, None], axis=1)[:, 0]
    before = jnp.take_along_axis(alpha, jnp.maximum(end - 1, 0)[:, None], axis=1)[:, 0]
    before = jnp.where(target_lengths > 0, before, neg_inf)
    return -_logsumexp(last, before)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _ctc_nll(log_probs, labels, input_lengths, target_lengths, blank, zero_infinity):
    return _negative_log_likelihood(log_probs, labels, input_lengths, target_lengths, blank)


def _ctc_nll_fwd(log_probs, labels, input_lengths, target_lengths, blank, zero_infinity):
    nll, pullback = jax.vjp(
        lambda lp: _negative_log_likelihood(lp, labels, input_lengths, target_lengths, blank), log_probs)
    return nll, (log_probs, input_lengths, nll, pullback)


def _ctc_nll_bwd(blank, zero_infinity, residuals, grad):
    log_probs, input_lengths, nll, pullback = residuals
    (occupancy,) = pullback(grad)  # -gamma * grad
    active = (jnp.arange(log_probs.shape[0])[:, None] < input_lengths[None, :])[:, :, None]
    zero = jnp.zeros((), log_probs.dtype)
    result = jnp.where(active, jnp.exp(log_probs) * grad[None, :, None] + occupancy, zero)
    infinite = jnp.isinf(nll)[None, :, None] & active
    result = jnp.where(infinite, zero if zero_infinity else jnp.asarray(jnp.nan, log_probs.dtype), result)
    return result, None, None, None


_ctc_nll.defvjp(_ctc_nll_fwd, _ctc_nll_bwd)


def _int_array(op: str, name: str, value) -> jax.Array:
    array = jnp.asarray(value)
    if not jnp.issubdtype(array.dtype, jnp.integer):
        raise TypeError(f"{op}: {name} must hold integers, got dtype {array.dtype}")
    return array.astype(jnp.int32)


def _concrete(value) -> Optional[np.ndarray]:
    return None if isinstance(value, jax.core.Tracer) else np.asarray(value)


def check_ctc_values(log_probs_shape, targets_shape, targets: Optional[np.ndarray],
                     input_lengths: Optional[np.ndarray], target_lengths: Optional[np.ndarray]) -> None:
    """PyTorch's checks of CTC sizes and (when known, else None) values, on a batched
    ``[T, N, C]`` shape: lengths in ``[0, T]`` / ``[0, S]``, targets in ``[0, C)``.

    Raises:
        ValueError: bad sizes or lengths. IndexError: a target class outside ``[0, C)``.
    """
    op = "ctc_loss"
    steps, batch, classes = log_probs_shape
    for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if lengths is not None and lengths.shape != (batch,):
            raise ValueError(f"{op}: {name} must have shape ({batch},) (one length per sample), got "
                             f"{tuple(lengths.shape)}")
    if input_lengths is not None and ((input_lengths < 0) | (input_lengths > steps)).any():
        raise ValueError(f"{op}: Expected input_lengths to have values in [0, {steps}] (T), got "
                         f"{input_lengths.tolist()}")
    if target_lengths is not None and (target_lengths < 0).any():
        raise ValueError(f"{op}: target_lengths must be non-negative, got {target_lengths.tolist()}")
    if len(targets_shape) == 2:
        if targets_shape[0] != batch:
            raise ValueError(f"{op}: padded targets must have {batch} rows, got shape {tuple(targets_shape)}")
        if target_lengths is not None and (target_lengths > targets_shape[1]).any():
            raise ValueError(f"{op}: Expected targets to have size at least {int(target_lengths.max())} at "
                             f"dimension 1, but got size {targets_shape[1]}")
        used = None if target_lengths is None else np.arange(targets_shape[1]) < target_lengths[:, None]
    elif len(targets_shape) == 1:
        total = targets_shape[0]
        if target_lengths is not None and int(target_lengths.sum()) > total:
            raise ValueError(f"{op}: concatenated targets hold {total} entries but target_lengths sum to "
                             f"{int(target_lengths.sum())}")
        used = None if target_lengths is None else np.arange(total) < int(target_lengths.sum())
    else:
        raise ValueError(f"{op}: expected targets of shape [N, S] or [sum(target_lengths)], got "
                         f"{tuple(targets_shape)}")
    if targets is not None and used is not None:
        values = targets[used]
        bad = (values < 0) | (values >= classes)
        if bad.any():
            raise IndexError(f"{op}: target {int(values[bad][0])} is out of bounds: classes lie in [0, {classes})")


def ctc_loss(log_probs: jax.Array, targets: jax.Array, input_lengths: Lengths, target_lengths: Lengths,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False,
             max_target_length: Optional[int] = None) -> jax.Array:
    """CTC loss, as ``torch.nn.functional.ctc_loss``.

    Per sample, ``-log sum_{paths} prod_t log_probs[t, path_t]`` over the alignments of length
    ``input_length`` that collapse (merge repeats, drop blanks) to the target. ``'mean'``
    divides each sample's loss by ``max(target_length, 1)`` and averages over the batch;
    ``'sum'`` sums; ``'none'`` returns ``[N]``. With ``zero_infinity``, infinite losses (no
    alignment fits in ``input_length``) and their gradients become 0; otherwise the loss is
    ``inf`` and its gradient NaN, as in PyTorch.

    Args:
        log_probs: ``[T, N, C]`` (or unbatched ``[T, C]``) log-probabilities, usually from
            ``log_softmax(x, -1)``.
        targets: integer class indices, ``[N, S]`` padded (``S >= max target length``) or the
            targets of all samples concatenated, ``[sum(target_lengths)]`` (``[S]`` unbatched).
        input_lengths, target_lengths: ``[N]`` integers (lists, tuples or arrays; scalars when
            unbatched).
        blank: the blank class, default 0. reduction: ``'none'``, ``'mean'`` (default), ``'sum'``.
        zero_infinity: default False.
        max_target_length: an upper bound on the target lengths for concatenated targets
            (default: their maximum when the lengths are concrete, else ``len(targets)``).

    Raises:
        ValueError: bad ranks or sizes; concrete lengths outside ``[0, T]`` / ``[0, S]``.
        IndexError: ``blank`` outside ``[0, C)``; a concrete target outside ``[0, C)``.
    """
    op = "ctc_loss"
    check_reduction(op, reduction)
    log_probs = _as_float_input(op, "log_probs", log_probs)
    targets = _int_array(op, "targets", targets)
    input_lengths = _int_array(op, "input_lengths", input_lengths)
    target_lengths = _int_array(op, "target_lengths", target_lengths)
    batched = log_probs.ndim == 3
    if log_probs.ndim == 2:
        log_probs = log_probs[:, None]
        targets = targets[None] if targets.ndim == 1 else targets
        input_lengths, target_lengths = input_lengths.reshape(1), target_lengths.reshape(1)
    elif log_probs.ndim != 3:
        raise ValueError(f"{op}: expected log_probs of shape [T, N, C] or [T, C], got {tuple(log_probs.shape)}")
    steps, batch, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise IndexError(f"{op}: blank must be in label range [0, {classes}), got {blank}")
    for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if lengths.shape != (batch,):
            raise ValueError(f"{op}: {name} must have shape ({batch},) (one length per sample), got "
                             f"{tuple(lengths.shape)}")
    check_ctc_values(log_probs.shape, targets.shape, _concrete(targets), _concrete(input_lengths),
                     _concrete(target_lengths))
    if targets.ndim == 2:
        labels = targets
    else:
        total = targets.shape[0]
        if max_target_length is None:
            given = _concrete(target_lengths)
            max_target_length = int(given.max(initial=0)) if given is not None else total
        offsets = jnp.cumsum(target_lengths) - target_lengths
        index = offsets[:, None] + jnp.arange(max_target_length)[None]
        labels = jnp.take(targets, jnp.clip(index, 0, max(total - 1, 0)), axis=0) if total else \
            jnp.zeros((batch, max_target_length), jnp.int32)
    labels = jnp.clip(labels, 0, classes - 1)
    nll = _ctc_nll(log_probs, labels, input_lengths, target_lengths, int(blank), bool(zero_infinity))
    if zero_infinity:
        nll = jnp.where(jnp.isinf(nll), jnp.zeros((), nll.dtype), nll)
    if reduction == "none":
        return nll if batched else nll[0]
    if reduction == "sum":
        return jnp.sum(nll)
    return jnp.mean(nll / jnp.maximum(target_lengths, 1).astype(nll.dtype))
