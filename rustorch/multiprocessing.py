"""``rustorch.multiprocessing``: Python's :mod:`multiprocessing`, plus PyTorch's :func:`spawn`.

``torch.multiprocessing`` wraps the standard library so that tensors can be shared between
processes. rustorch's values are immutable JAX arrays: there is nothing to share in place, and
processes exchange data as numpy arrays (through queues or pipes) like any Python objects. For
data-parallel training use :mod:`rustorch.distributed` and its launcher.
"""
from __future__ import annotations

import multiprocessing as _mp
import multiprocessing.connection as _mp_connection
from multiprocessing import *  # noqa: F401,F403  (the standard library's API, as torch re-exports it)
from typing import Any, Callable


class ProcessRaisedException(Exception):
    """A process started by :func:`spawn` exited with an error (``torch.multiprocessing``'s name)."""


def _run(fn: Callable, index: int, args: tuple) -> None:
    fn(index, *args)


def spawn(fn: Callable, args: tuple = (), nprocs: int = 1, join: bool = True, daemon: bool = False,
          start_method: str = "spawn") -> Any:
    """Start ``nprocs`` processes running ``fn(i, *args)``, as ``torch.multiprocessing.spawn``.

    With ``join=True`` waits for all of them and raises :class:`ProcessRaisedException` naming
    the first process that failed (the others are terminated); with ``join=False`` returns the
    list of started processes.
    """
    if not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"spawn: nprocs must be a positive int, got {nprocs!r}")
    context = _mp.get_context(start_method)
    processes = [context.Process(target=_run, args=(fn, i, tuple(args)), daemon=daemon) for i in range(nprocs)]
    for process in processes:
        process.start()
    if not join:
        return processes
    failed = None
    running = list(processes)
    while running and failed is None:
        # wake when any process ends: a failed one must not leave the others waiting forever
        # at a collective for their lost peer (they are terminated, as PyTorch's spawn does)
        _mp_connection.wait([process.sentinel for process in running])
        for process in list(running):
            if process.exitcode is None:
                continue
            running.remove(process)
            if process.exitcode != 0 and failed is None:
                failed = (processes.index(process), process.exitcode)
    for process in running:
        process.terminate()
    for process in processes:
        process.join()
    if failed is not None:
        raise ProcessRaisedException(f"process {failed[0]} of {nprocs} terminated with exit code {failed[1]}")
    return None
