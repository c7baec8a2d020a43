"""``rustorch.nn.functional``: the functional ops applied to Variables, recorded lazily.

Each function has the signature of its ``rustorch.functional`` (and PyTorch) counterpart; array
arguments become inputs of the recorded node and configuration values its static arguments.
"""
from __future__ import annotations

import functools
import inspect

from .. import functional as _F
from ._layers import _batch_norm_eval, _batch_norm_stateless, _batch_norm_train, _static, dropout
from ._variable import Variable, apply


def _recorded(fn, array_params):
    signature = inspect.signature(fn)
    names = list(signature.parameters)
    if names[: len(array_params)] != list(array_params):
        raise AssertionError(f"{fn.__name__}: array parameters must come first")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        arrays = [arguments[name] for name in array_params]
        static = {name: _static(value) for name, value in arguments.items() if name not in array_params}
        return apply(fn, *arrays, **static)

    # cleandoc first: the appended unindented line would otherwise stop docstring tools from
    # removing the original indentation, and the reST would render as nested blocks.
    wrapper.__doc__ = inspect.cleandoc(fn.__doc__ or "") + "\n\nRecorded on rustorch Variables; computed lazily."
    return wrapper


conv2d = _recorded(_F.conv2d, ("input", "weight", "bias"))
linear = _recorded(_F.linear, ("input", "weight", "bias"))
max_pool2d = _recorded(_F.max_pool2d, ("input",))
avg_pool2d = _recorded(_F.avg_pool2d, ("input",))
adaptive_avg_pool2d = _recorded(_F.adaptive_avg_pool2d, ("input",))
relu = _recorded(_F.relu, ("input",))
leaky_relu = _recorded(_F.leaky_relu, ("input",))
gelu = _recorded(_F.gelu, ("input",))
sigmoid = _recorded(_F.sigmoid, ("input",))
tanh = _recorded(_F.tanh, ("input",))
softmax = _recorded(_F.softmax, ("input",))
log_softmax = _recorded(_F.log_softmax, ("input",))
elu = _recorded(_F.elu, ("input",))
silu = _recorded(_F.silu, ("input",))
softplus = _recorded(_F.softplus, ("input",))
hardtanh = _recorded(_F.hardtanh, ("input",))
cross_entropy = _recorded(_F.cross_entropy, ("input", "target", "weight"))
nll_loss = _recorded(_F.nll_loss, ("input", "target", "weight"))
mse_loss = _recorded(_F.mse_loss, ("input", "target"))
l1_loss = _recorded(_F.l1_loss, ("input", "target"))


def _bce_with_logits(input, target, weight=None, pos_weight=None, reduction="mean"):
    return _F.binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight)


_bce_with_logits.__doc__ = _F.binary_cross_entropy_with_logits.__doc__
binary_cross_entropy_with_logits = _recorded(_bce_with_logits, ("input", "target", "weight", "pos_weight"))


def flatten(input: Variable, start_dim: int = 0, end_dim: int = -1) -> Variable:
    """``torch.flatten``: merge dims ``start_dim..end_dim`` (default: all) into one."""
    return input.flatten(start_dim, end_dim)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """``torch.nn.functional.batch_norm`` (PyTorch's argument order). In training mode the
    updated statistics are written back into ``running_mean``/``running_var`` (which must be
    Variables), as PyTorch updates them in place."""
    if running_mean is None or running_var is None:
        if not training:
            raise ValueError("batch_norm: running_mean and running_var are required when training=False")
        return apply(_batch_norm_stateless, input, weight, bias, eps=eps)
    count = Variable(0)
    if not training:
        return apply(_batch_norm_eval, input, weight, bias, running_mean, running_var, count, eps=eps)
    y, mean, var, _ = apply(_batch_norm_train, input, weight, bias, running_mean, running_var, count,
                            momentum=momentum, eps=eps)
    running_mean._assign(mean._concrete())
    running_var._assign(var._concrete())
    return y


# --- more losses, distances, one_hot (surface block) ---
def _deprecated_reduction(op, size_average, reduce):
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: size_average and reduce are deprecated in PyTorch; use reduction=")


_binary_cross_entropy = _recorded(_F.binary_cross_entropy, ("input", "target", "weight"))
_kl_div = _recorded(_F.kl_div, ("input", "target"))
_smooth_l1_loss = _recorded(_F.smooth_l1_loss, ("input", "target"))
huber_loss = _recorded(_F.huber_loss, ("input", "target"))
_margin_ranking_loss = _recorded(_F.margin_ranking_loss, ("input1", "input2", "target"))
_cosine_embedding_loss = _recorded(_F.cosine_embedding_loss, ("input1", "input2", "target"))
_triplet_margin_loss = _recorded(_F.triplet_margin_loss, ("anchor", "positive", "negative"))
pairwise_distance = _recorded(_F.pairwise_distance, ("x1", "x2"))
cosine_similarity = _recorded(_F.cosine_similarity, ("x1", "x2"))
normalize = _recorded(_F.normalize, ("input",))


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``torch.nn.functional.binary_cross_entropy`` (see :func:`rustorch.functional.binary_cross_entropy`)."""
    _deprecated_reduction("binary_cross_entropy", size_average, reduce)
    return _binary_cross_entropy(input, target, weight, reduction=reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """``torch.nn.functional.kl_div`` (see :func:`rustorch.functional.kl_div`); ``'mean'`` warns
    as PyTorch does, because ``'batchmean'`` is the KL divergence."""
    _deprecated_reduction("kl_div", size_average, reduce)
    if reduction == "mean":
        import warnings

        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    return _kl_div(input, target, reduction=reduction, log_target=log_target)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``torch.nn.functional.smooth_l1_loss`` (see :func:`rustorch.functional.smooth_l1_loss`)."""
    _deprecated_reduction("smooth_l1_loss", size_average, reduce)
    return _smooth_l1_loss(input, target, reduction=reduction, beta=beta)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """``torch.nn.functional.margin_ranking_loss``."""
    _deprecated_reduction("margin_ranking_loss", size_average, reduce)
    return _margin_ranking_loss(input1, input2, target, margin=margin, reduction=reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """``torch.nn.functional.cosine_embedding_loss``."""
    _deprecated_reduction("cosine_embedding_loss", size_average, reduce)
    return _cosine_embedding_loss(input1, input2, target, margin=margin, reduction=reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """``torch.nn.functional.triplet_margin_loss``."""
    _deprecated_reduction("triplet_margin_loss", size_average, reduce)
    return _triplet_margin_loss(anchor, positive, negative, margin=margin, p=p, eps=eps, swap=swap,
                                reduction=reduction)


def one_hot(tensor: Variable, num_classes: int = -1) -> Variable:
    """``torch.nn.functional.one_hot``: ``[..., num_classes]`` 0/1 rows of JAX's default integer
    dtype (int64 with x64, else int32). ``num_classes=-1`` means ``max(tensor) + 1``.

    Raises:
        RuntimeError: a non-integer tensor ("one_hot is only applicable to index tensor"), a
            negative index, or an index ``>= num_classes`` ("Class values must be smaller than
            num_classes"). The values are read to check them, as PyTorch does.
    """
    import numpy as np

    if np.dtype(tensor.dtype).kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of integer dtype, got "
                           f"{np.dtype(tensor.dtype)}")
    values = np.asarray(tensor._concrete())
    if values.size and values.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = int(values.max()) + 1 if values.size else 0
    elif values.size and values.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return apply(_F.one_hot, tensor, num_classes=int(num_classes))
