"""ResNet, ResNeXt and Wide ResNet, as ``torchvision.models.resnet`` (same modules, names and
``state_dict`` keys; ``weights=None`` initialises as torchvision)."""
from __future__ import annotations

from ...stateful import _layers as L
from ...stateful._conv_layers import Conv2d
from ...stateful._module import Module, Sequential
from ._utils import check_no_legacy_arguments, constant_, init_batch_norms, kaiming_normal_, load_weights

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50", "resnet101",
           "resnet152", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
           "wide_resnet101_2"]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution with padding."""
    return Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                  bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution."""
    return Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(Module):
    """Two 3x3 convolutions with batch norm and a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = L.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = L.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(Module):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand (x4), residual (ResNet-50 and up)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = L.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = L.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(Module):
    """torchvision's ``ResNet(block, layers, num_classes=1000, zero_init_residual=False, groups=1,
    width_per_group=64, replace_stride_with_dilation=None, norm_layer=None)``."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1, width_per_group=64,
                 replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = L.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(
                "replace_stride_with_dilation should be None or a 3-element tuple, "
                f"got {replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = L.ReLU(inplace=True)
        self.maxpool = L.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=replace_stride_with_dilation[2])
        self.avgpool = L.AdaptiveAvgPool2d((1, 1))
        self.fc = L.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, Conv2d):
                kaiming_normal_(m.weight, mode="fan_out")
        init_batch_norms(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    constant_(m.bn3.weight, 0.0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    constant_(m.bn2.weight, 0.0)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                    norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation, norm_layer=norm_layer))
        return Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x).flatten(1)
        return self.fc(x)


def _resnet(block, layers, weights, kwargs, **fixed):
    check_no_legacy_arguments(kwargs)
    return load_weights(ResNet(block, layers, **fixed, **kwargs), weights)


def resnet18(*, weights=None, **kwargs) -> ResNet:
    """ResNet-18 (He et al. 2015). ``weights``: None, or a path to a saved ``state_dict``."""
    return _resnet(BasicBlock, [2, 2, 2, 2], weights, kwargs)


def resnet34(*, weights=None, **kwargs) -> ResNet:
    """ResNet-34."""
    return _resnet(BasicBlock, [3, 4, 6, 3], weights, kwargs)


def resnet50(*, weights=None, **kwargs) -> ResNet:
    """ResNet-50."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, kwargs)


def resnet101(*, weights=None, **kwargs) -> ResNet:
    """ResNet-101."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, kwargs)


def resnet152(*, weights=None, **kwargs) -> ResNet:
    """ResNet-152."""
    return _resnet(Bottleneck, [3, 8, 36, 3], weights, kwargs)


def resnext50_32x4d(*, weights=None, **kwargs) -> ResNet:
    """ResNeXt-50 32x4d (Xie et al. 2016): 32 groups of width 4 in every 3x3 convolution."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, kwargs, groups=32, width_per_group=4)


def resnext101_32x8d(*, weights=None, **kwargs) -> ResNet:
    """ResNeXt-101 32x8d."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, kwargs, groups=32, width_per_group=8)


def resnext101_64x4d(*, weights=None, **kwargs) -> ResNet:
    """ResNeXt-101 64x4d."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, kwargs, groups=64, width_per_group=4)


def wide_resnet50_2(*, weights=None, **kwargs) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): bottlenecks twice as wide."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, kwargs, width_per_group=128)


def wide_resnet101_2(*, weights=None, **kwargs) -> ResNet:
    """Wide ResNet-101-2."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, kwargs, width_per_group=128)
