"""Losses with PyTorch's reductions, weighting and label-smoothing rules (``aten/.../Loss*.cpp``).

Inputs follow PyTorch's layout: the class dim is 1 for ``[N, C]`` and ``[N, C, d1, ..., dK]``
inputs and 0 for an unbatched ``[C]`` input.
"""
from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_reduction


def _as_float_input(op: str, name: str, x) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{op}: expected {name} to be a floating-point array, got dtype {x.dtype}; "
            f"cast it with .astype(jnp.float32)"
        )
    return x


def _check_same_dtype(op: str, name: str, x: jax.Array, input: jax.Array) -> None:
    if x.dtype != input.dtype:
        raise TypeError(
            f"{op}: {name} has dtype {x.dtype} but input has dtype {input.dtype}; cast one of "
            f"them so both match (mixed precision is never promoted silently)"
        )


def _reduce(loss: jax.Array, reduction: str) -> jax.Array:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return jnp.sum(loss)
    return jnp.mean(loss)


def _class_dim(op: str, input: jax.Array) -> int:
    if input.ndim == 0:
        raise ValueError(
            f"{op}: expected input of shape [C], [N, C] or [N, C, d1, ..., dK], got a 0-D input"
        )
    return 0 if input.ndim == 1 else 1


def _class_weight(op: str, weight, input: jax.Array, num_classes: int) -> Optional[jax.Array]:
    if weight is None:
        return None
    weight = jnp.asarray(weight)
    if weight.ndim != 1 or weight.shape[0] != num_classes:
        raise ValueError(
            f"{op}: weight tensor should be defined either for all {num_classes} classes or no "
            f"classes but got weight tensor of shape: {list(weight.shape)}"
        )
    _check_same_dtype(op, "weight", weight, input)
    return weight


def _broadcast_weight(weight: jax.Array, ndim: int, class_dim: int) -> jax.Array:
    shape = [1] * ndim
    shape[class_dim] = weight.shape[0]
    return weight.reshape(shape)


def _index_target(op: str, input: jax.Array, target: jax.Array, class_dim: int, ignore_index):
    """Validate class-index targets and return them as a signed integer array.

    Values are only checked when the target is concrete: under ``jax.jit``/``vmap`` they are
    tracers and cannot be read, so out-of-range entries are turned into NaN losses instead.
    """
    if not jnp.issubdtype(target.dtype, jnp.integer):
        raise TypeError(
            f"{op}: class-index targets must have an integer dtype, got {target.dtype}; for "
            f"class probabilities pass a floating target with the input's shape "
            f"{tuple(input.shape)}"
        )
    expected = input.shape[:class_dim] + input.shape[class_dim + 1:]
    if target.shape != expected:
        raise ValueError(
            f"{op}: expected class-index target of shape {tuple(expected)} (the input shape "
            f"{tuple(input.shape)} without the class dim {class_dim}), got {tuple(target.shape)}"
        )
    # Unsigned and narrow integers cannot hold a negative ignore_index such as -100.
    if not (jnp.issubdtype(target.dtype, jnp.signedinteger) and target.dtype.itemsize >= 4):
        target = target.astype(jnp.int32)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    if not isinstance(target, jax.core.Tracer):
        check_class_targets(op, np.asarray(target), input.shape[class_dim], ignore_index)
    return target


def target_out_of_range(target, num_classes: int, ignore_index: int):
    """Elementwise: the class-index ``target`` lies outside ``[0, num_classes)`` and is not
    ``ignore_index`` (works on numpy arrays and on traced JAX arrays)."""
    return (target != ignore_index) & ((target < 0) | (target >= num_classes))


def class_target_error(op: str, value: int, num_classes: int, ignore_index: int) -> IndexError:
    """PyTorch's "Target k is out of bounds" error for a bad class index."""
    return IndexError(
        f"{op}: Target {value} is out of bounds: class indices must lie in [0, {num_classes}) "
        f"or equal ignore_index={ignore_index}"
    )


def check_class_targets(op: str, values: np.ndarray, num_classes: int, ignore_index: int) -> None:
    """Raise :func:`class_target_error` for the first out-of-range entry of concrete targets."""
    bad = target_out_of_range(values, num_classes, ignore_index)
    if bad.any():
        raise class_target_error(op, int(values[bad].flat[0]), num_classes, ignore_index)


def _nll(logp, target, weight, ignore_index, reduction, class_dim):
    """PyTorch's ``nll_loss_nd`` on log-probabilities with validated integer targets."""
    num_classes = logp.shape[class_dim]
    valid = target != ignore_index
    out_of_range = valid & ((target < 0) | (target >= num_classes))
    index = jnp.where(valid & ~out_of_range, target, 0)
    picked = jnp.squeeze(
        jnp.take_along_axis(logp, jnp.expand_dims(index, class_dim), axis=class_dim),
        axis=class_dim,
    )
    # Reached only under tracing (eager calls raise): a NaN loss flags the bad target.
    picked = jnp.where(out_of_range, jnp.asarray(jnp.nan, logp.dtype), picked)
    if weight is None:
        target_weight = jnp.ones_like(picked)
    else:
        target_weight = jnp.take(weight, index)
    zero = jnp.zeros((), logp.dtype)
    loss = jnp.where(valid, -picked * target_weight, zero)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return jnp.sum(loss)
    # Weighted mean; an all-ignored batch gives 0/0 = NaN, as PyTorch does.
    return jnp.sum(loss) / jnp.sum(jnp.where(valid, target_weight, zero))


def nll_loss(
    input: jax.Array,
    target: jax.Array,
    weight: Optional[jax.Array] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> jax.Array:
    """Negative log-likelihood on log-probabilities, as ``torch.nn.functional.nll_loss``.

    ``l_n = -w[y_n] * input[n, y_n]``, and 0 where ``y_n == ignore_index``. ``'mean'`` is the
    weighted mean ``sum l_n / sum w[y_n]`` over non-ignored entries (NaN when every entry is
    ignored, as in PyTorch); ``'sum'`` sums; ``'none'`` returns ``l`` with the target's shape.

    Args:
        input: floating log-probabilities ``[C]``, ``[N, C]`` or ``[N, C, d1, ..., dK]``.
        target: integer class indices of the input's shape without the class dim (``[]`` for an
            unbatched input). Any integer dtype is accepted (PyTorch wants int64).
        weight: optional ``[C]`` class weights of the input's dtype. Default None.
        ignore_index: default -100; entries equal to it contribute neither loss nor weight.
        reduction: ``'none'``, ``'mean'`` (default) or ``'sum'``.

    Raises:
        TypeError: non-floating input, non-integer target, weight of another dtype.
        ValueError: bad shapes or reduction.
        IndexError: a concrete target outside ``[0, C)`` that is not ``ignore_index`` (PyTorch's
            "Target k is out of bounds"). Under ``jax.jit`` or ``vmap`` the values cannot be
            inspected; such entries then give a NaN loss.
    """
    op = "nll_loss"
    check_reduction(op, reduction)
    input = _as_float_input(op, "input", input)
    class_dim = _class_dim(op, input)
    weight = _class_weight(op, weight, input, input.shape[class_dim])
    target = _index_target(op, input, jnp.asarray(target), class_dim, ignore_index)
    return _nll(input, target, weight, ignore_index, reduction, class_dim)


def _check_label_smoothing(op: str, label_smoothing) -> None:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
        raise TypeError(f"{op}: label_smoothing must be a float, got {label_smoothing!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"{op}: label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )


def cross_entropy(
    input: jax.Array,
    target: jax.Array,
    weight: Optional[jax.Array] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> jax.Array:
    """Cross entropy between logits and targets, as ``torch.nn.functional.cross_entropy``.

    With ``logp = log_softmax(input, class_dim)``:

    * Class-index targets (integer, the input's shape without the class dim): exactly
      ``nll_loss(logp, target, weight, ignore_index, reduction)``. With ``label_smoothing = e``
      the result is ``(1 - e) * nll + (e / C) * smooth`` where ``smooth_n = -sum_c w_c logp_nc``
      (0 at ignored entries), reduced by the same rule: for ``'mean'`` divided by
      ``sum w[y_n]`` over non-ignored entries (their count without weights).
    * Probability targets (floating, the input's shape): the target becomes
      ``t * (1 - e) + e / C`` and ``l_n = -sum_c w_c t_nc logp_nc``; ``'mean'`` divides the sum
      by ``N = numel / C``, not by the weights. ``ignore_index`` must be negative.

    ``'mean'`` over an empty or all-ignored batch is NaN, as in PyTorch.

    Args:
        input: floating logits ``[C]``, ``[N, C]`` or ``[N, C, d1, ..., dK]``.
        target: class indices or class probabilities (see above). Shape equality with the input
            selects probabilities, as in PyTorch.
        weight: optional ``[C]`` class weights of the input's dtype. Default None.
        ignore_index: default -100 (class indices only).
        reduction: ``'none'``, ``'mean'`` (default) or ``'sum'``.
        label_smoothing: in [0, 1], default 0. PyTorch silently treats a negative value as 0;
            this raises instead.

    Raises:
        TypeError: non-floating input; a probability target that is not floating
            ("Expected floating point type for target with class probabilities"); a class
            target that is not integer; weight or target of another dtype than the input.
        ValueError: bad shapes, reduction or label_smoothing; ``ignore_index >= 0`` with
            probability targets.
        IndexError: a concrete class target outside ``[0, C)`` that is not ``ignore_index``.
            Under ``jax.jit`` or ``vmap`` values cannot be inspected; such entries give NaN.
    """
    op = "cross_entropy"
    check_reduction(op, reduction)
    _check_label_smoothing(op, label_smoothing)
    input = _as_float_input(op, "input", input)
    target = jnp.asarray(target)
    class_dim = _class_dim(op, input)
    num_classes = input.shape[class_dim]
    weight = _class_weight(op, weight, input, num_classes)
    logp = jax.nn.log_softmax(input, axis=class_dim)

    if target.shape == input.shape:
        if not jnp.issubdtype(target.dtype, jnp.floating):
            raise TypeError(
                f"{op}: Expected floating point type for target with class probabilities, got "
                f"{target.dtype}; class-index targets must have the input's shape without the "
                f"class dim, {tuple(input.shape[:class_dim] + input.shape[class_dim + 1:])}"
            )
        _check_same_dtype(op, "target", target, input)
        if ignore_index >= 0:
            raise ValueError(
                f"{op}: ignore_index is not supported for floating point target (class "
                f"probabilities), got ignore_index={ignore_index}; leave it at its default -100"
            )
        if label_smoothing > 0.0:
            target = target * (1 - label_smoothing) + label_smoothing / num_classes
        prod = logp * target
        if weight is not None:
            prod = prod * _broadcast_weight(weight, input.ndim, class_dim)
        if reduction == "none":
            return -jnp.sum(prod, axis=class_dim)
        if reduction == "sum":
            return -jnp.sum(prod)
        return -jnp.sum(prod) / (math.prod(input.shape) // num_classes if num_classes else 0)

    target = _index_target(op, input, target, class_dim, ignore_index)
    nll = _nll(logp, target, weight, ignore_index, reduction, class_dim)
    if label_smoothing == 0.0:
        return nll
    ignored = target == ignore_index
    zero = jnp.zeros((), input.dtype)
    if weight is None:
        smooth = -jnp.sum(logp, axis=class_dim)
    else:
        smooth = -jnp.sum(logp * _broadcast_weight(weight, input.ndim, class_dim), axis=class_dim)
    smooth = jnp.where(ignored, zero, smooth)
    if reduction == "none":
        reduced = smooth
    elif reduction == "sum":
        reduced = jnp.sum(smooth)
    elif weight is None:
        reduced = jnp.sum(smooth) / jnp.sum(~ignored).astype(input.dtype)
    else:
        safe = jnp.where(ignored, 0, target)
        reduced = jnp.sum(smooth) / jnp.sum(jnp.where(ignored, zero, jnp.take(weight, safe)))
    return (1 - label_smoothing) * nll + reduced * (label_smoothing / num_classes)


def _check_same_shape(op: str, input: jax.Array, target: jax.Array) -> None:
    if input.shape != target.shape:
        raise ValueError(
            f"{op}: target shape {tuple(target.shape)} must equal input shape "
            f"{tuple(input.shape)} (PyTorch would broadcast with a warning, which is almost "
            f"always a bug); reshape or broadcast the target explicitly"
        )


def _checked_difference(op: str, input, target, reduction: str) -> jax.Array:
    """``input - target`` after the checks shared by the elementwise regression losses."""
    check_reduction(op, reduction)
    input = _as_float_input(op, "input", input)
    target = _as_float_input(op, "target", target)
    _check_same_dtype(op, "target", target, input)
    _check_same_shape(op, input, target)
    return input - target


def mse_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """Mean squared error ``(input - target)^2``, as ``torch.nn.functional.mse_loss``.

    Args:
        input, target: floating arrays of the same shape and dtype.
        reduction: ``'none'``, ``'mean'`` (default, over all elements) or ``'sum'``.

    Raises:
        ValueError: shapes differ (PyTorch broadcasts with a warning; this refuses) or bad
            reduction.
        TypeError: non-floating arrays or different dtypes.
    """
    diff = _checked_difference("mse_loss", input, target, reduction)
    return _reduce(diff * diff, reduction)


def l1_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """Mean absolute error ``|input - target|``, as ``torch.nn.functional.l1_loss``.

    The gradient at ``input == target`` is 0, PyTorch's ``sgn`` rule (JAX's ``abs`` would
    give 1).

    Args:
        input, target: floating arrays of the same shape and dtype.
        reduction: ``'none'``, ``'mean'`` (default) or ``'sum'``.

    Raises:
        ValueError: shapes differ or bad reduction.
        TypeError: non-floating arrays or different dtypes.
    """
    diff = _checked_difference("l1_loss", input, target, reduction)
    # sign(d) * d equals |d| exactly and differentiates to sign(d), which is 0 at d == 0.
    return _reduce(jax.lax.stop_gradient(jnp.sign(diff)) * diff, reduction)


def binary_cross_entropy_with_logits(
    input: jax.Array,
    target: jax.Array,
    weight: Optional[jax.Array] = None,
    reduction: str = "mean",
    pos_weight: Optional[jax.Array] = None,
) -> jax.Array:
    """Sigmoid plus binary cross entropy in one stable step, as
    ``torch.nn.functional.binary_cross_entropy_with_logits``.

    ``l = w * ((1 - t) * x - (1 + (pos_weight - 1) * t) * log_sigmoid(x))`` elementwise, which is
    ``-w * (p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))`` with ``p = pos_weight``.

    Args:
        input: floating logits of any shape.
        target: floating targets (usually in [0, 1]) of the input's shape and dtype.
        weight: optional rescaling weight broadcastable to the input's shape. Default None.
        reduction: ``'none'``, ``'mean'`` (default) or ``'sum'``.
        pos_weight: optional weight of positive examples, broadcastable to the input's shape
            (``[C]`` weights the last dim). Default None.

    Raises:
        ValueError: target shape differs from the input's, a weight that does not broadcast to
            the input's shape, bad reduction.
        TypeError: non-floating arrays or dtypes that differ from the input's.
    """
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    input = _as_float_input(op, "input", input)
    target = _as_float_input(op, "target", target)
    _check_same_dtype(op, "target", target, input)
    if target.shape != input.shape:
        raise ValueError(
            f"{op}: Target size {tuple(target.shape)} must be the same as input size "
            f"{tuple(input.shape)}"
        )
    extra = {}
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is None:
            continue
        value = _as_float_input(op, name, value)
        _check_same_dtype(op, name, value, input)
        try:
            shape = jnp.broadcast_shapes(value.shape, input.shape)
        except ValueError:
            shape = None
        if shape != input.shape:
            raise ValueError(
                f"{op}: {name} of shape {tuple(value.shape)} must broadcast to the input shape "
                f"{tuple(input.shape)}"
            )
        extra[name] = value
    log_sigmoid = jax.nn.log_sigmoid(input)
    if "pos_weight" in extra:
        log_sigmoid = log_sigmoid * ((extra["pos_weight"] - 1) * target + 1)
    loss = (1 - target) * input - log_sigmoid
    if "weight" in extra:
        loss = loss * extra["weight"]
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- more losses
# binary_cross_entropy, kl_div, smooth_l1_loss, huber_loss, margin_ranking_loss,
# cosine_embedding_loss, triplet_margin_loss (aten/src/ATen/native/Loss.cpp, LossBinaryCrossEntropy.cpp).

_BCE_EPSILON = 1e-12


@jax.custom_vjp
def _bce_pointwise(input, target):
    # aten: (t - 1) * max(log1p(-x), -100) - t * max(log(x), -100)
    log_x = jnp.maximum(jnp.log(input), -100.0)
    log_1mx = jnp.maximum(jnp.log1p(-input), -100.0)
    return (target - 1) * log_1mx - target * log_x


def _bce_fwd(input, target):
    return _bce_pointwise(input, target), (input, target)


def _bce_bwd(residuals, grad):
    input, target = residuals
    # aten's binary_cross_entropy_backward and binary_cross_entropy_target_backward.
    eps = jnp.asarray(_BCE_EPSILON, input.dtype)
    grad_input = grad * (input - target) / jnp.maximum((1 - input) * input, eps)
    grad_target = grad * (jnp.maximum(jnp.log1p(-input), -100.0) - jnp.maximum(jnp.log(input), -100.0))
    return grad_input, grad_target


_bce_pointwise.defvjp(_bce_fwd, _bce_bwd)


def _check_broadcast_weight(op: str, weight, input: jax.Array):
    if weight is None:
        return None
    weight = _as_float_input(op, "weight", weight)
    _check_same_dtype(op, "weight", weight, input)
    try:
        shape = jnp.broadcast_shapes(weight.shape, input.shape)
    except ValueError:
        shape = None
    if shape != input.shape:
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} must broadcast to the input shape "
                         f"{tuple(input.shape)}")
    return weight


def binary_cross_entropy(
    input: jax.Array,
    target: jax.Array,
    weight: Optional[jax.Array] = None,
    reduction: str = "mean",
) -> jax.Array:
    """Binary cross entropy on probabilities, as ``torch.nn.functional.binary_cross_entropy``.

    ``l = -w * (t * max(log(x), -100) + (1 - t) * max(log(1 - x), -100))`` elementwise (the
    logs are clamped at -100, as PyTorch, so ``x = 0`` or ``1`` gives a finite loss). The
    gradient is PyTorch's: ``w * (x - t) / max(x * (1 - x), 1e-12)`` for the input and
    ``w * (max(log(1 - x), -100) - max(log(x), -100))`` for the target.

    Args:
        input: probabilities in [0, 1] (values outside give NaN; PyTorch raises on CPU).
        target: floating targets of the input's shape and dtype.
        weight: optional rescaling weight broadcastable to the input's shape.
        reduction: ``'none'``, ``'mean'`` (default) or ``'sum'``.

    Raises:
        ValueError: target shape differs from the input's (PyTorch's "Using a target size ...
            that is different to the input size"), bad weight shape or reduction.
        TypeError: non-floating arrays or different dtypes.
    """
    op = "binary_cross_entropy"
    check_reduction(op, reduction)
    input = _as_float_input(op, "input", input)
    target = _as_float_input(op, "target", target)
    _check_same_dtype(op, "target", target, input)
    if target.shape != input.shape:
        raise ValueError(
            f"{op}: Using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}) is deprecated. Please ensure they have the same size.")
    weight = _check_broadcast_weight(op, weight, input)
    loss = _bce_pointwise(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input: jax.Array, target: jax.Array, reduction: str = "mean", log_target: bool = False) -> jax.Array:
    """Kullback-Leibler divergence with log-probability ``input``, as
    ``torch.nn.functional.kl_div``: ``l = xlogy(t, t) - t * input`` (``log_target``:
    ``exp(t) * (t - input)``). ``'batchmean'`` divides the sum by the batch size (the
    mathematically right KL); ``'mean'`` by the element count.

    Raises:
        ValueError: bad reduction. TypeError: non-floating arrays.
    """
    op = "kl_div"
    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{op}: {reduction} is not a valid value for reduction")
    input = _as_float_input(op, "input", input)
    target = _as_float_input(op, "target", target)
    _check_same_dtype(op, "target", target, input)
    if log_target:
        loss = jnp.exp(target) * (target - input)
    else:
        loss = jax.scipy.special.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return jnp.sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def smooth_l1_loss(input: jax.Array, target: jax.Array, reduction: str = "mean", beta: float = 1.0) -> jax.Array:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input - target``),
    as ``torch.nn.functional.smooth_l1_loss``; ``beta = 0`` is the L1 loss.

    Raises:
        ValueError: negative ``beta``, shapes that differ, bad reduction.
    """
    if beta < 0:
        raise ValueError("smooth_l1_loss does not support negative values for beta.")
    diff = _checked_difference("smooth_l1_loss", input, target, reduction)
    absolute = jax.lax.stop_gradient(jnp.sign(diff)) * diff
    if beta == 0:
        return _reduce(absolute, reduction)
    loss = jnp.where(absolute < beta, 0.5 * diff * diff / beta, absolute - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input: jax.Array, target: jax.Array, reduction: str = "mean", delta: float = 1.0) -> jax.Array:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, as
    ``torch.nn.functional.huber_loss``.

    Raises:
        ValueError: non-positive ``delta``, shapes that differ, bad reduction.
    """
    if delta <= 0:
        raise ValueError(f"huber_loss does not support non-positive values for delta, got {delta}")
    diff = _checked_difference("huber_loss", input, target, reduction)
    absolute = jax.lax.stop_gradient(jnp.sign(diff)) * diff
    loss = jnp.where(absolute < delta, 0.5 * diff * diff, delta * (absolute - 0.5 * delta))
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: jax.Array, input2: jax.Array, target: jax.Array, margin: float = 0.0,
                        reduction: str = "mean") -> jax.Array:
    """``max(0, -y (x1 - x2) + margin)``, as ``torch.nn.functional.margin_ranking_loss``.

    Raises:
        ValueError: inputs of different ranks, bad reduction.
    """
    op = "margin_ranking_loss"
    check_reduction(op, reduction)
    input1 = _as_float_input(op, "input1", input1)
    input2 = _as_float_input(op, "input2", input2)
    target = jnp.asarray(target).astype(input1.dtype)
    if not input1.ndim == input2.ndim == target.ndim:
        raise ValueError(f"{op} : All input tensors should have same dimension but got sizes: input1: "
                         f"{tuple(input1.shape)}, input2: {tuple(input2.shape)}, target: {tuple(target.shape)} ")
    loss = jax.nn.relu(-target * (input1 - input2) + margin)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: jax.Array, input2: jax.Array, target: jax.Array, margin: float = 0.0,
                          reduction: str = "mean") -> jax.Array:
    """``1 - cos(x1, x2)`` where ``y = 1``, ``max(0, cos(x1, x2) - margin)`` where ``y = -1``,
    as ``torch.nn.functional.cosine_embedding_loss`` (``cos`` over the last dim of ``[N, D]`` or
    ``[D]`` inputs, with PyTorch's ``1e-12`` added to each squared magnitude).

    Raises:
        ValueError: inputs that are not 1-D/2-D, or a target of the wrong shape.
    """
    op = "cosine_embedding_loss"
    check_reduction(op, reduction)
    input1 = _as_float_input(op, "input1", input1)
    input2 = _as_float_input(op, "input2", input2)
    if input1.ndim not in (1, 2) or input1.shape != input2.shape:
        raise ValueError(f"{op}: expected two 1-D or 2-D inputs of the same shape, got {tuple(input1.shape)} and "
                         f"{tuple(input2.shape)}")
    target = jnp.asarray(target)
    if target.shape != input1.shape[:-1]:
        raise ValueError(f"{op}: expected target of shape {tuple(input1.shape[:-1])}, got {tuple(target.shape)}")
    axis = input1.ndim - 1
    eps = _BCE_EPSILON
    prod_sum = jnp.sum(input1 * input2, axis=axis)
    mag1 = jnp.sum(input1 * input1, axis=axis) + eps
    mag2 = jnp.sum(input2 * input2, axis=axis) + eps
    cos = prod_sum / jnp.sqrt(mag1 * mag2)
    zero = jnp.zeros((), cos.dtype)
    positive = jnp.where(target == 1, 1 - cos, zero)
    negative = jnp.where(target == -1, jax.nn.relu(cos - margin), zero)
    return _reduce(positive + negative, reduction)


def pairwise_distance(x1: jax.Array, x2: jax.Array, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> jax.Array:
    """``norm(x1 - x2 + eps, p)`` over the last dim, as ``torch.nn.functional.pairwise_distance``."""
    diff = x1 - x2 + eps
    axis = max(x1.ndim, x2.ndim) - 1
    a = jnp.abs(diff)
    if p == math.inf:
        return jnp.max(a, axis=axis, keepdims=keepdim)
    if p == 2:
        return jnp.sqrt(jnp.sum(diff * diff, axis=axis, keepdims=keepdim))
    return jnp.sum(a ** p, axis=axis, keepdims=keepdim) ** (1.0 / p)


def triplet_margin_loss(anchor: jax.Array, positive: jax.Array, negative: jax.Array, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False, reduction: str = "mean") -> jax.Array:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the :func:`pairwise_distance`
    (``swap``: ``d(a, n)`` becomes ``min(d(a, n), d(p, n))``), as
    ``torch.nn.functional.triplet_margin_loss``.

    Raises:
        ValueError: inputs of different ranks, bad reduction.
    """
    op = "triplet_margin_loss"
    check_reduction(op, reduction)
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ValueError(f"{op}: The anchor, positive, and negative tensors are expected to have the same number "
                         f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                         f"{negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = jnp.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(jax.nn.relu(margin + d_pos - d_neg), reduction)


def cosine_similarity(x1: jax.Array, x2: jax.Array, dim: int = 1, eps: float = 1e-8) -> jax.Array:
    """``sum(x1 * x2) / (max(|x1|, eps) * max(|x2|, eps))`` along ``dim`` (broadcast), as
    ``torch.nn.functional.cosine_similarity``."""
    x1, x2 = jnp.broadcast_arrays(x1, x2)
    n1 = jnp.sqrt(jnp.sum(x1 * x1, axis=dim, keepdims=True))
    n2 = jnp.sqrt(jnp.sum(x2 * x2, axis=dim, keepdims=True))
    return jnp.sum((x1 / jnp.maximum(n1, eps)) * (x2 / jnp.maximum(n2, eps)), axis=dim)


def normalize(input: jax.Array, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> jax.Array:
    """``input / max(norm(input, p, dim), eps)``, as ``torch.nn.functional.normalize``."""
    a = jnp.abs(input)
    if p == math.inf:
        norm = jnp.max(a, axis=dim, keepdims=True)
    elif p == 2:
        total = jnp.sum(input * input, axis=dim, keepdims=True)
        positive = total > 0
        norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, total, 1)), 0)
    else:
        norm = jnp.sum(a ** p, axis=dim, keepdims=True) ** (1.0 / p)
    return input / jnp.maximum(norm, eps)


def one_hot(tensor: jax.Array, num_classes: int) -> jax.Array:
    """``[..., num_classes]`` rows with a 1 at each index of the integer ``tensor``, in JAX's
    default integer dtype (int64 with x64, else int32), as ``torch.nn.functional.one_hot``.
    Out-of-range indices give all-zero rows under tracing; the facade checks concrete values."""
    if not jnp.issubdtype(tensor.dtype, jnp.integer):
        raise TypeError(f"one_hot is only applicable to index tensor, got dtype {tensor.dtype}")
    dtype = jax.dtypes.canonicalize_dtype(np.int64)
    return (tensor[..., None] == jnp.arange(num_classes, dtype=tensor.dtype)).astype(dtype)
