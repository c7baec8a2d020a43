"""Host arrays in, rustorch tensors out: the one place where data leaves numpy.

Datasets keep their data as numpy arrays and the loader gathers batches with numpy, so the only
hand-off to the device is ``to_tensor`` on a whole batch. JAX without ``jax_enable_x64`` holds
32-bit numbers only; the narrowing is done here, explicitly and with a range check, so that JAX
never truncates silently or warns.

Host mode: while it is on, ``to_tensor`` returns a ``HostArray`` (a numpy array marked "becomes
a tensor") instead of a device tensor, and the main process turns every marked leaf of a finished
batch into a tensor with one transfer (``tensors_from_host``). It is on, per thread:
- for the whole life of a worker *process*, which must never touch JAX, so user code there sees
  host arrays where it would see tensors;
- in the main process and in worker threads only around rustorch's own code while a
  ``DataLoader`` fetches (``fetching()``): ``default_collate`` as the loader's collate, and the
  transforms of rustorch's datasets when every one of them is rustorch's (``call_host_safe``).
  User code there (its own transforms, ``Lambda``, datasets, collate functions) always receives
  real tensors, as in PyTorch.
"""
from __future__ import annotations

import collections.abc
import contextlib
import threading
from typing import Iterator

import jax
import numpy as np

_local = threading.local()


class HostArray(np.ndarray):
    """A numpy array that stands for a tensor made inside a loader fetch (see the module docstring).

    ``to_tensor`` returns one in host mode; ``tensors_from_host`` turns it into a rustorch tensor
    in the main process. It behaves as a plain numpy array otherwise; a tensor method numpy
    lacks (``unsqueeze``, ``float``...) raises an ``AttributeError`` that says why.
    """

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"'{name}': inside a DataLoader worker process tensors are host arrays (numpy), which "
            f"have no tensor method {name!r}. Code that needs tensor methods runs in worker "
            "threads (multiprocessing_context='thread') or with num_workers=0, where it gets real "
            "tensors.")


def fetching() -> bool:
    """Whether a ``DataLoader`` is fetching samples on this thread."""
    return getattr(_local, "fetching", False)


@contextlib.contextmanager
def loader_fetch() -> Iterator[None]:
    """Mark this thread as fetching for the duration of the block."""
    previous = fetching()
    _local.fetching = True
    try:
        yield
    finally:
        _local.fetching = previous


def is_host_safe(fn) -> bool:
    """Whether ``fn`` is rustorch code that accepts and returns host arrays for tensors
    (rustorch's transforms set ``host_safe``; ``Compose`` is safe when all its parts are)."""
    return bool(getattr(fn, "host_safe", False))


def call_host_safe(fn, value):
    """``fn(value)``, in host mode when a loader is fetching on this thread and ``fn`` is
    host-safe (its tensors then stay host arrays until the batch is complete)."""
    if fetching() and is_host_safe(fn):
        with host_arrays():
            return fn(value)
    return fn(value)


def host_mode() -> bool:
    """Whether ``to_tensor`` makes host arrays on this thread (inside a loader fetch)."""
    return getattr(_local, "host", False)


def set_host_mode(on: bool) -> None:
    """Switch host mode for this thread (loader worker threads and processes keep it on)."""
    _local.host = on


@contextlib.contextmanager
def host_arrays() -> Iterator[None]:
    """Host mode for the duration of the block, restored afterwards."""
    previous = host_mode()
    _local.host = True
    try:
        yield
    finally:
        _local.host = previous


def canonical_array(array, what: str = "array") -> np.ndarray:
    """Return ``array`` as a numpy array in the dtype JAX would store it in.

    With ``jax_enable_x64`` off (JAX's default) int64 becomes int32, uint64 uint32, float64
    float32 and complex128 complex64; with it on, nothing changes. Accepts numpy arrays, JAX
    arrays, rustorch tensors (anything ``np.asarray`` reads) and Python numbers/lists.

    Raises ``TypeError`` for strings and Python objects (no tensor holds them) and
    ``ValueError`` when integers do not fit the 32-bit type (enable x64 to keep them).
    """
    a = np.asarray(array)
    if a.dtype.kind in "OUSVMm":
        raise TypeError(
            f"{what}: cannot make a tensor from numpy dtype {a.dtype}; tensors hold booleans "
            "and numbers only. Convert the data to a numeric array first."
        )
    target = np.dtype(jax.dtypes.canonicalize_dtype(a.dtype))
    if target == a.dtype:
        return a
    if a.dtype.kind in "iu" and a.size:
        info = np.iinfo(target)
        lo, hi = a.min(), a.max()
        if lo < info.min or hi > info.max:
            raise ValueError(
                f"{what}: {a.dtype} values in [{lo}, {hi}] do not fit {target}, the widest integer "
                "type JAX holds without 64-bit mode; call "
                "jax.config.update('jax_enable_x64', True) before building the dataset."
            )
    return a.astype(target)


def to_tensor(array):
    """Convert a host array to a rustorch tensor (``rustorch.stateful.tensor``), or to a
    ``HostArray`` in host mode (inside a loader fetch; see the module docstring).

    The array is first narrowed by ``canonical_array``. The stateful facade is imported here, at
    call time, because it imports this package's siblings and must not be needed to import
    ``rustorch.utils.data``.
    """
    array = canonical_array(array)
    if host_mode():
        return array.view(HostArray)
    from rustorch.stateful import tensor

    return tensor(array)


def tensors_from_host(batch):
    """Replace every ``HostArray`` in a nested batch (mappings, named tuples, tuples, lists) by a
    rustorch tensor; other leaves (plain numpy arrays, numbers, strings) are kept as they are."""
    if isinstance(batch, HostArray):
        from rustorch.stateful import tensor

        return tensor(batch.view(np.ndarray))
    if isinstance(batch, (str, bytes, np.ndarray)):
        return batch
    if isinstance(batch, collections.abc.Mapping):
        converted = {key: tensors_from_host(value) for key, value in batch.items()}
        try:
            return type(batch)(converted)
        except TypeError:
            return converted
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(tensors_from_host(value) for value in batch))
    if isinstance(batch, (list, tuple)):
        converted = [tensors_from_host(value) for value in batch]
        return converted if type(batch) is list else (
            tuple(converted) if type(batch) is tuple else _rebuild(batch, converted))
    return batch


def _rebuild(sequence, items):
    try:
        return type(sequence)(items)
    except TypeError:
        return items
