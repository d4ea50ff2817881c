"""The SSH protocol core: bytes in, events out, no I/O (h11 style).

``SSHProtocol(role)`` is fed with ``receive_data(bytes)``; ``next_event()``
returns the next ``events.Event``, or ``None`` when there is none for now:
``wants`` then says why (``NEED_DATA``: feed more bytes; ``PAUSED``: the
core waits for one of the driver's decisions and reads nothing until it
comes; ``CLOSED``: the connection is over). ``data_to_send()`` gives the
bytes to write. Server decisions (``auth_result``, ``accept_channel``,
``channel_request_reply`` ...) go back in as calls.

Public-key signing is the driver's job, so that a slow signer (an agent, a
security token) never runs inside the core: ``auth_publickey_begin`` returns
the data to sign, ``auth_publickey_signature`` sends the request with the
signature (``auth_publickey`` does both with a local key).

Dispatch is a table per role and phase: a message that is not in the table
for the current state is a protocol error.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from ssh_wire import (
    DISCONNECT_BY_APPLICATION,
    DISCONNECT_PROTOCOL_ERROR,
    DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED,
    Message,
    ProtocolError,
    SSHException,
)

from . import constants as c
from . import events as ev
from .connection import ConnectionState
from .negotiation import AlgorithmPreferences, KexNegotiator, Negotiated, parse_ext_info
from .packets import PacketReader, PacketWriter
from .userauth import HOSTBOUND_EXTENSION, ClientAuth, PublicKeySignRequest, ServerAuth

DEFAULT_VERSION = b"SSH-2.0-ssh_transport_0.1.0"
MAX_VERSION_LINE = 255
MAX_PRE_BANNER_LINES = 1024
REKEY_BYTES = 1 << 30
REKEY_INTERVAL = 3600.0
_KEX_METHOD = frozenset(range(30, 50))
# Messages we may send while a key exchange is in progress (RFC 4253 7.1).
_SEND_DURING_KEX = frozenset({1, 2, 3, 4, 20, 21, *range(30, 50)})
_U32 = struct.Struct(">I")
_MSG_DATA = c.MSG_CHANNEL_DATA
PING_EXTENSION = "ping@openssh.com"

#: ``SSHProtocol.wants`` after ``next_event()`` returned None: more bytes are needed
NEED_DATA = "need-data"
#: ... the core waits for a decision (``auth_result``, ``accept_channel``, ...)
PAUSED = "paused"
#: ... the connection is over; nothing more will come
CLOSED = "closed"
# OpenSSH 9.6+: a client that sends this in its EXT_INFO takes a second
# EXT_INFO from the server right before USERAUTH_SUCCESS (PROTOCOL 1.9)
EXT_INFO_IN_AUTH = "ext-info-in-auth@openssh.com"

Handler = Callable[[Any], None]


class SSHProtocol:
    """One side of an SSH connection as a pure state machine."""

    def __init__(
        self,
        role: str,
        *,
        prefs: AlgorithmPreferences | None = None,
        host_keys: dict[str, Any] | None = None,
        local_version: bytes = DEFAULT_VERSION,
        gex_moduli: Callable[[int, int, int], tuple[int, int] | None] | None = None,
        expected_host_key_type: str | None = None,
        max_packet_length: int = 256 * 1024 + 64,
        rekey_bytes: int = REKEY_BYTES,
        rekey_interval: float = REKEY_INTERVAL,
        max_channels: int = 1024,
        max_auth_attempts: int = 20,
        pubkey_algorithms: tuple[str, ...] | None = None,
        now: float = 0.0,
        strict_kex: bool = True,
        server_sig_algs: bool = True,
    ) -> None:
        if role not in ("client", "server"):
            raise ValueError("role must be 'client' or 'server'")
        self.role = role
        self.prefs = prefs or AlgorithmPreferences()
        self.local_version = local_version
        self.remote_version: bytes | None = None
        self.writer = PacketWriter()
        self.reader = PacketReader(max_packet_length)
        self.rekey_bytes = rekey_bytes
        self.rekey_interval = rekey_interval
        self._last_kex_time = now
        self._kex_time_stale = False
        self._out: list[bytes | bytearray] = []
        self._events: deque[ev.Event] = deque()
        self._held: list[bytes] = []
        self._vbuf = bytearray()
        self._pre_lines = 0
        self.closed = False
        self.eof = False
        self.packets_in = 0
        self.trace: Callable[[str, bytes], None] | None = None
        self.neg = KexNegotiator(
            role,
            self.prefs,
            self.writer,
            self.reader,
            self._send_kex,
            host_keys=host_keys,
            gex_moduli=gex_moduli,
            expected_host_key_type=expected_host_key_type,
            strict_kex=strict_kex,
        )
        # server: answer a client's ext-info-c with EXT_INFO (server-sig-algs)
        self.send_server_sig_algs = server_sig_algs
        self.neg.local_version = local_version
        algs = pubkey_algorithms or self.prefs.key_types
        self.client_auth = ClientAuth(self, algs) if role == "client" else None
        self.server_auth = ServerAuth(self, algs, max_auth_attempts) if role == "server" else None
        self.conn = ConnectionState(self.send, self.emit, self._send_parts, max_channels)
        self.phase = "kex1"  # kex1 -> auth -> conn
        self.extensions: dict[str, bytes] = {}
        self._ext_info_next = False
        #: server: the client's EXT_INFO asked for ext-info-in-auth@openssh.com
        self.peer_wants_ext_info_in_auth = False
        self._table: dict[int, Handler] = {}
        self._build_tables()
        self._rebuild()
        self._started = False
        self._wants = NEED_DATA
        #: client: use publickey-hostbound-v00@openssh.com when the server offers it
        self.use_hostbound_auth = True

    # -- the AuthHost / output interface -----------------------------------

    @property
    def session_id(self) -> bytes | None:
        """H of the first key exchange (None before it completes)."""
        return self.neg.session_id

    @property
    def initial_host_key_blob(self) -> bytes | None:
        """The server host key of the first key exchange (ours on a server),
        the one hostbound auth binds to (None before it completes)."""
        return self.neg.initial_host_key_blob

    @property
    def session_binding(self) -> tuple[bytes, bytes, bytes] | None:
        """(host key blob, session id, host key's signature over the session
        id) from the first key exchange: what an agent's
        ``session-bind@openssh.com`` takes. None before the exchange."""
        neg = self.neg
        if neg.session_id is None or neg.initial_host_key_blob is None or neg.initial_signature is None:
            return None
        return neg.initial_host_key_blob, neg.session_id, neg.initial_signature

    def emit(self, event: ev.Event) -> None:
        """Queue an event for ``next_event``."""
        self._events.append(event)

    def _seal(self, payload: bytes) -> None:
        if self.trace is not None:
            self.trace("OUT", payload)
        self._out.append(self.writer.seal(payload))

    def _send_kex(self, payload: bytes) -> None:
        self._seal(payload)

    def send(self, payload: bytes) -> None:
        """Send a payload, held back while a key exchange is running."""
        if self.closed:
            raise SSHException("connection is closed")
        neg = self.neg
        if neg.in_progress or self._held or neg.kex_count == 0:
            self._held.append(payload)
            return
        self._seal(payload)
        if self.writer.bytes_sealed > self.rekey_bytes:
            self.start_rekey()

    def _send_parts(self, payloads: list[tuple[bytes, memoryview]]) -> None:
        """Send channel data given as (header, data view) pairs, sealed in one
        batch unless a key exchange or tracing needs them one at a time."""
        if self.closed:
            raise SSHException("connection is closed")
        if self.neg.in_progress or self._held or self.trace is not None or self.neg.kex_count == 0:
            for head, data in payloads:
                self.send(head + data)
            return
        self._out.extend(self.writer.seal_parts(payloads))
        if self.writer.bytes_sealed > self.rekey_bytes:
            self.start_rekey()

    def data_to_send(self) -> bytes:
        """All bytes produced so far and not yet taken."""
        if not self._out:
            return b""
        out = self._out[0] if len(self._out) == 1 and type(self._out[0]) is bytes else b"".join(self._out)
        self._out.clear()
        return out

    def reader_buffer(self, size: int) -> memoryview | None:
        """A view to ``recv_into`` directly (then ``reader.commit(n)``), once
        the identification line is through; None before that."""
        if self.remote_version is None:
            return None
        return self.reader.buffer_for_recv(size)

    def commit_received(self, n: int) -> None:
        """Mark ``n`` bytes written into the last ``reader_buffer`` view as received."""
        self.reader.commit(n)

    def shrink_reader_buffer(self, size: int | None = None) -> bool:
        """Give back a large receive buffer while no received bytes wait (an
        idle connection, or one that ended); keeps ``size`` bytes (default: the
        reader's minimum). False if bytes are buffered."""
        return self.reader.shrink_buffer() if size is None else self.reader.shrink_buffer(size)

    def discard_received_input(self) -> None:
        """For a driver that has stopped reading for good (the connection
        ended): drop received bytes not yet processed (a packet cut short by
        the close) and give the receive buffer back, which
        ``shrink_reader_buffer`` refuses while bytes are buffered."""
        self.reader.take_buffered()
        self.reader.shrink_buffer(0)

    def release_output_buffer(self) -> bool:
        """Give back the batch buffer kept from the last stream of output
        (see ``stream_output``); a driver calls it when the connection is
        idle. True if one was kept."""
        return self.writer.release_batch_buffer()

    @property
    def holds_output_buffer(self) -> bool:
        """Whether a batch buffer is kept from the last stream of output."""
        return self.writer.holds_batch_buffer

    def stream_output(self, on: bool) -> None:
        """A sender starts (True) or ends (False) a bulk write of channel
        data: meanwhile the packet writer reuses its batch buffer once the
        driver has written it, in this stream and later ones, until
        ``release_output_buffer`` (``PacketWriter.keep_batch_buffer``; calls
        nest)."""
        self.writer.keep_batch_buffer(on)

    @property
    def negotiated(self) -> Negotiated | None:
        """The algorithms chosen by the last key exchange (None before the first)."""
        return self.neg.negotiated

    def channel_send_window(self, chanid: int) -> int:
        """How many bytes the peer will still take on channel ``chanid`` (0 if unknown)."""
        st = self.conn.get(chanid)
        return st.remote_window if st is not None else 0

    def channel_send_room(self, chanid: int) -> int:
        """Like ``channel_send_window``, but -1 when nothing can be sent on
        channel ``chanid`` any more (unknown, or CLOSE already sent)."""
        st = self.conn.get(chanid)
        if st is None or st.close_sent:
            return -1
        return st.remote_window

    def channel_remote_id(self, chanid: int) -> int:
        """The peer's id for channel ``chanid`` (-1 until the open is confirmed)."""
        st = self.conn.get(chanid)
        return st.remote_id if st is not None else -1

    @property
    def negotiated_cipher(self) -> str:
        """The cipher we send with (empty before the first key exchange)."""
        n = self.neg.negotiated
        if n is None:
            return ""
        return n.cipher_cs if self.role == "client" else n.cipher_sc

    def take_output(self) -> list[bytes | bytearray]:
        """Like ``data_to_send`` but as the list of buffers (no join), for
        scatter-gather writes."""
        out = self._out
        self._out = []
        return out

    def pending_output_size(self) -> int:
        """How many bytes are produced and not yet taken (a driver's measure
        of a peer that does not read)."""
        return sum(map(len, self._out))

    def has_data_to_send(self) -> bool:
        """Whether ``data_to_send`` would return something."""
        return bool(self._out)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Send our identification line and our first KEXINIT."""
        if self._started:
            return
        self._started = True
        self._out.append(self.local_version + b"\r\n")
        self.neg.start()

    def start_rekey(self) -> None:
        """Begin a new key exchange (no-op if one is running or before the first)."""
        if self.closed or self.neg.first or self.neg.in_progress:
            return
        self.neg.start()
        self._rebuild()

    def tick(self, now: float) -> None:
        """Let time pass: rekey after ``rekey_interval`` seconds."""
        if self._kex_time_stale:
            self._kex_time_stale = False
            self._last_kex_time = now
        if not self.neg.first and not self.neg.in_progress and now - self._last_kex_time > self.rekey_interval:
            self._last_kex_time = now
            self.start_rekey()

    def disconnect(self, reason: int = DISCONNECT_BY_APPLICATION, description: str = "") -> None:
        """Send DISCONNECT (best effort) and stop."""
        if self.closed:
            return
        if self._started:
            try:
                m = Message().add_byte(c.MSG_DISCONNECT).add_int(reason).add_string(description).add_string("")
                self._seal(m.asbytes())
            except Exception:
                pass
        self.closed = True

    # -- input -------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed the stream."""
        if not data:
            self.eof = True
            return
        if self.remote_version is None:
            self._vbuf += data
            self._parse_version()
            return
        self.reader.feed(data)

    def _parse_version(self) -> None:
        while self.remote_version is None:
            nl = self._vbuf.find(b"\n")
            if nl < 0:
                if len(self._vbuf) > MAX_VERSION_LINE + 2:
                    raise self._fail(ProtocolError("identification line too long"))
                return
            line = bytes(self._vbuf[:nl]).rstrip(b"\r")
            del self._vbuf[: nl + 1]
            if len(line) > MAX_VERSION_LINE:
                raise self._fail(ProtocolError("identification line too long"))
            if line.startswith(b"SSH-"):
                if not (line.startswith(b"SSH-2.0-") or line.startswith(b"SSH-1.99-")):
                    raise self._fail(
                        ProtocolError(
                            f"unsupported protocol version {line[:40]!r}", DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED
                        )
                    )
                self.remote_version = line
                self.neg.remote_version = line
                self.emit(ev.VersionReceived(line))
                rest = bytes(self._vbuf)
                self._vbuf = bytearray()
                if rest:
                    self.reader.feed(rest)
                return
            if self.role == "server":
                raise self._fail(ProtocolError("client did not start with an SSH identification line"))
            self._pre_lines += 1
            if self._pre_lines > MAX_PRE_BANNER_LINES:
                raise self._fail(ProtocolError("too many lines before the identification line"))

    def _fail(self, exc: ProtocolError) -> ProtocolError:
        self.disconnect(exc.reason, str(exc))
        return exc

    @property
    def paused(self) -> bool:
        """True while the driver owes a decision (auth, channel open, request)."""
        sa = self.server_auth
        return (sa is not None and sa.awaiting_decision) or self.conn.awaiting_decision

    @property
    def wants(self) -> str:
        """Why the last ``next_event()`` returned None: ``NEED_DATA`` (feed
        bytes with ``receive_data``), ``PAUSED`` (answer the pending decision
        first; see ``paused``) or ``CLOSED``. After an event it is
        ``NEED_DATA`` until the next call says otherwise."""
        return self._wants

    def next_event(self) -> ev.Event | None:
        """The next event, or None if more data (or a decision) is needed;
        ``wants`` tells the two apart.

        Raises ``ProtocolError`` (after queueing a DISCONNECT) when the peer
        breaks the protocol, and ``SSHException`` once the connection is over.
        """
        events = self._events
        while not events:
            if self.closed:
                self._wants = CLOSED
                return None
            if self.paused:
                self._wants = PAUSED
                return None
            try:
                payload = self.reader.next_payload_view()
                if payload is None:
                    if self.eof:
                        self.closed = True
                        return ev.ConnectionClosed("connection closed by peer")
                    self._wants = NEED_DATA
                    return None
                self._handle(payload)
            except ProtocolError as exc:
                raise self._fail(exc) from None
            except SSHException as exc:
                raise self._fail(ProtocolError(str(exc))) from exc
            except (ValueError, IndexError, KeyError, TypeError, struct.error, UnicodeError) as exc:
                raise self._fail(ProtocolError(f"malformed packet: {exc}")) from exc
        self._wants = NEED_DATA
        return events.popleft()

    def _handle(self, payload: bytes | memoryview) -> None:
        if not payload:
            raise ProtocolError("empty packet")
        self.packets_in += 1
        t = payload[0]
        if t != _MSG_DATA and type(payload) is not bytes:
            payload = bytes(payload)  # only CHANNEL_DATA takes a view (it copies its slice once)
        if self.trace is not None:
            self.trace("IN", bytes(payload))
        if self._ext_info_next:
            self._ext_info_next = False
            if t == c.MSG_EXT_INFO:
                self._on_ext_info(bytes(payload))
                return
        handler = self._table.get(t)
        if handler is None:
            self._unexpected(t)
            return
        handler(payload)
        if self.reader.bytes_opened > self.rekey_bytes and not self.neg.in_progress:
            self.start_rekey()

    def _unexpected(self, t: int) -> None:
        name = c.MESSAGE_NAMES.get(t, str(t))
        where = "during key exchange" if self.neg.peer_in_kex else f"in phase {self.phase}"
        if t in c.MESSAGE_NAMES or self.phase == "kex1" or self.neg.peer_in_kex:
            raise ProtocolError(f"unexpected message {name} ({self.role}, {where})")
        # An unknown message number outside key exchange: RFC 4253 11.4.
        self.send(bytes([c.MSG_UNIMPLEMENTED]) + _U32.pack((self.packets_in - 1) & 0xFFFFFFFF))

    # -- dispatch tables ---------------------------------------------------

    def _build_tables(self) -> None:
        generic: dict[int, Handler] = {
            c.MSG_DISCONNECT: self._on_disconnect,
            c.MSG_IGNORE: self._on_ignore,
            c.MSG_DEBUG: self._on_debug,
            c.MSG_UNIMPLEMENTED: self._on_unimplemented,
            # ping@openssh.com before authentication or during a key
            # exchange: dropped unanswered, as OpenSSH drops them
            c.MSG_PING: self._ignore_payload,
            c.MSG_PONG: self._ignore_payload,
        }
        self._t_generic = generic
        self._t_kex_strict: dict[int, Handler] = {
            c.MSG_DISCONNECT: self._on_disconnect,
            c.MSG_KEXINIT: self._on_kexinit,
            c.MSG_NEWKEYS: self._on_newkeys,
        }
        for n in _KEX_METHOD:
            self._t_kex_strict[n] = self.neg.on_kex_message
        self._t_kex = {**generic, **self._t_kex_strict}
        base = {**generic, c.MSG_KEXINIT: self._on_kexinit}
        if self.role == "client":
            ca = self.client_auth
            assert ca is not None
            self._t_auth = {
                **base,
                c.MSG_SERVICE_ACCEPT: ca.on_service_accept,
                c.MSG_USERAUTH_FAILURE: ca.on_failure,
                c.MSG_USERAUTH_SUCCESS: self._on_client_auth_success,
                c.MSG_USERAUTH_BANNER: ca.on_banner,
                60: ca.on_60,
                c.MSG_EXT_INFO: self._on_ext_info_in_auth,
            }
        else:
            sa = self.server_auth
            assert sa is not None
            self._t_auth = {
                **base,
                c.MSG_SERVICE_REQUEST: sa.on_service_request,
                c.MSG_USERAUTH_REQUEST: self._on_server_auth_request,
                c.MSG_USERAUTH_INFO_RESPONSE: sa.on_info_response,
            }
        cs = self.conn
        self._t_conn = {
            **base,
            c.MSG_GLOBAL_REQUEST: cs.on_global_request,
            c.MSG_REQUEST_SUCCESS: cs.on_global_reply,
            c.MSG_REQUEST_FAILURE: cs.on_global_reply,
            c.MSG_CHANNEL_OPEN: self._on_channel_open,
            c.MSG_CHANNEL_OPEN_CONFIRMATION: cs.on_open_confirmation,
            c.MSG_CHANNEL_OPEN_FAILURE: cs.on_open_failure,
            c.MSG_CHANNEL_WINDOW_ADJUST: cs.on_window_adjust,
            c.MSG_CHANNEL_DATA: cs.on_data,
            c.MSG_CHANNEL_EXTENDED_DATA: cs.on_extended_data,
            c.MSG_CHANNEL_EOF: cs.on_eof,
            c.MSG_CHANNEL_CLOSE: cs.on_close,
            c.MSG_CHANNEL_REQUEST: cs.on_request,
            c.MSG_CHANNEL_SUCCESS: cs.on_request_reply,
            c.MSG_CHANNEL_FAILURE: cs.on_request_reply,
            c.MSG_PING: cs.on_ping,
            c.MSG_PONG: cs.on_pong,
        }
        if self.role == "server":
            # RFC 4252 5.1: requests after success are ignored, not errors.
            self._t_conn[c.MSG_USERAUTH_REQUEST] = self._ignore_payload

    def _rebuild(self) -> None:
        neg = self.neg
        if neg.peer_in_kex:
            self._table = self._t_kex_strict if (neg.first and neg.strict) else self._t_kex
        elif self.phase == "kex1":
            # Before the peer's first KEXINIT. IGNORE/DEBUG are tolerated here
            # unless strict kex turns out to be on (then KEXINIT must be packet 0).
            self._table = {**self._t_generic, c.MSG_KEXINIT: self._on_kexinit}
        elif self.phase == "auth":
            self._table = self._t_auth
        else:
            self._table = self._t_conn

    # -- transport-layer handlers ---------------------------------------------

    def _ignore_payload(self, payload: bytes) -> None:
        return None

    def _on_disconnect(self, payload: bytes) -> None:
        m = Message(payload, strict=True)
        m.get_byte()
        try:
            reason = m.get_int()
            text = m.get_text()
        except ProtocolError:
            reason, text = DISCONNECT_PROTOCOL_ERROR, "(malformed DISCONNECT)"
        self.closed = True
        self.emit(ev.DisconnectReceived(reason, text))

    def _on_ignore(self, payload: bytes) -> None:
        m = Message(payload, strict=True)
        m.get_byte()
        self.emit(ev.IgnoreReceived(m.get_string() if m.remaining() else b""))

    def _on_debug(self, payload: bytes) -> None:
        m = Message(payload, strict=True)
        m.get_byte()
        display = m.get_boolean()
        text = m.get_text()
        self.emit(ev.DebugReceived(display, text))

    def _on_unimplemented(self, payload: bytes) -> None:
        m = Message(payload, strict=True)
        m.get_byte()
        self.emit(ev.UnimplementedReceived(m.get_int()))

    def _on_kexinit(self, payload: bytes) -> None:
        self.neg.on_kexinit(payload, self.packets_in - 1)
        self._rebuild()

    def _on_newkeys(self, payload: bytes) -> None:
        neg = self.neg
        first = neg.kex_count == 0
        neg.on_newkeys(payload)
        if not neg.newkeys_sent:
            raise ProtocolError("NEWKEYS before ours was sent")
        n = neg.negotiated
        assert n is not None and neg.host_key_blob is not None
        strict = neg.strict
        neg.reset_exchange()
        if first:
            self.phase = "auth"
            if self.role == "server" and neg.peer_wants_ext_info and self.send_server_sig_algs:
                self._held.insert(0, self._server_ext_info())
            elif self.role == "client" and neg.peer_wants_ext_info:
                self._held.insert(0, self._client_ext_info())
            self._ext_info_next = True
        self._kex_time_stale = True
        self._rebuild()
        held, self._held = self._held, []
        for p in held:
            self.send(p)
        out = self.role == "client"
        self.emit(
            ev.KexCompleted(
                first,
                n.kex,
                n.host_key,
                neg.host_key_blob,
                n.cipher_cs if out else n.cipher_sc,
                n.cipher_sc if out else n.cipher_cs,
                (n.mac_cs if out else n.mac_sc) or "",
                (n.mac_sc if out else n.mac_cs) or "",
                n.comp_cs if out else n.comp_sc,
                n.comp_sc if out else n.comp_cs,
                strict,
            )
        )

    def _server_ext_info(self) -> bytes:
        sa = self.server_auth
        assert sa is not None
        m = Message().add_byte(c.MSG_EXT_INFO).add_int(3 if sa.hostbound else 2)
        m.add_string("server-sig-algs").add_string(",".join(sa.allowed_algorithms))
        if sa.hostbound:
            m.add_string(HOSTBOUND_EXTENSION).add_string("0")
        m.add_string(PING_EXTENSION).add_string("0")
        return m.asbytes()

    def _client_ext_info(self) -> bytes:
        """The client's EXT_INFO (to a server that sent ext-info-s): we take
        a second EXT_INFO during authentication."""
        return Message().add_byte(c.MSG_EXT_INFO).add_int(1).add_string(EXT_INFO_IN_AUTH).add_string("0").asbytes()

    def _on_ext_info(self, payload: bytes) -> None:
        ext = parse_ext_info(payload)
        self.extensions.update(ext)
        if self.role == "server" and EXT_INFO_IN_AUTH in ext:
            self.peer_wants_ext_info_in_auth = True
        if self.role == "client":
            sigs = ext.get("server-sig-algs")
            if sigs is not None and self.client_auth is not None:
                try:
                    self.client_auth.server_sig_algs = sigs.decode("ascii").split(",")
                except UnicodeDecodeError as exc:
                    raise ProtocolError("server-sig-algs is not ASCII") from exc
            if self.client_auth is not None and self.use_hostbound_auth and self.peer_supports_hostbound:
                self.client_auth.hostbound_host_key = self.neg.initial_host_key_blob
        self.emit(ev.ExtInfoReceived(ext))

    def _on_ext_info_in_auth(self, payload: bytes) -> None:
        # RFC 8308 2.4: a server may also send EXT_INFO right before USERAUTH_SUCCESS.
        ca = self.client_auth
        if ca is None or not ca.expects_reply():
            raise ProtocolError("EXT_INFO outside its phase")
        self._on_ext_info(payload)

    # -- auth ------------------------------------------------------------------

    def _on_client_auth_success(self, payload: bytes) -> None:
        assert self.client_auth is not None
        self.client_auth.on_success(payload)
        self.phase = "conn"
        self.writer.enable_delayed_compression()
        self.reader.enable_delayed_compression()
        self._rebuild()

    def _on_server_auth_request(self, payload: bytes) -> None:
        sa = self.server_auth
        assert sa is not None
        sa.on_request(payload)

    # client calls
    def auth_none(self, username: str) -> None:
        """Client: send a "none" auth request."""
        self._client().request_none(username)

    def auth_password(self, username: str, password: str | bytes, new_password: str | bytes | None = None) -> None:
        """Client: send a password auth request."""
        self._client().request_password(username, password, new_password)

    def auth_publickey(self, username: str, key: Any, algorithm: str | None = None) -> None:
        """Client: send a signed publickey auth request, signing with ``key``
        here (a local key; a driver with an agent or token key should use
        ``auth_publickey_begin``/``auth_publickey_signature`` instead)."""
        self._client().request_publickey(username, key, algorithm)

    def auth_publickey_begin(
        self, username: str, key: Any, algorithm: str | None = None, *, hostbound: bool | None = None
    ) -> PublicKeySignRequest:
        """Client: start a signed publickey request and return what to sign.

        ``key`` is a public key object (``PKey``, agent key, key with a
        certificate) or a public key blob; ``algorithm`` forces a signature
        algorithm (default: the best the key and the server's server-sig-algs
        allow). The request is host-bound (OpenSSH's
        publickey-hostbound-v00) when the server advertised it, unless
        ``hostbound`` is False. Sign ``req.data`` with ``req.algorithm``, then
        call ``auth_publickey_signature`` (or ``auth_publickey_cancel``).
        Nothing is sent before that.
        """
        return self._client().begin_publickey(username, key, algorithm, hostbound)

    def auth_publickey_signature(self, signature: bytes | bytearray | Message) -> None:
        """Client: send the request begun by ``auth_publickey_begin`` with
        ``signature`` (the signature blob: string algorithm, string signature)."""
        self._client().finish_publickey(signature if isinstance(signature, Message) else bytes(signature))

    def auth_publickey_cancel(self) -> None:
        """Client: forget a request begun by ``auth_publickey_begin`` (the
        signer failed), so another request may be made."""
        self._client().cancel_publickey()

    def auth_publickey_query(
        self, username: str, key: Any, algorithm: str | None = None, *, hostbound: bool | None = None
    ) -> None:
        """Client: ask whether ``key`` would be accepted, without signing
        (RFC 4252 7); ``AuthPublicKeyAccepted`` or ``AuthFailed`` follows."""
        self._client().request_publickey_query(username, key, algorithm, hostbound)

    def auth_request_service(self) -> None:
        """Client: ask for the ssh-userauth service now (auth requests also
        do it). Once ``auth_service_accepted``, the server's EXT_INFO has been
        seen, so algorithm and method choices made after that are informed."""
        self._client().request_service()

    @property
    def auth_service_accepted(self) -> bool:
        """Client: whether the server accepted the ssh-userauth service."""
        return self.client_auth is not None and self.client_auth.service_accepted

    @property
    def peer_supports_hostbound(self) -> bool:
        """Client: whether the server advertised publickey-hostbound@openssh.com "0"."""
        return self.extensions.get(HOSTBOUND_EXTENSION) == b"0"

    def auth_interactive(self, username: str, submethods: str = "") -> None:
        """Client: start keyboard-interactive auth."""
        self._client().request_interactive(username, submethods)

    def auth_info_response(self, responses: list[str] | tuple[str, ...]) -> None:
        """Client: answer keyboard-interactive prompts."""
        self._client().info_response(responses)

    def _client(self) -> ClientAuth:
        if self.client_auth is None:
            raise SSHException("not a client")
        return self.client_auth

    # server calls
    def auth_result(self, result: int, allowed: list[str] | tuple[str, ...] = ()) -> None:
        """Server: answer the pending auth request (AUTH_SUCCESSFUL/PARTIALLY/FAILED)."""
        sa = self.server_auth
        if sa is None:
            raise SSHException("not a server")
        if result == c.AUTH_SUCCESSFUL and self.peer_wants_ext_info_in_auth and self.send_server_sig_algs:
            req = sa.pending
            query = req is not None and req.method == "publickey" and (req.key is None or not req.signed)
            if (req is not None or sa.pending_info) and not query:
                self.send(self._server_ext_info())  # right before USERAUTH_SUCCESS (PROTOCOL 1.9)
        try:
            done = sa.result(result, allowed)
        except ProtocolError as exc:
            raise self._fail(exc) from None
        if done:
            self.phase = "conn"
            self.writer.enable_delayed_compression()
            self.reader.enable_delayed_compression()
            self._rebuild()

    def auth_info_request(self, name: str, instructions: str, prompts: list[tuple[str, bool]]) -> None:
        """Server: send keyboard-interactive questions for the pending request."""
        if self.server_auth is None:
            raise SSHException("not a server")
        self.server_auth.info_request(name, instructions, prompts)

    def send_auth_banner(self, text: str, language: str = "") -> None:
        """Server: send a USERAUTH_BANNER."""
        if self.server_auth is not None:
            self.server_auth.send_banner(text, language)

    @property
    def authenticated(self) -> bool:
        """Whether user authentication has succeeded."""
        return self.phase == "conn"

    # -- connection layer --------------------------------------------------

    def _on_channel_open(self, payload: bytes) -> None:
        self.conn.on_open(payload)

    def open_channel(
        self,
        kind: str,
        extra: bytes = b"",
        window_size: int = c.DEFAULT_WINDOW_SIZE,
        max_packet: int = c.DEFAULT_MAX_PACKET_SIZE,
    ) -> int:
        """Open a channel; returns our id (``ChannelOpenConfirmed``/``Failed`` follows)."""
        self._need_conn()
        return self.conn.open_channel(kind, extra, window_size, max_packet)

    def accept_channel(
        self, chanid: int, window_size: int = c.DEFAULT_WINDOW_SIZE, max_packet: int = c.DEFAULT_MAX_PACKET_SIZE
    ) -> None:
        """Confirm a channel the peer asked for."""
        self.conn.accept_channel(chanid, window_size, max_packet)

    def reject_channel(self, chanid: int, code: int, text: str = "") -> None:
        """Refuse a channel the peer asked for."""
        self.conn.reject_channel(chanid, code, text)

    def send_channel_data(self, chanid: int, data: bytes | bytearray | memoryview, ext: int = 0) -> int:
        """Send what the window allows of ``data``; returns how much was taken."""
        return self.conn.send_data(chanid, data, ext)

    def channel_consumed(self, chanid: int, n: int) -> None:
        """The application read ``n`` bytes of this channel's data."""
        if not self.closed:
            self.conn.consume(chanid, n)

    def channel_eof(self, chanid: int) -> None:
        """Send EOF on a channel."""
        self.conn.send_eof(chanid)

    def close_channel(self, chanid: int) -> None:
        """Send CLOSE on a channel."""
        if not self.closed:
            self.conn.close_channel(chanid)

    def channel_request(self, chanid: int, kind: str, want_reply: bool, data: bytes = b"") -> None:
        """Send a channel request (``data`` is the type-specific encoding)."""
        self.conn.channel_request(chanid, kind, want_reply, data)

    def channel_request_reply(self, chanid: int, success: bool) -> None:
        """Answer the peer's oldest request on a channel."""
        self.conn.channel_request_reply(chanid, success)

    def global_request(self, name: str, want_reply: bool, data: bytes = b"") -> None:
        """Send a global request."""
        self._need_conn()
        self.conn.global_request(name, want_reply, data)

    def global_request_reply(self, success: bool, data: bytes = b"") -> None:
        """Answer the peer's oldest global request."""
        self.conn.global_request_reply(success, data)

    @property
    def peer_supports_ping(self) -> bool:
        """Whether the peer advertised ``ping@openssh.com`` (version "0") in EXT_INFO."""
        return self.extensions.get(PING_EXTENSION) == b"0"

    def send_ping(self, data: bytes = b"") -> None:
        """Send a ``ping@openssh.com`` PING (``PongReceived`` follows); only
        after authentication and to a peer that advertised the extension."""
        self._need_conn()
        if not self.peer_supports_ping:
            raise SSHException("the peer does not support ping@openssh.com")
        self.conn.send_ping(data)

    def send_ignore(self, data: bytes) -> None:
        """Send SSH_MSG_IGNORE with ``data``."""
        self.send(bytes([c.MSG_IGNORE]) + Message().add_string(data).asbytes())

    def _need_conn(self) -> None:
        if self.phase != "conn":
            raise SSHException("not authenticated")
