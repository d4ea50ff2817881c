"""Recursive, resumable and preserving transfers behind ``SFTPClient.get``
and ``put`` (``recursive=``, ``preserve=``, ``resume=``).

Many small files are as slow as their round trips when copied one after
another (open, read, close: three waits per file). Here every file is a
small state machine driven by replies: up to ``MAX_FILES`` files are open at
once and their OPEN, READ/WRITE and CLOSE requests share one pipeline, so
the link stays busy whatever the file sizes.

Trees are handled as OpenSSH's ``sftp -r`` handles them: directories are
recreated, regular files copied, symbolic links inside the tree skipped
(logged) unless ``follow_symlinks``, other special files skipped; the
top-level path is always followed.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from logging import Logger
from typing import IO, TYPE_CHECKING, Any

from .attributes import SFTPAttributes
from .errors import SFTPError
from .file import SFTPFile
from .pipeline import Reply, RequestPipe
from .sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_DATA,
    CMD_FSETSTAT,
    CMD_HANDLE,
    CMD_MKDIR,
    CMD_OPEN,
    CMD_READ,
    CMD_SETSTAT,
    CMD_STAT,
    CMD_STATUS,
    CMD_WRITE,
    MAX_REQUEST_SIZE,
    SFTP_EOF,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_READ,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
    U32,
    U64,
    ssh_string,
)

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = ["DirJob", "FileJob", "Plan", "TransferOptions", "get_tree", "put_tree"]

Callback = Callable[[int, int], object]

# Requests in flight, files open at once, and bytes requested or sent but
# not yet answered (the memory a transfer may hold).
WINDOW = 128
MAX_FILES = 64
MAX_INFLIGHT_BYTES = 16 * 1024 * 1024
# The read past a file's expected end that confirms its end: small, as it
# nearly always just answers EOF.
PROBE_SIZE = 4096
# How deep followed symbolic links may lead (as OpenSSH's sftp), so a link
# loop ends.
MAX_DEPTH = 64


@dataclass
class TransferOptions:
    """What ``get``/``put`` were asked for besides the paths."""

    preserve: bool = False
    resume: bool = False
    follow_symlinks: bool = False
    confirm: bool = True
    callback: Callback | None = None
    total_callback: Callback | None = None
    window: int = WINDOW


@dataclass
class FileJob:
    """One regular file to copy: source, destination, and the source's
    size, permission bits and times."""

    src: str
    dst: str
    size: int
    mode: int | None = None
    atime: float | None = None
    mtime: float | None = None
    start: int = 0


@dataclass
class DirJob:
    """One directory to recreate, with the source's mode and times."""

    src: str
    dst: str
    mode: int | None = None
    atime: float | None = None
    mtime: float | None = None
    depth: int = 0


@dataclass
class Plan:
    """Everything a transfer will create, parents before children."""

    dirs: list[DirJob]
    files: list[FileJob]


class _Progress:
    """Bytes done across the whole transfer, reported to ``total_callback``."""

    def __init__(self, total: int, callback: Callback | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback

    def add(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)


def _request_size(client: SFTPClient, reading: bool) -> int:
    """Bytes per READ/WRITE, as ``SFTPFile`` sizes them."""
    if client.limits_announced:
        return client.max_read_size if reading else client.max_write_size
    return max(1024, min(int(SFTPFile.MAX_REQUEST_SIZE), MAX_REQUEST_SIZE))


def file_times(attr: Any) -> tuple[float | None, float | None]:
    """(atime, mtime) of an ``SFTPAttributes`` or ``os.stat_result``."""
    return attr.st_atime, attr.st_mtime


def permission_bits(mode: int | None) -> int | None:
    """The permission bits of ``mode`` (None stays None)."""
    return None if mode is None else stat.S_IMODE(mode)


# -- planning -------------------------------------------------------------------------


def plan_get(client: SFTPClient, remotepath: str, localpath: str, recursive: bool, opts: TransferOptions) -> Plan:
    """What a download of ``remotepath`` to ``localpath`` involves."""
    top = client.stat(remotepath)
    mode = top.st_mode or 0
    if stat.S_ISDIR(mode):
        if not recursive:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), remotepath)
        dst = local_child(localpath, remotepath) if os.path.isdir(localpath) else localpath
        plan = Plan([DirJob(remotepath, dst, permission_bits(top.st_mode), *file_times(top))], [])
        _scan_remote(client, plan, remotepath, dst, opts, 0)
        return plan
    if top.st_mode is not None and not stat.S_ISREG(mode):
        raise OSError(f"Cannot download non-regular file: {remotepath}")
    dst = local_child(localpath, remotepath) if recursive and os.path.isdir(localpath) else localpath
    return Plan([], [FileJob(remotepath, dst, top.st_size or 0, permission_bits(top.st_mode), *file_times(top))])


def local_child(localdir: str, remotepath: str) -> str:
    """Where remote ``remotepath`` goes inside local directory ``localdir``."""
    base = posixpath.basename(remotepath.rstrip("/"))
    return localdir if base in ("", ".", "..") else os.path.join(localdir, base)


def _scan_remote(client: SFTPClient, plan: Plan, src: str, dst: str, opts: TransferOptions, depth: int) -> None:
    """Add the contents of remote directory ``src`` (copied to ``dst``)."""
    for attr in client.listdir_attr(src):
        s = posixpath.join(src, attr.filename)
        d = os.path.join(dst, attr.filename)
        mode = attr.st_mode or 0
        if stat.S_ISLNK(mode):
            if not opts.follow_symlinks:
                client.logger.info('download "%s": not a regular file', s)
                continue
            try:
                attr = client.stat(s)
            except OSError:
                client.logger.info('remote stat "%s" failed', s)
                continue
            mode = attr.st_mode or 0
        if stat.S_ISDIR(mode):
            if depth + 1 > MAX_DEPTH:
                raise OSError(f'Maximum directory depth exceeded: "{s}"')
            plan.dirs.append(DirJob(s, d, permission_bits(attr.st_mode), *file_times(attr), depth=depth + 1))
            _scan_remote(client, plan, s, d, opts, depth + 1)
        elif stat.S_ISREG(mode):
            plan.files.append(FileJob(s, d, attr.st_size or 0, permission_bits(attr.st_mode), *file_times(attr)))
        else:
            client.logger.info('download "%s": not a regular file', s)


def plan_put(client: SFTPClient, localpath: str, remotepath: str, recursive: bool, opts: TransferOptions) -> Plan:
    """What an upload of ``localpath`` to ``remotepath`` involves."""
    st = os.stat(localpath)
    if stat.S_ISDIR(st.st_mode):
        if not recursive:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), localpath)
        dst = _remote_child(client, remotepath, localpath)
        plan = Plan([DirJob(localpath, dst, permission_bits(st.st_mode), st.st_atime, st.st_mtime)], [])
        scan_local(client.logger, plan, localpath, dst, opts, 0)
        return plan
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"Cannot upload non-regular file: {localpath}")
    dst = _remote_child(client, remotepath, localpath) if recursive else remotepath
    return Plan([], [FileJob(localpath, dst, st.st_size, permission_bits(st.st_mode), st.st_atime, st.st_mtime)])


def _remote_child(client: SFTPClient, remotepath: str, localpath: str) -> str:
    """``remotepath/<name of localpath>`` if ``remotepath`` is an existing
    directory, else ``remotepath``."""
    try:
        isdir = stat.S_ISDIR(client.stat(remotepath).st_mode or 0)
    except OSError:
        return remotepath
    base = os.path.basename(os.path.normpath(localpath))
    if not isdir or base in ("", ".", "..", os.sep):
        return remotepath
    return posixpath.join(remotepath, base)


def scan_local(logger: Logger, plan: Plan, src: str, dst: str, opts: TransferOptions, depth: int) -> None:
    """Add the contents of local directory ``src`` (copied to ``dst``) to
    ``plan``; what is skipped is logged to ``logger``. Shared by the threaded
    and the asyncio client."""
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        s = entry.path
        d = posixpath.join(dst, entry.name)
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                if not opts.follow_symlinks:
                    logger.info("%s: not a regular file", s)
                    continue
                st = os.stat(s)
        except OSError as exc:
            logger.info('local stat "%s": %s', s, exc)
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth + 1 > MAX_DEPTH:
                raise OSError(f'Maximum directory depth exceeded: "{s}"')
            plan.dirs.append(DirJob(s, d, permission_bits(st.st_mode), st.st_atime, st.st_mtime, depth=depth + 1))
            scan_local(logger, plan, s, d, opts, depth + 1)
        elif stat.S_ISREG(st.st_mode):
            plan.files.append(FileJob(s, d, st.st_size, permission_bits(st.st_mode), st.st_atime, st.st_mtime))
        else:
            logger.info("%s: not a regular file", s)


# -- the engine -------------------------------------------------------------------------


class _Xfer(ABC):
    """One file in flight: its requests outstanding and its local file."""

    def __init__(self, engine: _Engine, job: FileJob) -> None:
        self.engine = engine
        self.job = job
        self.pending = 0
        self.hstr: bytes | None = None
        self.fh: IO[bytes] | None = None
        self.closing = False
        self.failed = False
        self.finished = False
        self.hungry = False
        self.moved = 0  # bytes of this file transferred so far

    def send(self, kind: str, t: int, *parts: bytes | bytearray | memoryview, off: int = 0, n: int = 0) -> None:
        """Send a request for this file; ``n`` bytes count as in flight."""
        self.pending += 1
        self.engine.inflight += n
        try:
            self.engine.pipe.send((self, kind, off, n), t, *parts)
        except BaseException:
            self.pending -= 1
            self.engine.inflight -= n
            raise

    def close_remote(self) -> None:
        """Send CLOSE for the handle (once)."""
        if self.hstr is not None and not self.closing:
            self.closing = True
            self.send("close", CMD_CLOSE, self.hstr)

    def close_local(self) -> None:
        if self.fh is not None:
            fh, self.fh = self.fh, None
            fh.close()

    def fail(self, exc: BaseException) -> None:
        """Stop this file; remember the first failure of the transfer."""
        if self.engine.error is None:
            self.engine.error = exc
        self.failed = True
        self.close_local()
        self.close_remote()
        if self.hstr is None and not self.pending:
            self.finished = True

    def report(self, position: int) -> None:
        """Per-file progress: bytes present at the destination, file size."""
        cb = self.engine.opts.callback
        if cb is not None:
            cb(position, max(self.job.size, position))

    @abstractmethod
    def start(self) -> None:
        """Send the first requests (OPEN)."""

    @abstractmethod
    def top_up(self) -> None:
        """Send more data requests while the pipeline has room."""

    @abstractmethod
    def on_reply(self, kind: str, reply: Reply, off: int, n: int) -> None:
        """Handle the reply to this file's request ``kind`` at ``off``."""


class _Engine:
    """Runs many ``_Xfer`` at once over one ``RequestPipe``."""

    def __init__(self, client: SFTPClient, opts: TransferOptions, progress: _Progress) -> None:
        self.client = client
        self.opts = opts
        self.progress = progress
        self.pipe = RequestPipe(client, opts.window)
        self.inflight = 0
        self.error: BaseException | None = None
        self.hungry: deque[_Xfer] = deque()
        handles = client.max_open_handles
        self.max_files = MAX_FILES if not handles else max(1, min(MAX_FILES, handles // 2))
        self.live: set[_Xfer] = set()

    def room(self, n: int) -> bool:
        """Whether one more data request of ``n`` bytes may go now."""
        return not self.pipe.full() and (self.inflight == 0 or self.inflight + n <= MAX_INFLIGHT_BYTES)

    def wait_for_room(self, x: _Xfer) -> None:
        """``x`` has more to send once requests are answered."""
        if not x.hungry:
            x.hungry = True
            self.hungry.append(x)

    def run(self, xfers: Iterable[_Xfer]) -> None:
        """Drive every transfer to its end; raise the first failure."""
        queue = deque(xfers)
        self.pipe.since = time.monotonic()
        try:
            while True:
                for _ in range(len(self.hungry)):
                    if not self.room(0):
                        break
                    x = self.hungry.popleft()
                    x.hungry = False
                    if not x.failed:
                        x.top_up()
                while queue and self.error is None and len(self.live) < self.max_files and not self.pipe.full():
                    x = queue.popleft()
                    self.live.add(x)
                    try:
                        x.start()
                    except OSError as exc:
                        x.fail(exc)
                    self._settle(x)
                if not self.pipe.outstanding:
                    break
                try:
                    reply = self.pipe.next()
                except (OSError, SFTPError):
                    if self.error is None:
                        raise
                    raise self.error from None  # the first failure, not its echo
                x, kind, off, n = reply.ctx
                x.pending -= 1
                self.inflight -= n
                try:
                    x.on_reply(kind, reply, off, n)
                except (OSError, SFTPError, EOFError) as exc:
                    x.fail(exc)
                self._settle(x)
        finally:
            if self.pipe.outstanding:
                self.pipe.drain()
            for x in self.live:
                x.close_local()
        if self.error is not None:
            raise self.error

    def _settle(self, x: _Xfer) -> None:
        if x.finished and not x.pending:
            self.live.discard(x)


class _Get(_Xfer):
    """Download of one file: OPEN, READs (the last one past the expected
    end, to see end of file), CLOSE."""

    def __init__(self, engine: _Engine, job: FileJob) -> None:
        super().__init__(engine, job)
        self.next = job.start
        self.hint = job.size
        self.eof: int | None = None
        self.probe_at: int | None = None
        self.retry: list[tuple[int, int]] = []
        self.chunk = _request_size(engine.client, True)

    def start(self) -> None:
        p = self.engine.client.remote_path(self.job.src)
        self.send("open", CMD_OPEN, ssh_string(p), U32.pack(SFTP_FLAG_READ), SFTPAttributes().asbytes())

    def _open_local(self) -> None:
        job = self.job
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)
        if not job.start:
            flags |= os.O_TRUNC
        mode = (job.mode & 0o777) | stat.S_IWUSR if job.mode is not None else 0o666
        fd = os.open(job.dst, flags, mode)
        self.fh = os.fdopen(fd, "wb")
        if job.start:
            self.fh.seek(job.start)

    def top_up(self) -> None:
        engine = self.engine
        while self.retry:
            if not engine.room(self.retry[-1][1]):
                engine.wait_for_room(self)
                return
            off, n = self.retry.pop()
            self._read(off, n)
        while True:
            limit = self.hint if self.eof is None else min(self.hint, self.eof)
            if self.next < limit:
                n = min(self.chunk, limit - self.next)
            elif self.eof is None and self.probe_at is None:
                n = PROBE_SIZE
            else:
                break
            if not engine.room(n):
                engine.wait_for_room(self)
                return
            if self.next >= limit:
                self.probe_at = self.next
            self._read(self.next, n)
            self.next += n
        if not self.pending:
            self._complete()

    def _read(self, off: int, n: int) -> None:
        assert self.hstr is not None
        self.send("read", CMD_READ, self.hstr, U64.pack(off), U32.pack(n), off=off, n=n)

    def on_reply(self, kind: str, reply: Reply, off: int, n: int) -> None:
        if kind == "open":
            if reply.t == CMD_HANDLE:
                self.hstr = ssh_string(reply.message().get_string())
                if self.failed:
                    self.close_remote()
                    return
                self._open_local()
                self.top_up()
                return
            reply.expect(CMD_HANDLE, self.job.src)
        elif kind == "close":
            self.finished = True
            if not self.failed:
                err = reply.error(self.job.src)
                if err is not None:
                    raise err
        elif not self.failed:
            self._on_read(reply, off, n)

    def _on_read(self, reply: Reply, off: int, n: int) -> None:
        probe = off == self.probe_at
        if probe:
            self.probe_at = None
        if reply.t == CMD_DATA:
            msg = reply.message()
            data = msg.get_string()
            if len(data) > n:
                raise SFTPError("Malformed data reply")
            if not data:
                self._saw_eof(off)
            else:
                assert self.fh is not None
                if self.fh.tell() != off:
                    self.fh.seek(off)
                self.fh.write(data)
                self.moved += len(data)
                self.engine.progress.add(len(data))
                self.report(self.job.start + self.moved)
                if probe and len(data) == n:
                    # the file grew since it was listed: read on in big requests
                    self.hint = max(self.hint, off + n + 4 * self.chunk)
                elif off >= self.hint:
                    self.hint = max(self.hint, off + len(data))
                if len(data) < n:
                    self.retry.append((off + len(data), n - len(data)))
        elif reply.t == CMD_STATUS:
            code, text = reply.status()
            if code != SFTP_EOF:
                err = reply.error(self.job.src)
                raise err if err is not None else SFTPError(text or "read failed")
            self._saw_eof(off)
        else:
            raise SFTPError("Expected data reply")
        self.top_up()

    def _saw_eof(self, off: int) -> None:
        if self.eof is None or off < self.eof:
            self.eof = off

    def _complete(self) -> None:
        """Every read answered and the end seen: finish the local copy and
        close the remote handle."""
        if self.closing or self.failed:
            return
        end = self.eof if self.eof is not None else self.next
        if self.job.start + self.moved < end:
            raise SFTPError(f"Short read from {self.job.src}")
        assert self.fh is not None
        self.fh.truncate(end)
        self.close_local()
        if not self.moved:
            self.report(self.job.start)
        job = self.job
        if self.engine.opts.preserve:
            if job.mode is not None:
                os.chmod(job.dst, job.mode)
            if job.atime is not None and job.mtime is not None:
                os.utime(job.dst, (job.atime, job.mtime))
        self.close_remote()


class _Put(_Xfer):
    """Upload of one file: (STAT to resume), OPEN, WRITEs, then (FSETSTAT),
    CLOSE and (STAT to confirm the size)."""

    def __init__(self, engine: _Engine, job: FileJob) -> None:
        super().__init__(engine, job)
        self.remote = engine.client.remote_path(job.dst)
        self.offset = 0
        self.stat_done = not engine.opts.resume
        self.local_eof = False
        self.began = False
        self.attrs: SFTPAttributes | None = None
        self.chunk = _request_size(engine.client, False)

    def start(self) -> None:
        self.fh = open(self.job.src, "rb")  # noqa: SIM115 (closed by close_local)
        if self.engine.opts.resume:
            self.send("stat", CMD_STAT, ssh_string(self.remote))
        flags = SFTP_FLAG_WRITE | SFTP_FLAG_CREATE
        if not self.engine.opts.resume:
            flags |= SFTP_FLAG_TRUNC
        attrs = SFTPAttributes()
        if self.job.mode is not None:
            attrs.st_mode = self.job.mode & 0o777
        self.send("open", CMD_OPEN, ssh_string(self.remote), U32.pack(flags), attrs.asbytes())

    def _begin(self) -> None:
        if self.began or self.hstr is None or not self.stat_done:
            return
        self.began = True
        if self.offset > self.job.size:
            raise OSError(f"Unable to resume upload of {self.job.src}: remote file is larger than local")
        if self.offset:
            assert self.fh is not None
            self.fh.seek(self.offset)
            self.engine.progress.add(self.offset)
        self.top_up()

    def top_up(self) -> None:
        engine = self.engine
        while not self.local_eof:
            if not engine.room(self.chunk):
                engine.wait_for_room(self)
                return
            assert self.fh is not None and self.hstr is not None
            data = self.fh.read(self.chunk)
            if not data:
                self.local_eof = True
                break
            n = len(data)
            self.send("write", CMD_WRITE, self.hstr, U64.pack(self.offset), U32.pack(n), data, off=self.offset, n=n)
            self.offset += n
        if not self.pending:
            self._finish()

    def _finish(self) -> None:
        """All data acknowledged: set attributes, close, and check the size."""
        if self.closing or self.failed:
            return
        self.close_local()
        if not self.moved:
            self.report(self.offset)
        job = self.job
        assert self.hstr is not None
        if self.engine.opts.preserve:
            attrs = SFTPAttributes()
            if job.mode is not None:
                attrs.st_mode = job.mode
            if job.atime is not None and job.mtime is not None:
                attrs.st_atime, attrs.st_mtime = int(job.atime), int(job.mtime)
            self.send("setstat", CMD_FSETSTAT, self.hstr, attrs.asbytes())
        self.close_remote()
        if self.engine.opts.confirm:
            self.send("confirm", CMD_STAT, ssh_string(self.remote))

    def on_reply(self, kind: str, reply: Reply, off: int, n: int) -> None:
        if kind == "stat":
            if reply.t == CMD_ATTRS:
                self.offset = SFTPAttributes._from_msg(reply.message()).st_size or 0
            self.stat_done = True
            if not self.failed:
                self._begin()
        elif kind == "open":
            if reply.t == CMD_HANDLE:
                self.hstr = ssh_string(reply.message().get_string())
                if self.failed:
                    self.close_remote()
                    return
                self._begin()
                return
            self.finished = True
            reply.expect(CMD_HANDLE, self.job.dst)
        elif kind == "write":
            if self.failed:
                return
            err = reply.error(self.job.dst)
            if err is not None:
                raise err
            self.moved += n
            self.engine.progress.add(n)
            self.report(off + n)
            self.top_up()
        elif kind in ("setstat", "close"):
            if kind == "close":
                self.finished = True
            err = reply.error(self.job.dst)
            if err is not None and not self.failed:
                raise err
        elif kind == "confirm" and not self.failed:
            attrs = SFTPAttributes._from_msg(reply.expect(CMD_ATTRS, self.job.dst))
            if attrs.st_size != self.offset:
                raise OSError(f"size mismatch in put!  {attrs.st_size} != {self.offset}")
            self.attrs = attrs


# -- whole operations -------------------------------------------------------------------


def get_tree(client: SFTPClient, remotepath: str, localpath: str, recursive: bool, opts: TransferOptions) -> None:
    """Download ``remotepath`` (a file, or with ``recursive`` a tree) to
    ``localpath``; see ``SFTPClient.get``."""
    plan = plan_get(client, remotepath, localpath, recursive, opts)
    for d in plan.dirs:
        mode = 0o777 if d.mode is None else (d.mode & 0o1777) | stat.S_IWUSR | stat.S_IXUSR
        try:
            os.mkdir(d.dst, mode)
        except FileExistsError:
            if not os.path.isdir(d.dst):
                raise
    if opts.resume:
        for f in plan.files:
            try:
                have = os.stat(f.dst).st_size
            except FileNotFoundError:
                continue
            if have > f.size:
                raise OSError(f'Unable to resume download of "{f.src}": local file is larger than remote')
            f.start = have
    progress = _Progress(sum(f.size for f in plan.files), opts.total_callback)
    if any(f.start for f in plan.files):
        progress.add(sum(f.start for f in plan.files))
    engine = _Engine(client, opts, progress)
    engine.run(_Get(engine, f) for f in plan.files)
    for d in reversed(plan.dirs):
        if d.mode is None:
            continue
        if opts.preserve:
            os.chmod(d.dst, d.mode)
            if d.atime is not None and d.mtime is not None:
                os.utime(d.dst, (d.atime, d.mtime))
        elif d.mode & (stat.S_IWUSR | stat.S_IXUSR) != stat.S_IWUSR | stat.S_IXUSR:
            os.chmod(d.dst, d.mode & 0o1777)


def put_tree(
    client: SFTPClient, localpath: str, remotepath: str, recursive: bool, opts: TransferOptions
) -> SFTPAttributes:
    """Upload ``localpath`` (a file, or with ``recursive`` a tree) to
    ``remotepath``; see ``SFTPClient.put``. Returns the attributes of the
    copy (of the top directory for a tree) when ``confirm``."""
    plan = plan_put(client, localpath, remotepath, recursive, opts)
    _make_remote_dirs(client, plan.dirs, opts)
    progress = _Progress(sum(f.size for f in plan.files), opts.total_callback)
    engine = _Engine(client, opts, progress)
    xfers = [_Put(engine, f) for f in plan.files]
    engine.run(xfers)
    if opts.preserve and plan.dirs:
        _set_remote_dir_attrs(client, plan.dirs)
    if plan.dirs:
        return client.stat(plan.dirs[0].dst) if opts.confirm else SFTPAttributes()
    return xfers[0].attrs or SFTPAttributes()


def _make_remote_dirs(client: SFTPClient, dirs: list[DirJob], opts: TransferOptions) -> None:
    """MKDIR every directory, one depth level at a time (a level's requests
    pipelined); one that exists already as a directory is fine."""
    by_depth: dict[int, list[DirJob]] = {}
    for d in dirs:
        by_depth.setdefault(d.depth, []).append(d)
    for depth in sorted(by_depth):
        failed: list[tuple[DirJob, BaseException]] = []
        pipe = RequestPipe(client, opts.window)
        for d in by_depth[depth]:
            attrs = SFTPAttributes()
            if d.mode is not None:
                attrs.st_mode = (d.mode & 0o777) | stat.S_IWUSR | stat.S_IXUSR
            pipe.send(d, CMD_MKDIR, ssh_string(client.remote_path(d.dst)), attrs.asbytes())
            while pipe.full():
                _note_failure(pipe.next(), failed)
        while pipe.outstanding:
            _note_failure(pipe.next(), failed)
        for d, exc in failed:
            try:
                isdir = stat.S_ISDIR(client.stat(d.dst).st_mode or 0)
            except OSError:
                isdir = False
            if not isdir:
                raise exc


def _note_failure(reply: Reply, failed: list[tuple[DirJob, BaseException]]) -> None:
    err = reply.error(reply.ctx.dst)
    if err is not None:
        failed.append((reply.ctx, err))


def _set_remote_dir_attrs(client: SFTPClient, dirs: list[DirJob]) -> None:
    """SETSTAT each directory's mode and times (deepest first), pipelined."""
    pipe = RequestPipe(client)
    errors: list[BaseException] = []

    def take() -> None:
        reply = pipe.next()
        err = reply.error(reply.ctx)
        if err is not None:
            errors.append(err)

    for d in sorted(dirs, key=lambda d: -d.depth):
        attrs = SFTPAttributes()
        if d.mode is not None:
            attrs.st_mode = d.mode
        if d.atime is not None and d.mtime is not None:
            attrs.st_atime, attrs.st_mtime = int(d.atime), int(d.mtime)
        pipe.send(d.dst, CMD_SETSTAT, ssh_string(client.remote_path(d.dst)), attrs.asbytes())
        while pipe.full():
            take()
    while pipe.outstanding:
        take()
    if errors:
        raise errors[0]
