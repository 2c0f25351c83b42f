"""Reading input files that may come from anyone, and writing files atomically.

A scene file, a patch library's ``index.json`` or a patch image is named by
a user, and the name may point at something that is not a file: a folder, a
named pipe (reading it blocks until someone writes), a character device
(``/dev/zero`` never ends) or a file far larger than any sensible input.
:func:`read_regular_file` opens the path without blocking, checks with
``fstat`` on the open descriptor (no race between the check and the read)
that it is a regular file no larger than a limit, and reads at most that
many bytes.

Its errors are plain exceptions (subclasses of :class:`OSError`, so code
that handles "cannot read" also handles these). :func:`read_input_file`
reads and turns them into the project's errors (:func:`read_error`), for
callers without a scene position to report.

Every file synthlang writes goes through :func:`atomic_writer` (or
:func:`atomic_write_bytes` / :func:`atomic_write_text`): the data go to a
temporary file in the target folder, which then replaces the target with
:func:`os.replace`, so a reader never sees a half-written file.

Examples
--------
>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "a.scene"
>>> _ = path.write_text("scene s { size 8 x 8 }")
>>> read_regular_file(path, max_bytes=100)
b'scene s { size 8 x 8 }'
>>> read_regular_file(path, max_bytes=5)
Traceback (most recent call last):
...
synthlang.common.fileio.FileTooLargeError: file has 22 bytes, more than the limit of 5
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from synthlang.common.errors import DataError, ResourceLimitError

__all__ = [
    "NotARegularFileError",
    "FileTooLargeError",
    "read_regular_file",
    "open_regular_file",
    "read_input_file",
    "read_error",
    "file_kind",
    "atomic_writer",
    "atomic_write_bytes",
    "atomic_write_text",
]


class NotARegularFileError(OSError):
    """The path names a folder, pipe, device or socket instead of a file.

    Attributes
    ----------
    kind : str
        What it is, for messages ("a named pipe (FIFO)", ...).
    """

    def __init__(self, kind: str) -> None:
        super().__init__(f"it is {kind}, not a regular file")
        self.kind = kind


class FileTooLargeError(OSError):
    """The file is larger than the limit.

    Attributes
    ----------
    size : int
        Bytes found (at least ``limit + 1`` when the file grew while read).
    limit : int
        The limit in bytes.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"file has {size} bytes, more than the limit of {limit}")
        self.size = size
        self.limit = limit


def file_kind(mode: int) -> str:
    """Describe the file type of an ``st_mode``.

    Examples
    --------
    >>> file_kind(stat.S_IFIFO)
    'a named pipe (FIFO)'
    """
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "not a regular file"


def _open_regular_fd(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """Open ``path`` read-only without blocking; return the descriptor and its ``fstat``.

    Raises :class:`NotARegularFileError` (descriptor closed) for anything but a regular file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    fd = os.open(Path(path), flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFileError(file_kind(info.st_mode))
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_regular_file(path: str | os.PathLike[str], *, max_bytes: int) -> bytes:
    """Read a regular file of at most ``max_bytes`` bytes.

    Parameters
    ----------
    path : path-like
        The file (symbolic links are followed).
    max_bytes : int
        Largest accepted size.

    Returns
    -------
    bytes
        The file's contents.

    Raises
    ------
    FileNotFoundError, PermissionError, OSError
        As :func:`open` (``ELOOP`` for a symbolic-link loop).
    NotARegularFileError
        For a folder, named pipe, device or socket; checked without blocking.
    FileTooLargeError
        For a file larger than ``max_bytes`` (checked before reading, and
        again while reading, for files that grow).
    """
    fd, info = _open_regular_fd(path)
    try:
        if info.st_size > max_bytes:
            raise FileTooLargeError(info.st_size, max_bytes)
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise FileTooLargeError(total, max_bytes)
        return b"".join(chunks)
    finally:
        os.close(fd)


def open_regular_file(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading, refusing pipes, devices and folders.

    The path is opened without blocking (a named pipe would otherwise wait
    for a writer) and checked with ``fstat`` on the open descriptor.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    BinaryIO
        The open file; the caller closes it.

    Raises
    ------
    FileNotFoundError, PermissionError, OSError
        As :func:`open`.
    NotARegularFileError
        For a folder, named pipe, device or socket.
    """
    fd, _ = _open_regular_fd(path)
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# --------------------------------------------------------------------------- errors


def read_error(
    path: str | os.PathLike[str], exc: OSError, what: str, *, hint: str | None = None
) -> DataError | ResourceLimitError:
    """The project's error for a failed :func:`read_regular_file` or :func:`open_regular_file`.

    Parameters
    ----------
    path : path-like
        The file that could not be read.
    exc : OSError
        What the read raised.
    what : str
        What the file should be, for the message ("the manifest", "the image").
    hint : str, optional
        Advice attached to the :class:`ResourceLimitError` of a file that is too
        large (which limit to raise, and how).

    Returns
    -------
    DataError or ResourceLimitError
        ``ResourceLimitError`` for :class:`FileTooLargeError`, ``DataError``
        otherwise; the message is ``"PATH: cannot read WHAT: REASON"``.

    Examples
    --------
    >>> str(read_error("a.json", FileNotFoundError(2, "No such file"), "the manifest"))
    'error: a.json: cannot read the manifest: no such file'
    >>> str(read_error("p", NotARegularFileError("a named pipe (FIFO)"), "the manifest"))
    'error: p: cannot read the manifest: it is a named pipe (FIFO), not a regular file'
    >>> type(read_error("b", FileTooLargeError(9, 5), "the manifest")).__name__
    'ResourceLimitError'
    """
    head = f"{path}: cannot read {what}"
    if isinstance(exc, FileTooLargeError):
        return ResourceLimitError(
            f"{head}: it has {exc.size} bytes, more than the limit of {exc.limit}", hint=hint
        )
    if isinstance(exc, NotARegularFileError):
        return DataError(f"{head}: it is {exc.kind}, not a regular file")
    if isinstance(exc, FileNotFoundError):
        return DataError(f"{head}: no such file")
    if isinstance(exc, IsADirectoryError):  # where a folder cannot even be opened
        return DataError(f"{head}: it is a folder, not a regular file")
    return DataError(f"{head}: {exc.strerror or exc}")


def read_input_file(
    path: str | os.PathLike[str], *, max_bytes: int, what: str, hint: str | None = None
) -> bytes:
    """:func:`read_regular_file`, with every failure as the project's error.

    Parameters
    ----------
    path : path-like
        The file.
    max_bytes : int
        Largest accepted size.
    what : str
        What the file should be, for messages (see :func:`read_error`).
    hint : str, optional
        Advice for a file that is too large.

    Returns
    -------
    bytes
        The file's contents.

    Raises
    ------
    DataError
        Missing or unreadable file, folder, pipe, device or socket.
    ResourceLimitError
        A file larger than ``max_bytes``.
    """
    try:
        return read_regular_file(path, max_bytes=max_bytes)
    except OSError as exc:
        raise read_error(path, exc, what, hint=hint) from None


# --------------------------------------------------------------------------- writing


def _umask_mode() -> int:
    """Permissions a new file gets under the process's umask (``open`` would give these)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_mode()


def _set_default_mode(fd: int) -> None:
    """Give a ``mkstemp`` file (always 0600) the permissions of an ordinary new file."""
    try:
        os.fchmod(fd, _FILE_MODE)
    except (AttributeError, OSError):  # no fchmod (Windows), or a filesystem refusing it
        pass


@contextmanager
def atomic_writer(
    path: str | os.PathLike[str], *, temp_suffix: str | None = None
) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for writing; rename it to ``path`` on success.

    If the ``with`` block raises (full disk, interrupt), the temporary file is
    removed and ``path`` is untouched: no partial file ever has the final name.

    Parameters
    ----------
    path : path-like
        Target file; its folder must exist.
    temp_suffix : str, optional
        Name the temporary file ``path`` + ``temp_suffix`` (for example
        ``".tmp"``): a process killed while writing leaves that file, and the
        next write of ``path`` replaces it. Only for files that one process at
        a time writes. By default the name is unique (``.NAME.XXXXXXXX.tmp``),
        safe for concurrent writers of the same file.

    Yields
    ------
    BinaryIO
        The temporary file, open for binary writing.

    Raises
    ------
    OSError
        If the file cannot be created, written or renamed.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.bin"
    >>> with atomic_writer(target) as fh:
    ...     _ = fh.write(b"data")
    >>> target.read_bytes(), [p.name for p in target.parent.iterdir()]
    (b'data', ['a.bin'])
    """
    target = Path(path)
    fd: int | None = None
    if temp_suffix is None:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        tmp = Path(name)
        _set_default_mode(fd)
    else:
        tmp = target.with_name(target.name + temp_suffix)
    try:
        # the module's `open`, which tests replace by a full disk
        fh = os.fdopen(fd, "wb") if fd is not None else open(tmp, "wb")
        with fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, temp_suffix: str | None = None
) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`).

    Parameters
    ----------
    path : path-like
        Target file; its folder must exist.
    data : bytes
        File contents.
    temp_suffix : str, optional
        Fixed suffix of the temporary file (see :func:`atomic_writer`).
    """
    with atomic_writer(path, temp_suffix=temp_suffix) as fh:
        fh.write(data)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, temp_suffix: str | None = None
) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_writer`)."""
    atomic_write_bytes(path, text.encode("utf-8"), temp_suffix=temp_suffix)
