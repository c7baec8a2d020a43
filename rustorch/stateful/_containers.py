"""``ParameterList`` and ``ParameterDict``: parameters held in a list or a dict, as
``torch.nn.ParameterList`` / ``torch.nn.ParameterDict``.

Entries are registered as attributes of the container (``'0'``, ``'1'``, ... for the list, the
keys for the dict), so tensors become parameters of the enclosing model with PyTorch's
``state_dict`` keys (``params.0``, ``params.left``). A tensor that is not a Parameter is wrapped
in one when added; other objects are stored as plain attributes.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from ._module import Module, Parameter, _absolute_index, _dir_without_indices, _pairs
from ._variable import Variable

_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor",
               "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


def _as_entry(value):
    if isinstance(value, Variable) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


def _entry_line(key, value, dtype_text) -> str:
    if isinstance(value, Variable):
        kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
        size = "x".join(str(s) for s in value.shape)
        device = f" ({value.device})" if value.device.type != "cpu" else ""
        return f"  ({key}): {kind} containing: [{dtype_text(value)} of size {size}{device}]"
    return f"  ({key}): Object of type: {type(value).__name__}"


class ParameterList(Module):
    """Parameters in a list, as ``torch.nn.ParameterList(values=None)``.

    ``append``, ``extend``, ``+=``, item assignment and the constructor wrap a tensor that is
    not a :class:`Parameter` into one; indexing with a slice gives a new ParameterList. The
    entries are this module's parameters ``'0'``, ``'1'``, ...

    Raises:
        IndexError: an index out of range. TypeError: ``extend`` with a non-iterable or a tensor.
        RuntimeError: calling the list.
    """

    def __init__(self, values=None):
        super().__init__()
        object.__setattr__(self, "_size", 0)
        if values is not None:
            self.extend(values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            out = type(self)()
            for i in range(*index.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, str(_absolute_index(self, index, len(self))))

    def __setitem__(self, index, value) -> None:
        setattr(self, str(_absolute_index(self, index, len(self))), _as_entry(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, values) -> "ParameterList":
        return self.extend(values)

    def __dir__(self):
        return _dir_without_indices(self)

    def append(self, value) -> "ParameterList":
        """Add ``value`` at the end (a tensor becomes a Parameter)."""
        index = len(self)
        object.__setattr__(self, "_size", index + 1)
        self[index] = value
        return self

    def extend(self, values) -> "ParameterList":
        """Append every value of the iterable ``values``."""
        if isinstance(values, Variable) or not isinstance(values, Iterable):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got "
                            f"{type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_entry_line(k, p, lambda v: f"rustorch.{np.dtype(v.dtype).name}") for k, p in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """Parameters in a dict with string keys, as ``torch.nn.ParameterDict(parameters=None)``.

    Built from (and ``update``\\ d with) a mapping or an iterable of ``(key, value)`` pairs; a
    plain ``dict`` is added in sorted key order and an ``OrderedDict``, a ParameterDict or a
    sequence of pairs in its own order, as PyTorch. A tensor that is not a :class:`Parameter`
    is wrapped into one. Supports ``d[key]``, ``del d[key]``, ``in``, ``len``, iteration over
    keys, ``keys``/``values``/``items``, ``get``, ``pop``, ``popitem``, ``setdefault``,
    ``clear``, ``copy``, ``fromkeys`` and ``|``.

    Raises:
        TypeError: a non-string key. AttributeError: a missing key (PyTorch's type). RuntimeError: calling the dict.
    """

    def __init__(self, parameters=None):
        super().__init__()
        object.__setattr__(self, "_keys", {})
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _attr(key):
        if not isinstance(key, str):
            raise TypeError("Index given to ParameterDict cannot be used as a key as it is not a string "
                            f"(type is '{type(key).__name__}').")
        return key

    def __getitem__(self, key):
        attr = self._attr(key)
        if key not in self._keys:  # PyTorch's error type: the entries are attributes
            raise AttributeError(f"'ParameterDict' object has no attribute '{key}' (keys: {list(self._keys)})")
        return getattr(self, attr)

    def __setitem__(self, key, value) -> None:
        attr = self._attr(key)
        self._keys[key] = None
        setattr(self, attr, _as_entry(value))

    def __delitem__(self, key) -> None:
        del self._keys[key]
        delattr(self, self._attr(key))

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._keys

    def copy(self) -> "ParameterDict":
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        """Remove and return the last inserted ``(key, value)`` pair."""
        if not self._keys:
            raise KeyError("popitem(): ParameterDict is empty")
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def fromkeys(self, keys, default=None) -> "ParameterDict":
        return ParameterDict((k, default) for k in keys)

    def keys(self):
        return self._keys.keys()

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def update(self, parameters) -> None:
        """Add or overwrite entries (a plain dict in sorted key order, as PyTorch)."""
        pairs = _pairs(self, parameters)
        if isinstance(parameters, Mapping) and not isinstance(parameters, OrderedDict):
            pairs = sorted(pairs, key=lambda pair: pair[0])
        for key, value in pairs:
            self[key] = value

    def extra_repr(self) -> str:
        def type_name(value):
            return "rustorch." + _TYPE_NAMES.get(np.dtype(value.dtype).name, np.dtype(value.dtype).name)

        return "\n".join(_entry_line(k, p, type_name) for k, p in self.items())

    def __call__(self, input):
        raise RuntimeError("ParameterDict should not be called.")

    def __or__(self, other) -> "ParameterDict":
        copy = self.copy()
        copy.update(other)
        return copy

    def __ror__(self, other) -> "ParameterDict":
        copy = other.copy()
        copy.update(self)
        return copy

    def __ior__(self, other) -> "ParameterDict":
        self.update(other)
        return self

