"""``SFTPServerInterface``: what an SFTP server asks of its storage. Subclass
it (or use ``LocalSFTPServerInterface``) and pass it to ``SFTPServer``."""

from __future__ import annotations

import posixpath
from typing import Any

from .attributes import SFTPAttributes
from .handle import SFTPHandle
from .sftp import SFTP_OP_UNSUPPORTED
from .statvfs import SFTPStatVFS

__all__ = ["SFTPServerInterface"]


class SFTPServerInterface:
    """The storage behind an SFTP server. Each method returns its result, or
    an ``SFTP_*`` error code (``SFTPServer.convert_errno`` turns an errno
    into one). Every default answers ``SFTP_OP_UNSUPPORTED``."""

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
