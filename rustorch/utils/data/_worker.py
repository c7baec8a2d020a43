"""What runs inside a ``DataLoader`` worker: seeding, ``get_worker_info``, fetching, errors.

A worker is a process (``fork``, ``spawn`` or ``forkserver``) or a thread. Either way it fetches
samples and collates them in host mode (``_convert.host_arrays``): tensors made there are
``HostArray`` numpy arrays, and the main process turns them into rustorch tensors. A forked worker
process must never run JAX: it inherits the parent's XLA runtime without its threads, and any
JAX call would hang forever. ``forbid_jax`` turns such a call into a clear error instead.
"""
from __future__ import annotations

import pickle
import queue
import random
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _convert
from ._convert import HostArray, host_arrays, set_host_mode
from ._dataset import IterableDataset, row_gatherer

# How often (seconds) an idle worker checks that its parent still lives, and the main process
# checks that its workers do.
STATUS_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """Facts about the current ``DataLoader`` worker (``torch.utils.data.get_worker_info()``).

    Attributes:
        id (int): this worker's index in ``range(num_workers)``.
        num_workers (int): the loader's ``num_workers``.
        seed (int): ``base_seed + id``; the loader draws ``base_seed`` once per iterator from its
            ``generator`` (or the library-wide stream). Python's ``random``, numpy's legacy global
            generator and ``rustorch.initial_seed()`` (process workers) and ``worker_rng()``
            (every worker) are seeded from it.
        dataset: this worker's copy of the dataset (the same object in a thread worker).
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any


_local = threading.local()
_process_info: WorkerInfo | None = None  # set in a worker process, seen by all its threads


def get_worker_info() -> WorkerInfo | None:
    """The ``WorkerInfo`` of the worker this code runs in, or ``None`` in the main process
    (``torch.utils.data.get_worker_info``). An ``IterableDataset`` uses it to shard its stream."""
    return getattr(_local, "info", None) or _process_info


def generate_numpy_state(base_seed: int, worker_id: int) -> list[int]:
    """The four 32-bit words that seed numpy's global generator in a worker process; the same
    hash of ``(base_seed, worker_id)`` as PyTorch's ``_utils.worker._generate_state``."""
    init_a, mult_a, init_b, mult_b = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    mix_l, mix_r, shift, mask = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF
    entropy = [worker_id, base_seed & mask, base_seed >> 32, 0]
    const_a = init_a

    def hash_(value: int) -> int:
        nonlocal const_a
        value = (value ^ const_a) & mask
        const_a = (const_a * mult_a) & mask
        value = (value * const_a) & mask
        return (value ^ (value >> shift)) & mask

    def mix(x: int, y: int) -> int:
        result = (((mix_l * x) & mask) - ((mix_r * y) & mask)) & mask
        return (result ^ (result >> shift)) & mask

    pool = [hash_(e) for e in entropy]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hash_(pool[src]))
    const_b = init_b
    state = []
    for value in pool:
        value = (value ^ const_b) & mask
        const_b = (const_b * mult_b) & mask
        value = (value * const_b) & mask
        state.append((value ^ (value >> shift)) & mask)
    return state


def worker_rng() -> np.random.Generator:
    """The numpy generator that host-side random transforms draw from.

    In a worker it is seeded with the worker's ``seed`` when the worker starts; in the main
    process it is drawn from the library-wide stream and drawn again after each
    ``rustorch.manual_seed``, so seeding makes random transforms repeat.
    """
    rng = getattr(_local, "rng", None)
    if rng is not None:
        return rng
    global _main_rng, _main_rng_key
    from rustorch.stateful import _random

    key = _random.default_generator.key
    if _main_rng is None or _main_rng_key is not key:
        _main_rng = np.random.default_rng(_random.next_numpy_seed())
        _main_rng_key = key
    return _main_rng


_main_rng: np.random.Generator | None = None
_main_rng_key = None


class ExceptionWrapper:
    """An exception caught in a worker, with its traceback as text, re-raised in the main
    process by ``reraise`` (PyTorch's ``torch._utils.ExceptionWrapper``)."""

    def __init__(self, exc_info=None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        exc_type = exc_info[0]
        try:
            pickle.dumps(exc_type)
        except Exception:
            exc_type = RuntimeError  # a class defined where the main process cannot find it
        self.exc_type = exc_type
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            raise KeyError(_KeyErrorMessage(msg))
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


class _KeyErrorMessage(str):
    """A KeyError message shown as written (``KeyError`` otherwise prints its repr)."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class IterableEnd:
    """Sent by a worker whose ``IterableDataset`` iterator is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class Resume:
    """Sent to a persistent worker at a new epoch; the worker answers with the same object."""

    epoch: int


class Fetcher:
    """Turn one request (a list of indices, one index, or ``None`` for an iterable dataset) into
    a collated batch, in host mode. Shared by the main process and the workers."""

    def __init__(self, dataset, auto_collation: bool, collate_fn: Callable, drop_last: bool,
                 use_rows: bool, host_collate: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = _HostCollate(collate_fn) if host_collate else collate_fn
        self.drop_last = drop_last
        self.iterable = isinstance(dataset, IterableDataset)
        self.gather = row_gatherer(dataset) if use_rows and not self.iterable else None
        self.iterator = iter(dataset) if self.iterable else None
        self.ended = False

    def __call__(self, request):
        if self.iterable:
            return self._fetch_iterable(request)
        if self.gather is not None:
            rows = self.gather(np.asarray(request, dtype=np.intp))
            return [np.ascontiguousarray(r).view(HostArray) for r in rows]
        if self.auto_collation:
            keys = request.tolist() if isinstance(request, np.ndarray) else request
            getitems = getattr(self.dataset, "__getitems__", None)
            samples = getitems(keys) if getitems is not None else [self.dataset[k] for k in keys]
            return self.collate_fn(samples)
        return self.collate_fn(self.dataset[request])

    def _fetch_iterable(self, size):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.iterator))
        samples = []
        for sample in self.iterator:
            samples.append(sample)
            if len(samples) == size:
                break
        else:
            self.ended = True
        if not samples or (self.drop_last and len(samples) < size):
            raise StopIteration
        return self.collate_fn(samples)


class _HostCollate:
    """A collate function (rustorch's own) run in host mode."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, samples):
        with host_arrays():
            return self.fn(samples)


def forbid_jax(worker_id: int) -> None:
    """Make JAX calls in a forked worker raise instead of hang.

    The child holds a copy of the parent's XLA client whose threads did not survive the fork;
    every route to a device goes through ``xla_bridge``'s backend look-ups, replaced here by a
    function that raises. Nothing happens when JAX was never imported.
    """
    bridge = sys.modules.get("jax._src.xla_bridge")
    if bridge is None:
        return
    message = (
        f"DataLoader worker process {worker_id}: JAX cannot run in a forked worker process (it "
        "would hang: the XLA runtime's threads do not survive fork). Code run by the workers "
        "(dataset.__getitem__, transforms, collate_fn, worker_init_fn) must produce host data: "
        "numpy arrays, Python numbers, PIL images, or rustorch's own datasets/transforms/"
        "default_collate (they make host arrays in workers). Otherwise pass "
        "multiprocessing_context='thread' (worker threads) or 'spawn', or num_workers=0."
    )

    def refuse(*args, **kwargs):
        raise RuntimeError(message)

    cache_clear = getattr(getattr(bridge, "get_backend", None), "cache_clear", None)
    if cache_clear is not None:
        cache_clear()
    for name in ("backends", "get_backend", "_get_backend_uncached", "local_devices", "devices",
                 "default_backend", "get_device_backend"):
        if hasattr(bridge, name):
            setattr(bridge, name, refuse)


def _seed_worker(info: WorkerInfo, base_seed: int, process: bool) -> None:
    global _process_info
    _local.info = info
    _local.rng = np.random.default_rng(info.seed)
    _convert._local.fetching = True
    if process:
        set_host_mode(True)
        _process_info = info
        random.seed(info.seed)
        np.random.seed(generate_numpy_state(base_seed, info.id))
        _seed_library_stream(info.seed)


def _seed_library_stream(seed: int) -> None:
    """Make ``rustorch.initial_seed()`` return the worker's seed, as ``torch.initial_seed()``
    does in a PyTorch worker, and restart the host-side draws (``next_numpy_seed``) from it.

    ``Generator.manual_seed`` would build a JAX key, which a worker process may not; the key
    stays the parent's, unusable here anyway.
    """
    random_module = sys.modules.get("rustorch.stateful._random")
    if random_module is None:
        return
    generator = random_module.default_generator
    generator._seed = int(seed)
    generator._counter = 0


class WorkerChannel:
    """How a worker receives requests and sends results; see ``_dataloader`` for both kinds."""

    def get(self, timeout: float):
        raise NotImplementedError

    def put(self, message) -> None:
        raise NotImplementedError

    def parent_alive(self) -> bool:
        return True


def worker_loop(channel: WorkerChannel, dataset, auto_collation: bool, collate_fn: Callable,
                drop_last: bool, use_rows: bool, host_collate: bool, base_seed: int, init_fn: Callable | None,
                worker_id: int, num_workers: int, process: bool, fork: bool, done) -> None:
    """The body of a worker: seed, run ``init_fn``, then answer requests until told to stop.

    Requests are ``(task_index, request)``, a ``Resume`` (new epoch of a persistent worker) or
    ``None`` (stop). Answers are ``(worker_id, task_index, batch or ExceptionWrapper or
    IterableEnd)`` and ``(worker_id, None, Resume)``.
    """
    if fork:
        forbid_jax(worker_id)
    where = f"in DataLoader worker {'process' if process else 'thread'} {worker_id}"
    info = WorkerInfo(worker_id, num_workers, base_seed + worker_id, dataset)
    try:
        _seed_worker(info, base_seed, process)
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = Fetcher(dataset, auto_collation, collate_fn, drop_last, use_rows, host_collate)
        init_error = None
    except Exception:
        init_error = ExceptionWrapper(where=where)
        fetcher = None
    while True:
        try:
            request = channel.get(STATUS_CHECK_INTERVAL)
        except queue.Empty:
            if done.is_set() or not channel.parent_alive():
                return
            continue
        if request is None:
            return
        if isinstance(request, Resume):
            if init_error is None:
                fetcher = Fetcher(dataset, auto_collation, collate_fn, drop_last, use_rows, host_collate)
            channel.put((worker_id, None, request))
            continue
        if done.is_set():
            continue
        index, payload = request
        if init_error is not None:
            channel.put((worker_id, index, init_error))
            continue
        try:
            data = fetcher(payload)
        except StopIteration:
            data = IterableEnd(worker_id)
        except Exception:
            data = ExceptionWrapper(where=where)
        channel.put((worker_id, index, data))
        del data
