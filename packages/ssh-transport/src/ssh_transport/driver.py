"""Event handling of ``Transport`` (a mixin): what the protocol core's events
mean for the blocking API.

The transport's ``SocketPump`` (socket_pump.py) reads the socket and calls
``_process_events``; channel data and window adjusts are handled there in
batches, every other event by one ``_on_<Event>`` handler here, each turning
it into state that blocking calls wait for (on the one transport lock).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ssh_wire import ChannelException, Message, SSHException, format_binary

from .channel import Channel
from .client_auth import ClientAuth
from .keepalive import Keepalive
from .ping import Pinger
from .protocol import events as ev
from .protocol.core import SSHProtocol
from .server import ServerInterface
from .server_side import read_key_blobs
from .socket_pump import SocketPump


class DriverMixin:
    """Event dispatch and shutdown for ``Transport``."""

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
    _core: SSHProtocol | None
    _pump: SocketPump
    _exception: Exception | None
    _grace_timer: threading.Timer | None
    _channels: dict[int, Channel]
    _host_key_blob: bytes | None
    _host_key_alg: str
    _kex_count: int
    agreed_on_strict_kex: bool
    _kex_done: threading.Event
    _kex_event: threading.Event | None
    _auth: ClientAuth
    _username: str | None
    _global_replies: deque[list[Any]]
    _tcp_handler: Callable[..., None] | None
    _forward_agent_handler: Callable[[Channel], object] | None
    _x11_handler: Callable[[Channel, tuple[str, int]], object] | None
    _keepalive: Keepalive
    _pinger: Pinger
    _banner_timer: threading.Timer | None
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

    def _process_events(self, lead: bool = False) -> ev.Event | None:
        """Handle the core's events; channel data and window adjusts in a
        batch under one lock. A leading thread (``lead``) stops at the first
        other event and returns it, for the reader thread to dispatch."""
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
                                continue
                            fn = chan.deliver(e.data, e.ext)  # type: ignore[attr-defined]
                            if fn is None:
                                woken.add(chan)
                            else:
                                calls.append((fn, bytes(e.data)))  # type: ignore[attr-defined]
                                core.channel_consumed(e.chanid, len(e.data))  # type: ignore[attr-defined]
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
                        n = chan.wake()
                        if n:
                            # its recv() threads will wake and look again
                            self._pump.followers_woken(n, lead)
            for fn, data in calls:
                self._deliver(fn, data)
            if e is None or lead:
                return e
            self._dispatch(e)

    def _deliver(self, fn: Callable[[bytes], object], data: bytes) -> None:
        """Give channel data to a receiver (see ``Channel.set_receiver``);
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
        self._stop_banner_timer()

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
            self._auth.on_reply(e)

    def _on_PongReceived(self, e: ev.PongReceived) -> None:
        self._pinger.on_pong(e)

    def _on_ServiceAccepted(self, e: ev.ServiceAccepted) -> None:
        with self._lock:
            self._cond.notify_all()  # ClientAuth waits for it before signing

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
                chan.open_confirmed()
            self._cond.notify_all()

    def _on_ChannelOpenFailed(self, e: ev.ChannelOpenFailed) -> None:
        with self._lock:
            chan = self._channels.pop(e.chanid, None)
            if chan is not None:
                chan.open_failed(ChannelException(e.code, e.text))
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
        x11_handler = self._x11_handler
        if e.kind == "x11" and x11_handler is not None:
            # Only after Channel.request_x11 (which sets a handler, or one that queues for accept).
            try:
                m = Message(e.data, strict=True)
                origin = (m.get_text(), m.get_int())
            except SSHException:
                self._finish_open(e, 1, queue=False)
                return
            chan = self._finish_open(e, 0, queue=False)
            if chan is not None:
                chan.origin_addr = origin
                try:
                    x11_handler(chan, origin)
                except Exception:
                    self.logger.exception("x11 forwarding handler failed")
            return
        self._finish_open(e, 1, queue=False)

    def _on_ChannelEOFReceived(self, e: ev.ChannelEOFReceived) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.deliver_eof()
        fn = chan.receiver if chan is not None else None
        if fn is not None:
            self._deliver(fn, b"")

    def _on_ChannelClosed(self, e: ev.ChannelClosed) -> None:
        with self._lock:
            chan = self._channels.pop(e.chanid, None)
            if chan is not None:
                chan.deliver_close()
        fn = chan.receiver if chan is not None else None
        if fn is not None:
            self._deliver(fn, b"")

    def _on_ChannelRequestReplied(self, e: ev.ChannelRequestReplied) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.deliver_reply(e.success)

    def _on_ChannelRequestReceived(self, e: ev.ChannelRequestReceived) -> None:
        chan = self._channels.get(e.chanid)
        ok = False
        if e.kind == "exit-status" and chan is not None:
            with self._lock:
                chan.deliver_exit_status(int(e.args[0]))  # type: ignore[call-overload]
        elif e.kind == "exit-signal" and chan is not None:
            with self._lock:
                sig, core_dumped, msg, _lang = e.args
                chan.deliver_exit_signal(str(sig), bool(core_dumped), str(msg))
        elif self.server_mode:
            self._answer_server_channel_request(chan, e)
            return
        if e.want_reply:
            core = self._core
            assert core is not None
            with self._lock:
                core.channel_request_reply(e.chanid, ok)
            self._pump.flush()

    def _answer_server_channel_request(self, chan: Channel | None, e: ev.ChannelRequestReceived) -> None:
        """Ask the ServerInterface hook, then reply. Until the reply is queued,
        other threads writing to the channel wait (see Channel._hold_for_reply),
        so a handler thread the hook started cannot overtake the reply."""
        core = self._core
        assert core is not None
        if chan is not None:
            with self._lock:
                chan.begin_reply()
        ok = False
        try:
            ok = self._server_channel_request(chan, e)
        finally:
            with self._lock:
                if e.want_reply:
                    core.channel_request_reply(e.chanid, ok)
                if chan is not None:
                    chan.end_reply()
            if e.want_reply:
                self._pump.flush()

    #: client: the host key blobs the server announced after login
    #: (``hostkeys-00@openssh.com``, OpenSSH's UpdateHostKeys), or None
    announced_host_keys: list[bytes] | None = None

    def _on_GlobalRequestReceived(self, e: ev.GlobalRequestReceived) -> None:
        ok, data = False, b""
        if not self.server_mode and e.name == "hostkeys-00@openssh.com":
            try:
                self.announced_host_keys = read_key_blobs(e.data)
            except SSHException:
                self.logger.info("malformed hostkeys-00@openssh.com announcement ignored")
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
            self._pump.flush()

    def _on_GlobalReplyReceived(self, e: ev.GlobalReplyReceived) -> None:
        with self._lock:
            if self._global_replies:
                self._global_replies.popleft()[0] = e
            self._cond.notify_all()

    # -- closing ---------------------------------------------------------------------

    def _stop_grace_timer(self) -> None:
        """The client authenticated or the session ended: no hang-up is due."""
        timer, self._grace_timer = self._grace_timer, None
        if timer is not None:
            timer.cancel()

    def _stop_banner_timer(self) -> None:
        """The peer's identification line came, or the session ended."""
        timer, self._banner_timer = self._banner_timer, None
        if timer is not None:
            timer.cancel()

    def _shutdown(self, error: Exception | None, flush: bool = False, shutdown_socket: bool = True) -> None:
        self._stop_grace_timer()
        self._stop_banner_timer()
        with self._lock:
            first = not self._closing
            self._closing = True
            if error is not None and self._exception is None:
                self._exception = error
            self.active = False
            chans = list(self._channels.values())
            self._channels.clear()
            for chan in chans:
                chan.deliver_close(self._keepalive.peer_lost)
            for slot in self._global_replies:
                slot[0] = False
            self._pump.stop()
            self._cond.notify_all()
            self._keepalive.stop()
        for chan in chans:
            fn = chan.receiver
            if fn is not None:
                self._deliver(fn, b"")
        if not first:
            return
        self._kex_done.set()
        if self._kex_event is not None:
            self._kex_event.set()
        self._pump.close_socket(flush, shutdown_socket)
