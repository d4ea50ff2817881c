"""What the asyncio client and server connections share: the channel table,
event dispatch, global requests, port-forward listeners and shutdown."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ssh_wire import SSHException

from ..keepalive import PROBE_REQUEST, KeepaliveWatch
from ..protocol import events as ev
from ..protocol.constants import DEFAULT_MAX_PACKET_SIZE, DEFAULT_WINDOW_SIZE
from ..protocol.core import SSHProtocol
from ._pump import ConnectionLost, Pump
from .channel import SSHChannel

log = logging.getLogger("ssh_transport.aio")


class SSHConnection:
    """An SSH connection on asyncio (the base of the client and server ones)."""

    def __init__(self, core: Any, *, window_size: int = DEFAULT_WINDOW_SIZE) -> None:
        self._loop = asyncio.get_running_loop()
        self._core: SSHProtocol = core
        self._pump = Pump(core, self._dispatch, self._connection_lost)
        self._channels: dict[int, SSHChannel] = {}
        self._global_waiters: deque[asyncio.Future[tuple[bool, bytes]]] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._error: Exception | None = None
        self._closed_fut: asyncio.Future[None] = self._loop.create_future()
        self._kex_fut: asyncio.Future[None] = self._loop.create_future()
        self._version_fut: asyncio.Future[None] = self._loop.create_future()
        self._closing = False
        self.window_size = window_size
        self.max_packet_size = DEFAULT_MAX_PACKET_SIZE
        self.username: str | None = None
        self.remote_version: str = ""
        self.host_key_blob: bytes | None = None
        self.host_key_algorithm = ""
        #: key exchanges completed (1 after the handshake; rekeys add to it)
        self.kex_count = 0
        self._listeners: list[Any] = []
        self._keepalive_interval = 0.0
        self._keepalive_max_missed = 3
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._keepalive_watch: KeepaliveWatch | None = None
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.ChannelDataReceived: self._on_data,
            ev.ChannelWindowAdjusted: self._on_window,
            ev.ChannelEOFReceived: self._on_eof,
            ev.ChannelClosed: self._on_channel_closed,
            ev.ChannelOpenConfirmed: self._on_open_confirmed,
            ev.ChannelOpenFailed: self._on_open_failed,
            ev.ChannelRequestReplied: self._on_request_replied,
            ev.ChannelRequestReceived: self._on_request_received,
            ev.ChannelOpenRequested: self._on_open_requested,
            ev.GlobalRequestReceived: self._on_global_request,
            ev.GlobalReplyReceived: self._on_global_reply,
            ev.VersionReceived: self._on_version,
            ev.KexCompleted: self._on_kex,
            ev.DisconnectReceived: self._on_disconnect,
            ev.ConnectionClosed: self._on_eof_stream,
        }
        self._more_handlers()

    def _more_handlers(self) -> None:
        """Subclasses add their event handlers here."""

    # -- events ----------------------------------------------------------------

    def _dispatch(self, e: ev.Event) -> None:
        h = self._handlers.get(type(e))
        if h is not None:
            h(e)

    def _on_data(self, e: ev.ChannelDataReceived) -> None:
        ch = self._channels.get(e.chanid)
        if ch is not None:
            ch.deliver(e.data, e.ext)
        else:
            self._core.channel_consumed(e.chanid, len(e.data))

    def _on_window(self, e: ev.ChannelWindowAdjusted) -> None:
        ch = self._channels.get(e.chanid)
        if ch is not None:
            ch.window_adjusted()

    def _on_eof(self, e: ev.ChannelEOFReceived) -> None:
        ch = self._channels.get(e.chanid)
        if ch is not None:
            ch.deliver_eof()

    def _on_channel_closed(self, e: ev.ChannelClosed) -> None:
        ch = self._channels.pop(e.chanid, None)
        if ch is not None:
            ch.deliver_close()

    def _on_open_confirmed(self, e: ev.ChannelOpenConfirmed) -> None:
        ch = self._channels.get(e.chanid)
        if ch is not None:
            ch.open_confirmed()

    def _on_open_failed(self, e: ev.ChannelOpenFailed) -> None:
        ch = self._channels.pop(e.chanid, None)
        if ch is not None:
            ch.open_failed(e.code, e.text)

    def _on_request_replied(self, e: ev.ChannelRequestReplied) -> None:
        ch = self._channels.get(e.chanid)
        if ch is not None:
            ch.deliver_reply(e.success)

    def _on_request_received(self, e: ev.ChannelRequestReceived) -> None:
        ch = self._channels.get(e.chanid)
        if ch is not None and e.kind in ("exit-status", "exit-signal"):
            ch.deliver_request(e.kind, e.args)
            ok = True
        else:
            ok = False
        if e.want_reply:
            self._core.channel_request_reply(e.chanid, ok)

    def _on_open_requested(self, e: ev.ChannelOpenRequested) -> None:
        self._core.reject_channel(e.chanid, 1, "not allowed")

    def _on_global_request(self, e: ev.GlobalRequestReceived) -> None:
        if e.want_reply:
            self._core.global_request_reply(False)

    def _on_global_reply(self, e: ev.GlobalReplyReceived) -> None:
        if self._global_waiters:
            fut = self._global_waiters.popleft()
            if not fut.done():
                fut.set_result((e.success, e.data))

    def _on_version(self, e: ev.VersionReceived) -> None:
        self.remote_version = e.version.decode("ascii", "replace")
        if not self._version_fut.done():
            self._version_fut.set_result(None)

    def _on_kex(self, e: ev.KexCompleted) -> None:
        self.kex_count += 1
        if e.first:
            self.host_key_blob = e.host_key_blob
            self.host_key_algorithm = e.host_key_algorithm
            self._first_kex(e)
            if not self._kex_fut.done():
                self._kex_fut.set_result(None)

    def _first_kex(self, e: ev.KexCompleted) -> None:
        """Subclasses check the host key here (raise to end the connection)."""

    def _on_disconnect(self, e: ev.DisconnectReceived) -> None:
        self._set_error(ConnectionLost(f"disconnected by peer ({e.reason}): {e.description}"))

    def _on_eof_stream(self, e: ev.ConnectionClosed) -> None:
        self._set_error(ConnectionLost("connection closed by peer"))

    def _set_error(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc

    # -- helpers for subclasses --------------------------------------------------

    def _decide(self, value: Any, apply: Callable[[Any], None], default: Any) -> None:
        """Apply a hook's answer now, or (an awaitable) once it is ready, the
        connection holding its other events meanwhile."""
        if not inspect.isawaitable(value):
            apply(value)
            return
        self._pump.hold()
        self._spawn(self._await_decision(value, apply, default))

    async def _await_decision(self, value: Awaitable[Any], apply: Callable[[Any], None], default: Any) -> None:
        try:
            try:
                result = await value
            except Exception:
                log.exception("server hook failed")
                result = default
            if not self._pump.closed:
                apply(result)
        finally:
            self._pump.release()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """A task the connection cancels when it ends."""
        task: asyncio.Task[Any] = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("aio connection task failed", exc_info=exc)

    def open_channels(self) -> list[SSHChannel]:
        """The channels this connection still routes data to (opening, open,
        or closing and not yet closed by the peer): for diagnostics, and to
        check that nothing was left behind."""
        return list(self._channels.values())

    def forget_channel(self, ch: SSHChannel) -> None:
        """For its channels: ``ch`` is over; stop routing events to it."""
        if self._channels.get(ch.chanid) is ch:
            del self._channels[ch.chanid]

    def _check_open(self) -> None:
        if self._pump.closed or self._closing or self._core.closed:
            raise self._error or ConnectionLost("connection is closed")

    def _accept(self, chanid: int, kind: str) -> SSHChannel:
        """Confirm a channel the peer opened and track it."""
        ch = SSHChannel(self, chanid, kind)
        self._channels[chanid] = ch
        self._core.accept_channel(chanid, self.window_size, self.max_packet_size)
        ch.open_confirmed()
        return ch

    async def open_channel(self, kind: str, extra: bytes = b"") -> SSHChannel:
        """Open a channel of ``kind`` (type-specific ``extra`` data) and wait
        for the peer's answer (``ChannelOpenError`` if it refuses)."""
        self._check_open()
        chanid = self._core.open_channel(kind, extra, self.window_size, self.max_packet_size)
        ch = SSHChannel(self, chanid, kind)
        self._channels[chanid] = ch
        self._pump.flush_soon()
        try:
            await ch.wait_opened()
        except asyncio.CancelledError:
            ch.close()
            raise
        return ch

    async def global_request(self, name: str, data: bytes = b"") -> tuple[bool, bytes]:
        """Send a global request and wait for (success, reply data)."""
        self._check_open()
        fut: asyncio.Future[tuple[bool, bytes]] = self._loop.create_future()
        self._core.global_request(name, True, data)
        self._global_waiters.append(fut)
        self._pump.flush_soon()
        return await asyncio.shield(fut)

    # -- keepalive ------------------------------------------------------------------

    def set_keepalive(self, interval: float, max_missed: int = 3) -> None:
        """Notice a peer that has gone silent (OpenSSH's ServerAlive* on a
        client, ClientAlive* on a server), as ``Transport.set_keepalive``:
        once logged in, whenever nothing has been received for ``interval``
        seconds (0: off) ask for a reply with a ``keepalive@openssh.com``
        request; after ``max_missed`` such probes in a row went unanswered
        the connection is dropped, and its waiters get ``ConnectionLost``
        saying why. ``max_missed=0`` only sends (paramiko's keepalive) and
        never drops. Takes effect at once; a timer, no task or thread."""
        if max_missed < 0:
            raise ValueError("max_missed must be 0 or more")
        self._keepalive_interval = float(interval)
        self._keepalive_max_missed = int(max_missed)
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None
        self._keepalive_watch = None
        if self._keepalive_interval > 0 and not self._pump.closed:
            self._keepalive_watch = KeepaliveWatch(self._loop.time())
            self._keepalive_timer = self._loop.call_later(0, self._keepalive_step)

    def _keepalive_step(self) -> None:
        """One look at the peer (see ``KeepaliveWatch``, shared with the threaded transport)."""
        self._keepalive_timer = None
        watch = self._keepalive_watch
        interval = self._keepalive_interval
        core = self._core
        if watch is None or not interval or self._pump.closed or core.closed:
            return
        ready = core.authenticated
        now = self._loop.time()
        limit = self._keepalive_max_missed
        if limit <= 0:
            # send-only: after each interval, whether the peer talked or not
            if ready:
                core.global_request("keepalive@lag.net", False)
                self._pump.flush()
            self._keepalive_timer = self._loop.call_later(interval, self._keepalive_step)
            return
        action, wait = watch.step(now, interval, limit, core.packets_in, ready)
        if action == KeepaliveWatch.LOST:
            reason = watch.lost_reason(interval)
            log.info("%s; closing the connection", reason)
            self._set_error(ConnectionLost(reason))
            self._keepalive_watch = None
            transport = self._pump.transport
            if transport is not None:
                # no DISCONNECT: nobody reads it, and it would sit in the write buffer
                transport.abort()
            return
        if action == KeepaliveWatch.PROBE:
            core.global_request(PROBE_REQUEST, True)
            # a slot keeps the replies in order with the application's requests
            slot: asyncio.Future[tuple[bool, bytes]] = self._loop.create_future()
            self._global_waiters.append(slot)
            self._pump.flush()
            wait = 0.0
        self._keepalive_timer = self._loop.call_later(wait, self._keepalive_step)

    # -- lifecycle -----------------------------------------------------------------

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None
        self._keepalive_watch = None
        # the receive buffer goes now, not when a garbage collection finds
        # the connection's reference cycles (bound handlers, channels)
        self._core.shrink_reader_buffer()
        if self._error is None:
            if exc is None:
                self._error = ConnectionLost("connection closed")
            elif isinstance(exc, ConnectionLost):
                self._error = exc
            else:
                self._error = ConnectionLost(f"connection lost: {exc}")
                self._error.__cause__ = exc
        err = self._error
        for ch in list(self._channels.values()):
            ch.connection_lost(err)
        self._channels.clear()
        pending: list[asyncio.Future[Any]] = [*self._global_waiters, self._kex_fut, self._version_fut]
        for fut in pending:
            if not fut.done():
                fut.set_exception(err)
                fut.exception()  # retrieved: nobody may be waiting
        self._global_waiters.clear()
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        for task in list(self._tasks):
            task.cancel()
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)

    def close(self) -> None:
        """Close the connection (DISCONNECT, then the socket); waiters get ``ConnectionLost``."""
        if self._closing:
            return
        self._closing = True
        self._set_error(ConnectionLost("connection closed by us"))
        if self._pump.transport is None and not self._pump.closed:
            self._pump.closed = True
            self._connection_lost(None)
            return
        self._pump.close("closed by application")

    async def wait_closed(self) -> None:
        """Wait until the socket is closed and every waiter woken."""
        await asyncio.shield(self._closed_fut)

    def add_close_callback(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` once the connection is over (a listener
        forgets its connections so)."""
        self._closed_fut.add_done_callback(lambda _fut: callback())

    def protocol(self) -> Pump:
        """The ``asyncio.BufferedProtocol`` that carries this connection:
        give it to ``loop.create_connection`` or ``create_server`` (its
        channels send through it too)."""
        return self._pump

    @property
    def error(self) -> Exception | None:
        """Why the connection ended (or is ending); None while it runs."""
        return self._error

    @property
    def is_closed(self) -> bool:
        """Whether the connection is over."""
        return self._pump.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``username``, ``remote_version``, ``cipher``, or what the socket knows (``peername``...)."""
        if name == "username":
            return self.username
        if name == "remote_version":
            return self.remote_version
        if name == "cipher":
            return self._core.negotiated_cipher
        transport = self._pump.transport
        return transport.get_extra_info(name, default) if transport is not None else default

    def rekey(self) -> None:
        """Start a new key exchange now."""
        self._check_open()
        self._core.start_rekey()
        self._pump.flush_soon()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


def ssh_string(value: str | bytes) -> bytes:
    """An SSH ``string`` (uint32 length, then the bytes; str as UTF-8)."""
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return len(data).to_bytes(4, "big") + data


def parse_port_reply(data: bytes) -> int:
    """The port in a tcpip-forward reply."""
    if len(data) < 4:
        raise SSHException("malformed tcpip-forward reply")
    return int.from_bytes(data[:4], "big")
