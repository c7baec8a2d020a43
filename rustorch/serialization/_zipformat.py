"""PyTorch's ``.pth`` zip container: a writer that lays records out as ``torch.save`` does, and a reader.

``torch.save`` (PyTorch >= 1.6) writes through miniz (``caffe2/serialize/inline_container.cc``,
``mz_zip_writer_add_mem_ex_v2``) an uncompressed ZIP64 archive whose entries all sit under one
folder, the archive name (the file's base name without extension, or ``archive`` for file
objects)::

    <archive>/data.pkl  .format_version  .storage_alignment  byteorder
    <archive>/data/0 ... data/<n-1>  version  .data/serialization_id

:class:`ZipWriter` reproduces miniz's layout byte for byte apart from the random serialization
id: every local header carries a ``FB`` extra field padded with ``Z`` so that the record's data
starts at a multiple of 64 (PyTorch memory-maps storages from there), non-empty records are
followed by a data descriptor, and the archive ends with the ZIP64 end records. Matching the
layout exactly keeps ``torch.load(mmap=True)`` and PyTorch's
``calculate_storage_offsets`` mode, which predicts offsets instead of reading headers, working.
The writer only appends, so it also writes to unseekable streams.
"""
import secrets
import struct
import zipfile
import zlib
from typing import NamedTuple

from . import _dtypes, _pickling, _source
from ._errors import checkpoint_error

ALIGNMENT = 64
# Sizes and offsets from this value on go to ZIP64 extra fields (miniz: ``>= MZ_UINT32_MAX``);
# a module constant so tests can exercise the ZIP64 path without writing 4 GiB.
ZIP64_LIMIT = 0xFFFFFFFF
_U32_MAX = 0xFFFFFFFF
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
_FLAG_DATA_DESCRIPTOR = 0x0008
_FLAG_UTF8 = 0x0800


class ZipWriter:
    """Appends stored (uncompressed) records to ``fileobj`` as miniz does for ``torch.save``.

    Args:
        fileobj: a binary file object with ``write``; it is never seeked.
        archive_name: the folder every record is placed in.
    """

    def __init__(self, fileobj, archive_name: str):
        self._file = fileobj
        self._prefix = archive_name + "/"
        self._position = 0
        self._central = bytearray()
        self._count = 0

    def _write(self, data) -> None:
        self._file.write(data)
        self._position += len(data) if isinstance(data, (bytes, bytearray)) else data.nbytes

    def write_record(self, name: str, data) -> None:
        """Append ``data`` (bytes or a flat uint8 array) as the record ``<archive>/name``."""
        full_name = (self._prefix + name).encode("utf-8")
        size = len(data) if isinstance(data, (bytes, bytearray)) else data.nbytes
        header_offset = self._position
        big_size = size >= ZIP64_LIMIT
        big_offset = header_offset >= ZIP64_LIMIT
        zip64_local = b""
        if big_size or big_offset:
            # miniz writes the compressed size as 0 here: it is only known after the data.
            fields = (struct.pack("<QQ", size, 0) if big_size else b"") + (
                struct.pack("<Q", header_offset) if big_offset else b""
            )
            zip64_local = struct.pack("<HH", 0x0001, len(fields)) + fields
        data_start = header_offset + _LOCAL_HEADER.size + len(full_name) + len(zip64_local) + 4
        padding = -data_start % ALIGNMENT
        extra = zip64_local + b"FB" + struct.pack("<H", padding) + b"Z" * padding
        flags = _FLAG_UTF8 | (_FLAG_DATA_DESCRIPTOR if size else 0)
        self._write(_LOCAL_HEADER.pack(0x04034B50, 0, flags, 0, 0, 0, 0, 0, 0, len(full_name), len(extra)))
        self._write(full_name)
        self._write(extra)
        crc = zlib.crc32(data) & _U32_MAX if size else 0
        if size:
            self._write(data)
            if zip64_local:
                self._write(struct.pack("<IIQQ", 0x08074B50, crc, size, size))
            else:
                self._write(struct.pack("<IIII", 0x08074B50, crc, size, size))
        zip64_central = b""
        if zip64_local:
            fields = (struct.pack("<QQ", size, size) if big_size else b"") + (
                struct.pack("<Q", header_offset) if big_offset else b""
            )
            zip64_central = struct.pack("<HH", 0x0001, len(fields)) + fields
        self._central += _CENTRAL_HEADER.pack(
            0x02014B50, 0, 0, flags, 0, 0, 0, crc, _U32_MAX if big_size else size,
            _U32_MAX if big_size else size, len(full_name), len(zip64_central), 0, 0, 0, 0,
            _U32_MAX if big_offset else header_offset,
        )
        self._central += full_name + zip64_central
        self._count += 1

    def finish(self) -> None:
        """Write the central directory and the ZIP64 and classic end-of-central-directory records."""
        central_offset = self._position
        central_size = len(self._central)
        self._write(bytes(self._central))
        zip64_end_offset = self._position
        self._write(
            struct.pack(
                "<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x002D, 0, 0,
                self._count, self._count, central_size, central_offset,
            )
        )
        self._write(struct.pack("<IIQI", 0x07064B50, 0, zip64_end_offset, 1))
        self._write(
            struct.pack(
                "<IHHHHIIH", 0x06054B50, 0, 0, min(self._count, 0xFFFF), min(self._count, 0xFFFF),
                _U32_MAX if central_size >= ZIP64_LIMIT else central_size,
                _U32_MAX if central_offset >= ZIP64_LIMIT else central_offset, 0,
            )
        )


def archive_name_for(path) -> str:
    """The archive folder ``torch.save`` uses for ``path``: its base name up to the last dot."""
    if path is None:
        return "archive"
    base = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    if "." in base:
        base = base[: base.rindex(".")]
    return base or "archive"


def write_archive(fileobj, archive_name: str, pickle_bytes: bytes, storages) -> None:
    """Write a complete ``.pth`` archive holding ``pickle_bytes`` and ``storages`` to ``fileobj``."""
    writer = ZipWriter(fileobj, archive_name)
    writer.write_record("data.pkl", pickle_bytes)
    writer.write_record(".format_version", b"1")
    writer.write_record(".storage_alignment", str(ALIGNMENT).encode("ascii"))
    writer.write_record("byteorder", b"little")
    for storage in storages:
        writer.write_record(f"data/{storage.key}", _dtypes.to_little_endian_bytes(storage.array))
    writer.write_record("version", b"3\n")
    serialization_id = f"{secrets.randbits(64):020d}{secrets.randbits(64):020d}"
    writer.write_record(".data/serialization_id", serialization_id.encode("ascii"))
    writer.finish()


# ---------------------------------------------------------------------------------------------
# Reading: one parse of the central directory, every record checked against its local header
# ---------------------------------------------------------------------------------------------

_END = struct.Struct("<IHHHHIIH")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_LOCAL_SIGNATURE = 0x04034B50
_CENTRAL_SIGNATURE = 0x02014B50
_END_SIGNATURE = 0x06054B50
_ZIP64_END_SIGNATURE = 0x06064B50
_ZIP64_LOCATOR_SIGNATURE = 0x07064B50
_FLAG_ENCRYPTED = 0x0001
_U16_MAX = 0xFFFF


class ZipError(Exception):
    """The archive's structure is malformed; :func:`read_archive` adds the file name."""


class Record(NamedTuple):
    """One record of the archive: where its data starts, its size, CRC and compression method."""

    name: str
    data_offset: int
    size: int
    crc: int
    method: int


def read_directory(source: _source.ByteSource) -> dict:
    """``{name: Record}`` in central-directory order, from one parse of the central directory.

    The end record must close the file; duplicate names, encrypted records, records whose
    local header disagrees with the central directory (name, method, sizes, CRC) and records
    that overlap each other or the central directory are refused.

    Raises:
        ZipError: what is wrong, naming the record.
        _source.ShortRead: a range beyond the end of the file.
    """
    size = source.size
    if size < _END.size:
        raise ZipError(f"the file has {size} bytes, fewer than a zip end record")
    # Without an archive comment (torch.save writes none) the end record is the last 22 bytes.
    tail_start = size - _END.size
    tail = source.read(tail_start, _END.size)
    end = _find_end(tail)
    if end < 0:
        tail_start = max(0, size - _END.size - _U16_MAX)
        tail = source.read(tail_start, size - tail_start)
        end = _find_end(tail)
    if end < 0:
        raise ZipError("it has no zip end-of-central-directory record (truncated?)")
    end_offset = tail_start + end
    _, disk, cd_disk, disk_count, count, cd_size, cd_offset, comment = _END.unpack_from(tail, end)
    if end_offset + _END.size + comment != size:
        raise ZipError(
            f"the end record at byte {end_offset} announces a {comment}-byte comment but the file "
            f"has {size - end_offset - _END.size} bytes after it"
        )
    directory_end = end_offset
    if _U16_MAX in (disk, cd_disk, disk_count, count) or _U32_MAX in (cd_size, cd_offset):
        locator_offset = end_offset - _ZIP64_LOCATOR.size
        if locator_offset < 0:
            raise ZipError("the end record asks for ZIP64 but there is no ZIP64 locator before it")
        signature, _, zip64_offset, _ = _ZIP64_LOCATOR.unpack(source.read(locator_offset, _ZIP64_LOCATOR.size))
        if signature != _ZIP64_LOCATOR_SIGNATURE:
            raise ZipError("the end record asks for ZIP64 but there is no ZIP64 locator before it")
        if zip64_offset + _ZIP64_END.size > locator_offset:
            raise ZipError(f"the ZIP64 end record offset {zip64_offset} points past the locator")
        fields = _ZIP64_END.unpack(source.read(zip64_offset, _ZIP64_END.size))
        if fields[0] != _ZIP64_END_SIGNATURE:
            raise ZipError(f"there is no ZIP64 end record at byte {zip64_offset}")
        disk, cd_disk, disk_count, count, cd_size, cd_offset = fields[4:]
        directory_end = zip64_offset
    if disk != 0 or cd_disk != 0 or disk_count != count:
        raise ZipError("it is a multi-disk (spanned) zip archive")
    if cd_offset + cd_size > directory_end:
        raise ZipError(
            f"the central directory [{cd_offset}, {cd_offset + cd_size}) runs past the end records at "
            f"byte {directory_end}"
        )
    if count * _CENTRAL_HEADER.size > cd_size:
        raise ZipError(
            f"the end record announces {count} records, more than a {cd_size}-byte central directory holds"
        )
    directory = source.read(cd_offset, cd_size)
    records = {}
    position = 0
    for index in range(count):
        if position + _CENTRAL_HEADER.size > cd_size:
            raise ZipError(f"central directory entry {index} is cut off")
        fields = _CENTRAL_HEADER.unpack_from(directory, position)
        (signature, _, _, flags, method, _, _, crc, compressed, uncompressed,
         name_length, extra_length, comment_length, _, _, _, header_offset) = fields
        if signature != _CENTRAL_SIGNATURE:
            raise ZipError(
                f"central directory entry {index} at byte {cd_offset + position} has a bad signature"
            )
        start = position + _CENTRAL_HEADER.size
        position = start + name_length + extra_length + comment_length
        if position > cd_size:
            raise ZipError(f"central directory entry {index} runs past the central directory")
        raw_name = directory[start : start + name_length]
        name = _label(raw_name.decode("utf-8" if flags & _FLAG_UTF8 else "cp437", "replace"))
        extra = directory[start + name_length : start + name_length + extra_length]
        uncompressed, compressed, header_offset = _zip64_values(
            extra, name, (uncompressed, compressed, header_offset)
        )
        if name in records:
            raise ZipError(f"the record {name} appears twice in the central directory")
        if flags & _FLAG_ENCRYPTED:
            raise ZipError(f"the record {name} is encrypted")
        if method == zipfile.ZIP_STORED and compressed != uncompressed:
            raise ZipError(
                f"the stored record {name} has a compressed size {compressed} different from its "
                f"size {uncompressed}"
            )
        data_offset = _check_local_header(
            source, name, raw_name, flags, method, crc, compressed, uncompressed, header_offset
        )
        stored_size = uncompressed if method == zipfile.ZIP_STORED else compressed
        records[name] = (header_offset, Record(name, data_offset, stored_size, crc, method))
    if position != cd_size:
        raise ZipError(f"the central directory holds {cd_size - position} bytes after its {count} entries")
    previous_end, previous_name = 0, None
    for header_offset, record in sorted(records.values()):
        if header_offset < previous_end:
            raise ZipError(f"the record {record.name} overlaps the record {previous_name}")
        previous_end, previous_name = record.data_offset + record.size, record.name
    if previous_end > cd_offset:
        raise ZipError(f"the record {previous_name} overlaps the central directory")
    return {name: record for name, (_, record) in records.items()}


def _label(name: str) -> str:
    """A record name as error messages show it: as is when short and printable, else its cut repr."""
    if len(name) <= 100 and name.isprintable():
        return name
    return _short(name)


def _find_end(tail: bytes) -> int:
    """The offset in ``tail`` of the last end-of-central-directory signature, or -1."""
    return tail.rfind(struct.pack("<I", _END_SIGNATURE), 0, len(tail) - _END.size + 4)


def _zip64_values(extra: bytes, name: str, values: tuple) -> tuple:
    """``(uncompressed, compressed, header_offset)`` with 0xFFFFFFFF fields taken from ZIP64 extra."""
    needed = [i for i, value in enumerate(values) if value == _U32_MAX]
    if not needed:
        return values
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        position += 4 + length
        if tag != 0x0001:
            continue
        if len(body) < 8 * len(needed):
            raise ZipError(f"the ZIP64 extra field of {name} is too short")
        values = list(values)
        for slot, i in enumerate(needed):
            (values[i],) = struct.unpack_from("<Q", body, 8 * slot)
        return tuple(values)
    raise ZipError(f"the record {name} needs a ZIP64 extra field but has none")


def _check_local_header(source, name, raw_name, flags, method, crc, compressed, uncompressed, header_offset) -> int:
    """The offset of the record's data after checking its local header against the directory.

    The local header must carry the same name, method and encryption flag, and the same CRC
    and sizes unless it defers them to a data descriptor (flag bit 3, fields zero), as
    ``torch.save`` does.
    """
    if header_offset + _LOCAL_HEADER.size > source.size:
        raise ZipError(f"the local header of {name} at byte {header_offset} lies beyond the end of the file")
    (signature, _, local_flags, local_method, _, _, local_crc, local_compressed, local_size,
     name_length, extra_length) = _LOCAL_HEADER.unpack(source.read(header_offset, _LOCAL_HEADER.size))
    if signature != _LOCAL_SIGNATURE:
        raise ZipError(f"the record {name} has no local header at byte {header_offset}")
    data_offset = header_offset + _LOCAL_HEADER.size + name_length + extra_length
    if data_offset > source.size:
        raise ZipError(f"the local header of {name} runs past the end of the file")
    local = source.read(header_offset + _LOCAL_HEADER.size, name_length + extra_length)
    if local[:name_length] != raw_name:
        raise ZipError(f"the local header of {name} names {local[:name_length][:80]!r} instead")
    if local_method != method or (local_flags ^ flags) & _FLAG_ENCRYPTED:
        raise ZipError(f"the local header of {name} disagrees with the central directory on its method or encryption")
    if _U32_MAX in (local_size, local_compressed):
        local_size, local_compressed, _ = _zip64_values(local[name_length:], name, (local_size, local_compressed, 0))
    local_fields = (local_crc, local_compressed, local_size)
    described_later = local_flags & _FLAG_DATA_DESCRIPTOR and local_fields == (0, 0, 0)
    if not described_later and local_fields != (crc, compressed, uncompressed):
        raise ZipError(
            f"the local header of {name} gives size {local_size}, compressed size {local_compressed} and "
            f"CRC {local_crc:#x}; the central directory says {uncompressed}, {compressed} and {crc:#x}"
        )
    if data_offset + compressed > source.size:
        raise ZipError(f"the data of {name} runs past the end of the file (truncated)")
    return data_offset


def read_archive(source: _source.ByteSource, convert):
    """Load the object stored in the ``.pth`` archive readable from ``source``.

    The central directory is parsed once (:func:`read_directory`); ``data.pkl`` and each
    storage record are then read exactly once, storages straight into aligned buffers, and
    CRC-checked.

    Raises:
        CheckpointError: not a well-formed zip, a TorchScript archive, missing, compressed or
            corrupt records, or a pickle the restricted unpickler refuses.
    """
    name = source.name
    try:
        records = read_directory(source)
    except (ZipError, _source.ShortRead) as error:
        raise checkpoint_error(name, f"it is not a well-formed zip archive: {error}") from None
    names = list(records)
    if not names or "/" not in names[0]:
        raise checkpoint_error(name, "the zip archive does not have PyTorch's <archive>/data.pkl layout")
    prefix = names[0].split("/", 1)[0] + "/"
    if prefix + "constants.pkl" in records or any(n.startswith(prefix + "code/") for n in names):
        raise checkpoint_error(
            name,
            "it is a TorchScript archive (torch.jit.save), which holds code; load it with "
            "torch.jit.load and save its state_dict() with torch.save instead",
        )
    if prefix + "data.pkl" not in records:
        raise checkpoint_error(name, f"the archive has no {prefix}data.pkl record")
    byteorder = b"little"
    if prefix + "byteorder" in records:
        byteorder = _read(source, records[prefix + "byteorder"], bytes)
        if byteorder not in (b"little", b"big"):
            raise checkpoint_error(
                name, f"the record {prefix}byteorder says {byteorder[:40]!r}, not 'little' or 'big'"
            )

    def read_record(key: str, nbytes: int):
        record_name = f"{prefix}data/{key}"
        record = records.get(record_name)
        if record is None:
            raise checkpoint_error(
                name, f"the pickle refers to storage {_short(key)} but the record {_short(record_name)} is missing"
            )
        if record.size != nbytes:
            raise checkpoint_error(
                name, f"the record {record_name} holds {record.size} bytes where the pickle expects {nbytes}"
            )
        return _read(source, record, source.read_aligned)

    pickle_bytes = _read(source, records[prefix + "data.pkl"], bytes)
    loaded, used_globals = _pickling.loads(pickle_bytes, read_record, byteorder.decode("ascii"), name)
    return _pickling.finish(loaded, used_globals, convert, name, source.size)


def _short(text: str) -> str:
    return repr(text) if len(text) <= 100 else repr(text[:80]) + f"... ({len(text)} characters)"


def _read(source, record: Record, kind):
    """The CRC-checked bytes of ``record``: ``bytes`` for ``kind=bytes``, else ``kind(offset, size)``.

    Only stored (uncompressed) records are read: torch.save never compresses, and refusing
    compression keeps memory bounded by the file size (no zip bombs).
    """
    if record.method != zipfile.ZIP_STORED:
        raise checkpoint_error(
            source.name,
            f"the record {record.name} is compressed (zip method {record.method}); PyTorch checkpoints "
            "store records uncompressed",
        )
    try:
        data = source.read(record.data_offset, record.size) if kind is bytes else kind(record.data_offset, record.size)
    except _source.ShortRead as error:
        raise checkpoint_error(source.name, f"the record {record.name} cannot be read: {error}") from None
    actual = zlib.crc32(data) & _U32_MAX
    if actual != record.crc:
        raise checkpoint_error(
            source.name,
            f"the record {record.name} is corrupt: its CRC-32 is {actual:#010x}, the archive says {record.crc:#010x}",
        )
    return data
