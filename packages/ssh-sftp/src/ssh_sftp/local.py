"""``LocalSFTPServerInterface``: serve one local directory as the whole SFTP
file system, never letting a path (``..``, absolute paths, symbolic links)
reach outside it.

One line from a server::

    transport.set_subsystem_handler("sftp", SFTPServer, LocalSFTPServerInterface, root="/srv/files")
"""

from __future__ import annotations

import errno
import grp
import os
import posixpath
import pwd
import stat
from typing import Any

from .attributes import SFTPAttributes
from .handle import SFTPHandle
from .interface import SFTPServerInterface
from .server import SFTPServer
from .sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK
from .statvfs import SFTPStatVFS

__all__ = ["LocalSFTPHandle", "LocalSFTPServerInterface"]


class _Outside(PermissionError):
    """A path that would resolve outside the served root."""


def _code(exc: OSError) -> int:
    """The SFTP status code for an ``OSError``."""
    return SFTPServer.convert_errno(exc.errno or 0)


class LocalSFTPHandle(SFTPHandle):
    """An open local file, read and written with ``pread``/``pwrite`` (so
    requests at any offset cost one system call)."""

    # ``write`` takes the request's memoryview as it is
    write_accepts_view = True

    def __init__(self, fd: int, flags: int, path: str) -> None:
        """Wrap open descriptor ``fd`` (opened with ``os.O_*`` ``flags``)."""
        super().__init__(flags)
        self.fd = fd
        self.path = path
        self._append = bool(flags & os.O_APPEND)

    def close(self) -> None:
        """Close the descriptor (once)."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def read(self, offset: int, length: int) -> bytes | int:
        """``pread`` at ``offset``."""
        try:
            return os.pread(self.fd, length, offset)
        except OSError as exc:
            return _code(exc)

    def write(self, offset: int, data: bytes | memoryview) -> int:
        """``pwrite`` at ``offset`` (append mode writes at the end)."""
        try:
            view = memoryview(data)
            while len(view):
                n = os.write(self.fd, view) if self._append else os.pwrite(self.fd, view, offset)
                offset += n
                view = view[n:]
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def stat(self) -> SFTPAttributes | int:
        """``fstat`` of the descriptor."""
        try:
            return SFTPAttributes.from_stat(os.fstat(self.fd))
        except OSError as exc:
            return _code(exc)

    def chattr(self, attr: SFTPAttributes) -> int:
        """Apply size, mode, owner and times to the open file (times last:
        cutting the file would change them)."""
        try:
            if attr.st_size is not None:
                os.ftruncate(self.fd, attr.st_size)
            if attr.st_mode is not None:
                os.fchmod(self.fd, attr.st_mode & 0o7777)
            if attr.st_uid is not None and attr.st_gid is not None:
                os.fchown(self.fd, attr.st_uid, attr.st_gid)
            if attr.st_atime is not None and attr.st_mtime is not None:
                os.utime(self.fd, (attr.st_atime, attr.st_mtime))
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def fsync(self) -> int:
        """``fsync`` the descriptor."""
        try:
            os.fsync(self.fd)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def statvfs(self) -> SFTPStatVFS | int:
        """``fstatvfs`` of the descriptor."""
        try:
            return SFTPStatVFS.from_statvfs(os.fstatvfs(self.fd))
        except OSError as exc:
            return _code(exc)


class LocalSFTPServerInterface(SFTPServerInterface):
    """Serves the local directory ``root`` as "/". Client paths are taken
    relative to it; ``..`` stops at the root; symbolic links are followed
    only while they resolve inside it (anything else is "permission
    denied"). Relative client paths start at ``start`` (a client path,
    "/" by default), which is what REALPATH of "." answers, as OpenSSH's
    sftp-server answers its start directory. With ``root="/"`` the whole
    file system is served, as sftp-server serves it."""

    def __init__(
        self,
        server: Any,
        *largs: Any,
        root: str | os.PathLike[str] | None = None,
        start: str = "/",
        **kwargs: Any,
    ) -> None:
        """``root`` is the directory to serve (default: the current one);
        ``start`` the client path relative paths are taken from."""
        super().__init__(server, *largs, **kwargs)
        self.root = os.path.realpath(os.fspath(root) if root is not None else os.getcwd())
        self.start = "/"
        self.start = self._virtual(start)

    # -- path mapping ---------------------------------------------------------------

    # limits on what a client may send as a path
    MAX_PATH = 4096
    MAX_COMPONENTS = 256

    def _virtual(self, path: str) -> str:
        """``path`` as a normalized absolute path inside the virtual tree
        (relative paths start at ``start``; ``ENAMETOOLONG`` for absurdly
        long paths)."""
        if len(path) > self.MAX_PATH or path.count("/") > self.MAX_COMPONENTS:
            raise OSError(errno.ENAMETOOLONG, "path too long")
        if "\x00" in path:
            raise OSError(errno.EINVAL, "NUL in path")
        v = posixpath.normpath(posixpath.join(self.start, path))
        if v.startswith("//"):
            v = "/" + v.lstrip("/")
        return v

    def _inside(self, real: str) -> bool:
        """True if local path ``real`` is the root or below it."""
        return real == self.root or real.startswith(self.root.rstrip("/") + "/")

    def _real(self, path: str, follow: bool = True) -> str:
        """The local path for client path ``path``. With ``follow``, every
        link is resolved and the result must lie inside the root; without,
        only the parent is resolved (the last component is the object itself)."""
        v = self._virtual(path)
        real = os.path.join(self.root, v.lstrip("/")) if v != "/" else self.root
        if follow or v == "/":
            resolved = os.path.realpath(real)
            if not self._inside(resolved):
                raise _Outside(errno.EACCES, "path leads outside the served directory", path)
            return resolved
        parent = os.path.realpath(os.path.dirname(real))
        if not self._inside(parent):
            raise _Outside(errno.EACCES, "path leads outside the served directory", path)
        return os.path.join(parent, os.path.basename(real))

    def _entry(self, path: str) -> str:
        """The local path of the directory entry ``path`` names, for requests
        that create, remove or move it: never the root itself (the served
        directory must not be removed, renamed or replaced)."""
        real = self._real(path, follow=False)
        if real == self.root:
            raise _Outside(errno.EACCES, "the served directory itself cannot be changed", path)
        return real

    def _to_virtual(self, real: str) -> str | None:
        """Local path ``real`` as a client path, or None if outside the root."""
        if not self._inside(real):
            return None
        rel = os.path.relpath(real, self.root)
        return "/" if rel == "." else "/" + rel

    # -- SFTPServerInterface ------------------------------------------------------------

    def canonicalize(self, path: str) -> str | int:
        """The absolute client path, with links resolved where they stay inside."""
        try:
            v = self._virtual(path)
        except OSError as exc:
            return _code(exc)
        try:
            resolved = os.path.realpath(os.path.join(self.root, v.lstrip("/")))
        except OSError:
            return v
        inside = self._to_virtual(resolved)
        return inside if inside is not None else v

    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        """``lstat`` of every entry of the directory."""
        try:
            real = self._real(path)
            out = []
            for name in os.listdir(real):
                try:
                    st = os.lstat(os.path.join(real, name))
                except OSError:
                    continue
                out.append(SFTPAttributes.from_stat(st, name))
            return out
        except OSError as exc:
            return _code(exc)

    def stat(self, path: str) -> SFTPAttributes | int:
        """``stat`` (links followed, but only inside the root)."""
        try:
            return SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as exc:
            return _code(exc)

    def lstat(self, path: str) -> SFTPAttributes | int:
        """``lstat`` of the object itself."""
        try:
            return SFTPAttributes.from_stat(os.lstat(self._real(path, follow=False)))
        except OSError as exc:
            return _code(exc)

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        """Open (or create) a file; new files get ``attr.st_mode`` (default 0666
        less the umask)."""
        try:
            real = self._real(path)
            mode = attr.st_mode & 0o7777 if attr.st_mode is not None else 0o666
            fd = os.open(real, flags | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
        except OSError as exc:
            return _code(exc)
        handle = LocalSFTPHandle(fd, flags, real)
        extra = SFTPAttributes()
        extra.st_uid, extra.st_gid = attr.st_uid, attr.st_gid
        extra.st_atime, extra.st_mtime = attr.st_atime, attr.st_mtime
        if (extra.st_uid is not None and extra.st_gid is not None) or extra.st_mtime is not None:
            code = handle.chattr(extra)
            if code != SFTP_OK:
                handle.close()
                return code
        return handle

    def remove(self, path: str) -> int:
        """Delete a file (or a link, not its target)."""
        try:
            os.remove(self._entry(path))
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        """Rename; fails if the new name exists (SFTP v3 semantics)."""
        try:
            old = self._entry(oldpath)
            new = self._entry(newpath)
            if os.path.lexists(new):
                return SFTP_FAILURE
            os.rename(old, new)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        """Rename, replacing the new name if it exists."""
        try:
            os.rename(self._entry(oldpath), self._entry(newpath))
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def hardlink(self, oldpath: str, newpath: str) -> int:
        """Create a hard link."""
        try:
            os.link(self._entry(oldpath), self._entry(newpath), follow_symlinks=False)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        """Create a directory with the requested mode (default 0777 less umask)."""
        try:
            mode = attr.st_mode & 0o7777 if attr.st_mode is not None else 0o777
            os.mkdir(self._real(path, follow=False), mode)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def rmdir(self, path: str) -> int:
        """Remove an empty directory."""
        try:
            os.rmdir(self._entry(path))
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        """Apply mode, owner, times and size."""
        try:
            SFTPServer.set_file_attr(self._real(path), attr)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def symlink(self, target_path: str, path: str) -> int:
        """Create link ``path`` -> ``target_path``; an absolute target is a
        client path, so it is stored as the matching local path."""
        try:
            link = self._real(path, follow=False)
            if "\x00" in target_path:
                raise OSError(errno.EINVAL, "NUL in link target")
            if target_path.startswith("/"):
                v = self._virtual(target_path)
                target = self.root if v == "/" else os.path.join(self.root, v.lstrip("/"))
            else:
                target = target_path
            os.symlink(target, link)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def readlink(self, path: str) -> str | int:
        """The link's target (an absolute local target inside the root comes
        back as a client path; one outside is refused)."""
        try:
            target = os.readlink(self._real(path, follow=False))
        except OSError as exc:
            return _code(exc)
        if target.startswith("/"):
            v = self._to_virtual(os.path.normpath(target))
            if v is None:
                return SFTPServer.convert_errno(errno.EACCES)
            return v
        return target

    def lsetstat(self, path: str, attr: SFTPAttributes) -> int:
        """Apply mode, owner and times to ``path`` itself, a link not
        followed (a link's own mode cannot be changed on Linux: a failure,
        as with sftp-server)."""
        try:
            real = self._real(path, follow=False)
            if attr.st_mode is not None:
                if stat.S_ISLNK(os.lstat(real).st_mode):
                    if os.chmod not in os.supports_follow_symlinks:
                        return SFTP_FAILURE  # as sftp-server answers (EOPNOTSUPP)
                    os.chmod(real, attr.st_mode & 0o7777, follow_symlinks=False)
                else:
                    os.chmod(real, attr.st_mode & 0o7777)
            if attr.st_uid is not None and attr.st_gid is not None:
                os.chown(real, attr.st_uid, attr.st_gid, follow_symlinks=False)
            if attr.st_atime is not None and attr.st_mtime is not None:
                os.utime(real, (attr.st_atime, attr.st_mtime), follow_symlinks=False)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def home_directory(self, username: str) -> str | int:
        """The user's home directory as a client path ("" is the user the
        server runs as); a home outside the root, or an unknown user, is
        "no such file"; an unknown user a failure (as sftp-server answers)."""
        try:
            entry = pwd.getpwnam(username) if username else pwd.getpwuid(os.getuid())
        except KeyError:
            return SFTP_FAILURE
        home = self._to_virtual(os.path.realpath(entry.pw_dir))
        return home if home is not None else SFTP_NO_SUCH_FILE

    def users_groups_by_id(self, uids: list[int], gids: list[int]) -> tuple[list[str], list[str]] | int:
        """Names from the local user and group databases ("" if unknown)."""
        return [_user_name(u) for u in uids], [_group_name(g) for g in gids]

    def statvfs(self, path: str) -> SFTPStatVFS | int:
        """``statvfs`` of the file system holding ``path``."""
        try:
            return SFTPStatVFS.from_statvfs(os.statvfs(self._real(path)))
        except OSError as exc:
            return _code(exc)


def _user_name(uid: int) -> str:
    """The local name of user ``uid``; "" if none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return ""


def _group_name(gid: int) -> str:
    """The local name of group ``gid``; "" if none."""
    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return ""
