"""``torch.serialization``'s allowlist of safe globals: ``add_safe_globals`` and ``safe_globals``.

PyTorch's ``weights_only`` unpickler constructs the classes and calls the functions a user lists
here. rustorch's loader never constructs or calls anything a file names, listed or not: it
rebuilds tensors and plain containers only (see :mod:`._pickling`), so a pickled object such as a
whole saved module is refused either way. The list is kept so that programs written for PyTorch,
which wrap ``torch.load`` in these calls, run unchanged.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterable, Iterator

_lock = threading.Lock()
_safe_globals: list = []


def _qualified_name(entry: Any) -> str:
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], str):
        return entry[1]  # (object, "module.name") as torch accepts
    return f"{getattr(entry, '__module__', '?')}.{getattr(entry, '__qualname__', repr(entry))}"


def _checked(entries: Iterable) -> list:
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Iterable):
        raise TypeError(f"safe globals must be a list of classes or functions, got {type(entries).__name__}")
    entries = list(entries)
    for entry in entries:
        if isinstance(entry, str) or not (callable(entry) or isinstance(entry, tuple)):
            raise TypeError(
                f"safe globals must be classes, functions or (object, 'module.name') pairs, got {entry!r}")
    return entries


def add_safe_globals(safe_globals: list) -> None:
    """Add to the allowlist of globals, as ``torch.serialization.add_safe_globals``.

    Accepted for PyTorch programs; rustorch's :func:`load` still builds only tensors and plain
    containers, never the listed objects (see the module docstring).
    """
    entries = _checked(safe_globals)
    with _lock:
        _safe_globals.extend(e for e in entries if e not in _safe_globals)


def get_safe_globals() -> list:
    """The globals added by :func:`add_safe_globals` and active :func:`safe_globals` blocks."""
    with _lock:
        return list(_safe_globals)


def clear_safe_globals() -> None:
    """Empty the allowlist (``torch.serialization.clear_safe_globals``)."""
    with _lock:
        _safe_globals.clear()


@contextlib.contextmanager
def safe_globals(safe_globals: list) -> Iterator[None]:
    """Allow ``safe_globals`` within a ``with`` block (``torch.serialization.safe_globals``).

    The list is restored on exit, exceptions included.
    """
    entries = _checked(safe_globals)
    with _lock:
        saved = list(_safe_globals)
        _safe_globals.extend(e for e in entries if e not in _safe_globals)
    try:
        yield
    finally:
        with _lock:
            _safe_globals[:] = saved

