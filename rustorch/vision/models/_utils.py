"""Shared pieces of the model zoo: torchvision's initialisers, channel rounding, the
Conv-Norm-Activation and squeeze-excitation blocks (``torchvision.ops.misc``) and weight loading."""
from __future__ import annotations

import math
import os
import re

import jax
import numpy as np

from ... import serialization
from ...stateful import _random
from ...stateful import _layers as L
from ...stateful._conv_layers import Conv2d
from ...stateful._module import Module, Sequential


def _draw(shape, dtype, sample):
    generator = _random.default_generator.numpy_generator()
    return jax.device_put(np.asarray(sample(generator, tuple(shape)), dtype))


def kaiming_normal_(param, mode: str = "fan_in", gain: float = math.sqrt(2.0)) -> None:
    """``torch.nn.init.kaiming_normal_`` (``a=0``: gain ``sqrt(2)`` for relu and leaky_relu):
    ``N(0, gain / sqrt(fan))`` with ``fan`` the weight's fan-in or fan-out."""
    shape = param.shape
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    fan = (shape[1] if mode == "fan_in" else shape[0]) * receptive
    std = gain / math.sqrt(fan)
    param._assign(_draw(shape, param.dtype, lambda g, s: g.normal(0.0, std, s)))


def normal_(param, mean: float = 0.0, std: float = 1.0) -> None:
    """``torch.nn.init.normal_``."""
    param._assign(_draw(param.shape, param.dtype, lambda g, s: g.normal(mean, std, s)))


def constant_(param, value: float) -> None:
    """``torch.nn.init.constant_``."""
    param._assign(jax.device_put(np.full(param.shape, value, param.dtype)))


def init_batch_norms(model: Module) -> None:
    """BatchNorm weights 1 and biases 0 (torchvision's loops; PyTorch's defaults already)."""
    for m in model.modules():
        if isinstance(m, L._BatchNorm) and m.weight is not None:
            constant_(m.weight, 1.0)
            constant_(m.bias, 0.0)


def _make_divisible(v: float, divisor: int, min_value=None) -> int:
    """torchvision's channel rounding: the nearest multiple of ``divisor`` (at least
    ``min_value``), never more than 10% below ``v``."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(Sequential):
    """Conv2d, then a norm layer, then an activation, as ``torchvision.ops.Conv2dNormActivation``
    (submodules ``0``, ``1``, ``2``; padding ``(k - 1) // 2 * dilation`` by default, bias only
    without a norm layer)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, groups=1,
                 norm_layer=L.BatchNorm2d, activation_layer=L.ReLU, dilation=1, inplace=True, bias=None):
        if padding is None:
            padding = (kernel_size - 1) // 2 * dilation
        if bias is None:
            bias = norm_layer is None
        layers = [Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation=dilation,
                         groups=groups, bias=bias)]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer(inplace=inplace))
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(Module):
    """``input * scale_activation(fc2(activation(fc1(avgpool(input)))))``, as
    ``torchvision.ops.SqueezeExcitation`` (1x1 convolutions ``fc1``, ``fc2``)."""

    def __init__(self, input_channels, squeeze_channels, activation=L.ReLU, scale_activation=L.Sigmoid):
        super().__init__()
        self.avgpool = L.AdaptiveAvgPool2d(1)
        self.fc1 = Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, input):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(input)))))
        return scale * input


def load_weights(model: Module, weights, remap=None) -> Module:
    """Load ``weights`` into ``model``: ``None`` keeps the random initialisation; a path (str or
    ``os.PathLike``) to a ``torch.save``/``rustorch.save`` file of a ``state_dict`` loads it
    (nothing is downloaded); a ``state_dict`` mapping loads directly. ``remap`` rewrites the keys
    of older checkpoints first.

    Raises:
        TypeError: ``weights`` of another kind (torchvision's enum weights need a download; save
            them with ``torch.save(model.state_dict(), path)`` and pass the path).
    """
    if weights is None:
        return model
    if isinstance(weights, (str, os.PathLike)):
        state = serialization.load(weights)
    elif hasattr(weights, "items"):
        state = weights
    else:
        raise TypeError(
            f"weights must be None, a path to a saved state_dict or a state_dict, got {type(weights).__name__}; "
            "rustorch.vision downloads nothing: save torchvision's weights with "
            "torch.save(model.state_dict(), path) and pass weights=path"
        )
    if remap is not None:
        state = remap(state)
    model.load_state_dict(state)
    return model


def check_no_legacy_arguments(kwargs: dict) -> None:
    """torchvision's ``pretrained=True`` downloads; rustorch.vision does not."""
    if kwargs.pop("pretrained", False):
        raise ValueError("pretrained=True would download weights; pass weights=<path to a saved state_dict>")
    kwargs.pop("progress", None)


_DENSENET_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def densenet_legacy_keys(state):
    """torchvision's ``densenet._load_state_dict`` remap: ``...denselayer1.norm.1.weight`` (the
    published checkpoints' keys) becomes ``...denselayer1.norm1.weight``."""
    out = type(state)() if isinstance(state, dict) else {}
    for key, value in state.items():
        match = _DENSENET_LEGACY.match(key)
        out[match.group(1) + match.group(2) if match else key] = value
    return out
