"""``SFTPHandle``: the server's view of one open file (or directory)."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, ClassVar

from .attributes import SFTPAttributes
from .sftp import SFTP_OK, SFTP_OP_UNSUPPORTED
from .statvfs import SFTPStatVFS

__all__ = ["SFTPHandle"]


class SFTPHandle:
    """An open file as an ``SFTPServerInterface`` hands it to the server.

    The default ``read``/``write``/``close`` work on ``self.readfile`` and
    ``self.writefile`` (Python file objects) if a subclass sets them, so a
    simple server needs nothing more; override for anything else. Methods
    return data/``SFTPAttributes``, or an ``SFTP_*`` error code. ``read``
    may return ``str`` (sent as UTF-8), as paramiko's server allows.
    """

    #: ``write`` gets ``bytes``, as in paramiko; a subclass whose ``write``
    #: also takes a ``memoryview`` sets this to save a copy per WRITE.
    write_accepts_view: ClassVar[bool] = False

    def __init__(self, flags: int = 0) -> None:
        """``flags`` are the ``os.O_*`` flags the file was opened with."""
        self.__flags = flags
        self.__name: bytes | None = None
        self.__files: list[SFTPAttributes] = []
        self.__next_file = 0
        self.__tell: int | None = None

    def __enter__(self) -> SFTPHandle:
        """Use the handle in a ``with`` block; it is closed at the end."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the handle when the ``with`` block ends."""
        self.close()

    def close(self) -> None:
        """Called when the client closes the handle (or the session ends):
        closes ``readfile``/``writefile`` if set."""
        readfile = getattr(self, "readfile", None)
        if readfile is not None:
            readfile.close()
        writefile = getattr(self, "writefile", None)
        if writefile is not None and writefile is not readfile:
            writefile.close()

    def read(self, offset: int, length: int) -> bytes | str | int:
        """Up to ``length`` bytes at ``offset`` (fewer or ``b""`` at end of
        file), or an ``SFTP_*`` error code."""
        readfile: Any = getattr(self, "readfile", None)
        if readfile is None:
            return SFTP_OP_UNSUPPORTED
        try:
            if self.__tell is None:
                self.__tell = readfile.tell()
            if offset != self.__tell:
                readfile.seek(offset)
                self.__tell = offset
            data: bytes = readfile.read(length)
        except OSError as exc:
            self.__tell = None
            return _convert(exc)
        self.__tell += len(data)
        return data

    def write(self, offset: int, data: bytes | memoryview) -> int:
        """Write ``data`` at ``offset`` (at the end in append mode); an
        ``SFTP_*`` code (``SFTP_OK`` on success)."""
        writefile: Any = getattr(self, "writefile", None)
        if writefile is None:
            return SFTP_OP_UNSUPPORTED
        try:
            if self.__flags & os.O_APPEND == 0:
                if self.__tell is None:
                    self.__tell = writefile.tell()
                if offset != self.__tell:
                    writefile.seek(offset)
                    self.__tell = offset
            writefile.write(data)
            writefile.flush()
        except OSError as exc:
            self.__tell = None
            return _convert(exc)
        if self.__tell is not None:
            self.__tell += len(data)
        return SFTP_OK

    def stat(self) -> SFTPAttributes | int:
        """The open file's attributes, or an error code (default: unsupported)."""
        return SFTP_OP_UNSUPPORTED

    def chattr(self, attr: SFTPAttributes) -> int:
        """Change the open file's attributes; an error code (default: unsupported)."""
        return SFTP_OP_UNSUPPORTED

    def fsync(self) -> int:
        """Flush the file to stable storage (fsync@openssh.com); an error
        code. By default flushes ``writefile`` and ``fsync``s the descriptor
        of ``writefile`` or ``readfile``, so handles written for paramiko
        1.5 serve it."""
        files = [f for f in (getattr(self, "writefile", None), getattr(self, "readfile", None)) if f is not None]
        fd = _fileno(files)
        if fd is None:
            return SFTP_OP_UNSUPPORTED
        try:
            writefile = getattr(self, "writefile", None)
            if writefile is not None:
                writefile.flush()
            os.fsync(fd)
        except OSError as exc:
            return _convert(exc)
        return SFTP_OK

    def statvfs(self) -> SFTPStatVFS | int:
        """Statistics of the file system holding the file
        (fstatvfs@openssh.com); by default ``fstatvfs`` of the descriptor of
        ``readfile`` or ``writefile``. When the handle cannot tell, the
        server asks the interface's ``statvfs`` for the path it was opened with."""
        fd = _fileno([f for f in (getattr(self, "readfile", None), getattr(self, "writefile", None)) if f is not None])
        if fd is None:
            return SFTP_OP_UNSUPPORTED
        try:
            return SFTPStatVFS.from_statvfs(os.fstatvfs(fd))
        except OSError as exc:
            return _convert(exc)

    # -- used by SFTPServer for directory handles -----------------------------------

    def _set_files(self, files: list[SFTPAttributes]) -> None:
        """Give a directory handle the listing it will return."""
        self.__files = list(files)
        self.__next_file = 0

    def _get_next_files(self, limit: int = 100) -> list[SFTPAttributes]:
        """Take the next ``limit`` entries of the listing (``[]`` when done)."""
        start = self.__next_file
        out = self.__files[start : start + limit]
        self.__next_file = start + len(out)
        if self.__next_file >= len(self.__files):
            self.__files, self.__next_file = [], 0
        return out

    def _pending_files(self) -> int:
        """How many listing entries are still to be returned."""
        return len(self.__files) - self.__next_file

    def _set_name(self, name: bytes) -> None:
        """Remember the handle string the server assigned."""
        self.__name = name

    def _get_name(self) -> bytes | None:
        """The handle string the server assigned."""
        return self.__name


def _fileno(files: list[Any]) -> int | None:
    """The descriptor of the first of ``files`` that has one."""
    for f in files:
        fileno = getattr(f, "fileno", None)
        if not callable(fileno):
            continue
        try:
            fd = fileno()
        except (OSError, ValueError):
            continue
        if isinstance(fd, int) and fd >= 0:
            return fd
    return None


def _convert(exc: OSError) -> int:
    """An ``OSError`` as an SFTP status code."""
    from .server import SFTPServer

    return SFTPServer.convert_errno(exc.errno or 0)
