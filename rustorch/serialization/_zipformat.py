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

from . import _dtypes, _pickling
from ._errors import CheckpointError, checkpoint_error

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


def read_archive(fileobj, source: str, convert):
    """Load the object stored in the ``.pth`` archive ``fileobj`` (seekable, binary).

    Raises:
        CheckpointError: not a readable zip, a TorchScript archive, missing or corrupt records,
            or a pickle the restricted unpickler refuses.
    """
    # zipfile reports damage through many exception types (BadZipFile, EOFError, struct.error,
    # zlib.error, NotImplementedError for unknown methods, RuntimeError for encryption, ...); all
    # of them mean the same thing to the caller: the archive cannot be read.
    try:
        archive = zipfile.ZipFile(fileobj)
    except Exception as error:
        raise checkpoint_error(
            source, f"it is not a readable zip archive, it may be truncated ({error})"
        ) from None
    with archive:
        names = archive.namelist()
        if not names or "/" not in names[0]:
            raise checkpoint_error(source, "the zip archive does not have PyTorch's <archive>/data.pkl layout")
        prefix = names[0].split("/", 1)[0] + "/"
        present = set(names)
        if prefix + "constants.pkl" in present or any(name.startswith(prefix + "code/") for name in names):
            raise checkpoint_error(
                source,
                "it is a TorchScript archive (torch.jit.save), which holds code; load it with "
                "torch.jit.load and save its state_dict() with torch.save instead",
            )
        if prefix + "data.pkl" not in present:
            raise checkpoint_error(source, f"the archive has no {prefix}data.pkl record")
        byteorder = b"little"
        if prefix + "byteorder" in present:
            byteorder = _read(archive, prefix + "byteorder", source)
            if byteorder not in (b"little", b"big"):
                raise checkpoint_error(source, f"the byteorder record says {byteorder!r}, not 'little' or 'big'")

        def read_record(key: str, nbytes: int):
            name = f"{prefix}data/{key}"
            try:
                info = archive.getinfo(name)
            except KeyError:
                raise checkpoint_error(
                    source, f"the pickle refers to storage {key!r} but the record {name} is missing"
                ) from None
            if info.file_size != nbytes:
                raise checkpoint_error(
                    source, f"the record {name} holds {info.file_size} bytes where the pickle expects {nbytes}"
                )
            return _read(archive, name, source)

        pickle_bytes = _read(archive, prefix + "data.pkl", source)
        loaded = _pickling.loads(pickle_bytes, read_record, byteorder.decode("ascii"), source)
        return _pickling.finish(loaded, convert, source)


def _read(archive, name: str, source: str) -> bytes:
    """The bytes of record ``name``, CRC-checked by zipfile.

    Only stored (uncompressed) records are read: torch.save never compresses, and refusing
    compression keeps memory bounded by the file size (no zip bombs).
    """
    try:
        info = archive.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            raise checkpoint_error(
                source,
                f"the record {name} is compressed (zip method {info.compress_type}); PyTorch checkpoints "
                "store records uncompressed",
            )
        return archive.read(info)
    except CheckpointError:
        raise
    except Exception as error:
        raise checkpoint_error(source, f"the record {name} is corrupt or truncated ({error})") from None
