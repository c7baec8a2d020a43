"""``rustorch.nn.functional``'s convolution, pooling, padding, resizing and image-normalisation
ops on Variables (recorded lazily), with PyTorch's signatures."""
from __future__ import annotations

from .. import functional as _F
from ._image_layers import _instance_norm, _instance_norm_update, _record_feature_dropout, feature_dropout_dims
from ._nn_functional import _recorded
from ._variable import apply

conv1d = _recorded(_F.conv1d, ("input", "weight", "bias"))
conv3d = _recorded(_F.conv3d, ("input", "weight", "bias"))
conv_transpose1d = _recorded(_F.conv_transpose1d, ("input", "weight", "bias"))
conv_transpose2d = _recorded(_F.conv_transpose2d, ("input", "weight", "bias"))
conv_transpose3d = _recorded(_F.conv_transpose3d, ("input", "weight", "bias"))
avg_pool1d = _recorded(_F.avg_pool1d, ("input",))
adaptive_avg_pool1d = _recorded(_F.adaptive_avg_pool1d, ("input",))
pad = _recorded(_F.pad, ("input",))
interpolate = _recorded(_F.interpolate, ("input",))
pixel_shuffle = _recorded(_F.pixel_shuffle, ("input",))
pixel_unshuffle = _recorded(_F.pixel_unshuffle, ("input",))
local_response_norm = _recorded(_F.local_response_norm, ("input",))
prelu = _recorded(_F.prelu, ("input", "weight"))


# Pooling: the N-d ops (return_indices, when True, makes the recorded op return two Variables).
max_pool1d = _recorded(_F.max_pool1d, ("input",))
max_pool3d = _recorded(_F.max_pool3d, ("input",))
avg_pool3d = _recorded(_F.avg_pool3d, ("input",))
adaptive_max_pool1d = _recorded(_F.adaptive_max_pool1d, ("input",))
adaptive_max_pool2d = _recorded(_F.adaptive_max_pool2d, ("input",))
adaptive_max_pool3d = _recorded(_F.adaptive_max_pool3d, ("input",))
adaptive_avg_pool3d = _recorded(_F.adaptive_avg_pool3d, ("input",))
max_pool1d_with_indices = _recorded(_F.max_pool1d_with_indices, ("input",))
max_pool2d_with_indices = _recorded(_F.max_pool2d_with_indices, ("input",))
max_pool3d_with_indices = _recorded(_F.max_pool3d_with_indices, ("input",))
adaptive_max_pool1d_with_indices = _recorded(_F.adaptive_max_pool1d_with_indices, ("input",))
adaptive_max_pool2d_with_indices = _recorded(_F.adaptive_max_pool2d_with_indices, ("input",))
adaptive_max_pool3d_with_indices = _recorded(_F.adaptive_max_pool3d_with_indices, ("input",))
lp_pool1d = _recorded(_F.lp_pool1d, ("input",))
lp_pool2d = _recorded(_F.lp_pool2d, ("input",))
lp_pool3d = _recorded(_F.lp_pool3d, ("input",))
max_unpool1d = _recorded(_F.max_unpool1d, ("input", "indices"))
max_unpool2d = _recorded(_F.max_unpool2d, ("input", "indices"))
max_unpool3d = _recorded(_F.max_unpool3d, ("input", "indices"))


def _elementwise(fn):
    def wrapper(input, inplace=False):
        return apply(fn, input)

    wrapper.__name__ = wrapper.__qualname__ = fn.__name__
    wrapper.__doc__ = (fn.__doc__ or "") + "\n\n    ``inplace`` is accepted and ignored (values are immutable)."
    return wrapper


relu6 = _elementwise(_F.relu6)
hardswish = _elementwise(_F.hardswish)
hardsigmoid = _elementwise(_F.hardsigmoid)
mish = _elementwise(_F.mish)


def _feature_dropout(spatial):
    def wrapper(input, p=0.5, training=True, inplace=False):
        _F._checks.check_probability(f"dropout{spatial}d", p)
        dims = feature_dropout_dims(input, spatial) if spatial == 2 else spatial
        return _record_feature_dropout(input, p, training, dims)

    wrapper.__name__ = wrapper.__qualname__ = f"dropout{spatial}d"
    wrapper.__doc__ = (f"``torch.nn.functional.dropout{spatial}d``: zero whole channels with probability "
                       "``p`` (mask from the default generator), scale the rest by ``1/(1-p)``.")
    return wrapper


dropout1d = _feature_dropout(1)
dropout2d = _feature_dropout(2)
dropout3d = _feature_dropout(3)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """``torch.nn.functional.instance_norm``; with running statistics and ``use_input_stats`` the
    updated statistics are written back into ``running_mean``/``running_var``, as PyTorch does."""
    if use_input_stats and running_mean is not None and running_var is not None:
        y, mean, var = apply(_instance_norm_update, input, weight, bias, running_mean, running_var,
                             momentum=momentum, eps=eps)
        running_mean._assign(mean._concrete())
        running_var._assign(var._concrete())
        return y
    return apply(_instance_norm, input, weight, bias, running_mean, running_var,
                 use_input_stats=use_input_stats, eps=eps)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``torch.nn.functional.upsample`` (deprecated in PyTorch): :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)
