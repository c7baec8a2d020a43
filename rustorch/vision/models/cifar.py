"""Small-image networks: the CIFAR ResNets of He et al. 2016 (ResNet-20/32/44/56/110, 3x3 stem,
three stages of 16/32/64 channels, parameter-free "option A" shortcuts) and DenseNet-BC
(Huang et al. 2017: 3x3 stem of ``2k`` channels, three dense blocks of bottleneck layers,
compression 0.5), in torchvision's module style."""
from __future__ import annotations

from collections import OrderedDict

from ...stateful import _layers as L
from ...stateful._conv_layers import Conv2d
from ...stateful._module import Module, Sequential
from ...stateful._nn_functional_cnn import pad
from ._utils import check_no_legacy_arguments, densenet_legacy_keys, init_batch_norms, kaiming_normal_, load_weights
from .densenet import DenseNet

__all__ = ["CifarResNet", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "densenet_bc"]


def _shortcut_a(x, extra_channels):
    """Option A: subsample by 2 and zero-pad the new channels (half on each side)."""
    half = extra_channels // 2
    return pad(x[:, :, ::2, ::2], (0, 0, 0, 0, half, extra_channels - half))


class CifarBasicBlock(Module):
    """Two 3x3 conv-BN layers and an identity shortcut (zero-padded and subsampled when the
    stage changes)."""

    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = L.BatchNorm2d(planes)
        self.conv2 = Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = L.BatchNorm2d(planes)
        self.relu = L.ReLU(inplace=True)
        self.extra_channels = planes - in_planes if stride != 1 or in_planes != planes else 0

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = _shortcut_a(x, self.extra_channels) if self.extra_channels else x
        return self.relu(out + shortcut)


class CifarResNet(Module):
    """ResNet-(6n+2) for 32x32 images: ``conv1``/``bn1`` (16 channels), ``layer1..3`` of ``n``
    blocks (16, 32, 64 channels; stride 2 at stages 2 and 3), global average pool, ``fc``.
    Convolutions and ``fc`` start from He-normal weights (fan-in)."""

    def __init__(self, num_blocks, num_classes=10, in_channels=3):
        super().__init__()
        self.in_planes = 16
        self.conv1 = Conv2d(in_channels, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = L.BatchNorm2d(16)
        self.relu = L.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, num_blocks, 1)
        self.layer2 = self._make_layer(32, num_blocks, 2)
        self.layer3 = self._make_layer(64, num_blocks, 2)
        self.avgpool = L.AdaptiveAvgPool2d((1, 1))
        self.fc = L.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (Conv2d, L.Linear)):
                kaiming_normal_(m.weight)
        init_batch_norms(self)

    def _make_layer(self, planes, blocks, stride):
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(CifarBasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def _cifar_resnet(n, weights, kwargs):
    check_no_legacy_arguments(kwargs)
    return load_weights(CifarResNet(n, **kwargs), weights)


def resnet20(*, weights=None, **kwargs) -> CifarResNet:
    """CIFAR ResNet-20 (n=3, 0.27M parameters). Keyword arguments: ``num_classes=10``, ``in_channels=3``."""
    return _cifar_resnet(3, weights, kwargs)


def resnet32(*, weights=None, **kwargs) -> CifarResNet:
    """CIFAR ResNet-32 (n=5)."""
    return _cifar_resnet(5, weights, kwargs)


def resnet44(*, weights=None, **kwargs) -> CifarResNet:
    """CIFAR ResNet-44 (n=7)."""
    return _cifar_resnet(7, weights, kwargs)


def resnet56(*, weights=None, **kwargs) -> CifarResNet:
    """CIFAR ResNet-56 (n=9, 0.85M parameters)."""
    return _cifar_resnet(9, weights, kwargs)


def resnet110(*, weights=None, **kwargs) -> CifarResNet:
    """CIFAR ResNet-110 (n=18)."""
    return _cifar_resnet(18, weights, kwargs)


def densenet_bc(depth: int = 100, growth_rate: int = 12, *, weights=None, num_classes: int = 10,
                in_channels: int = 3, drop_rate: float = 0.0, memory_efficient: bool = False) -> DenseNet:
    """DenseNet-BC for 32x32 images (Huang et al.; default depth 100, k=12: 0.8M parameters):
    a 3x3 stem of ``2k`` channels, three dense blocks of ``(depth - 4) // 6`` bottleneck layers
    with 0.5 compression between them, BN-ReLU, global pool, ``classifier``. Modules and keys
    follow torchvision's :class:`DenseNet` (``features.conv0``, ``features.denseblock1``, ...).

    Raises:
        ValueError: a depth that is not ``6n + 4``.
    """
    if (depth - 4) % 6:
        raise ValueError(f"densenet_bc: depth must be 6n + 4 (e.g. 100, 190), got {depth}")
    n = (depth - 4) // 6
    stem = OrderedDict([("conv0", Conv2d(in_channels, 2 * growth_rate, kernel_size=3, padding=1, bias=False))])
    model = DenseNet(growth_rate, (n, n, n), 2 * growth_rate, bn_size=4, drop_rate=drop_rate,
                     num_classes=num_classes, memory_efficient=memory_efficient, stem=stem)
    return load_weights(model, weights, remap=densenet_legacy_keys)
