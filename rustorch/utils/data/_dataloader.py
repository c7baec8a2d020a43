"""``DataLoader``: batches of rustorch tensors from a dataset, in the main process or in workers.

Fetching and collating happen on the host with numpy. Every batch leaves the fetching code as a
nested structure whose tensor leaves are ``HostArray``s (see ``_convert``); the main process turns
them into rustorch tensors, one transfer per leaf per batch.

- ``num_workers=0``: the main process fetches. A dataset whose samples are rows of numpy arrays
  (``TensorDataset``, MNIST without transforms, ``Subset``/``ConcatDataset`` of these) with the
  default collate is gathered with one numpy fancy index per array and batch, no Python work per
  sample; any other dataset is fetched sample by sample and collated.
- ``num_workers>0``: worker processes (``multiprocessing``'s default start method, ``fork`` on
  Linux, as PyTorch; ``spawn``/``forkserver`` on request) or worker threads
  (``multiprocessing_context='thread'``). The main process hands out index batches round-robin,
  keeps ``prefetch_factor * num_workers`` in flight and yields them in sampler order (or as they
  arrive with ``in_order=False``). Worker processes never run JAX (see ``_worker``).
"""
from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import threading
import time
import warnings
from typing import Callable, Iterator

import numpy as np

from ._collate import default_collate, default_convert
from ._convert import loader_fetch, tensors_from_host
from ._dataset import IterableDataset
from ._sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    check_generator,
    epoch_rng,
)
from ._worker import (
    STATUS_CHECK_INTERVAL,
    ExceptionWrapper,
    Fetcher,
    IterableEnd,
    Resume,
    WorkerChannel,
    worker_loop,
)

THREAD_CONTEXT = "thread"


class DataLoader:
    """Iterate over a dataset in batches (``torch.utils.data.DataLoader``).

    Args:
        dataset: a map-style dataset (``__getitem__``, ``__len__``, optionally ``__getitems__``)
            or an ``IterableDataset``.
        batch_size (int or None, default 1): samples per batch; ``None`` disables batching (each
            sample goes through ``default_convert`` or ``collate_fn`` on its own).
        shuffle (bool, default False): a new random order each epoch (``RandomSampler``).
        sampler: a ``Sampler`` or any iterable of indices; excludes ``shuffle``.
        batch_sampler: yields lists of indices; excludes ``batch_size``, ``shuffle``,
            ``sampler`` and ``drop_last``.
        num_workers (int, default 0): worker processes (or threads) fetching in parallel; 0
            fetches in the main process.
        collate_fn (callable): list of samples -> batch; default ``default_collate``.
        pin_memory (bool): accepted for compatibility; JAX manages host-to-device transfers
            itself, so it changes nothing.
        drop_last (bool, default False): drop the last, incomplete batch.
        timeout (float, default 0): seconds to wait for a worker's batch before raising
            ``RuntimeError``; 0 waits forever (worker deaths are still detected).
        worker_init_fn (callable): called as ``worker_init_fn(worker_id)`` in each worker after
            seeding, before any fetch.
        multiprocessing_context: ``None`` (``multiprocessing``'s default start method: ``'fork'``
            on Linux, ``'spawn'`` on macOS and Windows), a start method name (``'fork'``, ``'spawn'``, ``'forkserver'``), a ``multiprocessing``
            context, or ``'thread'`` for worker threads. With ``spawn``/``forkserver`` the
            dataset, ``collate_fn`` and ``worker_init_fn`` must pickle.
        generator: ``None``, an int seed, a ``numpy.random.Generator`` or a
            ``rustorch.Generator``, for shuffling and for the workers' ``base_seed``. ``None``
            draws from the library-wide stream (``rustorch.manual_seed``).
        prefetch_factor (int): batches in flight per worker (default 2 with workers; must be
            ``None`` without).
        persistent_workers (bool): keep the workers alive between epochs.
        pin_memory_device (str): accepted for compatibility, unused.
        in_order (bool, default True): yield batches in sampler order; ``False`` yields each
            batch as soon as a worker delivers it.

    Each batch mirrors a sample's structure with tensors of batch size first; a ``TensorDataset``
    of ``(x, y)`` gives ``[x_batch, y_batch]`` (a list, as PyTorch's ``default_collate`` makes of
    tuples). ``len(loader)`` is ``len(batch_sampler)``; for an ``IterableDataset`` with ``len``,
    ``ceil(len / batch_size)`` (floor with ``drop_last``).

    Workers, as PyTorch's: each gets ``seed = base_seed + worker_id`` (``get_worker_info()``),
    seeds Python's ``random`` and numpy's global generator with it (processes), and rustorch's
    random transforms draw from a generator seeded with it. An exception in a worker is raised
    again in the main process, same type, with the worker's traceback in the message. Workers
    stop when the epoch ends (unless persistent), when the iterator is deleted, and when the main
    process exits; a worker that dies raises ``RuntimeError`` in the main process.

    In a worker *process*, tensors made by rustorch's host-side code are numpy arrays
    (``HostArray``) until they reach the main process, and JAX may not run (it would hang after
    ``fork``; calling it raises a ``RuntimeError`` that says so). Datasets and transforms that
    need tensor operations of their own run in worker threads (``multiprocessing_context=
    'thread'``) or with ``num_workers=0``, where they receive real tensors.

    Raises ``ValueError`` and ``TypeError`` for inconsistent arguments, with PyTorch's messages.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        if shuffle is None:
            shuffle = False
        for name, value in (("shuffle", shuffle), ("drop_last", drop_last),
                            ("persistent_workers", persistent_workers), ("in_order", in_order),
                            ("pin_memory", pin_memory)):
            if not isinstance(value, bool):
                raise TypeError(f"DataLoader: {name} should be a boolean value, but got {name}={value!r}")
        if not isinstance(num_workers, (int, np.integer)) or isinstance(num_workers, bool) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             f"disable multiprocessing, got num_workers={num_workers!r}")
        if timeout < 0:
            raise ValueError(f"timeout option should be non-negative, got timeout={timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (not isinstance(prefetch_factor, (int, np.integer))
                                            or prefetch_factor < 0):
            raise ValueError(f"prefetch_factor option should be non-negative, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        for name, value in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn)):
            if value is not None and not callable(value):
                raise TypeError(f"DataLoader: {name} must be callable, got {type(value).__name__}")

        if isinstance(dataset, IterableDataset):
            if shuffle:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        generator = check_generator("DataLoader", generator)
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not isinstance(dataset, IterableDataset):
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        if batch_size is not None and isinstance(dataset, IterableDataset):
            BatchSampler(range(0), batch_size, drop_last)  # validates batch_size

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._auto_collation = batch_sampler is not None or (
            isinstance(dataset, IterableDataset) and batch_size is not None)
        self._default_collate = collate_fn is None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.multiprocessing_context = multiprocessing_context
        self._iterator = None

    @property
    def multiprocessing_context(self):
        return self._multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, context) -> None:
        if context is not None:
            if self.num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process "
                                 f"loading (num_workers > 0), but got num_workers={self.num_workers}")
            if isinstance(context, str):
                valid = multiprocessing.get_all_start_methods() + [THREAD_CONTEXT]
                if context not in valid:
                    raise ValueError("multiprocessing_context option should specify a valid start "
                                     f"method in {valid!r}, but got multiprocessing_context={context!r}")
                if context != THREAD_CONTEXT:
                    context = multiprocessing.get_context(context)
            elif not hasattr(context, "get_start_method"):
                raise TypeError("multiprocessing_context option should be a valid context object "
                                "or a string specifying the start method, but got "
                                f"multiprocessing_context={context!r}")
        self._multiprocessing_context = context

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self) -> Iterator:
        if self.num_workers == 0:
            return _single_process_batches(self)
        if self.persistent_workers:
            if self._iterator is None or self._iterator.closed:
                self._iterator = _WorkerIterator(self)
            else:
                self._iterator.reset()
            return self._iterator
        return _WorkerIterator(self)

    # --- pieces shared by both iterators --------------------------------------------------

    def _requests(self) -> Iterator:
        """What each fetch receives: index batches, single indices, or the batch size (None
        without batching) for an iterable dataset."""
        if isinstance(self.dataset, IterableDataset):
            return itertools.repeat(self.batch_size)
        if self.batch_sampler is not None:
            if isinstance(self.batch_sampler, BatchSampler):
                return iter(self.batch_sampler.index_batches())
            return iter(self.batch_sampler)
        return iter(self.sampler)

    def _fetcher(self) -> Fetcher:
        return Fetcher(self.dataset, self._auto_collation, self.collate_fn, self.drop_last,
                       use_rows=self._default_collate, host_collate=self._default_collate)

    def _base_seed(self) -> int:
        return int(epoch_rng(self.generator).integers(0, 2**63 - 1))


def _single_process_batches(loader: DataLoader) -> Iterator:
    fetcher = loader._fetcher()
    for request in loader._requests():
        with loader_fetch():
            try:
                batch = fetcher(request)
            except StopIteration:
                return
        yield tensors_from_host(batch)


# --- worker channels -----------------------------------------------------------------------

class _ProcessChannel(WorkerChannel):
    """Requests through a ``multiprocessing.Queue``; results pickled by the worker itself (so a
    batch that does not pickle becomes an error in the main process, not a lost message) and sent
    over the worker's own pipe."""

    def __init__(self, requests, results, parent_pid: int) -> None:
        self.requests = requests
        self.results = results
        self.parent_pid = parent_pid

    def get(self, timeout: float):
        return self.requests.get(timeout=timeout)

    def put(self, message) -> None:
        try:
            payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            worker_id, index, _ = message
            error = ExceptionWrapper(where=f"in DataLoader worker process {worker_id} while "
                                           "sending the batch to the main process")
            payload = pickle.dumps((worker_id, index, error), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.results.send_bytes(payload)
        except (BrokenPipeError, OSError):
            pass  # the main process is gone or closed the loader

    def parent_alive(self) -> bool:
        return os.getppid() == self.parent_pid


class _ThreadChannel(WorkerChannel):
    def __init__(self, requests: queue.Queue, results: queue.Queue) -> None:
        self.requests = requests
        self.results = results

    def get(self, timeout: float):
        return self.requests.get(timeout=timeout)

    def put(self, message) -> None:
        self.results.put(message)


class _WorkerIterator:
    """The main-process side of ``num_workers > 0`` (PyTorch's ``_MultiProcessingDataLoaderIter``)."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self.closed = False
        self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor * loader.num_workers
        self._in_order = loader.in_order
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._epoch = 0
        base_seed = loader._base_seed()
        context = loader.multiprocessing_context
        if context is None:
            context = multiprocessing.get_context()  # the platform's (or the program's) default
        self._threads = context == THREAD_CONTEXT
        self._requests_queues = []
        self._workers = []
        self._readers = []
        args = (loader.dataset, loader._auto_collation, loader.collate_fn, loader.drop_last,
                loader._default_collate, loader._default_collate, base_seed,
                loader.worker_init_fn)
        if self._threads:
            self._done = threading.Event()
            self._results = queue.Queue()
            for worker_id in range(self._num_workers):
                requests = queue.Queue()
                channel = _ThreadChannel(requests, self._results)
                worker = threading.Thread(
                    target=worker_loop, name=f"DataLoader worker {worker_id}", daemon=True,
                    args=(channel, *args, worker_id, self._num_workers, False, False, self._done))
                worker.start()
                self._requests_queues.append(requests)
                self._workers.append(worker)
        else:
            fork = context.get_start_method() == "fork"
            self._done = context.Event()
            for worker_id in range(self._num_workers):
                requests = context.Queue()
                requests.cancel_join_thread()
                reader, writer = context.Pipe(duplex=False)
                channel = _ProcessChannel(requests, writer, os.getpid())
                worker = context.Process(
                    target=worker_loop, name=f"DataLoader worker {worker_id}", daemon=True,
                    args=(channel, *args, worker_id, self._num_workers, True, fork, self._done))
                with warnings.catch_warnings():
                    # JAX warns at every fork that JAX in the child may deadlock; the worker
                    # disables JAX (``forbid_jax``), so the warning does not apply.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    worker.start()
                writer.close()
                self._requests_queues.append(requests)
                self._workers.append(worker)
                self._readers.append(reader)
        self._alive = list(range(self._num_workers))
        self._start_epoch()

    # --- epochs ---------------------------------------------------------------------------

    def _start_epoch(self) -> None:
        self._requests = self.loader._requests()
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_worker: dict[int, int] = {}
        self._arrived: dict[int, object] = {}
        self._outstanding = 0
        self._active = [True] * self._num_workers
        self._cycle = itertools.cycle(range(self._num_workers))
        for _ in range(self._prefetch):
            self._put_request()

    def reset(self) -> None:
        """Start a new epoch with the same (persistent) workers."""
        self._epoch += 1
        resume = Resume(self._epoch)
        for requests in self._requests_queues:
            requests.put(resume)
        pending = self._num_workers
        while pending:
            _, index, data = self._receive()
            if index is None and data == resume:
                pending -= 1
        self._start_epoch()

    def _put_request(self) -> None:
        if self._outstanding >= self._prefetch:
            return
        for _ in range(self._num_workers):
            worker_id = next(self._cycle)
            if self._active[worker_id]:
                break
        else:
            return
        try:
            request = next(self._requests)
        except StopIteration:
            return
        self._requests_queues[worker_id].put((self._send_idx, request))
        self._task_worker[self._send_idx] = worker_id
        self._outstanding += 1
        self._send_idx += 1

    # --- iteration ------------------------------------------------------------------------

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self.loader)

    def __next__(self):
        if self.closed:
            raise StopIteration
        while True:
            while self._rcvd_idx < self._send_idx:
                if self._rcvd_idx in self._arrived:
                    break
                worker_id = self._task_worker.get(self._rcvd_idx)
                if worker_id is not None and self._active[worker_id]:
                    break
                self._task_worker.pop(self._rcvd_idx, None)  # returned early, or never coming
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self.close()
                raise StopIteration
            if self._rcvd_idx in self._arrived:
                data = self._arrived.pop(self._rcvd_idx)
                self._task_worker.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
                return self._process(data)
            worker_id, index, data = self._receive()
            if index is None or index not in self._task_worker or index in self._arrived:
                continue  # a late answer to a Resume, or to a task dropped below
            self._outstanding -= 1
            if isinstance(data, IterableEnd):
                self._task_worker.pop(index)
                if self._active[worker_id]:
                    self._active[worker_id] = False
                    # The worker's other pending tasks can only end the same way: drop them.
                    for task, owner in list(self._task_worker.items()):
                        if owner == worker_id and task not in self._arrived:
                            del self._task_worker[task]
                            self._outstanding -= 1
                    if not self._persistent:
                        self._requests_queues[worker_id].put(None)
                        self._alive.remove(worker_id)
                self._put_request()
                continue
            if index == self._rcvd_idx:
                self._task_worker.pop(index)
                self._rcvd_idx += 1
                return self._process(data)
            if not self._in_order:
                self._task_worker.pop(index)
                return self._process(data)
            self._arrived[index] = data

    def _process(self, data):
        self._put_request()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return tensors_from_host(data)

    def _receive(self):
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = STATUS_CHECK_INTERVAL
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0.0))
            message = self._try_receive(wait)
            if message is not None:
                return message
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _try_receive(self, wait: float):
        if self._threads:
            try:
                return self._results.get(timeout=wait)
            except queue.Empty:
                return None
        readers = [self._readers[i] for i in self._alive]
        sentinels = [self._workers[i].sentinel for i in self._alive]
        ready = multiprocessing.connection.wait(readers + sentinels, timeout=wait)
        for reader in readers:
            if reader in ready:
                try:
                    return pickle.loads(reader.recv_bytes())
                except EOFError:
                    break
        if ready:
            dead = [self._workers[i] for i in self._alive if not self._workers[i].is_alive()]
            if dead:
                described = ", ".join(f"pid {w.pid} exit code {w.exitcode}" for w in dead)
                self.close()
                raise RuntimeError(
                    f"DataLoader worker ({described}) exited unexpectedly. A signal (such as "
                    "SIGKILL from the out-of-memory killer) or os._exit in dataset code ends a "
                    "worker this way; num_workers=0 runs the same code in the main process, where "
                    "the error shows.")
        return None

    # --- shutdown -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers and release their queues and pipes (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._done.set()
        for requests in self._requests_queues:
            try:
                requests.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 5 * STATUS_CHECK_INTERVAL
        for worker_id, worker in enumerate(self._workers):
            while worker.is_alive() and time.monotonic() < deadline:
                if not self._threads:
                    self._drain(worker_id)
                worker.join(timeout=0.05)
            if not self._threads and worker.is_alive():
                worker.terminate()
                worker.join(timeout=STATUS_CHECK_INTERVAL)
        if not self._threads:
            for requests in self._requests_queues:
                requests.close()
            for reader in self._readers:
                reader.close()
            for worker in self._workers:
                if not worker.is_alive():
                    worker.close()

    def _drain(self, worker_id: int) -> None:
        """Read and drop what a stopping worker still sends, so it is not blocked writing."""
        reader = self._readers[worker_id]
        try:
            while reader.poll():
                reader.recv_bytes()
        except (EOFError, OSError):
            pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
