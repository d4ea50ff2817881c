"""The SSH binary packet protocol (RFC 4253 section 6) without any I/O.

``PacketWriter`` turns payloads into wire packets; ``PacketReader`` takes
received bytes and hands back payloads, exactly one packet per call. Both
keep what a direction needs across packets (sequence number, rekey counters,
compression, the receive buffer) and hand the per-packet work to the closures
of the current key set: ``sealing`` and ``opening`` build them, ``framing``
describes the framings they implement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .batch_buffer import BatchBuffers
from .compression import Compressor, Decompressor, get_compression
from .framing import DEFAULT_MAX_PACKET_LENGTH, SEQ_MASK, BatchSealer, Opener, Parts, Sealer, framing_mode
from .opening import make_context_opener, make_gcm_opener, make_opener
from .sealing import make_context_sealer, make_gcm_sealer, make_sealer, make_sealers, seal_plain

__all__ = [
    "DEFAULT_MAX_PACKET_LENGTH",
    "PacketReader",
    "PacketWriter",
    "framing_mode",
    "make_context_opener",
    "make_context_sealer",
    "make_gcm_opener",
    "make_gcm_sealer",
    "make_opener",
    "make_sealer",
    "make_sealers",
]

_SEQ_MASK = SEQ_MASK
# The receive buffer starts at this size and grows by doubling when a packet needs more.
_MIN_BUFFER = 64 * 1024


class PacketWriter:
    """Seals outgoing payloads into SSH packets (one direction, one key set at a time).

    ``seq`` is the sequence number of the next packet (uint32, wraps);
    ``bytes_sealed`` and ``packets_sealed`` count what was sealed since the
    last ``set_keys`` so the caller can decide when to rekey.
    """

    def __init__(self) -> None:
        """Start with plain framing, sequence number 0 and no compression."""
        self.seq = 0
        self.bytes_sealed = 0
        self.packets_sealed = 0
        self._seal_one: Sealer = seal_plain
        self._seal_batch: BatchSealer | None = None
        self._buffers = BatchBuffers()
        self._compression = "none"
        self._authenticated = False
        self._compressor: Compressor | None = None

    def set_keys(self, cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None) -> None:
        """Use new keys from the next ``seal()`` on (right after our NEWKEYS).

        ``cipher`` is an SSH cipher name (or ``"none"``); ``mac`` is ignored by
        AEAD ciphers and required by the others. Resets the rekey counters.
        """
        self._seal_one, self._seal_batch = make_sealers(cipher, key, iv, mac, mac_key, self._buffers.take)
        self.bytes_sealed = 0
        self.packets_sealed = 0

    def set_sealer(self, sealer: Sealer) -> None:
        """Use a ready-made sealer (``make_context_sealer``, ``make_gcm_sealer``)
        from the next ``seal()`` on; resets the rekey counters like ``set_keys``."""
        self._seal_one, self._seal_batch = sealer, None
        self.bytes_sealed = 0
        self.packets_sealed = 0

    def set_compression(self, name: str) -> None:
        """Use compression ``name`` with the new keys (call after sending NEWKEYS).

        Every call starts a fresh deflate stream; ``zlib@openssh.com`` waits
        for ``enable_delayed_compression()`` unless auth has already succeeded.
        """
        spec = get_compression(name)
        self._compression = name
        self._compressor = None
        if name != "none" and (not spec.delayed or self._authenticated):
            self._compressor = Compressor()

    def enable_delayed_compression(self) -> None:
        """User auth succeeded: start ``zlib@openssh.com`` now if it was negotiated."""
        self._authenticated = True
        if self._compression != "none" and self._compressor is None:
            self._compressor = Compressor()

    @property
    def compressing(self) -> bool:
        """Whether payloads are compressed right now."""
        return self._compressor is not None

    def reset_sequence(self) -> None:
        """Strict kex: the next packet gets sequence number 0."""
        self.seq = 0

    def keep_batch_buffer(self, on: bool) -> None:
        """A sender starts (True) or ends (False) a stream of ``seal_parts``
        batches: a batch reuses the buffer of the last full-size batch of a
        stream once the caller has dropped it (after writing it), until
        ``release_batch_buffer``. Calls nest."""
        self._buffers.keep(on)

    def release_batch_buffer(self) -> bool:
        """Give back the kept batch buffer; True if one was kept."""
        held = self._buffers.holding
        self._buffers.release()
        return held

    @property
    def holds_batch_buffer(self) -> bool:
        """Whether a batch buffer is kept for the next batch."""
        return self._buffers.holding

    def kept_buffer_id(self) -> int | None:
        """``id()`` of the batch buffer kept for reuse, None if none is kept."""
        return self._buffers.kept_id()

    def seal(self, payload: bytes) -> bytes:
        """The complete wire packet for ``payload`` (random padding; ``seq`` advances)."""
        if self._compressor is not None:
            payload = self._compressor.compress(payload)
        seq = self.seq
        out = self._seal_one(payload, seq)
        self.seq = (seq + 1) & _SEQ_MASK
        self.packets_sealed += 1
        self.bytes_sealed += len(out)
        return out

    def seal_many(self, payloads: Iterable[bytes]) -> bytes:
        """Several packets at once, concatenated in order (one buffer, one send)."""
        seal = self.seal
        return b"".join([seal(p) for p in payloads])

    def seal_parts(self, payloads: Sequence[Parts]) -> list[bytes | bytearray]:
        """Seal payloads each given as parts (header, data view), in order;
        returns the wire bytes as a list of buffers to write in order. Bulk
        data goes through here: with keys, every packet of the batch is
        encrypted straight into one buffer (no copy to put the length in
        front, to append the tag or MAC, or to join the packets)."""
        batch = self._seal_batch
        if batch is None or self._compressor is not None or not payloads:
            seal = self.seal
            return [seal(b"".join(parts)) for parts in payloads]
        count = len(payloads)
        out = batch(payloads, self.seq)
        self.seq = (self.seq + count) & _SEQ_MASK
        self.packets_sealed += count
        self.bytes_sealed += len(out)
        return [out]


class PacketReader:
    """Opens incoming SSH packets from a byte stream, exactly one per call.

    Bytes go in with ``feed()`` (or ``buffer_for_recv()`` then ``commit()``,
    for ``recv_into``). ``next_payload()`` opens a packet only when asked, and
    never decrypts ahead, so keys set by ``set_keys()`` after a NEWKEYS apply
    to the packet right after it.
    """

    def __init__(self, max_packet_length: int = DEFAULT_MAX_PACKET_LENGTH) -> None:
        """Start with plain framing; refuse packets longer than ``max_packet_length``."""
        self.seq = 0
        self.bytes_opened = 0
        self.packets_opened = 0
        self.max_packet_length = max_packet_length
        self._buf = bytearray(_MIN_BUFFER)
        self._start = 0
        self._end = 0
        self._open_one: Opener = make_opener("none", b"", b"", None, None, max_packet_length)
        self._compression = "none"
        self._authenticated = False
        self._decompressor: Decompressor | None = None

    # -- configuration -------------------------------------------------------

    def set_keys(self, cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None) -> None:
        """Use new keys for the next packet not yet opened (after the peer's NEWKEYS)."""
        self._open_one = make_opener(cipher, key, iv, mac, mac_key, self.max_packet_length)
        self.bytes_opened = 0
        self.packets_opened = 0

    def set_opener(self, opener: Opener) -> None:
        """Use a ready-made opener (``make_context_opener``, ``make_gcm_opener``)
        for the next packet not yet opened; resets the counters like ``set_keys``."""
        self._open_one = opener
        self.bytes_opened = 0
        self.packets_opened = 0

    def set_compression(self, name: str) -> None:
        """Expect compression ``name`` from the next packet on (a fresh inflate stream)."""
        spec = get_compression(name)
        self._compression = name
        self._decompressor = None
        if name != "none" and (not spec.delayed or self._authenticated):
            self._decompressor = Decompressor(self.max_packet_length)

    def enable_delayed_compression(self) -> None:
        """User auth succeeded: ``zlib@openssh.com`` applies from the next packet."""
        self._authenticated = True
        if self._compression != "none" and self._decompressor is None:
            self._decompressor = Decompressor(self.max_packet_length)

    @property
    def decompressing(self) -> bool:
        """Whether incoming payloads are inflated right now."""
        return self._decompressor is not None

    def reset_sequence(self) -> None:
        """Strict kex: the next packet has sequence number 0."""
        self.seq = 0

    # -- buffering -----------------------------------------------------------

    def pending(self) -> int:
        """How many received bytes are buffered but not opened yet."""
        return self._end - self._start

    def _make_room(self, n: int) -> None:
        """Ensure ``n`` free bytes after the buffered data.

        The buffer is never resized in place (a live view from
        ``buffer_for_recv`` forbids that): unread bytes move to the front, or
        into a new, larger buffer.
        """
        start, end = self._start, self._end
        unread = end - start
        buf = self._buf
        # (through memoryviews: one memmove; slicing the bytearray would copy twice)
        with memoryview(buf) as old:
            if unread + n <= len(buf) // 2:  # moving leaves at least half the buffer free: amortised O(1)
                old[:unread] = old[start:end]
            else:
                new = bytearray(max(_MIN_BUFFER, 2 * (unread + n)))
                with memoryview(new) as to:
                    to[:unread] = old[start:end]
                self._buf = new
        self._start = 0
        self._end = unread

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes (amortised O(len(data)))."""
        n = len(data)
        if not n:
            return
        end = self._end
        if end + n > len(self._buf):
            self._make_room(n)
            end = self._end
        self._buf[end : end + n] = data
        self._end = end + n

    def buffer_for_recv(self, size: int) -> memoryview:
        """A writable view of ``size`` free bytes for ``sock.recv_into``; then call ``commit(n)``."""
        if size <= 0:
            raise ValueError("size must be positive")
        if self._end + size > len(self._buf):
            self._make_room(size)
        return memoryview(self._buf)[self._end : self._end + size]

    def commit(self, n: int) -> None:
        """Mark ``n`` bytes written into the last ``buffer_for_recv`` view as received."""
        if n < 0 or self._end + n > len(self._buf):
            raise ValueError(f"cannot commit {n} bytes")
        self._end += n

    def shrink_buffer(self, size: int = _MIN_BUFFER) -> bool:
        """Replace a receive buffer larger than ``size`` bytes by one of
        ``size`` while no bytes are buffered, so that an idle connection does
        not keep the big buffer a bulk transfer grew; False if bytes are
        buffered (nothing changes). Views given out before stay valid."""
        if self._end != self._start:
            return False
        self._start = self._end = 0
        if len(self._buf) > size:
            self._buf = bytearray(size)
        return True

    def take_buffered(self, n: int | None = None) -> bytes:
        """Remove and return up to ``n`` (default: all) buffered bytes not yet opened.

        For a caller that reads the same stream raw between packets (a
        version line, or paramiko's ``Packetizer.read_all``); only meaningful
        at a packet boundary, since an opener may hold a half-read packet.
        """
        start, end = self._start, self._end
        if n is not None:
            end = min(end, start + max(0, n))
        out = bytes(self._buf[start:end])
        if end == self._end:
            self._start = self._end = 0
        else:
            self._start = end
        return out

    # -- opening -------------------------------------------------------------

    def next_payload(self) -> bytes | None:
        """Open the next packet if it is completely buffered, else return ``None``.

        Raises ``ProtocolError`` with reason MAC_ERROR on a bad MAC or tag,
        PROTOCOL_ERROR on a bad length or padding, COMPRESSION_ERROR on bad
        zlib data. Returns the payload (inflated when compression is on).
        """
        payload = self.next_payload_view()
        if payload is None or type(payload) is bytes:
            return payload
        return bytes(payload)

    def next_payload_view(self) -> bytes | memoryview | None:
        """Like ``next_payload`` but may return a read-only view instead of bytes.

        The view is of a fresh decrypted object, so it stays valid after more
        bytes are fed; it saves one copy per packet for callers (channel data)
        that copy only a slice of the payload anyway.
        """
        start = self._start
        opened = self._open_one(self._buf, start, self._end - start, self.seq)
        if opened is None:
            return None
        payload, total = opened
        start += total
        if start == self._end:
            self._start = self._end = 0
        else:
            self._start = start
        self.seq = (self.seq + 1) & _SEQ_MASK
        self.packets_opened += 1
        self.bytes_opened += total
        if self._decompressor is not None:
            return self._decompressor.decompress(bytes(payload))
        return payload
