"""MNIST from its IDX files (``torchvision.datasets.MNIST``), with checksums and downloads.

Samples without a transform are ``(uint8 numpy [28, 28], int label)``: torchvision returns a PIL
image there, and rustorch has no imaging dependency. For training, ``MNIST.arrays()`` gives
the whole split as ``ToTensor()`` + ``Normalize((0.1307,), (0.3081,))`` would (float32
``[N, 1, 28, 28]``), and ``MNIST.tensor_dataset()`` wraps that in a ``TensorDataset`` so the
``DataLoader`` gathers batches with one numpy index per array.

Every file's decompressed content is checked against the official sha256 before use, hashed
while it is inflated into one buffer of the official size (a file that would inflate to more
is refused there). Loaded arrays are cached per process, read-only, by path and the sha256 of
the file's bytes on disk, so building the dataset again only re-hashes the file, and a file
changed in any way is read and verified again.
"""
from __future__ import annotations

import hashlib
import os
import zlib

import numpy as np

from .. import _config
from ..utils.data import Dataset, TensorDataset
from ._download import download_verified, mnist_mirrors

DATA_ENV = _config.DATA_ENV

# name -> sha256 of the uncompressed IDX file (the official MNIST files).
_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_SPLITS = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(content: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file into a read-only numpy array.

    Format: two zero bytes, a dtype byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, one big-endian uint32 per dimension,
    then the data (big-endian). Multi-byte values are returned in native byte order.

    Raises ``ValueError`` naming ``source`` for a bad magic, an unknown dtype byte, or a length
    that does not match the header (truncated or padded file).
    """
    if len(content) < 4 or content[:2] != b"\x00\x00":
        raise ValueError(f"{source}: not an IDX file (it does not start with two zero bytes)")
    code, ndim = content[2], content[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{source}: unknown IDX dtype byte 0x{code:02x}; "
                         f"expected one of {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise ValueError(f"{source}: IDX header declares {ndim} dimensions but the file has only "
                         f"{len(content)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(content) != expected:
        raise ValueError(f"{source}: IDX header says shape {shape} of {dtype.name} "
                         f"({expected} bytes in all) but the file has {len(content)} bytes; "
                         "it is truncated or corrupt")
    array = np.frombuffer(content, dtype=dtype, offset=header).reshape(shape)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    array.flags.writeable = False
    return array


# The uncompressed sizes of the official files: a file is refused as soon as it would exceed
# its size, so a small gzip file that inflates to gigabytes never gets further than this.
_SIZES = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}
_CHUNK = 1 << 20
# zlib's deflate cannot compress better than about 1032:1.
_MAX_DEFLATE_RATIO = 1032
# Verified arrays by (real path, sha256 of the file's bytes on disk); a handful at most.
_CACHE_ENTRIES = 8


def _corrupt(path: str, problem: str) -> RuntimeError:
    return RuntimeError(
        f"MNIST: cannot decompress {path}: {problem}. The file is corrupt or truncated: delete it "
        "and download it again (MNIST(..., download=True))."
    )


def _file_digest(path: str) -> str:
    """The sha256 of the file's bytes as stored (compressed or not), read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_content(path: str, expected_size: int | None = None):
    """``(content, sha256 of content)``: the file's bytes, inflated when it is gzip (recognised by
    its magic, not its name), read in one streaming pass into one buffer of the final size.

    Memory stays bounded by the content's size: with ``expected_size`` given, a file whose
    content would be longer is refused before the excess is inflated (and a raw file of another
    size, or a gzip file whose trailer announces more, before anything is read); without it,
    the IDX header announces the size, which must be one a file of this size can hold.

    Raises ``RuntimeError`` for a broken or oversized gzip stream and ``ValueError`` for
    content that does not match the announced size.
    """
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        head = f.read(2)
        if head != _GZIP_MAGIC:
            if expected_size is not None and file_size != expected_size:
                raise ValueError(f"{path}: the file has {file_size} bytes, but its content must have "
                                 f"{expected_size}; it is truncated or not the right file")
            f.seek(0)
            content = bytearray(file_size)
            if f.readinto(content) != file_size:
                raise ValueError(f"{path}: the file shrank while it was read")
            return content, hashlib.sha256(content).hexdigest()
        if expected_size is not None and file_size >= 18:
            f.seek(-4, os.SEEK_END)
            announced = int.from_bytes(f.read(4), "little")
            if announced > expected_size:
                raise _corrupt(path, f"its gzip trailer announces {announced} bytes of content, more "
                                     f"than the {expected_size} of the MNIST file it should hold")
        f.seek(0)
        return _inflate(f, path, file_size, expected_size)


def _inflate(f, path: str, file_size: int, expected_size: int | None):
    """Stream-inflate the (possibly multi-member) gzip file ``f`` into one bounded buffer."""
    digest = hashlib.sha256()
    content = bytearray(expected_size) if expected_size is not None else None
    capacity = expected_size
    filled = 0
    head = bytearray()  # without an expected size: the first bytes, until the IDX header is read

    def room() -> int:
        # One byte more than may come, so an oversized stream shows itself; never 0 (unbounded).
        return capacity - filled + 1 if capacity is not None else 4 + 4 * 255

    for out in _inflated_chunks(f, path, room):
        if content is None:
            head += out
            capacity = _idx_size_from_header(head, path, file_size)
            if capacity is None:
                continue
            content, out = bytearray(capacity), bytes(head)
        if filled + len(out) > capacity:
            raise _corrupt(path, f"it inflates to more than {capacity} bytes, the size its content must have")
        content[filled : filled + len(out)] = out
        filled += len(out)
        digest.update(out)
    if content is None:
        raise ValueError(f"{path}: the content ({len(head)} bytes) is too short for an IDX header")
    if filled != capacity:
        raise ValueError(f"{path}: the content has {filled} bytes, but {capacity} were expected; it is "
                         "truncated or corrupt")
    return content, digest.hexdigest()


def _inflated_chunks(f, path: str, room):
    """The inflated bytes of the gzip file ``f``, each chunk at most ``room()`` bytes long."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    in_member = False
    at_end = False
    data = b""
    while True:
        if not data and not at_end:
            data = f.read(_CHUNK)
            at_end = not data
        if data:
            in_member = True
        try:
            out = inflater.decompress(data, room())
        except zlib.error as err:
            raise _corrupt(path, str(err)) from None
        data = inflater.unconsumed_tail
        if out:
            yield out
        if inflater.eof:
            in_member = False
            data = inflater.unused_data
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif at_end and not data and not out:
            break
    if in_member:
        raise _corrupt(path, "the gzip stream ends early")


def _idx_size_from_header(head: bytearray, path: str, file_size: int) -> int | None:
    """The total size an IDX content announces once ``head`` holds its header, else None."""
    if len(head) < 4:
        return None
    if head[:2] != b"\x00\x00" or head[2] not in _IDX_DTYPES:
        parse_idx(bytes(head[:4]), path)  # raises the descriptive error
    header = 4 + 4 * head[3]
    if len(head) < header:
        return None
    shape = np.frombuffer(bytes(head[4:header]), dtype=">u4")
    size = header + int(np.prod(shape, dtype=object)) * _IDX_DTYPES[head[2]].itemsize
    if size > _MAX_DEFLATE_RATIO * file_size + header:
        raise ValueError(f"{path}: the IDX header announces {size} bytes, more than a {file_size}-byte "
                         "gzip file can hold; the file is corrupt")
    return size


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, into a read-only numpy array (no checksum).

    Memory stays bounded by the size the IDX header announces, which must fit the file.
    Raises ``FileNotFoundError`` for a missing file, ``RuntimeError`` for a broken gzip stream
    and ``ValueError`` for a malformed IDX content (see ``parse_idx``).
    """
    path = os.fspath(path)
    content, _ = _read_content(path)
    return parse_idx(content, path)


_CACHE: dict[tuple[str, str], np.ndarray] = {}


def _load_verified(path: str, name: str) -> np.ndarray:
    """Read ``path`` after checking its decompressed content against the sha256 of ``name``.

    Each call hashes the file's bytes as stored, so a file rewritten in place (even with its
    size and modification time restored) is read and verified again; the same bytes verified
    before in this process give the cached array without inflating again.
    """
    key = (os.path.realpath(path), _file_digest(path))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    try:
        content, digest = _read_content(path, _SIZES[name])
    except ValueError as err:
        raise RuntimeError(f"MNIST: {err}. Delete it and download it again (MNIST(..., download=True)).") from None
    if digest != _SHA256[name]:
        raise RuntimeError(
            f"MNIST: checksum mismatch for {path}: the sha256 of its uncompressed content is "
            f"{digest}, expected {_SHA256[name]}. The file is corrupt or truncated: delete it and "
            "download it again (MNIST(..., download=True))."
        )
    array = parse_idx(content, path)
    while len(_CACHE) >= _CACHE_ENTRIES:
        del _CACHE[next(iter(_CACHE))]
    _CACHE[key] = array
    return array


def _search_dirs(root: str) -> list[str]:
    """Where the files may lie: the root itself, ``root/mnist`` and torchvision's ``root/MNIST/raw``."""
    return [root, os.path.join(root, "mnist"), os.path.join(root, "MNIST", "raw")]


def _locate(root: str, name: str) -> str | None:
    """The first existing ``name`` or ``name.gz`` in the search folders (raw first: no inflating)."""
    for folder in _search_dirs(root):
        for candidate in (name, name + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
    return None


def _default_download_root() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "rustorch")


class MNIST(Dataset):
    """The MNIST digits (``torchvision.datasets.MNIST``): 60,000 training and 10,000 test images.

    Args:
        root (str or PathLike, default ``$RUSTORCH_DATA``): a folder holding the IDX files
            (``train-images-idx3-ubyte`` etc., gzip-compressed with ``.gz`` or raw) directly, in
            ``root/mnist`` or in ``root/MNIST/raw`` (torchvision's layout). With ``download=True``
            and neither given, ``$XDG_CACHE_HOME/rustorch`` (``~/.cache/rustorch``).
        train (bool, default True): the training split, else the test split.
        download (bool, default False): fetch missing or corrupt files (all four) from the
            mirrors (``$RUSTORCH_MNIST_MIRRORS``, comma-separated base URLs, overrides the
            built-in list) into ``root/MNIST/raw`` (or beside the corrupt file it replaces).
            Valid files are not fetched again.
        transform (callable, optional): applied to each image (a uint8 numpy ``[28, 28]``).
        target_transform (callable, optional): applied to each label (a Python int).

    Attributes: ``data`` (uint8 ``[N, 28, 28]``, read-only), ``targets`` (int32 ``[N]``,
    read-only), ``classes``, ``class_to_idx``, ``root``, ``train``. ``ds[i]`` is
    ``(transform(image), target_transform(label))``.

    Raises ``ValueError`` when no root is given nor set, ``FileNotFoundError`` for a missing
    root or file (naming the folders searched), ``RuntimeError`` for a corrupt or truncated file
    (naming the file and both digests), ``DownloadError`` when every mirror fails, and
    ``TypeError`` for non-bool ``train``/``download`` or non-callable transforms.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    mean = 0.1307
    std = 0.3081

    def __init__(self, root=None, train: bool = True, download: bool = False, transform=None,
                 target_transform=None) -> None:
        for name, value in (("train", train), ("download", download)):
            if not isinstance(value, bool):
                raise TypeError(f"MNIST: {name} must be a bool, got {value!r}")
        for name, value in (("transform", transform), ("target_transform", target_transform)):
            if value is not None and not callable(value):
                raise TypeError(f"MNIST: {name} must be callable or None, got {type(value).__name__}")
        self.root = self._resolve_root(root, download)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        if download:
            self._download()
        images_name, labels_name = _SPLITS[train]
        images = _load_verified(self._require(images_name), images_name)
        labels = _load_verified(self._require(labels_name), labels_name)
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise RuntimeError(f"MNIST: images of shape {images.shape} do not match labels of "
                               f"shape {labels.shape}")
        self.data = images
        targets = labels.astype(np.int32)
        targets.flags.writeable = False
        self.targets = targets

    @staticmethod
    def _resolve_root(root, download: bool) -> str:
        if root is None:
            root = os.environ.get(DATA_ENV)
        if root is None:
            if download:
                return _default_download_root()
            raise ValueError(
                f"MNIST: no data folder: set {DATA_ENV} to the folder holding the MNIST files, or "
                "pass root=, or download=True to fetch them"
            )
        root = os.path.expanduser(os.fspath(root))
        if not download and not os.path.isdir(root):
            raise FileNotFoundError(
                f"MNIST: data folder {root!r} does not exist; pass the folder holding the MNIST "
                f"files as root= (or set {DATA_ENV}), or download=True to fetch them there"
            )
        return root

    def _require(self, name: str) -> str:
        path = _locate(self.root, name)
        if path is None:
            folders = ", ".join(_search_dirs(self.root))
            raise FileNotFoundError(
                f"MNIST: {name} (or {name}.gz) not found in {folders}; pass download=True to "
                "fetch it, or point root= / RUSTORCH_DATA at the folder holding it"
            )
        return path

    def _download(self) -> None:
        mirrors = mnist_mirrors()
        for name, digest in _SHA256.items():
            path = _locate(self.root, name)
            if path is not None:
                try:
                    _load_verified(path, name)
                    continue
                except RuntimeError:
                    pass
            folder = os.path.dirname(path) if path else os.path.join(self.root, "MNIST", "raw")
            download_verified(name + ".gz", digest, folder, mirrors, max_size=_SIZES[name])
            if path is not None and not path.endswith(".gz"):
                # The raw file would still be found before the fresh .gz beside it.
                os.remove(path)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index):
        image, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def sample_arrays(self):
        """``(data, targets)`` when no transform is set, the rows being the samples; the
        ``DataLoader`` fast path. ``None`` with a transform, whose effect only ``__getitem__``
        knows."""
        if self.transform is None and self.target_transform is None:
            return self.data, self.targets
        return None

    def arrays(self, normalize: bool = True, one_hot: bool = False, dtype=np.float32):
        """The whole split as ``(images, labels)`` numpy arrays, ready for training.

        Args:
            normalize (bool, default True): ``(x / 255 - 0.1307) / 0.3081``, computed in ``dtype``
                step by step as torchvision's ``ToTensor()`` then ``Normalize((0.1307,),
                (0.3081,))``; else ``x / 255`` in ``[0, 1]``.
            one_hot (bool, default False): labels as ``dtype`` ``[N, 10]`` one-hot rows instead of
                int32 class indices ``[N]``.
            dtype (default float32): a floating numpy dtype for the images (and one-hot labels).

        Returns images ``[N, 1, 28, 28]`` and labels. Transforms are not applied. Raises
        ``TypeError`` for a non-floating ``dtype``.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"MNIST.arrays: dtype must be a floating dtype, got {dtype}")
        images = self.data.astype(dtype)[:, None]
        images /= dtype.type(255)
        if normalize:
            images -= dtype.type(self.mean)
            images /= dtype.type(self.std)
        if one_hot:
            labels = np.eye(len(self.classes), dtype=dtype)[self.targets]
        else:
            labels = np.array(self.targets)
        return images, labels

    def tensor_dataset(self, normalize: bool = True, one_hot: bool = False) -> TensorDataset:
        """``TensorDataset(*self.arrays(normalize, one_hot))``: float32 images ``[N, 1, 28, 28]``
        and int32 labels ``[N]`` (or float32 one-hot ``[N, 10]``), for the fast loader path."""
        return TensorDataset(*self.arrays(normalize=normalize, one_hot=one_hot))

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return f"MNIST(root={self.root!r}, split={split}, samples={len(self)})"
