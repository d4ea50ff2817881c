"""The reader thread, event handlers and socket writes of ``Transport`` (a mixin).

The reader thread feeds received bytes to the protocol core and turns its
events into state the blocking API waits for. Writes are ordered by the core
and go out through ``_flush``, which any thread may call: one writer at a
time, and a thread that finds another writing leaves its bytes for that
writer. The reader thread never blocks on a write: what the socket does not
take at once goes to a writer thread, so two peers that both send a lot can
never deadlock each other.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ssh_wire import ChannelException, SSHException, format_binary

from .channel import Channel
from .protocol import events as ev
from .protocol.core import SSHProtocol
from .server import ServerInterface

RECV_SIZE = 256 * 1024
_IOV_MAX = 512
# Output the reader thread may queue for a peer that does not read, before
# the session is dropped (windows bound data; this bounds replies to requests).
MAX_BACKLOG = 64 * 1024 * 1024


class DriverMixin:
    """Reader thread, event dispatch, writes and shutdown for ``Transport``."""

    sock: Any
    active: bool
    server_mode: bool
    server_object: ServerInterface | None
    server_extensions: dict[str, bytes]
    banner: str | None
    remote_version: str
    logger: logging.Logger
    _lock: Any
    _cond: threading.Condition
    _write_lock: threading.Lock
    _backlog: bytes
    _writer: threading.Thread | None
    _writer_wanted: bool
    _core: SSHProtocol | None
    _thread: threading.Thread | None
    _exception: Exception | None
    _grace_timer: threading.Timer | None
    _channels: dict[int, Channel]
    _host_key_blob: bytes | None
    _host_key_alg: str
    _kex_count: int
    agreed_on_strict_kex: bool
    _kex_done: threading.Event
    _kex_event: threading.Event | None
    _auth_reply: ev.Event | None
    _username: str | None
    _global_replies: deque[list[Any]]
    _tcp_handler: Callable[..., None] | None
    _forward_agent_handler: Callable[[Channel], None] | None
    _keepalive: float
    _keepalive_thread: threading.Thread | None
    _last_sent: float
    _closing: bool

    if TYPE_CHECKING:

        def _server_auth_requested(self, e: ev.AuthRequested) -> None:
            raise NotImplementedError

        def _server_auth_info(self, e: ev.AuthInfoResponded) -> None:
            raise NotImplementedError

        def _server_channel_open(self, e: ev.ChannelOpenRequested) -> None:
            raise NotImplementedError

        def _finish_open(self, e: ev.ChannelOpenRequested, code: Any, queue: bool) -> Channel | None:
            raise NotImplementedError

        def _server_channel_request(self, chan: Channel | None, e: ev.ChannelRequestReceived) -> bool:
            raise NotImplementedError

        def _server_global_request(self, e: ev.GlobalRequestReceived) -> tuple[bool, bytes]:
            raise NotImplementedError

    def _trace(self, direction: str, payload: bytes) -> None:
        for line in format_binary(payload, f"{direction}: "):
            self.logger.debug(line)

    # -- the reader thread -----------------------------------------------------

    def _run(self) -> None:
        core = self._core
        assert core is not None
        sock = self.sock
        real = isinstance(sock, socket.socket)
        if real and sock.gettimeout() is not None:
            # A socket timeout makes every recv and send a poll() plus the
            # call, and lets a MSG_DONTWAIT send wait (the reader must never
            # block on a write). close() wakes a blocking recv by shutdown().
            sock.settimeout(None)
        scratch = bytearray(RECV_SIZE)
        error: Exception | None = None
        try:
            while self.active:
                view = core.reader_buffer(RECV_SIZE)
                try:
                    if real:
                        target = view if view is not None else memoryview(scratch)
                        n = sock.recv_into(target)
                        if view is not None:
                            if n:
                                core.reader.commit(n)
                            else:
                                core.receive_data(b"")
                        else:
                            core.receive_data(target[:n] if n else b"")
                    else:
                        data = sock.recv(RECV_SIZE)
                        n = len(data)
                        core.receive_data(data)
                except TimeoutError:
                    continue
                except OSError as exc:
                    if self._closing:
                        break
                    raise SSHException(f"connection lost: {exc}") from exc
                self._process_events()
                core.tick(time.monotonic())
                self._flush()
                if core.closed:
                    break
        except Exception as exc:
            error = exc
            if not isinstance(exc, SSHException):
                error = SSHException(f"transport failed: {exc!r}")
                error.__cause__ = exc
            self.logger.debug("transport ended: %s", error)
        self._shutdown(error, flush=True)

    def _keepalive_loop(self) -> None:
        """Send a keepalive global request whenever nothing was sent for the interval."""
        while True:
            with self._lock:
                interval = self._keepalive
                if not interval or not self.active:
                    self._keepalive_thread = None
                    return
                idle = time.monotonic() - self._last_sent
                if idle < interval:
                    self._cond.wait(interval - idle)
                    continue
                core = self._core
                if core is not None and core.authenticated and not core.closed:
                    core.global_request("keepalive@lag.net", False)
                self._last_sent = time.monotonic()
            self._flush()

    def _process_events(self) -> None:
        core = self._core
        assert core is not None
        lock = self._lock
        data_ev = ev.ChannelDataReceived
        adj_ev = ev.ChannelWindowAdjusted
        channels = self._channels
        while True:
            woken: set[Channel] = set()
            # data for channels with a receiver, delivered once the lock is released
            calls: list[tuple[Callable[[bytes], object], bytes]] = []
            e: ev.Event | None = None
            with lock:
                try:
                    while True:
                        e = core.next_event()
                        if e is None:
                            break
                        t = type(e)
                        if t is data_ev:
                            chan = channels.get(e.chanid)  # type: ignore[attr-defined]
                            if chan is None:
                                core.channel_consumed(e.chanid, len(e.data))  # type: ignore[attr-defined]
                            elif chan._receiver is not None and not e.ext and not chan._read_shut:  # type: ignore[attr-defined]
                                calls.append((chan._receiver, e.data))  # type: ignore[attr-defined]
                                core.channel_consumed(e.chanid, len(e.data))  # type: ignore[attr-defined]
                            else:
                                chan._feed(e.data, e.ext)  # type: ignore[attr-defined]
                                woken.add(chan)
                            continue
                        if t is adj_ev:
                            chan = channels.get(e.chanid)  # type: ignore[attr-defined]
                            if chan is not None:
                                woken.add(chan)
                            continue
                        break
                finally:
                    # one wake-up per channel per batch, before the lock is released
                    for chan in woken:
                        chan._notify()
            for fn, data in calls:
                self._deliver(fn, data)
            if e is None:
                return
            self._dispatch(e)

    def _deliver(self, fn: Callable[[bytes], object], data: bytes) -> None:
        """Give channel data to a receiver (see ``Channel._set_receiver``);
        its failure must not end the transport."""
        try:
            fn(data)
        except Exception:
            self.logger.exception("channel data receiver failed")

    def _dispatch(self, e: ev.Event) -> None:
        handler = getattr(self, "_on_" + type(e).__name__, None)
        if handler is not None:
            handler(e)

    # -- event handlers (reader thread) ------------------------------------------

    def _on_VersionReceived(self, e: ev.VersionReceived) -> None:
        self.remote_version = e.version.decode("ascii", "replace")

    def _on_KexCompleted(self, e: ev.KexCompleted) -> None:
        with self._lock:
            self._host_key_blob = e.host_key_blob
            self._host_key_alg = e.host_key_algorithm
            self._kex_count += 1
            if e.first:
                self.agreed_on_strict_kex = e.strict
            self._cond.notify_all()
        self.logger.debug("kex done: %s %s %s/%s", e.kex, e.host_key_algorithm, e.cipher_out, e.mac_out)
        if e.first:
            self._kex_done.set()
            if self._kex_event is not None:
                self._kex_event.set()

    def _on_ExtInfoReceived(self, e: ev.ExtInfoReceived) -> None:
        self.server_extensions.update(e.extensions)

    def _on_DisconnectReceived(self, e: ev.DisconnectReceived) -> None:
        self._exception = self._exception or SSHException(f"Disconnected by peer ({e.reason}): {e.description}")

    def _on_ConnectionClosed(self, e: ev.ConnectionClosed) -> None:
        self._exception = self._exception or SSHException("Connection closed by peer")

    def _on_DebugReceived(self, e: ev.DebugReceived) -> None:
        self.logger.debug("debug message from peer: %s", e.message)

    def _on_AuthBannerReceived(self, e: ev.AuthBannerReceived) -> None:
        self.banner = e.message

    def _set_auth_reply(self, e: ev.Event) -> None:
        with self._lock:
            if isinstance(e, ev.AuthSucceeded):
                self._username = e.username
            self._auth_reply = e
            self._cond.notify_all()

    _on_AuthSucceeded = _set_auth_reply
    _on_AuthFailed = _set_auth_reply
    _on_AuthInfoRequested = _set_auth_reply
    _on_PasswordChangeRequested = _set_auth_reply
    _on_AuthPublicKeyAccepted = _set_auth_reply

    def _on_AuthRequested(self, e: ev.AuthRequested) -> None:
        self._server_auth_requested(e)

    def _on_AuthInfoResponded(self, e: ev.AuthInfoResponded) -> None:
        self._server_auth_info(e)

    def _on_ChannelOpenConfirmed(self, e: ev.ChannelOpenConfirmed) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.active = True
                chan._opened.set()
            self._cond.notify_all()

    def _on_ChannelOpenFailed(self, e: ev.ChannelOpenFailed) -> None:
        with self._lock:
            chan = self._channels.pop(e.chanid, None)
            if chan is not None:
                chan._open_error = ChannelException(e.code, e.text)
                chan.closed = True
                chan._opened.set()
            self._cond.notify_all()

    def _on_ChannelOpenRequested(self, e: ev.ChannelOpenRequested) -> None:
        if self.server_mode:
            self._server_channel_open(e)
            return
        handler = self._tcp_handler
        if e.kind == "forwarded-tcpip" and e.origin is not None and e.dest is not None and handler is not None:
            # Only after request_port_forward (which sets a handler, or one that queues for accept).
            chan = self._finish_open(e, 0, queue=False)
            if chan is not None:
                try:
                    handler(chan, e.origin, e.dest)
                except Exception:
                    self.logger.exception("port forward handler failed")
            return
        if e.kind == "auth-agent@openssh.com" and self._forward_agent_handler is not None:
            agent_handler = self._forward_agent_handler
            chan = self._finish_open(e, 0, queue=False)
            if chan is not None:
                try:
                    agent_handler(chan)
                except Exception:
                    self.logger.exception("agent forwarding handler failed")
            return
        self._finish_open(e, 1, queue=False)

    def _on_ChannelEOFReceived(self, e: ev.ChannelEOFReceived) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan._on_eof()
        if chan is not None and chan._receiver is not None:
            self._deliver(chan._receiver, b"")

    def _on_ChannelClosed(self, e: ev.ChannelClosed) -> None:
        with self._lock:
            chan = self._channels.pop(e.chanid, None)
            if chan is not None:
                chan._on_close()
        if chan is not None and chan._receiver is not None:
            self._deliver(chan._receiver, b"")

    def _on_ChannelRequestReplied(self, e: ev.ChannelRequestReplied) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan._on_reply(e.success)

    def _on_ChannelRequestReceived(self, e: ev.ChannelRequestReceived) -> None:
        chan = self._channels.get(e.chanid)
        ok = False
        if e.kind == "exit-status" and chan is not None:
            with self._lock:
                chan.exit_status = int(e.args[0])  # type: ignore[call-overload]
                chan.status_event.set()
                chan._cond.notify_all()
        elif e.kind == "exit-signal" and chan is not None:
            with self._lock:
                sig, core_dumped, msg, _lang = e.args
                chan.exit_signal = (str(sig), bool(core_dumped), str(msg))
                chan.status_event.set()
                chan._cond.notify_all()
        elif self.server_mode:
            self._answer_server_channel_request(chan, e)
            return
        if e.want_reply:
            core = self._core
            assert core is not None
            with self._lock:
                core.channel_request_reply(e.chanid, ok)
            self._flush()

    def _answer_server_channel_request(self, chan: Channel | None, e: ev.ChannelRequestReceived) -> None:
        """Ask the ServerInterface hook, then reply. Until the reply is queued,
        other threads writing to the channel wait (see Channel._hold_for_reply),
        so a handler thread the hook started cannot overtake the reply."""
        core = self._core
        assert core is not None
        if chan is not None:
            with self._lock:
                chan._replying_thread = threading.get_ident()
        ok = False
        try:
            ok = self._server_channel_request(chan, e)
        finally:
            with self._lock:
                if e.want_reply:
                    core.channel_request_reply(e.chanid, ok)
                if chan is not None:
                    chan._replying_thread = None
                    chan._cond.notify_all()
            if e.want_reply:
                self._flush()

    def _on_GlobalRequestReceived(self, e: ev.GlobalRequestReceived) -> None:
        ok, data = False, b""
        if self.server_mode:
            try:
                ok, data = self._server_global_request(e)
            except SSHException:
                ok, data = False, b""
        if e.want_reply:
            core = self._core
            assert core is not None
            with self._lock:
                core.global_request_reply(ok, data)
            self._flush()

    def _on_GlobalReplyReceived(self, e: ev.GlobalReplyReceived) -> None:
        with self._lock:
            if self._global_replies:
                self._global_replies.popleft()[0] = e
            self._cond.notify_all()

    # -- output --------------------------------------------------------------------

    def _flush(self) -> None:
        """Write what the core produced. Any thread may call it; one writes
        at a time. The reader thread never blocks here: what the socket will
        not take at once goes to the writer thread."""
        core = self._core
        if core is None:
            return
        reader = threading.current_thread() is self._thread
        wlock = self._write_lock
        while self._backlog or core._out:
            if not wlock.acquire(blocking=False):
                return
            try:
                while True:
                    with self._lock:
                        chunks = core.take_output()
                    if self._backlog:
                        chunks.insert(0, self._backlog)
                        self._backlog = b""
                    if not chunks:
                        break
                    if reader:
                        rest = self._send_nowait(chunks)
                        if rest:
                            self._backlog = rest
                            if len(rest) > MAX_BACKLOG:
                                raise OSError("peer is not reading")
                            self._wake_writer()
                            return
                    else:
                        self._write_chunks(chunks)
            except OSError as exc:
                self._backlog = b""
                with self._lock:
                    core._out.clear()
                if not self._closing:
                    threading.Thread(target=self._shutdown, args=(SSHException(f"send failed: {exc}"),)).start()
                return
            finally:
                wlock.release()

    def _write_chunks(self, chunks: list[bytes]) -> None:
        """Write buffers in order, with scatter-gather on real sockets."""
        sock = self.sock
        self._last_sent = time.monotonic()
        if len(chunks) == 1 or not isinstance(sock, socket.socket):
            self._write_all(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            return
        i = 0
        while i < len(chunks):
            group = chunks[i : i + _IOV_MAX]
            sent = sock.sendmsg(group)
            total = sum(map(len, group))
            if sent < total:
                rest = b"".join(group)[sent:]
                sock.sendall(rest)
            i += _IOV_MAX

    def _send_nowait(self, chunks: list[bytes]) -> bytes:
        """Send without blocking; returns what the socket did not take."""
        sock = self.sock
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if not isinstance(sock, socket.socket):
            self._write_all(data)
            return b""
        self._last_sent = time.monotonic()
        view = memoryview(data)
        while view:
            try:
                n = sock.send(view, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return bytes(view)
            view = view[n:]
        return b""

    def _wake_writer(self) -> None:
        with self._lock:
            self._writer_wanted = True
            if self._writer is None:
                self._writer = threading.Thread(target=self._writer_loop, name="ssh-transport-writer", daemon=True)
                self._writer.start()
            self._cond.notify_all()

    def _writer_loop(self) -> None:
        """Blocking writes handed over by the reader thread."""
        while True:
            with self._lock:
                while not self._writer_wanted and self.active:
                    self._cond.wait()
                if not self.active:
                    return
                self._writer_wanted = False
            self._flush()

    def _write_all(self, data: bytes) -> None:
        self._last_sent = time.monotonic()
        sendall = getattr(self.sock, "sendall", None)
        if sendall is not None:
            sendall(data)
            return
        view = memoryview(data)
        while view:
            n = self.sock.send(view)
            if n <= 0:
                raise OSError("socket closed")
            view = view[n:]

    # -- closing ---------------------------------------------------------------------

    def _stop_grace_timer(self) -> None:
        """The client authenticated or the session ended: no hang-up is due."""
        timer, self._grace_timer = self._grace_timer, None
        if timer is not None:
            timer.cancel()

    def _shutdown(self, error: Exception | None, flush: bool = False, shutdown_socket: bool = True) -> None:
        self._stop_grace_timer()
        with self._lock:
            first = not self._closing
            self._closing = True
            if error is not None and self._exception is None:
                self._exception = error
            self.active = False
            chans = list(self._channels.values())
            self._channels.clear()
            for chan in chans:
                chan._on_close()
            for slot in self._global_replies:
                slot[0] = False
            self._cond.notify_all()
        for chan in chans:
            if chan._receiver is not None:
                self._deliver(chan._receiver, b"")
        if not first:
            return
        self._kex_done.set()
        if self._kex_event is not None:
            self._kex_event.set()
        sock = self.sock
        if flush and self._core is not None and (self._core._out or self._backlog):
            try:
                if isinstance(sock, socket.socket):
                    sock.settimeout(2.0)
                if self._write_lock.acquire(timeout=2.0):
                    try:
                        data = self._backlog + self._core.data_to_send()
                        if data:
                            self._write_all(data)
                    finally:
                        self._write_lock.release()
            except OSError:
                pass
        try:
            if shutdown_socket and isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass
