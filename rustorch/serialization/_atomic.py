"""Atomic file replacement: a checkpoint is either fully written or not written at all."""
import contextlib
import os
import secrets
import stat


@contextlib.contextmanager
def atomic_write(path: str):
    """Yield a binary file that replaces ``path`` only once it is completely on disk.

    The data goes to a temporary file in the same directory (so the final rename stays on one
    file system), which is flushed, ``os.fsync``-ed and then moved over ``path`` with
    ``os.replace``, an atomic rename. If anything raises before that, the temporary file is
    deleted and whatever was at ``path`` is untouched. A symlink at ``path`` is followed, so the
    file it points to is replaced, as writing through ``open(path, 'wb')`` would. An existing
    file's permission bits are kept; a new file gets ``0o666`` minus the umask, like ``open``.

    Raises:
        FileNotFoundError: the directory of ``path`` does not exist.
    """
    if os.path.islink(path):
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"save: the directory {directory!r} for {path!r} does not exist; create it first, e.g. "
            "os.makedirs(directory, exist_ok=True)."
        )
    base = os.path.basename(path)
    while True:
        temporary = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            descriptor = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(descriptor, "wb") as handle:
            try:
                os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
            except FileNotFoundError:
                pass
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable; platforms that cannot open directories skip this."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
