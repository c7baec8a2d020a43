"""Atomic file replacement: a checkpoint is either fully written or not written at all."""
import contextlib
import os
import re
import secrets
import stat

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which protects it instead.
    fcntl = None

_TEMPORARY_SUFFIX = ".tmp"
_TOKEN_HEX_DIGITS = 12


def temporary_name(base: str, token: str) -> str:
    """The name of a temporary file for the target ``base``: ``.<base>.<12 hex digits>.tmp``."""
    return f".{base}.{token}{_TEMPORARY_SUFFIX}"


def _temporary_pattern(base: str):
    return re.compile(re.escape(f".{base}.") + f"[0-9a-f]{{{_TOKEN_HEX_DIGITS}}}" + re.escape(_TEMPORARY_SUFFIX))


@contextlib.contextmanager
def atomic_write(path: str):
    """Yield a binary file that replaces ``path`` only once it is completely on disk.

    The data goes to a temporary file ``.<name>.<random hex>.tmp`` in the same directory (so
    the final rename stays on one file system), which is flushed, ``os.fsync``-ed and then
    moved over ``path`` with ``os.replace``, an atomic rename. If anything raises before that,
    the temporary file is deleted and whatever was at ``path`` is untouched. A process killed
    mid-write cannot delete its temporary file, so each write first removes the temporaries of
    the same target that no live writer holds (a writer keeps an exclusive ``flock`` on its
    temporary; where ``flock`` does not exist, an open file cannot be deleted).

    Like ``open(path, 'wb')``: a symlink at ``path`` is followed, so the file it points to is
    replaced; an existing file the caller may not write (read-only mode, or owned by another
    user) raises ``PermissionError``, and its permission bits are kept on the new file; a new
    file gets ``0o666`` minus the umask.

    Raises:
        FileNotFoundError: the directory of ``path`` does not exist.
        PermissionError: ``path`` exists and is not writable, or its directory is not.
        IsADirectoryError: ``path`` is a directory.
        OSError: writing failed (e.g. the disk is full); the message names ``path``.
    """
    if os.path.islink(path):
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"save: the directory {directory!r} for {path!r} does not exist; create it first, e.g. "
            "os.makedirs(directory, exist_ok=True)."
        )
    mode = _existing_mode_if_writable(path)
    base = os.path.basename(path)
    remove_stale_temporaries(directory, base)
    temporary, descriptor = _create_locked_temporary(directory, base)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if mode is not None:
                os.chmod(temporary, mode)
            try:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as error:
                raise _naming(error, path) from None
            try:
                os.replace(temporary, path)
            except OSError as error:
                raise _naming(error, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _existing_mode_if_writable(path: str):
    """The permission bits of an existing ``path`` after checking it may be written, else None.

    The check opens ``path`` for writing without truncating it, so the operating system
    applies exactly the rules ``open(path, 'wb')`` would (mode bits, ownership, root, ACLs).
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    os.close(descriptor)
    return stat.S_IMODE(os.stat(path).st_mode)


def _create_locked_temporary(directory: str, base: str):
    while True:
        temporary = os.path.join(directory, temporary_name(base, secrets.token_hex(_TOKEN_HEX_DIGITS // 2)))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        try:
            descriptor = os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return temporary, descriptor
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        # A concurrent save of the same target may have removed the file between its creation
        # and the lock (it was not locked yet); then start over with a fresh name.
        try:
            if os.stat(temporary).st_ino == os.fstat(descriptor).st_ino:
                return temporary, descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)


def remove_stale_temporaries(directory: str, base: str) -> list:
    """Delete the temporaries of target ``base`` in ``directory`` that no live writer holds.

    Returns the names removed. A temporary is stale when its exclusive lock can be taken: the
    process that wrote it is gone. Files that merely resemble the pattern are never touched.
    """
    pattern = _temporary_pattern(base)
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not pattern.fullmatch(name):
            continue
        candidate = os.path.join(directory, name)
        if fcntl is None:
            with contextlib.suppress(OSError):
                os.unlink(candidate)
                removed.append(name)
            continue
        try:
            descriptor = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            continue
        try:
            if os.stat(candidate, follow_symlinks=False).st_ino == os.fstat(descriptor).st_ino:
                os.unlink(candidate)
                removed.append(name)
        except OSError:
            pass
        finally:
            os.close(descriptor)
    return removed


def _naming(error: OSError, path: str) -> OSError:
    """``error`` re-raised with the same type and errno but naming the target ``path``."""
    if error.errno is None:
        return error
    return type(error)(error.errno, f"save: cannot write {path!r}: {error.strerror}", path)


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
