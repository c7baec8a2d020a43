"""rustorch.vision.datasets: image datasets with torchvision's classes and signatures.

Items are PIL images when Pillow is installed (as torchvision), else uint8 numpy arrays
``[H, W(, C)]``; ``rustorch.vision.set_image_backend('numpy')`` chooses numpy arrays with Pillow
installed too. Every transform in ``rustorch.vision.transforms`` accepts both.
"""
from .cifar import CIFAR10, CIFAR100
from .fakedata import FakeData
from .folder import IMG_EXTENSIONS, DatasetFolder, ImageFolder, default_loader, pil_loader
from .mnist import KMNIST, MNIST, FashionMNIST
from .vision import VisionDataset

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "DatasetFolder",
    "FakeData",
    "FashionMNIST",
    "IMG_EXTENSIONS",
    "ImageFolder",
    "KMNIST",
    "MNIST",
    "VisionDataset",
    "default_loader",
    "pil_loader",
]
