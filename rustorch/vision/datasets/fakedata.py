"""``FakeData``: random images for smoke tests (``torchvision.datasets.FakeData``)."""
from __future__ import annotations

import numpy as np

from .._image import from_array
from .vision import VisionDataset


class FakeData(VisionDataset):
    """``size`` random images with random labels; item ``i`` is the same on every access.

    Args:
        size (int, default 1000): number of items.
        image_size (default ``(3, 224, 224)``): ``(C, H, W)`` with ``C`` 1 or 3.
        num_classes (int, default 10): labels are in ``range(num_classes)``.
        transform, target_transform (callable, optional).
        random_offset (int, default 0): added to the index to seed item ``i``.

    Images are uniform uint8 pixels drawn from ``numpy.random.default_rng(i + random_offset)``
    (torchvision draws normal values from torch's generator; the pixels differ, the kind of
    item is the same: a PIL image, or a numpy ``[H, W(, C)]`` with the numpy backend).
    """

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10,
                 transform=None, target_transform=None, random_offset: int = 0) -> None:
        super().__init__(None, transform=transform, target_transform=target_transform)
        if len(image_size) != 3 or image_size[0] not in (1, 3):
            raise ValueError(f"FakeData: image_size should be (C, H, W) with C 1 or 3, got {image_size}")
        self.size = size
        self.num_classes = num_classes
        self.image_size = tuple(image_size)
        self.random_offset = random_offset

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        if not -self.size <= index < self.size:
            raise IndexError(f"{type(self).__name__} index out of range: {index} for size {self.size}")
        index %= self.size
        rng = np.random.default_rng(index + self.random_offset)
        c, h, w = self.image_size
        pixels = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        target = int(rng.integers(0, self.num_classes))
        return self._apply(from_array(pixels[:, :, 0] if c == 1 else pixels), target)
