"""The connection protocol (RFC 4254) without I/O: the channel table, window
and packet accounting, channel and global requests.

``ConnectionState`` parses incoming connection-layer payloads into events
and builds outgoing ones; the core hands it payloads only once the user is
authenticated.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from ssh_wire import Message, ProtocolError, SSHException

from . import events as ev
from .constants import (
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_WINDOW_SIZE,
    MAX_WINDOW_SIZE,
    MSG_CHANNEL_CLOSE,
    MSG_CHANNEL_DATA,
    MSG_CHANNEL_EOF,
    MSG_CHANNEL_EXTENDED_DATA,
    MSG_CHANNEL_FAILURE,
    MSG_CHANNEL_OPEN,
    MSG_CHANNEL_OPEN_CONFIRMATION,
    MSG_CHANNEL_OPEN_FAILURE,
    MSG_CHANNEL_REQUEST,
    MSG_CHANNEL_SUCCESS,
    MSG_CHANNEL_WINDOW_ADJUST,
    MSG_GLOBAL_REQUEST,
    MSG_PING,
    MSG_PONG,
    MSG_REQUEST_FAILURE,
    MSG_REQUEST_SUCCESS,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_RESOURCE_SHORTAGE,
)

_HDR = struct.Struct(">BII")  # msg, recipient, length (CHANNEL_DATA)
_XHDR = struct.Struct(">BIII")  # msg, recipient, type, length (EXTENDED_DATA)
_U32 = struct.Struct(">I")
_ADJ = struct.Struct(">BII")
MAX_CHANNELS = 1024
# Largest data payload we put in one packet even when the peer allows more.
SEND_PACKET_CAP = 256 * 1024 - 1024


@dataclass
class ChannelState:
    """One channel's protocol state."""

    local_id: int
    kind: str
    local_window: int
    local_max_packet: int
    window_size: int
    remote_id: int = -1
    remote_window: int = 0
    remote_max_packet: int = 0
    consumed: int = 0
    confirmed: bool = False
    eof_sent: bool = False
    eof_received: bool = False
    close_sent: bool = False
    close_received: bool = False
    requests_out: int = 0
    requests_in: int = 0
    close_requested: bool = False


class ConnectionState:
    """Channel table and connection-layer messages for one side."""

    def __init__(
        self,
        send: Callable[[bytes], None],
        emit: Callable[[ev.Event], None],
        send_parts: Callable[[list[tuple[bytes, memoryview]]], None],
        max_channels: int = MAX_CHANNELS,
    ) -> None:
        self._send = send
        # bulk data: payloads as (message header, view of the data), sealed without joining
        self._send_parts = send_parts
        self._emit = emit
        self.max_channels = max_channels
        self.channels: dict[int, ChannelState] = {}
        self._next_id = 0
        self.global_replies_pending = 0
        self.global_requests_in = 0
        self.pending_opens: set[int] = set()
        self.channel_requests_in = 0

    # -- helpers -----------------------------------------------------------

    def _alloc_id(self) -> int:
        if len(self.channels) >= self.max_channels:
            raise SSHException("too many channels")
        while self._next_id in self.channels:
            self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        cid = self._next_id
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        return cid

    def _chan(self, cid: int) -> ChannelState:
        ch = self.channels.get(cid)
        if ch is None:
            raise ProtocolError(f"message for unknown channel {cid}")
        return ch

    def get(self, cid: int) -> ChannelState | None:
        """The channel with local id ``cid``, if it exists."""
        return self.channels.get(cid)

    @property
    def awaiting_decision(self) -> bool:
        """True while the driver owes the peer an answer."""
        return bool(self.pending_opens) or self.global_requests_in > 0 or self.channel_requests_in > 0

    # -- outgoing ----------------------------------------------------------

    def open_channel(
        self,
        kind: str,
        extra: bytes = b"",
        window_size: int = DEFAULT_WINDOW_SIZE,
        max_packet: int = DEFAULT_MAX_PACKET_SIZE,
    ) -> int:
        """Ask the peer for a channel; returns our local id."""
        cid = self._alloc_id()
        self.channels[cid] = ChannelState(cid, kind, window_size, max_packet, window_size)
        m = Message().add_byte(MSG_CHANNEL_OPEN).add_string(kind).add_int(cid).add_int(window_size).add_int(max_packet)
        self._send(m.asbytes() + extra)
        return cid

    def accept_channel(
        self, cid: int, window_size: int = DEFAULT_WINDOW_SIZE, max_packet: int = DEFAULT_MAX_PACKET_SIZE
    ) -> None:
        """Confirm a channel the peer asked for (``ChannelOpenRequested``)."""
        ch = self.channels.get(cid)
        if ch is None or cid not in self.pending_opens:
            raise SSHException(f"no pending channel open {cid}")
        self.pending_opens.discard(cid)
        ch.local_window = ch.window_size = window_size
        ch.local_max_packet = max_packet
        ch.confirmed = True
        m = struct.pack(">BIIII", MSG_CHANNEL_OPEN_CONFIRMATION, ch.remote_id, cid, window_size, max_packet)
        self._send(m)

    def reject_channel(self, cid: int, code: int, text: str = "") -> None:
        """Refuse a channel the peer asked for."""
        ch = self.channels.get(cid)
        if ch is None or cid not in self.pending_opens:
            raise SSHException(f"no pending channel open {cid}")
        self.pending_opens.discard(cid)
        del self.channels[cid]
        self._send_open_failure(ch.remote_id, code, text)

    def _send_open_failure(self, remote_id: int, code: int, text: str) -> None:
        m = (
            Message()
            .add_byte(MSG_CHANNEL_OPEN_FAILURE)
            .add_int(remote_id)
            .add_int(code)
            .add_string(text)
            .add_string("")
        )
        self._send(m.asbytes())

    def send_data(self, cid: int, data: bytes | bytearray | memoryview, ext: int = 0) -> int:
        """Send as much of ``data`` as the peer's window allows; returns the
        number of bytes taken (0 when the window is shut)."""
        ch = self.channels.get(cid)
        if ch is None or not ch.confirmed or ch.close_sent or ch.eof_sent:
            raise SSHException("channel is closed")
        total = min(len(data), ch.remote_window)
        if total <= 0:
            return 0
        step = min(ch.remote_max_packet, SEND_PACKET_CAP)
        mv = memoryview(data)
        rid = ch.remote_id
        payloads: list[tuple[bytes, memoryview]] = []
        if ext:
            for off in range(0, total, step):
                n = min(step, total - off)
                payloads.append((_XHDR.pack(MSG_CHANNEL_EXTENDED_DATA, rid, ext, n), mv[off : off + n]))
        else:
            pack = _HDR.pack
            for off in range(0, total, step):
                n = min(step, total - off)
                payloads.append((pack(MSG_CHANNEL_DATA, rid, n), mv[off : off + n]))
        ch.remote_window -= total
        self._send_parts(payloads)
        return total

    def consume(self, cid: int, n: int) -> None:
        """The application read ``n`` bytes: reopen the window when half is used."""
        ch = self.channels.get(cid)
        if ch is None or ch.close_sent or ch.close_received:
            return
        ch.consumed += n
        if ch.consumed >= ch.window_size // 2 and not ch.eof_received:
            self._send(_ADJ.pack(MSG_CHANNEL_WINDOW_ADJUST, ch.remote_id, ch.consumed))
            ch.local_window += ch.consumed
            ch.consumed = 0

    def send_eof(self, cid: int) -> None:
        """We will send no more data on this channel."""
        ch = self.channels.get(cid)
        if ch is None or ch.eof_sent or ch.close_sent or not ch.confirmed:
            return
        ch.eof_sent = True
        self._send(bytes([MSG_CHANNEL_EOF]) + _U32.pack(ch.remote_id))

    def close_channel(self, cid: int) -> None:
        """Send CLOSE (once); the channel is freed when the peer's CLOSE arrives."""
        ch = self.channels.get(cid)
        if ch is None or ch.close_sent:
            return
        if not ch.confirmed:
            ch.close_requested = True  # sent as soon as the peer confirms
            return
        ch.close_sent = True
        self._send(bytes([MSG_CHANNEL_CLOSE]) + _U32.pack(ch.remote_id))
        if ch.close_received:
            del self.channels[cid]

    def channel_request(self, cid: int, kind: str, want_reply: bool, data: bytes = b"") -> None:
        """Send a channel request."""
        ch = self.channels.get(cid)
        if ch is None or not ch.confirmed or ch.close_sent:
            raise SSHException("channel is closed")
        m = Message().add_byte(MSG_CHANNEL_REQUEST).add_int(ch.remote_id).add_string(kind).add_boolean(want_reply)
        if want_reply:
            ch.requests_out += 1
        self._send(m.asbytes() + data)

    def channel_request_reply(self, cid: int, success: bool) -> None:
        """Answer the oldest request from the peer on this channel."""
        ch = self.channels.get(cid)
        if ch is None or ch.requests_in <= 0:
            return
        ch.requests_in -= 1
        self.channel_requests_in -= 1
        if not ch.close_sent:
            self._send(bytes([MSG_CHANNEL_SUCCESS if success else MSG_CHANNEL_FAILURE]) + _U32.pack(ch.remote_id))

    def global_request(self, name: str, want_reply: bool, data: bytes = b"") -> None:
        """Send a global request."""
        m = Message().add_byte(MSG_GLOBAL_REQUEST).add_string(name).add_boolean(want_reply)
        if want_reply:
            self.global_replies_pending += 1
        self._send(m.asbytes() + data)

    def send_ping(self, data: bytes = b"") -> None:
        """Send a ``ping@openssh.com`` PING; the peer echoes ``data`` in a PONG."""
        self._send(Message().add_byte(MSG_PING).add_string(data).asbytes())

    def on_ping(self, payload: bytes) -> None:
        """PING from the peer: echo its data in a PONG (OpenSSH answers only
        once the user is authenticated, so the core routes PINGs here only then)."""
        m = Message(payload, strict=True)
        m.get_byte()
        data = m.get_string()
        m.expect_end()
        self._send(Message().add_byte(MSG_PONG).add_string(data).asbytes())

    def on_pong(self, payload: bytes) -> None:
        """PONG from the peer: never answered, handed to the driver."""
        m = Message(payload, strict=True)
        m.get_byte()
        data = m.get_string()
        m.expect_end()
        self._emit(ev.PongReceived(data))

    def global_request_reply(self, success: bool, data: bytes = b"") -> None:
        """Answer the oldest global request from the peer."""
        if self.global_requests_in <= 0:
            raise SSHException("no global request is pending")
        self.global_requests_in -= 1
        self._send(bytes([MSG_REQUEST_SUCCESS]) + data if success else bytes([MSG_REQUEST_FAILURE]))

    # -- incoming ----------------------------------------------------------

    def on_data(self, payload: bytes | memoryview) -> None:
        """CHANNEL_DATA: the hot path. ``payload`` may be a read-only view of
        the freshly decrypted packet; the data handed on is then a view of it
        too, copied once by whoever finally needs bytes (``Channel.recv``)."""
        if len(payload) < 9:
            raise ProtocolError("truncated CHANNEL_DATA")
        _, cid, n = _HDR.unpack_from(payload)
        if n != len(payload) - 9:
            raise ProtocolError("CHANNEL_DATA length does not match the packet")
        self._take_data(cid, n, payload[9:], 0)

    def on_extended_data(self, payload: bytes) -> None:
        """CHANNEL_EXTENDED_DATA."""
        if len(payload) < 13:
            raise ProtocolError("truncated CHANNEL_EXTENDED_DATA")
        _, cid, code, n = _XHDR.unpack_from(payload)
        if n != len(payload) - 13:
            raise ProtocolError("CHANNEL_EXTENDED_DATA length does not match the packet")
        self._take_data(cid, n, payload[13:], code or 1)

    def _take_data(self, cid: int, n: int, data: bytes | memoryview, ext: int) -> None:
        ch = self._chan(cid)
        if not ch.confirmed or ch.eof_received or ch.close_received:
            raise ProtocolError("data on a channel that is not open or is at EOF")
        if n > ch.local_window:
            raise ProtocolError(f"peer sent {n} bytes with only {ch.local_window} of window")
        if n > ch.local_max_packet:
            raise ProtocolError(f"peer sent {n} bytes in a packet over the {ch.local_max_packet}-byte limit")
        ch.local_window -= n
        if ch.close_sent:
            return
        self._emit(ev.ChannelDataReceived(cid, data, ext))

    def on_window_adjust(self, payload: bytes) -> None:
        """CHANNEL_WINDOW_ADJUST, refusing to grow past 2^32-1."""
        if len(payload) != 9:
            raise ProtocolError("malformed CHANNEL_WINDOW_ADJUST")
        _, cid, n = _ADJ.unpack(payload)
        ch = self._chan(cid)
        if ch.remote_window + n > MAX_WINDOW_SIZE:
            raise ProtocolError("window adjust would take the window past 2^32-1")
        ch.remote_window += n
        if not ch.close_sent:
            self._emit(ev.ChannelWindowAdjusted(cid, ch.remote_window))

    def on_eof(self, payload: bytes) -> None:
        """CHANNEL_EOF."""
        if len(payload) != 5:
            raise ProtocolError("malformed CHANNEL_EOF")
        ch = self._chan(_U32.unpack_from(payload, 1)[0])
        if ch.eof_received or not ch.confirmed:
            return
        ch.eof_received = True
        self._emit(ev.ChannelEOFReceived(ch.local_id))

    def on_close(self, payload: bytes) -> None:
        """CHANNEL_CLOSE: answer with ours and free the channel."""
        if len(payload) != 5:
            raise ProtocolError("malformed CHANNEL_CLOSE")
        cid = _U32.unpack_from(payload, 1)[0]
        ch = self._chan(cid)
        if ch.close_received or not ch.confirmed:
            raise ProtocolError("duplicate CHANNEL_CLOSE")
        ch.close_received = True
        if not ch.close_sent:
            ch.close_sent = True
            self._send(bytes([MSG_CHANNEL_CLOSE]) + _U32.pack(ch.remote_id))
        self.channel_requests_in -= ch.requests_in
        ch.requests_in = 0
        del self.channels[cid]
        self._emit(ev.ChannelClosed(cid))

    def on_open(self, payload: bytes) -> None:
        """CHANNEL_OPEN from the peer."""
        m = Message(payload, strict=True)
        m.get_byte()
        kind = m.get_name()
        remote_id = m.get_int()
        window = m.get_int()
        max_packet = m.get_int()
        data = m.get_remainder()
        if max_packet == 0 or len(self.channels) >= self.max_channels:
            reason = "max packet size 0" if max_packet == 0 else "too many channels"
            code = OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED if max_packet == 0 else OPEN_FAILED_RESOURCE_SHORTAGE
            self._send_open_failure(remote_id, code, reason)
            return
        dest = origin = None
        if kind in ("direct-tcpip", "forwarded-tcpip"):
            dm = Message(data, strict=True)
            dest = (dm.get_text(), dm.get_int())
            origin = (dm.get_text(), dm.get_int())
        cid = self._alloc_id()
        ch = ChannelState(cid, kind, 0, 0, 0, remote_id, window, max_packet)
        self.channels[cid] = ch
        self.pending_opens.add(cid)
        self._emit(ev.ChannelOpenRequested(cid, kind, data, dest, origin))

    def on_open_confirmation(self, payload: bytes) -> None:
        """CHANNEL_OPEN_CONFIRMATION for a channel we asked for."""
        if len(payload) < 17:
            raise ProtocolError("malformed CHANNEL_OPEN_CONFIRMATION")
        _, cid, remote_id, window, max_packet = struct.unpack_from(">BIIII", payload)
        ch = self._chan(cid)
        if ch.confirmed or cid in self.pending_opens:
            raise ProtocolError("CHANNEL_OPEN_CONFIRMATION for a channel already open")
        if max_packet == 0:
            raise ProtocolError("peer's maximum packet size is 0")
        ch.remote_id, ch.remote_window, ch.remote_max_packet, ch.confirmed = remote_id, window, max_packet, True
        if ch.close_requested:
            ch.close_sent = True
            self._send(bytes([MSG_CHANNEL_CLOSE]) + _U32.pack(remote_id))
            return
        self._emit(ev.ChannelOpenConfirmed(cid))

    def on_open_failure(self, payload: bytes) -> None:
        """CHANNEL_OPEN_FAILURE for a channel we asked for."""
        m = Message(payload, strict=True)
        m.get_byte()
        cid = m.get_int()
        code = m.get_int()
        text = m.get_text() if m.remaining() else ""
        ch = self._chan(cid)
        if ch.confirmed or cid in self.pending_opens:
            raise ProtocolError("CHANNEL_OPEN_FAILURE for a channel already open")
        del self.channels[cid]
        self._emit(ev.ChannelOpenFailed(cid, code, text))

    def on_request(self, payload: bytes) -> None:
        """CHANNEL_REQUEST: parse the types we know into ``args``."""
        m = Message(payload, strict=True)
        m.get_byte()
        cid = m.get_int()
        kind = m.get_name()
        want_reply = m.get_boolean()
        ch = self._chan(cid)
        if not ch.confirmed:
            raise ProtocolError("request on a channel that is not open")
        args = _parse_request(kind, m)
        if ch.close_sent or ch.close_received:
            return
        if want_reply:
            ch.requests_in += 1
            self.channel_requests_in += 1
        self._emit(ev.ChannelRequestReceived(cid, kind, want_reply, args))

    def on_request_reply(self, payload: bytes) -> None:
        """CHANNEL_SUCCESS / CHANNEL_FAILURE."""
        if len(payload) != 5:
            raise ProtocolError("malformed channel request reply")
        ch = self._chan(_U32.unpack_from(payload, 1)[0])
        if ch.requests_out <= 0:
            raise ProtocolError("channel request reply without a request")
        ch.requests_out -= 1
        self._emit(ev.ChannelRequestReplied(ch.local_id, payload[0] == MSG_CHANNEL_SUCCESS))

    def on_global_request(self, payload: bytes) -> None:
        """GLOBAL_REQUEST from the peer."""
        m = Message(payload, strict=True)
        m.get_byte()
        name = m.get_name()
        want_reply = m.get_boolean()
        if want_reply:
            self.global_requests_in += 1
        self._emit(ev.GlobalRequestReceived(name, want_reply, m.get_remainder()))

    def on_global_reply(self, payload: bytes) -> None:
        """REQUEST_SUCCESS / REQUEST_FAILURE."""
        if self.global_replies_pending <= 0:
            raise ProtocolError("global request reply without a request")
        self.global_replies_pending -= 1
        self._emit(ev.GlobalReplyReceived(payload[0] == MSG_REQUEST_SUCCESS, payload[1:]))


def _parse_request(kind: str, m: Message) -> tuple[object, ...]:
    if kind == "exec":
        return (m.get_string(),)
    if kind in ("subsystem",):
        return (m.get_text(),)
    if kind == "env":  # names and values are bytes to the server: any encoding may arrive
        return (m.get_string(), m.get_string())
    if kind == "pty-req":
        return (m.get_string(), m.get_int(), m.get_int(), m.get_int(), m.get_int(), m.get_string())
    if kind == "window-change":
        return (m.get_int(), m.get_int(), m.get_int(), m.get_int())
    if kind == "exit-status":
        return (m.get_int(),)
    if kind == "exit-signal":
        sig = m.get_name()
        core = m.get_boolean()
        msg = m.get_text()
        lang = m.get_text() if m.remaining() else ""
        return (sig, core, msg, lang)
    if kind == "x11-req":
        return (m.get_boolean(), m.get_text(), m.get_string(), m.get_int())
    if kind == "signal":
        return (m.get_name(),)
    if kind == "xon-xoff":
        return (m.get_boolean(),)
    return (m.get_remainder(),)
