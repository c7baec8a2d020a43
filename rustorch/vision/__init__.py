"""rustorch.vision: torchvision's datasets, transforms and utilities for rustorch
(``import torchvision`` -> ``import rustorch.vision as torchvision``).

Everything here runs on the host with numpy (and Pillow when installed), so it runs in
``DataLoader`` worker processes; batches become rustorch tensors in the main process.
"""
from . import datasets, models, transforms, utils
from ._image import get_image_backend, set_image_backend

__all__ = ["datasets", "get_image_backend", "models", "set_image_backend", "transforms", "utils"]
