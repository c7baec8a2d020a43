"""Map-style datasets (``torch.utils.data.dataset``): Dataset, TensorDataset, Subset,
ConcatDataset and random_split.

Data stays on the host as numpy arrays. A dataset whose samples are rows of arrays advertises
them through ``sample_arrays()``; ``DataLoader`` then gathers a whole batch with one numpy fancy
index per array instead of calling ``__getitem__`` per sample.
"""
from __future__ import annotations

import bisect
import itertools
import math
import warnings
from typing import Callable, Iterable, Sequence

import numpy as np

from ._convert import canonical_array, to_tensor
from ._sampler import check_generator, epoch_rng


class Dataset:
    """Abstract map-style dataset (``torch.utils.data.Dataset``).

    Subclasses implement ``__getitem__(index)`` and ``__len__()``. ``a + b`` is
    ``ConcatDataset([a, b])``. A subclass whose samples are ``tuple(a[i] for a in arrays)`` may
    implement ``sample_arrays()`` returning those numpy arrays (or ``None`` when that does not hold
    at the moment) to let ``DataLoader`` gather batches without per-sample Python calls.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")  # abstract, as torch

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream of samples (``torch.utils.data.IterableDataset``).

    Subclasses implement ``__iter__``. With ``num_workers > 0`` every worker iterates its own copy
    of the dataset, so a subclass shards its stream with ``get_worker_info()`` (``id`` and
    ``num_workers``) or each sample arrives ``num_workers`` times, as in PyTorch.
    ``a + b`` is ``ChainDataset([a, b])``.
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")  # abstract, as torch

    def __add__(self, other: "Dataset") -> "ChainDataset":
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Iterable datasets one after another (``torch.utils.data.ChainDataset``).

    Args:
        datasets: iterable datasets, chained lazily (each is iterated when the previous ends).

    ``len`` is the sum of the parts' lengths. Raises ``TypeError`` on iteration when a part is
    not an ``IterableDataset``.
    """

    def __init__(self, datasets: Iterable) -> None:
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            total += len(d)
        return total


class TensorDataset(Dataset):
    """Dataset of the rows of equally long tensors (``torch.utils.data.TensorDataset``).

    Args:
        *tensors: rustorch tensors, numpy arrays or JAX arrays (anything ``np.asarray`` reads),
            all with the same size in dimension 0. They are copied to numpy once; with JAX's
            default 32-bit mode int64 is stored as int32 and float64 as float32 (JAX could not
            hold them), other dtypes (uint8 images included) are kept.

    ``ds[i]`` is ``tuple(tensor[i] for tensor in tensors)`` as rustorch tensors; ``ds.arrays``
    holds the numpy arrays and ``ds.tensors`` converts them to rustorch tensors on access.

    Raises ``ValueError`` when no tensor is given, a tensor is 0-d, or the first dimensions
    differ (the message lists them), and ``TypeError`` for non-numeric data.
    """

    def __init__(self, *tensors) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        arrays = tuple(canonical_array(t, "TensorDataset") for t in tensors)
        for position, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(
                    f"TensorDataset: tensor {position} is 0-d; every tensor needs a first dimension "
                    "indexing the samples"
                )
        sizes = [a.shape[0] for a in arrays]
        if len(set(sizes)) != 1:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(
                f"TensorDataset: size mismatch between tensors: all tensors must have the same size "
                f"in dimension 0, got sizes {sizes} (shapes {shapes})"
            )
        self.arrays: tuple[np.ndarray, ...] = arrays

    @property
    def tensors(self) -> tuple:
        """The stored arrays as rustorch tensors (converted at each access)."""
        return tuple(to_tensor(a) for a in self.arrays)

    def sample_arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays whose rows are the samples (the ``DataLoader`` fast path)."""
        return self.arrays

    def __getitem__(self, index):
        return tuple(to_tensor(a[index]) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (``torch.utils.data.Subset``).

    Args:
        dataset: the whole dataset.
        indices: a sequence of indices into ``dataset``.

    ``subset[i]`` is ``dataset[indices[i]]``; a list index returns a list of samples, as in
    PyTorch.
    """

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return [self.dataset[self.indices[i]] for i in idx]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list) -> list:
        """The samples at ``indices`` (a list), through the dataset's own ``__getitems__`` when
        it has one, as PyTorch's ``Subset`` (the loader's batched fetch)."""
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after another (``torch.utils.data.ConcatDataset``).

    Args:
        datasets: a non-empty iterable of map-style datasets.

    Attributes ``datasets`` and ``cumulative_sizes`` as in PyTorch. Raises ``ValueError`` for an
    empty iterable, and ``IndexError`` for an index outside ``[-len, len)``.
    """

    def __init__(self, datasets: Iterable) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset; use ChainDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"ConcatDataset: index {idx} is out of range for length {n}")
        if idx < 0:
            idx += n
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


def row_gatherer(dataset) -> Callable[[np.ndarray], list[np.ndarray]] | None:
    """A function mapping an index array to the batch's arrays, when every sample of ``dataset``
    is a tuple of rows of numpy arrays; ``None`` when it is not (the loader then collates samples).

    Covers ``TensorDataset``, datasets with ``sample_arrays()`` (MNIST), ``Subset`` chains of
    these (their indices are composed) and ``ConcatDataset`` of these when all parts agree on the
    number, dtypes and row shapes of their arrays. A subclass that overrides ``__getitem__`` is
    not assumed to keep the row structure.
    """
    if isinstance(dataset, Subset):
        if type(dataset).__getitem__ is not Subset.__getitem__:
            return None
        inner = row_gatherer(dataset.dataset)
        if inner is None:
            return None
        indices = np.asarray(dataset.indices, dtype=np.intp)
        return lambda index: inner(indices[index])
    if isinstance(dataset, ConcatDataset):
        if type(dataset).__getitem__ is not ConcatDataset.__getitem__:
            return None
        return _concat_gatherer(dataset)
    if isinstance(dataset, TensorDataset) and type(dataset).__getitem__ is not TensorDataset.__getitem__:
        return None
    hook = getattr(dataset, "sample_arrays", None)
    arrays = None if hook is None else hook()
    if arrays is None:
        return None
    arrays = tuple(arrays)
    return lambda index: [a[index] for a in arrays]


def _concat_gatherer(dataset: "ConcatDataset"):
    parts = [row_gatherer(d) for d in dataset.datasets]
    if any(part is None for part in parts):
        return None
    empty = np.zeros(0, dtype=np.intp)
    layouts = [[(a.dtype, a.shape[1:]) for a in part(empty)] for part in parts]
    if any(layout != layouts[0] for layout in layouts):
        return None  # the per-sample path stacks with numpy's promotion and shape errors
    starts = np.asarray([0] + dataset.cumulative_sizes[:-1], dtype=np.intp)
    bounds = np.asarray(dataset.cumulative_sizes, dtype=np.intp)

    def gather(index: np.ndarray) -> list[np.ndarray]:
        index = np.where(index < 0, index + bounds[-1], index)
        if index.size and index.min() < 0:
            raise IndexError(f"ConcatDataset: index {int(index.min() - bounds[-1])} is out of range "
                             f"for length {int(bounds[-1])}")
        which = np.searchsorted(bounds, index, side="right")
        out = [np.empty((len(index),) + shape, dtype) for dtype, shape in layouts[0]]
        for k in np.unique(which):
            if k >= len(parts):
                raise IndexError(f"ConcatDataset: index {int(index[which == k][0])} is out of range "
                                 f"for length {int(bounds[-1])}")
            mask = which == k
            for target, rows in zip(out, parts[k](index[mask] - starts[k])):
                target[mask] = rows
        return out

    return gather


def _split_lengths(n: int, lengths: Sequence) -> list[int]:
    """PyTorch's rule: fractions summing to 1 become floors, the remainder is dealt round-robin."""
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1, got {frac}")
            sizes.append(math.floor(n * frac))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. This might result in an empty dataset.",
                    stacklevel=3,
                )
        return sizes
    for i, length in enumerate(lengths):
        if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 0:
            raise ValueError(
                f"random_split: lengths must be non-negative ints or fractions summing to 1, "
                f"got {length!r} at index {i}"
            )
    if total != n:
        raise ValueError(
            f"random_split: sum of input lengths ({total}) does not equal the length of the input "
            f"dataset ({n})"
        )
    return [int(length) for length in lengths]


def random_split(dataset, lengths: Sequence, generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset``s (``torch.utils.data.random_split``).

    Args:
        dataset: a map-style dataset.
        lengths: the subset lengths (ints summing to ``len(dataset)``), or fractions summing to 1:
            each becomes ``floor(frac * len(dataset))`` and the remainder is added one at a time
            round-robin from the first subset, exactly as PyTorch; a subset of length 0 warns.
        generator: ``None`` (the library-wide seed), an int seed or a ``numpy.random.Generator``
            for the permutation. The permutation is numpy's, so the subsets differ from PyTorch's
            for the same seed; the lengths are identical.

    Raises ``ValueError`` when a fraction is outside [0, 1], a length is negative or not an int,
    or the lengths do not sum to ``len(dataset)``; ``TypeError`` for a bad generator.
    """
    rng = epoch_rng(check_generator("random_split", generator))
    sizes = _split_lengths(len(dataset), list(lengths))
    order = rng.permutation(sum(sizes)).tolist()
    return [
        Subset(dataset, order[offset - size:offset])
        for offset, size in zip(itertools.accumulate(sizes), sizes)
    ]
