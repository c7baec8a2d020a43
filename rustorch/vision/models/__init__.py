"""``rustorch.vision.models``: torchvision's image classification models with torchvision's
module structure and ``state_dict`` keys, so that a torchvision ``state_dict`` saved with
``torch.save`` loads with ``model.load_state_dict(rustorch.load(path))`` (or
``weights=path``) and gives torchvision's outputs. ``weights=None`` builds a randomly
initialised model with torchvision's initialisation; nothing is downloaded.

Plus small-image networks: the CIFAR ResNets (``resnet20`` ... ``resnet110``, in
:mod:`~rustorch.vision.models.cifar`) and DenseNet-BC (``densenet_bc``).
"""
from . import cifar
from .cifar import CifarResNet, densenet_bc, resnet20, resnet32, resnet44, resnet56, resnet110
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .mobilenetv2 import MobileNetV2, mobilenet_v2
from .mobilenetv3 import MobileNetV3, mobilenet_v3_large, mobilenet_v3_small
from .resnet import (
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    resnext101_32x8d,
    resnext101_64x4d,
    wide_resnet50_2,
    wide_resnet101_2,
)
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
