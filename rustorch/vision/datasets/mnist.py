"""MNIST and Fashion-MNIST (``torchvision.datasets.MNIST``/``FashionMNIST``) from IDX files.

Files are looked up in torchvision's layout ``root/<ClassName>/raw/`` and, for convenience, in
``root`` itself (and ``root/mnist`` for MNIST), raw or gzip-compressed. MNIST's files are
verified against the official sha256 digests (``rustorch.datasets.MNIST``); Fashion-MNIST's
are checked for a well-formed IDX header and matching image/label counts, as torchvision checks
nothing at load time.
"""
from __future__ import annotations

import os

import numpy as np

from rustorch import datasets as _raw
from rustorch.datasets import DownloadError, read_idx
from rustorch.utils.data._convert import to_tensor

from .._image import from_array
from .vision import VisionDataset

_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _not_found(name: str, folder: str, split: str, download: bool, reason: str = "") -> RuntimeError:
    files = ", ".join(f"{f}(.gz)" for f in _FILES[split == "train"])
    hint = (f" Downloading failed ({reason})." if download and reason else
            " This build cannot download it." if download else " You can use download=True to download it.")
    return RuntimeError(f"{name}: Dataset not found.{hint} Put {files} in {folder} (torchvision's "
                        "layout) and try again.")


class MNIST(VisionDataset):
    """The MNIST digits (``torchvision.datasets.MNIST``): 60,000 training and 10,000 test images.

    Args:
        root: the folder holding ``MNIST/raw/`` (torchvision's layout); the IDX files may also lie
            in ``root`` itself or ``root/mnist``.
        train (bool, default True): the training split, else the test split.
        transform, target_transform (callable, optional): applied to the image / the label.
        download (bool, default False): fetch missing files from the mirrors into
            ``root/MNIST/raw`` (``rustorch.datasets.MNIST``); without network it fails with a
            ``RuntimeError`` saying where to put the files.

    ``ds[i]`` is ``(image, label)``: the image a PIL ``L`` image (``set_image_backend('numpy')``:
    a uint8 numpy ``[28, 28]``), the label an int. Attributes, as torchvision's: ``data`` (uint8
    tensor ``[N, 28, 28]``), ``targets`` (integer tensor ``[N]``), ``classes``,
    ``class_to_idx``. ``data`` and ``targets`` are made from the host arrays on first access
    and may be assigned (a tensor or array, e.g. a filtered subset); items are always read from
    the host arrays.

    Raises ``RuntimeError`` when the files are missing (naming the folder and files) or corrupt.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train: bool = True, transform=None, target_transform=None,
                 download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        if not isinstance(train, bool):
            raise TypeError(f"{type(self).__name__}: train must be a bool, got {train!r}")
        self.train = train
        data, targets = self._load(download)
        self.data = data
        self.targets = targets.astype(np.int64)

    @property
    def data(self):
        """The images, uint8 ``[N, 28, 28]`` (a tensor; a host array inside a loader worker)."""
        if self._data_tensor is None:
            self._data_tensor = to_tensor(self._data)
        return self._data_tensor

    @data.setter
    def data(self, value) -> None:
        self._data = np.asarray(value)
        self._data_tensor = None

    @property
    def targets(self):
        """The labels ``[N]`` (a tensor; a host array inside a loader worker)."""
        if self._targets_tensor is None:
            self._targets_tensor = to_tensor(self._targets)
        return self._targets_tensor

    @targets.setter
    def targets(self, value) -> None:
        self._targets = np.asarray(value)
        self._targets_tensor = None

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def _load(self, download: bool):
        split = "train" if self.train else "test"
        try:
            if not download and not os.path.isdir(self.root):
                raise FileNotFoundError(self.root)
            raw = _raw.MNIST(self.root, train=self.train, download=download)
        except FileNotFoundError:
            raise _not_found(type(self).__name__, self.raw_folder, split, download) from None
        except DownloadError as err:
            raise _not_found(type(self).__name__, self.raw_folder, split, download,
                             str(err).splitlines()[0]) from None
        return raw.data, raw.targets

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index: int):
        img, target = from_array(self._data[index]), int(self._targets[index])
        return self._apply(img, target)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (``torchvision.datasets.FashionMNIST``): the same format and
    interface as ``MNIST``, files in ``root/FashionMNIST/raw/`` (or ``root``).

    ``download=True`` cannot fetch the files (no verified digests are shipped); it raises
    ``RuntimeError`` naming the folder when they are missing.
    """

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]

    def _load(self, download: bool):
        split = "train" if self.train else "test"
        arrays = []
        for name in _FILES[self.train]:
            path = None
            for folder in (self.raw_folder, self.root):
                for candidate in (name, name + ".gz"):
                    if os.path.isfile(os.path.join(folder, candidate)):
                        path = os.path.join(folder, candidate)
                        break
                if path:
                    break
            if path is None:
                raise _not_found(type(self).__name__, self.raw_folder, split, download)
            arrays.append(read_idx(path))
        images, labels = arrays
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or images.dtype != np.uint8:
            raise RuntimeError(f"{type(self).__name__}: images {images.shape} {images.dtype} do not "
                               f"match labels {labels.shape}; the files are corrupt")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise RuntimeError(f"{type(self).__name__}: labels outside 0..{len(self.classes) - 1}")
        return images, labels


class KMNIST(FashionMNIST):
    """Kuzushiji-MNIST (``torchvision.datasets.KMNIST``): cursive Japanese characters in MNIST's
    format and interface, files in ``root/KMNIST/raw/`` (or ``root``); not downloadable here."""

    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
