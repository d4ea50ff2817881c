"""``SFTPServerInterface``: what an SFTP server asks of its storage. Subclass
it (or use ``LocalSFTPServerInterface``) and pass it to ``SFTPServer``."""

from __future__ import annotations

import posixpath
from typing import Any

from .attributes import SFTPAttributes
from .handle import SFTPHandle
from .sftp import SFTP_FAILURE, SFTP_OP_UNSUPPORTED
from .statvfs import SFTPStatVFS

__all__ = ["SFTPServerInterface"]


class SFTPServerInterface:
    """The storage behind an SFTP server. Each method returns its result, or
    an ``SFTP_*`` error code (``SFTPServer.convert_errno`` turns an errno
    into one). Every default answers ``SFTP_OP_UNSUPPORTED`` (except
    ``canonicalize`` and ``home_directory``).

    The server offers an OpenSSH extension only when the interface can
    serve it: posix-rename@openssh.com when ``posix_rename`` or ``rename``
    is overridden (the server gives ``rename`` POSIX semantics),
    statvfs/fstatvfs with ``statvfs``, hardlink with ``hardlink``,
    lsetstat with ``lsetstat`` (or ``chattr`` and ``lstat``, for paths that
    are not links), users-groups-by-id with ``users_groups_by_id``. So a
    server written to paramiko 1.5's interface works with OpenSSH's
    ``sftp`` as it is."""

    def __init__(self, server: Any, *largs: Any, **kwargs: Any) -> None:
        """Made once per SFTP session; ``server`` is the transport's
        ``ServerInterface``, the other arguments come from
        ``set_subsystem_handler``."""
        super().__init__()

    def session_started(self) -> None:
        """Called when the client has connected (before any request)."""

    def session_ended(self) -> None:
        """Called when the session ends; open handles are closed already."""

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        """Open (or create) file ``path``; ``flags`` are ``os.O_*`` flags;
        ``attr`` holds attributes requested for a new file. Returns an
        ``SFTPHandle`` or an error code."""
        return SFTP_OP_UNSUPPORTED

    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        """The entries of directory ``path``, each an ``SFTPAttributes`` with
        ``filename`` set."""
        return SFTP_OP_UNSUPPORTED

    def stat(self, path: str) -> SFTPAttributes | int:
        """Attributes of ``path``, following links."""
        return SFTP_OP_UNSUPPORTED

    def lstat(self, path: str) -> SFTPAttributes | int:
        """Attributes of ``path`` itself (links not followed)."""
        return SFTP_OP_UNSUPPORTED

    def remove(self, path: str) -> int:
        """Delete file ``path``."""
        return SFTP_OP_UNSUPPORTED

    def rename(self, oldpath: str, newpath: str) -> int:
        """Rename ``oldpath`` to ``newpath``; SFTP v3 expects failure when
        ``newpath`` exists."""
        return SFTP_OP_UNSUPPORTED

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        """Rename, replacing ``newpath`` if it exists (posix-rename@openssh.com)."""
        return SFTP_OP_UNSUPPORTED

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        """Create directory ``path`` with the requested attributes."""
        return SFTP_OP_UNSUPPORTED

    def rmdir(self, path: str) -> int:
        """Remove directory ``path``."""
        return SFTP_OP_UNSUPPORTED

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        """Change the attributes of ``path`` to the fields set in ``attr``."""
        return SFTP_OP_UNSUPPORTED

    def canonicalize(self, path: str) -> str | int:
        """The absolute, normalized form of ``path`` (relative paths start
        at "/" by default)."""
        if posixpath.isabs(path):
            out = posixpath.normpath(path)
        else:
            out = posixpath.normpath("/" + path)
        if out.startswith("//"):
            out = "/" + out.lstrip("/")
        return out

    def readlink(self, path: str) -> str | int:
        """The target of symbolic link ``path``."""
        return SFTP_OP_UNSUPPORTED

    def symlink(self, target_path: str, path: str) -> int:
        """Create symbolic link ``path`` pointing at ``target_path``."""
        return SFTP_OP_UNSUPPORTED

    def hardlink(self, oldpath: str, newpath: str) -> int:
        """Create hard link ``newpath`` to ``oldpath`` (hardlink@openssh.com)."""
        return SFTP_OP_UNSUPPORTED

    def statvfs(self, path: str) -> SFTPStatVFS | int:
        """File-system statistics for ``path`` (statvfs@openssh.com)."""
        return SFTP_OP_UNSUPPORTED

    def lsetstat(self, path: str, attr: SFTPAttributes) -> int:
        """Like ``chattr`` without following a symbolic link at ``path``
        (lsetstat@openssh.com)."""
        return SFTP_OP_UNSUPPORTED

    def home_directory(self, username: str) -> str | int:
        """The home directory of ``username`` as an absolute path
        (home-directory, and "~user" in expand-path@openssh.com); "" is the
        session's own user, whose home is where the session starts
        (``canonicalize(".")``) unless overridden."""
        if username:
            return SFTP_FAILURE
        return self.canonicalize(".")

    def users_groups_by_id(self, uids: list[int], gids: list[int]) -> tuple[list[str], list[str]] | int:
        """The user names of ``uids`` and group names of ``gids``, in order,
        "" for an id without a name (users-groups-by-id@openssh.com: lets
        ``sftp``'s ``ls -l`` show names)."""
        return SFTP_OP_UNSUPPORTED
