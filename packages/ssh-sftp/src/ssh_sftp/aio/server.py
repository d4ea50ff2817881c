"""``serve_sftp``: one SFTP session for asyncio, on a reader and a writer.

The request handling is the threaded ``SFTPServer``'s own (same
extensions, limits, policy and handle quota), run in a worker thread per
session so a slow file system never blocks the event loop; its replies are
collected and written by the loop. Interface (and handle) methods defined
with ``async def`` are run on the loop and awaited.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from ..errors import SFTPError
from ..handle import SFTPHandle
from ..interface import SFTPServerInterface
from ..requests import RequestPolicy
from ..server import SFTPServer
from ..sftp import PacketSplitter
from .client import StreamReader, StreamWriter

__all__ = ["serve_sftp"]

_log = logging.getLogger("paramiko.sftp")

# How much is read from the client at a time, and how many reads may wait
# for the worker thread.
_READ_CHUNK = 1024 * 1024
_BATCHES_AHEAD = 4
# The handle methods the server calls.
_HANDLE_METHODS = ("read", "write", "stat", "chattr", "close", "fsync", "statvfs")


class _Sink:
    """Stands in for the channel of the threaded server: each reply is
    handed to the loop's writer as the worker thread makes it, and the
    worker waits for the writer to drain every ``DRAIN_EVERY`` bytes (so a
    slow client holds the session back instead of filling memory)."""

    DRAIN_EVERY = 4 * 1024 * 1024

    def __init__(self, loop: asyncio.AbstractEventLoop, writer: StreamWriter) -> None:
        """Send on ``writer`` through ``loop``."""
        self.loop = loop
        self.writer = writer
        self.unflushed = 0

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` on the writer (worker thread)."""
        chunk = data if isinstance(data, bytes) else bytes(data)
        self.loop.call_soon_threadsafe(self.writer.write, chunk)
        self.unflushed += len(chunk)
        if self.unflushed >= self.DRAIN_EVERY:
            self.drain()

    def drain(self) -> None:
        """Wait until the writer has taken what was queued (worker thread);
        ``ConnectionError`` if the client is gone."""
        self.unflushed = 0
        asyncio.run_coroutine_threadsafe(self._drain(), self.loop).result()

    async def _drain(self) -> None:
        """``writer.drain()``, as an ``OSError`` when it fails."""
        try:
            await self.writer.drain()
        except (OSError, RuntimeError) as exc:
            raise ConnectionError(f"client gone: {exc}") from None

    def get_id(self) -> int:
        """A channel id for the thread name (there is none)."""
        return 0

    def get_transport(self) -> None:
        """No transport: the session is counted against this stream."""
        return None

    def close(self) -> None:
        """Nothing to close here (the writer is closed by the loop)."""


class _Session(SFTPServer):
    """The threaded server's request handling, fed packets by the loop."""

    def __init__(self, sink: _Sink, iface: SFTPServerInterface) -> None:
        """Serve ``iface``; replies go to ``sink``."""

        def factory(_server: Any) -> SFTPServerInterface:
            return iface

        super().__init__(sink, "sftp", None, cast("type[SFTPServerInterface]", factory))
        self.sink = sink
        self.incoming: deque[tuple[int, bytes]] = deque()
        self.stopped = False

    def _read_packet(self) -> tuple[int, bytes]:
        """The next packet the loop handed over (only the version exchange
        reads this way)."""
        if not self.incoming:
            raise EOFError("no packet")
        return self.incoming.popleft()

    def run_batch(self, packets: list[tuple[int, bytes]]) -> bool:
        """Handle ``packets`` in order (worker thread); False once the
        session must end (later batches are then ignored)."""
        if self.stopped:
            return False
        try:
            for t, data in packets:
                if not self._process(t, data):
                    self.stopped = True
                    return False
        except BaseException:
            self.stopped = True
            raise
        return True

    def negotiate(self) -> bool:
        """The version exchange, then ``session_started`` (worker thread)."""
        if not self._negotiate():
            return False
        self.server.session_started()
        return True

    def finish(self, started: bool) -> None:
        """Close every handle, then ``session_ended`` (worker thread)."""
        self._close_all()
        if started:
            self.server.session_ended()


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A plain function that runs coroutine function ``fn`` on ``loop`` and
    waits for it (called from the session's worker thread)."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        result = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), loop).result()
        return _adapt_handle(loop, result)

    return call


def _adapt_handle(loop: asyncio.AbstractEventLoop, result: Any) -> Any:
    """A handle whose methods are coroutines gets plain ones (per instance)."""
    if isinstance(result, SFTPHandle):
        for name in _HANDLE_METHODS:
            method = getattr(result, name, None)
            if method is not None and inspect.iscoroutinefunction(method):
                setattr(result, name, _on_loop(loop, method))
    return result


def _adapt_interface(loop: asyncio.AbstractEventLoop, iface: SFTPServerInterface) -> None:
    """Give ``iface`` plain versions of its ``async def`` methods (instance
    attributes, so what its class offers, and thus the extensions the
    server advertises, stays as it is); handles opened by a plain ``open``
    with coroutine methods are adapted too. An interface serving several
    sessions is adapted once per loop (the wrappers of an earlier loop are
    replaced, never wrapped again)."""
    state = iface.__dict__
    if state.get("_aio_loop") is loop:
        return
    for name in state.pop("_aio_wrapped", ()):
        state.pop(name, None)
    wrapped = []
    for name in dir(type(iface)):
        if name.startswith("_"):
            continue
        method = getattr(iface, name, None)
        if inspect.iscoroutinefunction(method):
            setattr(iface, name, _on_loop(loop, method))
            wrapped.append(name)
    if "open" not in wrapped:
        plain_open = iface.open

        @functools.wraps(plain_open)
        def open_adapted(*args: Any, **kwargs: Any) -> Any:
            return _adapt_handle(loop, plain_open(*args, **kwargs))

        setattr(iface, "open", open_adapted)  # noqa: B010
        wrapped.append("open")
    state["_aio_wrapped"] = wrapped
    state["_aio_loop"] = loop


async def serve_sftp(
    reader: StreamReader,
    writer: StreamWriter,
    server_interface: SFTPServerInterface | type[SFTPServerInterface],
    *,
    policy: RequestPolicy | None = None,
) -> None:
    """Serve one SFTP session on ``reader``/``writer`` until the client goes
    away, with ``server_interface`` (an instance, or a class made with no
    server) for the storage; ``policy`` restricts requests as for
    ``SFTPServer``. Garbage from the client ends the session (the writer
    is closed); the interface's ``session_ended`` runs in any case.

    Requests are handled in order by one worker thread per session while
    the loop goes on reading the next ones (at most ``_BATCHES_AHEAD``
    reads ahead)."""
    loop = asyncio.get_running_loop()
    iface = server_interface(None) if isinstance(server_interface, type) else server_interface
    _adapt_interface(loop, iface)
    session = _Session(_Sink(loop, writer), iface)
    if policy is not None:
        session.policy = policy
    splitter = PacketSplitter(session.MAX_PACKET)
    pool = ThreadPoolExecutor(1, thread_name_prefix="sftp-aio-server")
    started = False
    batches: deque[asyncio.Future[bool]] = deque()
    try:
        first: list[tuple[int, bytes]] = []
        while not first:
            data = await reader.read(_READ_CHUNK)
            if not data:
                return
            first = splitter.feed(data)
        session.incoming.extend(first[:1])
        started = await loop.run_in_executor(pool, session.negotiate)
        if not started:
            return
        packets = first[1:]
        while True:
            if packets:
                batches.append(loop.run_in_executor(pool, session.run_batch, packets))
            while batches and (len(batches) > _BATCHES_AHEAD or batches[0].done()):
                if not await batches.popleft():
                    return
            data = await reader.read(_READ_CHUNK)
            if not data:
                return
            packets = splitter.feed(data)
    except SFTPError as exc:
        _log.info("sftp: %s; closing session", exc)
    except (OSError, EOFError) as exc:
        _log.debug("sftp session ended: %s", exc)
    except asyncio.CancelledError:
        # stop at once: queued requests are skipped, and a worker waiting
        # for a stalled client to read is released by dropping the stream
        session.stopped = True
        transport = getattr(writer, "transport", None)
        abort = getattr(transport, "abort", None)
        if callable(abort):
            abort()
        raise
    finally:
        await asyncio.shield(_wind_up(loop, pool, session, batches, started, writer))


async def _wind_up(
    loop: asyncio.AbstractEventLoop,
    pool: ThreadPoolExecutor,
    session: _Session,
    batches: deque[asyncio.Future[bool]],
    started: bool,
    writer: StreamWriter,
) -> None:
    """Let the requests already read finish (their replies still go out),
    close the handles, tell the interface, close the writer."""
    try:
        for result in await asyncio.gather(*batches, return_exceptions=True):
            if isinstance(result, BaseException) and not isinstance(result, (OSError, EOFError, SFTPError)):
                _log.error("sftp: request handling failed", exc_info=result)
        await loop.run_in_executor(pool, session.finish, started)
        try:
            await writer.drain()
        except (OSError, RuntimeError):
            pass
    finally:
        pool.shutdown(wait=False)
        try:
            writer.close()
        except (OSError, RuntimeError):
            pass
