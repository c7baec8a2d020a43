"""``DistributedSampler``: each process's share of a dataset, in PyTorch's exact order.

The order is PyTorch's index for index, shuffled or not: ``torch.randperm(n, generator=
torch.Generator().manual_seed(seed + epoch))`` is a Fisher-Yates shuffle driven by a 32-bit
Mersenne Twister seeded with ``seed & 0xFFFFFFFF``; :func:`torch_randperm` reproduces it with
numpy's MT19937 (the same generator, seeded by the same classic ``init_genrand``), so a
rustorch run and a PyTorch run of the same script give every rank the same samples.
"""
from __future__ import annotations

import math
from typing import Iterator, Optional

import numpy as np

from ._sampler import Sampler

_SMALL_N = (2**32 - 1) // 20  # torch's randperm_cpu switches to 64-bit draws at this size


def _mt19937_raw(seed: int, count: int) -> np.ndarray:
    """The first ``count`` 32-bit outputs of ``std::mt19937(seed & 0xFFFFFFFF)`` (torch's CPU
    generator after ``manual_seed(seed)``)."""
    legacy = np.random.RandomState(seed & 0xFFFFFFFF).get_state(legacy=False)["state"]
    bit_generator = np.random.MT19937()
    bit_generator.state = {"bit_generator": "MT19937", "state": {"key": legacy["key"], "pos": legacy["pos"]}}
    return bit_generator.random_raw(count)


def torch_randperm(n: int, seed: int) -> np.ndarray:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` as an int64 array.

    PyTorch's CPU kernel (``randperm_cpu``): start from ``arange(n)``; for ``i`` in
    ``0..n-2`` swap entries ``i`` and ``i + random() % (n - i)``.

    Raises:
        ValueError: ``n`` of 2**32/20 or more (PyTorch draws 64-bit numbers there; not reproduced).
    """
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    if n >= _SMALL_N:
        raise ValueError(f"torch_randperm: n={n} is beyond the range reproduced here (< {_SMALL_N})")
    perm = np.arange(n, dtype=np.int64)
    if n < 2:
        return perm
    offsets = (_mt19937_raw(seed, n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64)
    targets = (offsets + np.arange(n - 1, dtype=np.int64)).tolist()
    values = perm.tolist()
    for i, j in enumerate(targets):
        values[i], values[j] = values[j], values[i]
    return np.asarray(values, dtype=np.int64)


class DistributedSampler(Sampler):
    """The indices of one rank's share of ``dataset`` (``torch.utils.data.distributed.DistributedSampler``).

    Each epoch: the indices ``0..n-1``, shuffled with seed ``seed + epoch`` when ``shuffle``
    (PyTorch's permutation exactly); then, without ``drop_last``, padded by repeating the
    first indices up to ``num_samples * num_replicas`` (``num_samples = ceil(n / replicas)``),
    or, with ``drop_last``, cut to ``num_samples = ceil((n - replicas) / replicas)`` per rank
    when ``n`` is not divisible; rank ``r`` takes every ``num_replicas``-th index from ``r``.
    Call :meth:`set_epoch` before each epoch so that shuffling differs between epochs.

    Args:
        dataset: anything with ``len``.
        num_replicas: number of processes (default: the default group's world size).
        rank: this process's rank (default: the default group's rank).
        shuffle: default True. seed: default 0 (must be the same on every rank).
        drop_last: default False.

    Raises:
        ValueError: ``rank`` outside ``[0, num_replicas)``.
        RuntimeError: ``num_replicas``/``rank`` omitted without an initialised process group.
    """

    def __init__(self, dataset, num_replicas: Optional[int] = None, rank: Optional[int] = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from ... import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError(
                    "DistributedSampler: pass num_replicas= and rank=, or call "
                    "rustorch.distributed.init_process_group first"
                )
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = bool(shuffle)
        self.seed = int(seed)

    def epoch_indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as one numpy array."""
        n = len(self.dataset)
        indices = torch_randperm(n, self.seed + self.epoch) if self.shuffle else np.arange(n, dtype=np.int64)
        if not self.drop_last:
            padding = self.total_size - n
            if padding > 0:
                repeats = math.ceil(padding / n)
                indices = np.concatenate([indices, np.tile(indices, repeats)[:padding]])
        else:
            indices = indices[: self.total_size]
        return indices[self.rank: self.total_size: self.num_replicas].astype(np.intp)

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, which (with ``seed``) determines the shuffle."""
        self.epoch = epoch
