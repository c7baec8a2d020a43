"""Image layers beyond convolution and pooling, as their ``torch.nn`` namesakes: padding,
resizing, pixel shuffling, instance and local response normalisation, channel-wise dropout,
and the activations of mobile networks (Hardswish, Hardsigmoid, Mish, ReLU6, PReLU)."""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import _device
from .. import functional as F
from ..functional._feature_dropout import _feature_dropout
from . import _channels_last, _graph, _random, _tensor_functions
from ._layers import _activation, _BatchNorm, _dtype, _expect, _static
from ._module import Module, Parameter
from ._variable import Variable, apply

# ------------------------------------------------------------------------------ activations

ReLU6 = _activation("ReLU6", F.relu6, "``min(max(0, x), 6)``, as ``torch.nn.ReLU6(inplace=False)``.",
                    inplace=True)
Hardsigmoid = _activation("Hardsigmoid", F.hardsigmoid, "``relu6(x + 3) / 6``, as ``torch.nn.Hardsigmoid``.",
                          inplace="hidden")
Hardswish = _activation("Hardswish", F.hardswish, "``x * relu6(x + 3) / 6``, as ``torch.nn.Hardswish``.",
                        inplace="hidden")
Mish = _activation("Mish", F.mish, "``x * tanh(softplus(x))``, as ``torch.nn.Mish(inplace=False)``.",
                   inplace=True)
LocalResponseNorm = _activation(
    "LocalResponseNorm", F.local_response_norm,
    "``x / (k + alpha / size * sum of x^2 over size neighbouring channels) ** beta``, as "
    "``torch.nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1.0)``.",
    (("size", None), ("alpha", 1e-4), ("beta", 0.75), ("k", 1.0)))

for _op in (F.relu6, F.hardsigmoid, F.hardswish, F.mish):
    _channels_last.register_elementwise(_op)

# Channels-last forms of the other ops image networks chain between convolutions (the layout
# pass, ``_channels_last``): average pooling (DenseNet's transitions, global pooling) and
# concatenation along the channels (DenseNet's blocks), so those networks stay channels-last.
_channels_last.register_on_activation(F.avg_pool2d)
_channels_last.register_on_activation(F.adaptive_avg_pool2d)


def _concatenate_channels_rule(args, static):
    if static.get("axis") != 1 or not any(isinstance(a, _channels_last.ChannelsLast) for a in args) \
            or not all(jnp.ndim(_channels_last.as_nchw(a)) == 4 for a in args):
        return NotImplemented
    dtype = static["dtype"]
    return _channels_last.ChannelsLast(
        jnp.concatenate([_channels_last.as_nhwc(a).astype(dtype) for a in args], axis=3))


_channels_last.register(_tensor_functions._concatenate, _concatenate_channels_rule)


class PReLU(Module):
    """``x if x > 0 else a * x`` with a learnable slope ``a``, as ``torch.nn.PReLU(num_parameters=1,
    init=0.25, device=None, dtype=None)``: one slope, or one per channel (dimension 1)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        if device is not None:
            _device.device(device)
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter._wrap(jnp.full((num_parameters,), init, _dtype(dtype)))

    def forward(self, input):
        return apply(F.prelu, input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


# ------------------------------------------------------------------------- channel dropout

def _feature_dropout_op(x, key, counter, *, p, spatial):
    return _feature_dropout(f"dropout{spatial}d", x, p, jax.random.fold_in(key, counter), True, spatial)


def _record_feature_dropout(input, p, training, spatial):
    if not training or p == 0:
        return input
    generator = _random.default_generator
    return apply(_feature_dropout_op, input, generator.key, generator.next_counter(), p=float(p), spatial=spatial)


def feature_dropout_dims(input, spatial: int) -> int:
    """The spatial dims ``dropout2d`` gives ``input``, with PyTorch's warnings: a 3-D input is
    read as ``[N, C, L]``; any other rank than 3 and 4 as ``[N, C, *rest]`` (one mask entry per
    ``(n, c)``: elementwise for a 2-D input), as PyTorch's ``feature_dropout`` does."""
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
            "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
            "dim. This behavior will change in a future release to interpret the input as one "
            "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
            "dropout behavior, please switch to using dropout1d instead.", UserWarning, stacklevel=4)
        return 1
    if input.ndim != 4 and input.ndim >= 1:
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will result "
            "in an error in a future release. To retain the behavior and silence this warning, please use "
            "dropout instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 "
            "spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D "
            "inputs).", UserWarning, stacklevel=4)
        return max(input.ndim - 2, 0)
    return spatial


class _FeatureDropout(Module):
    _spatial = 2

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        F._checks.check_probability(type(self).__name__, p)
        self.p, self.inplace = p, inplace

    def forward(self, input):
        spatial = feature_dropout_dims(input, self._spatial) if self._spatial == 2 else self._spatial
        _expect(self, input, (spatial + 1, spatial + 2), f"[N, C, *{spatial} spatial] or unbatched")
        return _record_feature_dropout(input, self.p, self.training, spatial)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


def _dropout_layer(name, spatial):
    doc = (f"Zero whole channels with probability ``p`` (one draw per ``(n, c)``, shared over the "
           f"{spatial} spatial dimension(s)) and scale the rest by ``1/(1-p)`` in training, as "
           f"``torch.nn.{name}(p=0.5, inplace=False)``; the identity in eval mode.")
    return type(name, (_FeatureDropout,), {"_spatial": spatial, "__doc__": doc, "__module__": __name__})


Dropout1d = _dropout_layer("Dropout1d", 1)
Dropout2d = _dropout_layer("Dropout2d", 2)
Dropout3d = _dropout_layer("Dropout3d", 3)


# ----------------------------------------------------------------------------------- padding

class _Pad(Module):
    _dims = 2
    _mode = "constant"
    _takes_value = False

    def __init__(self, padding, value=0.0):
        super().__init__()
        n = self._dims
        self.padding = (padding,) * (2 * n) if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != 2 * n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * n} ints, got {padding!r}")
        self.value = value

    def forward(self, input):
        if self._mode == "constant":
            return apply(F.pad, input, pad=self.padding, mode="constant", value=self.value)
        return apply(F.pad, input, pad=self.padding, mode=self._mode)

    def extra_repr(self):
        # torch: ConstantPad2d(padding=(1, 1, 1, 1), value=3.5) but ZeroPad2d((1, 1, 1, 1))
        return f"padding={self.padding}, value={self.value}" if self._takes_value else f"{self.padding}"


def _pad_layer(name, mode, dims, takes_value):
    doc = (f"Pad the last {dims} dimension(s) with F.pad mode {mode!r}, as ``torch.nn.{name}``; "
           f"``padding`` is an int or {2 * dims} ints (left, right, top, bottom, front, back).")
    attrs = {"_dims": dims, "_mode": mode, "_takes_value": takes_value, "__doc__": doc, "__module__": __name__}
    if not takes_value:
        zero = 0.0 if mode == "constant" else None
        attrs["__init__"] = lambda self, padding: _Pad.__init__(self, padding, zero)
    return type(name, (_Pad,), attrs)


_PAD_KINDS = (("ZeroPad", "constant", False), ("ConstantPad", "constant", True),
              ("ReflectionPad", "reflect", False), ("ReplicationPad", "replicate", False),
              ("CircularPad", "circular", False))
_PAD_LAYERS = {f"{prefix}{d}d": _pad_layer(f"{prefix}{d}d", mode, d, value)
               for prefix, mode, value in _PAD_KINDS for d in (1, 2, 3)}
globals().update(_PAD_LAYERS)


# ---------------------------------------------------------------------------------- resizing

class Upsample(Module):
    """Resize, as ``torch.nn.Upsample(size=None, scale_factor=None, mode='nearest',
    align_corners=None, recompute_scale_factor=None)`` (see :func:`rustorch.functional.interpolate`)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else (
            tuple(float(f) for f in scale_factor) if scale_factor is not None else None)
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return apply(F.interpolate, input, size=_static(self.size), scale_factor=_static(self.scale_factor),
                     mode=self.mode, align_corners=self.align_corners,
                     recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode='nearest')``, as ``torch.nn.UpsamplingNearest2d(size=None, scale_factor=None)``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode='bilinear', align_corners=True)``, as ``torch.nn.UpsamplingBilinear2d``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """``[*, C r^2, H, W] -> [*, C, H r, W r]``, as ``torch.nn.PixelShuffle(upscale_factor)``."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return apply(F.pixel_shuffle, input, upscale_factor=self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``[*, C, H r, W r] -> [*, C r^2, H, W]``, as ``torch.nn.PixelUnshuffle(downscale_factor)``."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return apply(F.pixel_unshuffle, input, downscale_factor=self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


# ---------------------------------------------------------------------------- instance norm

def _instance_norm_update(x, weight, bias, running_mean, running_var, *, momentum, eps):
    return F.instance_norm(x, running_mean, running_var, weight, bias, True, momentum, eps)


def _instance_norm(x, weight, bias, running_mean, running_var, *, use_input_stats, eps):
    if use_input_stats:
        return F.instance_norm(x, None, None, weight, bias, True, 0.0, eps)
    return F.instance_norm(x, running_mean, running_var, weight, bias, False, 0.0, eps)


class _InstanceNorm(_BatchNorm):
    _spatial = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None):
        if device is not None:
            _device.device(device)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype=dtype)

    def forward(self, input):
        n = self._spatial
        _expect(self, input, (n + 1, n + 2), f"[N, C, *{n} spatial] or unbatched [C, *{n} spatial]")
        unbatched = input.ndim == n + 1
        if unbatched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.num_features:
            if self.affine:
                raise ValueError(
                    f"{self!r}: expected input's size at dim=1 to match num_features ({self.num_features}), "
                    f"but got: {input.shape[1]}.")
            warnings.warn(
                f"input's size at dim=1 does not match num_features. You can silence this warning by not "
                f"passing in num_features, which is not used because affine=False", stacklevel=2)
        use_input_stats = self.training or not self.track_running_stats
        buffers = self._buffers
        if use_input_stats and self.running_mean is not None:
            momentum = 0.0 if self.momentum is None else float(self.momentum)
            y, mean, var = apply(_instance_norm_update, input, self.weight, self.bias, buffers["running_mean"],
                                 buffers["running_var"], momentum=momentum, eps=self.eps)
            for name, value in (("running_mean", mean), ("running_var", var)):
                value.requires_grad = False
                buffers[name] = value
                _graph.register_effect(value)
        else:
            y = apply(_instance_norm, input, self.weight, self.bias, buffers.get("running_mean"),
                      buffers.get("running_var"), use_input_stats=use_input_stats, eps=self.eps)
        return y.squeeze(0) if unbatched else y


def _instance_norm_layer(name, spatial):
    doc = (f"Instance normalisation of ``[N, C, *{spatial} spatial]`` input, as ``torch.nn.{name}("
           "num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False)``: each "
           "(sample, channel) map normalised over its positions with the biased variance; with "
           "``track_running_stats`` the running mean/unbiased variance are kept and used in eval.")
    return type(name, (_InstanceNorm,), {"_spatial": spatial, "__doc__": doc, "__module__": __name__})


InstanceNorm1d = _instance_norm_layer("InstanceNorm1d", 1)
InstanceNorm2d = _instance_norm_layer("InstanceNorm2d", 2)
InstanceNorm3d = _instance_norm_layer("InstanceNorm3d", 3)
