"""``SessionEvents``: where the threaded transport's events go.

The ``SocketPump`` feeds the core; the ``ChannelTable`` handles channel
data in batches and passes every other event to ``dispatch`` here, which
routes it by type to the object that owns it (channels, client auth,
server side, global requests, ping) or handles it itself when it is about
the connection: the peer's version, key exchanges, extensions, the
authentication banner, a disconnect. ``Transport`` reads what those told
(host key, kex count, the error that ended the session, the user) from
here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ssh_wire import SSHException

from .protocol import events as ev

if TYPE_CHECKING:
    from .channel_table import ChannelTable
    from .client_auth import ClientAuth
    from .global_requests import GlobalRequests
    from .ping import Pinger
    from .server_side import ServerSide
    from .socket_pump import SocketPump
    from .transport import Transport


class SessionEvents:
    """Routes the core's events (see the module docstring) and keeps the
    connection-level state they carry. Handlers run in the thread reading
    the socket, without the transport lock."""

    def __init__(
        self,
        transport: Transport,
        pump: SocketPump,
        cond: threading.Condition,
        channels: ChannelTable,
        auth: ClientAuth,
        pinger: Pinger,
        global_requests: GlobalRequests,
        version_received: Callable[[], None],
    ) -> None:
        """Events of ``transport`` (whose public ``remote_version``,
        ``banner``, ``server_extensions`` and ``agreed_on_strict_kex`` are
        set here), read by ``pump``. ``version_received()`` is called when
        the peer's identification line arrives."""
        self._transport = transport
        self._pump = pump
        self._lock = pump.lock
        self._cond = cond
        self._channels = channels
        self._version_received = version_received
        #: the server side, on a server transport (set by ``start_server``)
        self.server: ServerSide | None = None
        #: the server's host key blob and algorithm from the last key exchange
        self.host_key_blob: bytes | None = None
        self.host_key_algorithm = ""
        #: key exchanges done so far
        self.kex_count = 0
        #: set once the first key exchange is done (or the session ended)
        self.kex_done = threading.Event()
        #: the caller's event for ``start_client``/``start_server``, if any
        self.kex_event: threading.Event | None = None
        #: who logged in (client: as whom; server: who)
        self.username: str | None = None
        self._error: Exception | None = None
        auth_reply = self._on_auth_reply
        self._handlers: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.VersionReceived: self._on_version,
            ev.KexCompleted: self._on_kex_completed,
            ev.ExtInfoReceived: self._on_ext_info,
            ev.DisconnectReceived: self._on_disconnect,
            ev.ConnectionClosed: self._on_connection_closed,
            ev.DebugReceived: self._on_debug,
            ev.AuthBannerReceived: self._on_auth_banner,
            ev.ServiceAccepted: self._on_service_accepted,
            ev.AuthSucceeded: auth_reply,
            ev.AuthFailed: auth_reply,
            ev.AuthInfoRequested: auth_reply,
            ev.PasswordChangeRequested: auth_reply,
            ev.AuthPublicKeyAccepted: auth_reply,
            ev.AuthRequested: self._on_auth_requested,
            ev.AuthInfoResponded: self._on_auth_info,
            ev.PongReceived: pinger.on_pong,
            ev.ChannelOpenConfirmed: channels.on_open_confirmed,
            ev.ChannelOpenFailed: channels.on_open_failed,
            ev.ChannelOpenRequested: self._on_channel_open,
            ev.ChannelEOFReceived: channels.on_eof,
            ev.ChannelClosed: channels.on_closed,
            ev.ChannelRequestReplied: channels.on_request_replied,
            ev.ChannelRequestReceived: self._on_channel_request,
            ev.GlobalRequestReceived: global_requests.on_request,
            ev.GlobalReplyReceived: global_requests.on_reply,
        }
        self._auth = auth

    def dispatch(self, e: ev.Event) -> None:
        """Handle one event that is not channel data."""
        handler = self._handlers.get(type(e))
        if handler is not None:
            handler(e)

    # -- the error that ended the session ----------------------------------------------

    def record_error(self, error: Exception) -> None:
        """(Lock held.) Why the session ends, unless a reason was recorded already."""
        if self._error is None:
            self._error = error

    @property
    def error(self) -> Exception | None:
        """The recorded reason the session ended (or failed to start)."""
        return self._error

    def take_error(self) -> Exception | None:
        """(Lock held.) The recorded reason, cleared (``get_exception``)."""
        error, self._error = self._error, None
        return error

    def release_kex_waiters(self) -> None:
        """The first key exchange is done, or the session ended: whoever
        waits for it wakes."""
        self.kex_done.set()
        if self.kex_event is not None:
            self.kex_event.set()

    # -- the connection ------------------------------------------------------------------

    def _on_version(self, e: ev.VersionReceived) -> None:
        self._transport.remote_version = e.version.decode("ascii", "replace")
        self._version_received()

    def _on_kex_completed(self, e: ev.KexCompleted) -> None:
        with self._lock:
            self.host_key_blob = e.host_key_blob
            self.host_key_algorithm = e.host_key_algorithm
            self.kex_count += 1
            if e.first:
                self._transport.agreed_on_strict_kex = e.strict
            self._cond.notify_all()
        self._pump.logger.debug("kex done: %s %s %s/%s", e.kex, e.host_key_algorithm, e.cipher_out, e.mac_out)
        if e.first:
            self.release_kex_waiters()

    def _on_ext_info(self, e: ev.ExtInfoReceived) -> None:
        self._transport.server_extensions.update(e.extensions)

    def _on_disconnect(self, e: ev.DisconnectReceived) -> None:
        with self._lock:
            self.record_error(SSHException(f"Disconnected by peer ({e.reason}): {e.description}"))

    def _on_connection_closed(self, e: ev.ConnectionClosed) -> None:
        with self._lock:
            self.record_error(SSHException("Connection closed by peer"))

    def _on_debug(self, e: ev.DebugReceived) -> None:
        self._pump.logger.debug("debug message from peer: %s", e.message)

    # -- authentication -------------------------------------------------------------------

    def _on_auth_banner(self, e: ev.AuthBannerReceived) -> None:
        self._transport.banner = e.message

    def _on_service_accepted(self, e: ev.ServiceAccepted) -> None:
        with self._lock:
            self._cond.notify_all()  # ClientAuth waits for it before signing

    def _on_auth_reply(self, e: ev.Event) -> None:
        with self._lock:
            if isinstance(e, ev.AuthSucceeded):
                self.username = e.username
            self._auth.on_reply(e)

    def _on_auth_requested(self, e: ev.AuthRequested) -> None:
        if self.server is not None:
            self.server.on_auth_requested(e)

    def _on_auth_info(self, e: ev.AuthInfoResponded) -> None:
        if self.server is not None:
            self.server.on_auth_info(e)

    # -- channels, by role ----------------------------------------------------------------

    def _on_channel_open(self, e: ev.ChannelOpenRequested) -> None:
        if self.server is not None:
            self.server.on_channel_open(e)
            return
        t = self._transport
        self._channels.on_client_open_requested(e, t.default_window_size, t.default_max_packet_size)

    def _on_channel_request(self, e: ev.ChannelRequestReceived) -> None:
        handled = self._channels.on_exit_request(e)
        if not handled and self.server is not None:
            self.server.on_channel_request(self._channels.get(e.chanid), e)
            return
        if e.want_reply:
            core = self._pump.core
            assert core is not None
            with self._lock:
                core.channel_request_reply(e.chanid, False)
            self._pump.flush()


__all__ = ["SessionEvents"]
