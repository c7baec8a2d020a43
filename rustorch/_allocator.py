"""Keep freed memory for reuse in this process (Linux with glibc), on by default.

XLA's CPU runtime takes every temporary buffer of a compiled step from ``malloc``. glibc serves
requests above its mmap threshold (128 KiB, rising to at most 32 MiB as it adapts) with fresh
pages from the kernel and gives them back on ``free``, and it trims the top of its heap once
more than twice that is free, so a training step pays the kernel's page faults on its large
activations again at every step. On a 2-core CPU that was 15-25% of a batch-64 step of the
MNIST CNN (benchmarks/NOTES.md). Raising both thresholds keeps the memory of one step
for the next, as PyTorch's and JAX's GPU allocators do by caching; peak RSS is unchanged (the
same buffers are live at the peak), the process simply does not return it between steps.

The thresholds alone are not enough: XLA's worker threads allocate from glibc's per-thread
arenas, whose heaps grow and shrink on their own, and a buffer freed by one thread is not reused
by another, so memory still warm in the cache goes unused. One arena for the whole process
(``M_ARENA_MAX = 1``) made a batch-256 step 20-25% faster again. glibc gives a thread its arena
at its first allocation, so this must run before JAX starts its CPU threads: rustorch does it
first thing when it is imported. Import rustorch before running any JAX computation.
"""
from __future__ import annotations

import ctypes
import platform

from . import _config

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def keep_freed_memory(threshold_bytes: int = _config.MALLOC_THRESHOLD_BYTES) -> bool:
    """Have glibc serve allocations up to ``threshold_bytes`` (default 1 GiB) from one heap
    shared by all threads and keep up to that much freed memory instead of returning it to the
    kernel, through ``mallopt(M_MMAP_THRESHOLD)``, ``mallopt(M_TRIM_THRESHOLD)`` and
    ``mallopt(M_ARENA_MAX, 1)``.

    Returns True when the settings were applied, False where there is no glibc (macOS,
    Windows, musl) or glibc refused them. It changes the whole process's allocator, not only
    rustorch's buffers; threads that allocated before the call keep their own arenas.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    threshold = ctypes.c_int(min(int(threshold_bytes), 2**31 - 1))
    settings = ((_M_MMAP_THRESHOLD, threshold), (_M_TRIM_THRESHOLD, threshold), (_M_ARENA_MAX, ctypes.c_int(1)))
    return all([bool(libc.mallopt(parameter, value)) for parameter, value in settings])


def _keep_freed_memory_by_default() -> None:
    """At import, unless ``RUSTORCH_MALLOC_TUNING=0`` or the user already tunes glibc's malloc
    through its own environment variables (which then win): ``rustorch._config.tune_malloc``."""
    if _config.tune_malloc():
        keep_freed_memory()
