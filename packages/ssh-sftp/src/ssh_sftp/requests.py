"""The SFTP requests by the names OpenSSH's ``sftp-server`` gives them
(``-Q requests``, ``-p``/``-P`` lists), and ``RequestPolicy``: which of
them a server refuses (read-only mode, allow and deny lists), so that a
server can be restricted with the same words as ``sftp-server``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .sftp import (
    CMD_CLOSE,
    CMD_FSETSTAT,
    CMD_FSTAT,
    CMD_LSTAT,
    CMD_MKDIR,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READ,
    CMD_READDIR,
    CMD_READLINK,
    CMD_REALPATH,
    CMD_REMOVE,
    CMD_RENAME,
    CMD_RMDIR,
    CMD_SETSTAT,
    CMD_STAT,
    CMD_SYMLINK,
    CMD_WRITE,
    EXT_CHECK_FILE,
    EXT_CHECK_FILE_HANDLE,
    EXT_CHECK_FILE_NAME,
    EXT_COPY_DATA,
    EXT_EXPAND_PATH,
    EXT_FSTATVFS,
    EXT_FSYNC,
    EXT_HARDLINK,
    EXT_HOME_DIRECTORY,
    EXT_LIMITS,
    EXT_LSETSTAT,
    EXT_POSIX_RENAME,
    EXT_STATVFS,
    EXT_USERS_GROUPS_BY_ID,
)

__all__ = ["REQUESTS", "Request", "RequestPolicy", "request_names"]


@dataclass(frozen=True)
class Request:
    """One kind of request: its ``sftp-server`` name, what identifies it on
    the wire (a packet type, or the extension names that carry it), and
    whether it changes the file system (refused in read-only mode)."""

    name: str
    packet: int | None = None
    extensions: tuple[str, ...] = ()
    writes: bool = False


# In sftp-server's order (``sftp-server -Q requests``), then ours.
REQUESTS: tuple[Request, ...] = (
    Request("open", CMD_OPEN),  # read-only mode refuses opens for writing, in the handler
    Request("close", CMD_CLOSE),
    Request("read", CMD_READ),
    Request("write", CMD_WRITE, writes=True),
    Request("lstat", CMD_LSTAT),
    Request("fstat", CMD_FSTAT),
    Request("setstat", CMD_SETSTAT, writes=True),
    Request("fsetstat", CMD_FSETSTAT, writes=True),
    Request("opendir", CMD_OPENDIR),
    Request("readdir", CMD_READDIR),
    Request("remove", CMD_REMOVE, writes=True),
    Request("mkdir", CMD_MKDIR, writes=True),
    Request("rmdir", CMD_RMDIR, writes=True),
    Request("realpath", CMD_REALPATH),
    Request("stat", CMD_STAT),
    Request("rename", CMD_RENAME, writes=True),
    Request("readlink", CMD_READLINK),
    Request("symlink", CMD_SYMLINK, writes=True),
    Request("posix-rename", extensions=(EXT_POSIX_RENAME,), writes=True),
    Request("statvfs", extensions=(EXT_STATVFS,)),
    Request("fstatvfs", extensions=(EXT_FSTATVFS,)),
    Request("hardlink", extensions=(EXT_HARDLINK,), writes=True),
    Request("fsync", extensions=(EXT_FSYNC,), writes=True),
    Request("lsetstat", extensions=(EXT_LSETSTAT,), writes=True),
    Request("limits", extensions=(EXT_LIMITS,)),
    Request("expand-path", extensions=(EXT_EXPAND_PATH,)),
    Request("copy-data", extensions=(EXT_COPY_DATA,), writes=True),
    Request("home-directory", extensions=(EXT_HOME_DIRECTORY,)),
    Request("users-groups-by-id", extensions=(EXT_USERS_GROUPS_BY_ID,)),
    Request("check-file", extensions=(EXT_CHECK_FILE, EXT_CHECK_FILE_HANDLE, EXT_CHECK_FILE_NAME)),
)


def request_names() -> list[str]:
    """Every request name, one per kind, as ``-Q requests`` lists them."""
    return [r.name for r in REQUESTS]


@dataclass(frozen=True)
class RequestPolicy:
    """Which requests a server refuses, with ``sftp-server``'s rules: in
    read-only mode every request that writes is refused (and OPEN for
    writing, creating or truncating); a request named in ``denied`` is
    refused; when ``allowed`` is given, only the requests it names pass
    (the deny list is applied first). Refused requests are answered
    "permission denied", as ``sftp-server`` answers them."""

    read_only: bool = False
    allowed: frozenset[str] | None = None
    denied: frozenset[str] = frozenset()

    @classmethod
    def from_lists(
        cls, read_only: bool = False, allowed: str | None = None, denied: str | None = None
    ) -> RequestPolicy:
        """From comma-separated name lists as ``-p``/``-P`` take them."""

        def names(text: str) -> frozenset[str]:
            return frozenset(n.strip() for n in text.split(",") if n.strip())

        return cls(read_only, names(allowed) if allowed is not None else None, names(denied or ""))

    def permits(self, request: Request) -> bool:
        """Whether ``request`` may be served at all."""
        if self.read_only and request.writes:
            return False
        if request.name in self.denied:
            return False
        return self.allowed is None or request.name in self.allowed

    def permits_open(self, flags: int) -> bool:
        """Whether an OPEN with ``os.O_*`` ``flags`` may go ahead (read-only
        mode admits reading only)."""
        if not self.read_only:
            return True
        return flags & os.O_ACCMODE == os.O_RDONLY and not flags & (os.O_CREAT | os.O_TRUNC)

    def refused_packets(self) -> frozenset[int]:
        """The packet types refused outright."""
        return frozenset(r.packet for r in REQUESTS if r.packet is not None and not self.permits(r))

    def refused_extensions(self) -> frozenset[str]:
        """The extension names refused outright (and not advertised)."""
        return frozenset(e for r in REQUESTS if not self.permits(r) for e in r.extensions)
