"""paramiko's ``Packetizer`` (``paramiko.packet``): SSH binary packets over a
blocking socket, for code written against paramiko's low-level API.

``Transport`` does not use this class (it drives the sans-I/O core); it exists
so that code which builds packets by hand, or tests written for paramiko, keep
working. The framing, padding, MACs and AES-GCM come from the project's packet
codec (``ssh_transport.protocol.packets``); what is here is paramiko's
blocking I/O around it: exact socket semantics (``EOFError`` on EOF, timeouts
turning into keepalives or ``NeedRekeyException``), rekey accounting, the
handshake timer and the compressor hooks.

Keys are handed over the way paramiko's ``Transport`` hands them over: a
``cryptography`` cipher context (encryptor or decryptor) and a hash constructor
with its key, or, for AES-GCM, the keyed ``AESGCM`` object and the 12-byte IV.
"""

from __future__ import annotations

import errno
import hmac
import select
import threading
import time
from collections.abc import Callable
from logging import DEBUG, Logger
from typing import Any

from ssh_wire import Message, ProxyCommandFailure, SSHException, asbytes, format_binary, u

from .common import MSG_NAMES
from .protocol.macs import keyed_hmac
from .protocol.packets import (
    PacketReader,
    PacketWriter,
    make_context_opener,
    make_context_sealer,
    make_gcm_opener,
    make_gcm_sealer,
)

__all__ = ["NeedRekeyException", "PacketMessage", "Packetizer", "compute_hmac", "first_arg"]

_SEQ_LAST = 0xFFFFFFFF
# How much one socket read asks for while a packet is incomplete.
_RECV_SIZE = 64 * 1024
# paramiko reads a version line 128 bytes at a time.
_LINE_RECV_SIZE = 128
# A send that keeps returning 0 this many times means the peer is gone.
_MAX_ZERO_SENDS = 10
# How long to wait for a non-blocking socket to become ready after EAGAIN.
_EAGAIN_WAIT = 0.1


def compute_hmac(key: bytes, message: bytes, digest_class: Any) -> bytes:
    """The HMAC of ``message`` under ``key`` with hash ``digest_class`` (a
    hashlib constructor such as ``hashlib.sha256``)."""
    return hmac.new(key, message, digest_class).digest()


def first_arg(e: BaseException) -> Any:
    """The first argument of an exception (an errno for ``OSError``), or None."""
    if type(e.args) is tuple and e.args:
        return e.args[0]
    return None


class NeedRekeyException(Exception):
    """``read_message`` found the socket idle while new keys are due: the
    caller should run a key exchange before reading on."""


class PacketMessage(Message):
    """A received ``Message`` that also carries its packet's sequence number
    (``seqno``), which an SSH_MSG_UNIMPLEMENTED reply has to quote."""

    __slots__ = ("seqno",)

    def __init__(self, content: bytes, seqno: int) -> None:
        """Wrap the payload after the message-type byte."""
        super().__init__(content)
        self.seqno = seqno


def _wait_ready(sock: Any, seconds: float, write: bool = False) -> bool:
    """Wait up to ``seconds`` for ``sock`` to be readable (or writable).

    True when it is, or when the object has no usable file descriptor (the
    socket-like's own timeout then bounds the next call).
    """
    try:
        fd = sock.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    if not isinstance(fd, int) or fd < 0:
        return True
    flag = select.POLLOUT if write else select.POLLIN
    poller = getattr(select, "poll", None)
    if poller is None:  # pragma: no cover - Windows
        ready = select.select([], [fd], [], seconds) if write else select.select([fd], [], [], seconds)
        return bool(ready[0] or ready[1])
    p = poller()
    p.register(fd, flag | select.POLLERR | select.POLLHUP)
    return bool(p.poll(max(0.0, seconds) * 1000))


class Packetizer:
    """SSH binary packets (RFC 4253 section 6) over one socket, with
    paramiko's blocking API: ``send_message``/``read_message`` plus the raw
    ``read_all``/``write_all``/``readline`` a version exchange needs."""

    # New keys are due after this many packets or bytes in either direction
    # (RFC 4344 asks for no more than 2**32 packets; paramiko's thresholds).
    REKEY_PACKETS = 2**29
    REKEY_BYTES = 2**29
    # Once new keys were asked for, the peer may send this much more before
    # we give up on it.
    REKEY_PACKETS_OVERFLOW_MAX = 2**29
    REKEY_BYTES_OVERFLOW_MAX = 2**29

    def __init__(self, socket: Any) -> None:
        """Frame packets over ``socket`` (anything with ``send``/``recv``/``close``),
        in the clear until ``set_*_cipher`` is called."""
        self._socket = socket
        self._logger: Logger | None = None
        self._closed = False
        self._dump_packets = False
        self._need_rekey = False
        self._keys_reset = 0  # bit 1: outbound keys changed, bit 2: inbound, since the rekey was asked
        # paramiko's Transport sets this once the first kex is over; until
        # then a wrapping sequence number is an error (Terrapin-style attacks).
        self._initial_kex_done = False

        self._writer = PacketWriter()
        self._reader = PacketReader()
        self._received_bytes_overflow = 0
        self._received_packets_overflow = 0
        self._mac_size_out = 0
        self._mac_size_in = 0
        self._encrypting = False
        self._compress_out: Callable[[bytes], bytes] | None = None
        self._compress_in: Callable[[bytes], bytes] | None = None
        self._write_lock = threading.RLock()

        self._keepalive_interval = 0.0
        self._keepalive_last = time.time()
        self._keepalive_callback: Callable[[], object] | None = None

        self._timer: threading.Timer | None = None
        self._handshake_complete = False
        self._timer_expired = False

    # -- state ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def close(self) -> None:
        """Mark the packetizer closed (pending reads end with ``EOFError``) and close the socket."""
        self._closed = True
        self._socket.close()

    def set_log(self, log: Logger) -> None:
        """Log (hexdumps, rekey triggers) to ``log``."""
        self._logger = log

    def set_hexdump(self, hexdump: bool) -> None:
        """Whether to log a hexdump of every packet sent and received."""
        self._dump_packets = hexdump

    def get_hexdump(self) -> bool:
        """Whether packets are hexdumped to the log."""
        return self._dump_packets

    def get_mac_size_in(self) -> int:
        """MAC (or AEAD tag) length of incoming packets, as set by ``set_inbound_cipher``."""
        return self._mac_size_in

    def get_mac_size_out(self) -> int:
        """MAC (or AEAD tag) length of outgoing packets, as set by ``set_outbound_cipher``."""
        return self._mac_size_out

    def need_rekey(self) -> bool:
        """Whether new keys are due (set by a read or write that crossed the
        ``REKEY_*`` thresholds; cleared once both directions got new keys)."""
        return self._need_rekey

    def reset_seqno_out(self) -> None:
        """Strict kex: the next packet sent has sequence number 0."""
        self._writer.reset_sequence()

    def reset_seqno_in(self) -> None:
        """Strict kex: the next packet received has sequence number 0."""
        self._reader.reset_sequence()

    # -- keys and compression ------------------------------------------------

    def set_outbound_cipher(
        self,
        block_engine: Any,
        block_size: int,
        mac_engine: Any,
        mac_size: int,
        mac_key: bytes | None,
        sdctr: bool = False,
        etm: bool = False,
        aead: bool = False,
        iv_out: bytes | None = None,
    ) -> None:
        """Seal the next packets with new keys.

        ``block_engine`` is a ``cryptography`` encryptor (CTR/CBC) with
        ``mac_engine`` a hash constructor keyed by ``mac_key`` and cut to
        ``mac_size`` bytes (``etm`` for ``-etm@openssh.com``); with ``aead``
        it is a keyed ``AESGCM`` and ``iv_out`` its 12-byte IV. ``sdctr`` is
        accepted for paramiko's signature: padding is always random here.
        """
        if block_engine is None:
            sealer = make_context_sealer(None, block_size, None)
        elif aead:
            if iv_out is None:
                raise ValueError("an AEAD cipher needs iv_out")
            sealer = make_gcm_sealer(block_engine, iv_out)
        else:
            sealer = make_context_sealer(block_engine, block_size, self._mac(mac_engine, mac_key, mac_size), etm)
        with self._write_lock:
            self._writer.set_sealer(sealer)
            self._mac_size_out = mac_size
            self._encrypting = block_engine is not None
        self._keys_changed(1)

    def set_inbound_cipher(
        self,
        block_engine: Any,
        block_size: int,
        mac_engine: Any,
        mac_size: int,
        mac_key: bytes | None,
        etm: bool = False,
        aead: bool = False,
        iv_in: bytes | None = None,
    ) -> None:
        """Open the next packets with new keys (the decrypting twin of
        ``set_outbound_cipher``; ``block_engine`` is a decryptor)."""
        if block_engine is None:
            opener = make_context_opener(None, block_size, None)
        elif aead:
            if iv_in is None:
                raise ValueError("an AEAD cipher needs iv_in")
            opener = make_gcm_opener(block_engine, iv_in)
        else:
            opener = make_context_opener(block_engine, block_size, self._mac(mac_engine, mac_key, mac_size), etm)
        self._reader.set_opener(opener)
        self._mac_size_in = mac_size
        self._received_bytes_overflow = 0
        self._received_packets_overflow = 0
        self._keys_changed(2)

    @staticmethod
    def _mac(mac_engine: Any, mac_key: bytes | None, mac_size: int) -> hmac.HMAC:
        if mac_engine is None or mac_key is None:
            raise ValueError("a non-AEAD cipher needs mac_engine and mac_key")
        return keyed_hmac(mac_key, mac_engine, mac_size)

    def _keys_changed(self, direction: int) -> None:
        """A rekey is over once both directions have new keys."""
        self._keys_reset |= direction
        if self._keys_reset == 3:
            self._keys_reset = 0
            self._need_rekey = False

    def set_outbound_compressor(self, compressor: Callable[[bytes], bytes] | None) -> None:
        """Pass every outgoing payload through ``compressor(payload) -> bytes``."""
        self._compress_out = compressor

    def set_inbound_compressor(self, compressor: Callable[[bytes], bytes] | None) -> None:
        """Pass every incoming payload through ``compressor(payload) -> bytes`` (an inflater)."""
        self._compress_in = compressor

    # -- keepalive and handshake timer ----------------------------------------

    def set_keepalive(self, interval: float, callback: Callable[[], object]) -> None:
        """Call ``callback`` when a read waits and nothing was written for
        ``interval`` seconds (0 turns it off); only once encryption is on and
        no rekey is pending, as keepalives are sent encrypted."""
        self._keepalive_interval = interval
        self._keepalive_callback = callback
        self._keepalive_last = time.time()

    def _check_keepalive(self) -> None:
        if not self._keepalive_interval or not self._encrypting or self._need_rekey:
            return
        now = time.time()
        if now > self._keepalive_last + self._keepalive_interval and self._keepalive_callback is not None:
            self._keepalive_callback()
            self._keepalive_last = now

    def read_timer(self) -> None:
        """The handshake timer ran out (called by the timer thread)."""
        self._timer_expired = True

    def start_handshake(self, timeout: float) -> None:
        """Start the handshake clock: once ``timeout`` seconds pass before
        ``complete_handshake()``, reads end with ``EOFError``."""
        if self._timer is None:
            self._timer = threading.Timer(float(timeout), self.read_timer)
            self._timer.daemon = True
            self._timer.start()

    def handshake_timed_out(self) -> bool:
        """Whether the handshake clock ran out (False if never started or completed)."""
        if self._timer is None or self._handshake_complete:
            return False
        return self._timer_expired

    def complete_handshake(self) -> None:
        """Stop the handshake clock: the handshake is over."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer_expired = False
            self._handshake_complete = True

    # -- raw I/O -------------------------------------------------------------

    def _recv_some(self, n: int, check_rekey: bool) -> bytes:
        """At least one byte, at most ``n``, from the socket; waits through
        socket timeouts (running keepalives), ``EOFError`` on EOF or close,
        ``NeedRekeyException`` on a timeout when ``check_rekey`` and keys are due."""
        sock = self._socket
        while True:
            if self.handshake_timed_out():
                raise EOFError()
            try:
                data: bytes = sock.recv(n)
            except TimeoutError:
                pass
            except OSError as e:
                if first_arg(e) != errno.EAGAIN:
                    if self._closed:
                        raise EOFError() from e
                    raise
                _wait_ready(sock, _EAGAIN_WAIT)
            else:
                if not data:
                    raise EOFError()
                return data
            if self._closed:
                raise EOFError()
            if check_rekey and self._need_rekey:
                raise NeedRekeyException()
            self._check_keepalive()

    def read_all(self, n: int, check_rekey: bool = False) -> bytes:
        """Exactly ``n`` bytes from the stream, blocking as long as needed.

        Raises ``EOFError`` if the socket closes first; with ``check_rekey``,
        ``NeedRekeyException`` if it times out before any byte came while new
        keys are due.
        """
        out = self._reader.take_buffered(n)
        while len(out) < n:
            out += self._recv_some(n - len(out), check_rekey and not out)
        return out

    def write_all(self, out: bytes) -> None:
        """Send all of ``out``; ``EOFError`` if the socket fails or stops taking data."""
        self._keepalive_last = time.time()
        sock = self._socket
        out = asbytes(out)
        zero_sends = 0
        while out:
            try:
                n = sock.send(out)
            except TimeoutError:
                n = None
            except ProxyCommandFailure:
                raise
            except OSError as e:
                if first_arg(e) != errno.EAGAIN:
                    raise EOFError() from e
                _wait_ready(sock, _EAGAIN_WAIT, write=True)
                n = None
            except Exception as e:  # a socket-like may fail any way (EOFError, ValueError...)
                raise EOFError() from e
            if n is None:
                if self._closed:
                    raise EOFError()
                continue
            if n == 0:
                zero_sends += 1
                if zero_sends > _MAX_ZERO_SENDS:
                    raise EOFError()
            out = out[n:]

    def readline(self, timeout: float) -> str:
        """One line (without CR LF) from the stream, as text; ``socket.timeout``
        if no full line came within ``timeout`` seconds. Bytes after the line
        stay buffered for the packets that follow."""
        buf = self._reader.take_buffered()
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in buf:
                buf += self._read_timeout(deadline)
        except BaseException:
            self._reader.feed(buf)
            raise
        n = buf.index(b"\n")
        self._reader.feed(buf[n + 1 :])
        line = buf[:n]
        if line.endswith(b"\r"):
            line = line[:-1]
        return u(line)

    def _read_timeout(self, deadline: float) -> bytes:
        """Some bytes before ``deadline`` (``socket.timeout`` after it)."""
        sock = self._socket
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError()
            if _wait_ready(sock, remaining):
                try:
                    data: bytes = sock.recv(_LINE_RECV_SIZE)
                except TimeoutError:
                    pass
                else:
                    if not data:
                        raise EOFError()
                    return data
            if self._closed:
                raise EOFError()

    # -- packets -------------------------------------------------------------

    def send_message(self, data: Message | bytes) -> None:
        """Seal ``data`` (a ``Message``: type byte and body) into one packet with
        the current keys and send it; may set ``need_rekey()``."""
        payload = asbytes(data)
        if not payload:
            raise SSHException("cannot send an empty message")
        with self._write_lock:
            if self._compress_out is not None:
                payload = self._compress_out(payload)
            writer = self._writer
            if writer.seq == _SEQ_LAST and not self._initial_kex_done:
                raise SSHException("Sequence number rolled over during initial kex!")
            packet = writer.seal(payload)
            if self._dump_packets:
                self._log(DEBUG, f"Write packet <{_name(payload[0])}>, length {len(payload)}")
                self._log(DEBUG, format_binary(payload, "OUT: "))
            self.write_all(packet)
            sent_too_much = writer.packets_sealed >= self.REKEY_PACKETS or writer.bytes_sealed >= self.REKEY_BYTES
            if sent_too_much and not self._need_rekey:
                self._log(DEBUG, f"Rekeying (hit {writer.packets_sealed} packets, {writer.bytes_sealed} bytes sent)")
                self._received_bytes_overflow = 0
                self._received_packets_overflow = 0
                self._trigger_rekey()

    def read_message(self) -> tuple[int, Message]:
        """Read and open the next packet: ``(message type, Message of the rest)``.

        Only one thread may read. Raises ``SSHException`` for a bad MAC,
        length or padding, ``NeedRekeyException`` if the socket is idle while
        new keys are due, ``EOFError`` when the peer closes.
        """
        reader = self._reader
        while True:
            seqno = reader.seq
            before = reader.bytes_opened
            payload = reader.next_payload()
            if payload is not None:
                break
            reader.feed(self._recv_some(_RECV_SIZE, reader.pending() == 0))
        if reader.seq == 0 and not self._initial_kex_done:
            raise SSHException("Sequence number rolled over during initial kex!")
        if self._compress_in is not None:
            payload = self._compress_in(payload)
        if not payload:
            raise SSHException("received a packet with an empty payload")
        self._count_received(reader.bytes_opened - before)
        if self._dump_packets:
            self._log(DEBUG, format_binary(payload, "IN: "))
            self._log(DEBUG, f"Read packet <{_name(payload[0])}>, length {len(payload)}")
        return payload[0], PacketMessage(payload[1:], seqno)

    def _count_received(self, size: int) -> None:
        """Rekey accounting for one received packet of ``size`` wire bytes."""
        reader = self._reader
        if self._need_rekey:
            # New keys were asked for: the peer gets some slack to comply.
            self._received_bytes_overflow += size
            self._received_packets_overflow += 1
            if (
                self._received_packets_overflow >= self.REKEY_PACKETS_OVERFLOW_MAX
                or self._received_bytes_overflow >= self.REKEY_BYTES_OVERFLOW_MAX
            ):
                raise SSHException("Remote transport is ignoring rekey requests")
        elif reader.packets_opened >= self.REKEY_PACKETS or reader.bytes_opened >= self.REKEY_BYTES:
            self._log(DEBUG, f"Rekeying (hit {reader.packets_opened} packets, {reader.bytes_opened} bytes received)")
            self._received_bytes_overflow = 0
            self._received_packets_overflow = 0
            self._trigger_rekey()

    def _trigger_rekey(self) -> None:
        """Flag that new keys are due; the owner checks ``need_rekey()``."""
        self._need_rekey = True

    def _log(self, level: int, msg: str | list[str]) -> None:
        if self._logger is None:
            return
        for line in msg if isinstance(msg, list) else [msg]:
            self._logger.log(level, line)


def _name(ptype: int) -> str:
    """A message type's log name (``$hex`` for unknown ones)."""
    return MSG_NAMES.get(ptype, f"${ptype:x}")
