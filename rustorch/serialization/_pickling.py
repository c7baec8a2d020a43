"""The pickle inside a ``.pth`` archive: a torch-free writer and a restricted reader.

Writer: :class:`CheckpointPickler` emits protocol-2 opcodes itself (the same subset
``torch.load(weights_only=True)`` accepts) and refers to only three kinds of globals,
``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the ``torch.*Storage``
classes. Emitting opcodes directly means torch never has to be importable: ``pickle.Pickler``
would look every global up in its module to verify it.

Reader: :class:`RestrictedUnpickler` subclasses ``pickle.Unpickler``. Its ``find_class`` maps
an allowlist of PyTorch names to local stand-ins that build numpy views and raises
``CheckpointError`` for every other name without ever calling ``super().find_class``, so no
module is imported and nothing the file names is called. Before unpickling,
:func:`._opscan.scan` checks the opcodes in linear time and refuses those a state dict never
needs and memo indices that would make the unpickler allocate more than the file's size, a
defence in depth on top of ``find_class``. Tensors are views of their storage's buffer, as
``torch.load``'s tensors share their storages.
"""
import collections
import collections.abc
import io
import pickle
import struct
from typing import NamedTuple

import numpy as np

from . import _dtypes, _layout, _opscan, _values
from ._errors import CheckpointError, checkpoint_error

# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

_PROTO_2 = b"\x80\x02"
_BATCH = 1000  # as pickle.Pickler: SETITEMS/APPENDS batches of at most this many items


class Storage(NamedTuple):
    """One storage record of a ``.pth`` archive: ``data/<key>`` holding ``array``'s bytes."""

    key: str
    array: np.ndarray


class CheckpointPickler:
    """Serialises a nested checkpoint object to protocol-2 pickle bytes plus its storages.

    Accepted values: dict (any ``Mapping`` other than an exact ``dict`` is written as an
    ``OrderedDict``) with str or int keys, list, tuple (namedtuples become plain tuples), int,
    float, bool, str, None and arrays (see :func:`_values.is_array`). Each array becomes a
    ``_rebuild_tensor_v2`` call on its own storage; the same array object appearing twice shares
    one storage, as tied weights do in PyTorch.

    Raises:
        TypeError: an unsupported value, key type or dtype; the message names its location.
        ValueError: a container that contains itself.
    """

    def __init__(self):
        self._out = bytearray(_PROTO_2)
        self._memo = {}
        self._storage_of = {}
        self._keep_alive = []
        self._active = set()
        self.storages = []

    def dumps(self, obj) -> bytes:
        """The pickle bytes for ``obj``; ``self.storages`` then lists the storages it refers to."""
        try:
            self._save(obj, ())
        except RecursionError:
            raise ValueError(
                "save: the object is nested too deeply to serialise; checkpoints hold state dicts "
                "and similar shallow structures."
            ) from None
        self._out += pickle.STOP
        return bytes(self._out)

    # -- opcode helpers ---------------------------------------------------------------------

    def _memo_put(self, index: int) -> None:
        if index < 256:
            self._out += pickle.BINPUT + bytes((index,))
        else:
            self._out += pickle.LONG_BINPUT + struct.pack("<I", index)

    def _memo_get(self, index: int) -> None:
        if index < 256:
            self._out += pickle.BINGET + bytes((index,))
        else:
            self._out += pickle.LONG_BINGET + struct.pack("<I", index)

    def _global(self, module: str, name: str) -> None:
        index = self._memo.get((module, name))
        if index is not None:
            self._memo_get(index)
            return
        self._out += pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii")
        index = len(self._memo)
        self._memo[(module, name)] = index
        self._memo_put(index)

    def _int(self, value: int) -> None:
        if 0 <= value < 256:
            self._out += pickle.BININT1 + bytes((value,))
        elif 0 <= value < 65536:
            self._out += pickle.BININT2 + struct.pack("<H", value)
        elif -(2**31) <= value < 2**31:
            self._out += pickle.BININT + struct.pack("<i", value)
        else:
            encoded = value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
            if len(encoded) > 255:
                raise TypeError(f"save: the integer {value} is too large for a checkpoint")
            self._out += pickle.LONG1 + bytes((len(encoded),)) + encoded

    def _str(self, value: str) -> None:
        encoded = value.encode("utf-8", "surrogatepass")
        self._out += pickle.BINUNICODE + struct.pack("<I", len(encoded)) + encoded

    def _tuple_of_ints(self, values) -> None:
        self._tuple([lambda v=v: self._int(v) for v in values])

    def _tuple(self, emitters) -> None:
        if not emitters:
            self._out += pickle.EMPTY_TUPLE
            return
        if len(emitters) <= 3:
            for emit in emitters:
                emit()
            self._out += (pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3)[len(emitters) - 1]
            return
        self._out += pickle.MARK
        for emit in emitters:
            emit()
        self._out += pickle.TUPLE

    def _empty_ordered_dict(self) -> None:
        self._global("collections", "OrderedDict")
        self._out += pickle.EMPTY_TUPLE + pickle.REDUCE

    # -- values -----------------------------------------------------------------------------

    def _save(self, value, path, key=None) -> None:
        if value is None:
            self._out += pickle.NONE
        elif isinstance(value, bool):
            self._out += pickle.NEWTRUE if value else pickle.NEWFALSE
        elif _values.is_array(value):
            # Before int/float: numpy's float64 and int scalars subclass Python's float and int.
            self._tensor(value, path, key)
        elif isinstance(value, int):
            self._int(int(value))
        elif isinstance(value, float):
            self._out += pickle.BINFLOAT + struct.pack(">d", float(value))
        elif isinstance(value, str):
            self._str(str(value))
        elif isinstance(value, collections.abc.Mapping):
            self._container(value, path, self._mapping)
        elif isinstance(value, (list, tuple)):
            self._container(value, path, self._sequence)
        else:
            refusal = _values.object_with_state_dict(value, _values.describe_path("obj", path))
            if refusal is not None:
                raise refusal
            raise TypeError(
                f"save: {_values.describe_path('obj', path)} is a {type(value).__name__}; a "
                "checkpoint holds dict, list, tuple, int, float, bool, str, None and arrays "
                "(numpy, JAX or rustorch tensors). Convert it to one of these first."
            )

    def _container(self, value, path, write) -> None:
        marker = id(value)
        if marker in self._active:
            raise ValueError(
                f"save: {_values.describe_path('obj', path)} contains itself; a checkpoint cannot "
                "hold self-referencing containers."
            )
        self._active.add(marker)
        try:
            write(value, path)
        finally:
            self._active.discard(marker)

    def _mapping(self, value, path) -> None:
        if type(value) is dict:
            self._out += pickle.EMPTY_DICT
        else:
            self._global("collections", "OrderedDict")
            self._out += pickle.EMPTY_TUPLE + pickle.REDUCE
        items = list(value.items())
        for start in range(0, len(items), _BATCH):
            self._out += pickle.MARK
            for key, item in items[start : start + _BATCH]:
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(
                        f"save: {_values.describe_path('obj', path)} has the key {key!r} of type "
                        f"{type(key).__name__}; checkpoint dict keys must be str or int."
                    )
                if isinstance(key, str):
                    self._str(str(key))
                else:
                    self._int(int(key))
                self._save(item, path + (key,), key)
            self._out += pickle.SETITEMS

    def _sequence(self, value, path) -> None:
        if isinstance(value, tuple):
            self._tuple(
                [lambda i=i, item=item: self._save(item, path + (i,)) for i, item in enumerate(value)]
            )
            return
        self._out += pickle.EMPTY_LIST
        for start in range(0, len(value), _BATCH):
            self._out += pickle.MARK
            for i in range(start, min(start + _BATCH, len(value))):
                self._save(value[i], path + (i,))
            self._out += pickle.APPENDS

    def _tensor(self, value, path, key) -> None:
        storage_key = self._storage_of.get(id(value))
        if storage_key is None:
            array = _values.as_checkpoint_array(value, _values.describe_path("obj", path), key)
            storage_key = str(len(self.storages))
            self.storages.append(Storage(storage_key, array))
            self._storage_of[id(value)] = storage_key
            # Keeps ``value`` alive so its id cannot be reused by another object during the dump.
            self._keep_alive.append(value)
        array = self.storages[int(storage_key)].array
        info = _dtypes.lookup(array.dtype)
        self._global("torch._utils", "_rebuild_tensor_v2")
        self._out += pickle.MARK
        # The persistent id ('storage', storage_type, key, location, numel), as torch.save writes it.
        self._out += pickle.MARK
        self._str("storage")
        self._global("torch", info.torch_storage)
        self._str(storage_key)
        self._str("cpu")
        self._int(int(array.size))
        self._out += pickle.TUPLE + pickle.BINPERSID
        self._int(0)
        self._tuple_of_ints(array.shape)
        self._tuple_of_ints(contiguous_strides(array.shape))
        self._out += pickle.NEWFALSE
        self._empty_ordered_dict()
        self._out += pickle.TUPLE + pickle.REDUCE


def contiguous_strides(shape) -> tuple:
    """PyTorch's row-major strides in elements; a zero-size dimension counts as size 1."""
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def dumps(obj):
    """``(pickle_bytes, storages)`` for ``obj``; see :class:`CheckpointPickler`."""
    pickler = CheckpointPickler()
    data = pickler.dumps(obj)
    return data, pickler.storages


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


class _Malformed(Exception):
    """Raised by the stand-ins; :func:`loads` turns it into a ``CheckpointError`` naming the file."""


class _Guarded:
    """Base of every object the unpickler can put on its stack besides plain data.

    ``__slots__`` leaves no ``__dict__`` and ``__setstate__`` refuses, so a BUILD opcode cannot
    alter these objects, and they define no ``append``/``extend``/``add``/``__setitem__`` for
    APPENDS, ADDITEMS or SETITEMS to call.
    """

    __slots__ = ()

    def __setstate__(self, state):
        raise _Malformed(f"the pickle tries to set the state of {self!r}, which no saved state dict does")


class StorageType(_Guarded):
    """Stand-in for a ``torch.<X>Storage`` class: only names the dtype of a storage."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: np.dtype):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", dtype)

    def __repr__(self):
        return f"<torch.{self.name} stand-in>"


class LoadedStorage(_Guarded):
    """A storage read from ``data/<key>``: a flat numpy array over the record's buffer."""

    __slots__ = ("key", "array")

    def __init__(self, key: str, array: np.ndarray):
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "array", array)

    def __repr__(self):
        return f"<storage {self.key!r}>"


class LoadedTensor(_Guarded):
    """A tensor rebuilt by a stand-in: a view of its storage's array.

    :func:`finish` swaps it for the caller's array type.
    """

    __slots__ = ("array", "storage")

    def __init__(self, array: np.ndarray, storage: str):
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "storage", storage)

    def __repr__(self):
        return f"<tensor {self.array.dtype}{list(self.array.shape)}>"


class _StandIn(_Guarded):
    """A callable that takes the place of an allowlisted PyTorch global."""

    __slots__ = ("qualname", "build")

    def __init__(self, qualname: str, build):
        object.__setattr__(self, "qualname", qualname)
        object.__setattr__(self, "build", build)

    def __call__(self, *args):
        return self.build(*args)

    def __repr__(self):
        return f"<{self.qualname} stand-in>"


def _view(storage, storage_offset, size, stride) -> LoadedTensor:
    """The tensor ``storage[storage_offset:]`` viewed with ``size`` and ``stride``; shares memory."""
    if not isinstance(storage, LoadedStorage):
        raise _Malformed(f"a tensor was rebuilt from {_layout._short(storage)} instead of a storage")
    if type(size) is list:
        size = tuple(size)
    try:
        view = _layout.strided_view(storage.array, storage_offset, size, stride, f"tensor over storage {storage.key!r}")
    except _layout.LayoutError as error:
        raise _Malformed(str(error)) from None
    return LoadedTensor(view, storage.key)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    if type(requires_grad) is not bool:
        raise _Malformed(f"a tensor has requires_grad={_layout._short(requires_grad)}, which is not a bool")
    return _view(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _view(storage, storage_offset, size, stride)


def _parameter_data(data):
    if not isinstance(data, LoadedTensor):
        raise _Malformed(f"a Parameter was rebuilt from {_layout._short(data)} instead of a tensor")
    return data


def _rebuild_parameter(data, requires_grad, backward_hooks):
    return _parameter_data(data)


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _parameter_data(data)


def _parameter(data=None, requires_grad=True):
    return _parameter_data(data)


def _size(values=()):
    if type(values) not in (tuple, list) or any(type(v) is not int for v in values):
        raise _Malformed(f"torch.Size expects a sequence of ints, got {_layout._short(values)}")
    return tuple(values)


def _ordered_dict(items=()):
    if type(items) not in (list, tuple):
        raise _Malformed(f"OrderedDict was called with {type(items).__name__}, not a list of pairs")
    return collections.OrderedDict(items)


_STORAGE_MODULES = ("torch", "torch.cuda")

ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): _StandIn("collections.OrderedDict", _ordered_dict),
    ("torch._utils", "_rebuild_tensor_v2"): _StandIn("torch._utils._rebuild_tensor_v2", _rebuild_tensor_v2),
    ("torch._utils", "_rebuild_tensor"): _StandIn("torch._utils._rebuild_tensor", _rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): _StandIn("torch._utils._rebuild_parameter", _rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): _StandIn(
        "torch._utils._rebuild_parameter_with_state", _rebuild_parameter_with_state
    ),
    ("torch.nn.parameter", "Parameter"): _StandIn("torch.nn.parameter.Parameter", _parameter),
    ("torch", "Size"): _StandIn("torch.Size", _size),
}
for _module in _STORAGE_MODULES:
    for _info in _dtypes.SUPPORTED:
        ALLOWED_GLOBALS[(_module, _info.torch_storage)] = StorageType(_info.torch_storage, _info.numpy)
del _module, _info


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` of a ``.pth`` archive, resolving globals only through an allowlist.

    ``find_class`` returns local stand-ins for ``collections.OrderedDict``,
    ``torch._utils._rebuild_tensor_v2``/``_rebuild_tensor``/``_rebuild_parameter``/
    ``_rebuild_parameter_with_state``, ``torch.nn.parameter.Parameter``, ``torch.Size`` and the
    ``torch.<X>Storage`` classes of the supported dtypes, and refuses every other name with
    ``CheckpointError``; it never calls ``super().find_class``. ``persistent_load`` accepts only
    ``('storage', storage_type, key, location, numel)`` ids and gets the bytes of ``data/<key>``
    from ``read_record(key, nbytes)`` once per key; ``location`` is ignored (everything loads
    to host memory). ``used_globals`` tells whether anything but plain data can be in the result.
    """

    def __init__(self, data: bytes, read_record, byteorder: str, source: str):
        super().__init__(io.BytesIO(data))
        self._read_record = read_record
        self._byteorder = byteorder
        self._source = source
        self._records = {}
        self._storages = {}
        self.used_globals = False

    def find_class(self, module, name):
        stand_in = None
        if isinstance(module, str) and isinstance(name, str):
            stand_in = ALLOWED_GLOBALS.get((module, name))
        if stand_in is not None:
            self.used_globals = True
            return stand_in
        hint = ""
        if isinstance(module, str) and module.split(".")[0] == "torch":
            hint = (
                "; a genuine PyTorch checkpoint holding other objects can be reduced to tensors with "
                "torch.load(path, weights_only=True) and torch.save(obj.state_dict(), path)"
            )
        raise checkpoint_error(
            self._source,
            f"the pickle asks for the global {_layout._short(module)[1:-1]}.{_layout._short(name)[1:-1]}, "
            "which is not on the allowlist of tensor-rebuilding names (collections.OrderedDict, "
            "torch._utils._rebuild_*, torch.<X>Storage, torch.Size, torch.nn.parameter.Parameter); "
            f"the file was refused{hint}",
        )

    def persistent_load(self, pid):
        if type(pid) is not tuple or len(pid) != 5 or pid[0] != "storage":
            raise checkpoint_error(
                self._source,
                f"the persistent id {_layout._short(pid)} is not ('storage', type, key, location, numel)",
            )
        _, storage_type, key, location, numel = pid
        if not isinstance(storage_type, StorageType):
            raise checkpoint_error(
                self._source, f"the storage type {_layout._short(storage_type)} is not a torch storage class"
            )
        if type(key) is not str or type(location) is not str or type(numel) is not int or numel < 0:
            raise checkpoint_error(self._source, f"the persistent id {_layout._short(pid)} has malformed fields")
        dtype = storage_type.dtype
        cached = self._storages.get((key, dtype))
        if cached is not None and cached.array.size == numel:
            return cached
        nbytes = numel * dtype.itemsize
        raw = self._records.get(key)
        if raw is None:
            raw = self._records[key] = self._read_record(key, nbytes)
        if raw.nbytes != nbytes:
            raise checkpoint_error(
                self._source,
                f"storage {key!r} is used as {numel} elements of {dtype} ({nbytes} bytes) "
                f"but its record holds {raw.nbytes} bytes",
            )
        self.used_globals = True
        storage = LoadedStorage(key, _dtypes.from_bytes(raw, dtype, self._byteorder))
        self._storages[(key, dtype)] = storage
        return storage


def loads(data: bytes, read_record, byteorder: str, source: str):
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; tensors come back as ``LoadedTensor``.

    ``read_record(key, nbytes)`` returns the bytes of ``data/<key>`` (a flat ``uint8`` array,
    stored in ``byteorder``). The opcodes are checked first (see :mod:`._opscan`).

    Returns:
        ``(obj, used_globals)``: ``used_globals`` is False when the pickle named no global and
        no storage, so ``obj`` is plain data.

    Raises:
        CheckpointError: a refused global or opcode, a malformed tensor, or a corrupt pickle.
    """
    try:
        _opscan.scan(data)
    except _opscan.OpcodeError as error:
        raise checkpoint_error(source, f"the pickle data.pkl was refused: {error}") from None
    unpickler = RestrictedUnpickler(data, read_record, byteorder, source)
    try:
        return unpickler.load(), unpickler.used_globals
    except CheckpointError:
        raise
    except _Malformed as error:
        raise checkpoint_error(source, f"the pickle data.pkl is malformed: {error}") from None
    except RecursionError:
        raise checkpoint_error(source, "the pickle data.pkl is nested too deeply") from None
    except Exception as error:
        raise checkpoint_error(
            source, f"the pickle data.pkl is corrupt ({type(error).__name__}: {_layout._short(str(error))[1:-1]})"
        ) from None


# Values that hold nothing to convert or refuse: they are returned as they are.
_PLAIN = frozenset([int, float, str, bytes, bool, type(None), complex, bytearray])


def finish(root, used_globals: bool, converter, source: str, file_size: int):
    """Replace every ``LoadedTensor`` in ``root`` with ``converter(array, shares_storage)``.

    Lists and dicts are updated in place and tuples rebuilt; a tensor reached twice (a tied
    weight pickled once and referenced again) maps to one converted object. Anything else the
    unpickler produced that is not plain data (a bare storage or stand-in, a tensor used as a
    dict key or inside a set) is refused. Before converting anything, the bytes the conversion
    would copy (``converter.copy_bytes``: views of a storage that another tensor already uses,
    non-contiguous views, dtype casts) are added up and refused above
    ``4 * file_size + 1 MiB``, so memory stays bounded by the file.
    """
    if not used_globals:
        return root
    try:
        tensors = _collect(root, source)
        _check_copy_budget(tensors, converter, source, file_size)
        converted = {}
        users = set()
        for marker, (tensor, path) in tensors.items():
            try:
                converted[marker] = converter(tensor.array, tensor.storage in users)
            except OverflowError as error:
                raise checkpoint_error(source, f"the tensor at {_values.describe_path('obj', path)}: {error}") from None
            users.add(tensor.storage)
        return _replace(root, converted, {})
    except RecursionError:
        raise checkpoint_error(source, "the pickled object is nested too deeply") from None


def _collect(root, source: str) -> dict:
    """``{id(tensor): (tensor, location)}`` for every ``LoadedTensor`` reachable from ``root``."""
    tensors = {}
    seen = set()

    def visit(value, path):
        kind = type(value)
        if kind in _PLAIN:
            return
        marker = id(value)
        if marker in seen:
            return
        seen.add(marker)
        if kind is LoadedTensor:
            tensors[marker] = (value, path)
        elif isinstance(value, _Guarded):
            raise checkpoint_error(
                source, f"the pickle leaves {value!r} in the data at {_values.describe_path('obj', path)} instead of a tensor"
            )
        elif isinstance(value, dict):
            for key, item in value.items():
                if _holds_guarded(key):
                    raise checkpoint_error(
                        source,
                        f"the pickle uses {_layout._short(key)} as a key of the dict at "
                        f"{_values.describe_path('obj', path)}; checkpoint dict keys are plain data, not tensors",
                    )
                visit(item, path + (key,))
            for name, attribute in getattr(value, "__dict__", {}).items():
                visit(attribute, path + (name,))
        elif kind is list or kind is tuple:
            for index, item in enumerate(value):
                if type(item) not in _PLAIN:
                    visit(item, path + (index,))
        elif kind in (set, frozenset):
            if any(_holds_guarded(item) for item in value):
                raise checkpoint_error(
                    source, f"the pickle puts tensors or storages inside a set at {_values.describe_path('obj', path)}"
                )

    visit(root, ())
    return tensors


def _holds_guarded(value) -> bool:
    kind = type(value)
    if kind in _PLAIN:
        return False
    if isinstance(value, _Guarded):
        return True
    if kind in (tuple, frozenset):
        return any(_holds_guarded(item) for item in value)
    return False


def _check_copy_budget(tensors: dict, converter, source: str, file_size: int) -> None:
    limit = 4 * file_size + (1 << 20)
    total = 0
    largest = (0, ())
    users = set()
    for tensor, path in tensors.values():
        cost = converter.copy_bytes(tensor.array, tensor.storage in users)
        users.add(tensor.storage)
        total += cost
        largest = max(largest, (cost, path), key=lambda pair: pair[0])
        if total > limit:
            raise checkpoint_error(
                source,
                f"its tensors would need {total}+ bytes of copies to become {converter.kind} arrays, more "
                f"than 4x the {file_size}-byte file plus 1 MiB: views that share a storage (the largest "
                f"so far, {_values.describe_path('obj', largest[1])}, {largest[0]} bytes) cannot share "
                f"memory as {converter.kind} arrays. Load with map_to='numpy' to get numpy "
                "views that share their storage as torch.load's tensors do",
            )


def _replace(value, converted: dict, done: dict):
    kind = type(value)
    if kind in _PLAIN:
        return value
    marker = id(value)
    if marker in done:
        return done[marker]
    if kind is LoadedTensor:
        result = converted[marker]
    elif isinstance(value, dict):
        done[marker] = value
        for key, item in value.items():
            if type(item) not in _PLAIN:
                value[key] = _replace(item, converted, done)
        attributes = getattr(value, "__dict__", {})
        for name, attribute in attributes.items():
            attributes[name] = _replace(attribute, converted, done)
        return value
    elif kind is list:
        done[marker] = value
        for index, item in enumerate(value):
            if type(item) not in _PLAIN:
                value[index] = _replace(item, converted, done)
        return value
    elif kind is tuple:
        result = tuple(item if type(item) in _PLAIN else _replace(item, converted, done) for item in value)
    else:
        result = value
    done[marker] = result
    return result
