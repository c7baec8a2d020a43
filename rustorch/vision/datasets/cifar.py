"""CIFAR-10 and CIFAR-100 (``torchvision.datasets.CIFAR10``/``CIFAR100``) from the python
version's pickled batches, read without executing code.

The batch files are pickles. ``pickle.load`` would call any function a file names; here the
unpickler resolves only what a CIFAR batch contains (numpy's array and dtype reconstructors,
wrapped to refuse object arrays, and ``_codecs.encode`` for Python 3 bytes at protocol 2).
Everything else (dicts, lists, strings, bytes, numbers) is built by pickle's own opcodes without
calls. Any other reference makes the load fail with ``pickle.UnpicklingError`` before anything
runs. The content is then checked: a dict whose ``data`` is uint8 ``[N, 3072]`` and whose labels
are N ints in range.
"""
from __future__ import annotations

import codecs
import io
import os
import pickle

import numpy as np

from .._image import from_array
from .vision import VisionDataset

_RECONSTRUCT = np.zeros(1).__reduce__()[0]          # numpy's ndarray reconstructor
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]       # numpy's protocol-5 array reconstructor
_SCALAR = np.float32(0).__reduce__()[0]             # numpy's scalar reconstructor


def _plain_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise pickle.UnpicklingError("CIFAR: the file holds an object array, which a CIFAR batch never does")
    return dtype


def _reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"CIFAR: unexpected array subtype {subtype!r}")
    return _RECONSTRUCT(np.ndarray, shape, _plain_dtype(dtype) if not isinstance(dtype, bytes) else dtype)


def _dtype(spec, align=False, copy=False):
    return np.dtype(_plain_dtype(spec), align, copy)


def _frombuffer(buffer, dtype, shape, order):
    return _FROMBUFFER(buffer, _plain_dtype(dtype), shape, order)


def _scalar(dtype, data=None):
    return _SCALAR(_plain_dtype(dtype), data) if data is not None else _SCALAR(_plain_dtype(dtype))


def _encode(text, encoding="utf-8"):
    if not isinstance(text, str) or codecs.lookup(encoding).name not in ("latin-1", "iso8859-1", "utf-8"):
        raise pickle.UnpicklingError(f"CIFAR: unexpected _codecs.encode({type(text).__name__}, {encoding!r})")
    return codecs.encode(text, encoding)


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("_codecs", "encode"): _encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(
                f"CIFAR: {self.source} refers to {module}.{name}, which a CIFAR batch never holds; "
                "refusing to load it (only plain data and numpy arrays are allowed)")
        return allowed

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f"CIFAR: {self.source} uses persistent ids; not a CIFAR batch")


def load_batch(path: str) -> dict:
    """Read one CIFAR python batch (or meta) file with the restricted unpickler; keys as str."""
    with open(path, "rb") as f:
        content = f.read()
    obj = _RestrictedUnpickler(io.BytesIO(content), path).load()
    if not isinstance(obj, dict):
        raise RuntimeError(f"CIFAR: {path} holds a {type(obj).__name__}, expected a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


class CIFAR10(VisionDataset):
    """CIFAR-10 (``torchvision.datasets.CIFAR10``): 50,000 training and 10,000 test 32x32 RGB
    images in 10 classes.

    Args:
        root: the folder holding ``cifar-10-batches-py/`` (``data_batch_1`` .. ``_5``,
            ``test_batch``, ``batches.meta``), as extracted from ``cifar-10-python.tar.gz``.
        train (bool, default True): the training batches, else the test batch.
        transform, target_transform (callable, optional): applied to the image / the label.
        download (bool): this build cannot download; with files missing it raises
            ``RuntimeError`` naming where to put them.

    ``ds[i]`` is ``(image, label)``: a PIL ``RGB`` image (numpy backend: uint8 ``[32, 32, 3]``)
    and an int. Attributes ``data`` (uint8 numpy ``[N, 32, 32, 3]``), ``targets`` (list of int),
    ``classes``, ``class_to_idx``, as torchvision's. The files are parsed without running code
    (module docstring); their md5 digests are not checked, the content's structure is.
    """

    base_folder = "cifar-10-batches-py"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": "label_names"}
    labels_key = "labels"

    def __init__(self, root, train: bool = True, transform=None, target_transform=None,
                 download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        folder = os.path.join(self.root, self.base_folder)
        names = self.train_list if train else self.test_list
        missing = [n for n in names + [self.meta["filename"]] if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            hint = " This build cannot download it." if download else ""
            raise RuntimeError(
                f"{type(self).__name__}: dataset not found or corrupted: {', '.join(missing)} missing "
                f"in {folder}.{hint} Extract the python version of the dataset there (it holds "
                f"{', '.join(names + [self.meta['filename']])}).")
        data, targets = [], []
        for name in names:
            path = os.path.join(folder, name)
            entry = load_batch(path)
            images = entry.get("data")
            labels = entry.get(self.labels_key)
            if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 \
                    or images.shape[1] != 3072:
                raise RuntimeError(f"{type(self).__name__}: {path}: 'data' should be uint8 [N, 3072], "
                                   f"got {getattr(images, 'dtype', type(images).__name__)} "
                                   f"{getattr(images, 'shape', '')}")
            labels = np.asarray(labels)
            if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
                raise RuntimeError(f"{type(self).__name__}: {path}: {self.labels_key!r} should be "
                                   f"{len(images)} ints, got {labels.dtype} {labels.shape}")
            data.append(images)
            targets.extend(int(t) for t in labels)
        meta = load_batch(os.path.join(folder, self.meta["filename"]))
        self.classes = [str(c) for c in meta[self.meta["key"]]]
        if targets and not 0 <= min(targets) <= max(targets) < len(self.classes):
            raise RuntimeError(f"{type(self).__name__}: labels outside 0..{len(self.classes) - 1}")
        self.data = np.ascontiguousarray(np.vstack(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        self.targets = targets
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        return self._apply(from_array(self.data[index]), self.targets[index])

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


class CIFAR100(CIFAR10):
    """CIFAR-100 (``torchvision.datasets.CIFAR100``): as ``CIFAR10`` with 100 fine classes, files
    in ``root/cifar-100-python/`` (``train``, ``test``, ``meta``)."""

    base_folder = "cifar-100-python"
    train_list = ["train"]
    test_list = ["test"]
    meta = {"filename": "meta", "key": "fine_label_names"}
    labels_key = "fine_labels"
