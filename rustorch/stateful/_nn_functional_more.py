"""``torch.nn.functional``'s margin, likelihood and CTC losses, ``bilinear``, ``pdist`` and
``embedding_bag`` on Variables, recorded over :mod:`rustorch.functional`.

Value checks PyTorch makes (class indices in range, non-negative variances, CTC lengths, bag
offsets) run at the call when the values are known, and otherwise with the program (see
:mod:`._checks`).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import functional as _F
from ..functional import _ctc, _embedding_bag, _margin_losses
from . import _checks
from ._nn_functional import _deprecated_reduction, _recorded, pairwise_distance
from ._sequence import _renorm_in_place
from ._variable import Variable, apply


# ------------------------------------------------------------------------- value checks
def _targets_out_of_range(target, *, num_classes, allow_minus_one):
    if allow_minus_one:
        valid = jnp.cumprod((target != -1).astype(jnp.int32), axis=-1).astype(bool)
    else:
        valid = jnp.ones(target.shape, bool)
    return jnp.any(valid & ((target < 0) | (target >= num_classes)))


def _class_index_check(op_name, allow_minus_one):
    def check(inputs, static):
        input, target = inputs[0], inputs[1]
        if target is None or not hasattr(target, "shape") or not getattr(input, "shape", ()):
            return []
        num_classes = input.shape[-1]
        values = _checks.concrete(target)
        if values is not None:
            _margin_losses._check_class_indices(op_name, values, num_classes, allow_minus_one)
            return []
        flag = apply(_targets_out_of_range, target, num_classes=num_classes, allow_minus_one=allow_minus_one)
        return [(flag, IndexError, f"{op_name}: a target index is out of bounds: class indices must lie in "
                                   f"[0, {num_classes})")]

    return check


def _any_negative(x):
    return jnp.any(x < 0)


def _variance_check(inputs, static):
    var = inputs[2]
    if static.get("scalar_var") or var is None:
        return []
    values = _checks.concrete(var)
    if values is not None:
        if np.any(values < 0):
            raise ValueError("gaussian_nll_loss: var has negative entry/entries")
        return []
    return [(apply(_any_negative, var), ValueError, "gaussian_nll_loss: var has negative entry/entries")]


def _gaussian_nll(input, target, var, *, full, eps, reduction, scalar_var):
    if scalar_var:
        var = jnp.broadcast_to(jnp.asarray(var, input.dtype), input.shape)
    return _F.gaussian_nll_loss(input, target, var, full=full, eps=eps, reduction=reduction)


_checks.RECORD_CHECKS[_F.multilabel_margin_loss] = _class_index_check("multilabel_margin_loss", True)
_checks.RECORD_CHECKS[_gaussian_nll] = _variance_check


# ------------------------------------------------------------------------------ losses
_hinge_embedding_loss = _recorded(_F.hinge_embedding_loss, ("input", "target"))
_soft_margin_loss = _recorded(_F.soft_margin_loss, ("input", "target"))
_multilabel_soft_margin_loss = _recorded(_F.multilabel_soft_margin_loss, ("input", "target", "weight"))
_poisson_nll_loss = _recorded(_F.poisson_nll_loss, ("input", "target"))


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Variable:
    """``torch.nn.functional.hinge_embedding_loss`` (see
    :func:`rustorch.functional.hinge_embedding_loss`)."""
    _deprecated_reduction("hinge_embedding_loss", size_average, reduce)
    return _hinge_embedding_loss(input, target, margin=float(margin), reduction=reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Variable:
    """``torch.nn.functional.soft_margin_loss``: ``log(1 + exp(-y x))``."""
    _deprecated_reduction("soft_margin_loss", size_average, reduce)
    return _soft_margin_loss(input, target, reduction=reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None, size_average=None,
                      reduce=None, reduction: str = "mean") -> Variable:
    """``torch.nn.functional.multi_margin_loss`` (see :func:`rustorch.functional.multi_margin_loss`).

    Raises:
        IndexError: a target outside ``[0, C)`` (now when the targets are known, else at the next
            evaluation).
    """
    _deprecated_reduction("multi_margin_loss", size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    return apply(_multi_margin, input, target, weight, p=int(p), margin=float(margin), reduction=reduction)


def _multi_margin(input, target, weight, *, p, margin, reduction):
    return _F.multi_margin_loss(input, target, p=p, margin=margin, weight=weight, reduction=reduction)


_checks.RECORD_CHECKS[_multi_margin] = _class_index_check("multi_margin_loss", False)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Variable:
    """``torch.nn.functional.multilabel_margin_loss`` (targets padded with -1)."""
    _deprecated_reduction("multilabel_margin_loss", size_average, reduce)
    return apply(_F.multilabel_margin_loss, input, target, reduction=reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean") -> Variable:
    """``torch.nn.functional.multilabel_soft_margin_loss``."""
    _deprecated_reduction("multilabel_soft_margin_loss", size_average, reduce)
    return _multilabel_soft_margin_loss(input, target, weight, reduction=reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Variable:
    """``torch.nn.functional.poisson_nll_loss`` (see :func:`rustorch.functional.poisson_nll_loss`)."""
    _deprecated_reduction("poisson_nll_loss", size_average, reduce)
    return _poisson_nll_loss(input, target, log_input=bool(log_input), full=bool(full), eps=float(eps),
                             reduction=reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Variable:
    """``torch.nn.functional.gaussian_nll_loss``; ``var`` is a tensor (the input's shape, one
    dim short, or one dim of size 1) or a float (a program input: changing it does not
    recompile).

    Raises:
        ValueError: a negative variance (now when known, else at the next evaluation), a
            ``var`` of the wrong size, a bad reduction.
    """
    scalar = isinstance(var, (int, float)) and not isinstance(var, bool)
    if scalar:
        if var < 0:
            raise ValueError("gaussian_nll_loss: var has negative entry/entries")
        var = float(var)
    return apply(_gaussian_nll, input, target, var, full=bool(full), eps=float(eps), reduction=reduction,
                 scalar_var=scalar)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Variable:
    """``torch.nn.functional.triplet_margin_with_distance_loss``: ``max(d(a, p) - d(a, n) +
    margin, 0)`` with ``distance_function`` (any function of two tensors; default
    :func:`pairwise_distance`), ``swap`` taking ``min(d(a, n), d(p, n))``.

    Raises:
        ValueError: ``margin <= 0``, a bad reduction. RuntimeError: inputs of different ranks.
    """
    _margin_losses.check_triplet_arguments(anchor, positive, negative, margin, reduction)
    distance = pairwise_distance if distance_function is None else distance_function
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = d_neg.minimum(distance(positive, negative))
    loss = (margin + d_pos - d_neg).clamp_min(0)
    if reduction == "sum":
        return loss.sum()
    return loss.mean() if reduction == "mean" else loss


# --------------------------------------------------------------------------------- CTC
def _concrete_ints(value):
    if isinstance(value, (int, np.integer)):
        return np.asarray([value])
    values = _checks.concrete(value)
    return None if values is None else np.asarray(values).reshape(-1)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> Variable:
    """``torch.nn.functional.ctc_loss`` (see :func:`rustorch.functional.ctc_loss`): padded
    ``[N, S]`` or concatenated targets; lengths as tensors, lists or tuples.

    Raises:
        ValueError / IndexError: PyTorch's size and value checks, at this call when the targets
            and lengths are known.
    """
    shape = tuple(log_probs.shape)
    batched_shape = shape if len(shape) == 3 else (shape[0], 1, shape[-1]) if len(shape) == 2 else None
    targets_shape = tuple(np.shape(targets)) if not isinstance(targets, Variable) else tuple(targets.shape)
    max_target_length = None
    target_values = _concrete_ints(target_lengths)
    if batched_shape is not None:
        if len(shape) == 2 and len(targets_shape) == 1:
            targets_shape = (1,) + targets_shape
        concrete_targets = _checks.concrete(targets)
        if concrete_targets is not None:
            concrete_targets = concrete_targets.reshape(targets_shape)
        if len(targets_shape) in (1, 2):
            _ctc.check_ctc_values(batched_shape, targets_shape, concrete_targets, _concrete_ints(input_lengths),
                                  target_values)
        if len(targets_shape) == 1:
            max_target_length = int(target_values.max(initial=0)) if target_values is not None else \
                targets_shape[0]
    return apply(_F.ctc_loss, log_probs, targets, input_lengths, target_lengths, blank=int(blank),
                 reduction=reduction, zero_infinity=bool(zero_infinity), max_target_length=max_target_length)


# ----------------------------------------------------------------- bilinear, pdist, bags
bilinear = _recorded(_F.bilinear, ("input1", "input2", "weight", "bias"))
pdist = _recorded(_F.pdist, ("input",))


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights=None, include_last_offset: bool = False,
                  padding_idx=None) -> Variable:
    """``torch.nn.functional.embedding_bag`` (see :func:`rustorch.functional.embedding_bag`);
    with ``max_norm`` the referenced rows of ``weight`` are renormalised in place first, as
    PyTorch does.

    Raises:
        IndexError: an index outside the table, ValueError: bad offsets (at this call when the
            values are known).
    """
    if not isinstance(input, Variable):
        input = Variable(input)
    if not np.issubdtype(input.dtype, np.integer):
        raise TypeError(f"embedding_bag: expected integer indices (Long or Int tensor), got {input.dtype}")
    values = _checks.concrete(input)
    offset_values = None if offsets is None else _checks.concrete(offsets)
    _embedding_bag.check_bag_values("embedding_bag", values, offset_values, weight.shape[0])
    if max_norm is not None:
        _renorm_in_place(weight, input, max_norm, norm_type)
    return apply(_embedding_bag_op, input, weight, offsets, per_sample_weights, norm_type=float(norm_type),
                 scale_grad_by_freq=bool(scale_grad_by_freq), mode=mode, sparse=bool(sparse),
                 include_last_offset=bool(include_last_offset), padding_idx=padding_idx)


def _embedding_bag_op(input, weight, offsets, per_sample_weights, *, norm_type, scale_grad_by_freq, mode, sparse,
                      include_last_offset, padding_idx):
    return _F.embedding_bag(input, weight, offsets, None, norm_type, scale_grad_by_freq, mode, sparse,
                            per_sample_weights, include_last_offset, padding_idx)
