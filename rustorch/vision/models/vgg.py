"""VGG, as ``torchvision.models.vgg`` (same modules, names and ``state_dict`` keys)."""
from __future__ import annotations

from ...stateful import _layers as L
from ...stateful._conv_layers import Conv2d
from ...stateful._module import Module, Sequential
from ._utils import check_no_legacy_arguments, constant_, init_batch_norms, kaiming_normal_, load_weights, normal_

__all__ = ["VGG", "make_layers", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(Module):
    """torchvision's ``VGG(features, num_classes=1000, init_weights=True, dropout=0.5)``."""

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = L.AdaptiveAvgPool2d((7, 7))
        self.classifier = Sequential(
            L.Linear(512 * 7 * 7, 4096), L.ReLU(True), L.Dropout(p=dropout),
            L.Linear(4096, 4096), L.ReLU(True), L.Dropout(p=dropout),
            L.Linear(4096, num_classes),
        )
        if init_weights:
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
        x = self.avgpool(self.features(x)).flatten(1)
        return self.classifier(x)


def make_layers(cfg, batch_norm: bool = False) -> Sequential:
    """The convolutional stack of a VGG configuration (ints: 3x3 conv widths, ``'M'``: 2x2 max pool)."""
    layers = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(L.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(Conv2d(in_channels, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(L.BatchNorm2d(v))
            layers.append(L.ReLU(inplace=True))
            in_channels = v
    return Sequential(*layers)


def _vgg(cfg, batch_norm, weights, kwargs):
    check_no_legacy_arguments(kwargs)
    if weights is not None:
        kwargs["init_weights"] = False
    return load_weights(VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs), weights)


def vgg11(*, weights=None, **kwargs) -> VGG:
    """VGG-11 (configuration A)."""
    return _vgg("A", False, weights, kwargs)


def vgg11_bn(*, weights=None, **kwargs) -> VGG:
    """VGG-11 with batch normalisation."""
    return _vgg("A", True, weights, kwargs)


def vgg13(*, weights=None, **kwargs) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg("B", False, weights, kwargs)


def vgg13_bn(*, weights=None, **kwargs) -> VGG:
    """VGG-13 with batch normalisation."""
    return _vgg("B", True, weights, kwargs)


def vgg16(*, weights=None, **kwargs) -> VGG:
    """VGG-16 (configuration D)."""
    return _vgg("D", False, weights, kwargs)


def vgg16_bn(*, weights=None, **kwargs) -> VGG:
    """VGG-16 with batch normalisation."""
    return _vgg("D", True, weights, kwargs)


def vgg19(*, weights=None, **kwargs) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg("E", False, weights, kwargs)


def vgg19_bn(*, weights=None, **kwargs) -> VGG:
    """VGG-19 with batch normalisation."""
    return _vgg("E", True, weights, kwargs)
