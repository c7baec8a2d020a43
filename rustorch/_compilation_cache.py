"""JAX's persistent compilation cache, on by default for rustorch programs.

Compiling a training step takes seconds on a CPU; with the cache on disk, a second process that
compiles the same program reads it back instead. Measured on the MNIST CNN: 4-7 s first-step
compile, 0.9 s from the cache (PERF_NOTES.md).
"""
from __future__ import annotations

import os

import jax

from . import _config


def default_cache_dir() -> str:
    """``$RUSTORCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/rustorch/jax`` (``~/.cache/rustorch/jax``)."""
    return _config.compilation_cache_dir()


def enable_compilation_cache(path: str | None = None,
                             min_compile_time_secs: float = _config.COMPILATION_CACHE_MIN_SECONDS) -> str:
    """Store compiled XLA programs in ``path`` (default :func:`default_cache_dir`) and reuse
    them across processes. Programs that compiled faster than ``min_compile_time_secs`` are not
    stored. Returns the folder used. This sets JAX's global ``jax_compilation_cache_dir``.
    """
    path = path or default_cache_dir()
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    return path


def _enable_by_default() -> None:
    """At import: enable the cache unless ``RUSTORCH_COMPILATION_CACHE=0`` or the user already
    chose a cache folder for JAX; an unwritable home folder silently leaves it off."""
    if not _config.use_compilation_cache():
        return
    try:
        enable_compilation_cache()
    except OSError:
        pass
