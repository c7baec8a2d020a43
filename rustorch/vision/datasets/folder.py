"""``DatasetFolder`` and ``ImageFolder``: one sub-folder per class (``torchvision.datasets``)."""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from .. import _image
from .vision import VisionDataset

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename: str, extensions) -> bool:
    return filename.lower().endswith(extensions if isinstance(extensions, str) else tuple(extensions))


def is_image_file(filename: str) -> bool:
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def find_classes(directory) -> tuple[list[str], dict[str, int]]:
    """The sorted sub-folder names of ``directory`` and their indices; ``FileNotFoundError``
    when there is none."""
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(directory, class_to_idx: dict[str, int], extensions=None,
                 is_valid_file: Callable[[str], bool] | None = None,
                 allow_empty: bool = False) -> list[tuple[str, int]]:
    """``(path, class_index)`` for every valid file under each class folder, in sorted order
    (``torchvision.datasets.folder.make_dataset``)."""
    directory = os.path.expanduser(os.fspath(directory))
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
    if is_valid_file is None:
        def is_valid_file(path: str) -> bool:
            return has_file_allowed_extension(path, extensions)
    instances, found = [], set()
    for target_class in sorted(class_to_idx):
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if is_valid_file(path):
                    instances.append((path, class_to_idx[target_class]))
                    found.add(target_class)
    empty = set(class_to_idx) - found
    if empty and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
        if extensions is not None:
            msg += f"Supported extensions are: {extensions if isinstance(extensions, str) else ', '.join(extensions)}"
        raise FileNotFoundError(msg)
    return instances


def pil_loader(path: str):
    """Open an image file as an RGB PIL image (Pillow required)."""
    _image.require_pil("loading image files")
    with open(path, "rb") as f:
        return _image.Image.open(f).convert("RGB")


def default_loader(path: str):
    """``pil_loader``, or its pixels as a uint8 numpy ``[H, W, 3]`` under the numpy backend."""
    img = pil_loader(path)
    return img if _image.get_image_backend() == "PIL" else np.asarray(img)


class DatasetFolder(VisionDataset):
    """Samples in ``root/<class>/**/<file>`` (``torchvision.datasets.DatasetFolder``).

    Args:
        root: the folder of class folders.
        loader (callable): path -> sample.
        extensions: accepted file name endings (or give ``is_valid_file``).
        transform, target_transform (callable, optional).
        is_valid_file (callable, optional): path -> bool.
        allow_empty (bool): accept class folders without valid files.

    Attributes ``classes``, ``class_to_idx``, ``samples`` (and ``imgs``), ``targets``, as
    torchvision's. Raises ``FileNotFoundError`` for no class folder or an empty class.
    """

    def __init__(self, root, loader: Callable, extensions=None, transform=None,
                 target_transform=None, is_valid_file=None, allow_empty: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        classes, class_to_idx = self.find_classes(self.root)
        samples = self.make_dataset(self.root, class_to_idx, extensions, is_valid_file, allow_empty)
        self.loader = loader
        self.extensions = extensions
        self.classes = classes
        self.class_to_idx = class_to_idx
        self.samples = samples
        self.targets = [s[1] for s in samples]

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None,
                     allow_empty: bool = False):
        return make_dataset(directory, class_to_idx, extensions, is_valid_file, allow_empty)

    def find_classes(self, directory):
        return find_classes(directory)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        return self._apply(self.loader(path), target)


class ImageFolder(DatasetFolder):
    """Images in ``root/<class>/**/<image>`` (``torchvision.datasets.ImageFolder``), opened as
    RGB with Pillow. Raises ``ImportError`` at construction when Pillow is missing and the
    default loader is used."""

    def __init__(self, root, transform=None, target_transform=None, loader: Callable = default_loader,
                 is_valid_file=None, allow_empty: bool = False) -> None:
        if loader is default_loader:
            _image.require_pil("ImageFolder's default loader")
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None,
                         transform=transform, target_transform=target_transform,
                         is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.imgs = self.samples
