"""``RequestSession`` for asyncio: numbered SFTP requests and their replies
on a pair of asyncio-like streams.

One reader task owns the incoming stream and resolves, by request id, the
future each request registered; so any number of tasks may send at once,
and a task cancelled while it waits leaves the session usable (its reply,
when it comes, is dropped). ``SFTPClient`` and ``SFTPFile`` build the
file-system API on top; the plumbing lives here so that the API does not
(as ``ssh_sftp.session`` for the threaded client).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from ssh_wire import Message

from ..errors import SOCKET_CLOSED, SFTPError, SFTPOSError
from ..operations import parse_version
from ..sftp import _VERSION, CMD_CLOSE, CMD_INIT, HDR_ID, U32, BaseSFTP, PacketSplitter

__all__ = ["Reply", "RequestSession", "StreamReader", "StreamWriter"]

#: A reply as the reader task hands it over: (packet type, body starting
#: with the request id).
Reply = tuple[int, bytes]

# How much the reader task asks its stream for at a time.
_READ_CHUNK = 1024 * 1024
# A request whose last part is at least this long goes out as two writes
# (header, then the caller's buffer) rather than one joined copy.
_SPLIT_AT = 32768


class StreamReader(Protocol):
    """What the client reads replies from (``asyncio.StreamReader`` fits)."""

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes; ``b""`` at end of stream."""


class StreamWriter(Protocol):
    """What the client sends requests on (``asyncio.StreamWriter`` fits)."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for sending."""

    async def drain(self) -> None:
        """Wait until the queue is small enough to write more."""

    def close(self) -> None:
        """Close the stream."""


def _quiet_fail(fut: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail ``fut`` without asyncio logging "exception never retrieved"
    when nobody awaits it (a prefetch or a close nobody waits for)."""
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()


def forget_reply(fut: asyncio.Future[Any]) -> None:
    """Done callback that retrieves an outcome nobody waits for any more."""
    if not fut.cancelled():
        fut.exception()


class RequestSession:
    """The request/reply multiplexer of one asyncio SFTP client."""

    def __init__(self, reader: StreamReader, writer: StreamWriter, logger: logging.Logger) -> None:
        """Run on the streams; nothing is sent until ``handshake``."""
        self.logger = logger
        self._r = reader
        self._w = writer
        self._splitter = PacketSplitter(BaseSFTP.MAX_PACKET)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._drain_lock = asyncio.Lock()
        self._next_id = 1
        self._reader_task: asyncio.Task[None] | None = None
        self._closed = False
        self._dropped: str | None = None
        self._stream_gone = False

    @property
    def writer(self) -> StreamWriter:
        """The stream requests go out on."""
        return self._w

    async def handshake(self) -> tuple[int, dict[str, bytes]]:
        """INIT/VERSION exchange: the server's version and extensions
        (``SFTPError`` if the peer does not answer as an SFTP server)."""
        self._w.write(b"".join((U32.pack(5), bytes((CMD_INIT,)), U32.pack(_VERSION))))
        await self._w.drain()
        packets: list[tuple[int, bytes]] = []
        while not packets:
            data = await self._r.read(_READ_CHUNK)
            if not data:
                raise SFTPError("EOF during negotiation")
            packets = self._splitter.feed(data)
        t, body = packets[0]
        if len(packets) > 1:
            raise SFTPError("Unexpected packet after version")
        return parse_version(t, body)

    def start_reading(self) -> None:
        """Start the task that routes replies (after ``handshake``)."""
        self._reader_task = asyncio.get_running_loop().create_task(self._reader_main(), name="sftp-aio-reader")

    async def _reader_main(self) -> None:
        """Resolve each reply's future until the stream ends or the server
        sends something unusable."""
        why = "Server connection dropped"
        gone = True
        try:
            while True:
                data = await self._r.read(_READ_CHUNK)
                if not data:
                    return
                for t, body in self._splitter.feed(data):
                    if len(body) < 4:
                        why, gone = "Truncated reply from server", False
                        return
                    num = U32.unpack_from(body)[0]
                    fut = self._pending.pop(num, None)
                    if fut is None:
                        why, gone = f"Reply to unknown request {num}", False
                        return
                    if not fut.done():
                        fut.set_result((t, body))
        except SFTPError as exc:
            why, gone = str(exc), False
        except (EOFError, OSError) as exc:
            why = f"Server connection dropped: {exc}" if str(exc) else why
        except asyncio.CancelledError:
            why = "SFTP session closed"
        except Exception as exc:  # a bug here must not leave waiters hanging
            self.logger.exception("sftp reader failed")
            why, gone = f"SFTP reader failed: {exc!r}", False
        finally:
            self._drop("SFTP session closed" if self._closed else why, gone)

    # -- the session's state ----------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the session is over (closed here or dropped)."""
        return self._closed or self._dropped is not None

    @property
    def dropped(self) -> str | None:
        """Why the session ended (None while it runs)."""
        return self._dropped

    def _drop(self, why: str, stream_gone: bool) -> None:
        """The session is over: fail every waiter, and every later request."""
        if self._dropped is None:
            self._dropped = why
        if stream_gone:
            self._stream_gone = True
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            _quiet_fail(fut, SFTPError(self._dropped))

    def dropped_error(self) -> Exception:
        """What a request on a session that is over raises (as the threaded
        client): ``OSError("Socket is closed")`` (also an ``SFTPError``)
        once closed or the stream ended, else ``SFTPError`` with the reason."""
        if self._closed or self._stream_gone:
            return SFTPOSError(SOCKET_CLOSED)
        return SFTPError(self._dropped or SOCKET_CLOSED)

    # -- requests -----------------------------------------------------------------------

    def send(self, t: int, *parts: bytes | bytearray | memoryview) -> asyncio.Future[Reply]:
        """Number and send one request (without waiting to drain); the
        future resolves to (type, body starting with the request id).
        Each request is written whole before any other task can write."""
        if self._dropped is not None or self._closed:
            raise self.dropped_error()
        num = self._next_id
        self._next_id = (num + 1) & 0xFFFFFFFF
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[num] = fut
        size = 5
        for p in parts:
            size += len(p)
        head = HDR_ID.pack(size, t, num)
        last = parts[-1] if parts else b""
        try:
            if len(last) < _SPLIT_AT:
                self._w.write(b"".join((head, *parts)))
            else:
                self._w.write(b"".join((head, *parts[:-1])))
                self._w.write(last)
        except (OSError, RuntimeError) as exc:
            self._pending.pop(num, None)
            self._drop(f"Server connection dropped: {exc}", True)
            raise self.dropped_error() from None
        return fut

    async def drain(self) -> None:
        """Wait for the writer to take more (a failure ends the session).
        One task drains at a time: some writers (Python 3.10's) allow a
        single waiter."""
        try:
            async with self._drain_lock:
                await self._w.drain()
        except (OSError, RuntimeError) as exc:
            self._drop(f"Server connection dropped: {exc}", True)
            raise self.dropped_error() from None

    async def request(self, t: int, *parts: bytes | bytearray | memoryview) -> tuple[int, Message]:
        """Send a request and wait for its reply: (type, strict Message of
        the body after the id)."""
        fut = self.send(t, *parts)
        await self.drain()
        rt, body = await fut
        return rt, Message(body[4:], strict=True)

    def close_handle_nowait(self, hstr: bytes) -> None:
        """Send CLOSE for encoded handle ``hstr`` without waiting (after a
        cancellation); nothing if the session is over."""
        if self._dropped is None and not self._closed:
            try:
                fut = self.send(CMD_CLOSE, hstr)
            except (OSError, SFTPError):
                return
            fut.add_done_callback(forget_reply)

    async def close(self) -> None:
        """End the session: fail the requests still waiting, close the
        writer and stop the reader task."""
        if self._closed:
            return
        self._closed = True
        self._drop("SFTP session closed", False)
        try:
            self._w.close()
            wait_closed = getattr(self._w, "wait_closed", None)
            if callable(wait_closed):
                await asyncio.wait_for(wait_closed(), 5)
        except (OSError, RuntimeError, asyncio.TimeoutError):
            pass
        task = self._reader_task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if task is asyncio.current_task():
                    raise

    def abandon(self) -> None:
        """Mark the session closed and close the writer at once (a failed
        start: no reader task runs yet)."""
        self._closed = True
        self._w.close()
