"""``default_collate``: a list of samples in, one batch of rustorch tensors out.

The structure rules are PyTorch's (``torch.utils.data._utils.collate.collate``): tensors and
numpy arrays are stacked along a new first axis, Python ints/floats/bools and numpy scalars become
1-D tensors, strings and bytes stay a list, mappings are collated per key, named tuples field by
field, and other sequences position by position (a tuple sample gives a list, as in PyTorch).
The dtypes follow PyTorch's except that JAX's 32-bit default turns PyTorch's int64 and float64
into int32 and float32 (see ``canonical_array``).
"""
from __future__ import annotations

import collections.abc
import copy

import jax
import numpy as np

from ._convert import canonical_array, to_tensor


def _is_array_like(elem) -> bool:
    if isinstance(elem, (np.ndarray, np.generic, jax.Array)):
        return True
    # rustorch tensors (and other array containers) expose __array__; strings and containers
    # are handled structurally below.
    return hasattr(elem, "__array__") and not isinstance(
        elem, (str, bytes, collections.abc.Mapping, collections.abc.Sequence))


def _stack(batch) -> np.ndarray:
    arrays = [np.asarray(b) for b in batch]
    first = arrays[0]
    if first.dtype.kind in "OUSV":
        raise TypeError(
            "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
            f"found numpy arrays of dtype {first.dtype}"
        )
    for position, a in enumerate(arrays):
        if a.shape != first.shape:
            raise ValueError(
                f"default_collate: stack expects each sample to be of equal size, but got "
                f"{list(first.shape)} at entry 0 and {list(a.shape)} at entry {position}; pad the "
                "samples or pass a collate_fn"
            )
    return np.stack(arrays)


def _leaf(array: np.ndarray):
    return to_tensor(canonical_array(array, "default_collate"))


def _collate(batch):
    elem = batch[0]
    if isinstance(elem, (str, bytes)):
        return batch
    if _is_array_like(elem):
        return _leaf(_stack(batch))
    if isinstance(elem, bool):
        return _leaf(np.asarray(batch))
    if isinstance(elem, int):
        return _leaf(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, float):
        return _leaf(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: _collate([d[key] for d in batch]) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(collated)
                return clone
            return type(elem)(collated)
        except TypeError:
            # A mapping type that cannot be rebuilt from a dict falls back to dict, as in PyTorch.
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise ValueError(
                "default_collate: each element in list of batch should be of equal size, got sizes "
                f"{[len(sample) for sample in batch]}"
            )
        columns = [_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, column in enumerate(columns):
                    clone[i] = column
                return clone
            return type(elem)(columns)
        except TypeError:
            return columns
    raise TypeError(
        "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {type(elem).__name__}"
    )


def default_collate(batch):
    """Merge a list of samples into a batch (``torch.utils.data.default_collate``).

    Args:
        batch: a non-empty list of samples, each a tensor, numpy array, number, string, mapping,
            named tuple or sequence of these (nested freely).

    Returns the same structure with every leaf stacked into one rustorch tensor of batch size
    first: tensors/arrays ``[B, *shape]``, ints ``[B]`` int32 (PyTorch int64), floats ``[B]``
    float32 (PyTorch float64), bools ``[B]`` bool; strings stay a list; a tuple sample gives a list.

    Raises ``ValueError`` when samples of one field differ in shape or length, ``TypeError`` for
    leaves that are neither numbers, arrays nor strings.
    """
    if not isinstance(batch, collections.abc.Sequence) or len(batch) == 0:
        raise ValueError("default_collate: expected a non-empty list of samples, got "
                         f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}")
    return _collate(list(batch))


def default_convert(data):
    """Convert the numpy arrays of one sample to tensors, keeping everything else
    (``torch.utils.data.default_convert``; the loader's ``collate_fn`` when ``batch_size=None``).

    Arrays of strings or objects are kept as they are; mappings, named tuples and sequences are
    converted element by element.
    """
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OUSV":
        return to_tensor(data)
    if isinstance(data, (str, bytes, np.ndarray)):
        return data
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update(converted)
                return clone
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        converted = [default_convert(d) for d in data]
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, value in enumerate(converted):
                    clone[i] = value
                return clone
            return type(data)(converted)
        except TypeError:
            return converted
    return data
