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

from . import _dtypes, _layout, _source, _values
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
        refusal = _values.object_with_state_dict(obj, "obj")
        if refusal is not None:
            raise refusal
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
            refusal = _values.object_with_state_dict(value, f"obj[{name!r}]")
            if refusal is not None:
                raise refusal
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


def read(source, convert) -> dict:
    """Load a safetensors file into ``{name: convert(array)}`` (tensors in header order).

    The header is validated completely (every shape and offset checked against the buffer)
    before any tensor is read; each tensor's bytes are then read once into their own aligned
    buffer.

    Raises:
        CheckpointError: truncated file, header length beyond the file or over 100 MB, invalid
            or too deeply nested JSON, unknown dtype, malformed shapes or offsets, holes or
            overlaps in the buffer; the message names the file and the tensor.
    """
    name = source.name
    file_size = source.size
    if file_size < 8:
        raise checkpoint_error(
            name, f"the file has {file_size} bytes, fewer than the 8-byte safetensors header length"
        )
    (header_size,) = struct.unpack("<Q", source.read(0, 8))
    if header_size > MAX_HEADER_BYTES:
        raise checkpoint_error(
            name, f"the safetensors header claims {header_size} bytes, over the {MAX_HEADER_BYTES}-byte limit"
        )
    if 8 + header_size > file_size:
        raise checkpoint_error(
            name,
            f"the safetensors header claims {header_size} bytes but the file has only {file_size - 8} "
            "after the length field; the file is truncated",
        )
    raw_header = source.read(8, header_size)
    try:
        header = json.loads(raw_header.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise checkpoint_error(name, "the safetensors header is JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise checkpoint_error(name, f"the safetensors header is not valid UTF-8 JSON ({error})") from None
    if not isinstance(header, dict):
        raise checkpoint_error(name, "the safetensors header is not a JSON object")
    metadata = header.pop(_METADATA_KEY, None)
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise checkpoint_error(name, f"{_METADATA_KEY} must map strings to strings, got {_layout._short(metadata)}")

    entries = []
    for tensor, info in header.items():
        where = f"tensor {_layout._short(tensor)}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise checkpoint_error(
                name, f"{where} needs 'dtype', 'shape' and 'data_offsets', got {_layout._short(info)}"
            )
        dtype_info = _dtypes.BY_SAFETENSORS.get(info["dtype"]) if isinstance(info["dtype"], str) else None
        if dtype_info is None:
            raise checkpoint_error(
                name,
                f"{where} has the unknown or unsupported dtype {_layout._short(info['dtype'])}; supported are "
                f"{', '.join(_dtypes.BY_SAFETENSORS)}",
            )
        shape, offsets = info["shape"], info["data_offsets"]
        if not isinstance(shape, list):
            raise checkpoint_error(name, f"the field 'shape' of {where} is not a list: {_layout._short(shape)}")
        try:
            shape = _layout.check_shape(shape, dtype_info.numpy.itemsize, f"field 'shape' of {where}")
        except _layout.LayoutError as error:
            raise checkpoint_error(name, str(error)) from None
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets):
            raise checkpoint_error(name, f"the field 'data_offsets' of {where} is invalid: {_layout._short(offsets)}")
        begin, end = offsets
        expected = math.prod(shape) * dtype_info.numpy.itemsize
        if end < begin or end - begin != expected:
            raise checkpoint_error(
                name,
                f"{where} of shape {list(shape)} and dtype {info['dtype']} needs {expected} bytes but "
                f"its field 'data_offsets' {offsets} spans {end - begin}",
            )
        entries.append((begin, end, tensor, dtype_info.numpy, shape))

    buffer_size = file_size - 8 - header_size
    covered = 0
    for begin, end, tensor, _, _ in sorted(entries, key=lambda entry: entry[:2]):
        if begin < covered:
            raise checkpoint_error(
                name, f"tensor {_layout._short(tensor)} at bytes [{begin}, {end}) overlaps the previous tensor"
            )
        if begin > covered:
            raise checkpoint_error(
                name,
                f"the buffer has a hole at bytes [{covered}, {begin}) before tensor {_layout._short(tensor)}; "
                "the format forbids holes",
            )
        covered = end
    if covered != buffer_size:
        problem = "truncated" if covered > buffer_size else "followed by bytes no tensor covers"
        raise checkpoint_error(
            name,
            f"the tensors cover {covered} bytes but the data buffer has {buffer_size}: the file is {problem}",
        )

    result = {}
    data_start = 8 + header_size
    for begin, end, tensor, dtype, shape in entries:
        try:
            chunk = source.read_aligned(data_start + begin, end - begin)
        except _source.ShortRead as error:
            raise checkpoint_error(name, f"tensor {_layout._short(tensor)} cannot be read: {error}") from None
        array = _dtypes.from_bytes(chunk, dtype).reshape(shape)
        try:
            result[tensor] = convert(array)
        except OverflowError as error:
            raise checkpoint_error(name, f"tensor {_layout._short(tensor)}: {error}") from None
    return result
