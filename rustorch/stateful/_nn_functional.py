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
