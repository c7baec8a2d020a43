"""The safetensors format, implemented from its specification (huggingface/safetensors README).

Layout: an 8-byte little-endian unsigned header length ``N``; ``N`` bytes of UTF-8 JSON
``{name: {"dtype": ..., "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}}``
(``__metadata__`` optional); then the byte buffer, in which every tensor's little-endian,
row-major bytes occupy ``[begin, end)``. The buffer must be covered exactly, without holes or
overlaps (so a file cannot double as another format), and the header is capped at 100 MB.

The writer orders tensors by decreasing element size, then name, and pads the header with spaces
to a multiple of 8 bytes, as the reference implementation does, so every tensor is aligned to its
element size.
"""
import collections.abc
import json
import math
import struct

from . import _dtypes, _values
from ._errors import checkpoint_error

MAX_HEADER_BYTES = 100_000_000
_METADATA_KEY = "__metadata__"


def prepare(obj) -> dict:
    """Validate a flat ``{str: array}`` mapping and convert its values to numpy arrays.

    Raises:
        TypeError: ``obj`` is not a flat mapping from str to arrays, or an array has an
            unsupported dtype.
    """
    if not isinstance(obj, collections.abc.Mapping):
        raise TypeError(
            f"save: a .safetensors file holds a flat dict of name -> array, got a {type(obj).__name__}; "
            "save nested objects (optimizer state, lists, ...) to a .pth file instead."
        )
    tensors = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise TypeError(
                f"save: .safetensors tensor names must be str, got the key {name!r} of type "
                f"{type(name).__name__}; save to a .pth file to keep non-string keys."
            )
        if name == _METADATA_KEY:
            raise TypeError(
                f"save: {_METADATA_KEY!r} is reserved by the safetensors format and cannot name a tensor."
            )
        if not _values.is_array(value):
            raise TypeError(
                f"save: a .safetensors file holds only arrays, but obj[{name!r}] is a "
                f"{type(value).__name__}; save nested objects (optimizer state, lists, ...) to a "
                ".pth file instead."
            )
        tensors[name] = _values.as_checkpoint_array(value, f"obj[{name!r}]", name)
    return tensors


def write(fileobj, tensors: dict) -> None:
    """Write ``tensors`` (from :func:`prepare`) to ``fileobj`` as a safetensors file."""
    order = sorted(tensors, key=lambda name: (-tensors[name].dtype.itemsize, name))
    header = {}
    offset = 0
    for name in order:
        array = tensors[name]
        header[name] = {
            "dtype": _dtypes.lookup(array.dtype).safetensors,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    fileobj.write(struct.pack("<Q", len(encoded)))
    fileobj.write(encoded)
    for name in order:
        fileobj.write(_dtypes.to_little_endian_bytes(tensors[name]))


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice")
        result[key] = value
    return result


def _is_count(value) -> bool:
    return type(value) is int and value >= 0


def read(fileobj, file_size: int, source: str, convert) -> dict:
    """Load a safetensors file into ``{name: convert(array)}`` (tensors in header order).

    Raises:
        CheckpointError: truncated file, header length beyond the file or over 100 MB, invalid
            JSON, unknown dtype, malformed shapes or offsets, holes or overlaps in the buffer.
    """
    prefix = fileobj.read(8)
    if len(prefix) < 8:
        raise checkpoint_error(
            source, f"the file has {len(prefix)} bytes, fewer than the 8-byte safetensors header length"
        )
    (header_size,) = struct.unpack("<Q", prefix)
    if header_size > MAX_HEADER_BYTES:
        raise checkpoint_error(
            source, f"the safetensors header claims {header_size} bytes, over the {MAX_HEADER_BYTES}-byte limit"
        )
    if 8 + header_size > file_size:
        raise checkpoint_error(
            source,
            f"the safetensors header claims {header_size} bytes but the file has only {file_size - 8} "
            "after the length field; the file is truncated",
        )
    raw_header = fileobj.read(header_size)
    try:
        header = json.loads(raw_header.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as error:
        raise checkpoint_error(source, f"the safetensors header is not valid UTF-8 JSON ({error})") from None
    if not isinstance(header, dict):
        raise checkpoint_error(source, "the safetensors header is not a JSON object")
    metadata = header.pop(_METADATA_KEY, None)
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise checkpoint_error(source, f"{_METADATA_KEY} must map strings to strings, got {metadata!r}")

    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise checkpoint_error(
                source, f"tensor {name!r} needs 'dtype', 'shape' and 'data_offsets', got {info!r}"
            )
        dtype_info = _dtypes.BY_SAFETENSORS.get(info["dtype"])
        if dtype_info is None:
            raise checkpoint_error(
                source,
                f"tensor {name!r} has the unknown or unsupported dtype {info['dtype']!r}; supported are "
                f"{', '.join(_dtypes.BY_SAFETENSORS)}",
            )
        shape, offsets = info["shape"], info["data_offsets"]
        if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
            raise checkpoint_error(source, f"tensor {name!r} has the invalid shape {shape!r}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets):
            raise checkpoint_error(source, f"tensor {name!r} has the invalid data_offsets {offsets!r}")
        begin, end = offsets
        expected = math.prod(shape) * dtype_info.numpy.itemsize
        if end < begin or end - begin != expected:
            raise checkpoint_error(
                source,
                f"tensor {name!r} of shape {shape} and dtype {info['dtype']} needs {expected} bytes but "
                f"its data_offsets {offsets} span {end - begin}",
            )
        entries.append((begin, end, name, dtype_info.numpy, tuple(shape)))

    buffer_size = file_size - 8 - header_size
    covered = 0
    for begin, end, name, _, _ in sorted(entries):
        if begin < covered:
            raise checkpoint_error(
                source, f"tensor {name!r} at bytes [{begin}, {end}) overlaps the previous tensor"
            )
        if begin > covered:
            raise checkpoint_error(
                source,
                f"the buffer has a hole at bytes [{covered}, {begin}) before tensor {name!r}; the format "
                "forbids holes",
            )
        covered = end
    if covered != buffer_size:
        problem = "truncated" if covered > buffer_size else "followed by bytes no tensor covers"
        raise checkpoint_error(
            source,
            f"the tensors cover {covered} bytes but the data buffer has {buffer_size}: the file is {problem}",
        )

    result = {}
    data_start = 8 + header_size
    for begin, end, name, dtype, shape in entries:
        fileobj.seek(data_start + begin)
        chunk = bytearray(end - begin)
        if fileobj.readinto(chunk) != len(chunk):
            raise checkpoint_error(
                source, f"tensor {name!r} could not be read completely; the file is truncated"
            )
        array = _dtypes.from_bytes(chunk, dtype).reshape(shape)
        result[name] = convert(array)
    return result
