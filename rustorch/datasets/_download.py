"""Fetch gzip files from a list of mirrors, verifying the sha256 of the decompressed content.

Each attempt streams the response into a temporary file in the target folder while hashing the
decompressed bytes, so a file is never read twice and nothing is held in memory; only a verified
file is moved into place, with ``os.replace`` (atomic within a folder). A mirror that fails or
serves different content is skipped and the reason kept for the final error.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from typing import BinaryIO, Sequence

from .. import _config

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MIRRORS_ENV = _config.MNIST_MIRRORS_ENV
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """No mirror delivered a file with the expected content; the message lists each failure."""


def mnist_mirrors() -> list[str]:
    """The MNIST mirror base URLs: ``$RUSTORCH_MNIST_MIRRORS`` (comma-separated) when set, else
    ``MNIST_MIRRORS``. Each ends with ``/``.

    Raises ``ValueError`` when the variable is set but names no URL.
    """
    value = os.environ.get(MIRRORS_ENV)
    if value is None:
        bases = list(MNIST_MIRRORS)
    else:
        bases = [part.strip() for part in value.split(",") if part.strip()]
        if not bases:
            raise ValueError(
                f"{MIRRORS_ENV} is set to {value!r} but names no URL; give comma-separated base "
                "URLs (e.g. https://host/mnist/) or unset it to use the default mirrors"
            )
    return [base if base.endswith("/") else base + "/" for base in bases]


class _GunzipHasher:
    """sha256 of the decompressed content of a (possibly multi-member) gzip stream, fed in chunks.

    Inflates at most ``_CHUNK`` bytes at a time, so a small chunk of a gzip bomb never becomes
    a huge buffer, and refuses content longer than ``max_size`` (when given) as soon as it
    exceeds it.
    """

    def __init__(self, max_size: int | None = None) -> None:
        self._hash = hashlib.sha256()
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._fed_member = False
        self._members = 0
        self._size = 0
        self._max_size = max_size

    def update(self, data: bytes) -> None:
        while True:
            if data:
                self._fed_member = True
            out = self._inflater.decompress(data, _CHUNK)
            data = self._inflater.unconsumed_tail
            self._size += len(out)
            if self._max_size is not None and self._size > self._max_size:
                raise ValueError(f"the content inflates to more than {self._max_size} bytes, the size "
                                 "of the file expected")
            self._hash.update(out)
            if self._inflater.eof:
                self._members += 1
                data = self._inflater.unused_data
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._fed_member = False
                if not data:
                    return
            elif not data and not out:
                return

    def hexdigest(self) -> str:
        if self._fed_member or self._members == 0:
            raise EOFError("the gzip stream ends early (truncated download)")
        return self._hash.hexdigest()


def _fetch(url: str, out: BinaryIO, timeout: float, max_size: int | None = None) -> str:
    """Stream ``url`` into ``out``; return the sha256 of its gunzipped content."""
    hasher = _GunzipHasher(max_size)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            hasher.update(chunk)
    return hasher.hexdigest()


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect ({err.reason})"
    if isinstance(err, zlib.error):
        return f"not a valid gzip stream ({err})"
    return f"{type(err).__name__}: {err}"


def download_verified(filename: str, sha256: str, folder: str, mirrors: Sequence[str],
                      timeout: float = 30.0, max_size: int | None = None) -> str:
    """Download ``filename`` (a ``.gz``) from the first mirror that serves the right content.

    Args:
        filename: the file name appended to each mirror's base URL and used in ``folder``.
        sha256: hex digest of the DECOMPRESSED content.
        folder: where the file is written (created if missing).
        mirrors: base URLs, tried in order.
        timeout: seconds for connecting and for each read.
        max_size: the decompressed size the file must not exceed; a mirror serving more (a
            gzip bomb) is abandoned as soon as its content grows past it.

    Returns the path of the verified file. Raises ``DownloadError`` listing every mirror's
    failure (HTTP status, connection error, timeout, bad gzip, truncation, checksum mismatch);
    no partial file is left behind. ``OSError`` from the folder itself (not writable) propagates.
    """
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, filename)
    failures = []
    for base in mirrors:
        url = base + filename
        fd, part = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    digest = _fetch(url, out, timeout, max_size)
                except (OSError, EOFError, http.client.HTTPException, zlib.error, ValueError) as err:
                    failures.append(f"{url}: {_describe(err)}")
                    continue
            if digest != sha256:
                failures.append(
                    f"{url}: sha256 of the decompressed content is {digest}, expected {sha256}")
                continue
            os.replace(part, target)
            part = None
            return target
        finally:
            if part is not None and os.path.exists(part):
                os.remove(part)
    tried = "\n  ".join(failures) if failures else "(no mirror given)"
    raise DownloadError(
        f"could not download {filename} from any mirror:\n  {tried}\n"
        f"Check the network, or set {MIRRORS_ENV} to comma-separated base URLs of mirrors that "
        f"serve it, or put the file into {folder} yourself."
    )
