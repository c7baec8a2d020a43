"""MobileNetV2, as ``torchvision.models.mobilenetv2`` (same modules, names and ``state_dict`` keys)."""
from __future__ import annotations

from ...stateful import _layers as L
from ...stateful._conv_layers import Conv2d
from ...stateful._image_layers import ReLU6
from ...stateful._module import Module, Sequential
from ...stateful._nn_functional import adaptive_avg_pool2d
from ._utils import (Conv2dNormActivation, _make_divisible, check_no_legacy_arguments, constant_, init_batch_norms,
                     kaiming_normal_, load_weights, normal_)

__all__ = ["MobileNetV2", "mobilenet_v2"]


class InvertedResidual(Module):
    """Expand (1x1), depthwise 3x3, project (1x1, linear), with a residual when shapes allow."""

    def __init__(self, inp, oup, stride, expand_ratio, norm_layer=None):
        super().__init__()
        self.stride = stride
        if stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2 instead of {stride}")
        if norm_layer is None:
            norm_layer = L.BatchNorm2d
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = self.stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1, norm_layer=norm_layer,
                                               activation_layer=ReLU6))
        layers.extend([
            Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim, norm_layer=norm_layer,
                                 activation_layer=ReLU6),
            Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            norm_layer(oup),
        ])
        self.conv = Sequential(*layers)
        self.out_channels = oup
        self._is_cn = stride > 1

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(Module):
    """torchvision's ``MobileNetV2(num_classes=1000, width_mult=1.0, inverted_residual_setting=None,
    round_nearest=8, block=None, norm_layer=None, dropout=0.2)`` (Sandler et al. 2018)."""

    def __init__(self, num_classes=1000, width_mult=1.0, inverted_residual_setting=None, round_nearest=8,
                 block=None, norm_layer=None, dropout=0.2):
        super().__init__()
        block = InvertedResidual if block is None else block
        norm_layer = L.BatchNorm2d if norm_layer is None else norm_layer
        input_channel, last_channel = 32, 1280
        if inverted_residual_setting is None:
            inverted_residual_setting = [
                # t, c, n, s
                [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                [6, 320, 1, 1],
            ]
        if len(inverted_residual_setting) == 0 or len(inverted_residual_setting[0]) != 4:
            raise ValueError(
                f"inverted_residual_setting should be non-empty or a 4-element list, got {inverted_residual_setting}")
        input_channel = _make_divisible(input_channel * width_mult, round_nearest)
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult), round_nearest)
        features = [Conv2dNormActivation(3, input_channel, stride=2, norm_layer=norm_layer, activation_layer=ReLU6)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(block(input_channel, output_channel, s if i == 0 else 1, expand_ratio=t,
                                      norm_layer=norm_layer))
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1, norm_layer=norm_layer,
                                             activation_layer=ReLU6))
        self.features = Sequential(*features)
        self.classifier = Sequential(L.Dropout(p=dropout), L.Linear(self.last_channel, num_classes))

        for m in self.modules():
            if isinstance(m, Conv2d):
                kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    constant_(m.bias, 0.0)
            elif isinstance(m, L.Linear):
                normal_(m.weight, 0.0, 0.01)
                constant_(m.bias, 0.0)
        init_batch_norms(self)

    def forward(self, x):
        x = adaptive_avg_pool2d(self.features(x), (1, 1)).flatten(1)
        return self.classifier(x)


def mobilenet_v2(*, weights=None, **kwargs) -> MobileNetV2:
    """MobileNetV2. ``weights``: None, or a path to a saved ``state_dict``."""
    check_no_legacy_arguments(kwargs)
    return load_weights(MobileNetV2(**kwargs), weights)
