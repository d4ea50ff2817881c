"""Channels as asyncio streams, and the process objects built on them.

Flow control both ways: a ``ChannelWriter`` hands the core what the peer's
window allows and keeps the rest (``drain`` waits until little is left);
a ``ChannelReader`` reopens our receive window only as the application
reads, so a reader that stops reading stalls the peer, not our memory.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ssh_wire import SSHException

from ._pump import ConnectionLost, SSHTimeout

if TYPE_CHECKING:
    from ._base import SSHConnection

# a writer's ``drain`` returns once at most this much waits for window
DRAIN_LIMIT = 256 * 1024
_U32 = struct.Struct(">I")


class ChannelOpenError(SSHException):
    """The peer refused to open a channel (``code`` is the RFC 4254 reason)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"channel open failed ({code}): {reason}")
        self.code = code
        self.reason = reason


class ChannelClosedError(SSHException, BrokenPipeError):
    """A write or request on a channel that is closed."""


class ProcessTimeout(SSHTimeout):
    """``run`` (or ``wait``) gave up after its ``timeout``; for ``run`` the
    channel was closed and ``stdout``/``stderr`` hold what arrived before."""

    def __init__(self, message: str, stdout: Any = None, stderr: Any = None) -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


class ProcessError(SSHException):
    """``run(check=True)``: the command exited with a non-zero status or a signal."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"command {result.command!r} exited with {result.exit_status} ({result.exit_signal})")
        self.result = result


def _fail(fut: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail ``fut`` for whoever awaits it, without a "never retrieved"
    warning when nobody does (a cancelled waiter)."""
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()


def _string(value: str | bytes) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return _U32.pack(len(data)) + data


class ChannelReader:
    """One data stream of a channel (stdout or stderr), ``asyncio.StreamReader``-like."""

    def __init__(self, channel: SSHChannel) -> None:
        self._channel = channel
        self._loop = asyncio.get_running_loop()
        self._chunks: deque[bytes | memoryview] = deque()
        self._size = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- fed by the channel (as an ``asyncio.StreamReader`` is fed) -----------

    def feed_data(self, data: bytes | memoryview) -> None:
        """For the channel: bytes that arrived (their window reopens as they are read)."""
        self._chunks.append(data)
        self._size += len(data)
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def feed_eof(self) -> None:
        """For the channel: the peer sent EOF."""
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        """For the channel: reads fail with ``exc`` once the buffer is
        drained (unless EOF came first)."""
        if not self._eof:
            self._exc = exc
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    async def _wait(self) -> None:
        if self._waiter is not None:
            raise RuntimeError("another coroutine is already reading this stream")
        if self._exc is not None:
            raise self._exc
        w = self._loop.create_future()
        self._waiter = w
        try:
            await w
        finally:
            self._waiter = None

    def _take(self, n: int) -> bytes:
        """Up to ``n`` buffered bytes (all if ``n`` < 0), reopening the window."""
        chunks = self._chunks
        if n < 0 or n >= self._size:
            if len(chunks) == 1:
                first = chunks[0]
                out = first if type(first) is bytes else bytes(first)
            else:
                out = b"".join(chunks)
            chunks.clear()
        else:
            parts: list[bytes | memoryview] = []
            need = n
            while need:
                c = chunks[0]
                if len(c) <= need:
                    parts.append(chunks.popleft())
                    need -= len(c)
                else:
                    mv = c if isinstance(c, memoryview) else memoryview(c)
                    parts.append(mv[:need])
                    chunks[0] = mv[need:]
                    need = 0
            out = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
        self._size -= len(out)
        if out:
            self._channel.data_consumed(len(out))
        return out

    def at_eof(self) -> bool:
        """True once EOF arrived and everything before it was read."""
        return self._eof and not self._size

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (``b""`` at EOF); with ``n`` < 0 everything until EOF."""
        if n == 0:
            return b""
        if n < 0:
            parts = []
            while True:
                while not self._size and not self._eof:
                    await self._wait()
                if self._size:
                    parts.append(self._take(-1))
                elif self._eof:
                    return b"".join(parts)
        while not self._size:
            if self._eof:
                return b""
            await self._wait()
        return self._take(n)

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or ``asyncio.IncompleteReadError`` at EOF."""
        while self._size < n:
            if self._eof:
                partial = self._take(-1)
                raise asyncio.IncompleteReadError(partial, n)
            await self._wait()
        return self._take(n)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        """Bytes up to and including ``separator``; ``IncompleteReadError`` at EOF."""
        start = 0
        while True:
            if self._size:
                if len(self._chunks) > 1:
                    joined = b"".join(self._chunks)
                    self._chunks.clear()
                    self._chunks.append(joined)
                buf = self._chunks[0]
                i = bytes(buf).find(separator, start) if isinstance(buf, memoryview) else buf.find(separator, start)
                if i >= 0:
                    return self._take(i + len(separator))
                start = max(0, self._size - len(separator) + 1)
            if self._eof:
                raise asyncio.IncompleteReadError(self._take(-1), None)
            await self._wait()

    async def readline(self) -> bytes:
        """One line with its ``\\n`` (the rest at EOF, ``b""`` after)."""
        try:
            return await self.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial

    def __aiter__(self) -> ChannelReader:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line


class ChannelWriter:
    """A channel's outgoing stream (``ext`` 1 is stderr), ``asyncio.StreamWriter``-like."""

    def __init__(self, channel: SSHChannel, ext: int = 0) -> None:
        self._channel = channel
        self._ext = ext

    @property
    def channel(self) -> SSHChannel:
        """The channel written to."""
        return self._channel

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data``; what the peer's window takes goes out at once."""
        self._channel.write(data, self._ext)

    def writelines(self, data: Any) -> None:
        """``write`` each buffer of ``data``."""
        for d in data:
            self._channel.write(d, self._ext)

    async def drain(self) -> None:
        """Wait until little queued data is left (raises once the channel closed)."""
        await self._channel.drain()

    def can_write_eof(self) -> bool:
        """Channels can half-close."""
        return True

    def write_eof(self) -> None:
        """Send EOF once the queued data is out."""
        self._channel.write_eof()

    def close(self) -> None:
        """Close the whole channel (both ways)."""
        self._channel.close()

    def is_closing(self) -> bool:
        """Whether the channel is closing or closed."""
        return self._channel.closing

    async def wait_closed(self) -> None:
        """Wait until the peer closed the channel too."""
        await self._channel.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``"channel"``, ``"connection"`` or anything the connection's socket knows."""
        if name == "channel":
            return self._channel
        if name == "connection":
            return self._channel.connection
        return self._channel.get_extra_info(name, default)


class SSHChannel:
    """One channel: its two incoming streams, the queue of outgoing data and
    the requests and exit status that travel on it."""

    def __init__(self, conn: SSHConnection, chanid: int, kind: str) -> None:
        self._conn = conn
        # what carries the connection: the core's channel calls, flushes, the loop
        self._pump = conn.protocol()
        self._core = self._pump.core
        self._loop = self._pump.loop
        self.chanid = chanid
        self.kind = kind
        self.stdout = ChannelReader(self)
        self.stderr = ChannelReader(self)
        self._open_fut: asyncio.Future[None] = self._loop.create_future()
        self._replies: deque[asyncio.Future[bool]] = deque()
        self._out: deque[tuple[int, bytes | memoryview]] = deque()
        self._out_size = 0
        self._after_out: list[Callable[[], None]] = []
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._eof_queued = False
        self._close_called = False
        self.closed = False
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str] | None = None
        self._closed_fut: asyncio.Future[None] = self._loop.create_future()
        self._error: BaseException | None = None

    # -- events from the connection -----------------------------------------
    #
    # Public so that the connection needs no private access; not for
    # applications.

    def open_confirmed(self) -> None:
        """For the connection: the peer accepted our open (or we accepted its)."""
        if not self._open_fut.done():
            self._open_fut.set_result(None)

    def open_failed(self, code: int, text: str) -> None:
        """For the connection: the peer refused to open the channel."""
        self.closed = True
        _fail(self._open_fut, ChannelOpenError(code, text))
        self._finish(ChannelOpenError(code, text))

    def deliver(self, data: bytes | memoryview, ext: int) -> None:
        """For the connection: data from the peer (``ext`` 1: stderr)."""
        if ext == 0:
            self.stdout.feed_data(data)
        elif ext == 1:
            self.stderr.feed_data(data)
        else:
            self.data_consumed(len(data))

    def window_adjusted(self) -> None:
        """For the connection: the peer's window grew; send what waits."""
        if self._out:
            self._send_queued()

    def deliver_eof(self) -> None:
        """For the connection: the peer sent EOF."""
        self.stdout.feed_eof()
        self.stderr.feed_eof()

    def deliver_request(self, kind: str, args: tuple[object, ...]) -> None:
        """For the connection: an ``exit-status`` or ``exit-signal`` request."""
        if kind == "exit-status":
            self.exit_status = int(args[0])  # type: ignore[call-overload]
        elif kind == "exit-signal":
            sig, core_dumped, msg, _lang = args
            self.exit_signal = (str(sig), bool(core_dumped), str(msg))

    def deliver_reply(self, success: bool) -> None:
        """For the connection: the answer to our oldest request wanting one."""
        if self._replies:
            fut = self._replies.popleft()
            if not fut.done():
                fut.set_result(success)

    def deliver_close(self) -> None:
        """For the connection: the channel is closed both ways."""
        self.closed = True
        self.deliver_eof()
        self._finish(ChannelClosedError("channel is closed"))

    def connection_lost(self, exc: BaseException) -> None:
        """For the connection: it ended; every waiter gets ``exc``."""
        self.closed = True
        _fail(self._open_fut, exc)
        self.stdout.set_exception(exc)
        self.stderr.set_exception(exc)
        self._finish(exc)

    def _finish(self, exc: BaseException) -> None:
        self._error = exc
        self._out.clear()
        self._out_size = 0
        self._after_out.clear()
        while self._replies:
            _fail(self._replies.popleft(), exc)
        self._wake_drain()
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)
        self._conn.forget_channel(self)

    # -- flow control --------------------------------------------------------

    def data_consumed(self, n: int) -> None:
        """For its readers: ``n`` bytes were read; the peer's window reopens."""
        if not self.closed:
            core = self._core
            core.channel_consumed(self.chanid, n)
            # most reads reopen no window: no flush to schedule for them
            if core.has_data_to_send():
                self._pump.flush_soon()

    def write(self, data: bytes | bytearray | memoryview, ext: int = 0) -> None:
        """Queue ``data`` (``ext`` 1: as stderr); what the peer's window
        takes goes out at once (``ChannelWriter.write`` calls this)."""
        if self.closed or self._close_called or self._eof_queued:
            raise self._error or ChannelClosedError("channel is closed for writing")
        if not data:
            return
        if not self._out:
            n = self._core.send_channel_data(self.chanid, data, ext)
            self._pump.flush_soon()
            if n == len(data):
                return
            # bytes cannot change under us: keep a view; anything else is copied
            rest: bytes | memoryview = memoryview(data)[n:] if type(data) is bytes else bytes(memoryview(data)[n:])
        else:
            rest = data if type(data) is bytes else bytes(data)
        self._out.append((ext, rest))
        self._out_size += len(rest)

    def _send_queued(self) -> None:
        core = self._core
        out = self._out
        while out:
            ext, buf = out[0]
            n = core.send_channel_data(self.chanid, buf, ext)
            self._out_size -= n
            if n < len(buf):
                out[0] = (ext, memoryview(buf)[n:])
                break
            out.popleft()
        self._pump.flush_soon()
        if not out:
            actions, self._after_out = self._after_out, []
            for action in actions:
                action()
        if self._out_size <= DRAIN_LIMIT:
            self._wake_drain()

    def _wake_drain(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def drain(self) -> None:
        """Wait until little queued data is left (raises once the channel
        closed); ``ChannelWriter.drain`` calls this."""
        while self._out_size > DRAIN_LIMIT:
            if self._error is not None:
                raise self._error
            fut = self._loop.create_future()
            self._drain_waiters.append(fut)
            await fut
        if self._error is not None and self.closed and self._out_size:
            raise self._error
        await self._pump.writable()
        err = self._conn.error
        if self._pump.closed and err is not None:
            raise err

    def when_sent(self, action: Callable[[], None]) -> None:
        """Run ``action`` once every queued byte went out (at once if none waits)."""
        if self._out:
            self._after_out.append(action)
        else:
            action()

    # -- public --------------------------------------------------------------

    def write_eof(self) -> None:
        """Send EOF after the queued data (idempotent)."""
        if self._eof_queued or self.closed or self._close_called:
            return
        self._eof_queued = True

        def eof() -> None:
            if not self.closed:
                self._core.channel_eof(self.chanid)
                self._pump.flush_soon()

        self.when_sent(eof)

    def request(self, kind: str, data: bytes = b"", want_reply: bool = False) -> asyncio.Future[bool] | None:
        """Send a channel request; with ``want_reply`` a future of the answer."""
        if self.closed or self._close_called:
            raise self._error or ChannelClosedError("channel is closed")
        fut: asyncio.Future[bool] | None = None
        if want_reply:
            fut = self._loop.create_future()
            self._replies.append(fut)
        self._core.channel_request(self.chanid, kind, want_reply, data)
        self._pump.flush_soon()
        return fut

    def close(self) -> None:
        """Close the channel now (queued data is dropped); idempotent."""
        if self._close_called or self.closed:
            return
        self._close_called = True
        self._out.clear()
        self._out_size = 0
        self._after_out.clear()
        if not self._pump.closed:
            self._core.close_channel(self.chanid)
            self._pump.flush_soon()
        self._wake_drain()

    def close_after_sent(self) -> None:
        """Close once the queued data is out."""
        self.when_sent(self.close)

    async def wait_opened(self) -> None:
        """Wait for the peer's answer to our open (``ChannelOpenError`` if it refused)."""
        await asyncio.shield(self._open_fut)

    async def wait_closed(self) -> None:
        """Wait until the channel is fully closed (or the connection ended)."""
        await asyncio.shield(self._closed_fut)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """As the connection's ``get_extra_info``."""
        return self._conn.get_extra_info(name, default)

    @property
    def connection(self) -> SSHConnection:
        """The connection the channel runs on."""
        return self._conn

    @property
    def closing(self) -> bool:
        """Whether ``close`` was called or the channel is closed."""
        return self._close_called or self.closed


@dataclass
class RunResult:
    """What ``run`` returns: the command's output and how it ended."""

    command: str | None
    exit_status: int | None
    exit_signal: tuple[str, bool, str] | None
    stdout: Any
    stderr: Any

    @property
    def returncode(self) -> int | None:
        """``exit_status`` (as ``subprocess``; None if it died of a signal)."""
        return self.exit_status


class SSHClientProcess:
    """A remote command, shell or subsystem: ``stdin`` to write to,
    ``stdout``/``stderr`` to read, ``wait`` for the exit status."""

    def __init__(self, channel: SSHChannel, command: str | None, subsystem: str | None) -> None:
        self.channel = channel
        self.command = command
        self.subsystem = subsystem
        self.stdin = ChannelWriter(channel, 0)
        self.stdout = channel.stdout
        self.stderr = channel.stderr

    @property
    def exit_status(self) -> int | None:
        """The status the server reported (None until then, or after a signal)."""
        return self.channel.exit_status

    @property
    def exit_signal(self) -> tuple[str, bool, str] | None:
        """(signal name, core dumped, message) if the command died of a signal."""
        return self.channel.exit_signal

    @property
    def returncode(self) -> int | None:
        """Alias of ``exit_status``."""
        return self.channel.exit_status

    async def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the channel closes; returns ``exit_status``. Raises
        ``ProcessTimeout`` after ``timeout`` seconds (the process is left
        running: ``close`` it). Unread output can keep the remote side from
        exiting (its window fills): read ``stdout``/``stderr`` or use ``run``."""
        try:
            await asyncio.wait_for(self.channel.wait_closed(), timeout)
        except asyncio.TimeoutError:
            raise ProcessTimeout(f"process did not exit within {timeout} s") from None
        return self.channel.exit_status

    def send_signal(self, name: str) -> None:
        """Ask the server to deliver signal ``name`` (e.g. "TERM") to the process."""
        self.channel.request("signal", _string(name), False)

    def change_terminal_size(self, width: int, height: int) -> None:
        """Send a window-change request (after a ``term_type``)."""
        self.channel.request("window-change", struct.pack(">IIII", width, height, 0, 0), False)

    def close(self) -> None:
        """Close the channel (the server hangs up on the process)."""
        self.channel.close()

    async def wait_closed(self) -> None:
        """Wait until the channel is fully closed."""
        await self.channel.wait_closed()

    async def __aenter__(self) -> SSHClientProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


class SSHServerProcess:
    """The server side of a session channel, handed to a process handler:
    what the client asked for, ``stdin`` to read from it and
    ``stdout``/``stderr`` to write back; ``exit(status)`` ends it."""

    def __init__(self, channel: SSHChannel) -> None:
        self.channel = channel
        self.command: str | None = None
        #: what the client asked to run when a forced command (from its
        #: certificate or principals line) replaced it: sshd's SSH_ORIGINAL_COMMAND
        self.original_command: str | None = None
        self.subsystem: str | None = None
        self.env: dict[str, str] = {}
        self.term_type: str | None = None
        self.term_size: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.term_modes: bytes = b""
        self.stdin = channel.stdout
        self.stdout = ChannelWriter(channel, 0)
        self.stderr = ChannelWriter(channel, 1)
        self._exited = False
        self._task: asyncio.Task[Any] | None = None

    @property
    def connection(self) -> SSHConnection:
        """The connection the process runs on."""
        return self.channel.connection

    @property
    def username(self) -> str | None:
        """Who logged in."""
        return self.channel.connection.username

    @property
    def started(self) -> bool:
        """Whether an exec, shell or subsystem request started a handler."""
        return self._task is not None

    def attach_task(self, task: asyncio.Task[Any]) -> None:
        """For the server connection: ``task`` runs this process's handler
        (``cancel_task`` stops it when the client hangs up)."""
        self._task = task

    def cancel_task(self) -> None:
        """For the server connection: stop the handler if it still runs."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """As the connection's ``get_extra_info`` (``peername``, ``username`` ...)."""
        return self.channel.get_extra_info(name, default)

    def exit(self, status: int) -> None:
        """Send the queued output, EOF and ``exit-status``, then close."""
        if self._exited:
            return
        self._exited = True
        ch = self.channel
        if ch.closing:
            return
        ch.write_eof()

        def report() -> None:
            if not ch.closing:
                ch.request("exit-status", _U32.pack(status & 0xFFFFFFFF), False)
                ch.close()

        ch.when_sent(report)

    def exit_with_signal(self, signal: str, core_dumped: bool = False, message: str = "") -> None:
        """End as killed by ``signal`` (e.g. "TERM")."""
        if self._exited:
            return
        self._exited = True
        ch = self.channel
        if ch.closing:
            return
        ch.write_eof()

        def report() -> None:
            if not ch.closing:
                data = _string(signal) + bytes([core_dumped]) + _string(message) + _string("")
                ch.request("exit-signal", data, False)
                ch.close()

        ch.when_sent(report)

    @property
    def exited(self) -> bool:
        """Whether ``exit`` was called."""
        return self._exited

    def close(self) -> None:
        """Close the channel without an exit status."""
        self._exited = True
        self.channel.close()


__all__ = [
    "ChannelClosedError",
    "ChannelOpenError",
    "ChannelReader",
    "ChannelWriter",
    "ConnectionLost",
    "ProcessError",
    "ProcessTimeout",
    "RunResult",
    "SSHChannel",
    "SSHClientProcess",
    "SSHServerProcess",
    "SSHTimeout",
]
