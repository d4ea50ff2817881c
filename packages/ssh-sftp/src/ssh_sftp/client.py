"""``SFTPClient``: the client side of SFTP v3 over any channel-like stream.

Requests carry a number; replies may come back in any order. One reader at a
time (under ``_read_lock``) pulls replies off the stream and routes each to
whoever waits for it: a blocking caller, or a file object collecting
pipelined writes and prefetched reads.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Any, TypeVar

from ssh_wire import Message

from . import operations as ops
from .attributes import SFTPAttributes
from .errors import SFTPError, SFTPOSError, status_to_exception
from .file import SFTPFile
from .limits import SFTPLimits
from .operations import check_status, expect_reply, parse_status
from .session import RequestSession
from .sftp import (
    CMD_NAME,
    CMD_READDIR,
    CMD_STATUS,
    EXT_COPY_DATA,
    EXT_EXPAND_PATH,
    EXT_HARDLINK,
    EXT_HOME_DIRECTORY,
    EXT_LIMITS,
    EXT_LSETSTAT,
    EXT_POSIX_RENAME,
    EXT_STATVFS,
    EXT_USERS_GROUPS_BY_ID,
    SFTP_EOF,
    BaseSFTP,
    path_str,
    ssh_string,
)
from .statvfs import SFTPStatVFS
from .transfer import TransferOptions, get_tree, put_tree
from .tree import WalkEntry, glob, makedirs, rmtree, walk

__all__ = ["SFTP", "SFTPClient"]

_T = TypeVar("_T")

Callback = Callable[[int, int], object]

# Without limits@openssh.com, every server accepts 32 KiB reads and writes.
DEFAULT_REQUEST_SIZE = ops.DEFAULT_REQUEST_SIZE


class SFTPClient(BaseSFTP):
    """An SFTP session on an open channel that already runs the ``sftp``
    subsystem: file and directory operations on the server."""

    def __init__(self, sock: Any) -> None:
        """Start SFTP on ``sock`` (a ``Channel`` or channel-like stream): send
        INIT, read the server's VERSION and extensions, and ask for its
        limits when it offers limits@openssh.com. Raises ``SSHException``
        (``SFTPError``) if the server does not answer as an SFTP server."""
        super().__init__()
        self.sock = sock
        self._use_transport_logger(sock)
        self.session = RequestSession(sock, self.logger)
        self._cwd: str | None = None
        self.max_read_size = DEFAULT_REQUEST_SIZE
        self.max_write_size = DEFAULT_REQUEST_SIZE
        # True once the server announced its limits (limits@openssh.com);
        # until then files use ``SFTPFile.MAX_REQUEST_SIZE``
        self.limits_announced = False
        self.max_open_handles: int | None = None
        try:
            self.server_version, self.server_extensions = self.session.handshake()
        except EOFError:
            raise SFTPError("EOF during negotiation") from None
        self.session.start_reading()
        if EXT_LIMITS in self.server_extensions:
            self._ask_limits()

    def _use_transport_logger(self, sock: Any) -> None:
        """Log under the transport's log channel + ".sftp" (as paramiko
        does) when ``sock`` is a channel of a transport."""
        get_transport = getattr(sock, "get_transport", None)
        transport = get_transport() if callable(get_transport) else None
        get_log_channel = getattr(transport, "get_log_channel", None)
        if callable(get_log_channel):
            self.logger = logging.getLogger(f"{get_log_channel()}.sftp")

    @classmethod
    def from_transport(
        cls, t: Any, window_size: int | None = None, max_packet_size: int | None = None
    ) -> SFTPClient | None:
        """Open a session channel on transport ``t``, start the ``sftp``
        subsystem on it, and return a client; None if the channel could not
        be opened."""
        chan = t.open_session(window_size=window_size, max_packet_size=max_packet_size)
        if chan is None:
            return None
        chan.invoke_subsystem("sftp")
        return cls(chan)

    def __enter__(self) -> SFTPClient:
        """Use the client in a ``with`` block; it is closed at the end."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the session when the ``with`` block ends."""
        self.close()

    def __repr__(self) -> str:
        """Class name and the channel it runs on."""
        return f"<SFTPClient on {self.sock!r}>"

    # -- version and limits ------------------------------------------------------

    def _ask_limits(self) -> None:
        """Size our requests from the server's limits@openssh.com reply."""
        sizes = self._call(ops.request_sizes())
        self.max_read_size, self.max_write_size = sizes.max_read, sizes.max_write
        self.max_open_handles = sizes.max_handles
        self.limits_announced = sizes.announced

    # -- requests --------------------------------------------------------------

    def _call(self, call: ops.Call[_T]) -> _T:
        """Send one operation's request and read its reply."""
        return call.parse(*self.session.request(call.type, *call.parts))

    def _request(self, t: int, *parts: bytes | bytearray | memoryview) -> tuple[int, Message]:
        """Send a request and block for its reply (paramiko's name; the
        plumbing is ``self.session``)."""
        return self.session.request(t, *parts)

    def _convert_status(self, t: int, msg: Message, filename: str | None = None) -> None:
        """Raise the exception a non-OK status maps to (paramiko's name)."""
        check_status(t, msg, filename)

    def _expect(self, t: int, msg: Message, want: int, filename: str | None = None) -> Message:
        """``msg`` if it is of type ``want``; a status raises its exception."""
        return expect_reply(t, msg, want, filename)

    def require_extension(self, name: str) -> None:
        """Raise ``OSError(EOPNOTSUPP)`` unless the server offers extension ``name``."""
        if name not in self.server_extensions:
            raise OSError(errno.EOPNOTSUPP, f"server does not support {name}")

    # -- session -----------------------------------------------------------------

    def close(self) -> None:
        """End the SFTP session and close the underlying channel."""
        self.session.close()

    def get_channel(self) -> Any:
        """The channel (stream) this session runs on."""
        return self.sock

    # -- paths -------------------------------------------------------------------

    def _adjust_cwd(self, path: str | bytes) -> str:
        """paramiko's name for ``remote_path``."""
        return self.remote_path(path)

    def remote_path(self, path: str | bytes) -> str:
        """``path`` as sent to the server: a relative path is joined with the
        working directory ``chdir`` set (SFTP itself has none)."""
        return ops.join_cwd(self._cwd, path)

    def chdir(self, path: str | bytes | None = None) -> None:
        """Change the working directory of this session (emulated: SFTP has
        none, so relative paths are joined with it here). None resets it."""
        if path is None:
            self._cwd = None
            return
        attr = self.stat(path)
        if attr.st_mode is not None and not stat.S_ISDIR(attr.st_mode):
            p = path if isinstance(path, str) else path_str(path)
            # paramiko raises SFTPError(ENOTDIR, ...); it is an OSError here too
            raise SFTPOSError(errno.ENOTDIR, f"{os.strerror(errno.ENOTDIR)}: {p}")
        self._cwd = self.normalize(path)

    def getcwd(self) -> str | None:
        """The working directory set by ``chdir``; None if never set."""
        return self._cwd

    def normalize(self, path: str | bytes) -> str:
        """The server's canonical absolute form of ``path`` ("." gives the
        directory the session starts in)."""
        return self._call(ops.realpath(self.remote_path(path)))

    # -- directories -------------------------------------------------------------

    def listdir(self, path: str | bytes = ".") -> list[str]:
        """The names in directory ``path`` (without "." and "..")."""
        return [a.filename for a in self.listdir_attr(path)]

    def listdir_attr(self, path: str | bytes = ".") -> list[SFTPAttributes]:
        """``SFTPAttributes`` (with ``filename`` and ``longname``) for each
        entry of directory ``path``, without "." and ".."."""
        return list(self.listdir_iter(path))

    def listdir_iter(self, path: str | bytes = ".", read_aheads: int = 50) -> Iterator[SFTPAttributes]:
        """Like ``listdir_attr`` but yields entries as the server sends them,
        with up to ``read_aheads`` READDIR requests in flight (servers answer
        requests on one handle in order, so batches arrive in sequence)."""
        p = self.remote_path(path)
        hstr = ssh_string(self._call(ops.opendir(p)))
        pending: deque[int] = deque()
        since = time.monotonic()
        try:
            for _ in range(max(1, read_aheads)):
                pending.append(self.session.send(None, CMD_READDIR, hstr))
            while pending:
                rt, data = self.session.read_response(pending.popleft(), since)
                if rt == CMD_STATUS:
                    code, text = parse_status(Message(data, strict=True))
                    if code == SFTP_EOF:
                        break
                    raise status_to_exception(code, text, p)
                msg = self._expect(rt, Message(data, strict=True), CMD_NAME, p)
                pending.append(self.session.send(None, CMD_READDIR, hstr))
                for attr in ops.parse_names(msg):
                    if attr.filename not in (".", ".."):
                        yield attr
                        since = time.monotonic()  # the caller's time is not the server's
        finally:
            while pending and self.session.dropped is None:
                self.session.read_response(pending.popleft(), since)
            if self.session.dropped is None:
                self.session.send_close(hstr)

    def mkdir(self, path: str | bytes, mode: int = 0o777) -> None:
        """Create directory ``path`` with permission bits ``mode`` (the
        server applies its umask)."""
        self._call(ops.mkdir(self.remote_path(path), mode))

    def rmdir(self, path: str | bytes) -> None:
        """Remove the empty directory ``path``."""
        self._call(ops.rmdir(self.remote_path(path)))

    def makedirs(self, path: str | bytes, mode: int = 0o777, exist_ok: bool = False) -> None:
        """Create directory ``path`` and any missing parent, like
        ``os.makedirs`` (``FileExistsError`` if it exists, unless ``exist_ok``)."""
        makedirs(self, _text(path), mode, exist_ok)

    def rmtree(self, path: str | bytes, ignore_errors: bool = False) -> None:
        """Remove directory ``path`` and everything under it, like
        ``shutil.rmtree`` (links are removed, not followed); the removals are
        pipelined."""
        rmtree(self, _text(path), ignore_errors)

    def walk(
        self,
        top: str | bytes = ".",
        topdown: bool = True,
        onerror: Callable[[OSError], object] | None = None,
        followlinks: bool = False,
    ) -> Iterator[WalkEntry]:
        """``os.walk`` on the server: ``(dirpath, dirnames, filenames)`` for
        ``top`` and each directory below it."""
        return walk(self, _text(top), topdown, onerror, followlinks)

    def glob(self, pattern: str | bytes) -> list[str]:
        """Server paths matching ``pattern`` (``*``, ``?``, ``[...]``, and
        ``**`` for any depth), sorted; wildcards skip names starting with "."."""
        return glob(self, _text(pattern))

    # -- files -------------------------------------------------------------------

    def open(self, filename: str | bytes, mode: str = "r", bufsize: int = -1) -> SFTPFile:
        """Open a remote file, like Python's ``open``: mode 'r', 'w' (create
        or truncate), 'a' (append), 'x' (create, fail if it exists), with '+'
        for update, 'b' for binary lines and 'U' for universal newlines.
        ``bufsize`` is as for ``open``: 0 unbuffered, 1 line-buffered, N a
        buffer of N bytes (negative: the default, unbuffered)."""
        p = self.remote_path(filename)
        handle = self._call(ops.open_file(p, mode))
        return SFTPFile(self, handle, mode, bufsize, name=p)

    # paramiko 1.5 name
    file = open

    def remove(self, path: str | bytes) -> None:
        """Delete the file ``path`` (not a directory)."""
        self._call(ops.remove(self.remote_path(path)))

    unlink = remove

    def rename(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """Rename ``oldpath`` to ``newpath`` (SFTP v3 rename: most servers
        refuse if ``newpath`` exists; see ``posix_rename``)."""
        self._call(ops.rename(self.remote_path(oldpath), self.remote_path(newpath)))

    def posix_rename(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """Rename with POSIX semantics (replacing ``newpath``), through the
        posix-rename@openssh.com extension."""
        old, new = self.remote_path(oldpath), self.remote_path(newpath)
        self.require_extension(EXT_POSIX_RENAME)
        self._call(ops.posix_rename(old, new))

    def hardlink(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """Create a hard link ``newpath`` to ``oldpath`` (hardlink@openssh.com)."""
        old, new = self.remote_path(oldpath), self.remote_path(newpath)
        self.require_extension(EXT_HARDLINK)
        self._call(ops.hardlink(old, new))

    def statvfs(self, path: str | bytes) -> SFTPStatVFS:
        """File-system statistics for ``path`` (statvfs@openssh.com), with
        the fields of ``os.statvfs`` results."""
        p = self.remote_path(path)
        self.require_extension(EXT_STATVFS)
        return self._call(ops.statvfs(p))

    # -- OpenSSH extensions (each raises OSError(EOPNOTSUPP) if the server lacks it) --

    def limits(self) -> SFTPLimits:
        """The server's limits (limits@openssh.com): longest packet, READ
        and WRITE, and open handles (0 where it sets none)."""
        self.require_extension(EXT_LIMITS)
        return self._call(ops.limits())

    def lsetstat(self, path: str | bytes, attr: SFTPAttributes) -> None:
        """Set the fields of ``attr`` on ``path`` itself, not following a
        symbolic link (lsetstat@openssh.com; a size is not allowed)."""
        p = self.remote_path(path)
        self.require_extension(EXT_LSETSTAT)
        self._call(ops.lsetstat(p, attr))

    def expand_path(self, path: str | bytes) -> str:
        """``path`` made absolute by the server with "~", "~/..." and
        "~user/..." expanded (expand-path@openssh.com)."""
        p = self.remote_path(path) if not _starts_with_tilde(path) else _as_str(path)
        self.require_extension(EXT_EXPAND_PATH)
        return self._call(ops.expand_path(p))

    def home_directory(self, username: str = "") -> str:
        """The home directory of ``username`` on the server ("" for the user
        logged in), through the home-directory extension."""
        self.require_extension(EXT_HOME_DIRECTORY)
        return self._call(ops.home_directory(username))

    def users_groups_by_id(self, uids: Iterable[int], gids: Iterable[int]) -> tuple[list[str], list[str]]:
        """The server's user names for ``uids`` and group names for
        ``gids``, in order, "" where it knows none
        (users-groups-by-id@openssh.com)."""
        self.require_extension(EXT_USERS_GROUPS_BY_ID)
        return self._call(ops.users_groups_by_id(uids, gids))

    def copy_data(
        self, source: SFTPFile, dest: SFTPFile, offset: int = 0, length: int = 0, dest_offset: int = 0
    ) -> None:
        """Have the server copy ``length`` bytes (0: to the end) of open
        file ``source`` from ``offset`` into open file ``dest`` at
        ``dest_offset``; no data crosses the network (copy-data). The two
        must be different files; ``dest`` is flushed first."""
        self.require_extension(EXT_COPY_DATA)
        dest.flush()
        self._call(ops.copy_data(source.handle, offset, length, dest.handle, dest_offset))

    def remote_copy(self, source: str | bytes, dest: str | bytes) -> None:
        """Copy file ``source`` to ``dest`` on the server (created or
        replaced, with ``source``'s permissions), as OpenSSH's ``sftp cp``
        does: through copy-data, so no data crosses the network."""
        self.require_extension(EXT_COPY_DATA)
        mode = self.stat(source).st_mode
        with self.open(source, "rb") as src, self.open(dest, "wb") as dst:
            if mode is not None:
                self.chmod(dest, mode & 0o7777)
            self.copy_data(src, dst)

    def stat(self, path: str | bytes) -> SFTPAttributes:
        """The attributes of ``path``, following symbolic links."""
        return self._call(ops.stat(self.remote_path(path)))

    def lstat(self, path: str | bytes) -> SFTPAttributes:
        """The attributes of ``path`` itself (a link is not followed)."""
        return self._call(ops.lstat(self.remote_path(path)))

    def symlink(self, source: str | bytes, dest: str | bytes) -> None:
        """Create a symbolic link ``dest`` pointing at ``source`` (``source``
        is stored as given; only ``dest`` is relative to the cwd)."""
        src = path_str(source) if isinstance(source, bytes) else source
        self._call(ops.symlink(src, self.remote_path(dest)))

    def readlink(self, path: str | bytes) -> str | None:
        """The target of symbolic link ``path``; None if the server names
        no target."""
        return self._call(ops.readlink(self.remote_path(path)))

    def _setstat(self, path: str | bytes, attr: SFTPAttributes) -> None:
        """SETSTAT ``path`` to the fields of ``attr`` that are set."""
        self._call(ops.setstat(self.remote_path(path), attr))

    def chmod(self, path: str | bytes, mode: int) -> None:
        """Change the permission bits of ``path``, like ``os.chmod``."""
        self._setstat(path, ops.mode_attr(mode))

    def chown(self, path: str | bytes, uid: int, gid: int) -> None:
        """Change the owner and group of ``path`` (both must be given)."""
        self._setstat(path, ops.owner_attr(uid, gid))

    def utime(self, path: str | bytes, times: tuple[float, float] | None) -> None:
        """Set the access and modification times of ``path`` to ``times``
        ``(atime, mtime)``, or to now if None (whole seconds on the wire)."""
        self._setstat(path, ops.times_attr(times))

    def truncate(self, path: str | bytes, size: int) -> None:
        """Cut (or extend with zeros) file ``path`` to ``size`` bytes."""
        self._setstat(path, ops.size_attr(size))

    # -- whole-file transfers -------------------------------------------------------

    def getfo(
        self,
        remotepath: str | bytes,
        fl: IO[bytes],
        callback: Callback | None = None,
        prefetch: bool = True,
        max_concurrent_prefetch_requests: int | None = None,
    ) -> int:
        """Copy remote file ``remotepath`` into the open file object ``fl``,
        with many reads in flight; ``callback(bytes_so_far, total)`` after
        each chunk. Returns the number of bytes copied."""
        with self.open(remotepath, "rb") as fr:
            file_size = self._size_of(fr, remotepath)
            if prefetch:
                fr.prefetch(file_size, max_concurrent_prefetch_requests)
            chunk = self.max_read_size
            size = 0
            while True:
                data = fr.read(chunk)
                if not data:
                    break
                fl.write(data)
                size += len(data)
                if callback is not None:
                    callback(size, file_size)
            if size == 0 and callback is not None:
                callback(0, file_size)
        return size

    def _size_of(self, fr: SFTPFile, remotepath: str | bytes) -> int:
        """The size of open file ``fr``: FSTAT, or STAT of its path on servers
        whose handles cannot be stat'ed (as paramiko's ``getfo`` does)."""
        try:
            return fr.stat().st_size or 0
        except OSError:
            return self.stat(remotepath).st_size or 0

    def get(
        self,
        remotepath: str | bytes,
        localpath: str | os.PathLike[str],
        callback: Callback | None = None,
        prefetch: bool = True,
        max_concurrent_prefetch_requests: int | None = None,
        *,
        recursive: bool = False,
        preserve: bool = False,
        resume: bool = False,
        follow_symlinks: bool = False,
        total_callback: Callback | None = None,
    ) -> None:
        """Copy remote file ``remotepath`` to local path ``localpath``;
        ``callback(bytes_so_far, total)`` reports progress. Raises ``IOError``
        if the copy's size differs from what the server reported.

        The keyword options work as OpenSSH's ``sftp get -R -p -a``:
        ``recursive`` copies a directory tree (as ``cp -r``: into
        ``localpath/<name>`` if ``localpath`` is an existing directory, else
        to ``localpath``), with many files in flight at once; symbolic links
        inside the tree are skipped unless ``follow_symlinks``.
        ``preserve`` copies permission bits and access/modification times.
        ``resume`` continues partial copies from their current size instead
        of starting over (a copy larger than the source is an error).
        ``callback`` then reports each file, ``total_callback(bytes_so_far,
        total)`` the whole transfer."""
        if recursive or preserve or resume or follow_symlinks or total_callback is not None:
            opts = TransferOptions(preserve, resume, follow_symlinks, True, callback, total_callback)
            if max_concurrent_prefetch_requests:
                opts.window = max_concurrent_prefetch_requests
            get_tree(self, _text(remotepath), os.fspath(localpath), recursive, opts)
            return
        with open(localpath, "wb") as fl:
            size = self.getfo(remotepath, fl, callback, prefetch, max_concurrent_prefetch_requests)
        local = os.stat(localpath).st_size
        if local != size:
            raise OSError(f"size mismatch in get!  {local} != {size}")

    def putfo(
        self,
        fl: IO[bytes],
        remotepath: str | bytes,
        file_size: int = 0,
        callback: Callback | None = None,
        confirm: bool = True,
    ) -> SFTPAttributes:
        """Copy the open file object ``fl`` to remote ``remotepath`` with
        many writes in flight; ``callback(bytes_so_far, file_size)`` after
        each chunk. With ``confirm``, stat the result and raise ``IOError`` if
        its size is not what was sent. Returns the remote attributes."""
        size = 0
        with self.open(remotepath, "wb") as fr:
            fr.set_pipelined(True)
            chunk = self.max_write_size
            while True:
                data = fl.read(chunk)
                if not data:
                    break
                fr.write(data)
                size += len(data)
                if callback is not None:
                    callback(size, file_size)
            if size == 0 and callback is not None:
                callback(0, file_size)
        if confirm:
            s = self.stat(remotepath)
            if s.st_size != size:
                raise OSError(f"size mismatch in put!  {s.st_size} != {size}")
            return s
        return SFTPAttributes()

    def put(
        self,
        localpath: str | os.PathLike[str],
        remotepath: str | bytes,
        callback: Callback | None = None,
        confirm: bool = True,
        *,
        recursive: bool = False,
        preserve: bool = False,
        resume: bool = False,
        follow_symlinks: bool = False,
        total_callback: Callback | None = None,
    ) -> SFTPAttributes:
        """Copy local file ``localpath`` to ``remotepath``; see ``putfo``.

        The keyword options mirror ``get``'s (OpenSSH's ``sftp put -R -p
        -a``): ``recursive`` uploads a tree (into ``remotepath/<name>`` if
        ``remotepath`` is an existing directory), ``preserve`` sets modes
        and times on the copies, ``resume`` appends to partial remote copies,
        ``total_callback`` reports the whole transfer. With ``confirm`` the
        result is the copy's attributes (the top directory's for a tree)."""
        if recursive or preserve or resume or follow_symlinks or total_callback is not None:
            opts = TransferOptions(preserve, resume, follow_symlinks, confirm, callback, total_callback)
            return put_tree(self, os.fspath(localpath), _text(remotepath), recursive, opts)
        file_size = os.stat(localpath).st_size
        with open(localpath, "rb") as fl:
            return self.putfo(fl, remotepath, file_size, callback, confirm)


# paramiko 1.5 alias
SFTP = SFTPClient


def _text(path: str | bytes) -> str:
    """A remote path given as ``str`` or ``bytes``, as ``str``."""
    return path_str(path) if isinstance(path, bytes) else path


def _as_str(path: str | bytes) -> str:
    """A path as ``str``."""
    return path_str(path) if isinstance(path, bytes) else path


def _starts_with_tilde(path: str | bytes) -> bool:
    """Whether ``path`` is a "~" path (left for the server to expand)."""
    return _as_str(path).startswith("~")
