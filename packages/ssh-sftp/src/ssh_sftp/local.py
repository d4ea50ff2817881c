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
from .confined import Beneath, Entry
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
    denied"). Every path is looked up from a descriptor of the root, one
    component at a time (see ``confined``), and every operation is done
    relative to the descriptor of the directory found, so swapping a
    component for a link while requests run cannot lead outside. Relative
    client paths start at ``start`` (a client path, "/" by default), which
    is what REALPATH of "." answers, as OpenSSH's sftp-server answers its
    start directory. With ``root="/"`` the whole file system is served, as
    sftp-server serves it: there is nothing to confine, and plain paths
    are used."""

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
        self._beneath = Beneath(self.root) if self.root != "/" else None

    def session_ended(self) -> None:
        """Let go of the root's descriptor (taken again if used later)."""
        super().session_ended()
        if self._beneath is not None:
            self._beneath.close()

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

    def _local(self, v: str) -> str:
        """The local path of normalized client path ``v``, as written (no
        link resolved)."""
        return self.root if v == "/" else os.path.join(self.root, v.lstrip("/"))

    def _lookup(self, path: str, follow: bool) -> Entry:
        """The resolved entry client path ``path`` names (a link at the end
        resolved too with ``follow``); close it after use."""
        v = self._virtual(path)
        if self._beneath is None:
            return Entry(None, v, follow=follow)
        return self._beneath.entry(v, follow)

    def _entry(self, path: str) -> Entry:
        """The entry ``path`` names, for requests that create, remove or move
        it: never the root itself (the served directory must not be removed,
        renamed or replaced)."""
        entry = self._lookup(path, follow=False)
        if entry.name in (".", "/"):
            entry.close()
            raise _Outside(errno.EACCES, "the served directory itself cannot be changed", path)
        return entry

    def _real(self, path: str, follow: bool = True) -> str:
        """A local path for client path ``path``, checked to lie inside the
        root (without ``follow``, only its parent is resolved). For
        subclasses that need a path string: a check made now, so racy; the
        operations here use descriptors instead."""
        v = self._virtual(path)
        if self._beneath is None:
            return (
                os.path.realpath(v)
                if follow
                else os.path.join(os.path.realpath(posixpath.dirname(v)), posixpath.basename(v))
            )
        if follow or v == "/":
            resolved = self._beneath.canonical(v)
            if resolved is None:
                raise _Outside(errno.EACCES, "path leads outside the served directory", path)
            return self._local(resolved)
        parent = self._beneath.canonical(posixpath.dirname(v))
        if parent is None:
            raise _Outside(errno.EACCES, "path leads outside the served directory", path)
        return os.path.join(self._local(parent), posixpath.basename(v))

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
            if self._beneath is None:
                return os.path.realpath(v)
            resolved = self._beneath.canonical(v)
        except OSError:
            return v
        return resolved if resolved is not None else v

    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        """``lstat`` of every entry of the directory."""
        try:
            with self._lookup(path, True) as e:
                fd = os.open(e.name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | _nofollow(e), dir_fd=e.dir_fd)
            try:
                out = []
                for name in os.listdir(fd):
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        continue
                    out.append(SFTPAttributes.from_stat(st, name))
                return out
            finally:
                os.close(fd)
        except OSError as exc:
            return _code(exc)

    def stat(self, path: str) -> SFTPAttributes | int:
        """``stat`` (links followed, but only inside the root)."""
        try:
            with self._lookup(path, True) as e:
                return SFTPAttributes.from_stat(os.stat(e.name, dir_fd=e.dir_fd, follow_symlinks=e.follow))
        except OSError as exc:
            return _code(exc)

    def lstat(self, path: str) -> SFTPAttributes | int:
        """``lstat`` of the object itself."""
        try:
            with self._lookup(path, False) as e:
                return SFTPAttributes.from_stat(os.stat(e.name, dir_fd=e.dir_fd, follow_symlinks=False))
        except OSError as exc:
            return _code(exc)

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        """Open (or create) a file; new files get ``attr.st_mode`` (default 0666
        less the umask)."""
        try:
            v = self._virtual(path)
            mode = attr.st_mode & 0o7777 if attr.st_mode is not None else 0o666
            if self._beneath is None:
                fd = os.open(v, flags | os.O_CLOEXEC, mode)
            else:
                fd = self._beneath.open(v, flags, mode)
        except OSError as exc:
            return _code(exc)
        handle = LocalSFTPHandle(fd, flags, self._local(v))
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
            with self._entry(path) as e:
                os.unlink(e.name, dir_fd=e.dir_fd)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        """Rename; fails if the new name exists (SFTP v3 semantics)."""
        try:
            with self._entry(oldpath) as old, self._entry(newpath) as new:
                if _lexists(new):
                    return SFTP_FAILURE
                os.rename(old.name, new.name, src_dir_fd=old.dir_fd, dst_dir_fd=new.dir_fd)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        """Rename, replacing the new name if it exists."""
        try:
            with self._entry(oldpath) as old, self._entry(newpath) as new:
                os.rename(old.name, new.name, src_dir_fd=old.dir_fd, dst_dir_fd=new.dir_fd)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def hardlink(self, oldpath: str, newpath: str) -> int:
        """Create a hard link."""
        try:
            with self._entry(oldpath) as old, self._entry(newpath) as new:
                os.link(old.name, new.name, src_dir_fd=old.dir_fd, dst_dir_fd=new.dir_fd, follow_symlinks=False)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        """Create a directory with the requested mode (default 0777 less umask)."""
        try:
            mode = attr.st_mode & 0o7777 if attr.st_mode is not None else 0o777
            with self._lookup(path, False) as e:
                os.mkdir(e.name, mode, dir_fd=e.dir_fd)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def rmdir(self, path: str) -> int:
        """Remove an empty directory."""
        try:
            with self._entry(path) as e:
                os.rmdir(e.name, dir_fd=e.dir_fd)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        """Apply size, mode, owner and times (links followed inside the
        root; the size first, so that cutting the file keeps the times)."""
        try:
            with self._lookup(path, True) as e:
                if attr.st_size is not None:
                    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | _nofollow(e)
                    fd = os.open(e.name, flags, dir_fd=e.dir_fd)
                    try:
                        os.ftruncate(fd, attr.st_size)
                    finally:
                        os.close(fd)
                if attr.st_mode is not None:
                    _chmod(e, attr.st_mode & 0o7777)
                if attr.st_uid is not None and attr.st_gid is not None:
                    os.chown(e.name, attr.st_uid, attr.st_gid, dir_fd=e.dir_fd, follow_symlinks=e.follow)
                if attr.st_atime is not None and attr.st_mtime is not None:
                    os.utime(e.name, (attr.st_atime, attr.st_mtime), dir_fd=e.dir_fd, follow_symlinks=e.follow)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def symlink(self, target_path: str, path: str) -> int:
        """Create link ``path`` -> ``target_path``; an absolute target is a
        client path, so it is stored as the matching local path."""
        try:
            if "\x00" in target_path:
                raise OSError(errno.EINVAL, "NUL in link target")
            target = self._local(self._virtual(target_path)) if target_path.startswith("/") else target_path
            with self._lookup(path, False) as e:
                os.symlink(target, e.name, dir_fd=e.dir_fd)
        except OSError as exc:
            return _code(exc)
        return SFTP_OK

    def readlink(self, path: str) -> str | int:
        """The link's target (an absolute local target inside the root comes
        back as a client path; one outside is refused)."""
        try:
            with self._lookup(path, False) as e:
                target = os.readlink(e.name, dir_fd=e.dir_fd)
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
            with self._lookup(path, False) as e:
                if attr.st_mode is not None:
                    is_link = stat.S_ISLNK(os.stat(e.name, dir_fd=e.dir_fd, follow_symlinks=False).st_mode)
                    if is_link and os.chmod not in os.supports_follow_symlinks:
                        return SFTP_FAILURE  # as sftp-server answers (EOPNOTSUPP)
                    _chmod(Entry(e.dir_fd, e.name), attr.st_mode & 0o7777)
                if attr.st_uid is not None and attr.st_gid is not None:
                    os.chown(e.name, attr.st_uid, attr.st_gid, dir_fd=e.dir_fd, follow_symlinks=False)
                if attr.st_atime is not None and attr.st_mtime is not None:
                    os.utime(e.name, (attr.st_atime, attr.st_mtime), dir_fd=e.dir_fd, follow_symlinks=False)
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
            with self._lookup(path, True) as e:
                if e.dir_fd is None:
                    return SFTPStatVFS.from_statvfs(os.statvfs(e.name))
                fd = os.open(e.name, _PATH_ONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=e.dir_fd)
            try:
                return SFTPStatVFS.from_statvfs(os.statvfs(fd))
            finally:
                os.close(fd)
        except OSError as exc:
            return _code(exc)


# a descriptor only to name an object by (no read permission needed)
_PATH_ONLY = getattr(os, "O_PATH", os.O_RDONLY | os.O_NONBLOCK)


def _nofollow(e: Entry) -> int:
    """``O_NOFOLLOW`` unless the entry is a plain path to be followed."""
    return 0 if e.follow else os.O_NOFOLLOW


def _lexists(e: Entry) -> bool:
    """True if the entry exists (a dangling link counts)."""
    try:
        os.stat(e.name, dir_fd=e.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _chmod(e: Entry, mode: int) -> None:
    """``chmod`` of the entry, without following a link unless it says so
    (where the C library cannot, through a descriptor of the object)."""
    if e.follow:
        os.chmod(e.name, mode, dir_fd=e.dir_fd)
        return
    try:
        os.chmod(e.name, mode, dir_fd=e.dir_fd, follow_symlinks=False)
    except NotImplementedError:
        fd = os.open(e.name, _PATH_ONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=e.dir_fd)
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.EOPNOTSUPP, "a link's own mode cannot be changed", e.name) from None
            os.chmod(f"/proc/self/fd/{fd}", mode)
        finally:
            os.close(fd)


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
