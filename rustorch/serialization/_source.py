"""Random access to the bytes of a checkpoint: an open file or bytes already in memory.

Readers ask for exact byte ranges; each range is read once, a large one straight into a
64-byte-aligned buffer (see :func:`._layout.aligned_empty`), never through an intermediate copy.
"""
import os

import numpy as np

from . import _layout


class ShortRead(Exception):
    """The file ended before the requested range; the readers report it with the file name."""


class ByteSource:
    """``size`` bytes readable by offset, from a binary file (``fileobj``) or from ``data``.

    Args:
        name: how error messages name the file, e.g. ``"'model.pth'"``.
    """

    def __init__(self, name: str, size: int, fileobj=None, data=None):
        self.name = name
        self.size = size
        self._file = fileobj
        self._data = memoryview(data).cast("B") if data is not None else None
        self._descriptor = None
        if fileobj is not None and hasattr(os, "preadv"):
            try:
                self._descriptor = fileobj.fileno()
            except (AttributeError, OSError, ValueError):
                self._descriptor = None

    def read(self, offset: int, nbytes: int) -> bytes:
        """Exactly ``nbytes`` bytes from ``offset`` as ``bytes``."""
        self._check(offset, nbytes)
        if self._data is not None:
            return bytes(self._data[offset : offset + nbytes])
        buffer = bytearray(nbytes)
        self._fill(offset, memoryview(buffer))
        return bytes(buffer)

    def read_aligned(self, offset: int, nbytes: int) -> np.ndarray:
        """Exactly ``nbytes`` bytes from ``offset`` as a flat ``uint8`` array on a 64-byte boundary."""
        self._check(offset, nbytes)
        buffer = _layout.aligned_empty(nbytes)
        if self._data is not None:
            buffer[:] = np.frombuffer(self._data[offset : offset + nbytes], dtype=np.uint8)
        else:
            self._fill(offset, memoryview(buffer))
        return buffer

    def _check(self, offset: int, nbytes: int) -> None:
        if offset < 0 or nbytes < 0 or offset + nbytes > self.size:
            raise ShortRead(f"bytes [{offset}, {offset + nbytes}) lie beyond the end of the {self.size}-byte file")

    def _fill(self, offset: int, target: memoryview) -> None:
        done = 0
        total = len(target)
        if self._descriptor is None:
            self._file.seek(offset)
        while done < total:
            if self._descriptor is not None:
                count = os.preadv(self._descriptor, [target[done:]], offset + done)
            else:
                count = self._file.readinto(target[done:])
            if not count:
                raise ShortRead(
                    f"the file ended after {offset + done} bytes while bytes up to {offset + total} were "
                    "expected; it is truncated or was changed while loading"
                )
            done += count
