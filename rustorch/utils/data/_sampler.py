"""Samplers: the order in which a loader visits a dataset, as numpy index arrays.

PyTorch's samplers yield Python ints one at a time. These yield the same ints, but the built-in
ones also hand the whole epoch over as one numpy array (``epoch_indices``), which lets the loader
cut batches by slicing and gather them by fancy indexing without a Python loop per sample.

Randomness: ``generator`` is ``None``, an int seed, a ``numpy.random.Generator`` or a
``rustorch.Generator``.
- ``numpy.random.Generator``: used as is, and advanced, like a ``torch.Generator`` passed to
  PyTorch.
- ``rustorch.Generator`` (anything with a ``numpy_generator()`` method): each epoch takes a new
  numpy generator from its stream, which advances it.
- int: a private ``numpy.random.default_rng(seed)`` made once, so successive epochs differ and the
  whole sequence of epochs repeats for the same seed.
- ``None``: every epoch seeds a fresh generator from the library-wide stream
  ``rustorch.stateful._random.next_numpy_seed()`` (what ``rustorch.manual_seed`` seeds), as
  PyTorch's ``RandomSampler`` draws a fresh seed from the global generator each epoch.
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np


def check_generator(op: str, generator):
    """Validate a ``generator`` argument; return the generator object a sampler keeps.

    Raises ``TypeError`` for anything but ``None``, an int seed, a ``numpy.random.Generator`` or
    a ``rustorch.Generator``, and ``ValueError`` for a negative seed.
    """
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    if callable(getattr(generator, "numpy_generator", None)):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        if generator < 0:
            raise ValueError(f"{op}: generator seed must be non-negative, got {generator}")
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"{op}: generator must be None, an int seed, a numpy.random.Generator or a "
        f"rustorch.Generator, got {type(generator).__name__}"
    )


def epoch_rng(generator) -> np.random.Generator:
    """The numpy generator one epoch draws from (see the module docstring)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is not None:
        return generator.numpy_generator()
    # Imported at call time: the data package must import without the stateful facade.
    from rustorch.stateful._random import next_numpy_seed

    return np.random.default_rng(next_numpy_seed())


def _check_count(op: str, name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{op}: {name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


class Sampler:
    """Base class of samplers (``torch.utils.data.Sampler``).

    Subclasses implement ``__iter__`` (dataset indices) and usually ``__len__``. A subclass may
    also implement ``epoch_indices()`` returning one epoch as an integer numpy array; the loader
    then cuts batches from it without iterating in Python.
    """

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")  # abstract, as torch


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order (``torch.utils.data.SequentialSampler``)."""

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def epoch_indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.intp)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices (``torch.utils.data.RandomSampler``).

    Args:
        data_source: the dataset (only its ``len`` is used).
        replacement (bool, default False): draw ``num_samples`` indices with replacement.
        num_samples (int, default ``len(data_source)``): indices per epoch; without replacement
            and above ``len(data_source)`` it concatenates fresh permutations, as PyTorch does.
        generator: ``None``, an int seed or a ``numpy.random.Generator`` (module docstring).

    Raises ``TypeError`` for a non-bool ``replacement`` or a bad generator and ``ValueError``
    for a non-positive ``num_samples``.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(
                f"RandomSampler: replacement should be a boolean value, but got replacement={replacement!r}"
            )
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = None if num_samples is None else _check_count(
            "RandomSampler", "num_samples", num_samples)
        self.generator = check_generator("RandomSampler", generator)

    @property
    def num_samples(self) -> int:
        # Read at each epoch, as PyTorch does, so a dataset that grows is followed.
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def epoch_indices(self) -> np.ndarray:
        n, count = len(self.data_source), self.num_samples
        rng = epoch_rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=count, dtype=np.intp)
        if n == 0:
            return np.zeros(0, dtype=np.intp)
        rounds = [rng.permutation(n) for _ in range(math.ceil(count / n))]
        return np.concatenate(rounds)[:count].astype(np.intp, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch (``torch.utils.data.SubsetRandomSampler``).

    Args:
        indices: a sequence of dataset indices.
        generator: ``None``, an int seed or a ``numpy.random.Generator`` (module docstring).
    """

    def __init__(self, indices, generator=None) -> None:
        self.indices = indices
        self.generator = check_generator("SubsetRandomSampler", generator)

    def epoch_indices(self) -> np.ndarray:
        order = epoch_rng(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices, dtype=np.intp)[order]

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Indices ``0..len(weights)-1`` drawn with the given probabilities
    (``torch.utils.data.WeightedRandomSampler``).

    Args:
        weights: a 1-D sequence of non-negative weights (need not sum to one).
        num_samples (int): indices per epoch, positive.
        replacement (bool, default True): draw with replacement; without it ``num_samples`` may
            not exceed the number of non-zero weights.
        generator: ``None``, an int seed or a ``numpy.random.Generator`` (module docstring).

    Raises ``ValueError`` for a non-positive ``num_samples``, weights that are not 1-D, negative,
    not finite or all zero, or too few non-zero weights without replacement; ``TypeError`` for a
    non-bool ``replacement``.
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None) -> None:
        self.num_samples = _check_count("WeightedRandomSampler", "num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise TypeError("WeightedRandomSampler: replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError("WeightedRandomSampler: weights should be a 1d sequence but given "
                             f"weights have shape {tuple(w.shape)}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not "
                             "all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(
                f"WeightedRandomSampler: cannot draw num_samples={num_samples} indices without "
                f"replacement from {np.count_nonzero(w)} non-zero weights")
        self.weights = w
        self.replacement = replacement
        self.generator = check_generator("WeightedRandomSampler", generator)

    def epoch_indices(self) -> np.ndarray:
        p = self.weights / self.weights.sum()
        rng = epoch_rng(self.generator)
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).astype(np.intp)

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group a sampler's indices into lists of ``batch_size`` (``torch.utils.data.BatchSampler``).

    Args:
        sampler: a ``Sampler`` or any iterable of indices.
        batch_size (int): positive.
        drop_last (bool): drop the last batch when it is smaller than ``batch_size``.

    ``len`` is ``floor(len(sampler) / batch_size)`` with ``drop_last``, else the ceiling.
    Raises ``ValueError`` for a non-positive ``batch_size`` and ``TypeError`` for a non-bool
    ``drop_last``.
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.batch_size = _check_count("BatchSampler", "batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise TypeError(
                f"BatchSampler: drop_last should be a boolean value, but got drop_last={drop_last!r}"
            )
        self.sampler = sampler
        self.drop_last = drop_last

    def index_batches(self) -> Iterator[np.ndarray | list]:
        """Yield each batch's indices: an ``intp`` array when the sampler has ``epoch_indices``
        (sliced from one epoch array, the loader's fast path), else the sampler's own items in a
        list (custom samplers may yield keys that are not ints)."""
        size = self.batch_size
        epoch = getattr(self.sampler, "epoch_indices", None)
        if epoch is not None:
            order = np.asarray(epoch(), dtype=np.intp)
            stop = len(order) - len(order) % size if self.drop_last else len(order)
            for start in range(0, stop, size):
                yield order[start:start + size]
            return
        batch: list = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __iter__(self) -> Iterator[list]:
        for batch in self.index_batches():
            yield batch.tolist() if isinstance(batch, np.ndarray) else batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
