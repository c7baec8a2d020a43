"""``DataLoader``: batches of rustorch tensors from a map-style dataset, in the main process.

Two paths produce the same batches:
- fast: when the dataset's samples are rows of numpy arrays (``TensorDataset``, MNIST without
  transforms, ``Subset`` and ``ConcatDataset`` of these, see ``row_gatherer``) and no
  ``collate_fn`` is given, each batch is one numpy fancy index per array with the batch's index
  array, then one conversion per array. No Python work per sample.
- general: ``collate_fn([dataset[i] for i in batch])`` with ``default_collate`` by default.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ._collate import default_collate
from ._convert import to_tensor
from ._dataset import row_gatherer
from ._sampler import BatchSampler, RandomSampler, SequentialSampler, check_generator


class DataLoader:
    """Iterate over a dataset in batches (``torch.utils.data.DataLoader``, single process).

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``).
        batch_size (int, default 1): samples per batch, positive.
        shuffle (bool, default False): a new random order each epoch (``RandomSampler``).
        drop_last (bool, default False): drop the last, incomplete batch.
        generator: ``None``, an int seed or a ``numpy.random.Generator`` for the shuffling. ``None``
            draws each epoch's order from the library-wide seed (``rustorch.manual_seed``); an int
            makes a private generator once, so epochs differ but the run repeats; a numpy
            generator is used and advanced in place.
        collate_fn (callable, default ``default_collate``): list of samples -> batch.
        sampler: a ``Sampler`` or any iterable of indices (and ``len`` for ``len(loader)``);
            mutually exclusive with ``shuffle``.

    Each batch mirrors a sample's structure with tensors of batch size first; a ``TensorDataset``
    of ``(x, y)`` gives ``[x_batch, y_batch]`` (a list, as PyTorch's ``default_collate`` makes of
    tuples). ``len(loader)`` is ``ceil(n / batch_size)``, or the floor with ``drop_last``.

    Raises ``ValueError`` for a non-positive ``batch_size`` or ``shuffle`` together with a
    ``sampler``, ``TypeError`` for non-bool ``shuffle``/``drop_last``, a non-callable
    ``collate_fn`` or a bad ``generator``.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 generator=None, collate_fn: Callable | None = None, sampler=None) -> None:
        for name, value in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(value, bool):
                raise TypeError(f"DataLoader: {name} should be a boolean value, but got {name}={value!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        if sampler is not None and shuffle:
            raise ValueError(
                "DataLoader: sampler option is mutually exclusive with shuffle; shuffle inside the "
                "sampler instead"
            )
        generator = check_generator("DataLoader", generator)
        if sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        self.dataset = dataset
        self.batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = self.batch_sampler.batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.generator = generator
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self._default_collate = collate_fn is None

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator:
        gather = row_gatherer(self.dataset) if self._default_collate else None
        if gather is not None:
            return self._iter_rows(gather)
        return self._iter_samples()

    def _iter_rows(self, gather: Callable[[np.ndarray], list[np.ndarray]]) -> Iterator:
        for batch in self.batch_sampler.index_batches():
            yield [to_tensor(rows) for rows in gather(np.asarray(batch, dtype=np.intp))]

    def _iter_samples(self) -> Iterator:
        dataset, collate = self.dataset, self.collate_fn
        for batch in self.batch_sampler.index_batches():
            keys = batch.tolist() if isinstance(batch, np.ndarray) else batch
            yield collate([dataset[key] for key in keys])
