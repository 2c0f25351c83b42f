"""Reading input files that may come from anyone, without hanging or running out of memory.

A scene file, a patch library's ``index.json`` or a patch image is named by
a user, and the name may point at something that is not a file: a folder, a
named pipe (reading it blocks until someone writes), a character device
(``/dev/zero`` never ends) or a file far larger than any sensible input.
:func:`read_regular_file` opens the path without blocking, checks with
``fstat`` on the open descriptor (no race between the check and the read)
that it is a regular file no larger than a limit, and reads at most that
many bytes.

The errors are plain exceptions (subclasses of :class:`OSError`, so code
that handles "cannot read" also handles these); callers turn them into the
project's errors with a position.

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
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "NotARegularFileError",
    "FileTooLargeError",
    "read_regular_file",
    "open_regular_file",
    "file_kind",
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
