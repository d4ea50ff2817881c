"""``SFTPFile`` for asyncio: a remote file opened by the asyncio
``SFTPClient``, with pipelined writes and a prefetch for sequential reads
(the same request sizes and windows as the threaded ``SFTPFile``)."""

from __future__ import annotations

import asyncio
import os
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING

from ssh_wire import Message

from ..attributes import SFTPAttributes
from ..errors import SFTPError, status_to_exception
from ..file import SFTPFile as _SyncFile
from ..operations import check_status, expect_reply
from ..sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_FSETSTAT,
    CMD_FSTAT,
    CMD_NAMES,
    CMD_READ,
    CMD_STATUS,
    CMD_WRITE,
    EXT_FSYNC,
    MAX_REQUEST_SIZE,
    SFTP_EOF,
    SFTP_OK,
    U32,
    U64,
    ssh_string,
)
from .session import Reply, forget_reply

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = ["SFTPFile"]

_Chunk = bytes | memoryview


class SFTPFile:
    """A file on the SFTP server, for asyncio: ``read``/``write``/``seek``/
    ``stat``/``close`` are coroutines, ``tell`` is not. Data is ``bytes``.
    Writes are pipelined after ``set_pipelined(True)`` (errors then show at
    a later write, ``flush`` or ``close``); ``prefetch`` keeps many READ
    requests in flight for a sequential read."""

    MAX_PIPELINED_WRITES = _SyncFile.MAX_PIPELINED_WRITES
    MAX_PREFETCH_REQUESTS = _SyncFile.MAX_PREFETCH_REQUESTS
    PREFETCH_MEMORY = _SyncFile.PREFETCH_MEMORY
    MAX_PARALLEL_READS = _SyncFile.MAX_PARALLEL_READS
    MAX_REQUEST_SIZE = _SyncFile.MAX_REQUEST_SIZE

    def __init__(self, sftp: SFTPClient, handle: bytes, mode: str = "r", name: str = "") -> None:
        """Wrap an open server ``handle``; made by ``SFTPClient.open``."""
        self.sftp = sftp
        self._session = sftp.session
        self.handle = handle
        self.mode = mode
        self.name = name
        self._hstr = ssh_string(handle)
        self._pos = 0
        self._closed = False
        self.pipelined = False
        self._writes: deque[asyncio.Future[Reply]] = deque()
        self._write_error: BaseException | None = None
        # prefetch: requests in order (offset, length, future); a piece of a
        # reply the caller has not taken yet; the range still to ask for
        self._pf_on = False
        self._pf: deque[tuple[int, int, asyncio.Future[Reply]]] = deque()
        self._pf_left: _Chunk = b""
        self._pf_next = 0
        self._pf_end = 0
        self._pf_max = self.MAX_PREFETCH_REQUESTS
        self._pf_bytes = 0

    def __repr__(self) -> str:
        """Class name and path."""
        return f"<aio.SFTPFile {self.name!r}>"

    async def __aenter__(self) -> SFTPFile:
        """Use in ``async with``; closed at the end."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the file; after a cancellation without waiting for the
        server (the handle's CLOSE is sent, its answer dropped)."""
        if isinstance(exc, asyncio.CancelledError):
            self._close_nowait()
            return
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    # -- sizes -----------------------------------------------------------------------

    @property
    def read_size(self) -> int:
        """Bytes per READ request: the server's limit, else ``MAX_REQUEST_SIZE``."""
        if self.sftp.limits_announced:
            return self.sftp.max_read_size
        return max(1024, min(int(self.MAX_REQUEST_SIZE), MAX_REQUEST_SIZE))

    @property
    def write_size(self) -> int:
        """Bytes per WRITE request: the server's limit, else ``MAX_REQUEST_SIZE``
        (a copying loop reads its source in pieces of this size)."""
        if self.sftp.limits_announced:
            return self.sftp.max_write_size
        return max(1024, min(int(self.MAX_REQUEST_SIZE), MAX_REQUEST_SIZE))

    def _check_open(self) -> None:
        """``ValueError`` on a closed file, as Python files do."""
        if self._closed:
            raise ValueError("I/O operation on closed file")

    # -- reading -----------------------------------------------------------------------

    async def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes from the current position (all that is left
        for a negative or None ``size``); ``b""`` at end of file."""
        self._check_open()
        if size is None or size < 0:
            parts = []
            if not self._pf_on:
                await self.prefetch()
            while True:
                piece = await self.read_view(self.read_size)
                if not piece:
                    break
                parts.append(piece)
            return b"".join(parts)
        return bytes(await self.read_view(size))

    async def read_view(self, size: int) -> bytes | memoryview:
        """``read(size)`` without the copy: the data may be a read-only
        ``memoryview`` into the server's reply (``getfo`` writes it out so)."""
        if size <= 0:
            return b""
        if self._pf_on:
            data = await self._read_prefetch(size)
            if data is not None:
                return data
        return await self._read_direct(size)

    async def _read_direct(self, size: int) -> _Chunk:
        """Up to ``size`` bytes with plain READs (up to
        ``MAX_PARALLEL_READS`` at once for a large ``size``)."""
        chunk = self.read_size
        session = self._session
        reqs: list[tuple[int, asyncio.Future[Reply]]] = []
        off = self._pos
        while off < self._pos + size and len(reqs) < self.MAX_PARALLEL_READS:
            n = min(chunk, self._pos + size - off)
            reqs.append((n, session.send(CMD_READ, self._hstr, U64.pack(off), U32.pack(n))))
            off += n
        await session.drain()
        out: list[_Chunk] = []
        # replies after a short read or EOF are dropped as they come
        for n, fut in reqs:
            data = self._data_of(await fut)
            if data is None:
                break
            out.append(data)
            if len(data) < n:
                break
        got = out[0] if len(out) == 1 else b"".join(out)
        self._pos += len(got)
        return got

    def _data_of(self, reply: Reply) -> _Chunk | None:
        """The data of a READ reply (a view into it); None at EOF; raise
        the error a status stands for."""
        t, body = reply
        if t == CMD_DATA:
            if len(body) < 8:
                raise SFTPError("Truncated data reply")
            n = U32.unpack_from(body, 4)[0]
            if len(body) != 8 + n:
                raise SFTPError("Malformed data reply")
            return memoryview(body)[8:]
        if t == CMD_STATUS:
            msg = Message(body[4:], strict=True)
            code = msg.get_int()
            if code == SFTP_EOF:
                return None
            text = msg.get_string().decode("utf-8", "replace") if msg.remaining() >= 4 else ""
            raise status_to_exception(code, text, self.name)
        raise SFTPError(f"Expected data, got {CMD_NAMES.get(t, t)}")

    # -- prefetch ----------------------------------------------------------------------

    async def prefetch(self, file_size: int | None = None, max_concurrent_requests: int | None = None) -> None:
        """Start fetching from the current position up to ``file_size``
        (stat'ed if not given) with many READs in flight; later reads take
        the data as it arrives. Memory stays bounded (``PREFETCH_MEMORY``)."""
        self._check_open()
        if file_size is None:
            file_size = (await self.stat()).st_size or 0
        self._stop_prefetch()
        self._pf_on = True
        self._pf_next = self._pos
        self._pf_end = file_size
        self._pf_max = max_concurrent_requests or self.MAX_PREFETCH_REQUESTS
        self._pf_fill()

    def _pf_fill(self) -> None:
        """Top the READs in flight up to the request and memory limits."""
        chunk = self.read_size
        send = self._session.send
        while self._pf_next < self._pf_end and len(self._pf) < self._pf_max and self._pf_bytes < self.PREFETCH_MEMORY:
            n = min(chunk, self._pf_end - self._pf_next)
            fut = send(CMD_READ, self._hstr, U64.pack(self._pf_next), U32.pack(n))
            self._pf.append((self._pf_next, n, fut))
            self._pf_next += n
            self._pf_bytes += n

    def _stop_prefetch(self) -> None:
        """Forget the prefetch; replies still due are dropped as they come."""
        self._pf_on = False
        for _off, _n, fut in self._pf:
            fut.add_done_callback(forget_reply)
        self._pf.clear()
        self._pf_left = b""
        self._pf_bytes = 0

    async def _read_prefetch(self, size: int) -> _Chunk | None:
        """Prefetched data at the current position (None: the prefetch is
        over, read directly)."""
        if self._pf_left:
            data = self._pf_left
            if len(data) > size:
                self._pf_left = data[size:]
                data = data[:size]
            else:
                self._pf_left = b""
            self._pos += len(data)
            return data
        if not self._pf:
            self._stop_prefetch()
            return None
        off, n, fut = self._pf[0]
        if off != self._pos:
            self._stop_prefetch()
            return None
        try:
            reply = await fut
        except asyncio.CancelledError:
            self._stop_prefetch()
            raise
        self._pf.popleft()
        self._pf_bytes -= n
        try:
            piece = self._data_of(reply)
        except BaseException:
            self._stop_prefetch()
            raise
        if piece is None:
            self._stop_prefetch()
            return b""
        data = piece
        got = len(data)
        if got == 0 or got > n:
            self._stop_prefetch()
            raise SFTPError(f"Server sent {got} bytes for a read of {n}")
        if got < n:
            # a short read: ask for the rest first, before what follows
            rest = self._session.send(CMD_READ, self._hstr, U64.pack(off + got), U32.pack(n - got))
            self._pf.appendleft((off + got, n - got, rest))
            self._pf_bytes += n - got
        self._pf_fill()
        if got > size:
            self._pf_left = data[size:]
            data = data[:size]
        self._pos += len(data)
        return data

    # -- writing ------------------------------------------------------------------------

    def set_pipelined(self, pipelined: bool = True) -> None:
        """With ``pipelined``, ``write`` does not wait for each answer
        (failures surface at a later write, ``flush`` or ``close``)."""
        self.pipelined = pipelined

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at the current position."""
        self._check_open()
        if self._write_error is not None:
            raise self._write_error
        if self._pf_on:
            self._stop_prefetch()
        view = memoryview(data).cast("B")
        chunk = self.write_size
        session = self._session
        limit = self.MAX_PIPELINED_WRITES if self.pipelined else 0
        for i in range(0, len(view), chunk):
            piece = view[i : i + chunk]
            n = len(piece)
            self._writes.append(session.send(CMD_WRITE, self._hstr, U64.pack(self._pos), U32.pack(n), piece))
            self._pos += n
            await session.drain()
            if len(self._writes) > limit:
                await self._settle(limit)

    async def _settle(self, limit: int) -> None:
        """Wait for answers until at most ``limit`` writes are outstanding;
        raise the first failure."""
        while len(self._writes) > limit:
            fut = self._writes.popleft()
            t, body = await fut
            if t != CMD_STATUS:
                err: BaseException = SFTPError(f"Expected status, got {CMD_NAMES.get(t, t)}")
            else:
                msg = Message(body[4:], strict=True)
                code = msg.get_int()
                if code == SFTP_OK:
                    continue
                text = msg.get_string().decode("utf-8", "replace") if msg.remaining() >= 4 else ""
                err = status_to_exception(code, text, self.name)
            self._write_error = err
            for rest in self._writes:
                rest.add_done_callback(forget_reply)
            self._writes.clear()
            raise err

    async def flush(self) -> None:
        """Wait until every write was answered (raising a failure)."""
        if self._write_error is not None:
            raise self._write_error
        await self._settle(0)

    # -- position and attributes ---------------------------------------------------------

    def tell(self) -> int:
        """The current position."""
        return self._pos

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset`` from the start, the current position or the
        end (``os.SEEK_*``); returns the new position."""
        self._check_open()
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence == os.SEEK_END:
            offset += (await self.stat()).st_size or 0
        elif whence != os.SEEK_SET:
            raise ValueError(f"invalid whence ({whence})")
        if offset < 0:
            raise OSError(22, "Invalid argument")
        if offset != self._pos and self._pf_on:
            self._stop_prefetch()
        self._pos = offset
        return offset

    async def stat(self) -> SFTPAttributes:
        """The file's attributes (FSTAT)."""
        self._check_open()
        t, msg = await self._session.request(CMD_FSTAT, self._hstr)
        return SFTPAttributes._from_msg(expect_reply(t, msg, CMD_ATTRS, self.name))

    async def _fsetstat(self, attr: SFTPAttributes) -> None:
        """FSETSTAT with the fields of ``attr`` that are set."""
        self._check_open()
        await self.flush()
        t, msg = await self._session.request(CMD_FSETSTAT, self._hstr, attr.asbytes())
        check_status(t, msg, self.name)

    async def chmod(self, mode: int) -> None:
        """Change the file's permission bits."""
        attr = SFTPAttributes()
        attr.st_mode = mode
        await self._fsetstat(attr)

    async def truncate(self, size: int) -> None:
        """Cut (or extend) the file to ``size`` bytes."""
        attr = SFTPAttributes()
        attr.st_size = size
        await self._fsetstat(attr)

    async def utime(self, times: tuple[float, float]) -> None:
        """Set ``(atime, mtime)``."""
        attr = SFTPAttributes()
        attr.st_atime, attr.st_mtime = times
        await self._fsetstat(attr)

    async def fsync(self) -> None:
        """Have the server flush the file to disk (fsync@openssh.com)."""
        self._check_open()
        self.sftp.require_extension(EXT_FSYNC)
        await self.flush()
        t, msg = await self._session.request(CMD_EXTENDED, ssh_string(EXT_FSYNC), self._hstr)
        check_status(t, msg, self.name)

    # -- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Wait for outstanding writes, then close the handle (a write
        failure is raised after the handle is closed)."""
        if self._closed:
            return
        self._stop_prefetch()
        failure: BaseException | None = None
        try:
            await self.flush()
        except (OSError, SFTPError) as exc:
            failure = exc
        self._closed = True
        if not self.sftp.closed:
            t, msg = await self._session.request(CMD_CLOSE, self._hstr)
            check_status(t, msg, self.name)
        if failure is not None:
            raise failure

    def _close_nowait(self) -> None:
        """Close without waiting (after a cancellation)."""
        if self._closed:
            return
        self._closed = True
        self._stop_prefetch()
        for fut in self._writes:
            fut.add_done_callback(forget_reply)
        self._writes.clear()
        self._session.close_handle_nowait(self._hstr)
