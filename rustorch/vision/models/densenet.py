"""DenseNet, as ``torchvision.models.densenet`` (same modules, names and ``state_dict`` keys;
published checkpoints' older ``norm.1``-style keys are remapped on load, as torchvision does)."""
from __future__ import annotations

from collections import OrderedDict

from ...stateful import _layers as L
from ...stateful._conv_layers import Conv2d
from ...stateful._module import Module, ModuleDict, Sequential
from ...stateful._nn_functional import adaptive_avg_pool2d, relu
from ...stateful._tensor_functions import cat
from ...stateful._variable import Variable
from ...utils.checkpoint import checkpoint
from ._utils import check_no_legacy_arguments, constant_, densenet_legacy_keys, init_batch_norms, kaiming_normal_, load_weights

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201"]


class _DenseLayer(Module):
    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate, memory_efficient=False):
        super().__init__()
        self.norm1 = L.BatchNorm2d(num_input_features)
        self.relu1 = L.ReLU(inplace=True)
        self.conv1 = Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = L.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = L.ReLU(inplace=True)
        self.conv2 = Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bn_function(self, *inputs):
        """BN-ReLU-Conv1x1 of the concatenated features (the bottleneck)."""
        concated_features = cat(list(inputs), 1) if len(inputs) > 1 else inputs[0]
        return self.conv1(self.relu1(self.norm1(concated_features)))

    def forward(self, input):
        prev_features = [input] if isinstance(input, Variable) else list(input)
        if self.memory_efficient and any(f.requires_grad for f in prev_features):
            bottleneck_output = checkpoint(self.bn_function, *prev_features, use_reentrant=False)
        else:
            bottleneck_output = self.bn_function(*prev_features)
        new_features = self.conv2(self.relu2(self.norm2(bottleneck_output)))
        if self.drop_rate > 0:
            new_features = L.dropout(new_features, p=self.drop_rate, training=self.training)
        return new_features


class _DenseBlock(ModuleDict):
    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate, memory_efficient=False):
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate=growth_rate, bn_size=bn_size,
                                drop_rate=drop_rate, memory_efficient=memory_efficient)
            self.add_module("denselayer%d" % (i + 1), layer)

    def forward(self, init_features):
        features = [init_features]
        for _, layer in self.items():
            features.append(layer(features))
        return cat(features, 1)


class _Transition(Sequential):
    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.norm = L.BatchNorm2d(num_input_features)
        self.relu = L.ReLU(inplace=True)
        self.conv = Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)
        self.pool = L.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(Module):
    """torchvision's ``DenseNet(growth_rate=32, block_config=(6, 12, 24, 16),
    num_init_features=64, bn_size=4, drop_rate=0, num_classes=1000, memory_efficient=False)``
    (Huang et al. 2016). ``memory_efficient`` recomputes each bottleneck in the backward pass
    (:func:`rustorch.utils.checkpoint.checkpoint`)."""

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                 drop_rate=0, num_classes=1000, memory_efficient=False, stem=None):
        super().__init__()
        if stem is None:
            stem = OrderedDict([
                ("conv0", Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
                ("norm0", L.BatchNorm2d(num_init_features)),
                ("relu0", L.ReLU(inplace=True)),
                ("pool0", L.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ])
        self.features = Sequential(stem)
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers=num_layers, num_input_features=num_features, bn_size=bn_size,
                                growth_rate=growth_rate, drop_rate=drop_rate, memory_efficient=memory_efficient)
            self.features.add_module("denseblock%d" % (i + 1), block)
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                trans = _Transition(num_input_features=num_features, num_output_features=num_features // 2)
                self.features.add_module("transition%d" % (i + 1), trans)
                num_features = num_features // 2
        self.features.add_module("norm5", L.BatchNorm2d(num_features))
        self.classifier = L.Linear(num_features, num_classes)

        for m in self.modules():
            if isinstance(m, Conv2d):
                kaiming_normal_(m.weight)
            elif isinstance(m, L.Linear):
                constant_(m.bias, 0.0)
        init_batch_norms(self)

    def forward(self, x):
        out = relu(self.features(x))
        out = adaptive_avg_pool2d(out, (1, 1)).flatten(1)
        return self.classifier(out)


def _densenet(growth_rate, block_config, num_init_features, weights, kwargs):
    check_no_legacy_arguments(kwargs)
    model = DenseNet(growth_rate, block_config, num_init_features, **kwargs)
    return load_weights(model, weights, remap=densenet_legacy_keys)


def densenet121(*, weights=None, **kwargs) -> DenseNet:
    """DenseNet-121: growth 32, blocks (6, 12, 24, 16), 64 initial features."""
    return _densenet(32, (6, 12, 24, 16), 64, weights, kwargs)


def densenet161(*, weights=None, **kwargs) -> DenseNet:
    """DenseNet-161: growth 48, blocks (6, 12, 36, 24), 96 initial features."""
    return _densenet(48, (6, 12, 36, 24), 96, weights, kwargs)


def densenet169(*, weights=None, **kwargs) -> DenseNet:
    """DenseNet-169: growth 32, blocks (6, 12, 32, 32)."""
    return _densenet(32, (6, 12, 32, 32), 64, weights, kwargs)


def densenet201(*, weights=None, **kwargs) -> DenseNet:
    """DenseNet-201: growth 32, blocks (6, 12, 48, 32)."""
    return _densenet(32, (6, 12, 48, 32), 64, weights, kwargs)
