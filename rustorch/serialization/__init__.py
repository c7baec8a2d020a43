"""Safe checkpoints: ``save`` and ``load`` for PyTorch ``.pth`` files and safetensors, without torch.

``save`` writes files that ``torch.load(path, weights_only=True)`` opens as ``torch.Tensor``s,
and ``load`` reads files written by ``torch.save`` (and by ``save``) through a restricted
unpickler that never imports or calls anything the file names.
"""
import io
import os

from . import _pickling, _safetensors, _source, _values, _zipformat
from ._allowlist import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals
from ._atomic import atomic_write
from ._errors import CheckpointError, checkpoint_error

__all__ = [
    "CheckpointError", "add_safe_globals", "clear_safe_globals", "get_safe_globals", "load", "safe_globals", "save",
]

_SAFETENSORS_SUFFIX = ".safetensors"
# LONG1 opcode + the 10-byte magic number 0x1950A86A20F9469CFC6C that legacy torch.save pickles first.
_LEGACY_TORCH_MAGIC = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def save(obj, f) -> None:
    """Save ``obj`` to ``f`` as PyTorch's ``torch.save`` zip format or as safetensors.

    Matches ``torch.save(obj, f)`` for state dicts and optimizer state dicts: the ``.pth`` file
    written here is PyTorch's zip layout (``<archive>/data.pkl``, ``byteorder``, ``data/<key>``,
    ``version`` and the records torch 2.x adds, every storage 64-byte aligned, uncompressed), and
    ``torch.load(f, weights_only=True)`` returns the same keys with ``torch.Tensor`` values of the
    same shapes, dtypes and values. The pickle refers only to ``collections.OrderedDict``,
    ``torch._utils._rebuild_tensor_v2`` and ``torch.<X>Storage``, and is written without torch.

    Args:
        obj: a nested structure of dict (keys str or int; an exact ``dict`` stays a ``dict``,
            ``OrderedDict`` and other mappings are written as ``OrderedDict``), list, tuple, int,
            float, bool, str, None and arrays: numpy arrays and scalars, JAX arrays and anything
            exposing ``__array__`` such as ``rustorch.Variable``. Supported dtypes: float32,
            float64, float16, bfloat16, int8, int16, int32, int64, uint8, bool. An integer array
            stored under a key ending in ``num_batches_tracked`` (BatchNorm's counter) is written
            as int64, PyTorch's dtype for that buffer, because JAX keeps it as int32 by default.
        f: a path (str or ``os.PathLike``) or a binary file object with ``write``. A path ending
            in ``.safetensors`` selects safetensors, which holds only a flat ``{str: array}``
            dict; every other path (``.pth``, ``.pt``, ``.ckpt``, ...) and every file object get
            the ``.pth`` zip format. Writes to a path are atomic: the data goes to a temporary
            file ``.<name>.<hex>.tmp`` in the same directory that is fsync-ed and renamed over
            ``f``, so an error leaves any previous file at ``f`` untouched and no temporary
            file behind; a temporary left by a process killed while saving is removed by the
            next save of the same path. As with ``open(f, 'wb')``, an existing file that may
            not be written raises ``PermissionError`` and keeps its permission bits otherwise.

    Raises:
        TypeError: ``obj`` holds an unsupported value, key or dtype (the message gives its
            location), ``obj`` is not a flat ``{str: array}`` dict for ``.safetensors``, or
            ``f`` is neither a path nor a writable binary file object. A ``Module`` or an
            optimizer itself is refused (pickling it would store code); the message shows the
            one-line change, ``rustorch.save(model.state_dict(), f)``.
        ValueError: ``obj`` contains itself.
        FileNotFoundError: the directory of ``f`` does not exist.
        PermissionError: ``f`` exists and may not be written (as ``open(f, 'wb')`` would say).
        OSError: writing failed, e.g. the disk is full; the message names ``f``.
    """
    if isinstance(f, (str, os.PathLike)):
        path = os.fsdecode(f)
        if path.lower().endswith(_SAFETENSORS_SUFFIX):
            tensors = _safetensors.prepare(obj)
            with atomic_write(path) as handle:
                _safetensors.write(handle, tensors)
            return
        pickle_bytes, storages = _pickling.dumps(obj)
        with atomic_write(path) as handle:
            _zipformat.write_archive(handle, _zipformat.archive_name_for(path), pickle_bytes, storages)
        return
    if not callable(getattr(f, "write", None)):
        raise TypeError(
            f"save: f must be a path (str or os.PathLike) or a binary file object with write(), "
            f"got {type(f).__name__}."
        )
    if isinstance(f, io.TextIOBase):
        raise TypeError("save: f is a text-mode file; open it in binary mode, e.g. open(path, 'wb').")
    pickle_bytes, storages = _pickling.dumps(obj)
    _zipformat.write_archive(f, _zipformat.archive_name_for(None), pickle_bytes, storages)


def load(f, map_location=None, *, weights_only: bool = True, map_to: str = "tensor"):
    """Load an object saved by :func:`save` or ``torch.save``, or a safetensors file.

    Matches ``torch.load(f, weights_only=True)``: the format is recognised from the file's first
    bytes (a zip archive ``PK\\x03\\x04`` is PyTorch's format; an 8-byte length followed by
    ``{`` is safetensors), and a ``.pth`` pickle is read by a restricted unpickler that maps only
    ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``/``_rebuild_tensor``/
    ``_rebuild_parameter``/``_rebuild_parameter_with_state``, ``torch.nn.parameter.Parameter``,
    ``torch.Size`` and the ``torch.<X>Storage`` classes to local numpy-building stand-ins.
    Anything else is refused before it could run. The zip central directory is parsed once
    (duplicate records and local headers that disagree with it are refused), and each storage
    record is read once, CRC-checked, into its own 64-byte-aligned buffer. Tensors are rebuilt
    from their storage with their offset, size and stride as views of that buffer, their
    arithmetic checked against the storage first: as with ``torch.load``, tensors that share a
    storage share memory, so memory stays bounded by the file. A tensor pickled once and
    referenced twice (tied weights) loads as one object. Storage locations such as
    ``'cuda:0'`` are ignored.

    Args:
        f: a path (str or ``os.PathLike``) or a binary file object with ``read``.
        map_location: accepted for ``torch.load`` compatibility and ignored: JAX decides
            where arrays live.
        weights_only: must be True (the default): rustorch never unpickles arbitrary objects.
        map_to: what tensors become: ``'tensor'`` (default) ``rustorch.tensor`` values,
            ``'jax'`` JAX arrays, ``'numpy'`` numpy arrays exactly as stored. ``'numpy'`` gives
            views that share their storage like torch's tensors (writing through one shows in
            the others; a stride-0 ``expand`` is read-only). For ``'jax'`` and ``'tensor'``,
            int64 becomes int32 and float64 becomes float32 unless ``jax_enable_x64`` is on, as
            JAX itself would store them; a whole storage becomes a JAX array without a copy on
            CPU, and every further view of a storage gets its own copy, since JAX arrays cannot
            share memory. A file whose views would need copies of more than 4x its size plus
            1 MiB is refused for these two (load it with ``'numpy'``).

    Returns:
        The saved object; a safetensors file gives a ``dict`` of name -> array.

    Raises:
        CheckpointError: a subclass of ``ValueError``, for anything wrong with the file: truncated
            or corrupt, duplicate or inconsistent zip records, a bad safetensors header, tensor
            sizes, strides or offsets that do not fit their storage, views too costly to copy
            into JAX arrays, int64 values outside int32 without x64, the legacy pre-1.6
            ``torch.save`` format, a TorchScript archive, or a pickle that names a global
            outside the allowlist (e.g. ``os.system``). The message names the file, the record
            or tensor and what is wrong, and says that nothing ran.
        ValueError: ``map_to`` is not one of the three choices.
        TypeError: ``f`` is neither a path nor a readable binary file object.
        FileNotFoundError: ``f`` is a path that does not exist (other ``OSError`` exceptions of reading
            the file propagate too).
    """
    if weights_only is not True:
        raise ValueError(
            "rustorch.load reads tensors, containers, numbers and strings only (weights_only=True); "
            "loading arbitrary pickled objects would let a file run code, so it is not supported"
        )
    converter = _values.Converter(map_to)
    if isinstance(f, (str, os.PathLike)):
        path = os.fsdecode(f)
        with open(path, "rb") as handle:
            source = _source.ByteSource(repr(path), os.fstat(handle.fileno()).st_size, fileobj=handle)
            return _load_from(source, converter)
    if not callable(getattr(f, "read", None)):
        raise TypeError(
            f"load: f must be a path (str or os.PathLike) or a binary file object with read(), "
            f"got {type(f).__name__}."
        )
    data = f.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("load: f returned text; open the file in binary mode, e.g. open(path, 'rb').")
    name = getattr(f, "name", None)
    source_name = repr(name) if isinstance(name, str) else "<file object>"
    return _load_from(_source.ByteSource(source_name, len(data), data=data), converter)


def _load_from(source, converter):
    try:
        return _read_checkpoint(source, converter)
    except (CheckpointError, OSError, MemoryError):
        raise
    except Exception as error:
        # Every reader reports what is wrong itself; this only keeps the promise that a file's
        # content never surfaces as another exception type.
        raise checkpoint_error(
            source.name, f"it could not be read ({type(error).__name__}: {error})"
        ) from error


def _read_checkpoint(source, converter):
    start = source.read(0, min(source.size, 512))
    if start[:4] == b"PK\x03\x04" or start[:4] == b"PK\x05\x06":
        return _zipformat.read_archive(source, converter)
    if len(start) >= 9 and start[8:9] == b"{":
        return _safetensors.read(source, converter)
    if (start[:1] == b"\x80" and _LEGACY_TORCH_MAGIC in start[:32]) or start[257:262] == b"ustar":
        raise checkpoint_error(
            source.name,
            "it is in the legacy PyTorch format (torch.save before 1.6, or with "
            "_use_new_zipfile_serialization=False), which cannot be read safely; re-save it with "
            "torch >= 1.6: torch.save(torch.load(path, weights_only=True), path, "
            "_use_new_zipfile_serialization=True)",
        )
    if start[:1] == b"\x80":
        raise checkpoint_error(
            source.name,
            "it is a bare pickle stream, not a checkpoint archive; it was refused because "
            "unpickling arbitrary data can run code. Save tensors with torch.save (>= 1.6) or save()",
        )
    if not start:
        raise checkpoint_error(source.name, "the file is empty")
    raise checkpoint_error(
        source.name,
        f"it is neither a PyTorch zip checkpoint nor a safetensors file (it starts with {start[:8]!r})",
    )
