"""``SFTPClient`` for asyncio: the file-system API of SFTP v3 (the same
operations, names and exceptions as the threaded ``ssh_sftp.SFTPClient``,
as coroutines) over a pair of asyncio-like streams (a reader with ``async
read(n)``, a writer with ``write``/``async drain``/``close``).

The request plumbing (ids, pending replies, the reader task) is
``RequestSession`` (``ssh_sftp.aio.session``); any number of tasks may use
one client at once.
"""

from __future__ import annotations

import errno
import inspect
import logging
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import IO, Any, TypeVar

from ssh_wire import Message

from .. import operations as ops
from ..attributes import SFTPAttributes
from ..errors import SFTPOSError, status_to_exception
from ..limits import SFTPLimits
from ..operations import check_status, expect_reply, parse_status
from ..sftp import (
    CMD_CLOSE,
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
    path_str,
    ssh_string,
)
from ..statvfs import SFTPStatVFS
from . import dirs
from .dirs import WalkEntry
from .file import SFTPFile
from .session import RequestSession, StreamReader, StreamWriter

__all__ = ["SFTPClient", "StreamReader", "StreamWriter", "open_sftp"]

Callback = Callable[[int, int], object]

# Without limits@openssh.com every server takes 32 KiB reads and writes.
DEFAULT_REQUEST_SIZE = ops.DEFAULT_REQUEST_SIZE
# READDIR requests kept in flight while listing a directory.
_READDIR_AHEAD = 8

_T = TypeVar("_T")


class SFTPClient:
    """An asyncio SFTP session: the same operations, names and exceptions
    as ``ssh_sftp.SFTPClient``, as coroutines. Make one with
    ``await SFTPClient.from_streams(reader, writer)`` or ``open_sftp``."""

    def __init__(self, reader: StreamReader, writer: StreamWriter) -> None:
        """Wrap the streams; use ``from_streams``, which also runs the
        version exchange and starts the reader task."""
        self.logger = logging.getLogger("paramiko.sftp")
        #: the request plumbing: ids, replies, the reader task (its
        #: ``send``/``drain``/``request`` are what ``SFTPFile`` uses)
        self.session = RequestSession(reader, writer, self.logger)
        self._cwd: str | None = None
        self.server_version = 0
        self.server_extensions: dict[str, bytes] = {}
        self.max_read_size = DEFAULT_REQUEST_SIZE
        self.max_write_size = DEFAULT_REQUEST_SIZE
        self.limits_announced = False
        self.max_open_handles: int | None = None

    @classmethod
    async def from_streams(cls, reader: StreamReader, writer: StreamWriter) -> SFTPClient:
        """Start SFTP on the streams: INIT/VERSION, then the server's limits
        when it offers limits@openssh.com. ``SFTPError`` if the peer does
        not answer as an SFTP server."""
        self = cls(reader, writer)
        try:
            self.server_version, self.server_extensions = await self.session.handshake()
        except BaseException:
            self.session.abandon()
            raise
        self.session.start_reading()
        if EXT_LIMITS in self.server_extensions:
            await self._ask_limits()
        return self

    async def __aenter__(self) -> SFTPClient:
        """Use the client in ``async with``; it is closed at the end."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the session when the block ends."""
        await self.close()

    def __repr__(self) -> str:
        """Class name and the writer it sends on."""
        return f"<aio.SFTPClient on {self.session.writer!r}>"

    async def _ask_limits(self) -> None:
        """Size requests from the server's limits@openssh.com reply (as the
        threaded client does)."""
        sizes = await self._call(ops.request_sizes())
        self.max_read_size, self.max_write_size = sizes.max_read, sizes.max_write
        self.max_open_handles = sizes.max_handles
        self.limits_announced = sizes.announced

    async def _call(self, call: ops.Call[_T]) -> _T:
        """Send one operation's request and read its reply."""
        return call.parse(*await self.session.request(call.type, *call.parts))

    def require_extension(self, name: str) -> None:
        """Raise ``OSError(EOPNOTSUPP)`` unless the server offers extension
        ``name`` (as the threaded client's)."""
        if name not in self.server_extensions:
            raise OSError(errno.EOPNOTSUPP, f"server does not support {name}")

    # -- session -----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the session is over (closed here or dropped)."""
        return self.session.closed

    async def close(self) -> None:
        """End the session and close the writer; requests still waiting
        fail with ``SFTPError``, later ones with ``OSError("Socket is
        closed")``."""
        await self.session.close()

    # -- paths -------------------------------------------------------------------

    def _adjust_cwd(self, path: str | bytes) -> str:
        """``path`` relative to the emulated working directory."""
        return ops.join_cwd(self._cwd, path)

    async def chdir(self, path: str | bytes | None = None) -> None:
        """Change the (emulated) working directory; None resets it."""
        if path is None:
            self._cwd = None
            return
        attr = await self.stat(path)
        if attr.st_mode is not None and not stat.S_ISDIR(attr.st_mode):
            p = path if isinstance(path, str) else path_str(path)
            raise SFTPOSError(errno.ENOTDIR, f"{os.strerror(errno.ENOTDIR)}: {p}")
        self._cwd = await self.normalize(path)

    def getcwd(self) -> str | None:
        """The working directory set by ``chdir``; None if never set."""
        return self._cwd

    async def normalize(self, path: str | bytes) -> str:
        """The server's canonical absolute form of ``path``."""
        return await self._call(ops.realpath(self._adjust_cwd(path)))

    # -- directories -------------------------------------------------------------

    async def listdir(self, path: str | bytes = ".") -> list[str]:
        """The names in directory ``path`` (without "." and "..")."""
        return [a.filename for a in await self.listdir_attr(path)]

    async def listdir_attr(self, path: str | bytes = ".") -> list[SFTPAttributes]:
        """``SFTPAttributes`` (with ``filename`` and ``longname``) for each
        entry of ``path``, without "." and ".."."""
        return [a async for a in self.listdir_iter(path)]

    async def listdir_iter(
        self, path: str | bytes = ".", read_aheads: int = _READDIR_AHEAD
    ) -> AsyncIterator[SFTPAttributes]:
        """The entries of ``path`` as the server sends them, with up to
        ``read_aheads`` READDIR requests in flight."""
        p = self._adjust_cwd(path)
        handle = await self._call(ops.opendir(p))
        hstr = ssh_string(handle)
        pending = [self.session.send(CMD_READDIR, hstr) for _ in range(max(1, read_aheads))]
        done = False
        try:
            await self.session.drain()
            while pending:
                rt, body = await pending.pop(0)
                reply = Message(body[4:], strict=True)
                if rt == CMD_STATUS:
                    code, text = parse_status(reply)
                    if code == SFTP_EOF:
                        break
                    raise status_to_exception(code, text, p)
                reply = expect_reply(rt, reply, CMD_NAME, p)
                pending.append(self.session.send(CMD_READDIR, hstr))
                for attr in ops.parse_names(reply):
                    if attr.filename not in (".", ".."):
                        yield attr
            done = True
        finally:
            if done and self.session.dropped is None:
                for fut in pending:
                    await fut
                check_status(*await self.session.request(CMD_CLOSE, hstr), p)
            else:
                self.session.close_handle_nowait(hstr)

    async def mkdir(self, path: str | bytes, mode: int = 0o777) -> None:
        """Create directory ``path`` with permission bits ``mode``."""
        await self._call(ops.mkdir(self._adjust_cwd(path), mode))

    async def rmdir(self, path: str | bytes) -> None:
        """Remove the empty directory ``path``."""
        await self._call(ops.rmdir(self._adjust_cwd(path)))

    async def makedirs(self, path: str | bytes, mode: int = 0o777, exist_ok: bool = False) -> None:
        """``os.makedirs`` on the server (``FileExistsError`` if ``path``
        exists, unless ``exist_ok`` and it is a directory)."""
        await dirs.makedirs(self, _text(path), mode, exist_ok)

    async def rmtree(self, path: str | bytes, ignore_errors: bool = False) -> None:
        """``shutil.rmtree`` on the server: links are removed, not followed;
        the removals of one directory run concurrently."""
        await dirs.rmtree(self, _text(path), ignore_errors)

    async def walk(
        self,
        top: str | bytes = ".",
        topdown: bool = True,
        onerror: Callable[[OSError], object] | None = None,
        followlinks: bool = False,
    ) -> AsyncIterator[WalkEntry]:
        """``os.walk`` on the server, as an async iterator of ``(dirpath,
        dirnames, filenames)``; a link to a directory is listed in
        dirnames but entered only with ``followlinks``."""
        async for entry in dirs.walk(self, _text(top), topdown, onerror, followlinks):
            yield entry

    # -- files -------------------------------------------------------------------

    async def open(self, filename: str | bytes, mode: str = "r") -> SFTPFile:
        """Open a remote file: mode 'r', 'w' (create or truncate), 'a'
        (append), 'x' (create, fail if it exists), with '+' for update; data
        is always ``bytes`` ('b' is accepted and changes nothing)."""
        p = self._adjust_cwd(filename)
        handle = await self._call(ops.open_file(p, mode))
        f = SFTPFile(self, handle, mode, p)
        if "a" in mode:
            try:
                await f.seek(0, os.SEEK_END)
            except BaseException:
                await f.close()
                raise
        return f

    file = open

    async def remove(self, path: str | bytes) -> None:
        """Delete file ``path`` (not a directory)."""
        await self._call(ops.remove(self._adjust_cwd(path)))

    unlink = remove

    async def rename(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """SFTP v3 rename (most servers refuse an existing ``newpath``)."""
        await self._call(ops.rename(self._adjust_cwd(oldpath), self._adjust_cwd(newpath)))

    async def posix_rename(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """Rename replacing ``newpath`` (posix-rename@openssh.com)."""
        old, new = self._adjust_cwd(oldpath), self._adjust_cwd(newpath)
        self.require_extension(EXT_POSIX_RENAME)
        await self._call(ops.posix_rename(old, new))

    async def hardlink(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """Create hard link ``newpath`` to ``oldpath`` (hardlink@openssh.com)."""
        old, new = self._adjust_cwd(oldpath), self._adjust_cwd(newpath)
        self.require_extension(EXT_HARDLINK)
        await self._call(ops.hardlink(old, new))

    async def statvfs(self, path: str | bytes) -> SFTPStatVFS:
        """File-system statistics for ``path`` (statvfs@openssh.com)."""
        p = self._adjust_cwd(path)
        self.require_extension(EXT_STATVFS)
        return await self._call(ops.statvfs(p))

    async def limits(self) -> SFTPLimits:
        """The server's limits (limits@openssh.com)."""
        self.require_extension(EXT_LIMITS)
        return await self._call(ops.limits())

    async def lsetstat(self, path: str | bytes, attr: SFTPAttributes) -> None:
        """Set ``attr``'s fields on ``path`` itself, a link not followed
        (lsetstat@openssh.com)."""
        p = self._adjust_cwd(path)
        self.require_extension(EXT_LSETSTAT)
        await self._call(ops.lsetstat(p, attr))

    async def expand_path(self, path: str | bytes) -> str:
        """``path`` made absolute by the server, "~" forms expanded
        (expand-path@openssh.com)."""
        p = _text(path) if _text(path).startswith("~") else self._adjust_cwd(path)
        self.require_extension(EXT_EXPAND_PATH)
        return await self._call(ops.expand_path(p))

    async def home_directory(self, username: str = "") -> str:
        """The home directory of ``username`` ("" for the user logged in)
        through the home-directory extension."""
        self.require_extension(EXT_HOME_DIRECTORY)
        return await self._call(ops.home_directory(username))

    async def users_groups_by_id(self, uids: Iterable[int], gids: Iterable[int]) -> tuple[list[str], list[str]]:
        """The server's names for ``uids`` and ``gids``, "" where it knows
        none (users-groups-by-id@openssh.com)."""
        self.require_extension(EXT_USERS_GROUPS_BY_ID)
        return await self._call(ops.users_groups_by_id(uids, gids))

    async def copy_data(
        self, source: SFTPFile, dest: SFTPFile, offset: int = 0, length: int = 0, dest_offset: int = 0
    ) -> None:
        """Have the server copy ``length`` bytes (0: to the end) of open file
        ``source`` from ``offset`` into open file ``dest`` at ``dest_offset``
        (copy-data: no data crosses the network)."""
        self.require_extension(EXT_COPY_DATA)
        await dest.flush()
        await self._call(ops.copy_data(source.handle, offset, length, dest.handle, dest_offset))

    async def remote_copy(self, source: str | bytes, dest: str | bytes) -> None:
        """Copy file ``source`` to ``dest`` on the server with ``source``'s
        permissions, through copy-data (as OpenSSH's ``sftp cp``)."""
        self.require_extension(EXT_COPY_DATA)
        mode = (await self.stat(source)).st_mode
        async with await self.open(source, "rb") as src, await self.open(dest, "wb") as dst:
            if mode is not None:
                await self.chmod(dest, mode & 0o7777)
            await self.copy_data(src, dst)

    async def stat(self, path: str | bytes) -> SFTPAttributes:
        """The attributes of ``path``, following symbolic links."""
        return await self._call(ops.stat(self._adjust_cwd(path)))

    async def lstat(self, path: str | bytes) -> SFTPAttributes:
        """The attributes of ``path`` itself (a link is not followed)."""
        return await self._call(ops.lstat(self._adjust_cwd(path)))

    async def symlink(self, source: str | bytes, dest: str | bytes) -> None:
        """Create symbolic link ``dest`` pointing at ``source`` (stored as
        given); the target goes first on the wire, as OpenSSH sends it."""
        src = path_str(source) if isinstance(source, bytes) else source
        await self._call(ops.symlink(src, self._adjust_cwd(dest)))

    async def readlink(self, path: str | bytes) -> str | None:
        """The target of symbolic link ``path``; None if none is named."""
        return await self._call(ops.readlink(self._adjust_cwd(path)))

    async def setstat(self, path: str | bytes, attr: SFTPAttributes) -> None:
        """Set the fields of ``attr`` that are set on ``path`` in one request
        (SETSTAT; ``chmod``, ``utime``... set one field each)."""
        await self._call(ops.setstat(self._adjust_cwd(path), attr))

    async def chmod(self, path: str | bytes, mode: int) -> None:
        """Change the permission bits of ``path``."""
        await self.setstat(path, ops.mode_attr(mode))

    async def chown(self, path: str | bytes, uid: int, gid: int) -> None:
        """Change the owner and group of ``path``."""
        await self.setstat(path, ops.owner_attr(uid, gid))

    async def utime(self, path: str | bytes, times: tuple[float, float] | None) -> None:
        """Set ``(atime, mtime)`` of ``path`` (now if None)."""
        await self.setstat(path, ops.times_attr(times))

    async def truncate(self, path: str | bytes, size: int) -> None:
        """Cut (or extend with zeros) file ``path`` to ``size`` bytes."""
        await self.setstat(path, ops.size_attr(size))

    # -- whole-file transfers -----------------------------------------------------

    async def getfo(
        self,
        remotepath: str | bytes,
        fl: IO[bytes],
        callback: Callback | None = None,
        prefetch: bool = True,
        max_concurrent_prefetch_requests: int | None = None,
    ) -> int:
        """Copy remote ``remotepath`` into open file ``fl`` with many reads
        in flight; ``callback(bytes_so_far, total)`` after each chunk.
        Returns the number of bytes copied. ``fl.write`` is called on the
        loop: a local disk write is short next to the network (handing
        each chunk to a thread was measured slower)."""
        async with await self.open(remotepath, "rb") as fr:
            try:
                file_size = (await fr.stat()).st_size or 0
            except OSError:
                file_size = (await self.stat(remotepath)).st_size or 0
            if prefetch:
                await fr.prefetch(file_size, max_concurrent_prefetch_requests)
            size = 0
            write = fl.write
            while True:
                data = await fr.read_view(self.max_read_size)
                if not data:
                    break
                write(data)
                size += len(data)
                if callback is not None:
                    callback(size, file_size)
            if size == 0 and callback is not None:
                callback(0, file_size)
        return size

    async def get(
        self,
        remotepath: str | bytes,
        localpath: str | os.PathLike[str],
        callback: Callback | None = None,
        prefetch: bool = True,
        max_concurrent_prefetch_requests: int | None = None,
        *,
        recursive: bool = False,
        preserve: bool = False,
        follow_symlinks: bool = False,
    ) -> None:
        """Copy remote ``remotepath`` to ``localpath`` (``OSError`` if the
        copy's size differs). ``recursive`` copies a directory tree as
        ``cp -r`` does (into ``localpath/<name>`` when ``localpath`` is a
        directory), several files at once; ``preserve`` copies modes and
        times; links in a tree are skipped unless ``follow_symlinks``."""
        if recursive or preserve or follow_symlinks:
            from .tree import get_tree

            await get_tree(
                self, _text(remotepath), os.fspath(localpath), recursive, preserve, follow_symlinks, callback
            )
            return
        with open(localpath, "wb") as fl:
            size = await self.getfo(remotepath, fl, callback, prefetch, max_concurrent_prefetch_requests)
        local = os.stat(localpath).st_size
        if local != size:
            raise OSError(f"size mismatch in get!  {local} != {size}")

    async def putfo(
        self,
        fl: IO[bytes],
        remotepath: str | bytes,
        file_size: int = 0,
        callback: Callback | None = None,
        confirm: bool = True,
    ) -> SFTPAttributes:
        """Copy open file ``fl`` to ``remotepath`` with many writes in
        flight; with ``confirm`` stat the result and raise ``OSError`` on a
        size mismatch. Returns the remote attributes."""
        size = 0
        async with await self.open(remotepath, "wb") as fr:
            fr.set_pipelined(True)
            chunk = fr.write_size
            read = fl.read
            while True:
                data = read(chunk)
                if not data:
                    break
                await fr.write(data)
                size += len(data)
                if callback is not None:
                    callback(size, file_size)
            if size == 0 and callback is not None:
                callback(0, file_size)
        if confirm:
            s = await self.stat(remotepath)
            if s.st_size != size:
                raise OSError(f"size mismatch in put!  {s.st_size} != {size}")
            return s
        return SFTPAttributes()

    async def put(
        self,
        localpath: str | os.PathLike[str],
        remotepath: str | bytes,
        callback: Callback | None = None,
        confirm: bool = True,
        *,
        recursive: bool = False,
        preserve: bool = False,
        follow_symlinks: bool = False,
    ) -> SFTPAttributes:
        """Copy local ``localpath`` to ``remotepath``; see ``putfo``. The
        keyword options mirror ``get``'s (a tree goes into
        ``remotepath/<name>`` when ``remotepath`` is a directory)."""
        if recursive or preserve or follow_symlinks:
            from .tree import put_tree

            return await put_tree(
                self, os.fspath(localpath), _text(remotepath), recursive, preserve, follow_symlinks, callback, confirm
            )
        file_size = os.stat(localpath).st_size
        with open(localpath, "rb") as fl:
            return await self.putfo(fl, remotepath, file_size, callback, confirm)


class _OpenSFTP:
    """``open_sftp(conn)``: awaitable (gives the client) and an async
    context manager (closes the client and the subsystem process)."""

    def __init__(self, conn: Any, subsystem: str) -> None:
        """Remember what to start."""
        self._conn = conn
        self._subsystem = subsystem
        self._process: Any = None
        self._client: SFTPClient | None = None

    async def _start(self) -> SFTPClient:
        """Start the subsystem and SFTP on its streams."""
        self._process = await self._conn.start_subsystem(self._subsystem)
        try:
            client = await SFTPClient.from_streams(self._process.stdout, self._process.stdin)
        except BaseException:
            await _close_process(self._process)
            raise
        self._client = client
        return client

    def __await__(self) -> Any:
        """``client = await open_sftp(conn)``."""
        return self._start().__await__()

    async def __aenter__(self) -> SFTPClient:
        """``async with open_sftp(conn) as sftp``."""
        return await self._start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the session and the process it ran in."""
        if self._client is not None:
            await self._client.close()
        if self._process is not None:
            await _close_process(self._process)


async def _close_process(process: Any) -> None:
    """``process.close()``, awaited if it is a coroutine."""
    close = getattr(process, "close", None)
    if callable(close):
        result = close()
        if inspect.isawaitable(result):
            await result


def open_sftp(conn: Any, subsystem: str = "sftp") -> _OpenSFTP:
    """An SFTP session on ``conn``, any connection whose ``await
    conn.start_subsystem("sftp")`` gives a process with ``stdout`` (reader)
    and ``stdin`` (writer): ``async with open_sftp(conn) as sftp: ...`` or
    ``sftp = await open_sftp(conn)``."""
    return _OpenSFTP(conn, subsystem)


def _text(path: str | bytes) -> str:
    """A remote path as ``str``."""
    return path_str(path) if isinstance(path, bytes) else path
