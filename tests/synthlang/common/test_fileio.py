"""Regular-file reads with the project's errors, and the one atomic writer."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from synthlang.common import fileio
from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.common.fileio import (
    FileTooLargeError,
    NotARegularFileError,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    read_error,
    read_input_file,
)

# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_text(target, "first\n")
    atomic_write_bytes(target, b"second\n")
    assert target.read_bytes() == b"second\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_atomic_write_has_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "atomic", b"x")
    (tmp_path / "plain").write_bytes(b"x")
    mode = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "atomic").stat().st_mode) == mode


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    for suffix in (None, ".tmp"):
        with pytest.raises(KeyboardInterrupt), atomic_writer(target, temp_suffix=suffix) as fh:
            fh.write(b"half of the new")
            raise KeyboardInterrupt
        assert target.read_bytes() == b"old"
        assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_full_disk_is_an_oserror_with_nothing_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Full:
        def __init__(self, path: Path, mode: str) -> None:
            self.fh = open(path, mode)  # noqa: SIM115

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def write(self, data: bytes) -> int:
            self.fh.write(data[:1])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio, "open", Full, raising=False)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(tmp_path / "a.png", b"data", temp_suffix=".tmp")
    assert list(tmp_path.iterdir()) == []


def test_fixed_temp_suffix_replaces_a_stale_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "000001.png"
    (tmp_path / "000001.png.tmp").write_bytes(b"left by a killed process, longer than the data")
    atomic_write_bytes(target, b"png", temp_suffix=".tmp")
    assert target.read_bytes() == b"png"
    assert [p.name for p in tmp_path.iterdir()] == ["000001.png"]


def test_unique_temporary_names_do_not_collide(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    with atomic_writer(target) as one, atomic_writer(target) as two:
        assert one.name != two.name
        one.write(b"1")
        two.write(b"2")
    assert target.read_bytes() == b"1"  # the last writer to finish wins, whole
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


# --------------------------------------------------------------------------- read errors


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), DataError, "no such file"),
        (
            NotARegularFileError("a named pipe (FIFO)"),
            DataError,
            "it is a named pipe (FIFO), not a regular file",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory"),
            DataError,
            "it is a folder, not a regular file",
        ),
        (PermissionError(errno.EACCES, "Permission denied"), DataError, "Permission denied"),
        (OSError("odd"), DataError, "odd"),
        (
            FileTooLargeError(300, 100),
            ResourceLimitError,
            "it has 300 bytes, more than the limit of 100",
        ),
    ],
)
def test_read_error_messages(exc: OSError, kind: type, message: str) -> None:
    err = read_error(Path("d/x.json"), exc, "the manifest")
    assert type(err) is kind
    assert err.message == f"d/x.json: cannot read the manifest: {message}"


def test_read_error_hint_for_limits() -> None:
    err = read_error("m.pt", FileTooLargeError(9, 5), "the checkpoint", hint="raise X")
    assert err.hint == "raise X"
    assert read_error("m.pt", FileNotFoundError(), "the checkpoint", hint="raise X").hint is None


def test_read_input_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"{}")
    assert read_input_file(path, max_bytes=2, what="the manifest") == b"{}"
    with pytest.raises(ResourceLimitError, match="a.json: cannot read the manifest: it has 2"):
        read_input_file(path, max_bytes=1, what="the manifest")
    with pytest.raises(DataError, match="b.json: cannot read the manifest: no such file"):
        read_input_file(tmp_path / "b.json", max_bytes=9, what="the manifest")
    with pytest.raises(DataError, match="cannot read the manifest: it is a folder"):
        read_input_file(tmp_path, max_bytes=9, what="the manifest")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_read_input_file_refuses_a_pipe_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="it is a named pipe"):
        read_input_file(fifo, max_bytes=9, what="the sample metadata")
