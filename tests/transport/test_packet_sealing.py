"""The bulk sealing path of ``PacketWriter.seal_parts``: batches of every
keyed framing encrypted into one buffer. Every packet it makes must be the packet the
one-at-a-time ``seal`` makes (same framing, padding rules, sequence numbers
and counters) and open with ``PacketReader``, for every cipher and MAC, odd
and maximal sizes, across rekeys and strict-kex sequence resets; and a
buffer handed out must never be written again."""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from ssh_keys import Ed25519Key
from ssh_transport import AUTH_SUCCESSFUL, OPEN_SUCCEEDED, Channel, ServerInterface, Transport
from ssh_transport.protocol import batch_buffer, framing, opening, sealing
from ssh_transport.protocol.ciphers import CIPHERS, stream_context
from ssh_transport.protocol.macs import MACS
from ssh_transport.protocol.packets import DEFAULT_MAX_PACKET_LENGTH, PacketReader, PacketWriter
from support.polling import wait_until

COMBOS = [(c, None) for c, s in CIPHERS.items() if s.aead] + [
    (c, m) for c, s in CIPHERS.items() if not s.aead for m in MACS
]
COMBO_IDS = [f"{c}+{m}" if m else c for c, m in COMBOS]
GCM = "aes128-gcm@openssh.com"
_CHAN = struct.Struct(">BII")  # CHANNEL_DATA header: type, recipient, data length
# the largest channel payload whose packet_length stays within the default maximum
# (padding_length byte + payload + up to 35 bytes of padding)
MAX_DATA = DEFAULT_MAX_PACKET_LENGTH - 1 - 35 - _CHAN.size


def keys_for(cipher: str, mac: str | None, seed: int) -> tuple[str, bytes, bytes, str | None, bytes | None]:
    rng = random.Random(seed)
    spec = CIPHERS[cipher]
    return (
        cipher,
        rng.randbytes(spec.key_size),
        rng.randbytes(spec.iv_size),
        mac,
        rng.randbytes(MACS[mac].key_size) if mac else None,
    )


def chan_parts(data: memoryview, sizes: list[int]) -> list[tuple[bytes, memoryview]]:
    """(CHANNEL_DATA header, data view) payloads, as the connection layer gives them."""
    out = []
    pos = 0
    for n in sizes:
        out.append((_CHAN.pack(94, 7, n), data[pos : pos + n]))
        pos += n
    return out


def open_all(r: PacketReader, wire: list[bytes | bytearray]) -> list[bytes]:
    for chunk in wire:
        r.feed(chunk)
    got = []
    while (p := r.next_payload()) is not None:
        got.append(p)
    return got


@pytest.fixture
def counting_urandom(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Padding bytes that depend only on where in a block they are taken, so
    that two writers with the same keys that take the same padding bytes
    make the same wire bytes."""
    monkeypatch.setattr(sealing, "_urandom", lambda n: bytes(i % 251 for i in range(n)))
    yield


SIZES = [0, 1, 2, 3, 11, 12, 13, 14, 15, 16, 17, 27, 31, 32, 33, 1000, 32767, 32768, 32769, MAX_DATA]


@pytest.mark.parametrize(("cipher", "mac"), COMBOS, ids=COMBO_IDS)
def test_batches_open_with_the_reference_reader(cipher: str, mac: str | None) -> None:
    """Odd sizes, every padding length, a packet of the maximum length: each
    batch opens to its payloads with the same counters as single seals."""
    keys = keys_for(cipher, mac, 1)
    w, ref, r = PacketWriter(), PacketWriter(), PacketReader()
    for x in (w, ref, r):
        x.set_keys(*keys)
    data = memoryview(random.Random(2).randbytes(sum(SIZES)))
    payloads = chan_parts(data, SIZES)
    expected = [b"".join(p) for p in payloads]
    got: list[bytes] = []
    for i in range(0, len(payloads), 3):  # batches of three
        wire = w.seal_parts(payloads[i : i + 3])
        for one in expected[i : i + 3]:
            ref.seal(one)
        got += open_all(r, wire)
    assert got == expected
    assert (w.seq, w.packets_sealed, w.bytes_sealed) == (ref.seq, ref.packets_sealed, ref.bytes_sealed)
    assert r.bytes_opened == w.bytes_sealed


@pytest.mark.parametrize(("cipher", "mac"), COMBOS, ids=COMBO_IDS)
def test_batch_wire_is_byte_for_byte_the_single_seal(cipher: str, mac: str | None, counting_urandom: None) -> None:
    """With the same keys and padding bytes, a batch is exactly the
    concatenation of the packets ``seal`` makes one by one: same length
    fields, padding lengths, nonces/sequence numbers, tags and MACs."""
    keys = keys_for(cipher, mac, 3)
    w, ref = PacketWriter(), PacketWriter()
    w.set_keys(*keys)
    ref.set_keys(*keys)
    data = memoryview(random.Random(4).randbytes(4000))
    sizes = [0, 1, 15, 16, 17, 100, 1000, 2851]  # < 4096 bytes of padding in all: one padding block
    payloads = chan_parts(data, sizes)
    batch = b"".join(w.seal_parts(payloads))
    single = b"".join(ref.seal(b"".join(p)) for p in payloads)
    assert batch == single


@pytest.mark.parametrize(("cipher", "mac"), COMBOS, ids=COMBO_IDS)
def test_rekey_and_strict_kex_reset_between_batches(cipher: str, mac: str | None) -> None:
    """New keys (and a sequence number reset, as strict kex does) between two
    batches: the second batch is sealed with the new keys from its first
    packet on, and the rekey counters restart."""
    first, second = keys_for(cipher, mac, 5), keys_for(cipher, mac, 6)
    w, r = PacketWriter(), PacketReader()
    w.set_keys(*first)
    r.set_keys(*first)
    data = memoryview(random.Random(7).randbytes(200000))
    one = chan_parts(data, [32768, 32768, 5])
    two = chan_parts(data[65541:], [32768, 17, 32768])
    assert open_all(r, w.seal_parts(one)) == [b"".join(p) for p in one]
    w.set_keys(*second)
    w.reset_sequence()
    assert (w.seq, w.packets_sealed, w.bytes_sealed) == (0, 0, 0)
    wire = w.seal_parts(two)
    r.set_keys(*second)
    r.reset_sequence()
    assert open_all(r, wire) == [b"".join(p) for p in two]
    assert (w.seq, w.packets_sealed) == (3, 3)
    assert w.bytes_sealed == r.bytes_opened == sum(map(len, wire))


def test_gcm_batches_straddle_the_counter_and_sequence_wrap() -> None:
    """The GCM invocation counter and the sequence number wrap inside a batch."""
    cipher, key, _, _, _ = keys_for(GCM, None, 8)
    iv = bytes(4) + (2**64 - 2).to_bytes(8, "big")  # the counter wraps after two packets
    w, r = PacketWriter(), PacketReader()
    w.set_keys(cipher, key, iv, None, None)
    r.set_keys(cipher, key, iv, None, None)
    w.seq = r.seq = 2**32 - 1
    data = memoryview(bytes(range(256)) * 40)
    payloads = chan_parts(data, [1000, 2000, 3000, 4000])
    assert open_all(r, w.seal_parts(payloads)) == [b"".join(p) for p in payloads]
    assert w.seq == r.seq == 3


BATCH_KINDS = [
    (GCM, None),
    ("chacha20-poly1305@openssh.com", None),
    ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
    ("aes256-cbc", "hmac-sha1"),
]


@pytest.mark.parametrize(("cipher", "mac"), BATCH_KINDS)
def test_batches_never_write_into_a_buffer_handed_out(cipher: str, mac: str | None) -> None:
    """A batch buffer still held (by a list, or only by a memoryview, as a
    driver's write queue may) keeps its bytes while more batches are sealed,
    even while a sender streams (when a dropped buffer is reused)."""
    keys = keys_for(cipher, mac, 9)
    w, r = PacketWriter(), PacketReader()
    w.set_keys(*keys)
    r.set_keys(*keys)
    w.keep_batch_buffer(True)
    data = memoryview(random.Random(10).randbytes(3 * 32768))
    batch = chan_parts(data, [32768] * 3)
    expected = [b"".join(p) for p in batch]
    held = w.seal_parts(batch)
    snapshot = bytes(held[0])
    view = memoryview(w.seal_parts(batch)[0])[100:200]
    before = bytes(view)
    later = [w.seal_parts(batch) for _ in range(3)]
    assert bytes(held[0]) == snapshot
    assert bytes(view) == before
    assert len({id(x[0]) for x in later} | {id(held[0]), id(view.obj)}) == 5
    assert open_all(r, held) == expected
    w.keep_batch_buffer(False)


@pytest.mark.parametrize(("cipher", "mac"), BATCH_KINDS)
def test_every_keyed_framing_seals_a_batch_into_one_buffer(cipher: str, mac: str | None) -> None:
    """Each keyed framing returns a batch as one buffer of exactly the
    packets' wire bytes (length, ciphertext, tag or MAC of each in order),
    for a single write."""
    keys = keys_for(cipher, mac, 15)
    w, ref, r = PacketWriter(), PacketWriter(), PacketReader()
    for x in (w, ref, r):
        x.set_keys(*keys)
    data = memoryview(bytes(70000))
    payloads = chan_parts(data, [32768, 32768, 7])
    wire = w.seal_parts(payloads)
    assert len(wire) == 1 and type(wire[0]) is bytearray
    assert len(wire[0]) == sum(len(ref.seal(b"".join(p))) for p in payloads)
    assert open_all(r, wire) == [b"".join(p) for p in payloads]


@pytest.mark.parametrize(
    ("cipher", "mac", "etm"),
    [("aes128-ctr", "hmac-sha2-256-etm@openssh.com", True), ("aes256-cbc", "hmac-sha1", False)],
)
def test_context_sealers_match_negotiated_sealers(cipher: str, mac: str, etm: bool, counting_urandom: None) -> None:
    """``make_context_sealer`` (paramiko's Packetizer API) frames exactly as
    the negotiated sealer of the same cipher and MAC does."""
    keys = keys_for(cipher, mac, 16)
    _, key, iv, _, mac_key = keys
    assert mac_key is not None
    spec = CIPHERS[cipher]
    negotiated = sealing.make_sealer(*keys)
    ctx = stream_context(spec, key, iv, True)
    mine = sealing.make_context_sealer(ctx, spec.block_size, MACS[mac].keyed(mac_key), etm=etm)
    payloads = [b"", b"x" * 17, bytes(5000)]
    a = b"".join(negotiated(p, i) for i, p in enumerate(payloads))
    b = b"".join(mine(p, i) for i, p in enumerate(payloads))
    assert a == b


def test_chacha_without_reset_nonce_seals_the_same_wire(
    monkeypatch: pytest.MonkeyPatch, counting_urandom: None
) -> None:
    """With a cryptography whose contexts cannot change nonce (42), chacha20
    falls back to a context per nonce: same wire bytes, same openings."""
    keys = keys_for("chacha20-poly1305@openssh.com", None, 17)
    data = memoryview(random.Random(18).randbytes(40000))
    payloads = chan_parts(data, [0, 13, 32768, 7000])

    def sealed() -> bytes:
        w = PacketWriter()
        w.set_keys(*keys)
        return b"".join(w.seal_parts(payloads)) + w.seal(b"single")

    reference = sealed()
    monkeypatch.setattr(sealing, "chacha_stream", framing._FreshContexts)
    monkeypatch.setattr(opening, "chacha_stream", framing._FreshContexts)
    assert sealed() == reference
    r = PacketReader()
    r.set_keys(*keys)
    assert open_all(r, [reference]) == [b"".join(p) for p in payloads] + [b"single"]


# -- the batch buffer kept while a sender streams ---------------------------------


def gcm_pair(seed: int) -> tuple[PacketWriter, PacketReader, list[tuple[bytes, memoryview]], list[bytes]]:
    keys = keys_for(GCM, None, seed)
    w, r = PacketWriter(), PacketReader()
    w.set_keys(*keys)
    r.set_keys(*keys)
    data = memoryview(random.Random(seed).randbytes(3 * 32768))
    batch = chan_parts(data, [32768] * 3)
    return w, r, batch, [b"".join(p) for p in batch]


needs_refcounts = pytest.mark.skipif(batch_buffer.reuse_check() is None, reason="no buffer reuse on this interpreter")


@needs_refcounts
def test_streaming_reuses_the_buffer_only_once_nobody_holds_it() -> None:
    """While a sender streams, the next batch of the same size is sealed into
    the buffer the last one was written from, once the caller dropped it;
    while a list, a name or only a memoryview still refers to it, the next
    batch gets a new buffer and the held bytes stay as they were."""
    w, r, batch, expected = gcm_pair(21)
    w.keep_batch_buffer(True)
    held = w.seal_parts(batch)
    snapshot = bytes(held[0])
    again = w.seal_parts(batch)
    assert again[0] is not held[0]
    assert bytes(held[0]) == snapshot
    assert open_all(r, held) == expected
    assert open_all(r, again) == expected
    buf = again[0]
    del held, again
    view = memoryview(buf)[100:200]
    del buf
    before = bytes(view)
    third = w.seal_parts(batch)
    assert bytes(view) == before
    assert open_all(r, third) == expected
    ident = id(third[0])  # the one kept now (the view's buffer was replaced)
    del view, third
    fourth = w.seal_parts(batch)
    assert id(fourth[0]) == ident
    assert open_all(r, fourth) == expected


@needs_refcounts
def test_nothing_is_kept_outside_a_stream_and_a_kept_buffer_lasts_until_released() -> None:
    """Without a stream no buffer is kept; a stream's buffer stays for the
    next stream (the next batch of replies reuses it) until the driver
    releases it, and a batch outside a stream reuses it too."""
    w, _, batch, _ = gcm_pair(22)
    assert w.kept_buffer_id() is None
    w.seal_parts(batch)
    assert w.kept_buffer_id() is None
    w.keep_batch_buffer(True)
    w.keep_batch_buffer(True)
    w.seal_parts(batch)
    kept = w.kept_buffer_id()
    assert kept is not None and w.holds_batch_buffer
    w.keep_batch_buffer(False)
    w.keep_batch_buffer(False)
    w.keep_batch_buffer(False)  # an unmatched end is harmless
    assert w.kept_buffer_id() == kept  # kept after the stream ended
    w.keep_batch_buffer(True)  # the next stream seals into the same memory
    out = w.seal_parts(batch)
    assert id(out[0]) == kept
    del out
    w.keep_batch_buffer(False)
    assert w.release_batch_buffer() is True  # the connection went idle
    assert w.kept_buffer_id() is None and not w.holds_batch_buffer
    assert w.release_batch_buffer() is False


@needs_refcounts
def test_shorter_batches_leave_the_spare_and_huge_ones_are_not_kept() -> None:
    """A shorter batch (the end of a write) gets its own buffer and leaves
    the full-size one for the next full batch; a batch bigger than
    ``KEEP_MAX`` is never kept."""
    keys = keys_for(GCM, None, 23)
    w, r = PacketWriter(), PacketReader()
    w.set_keys(*keys)
    r.set_keys(*keys)
    data = memoryview(random.Random(24).randbytes(batch_buffer.KEEP_MAX + 65536))
    full = chan_parts(data, [32768] * 3)
    short = chan_parts(data, [100])
    huge = chan_parts(data, [MAX_DATA, batch_buffer.KEEP_MAX + 65536 - MAX_DATA])
    w.keep_batch_buffer(True)
    out = w.seal_parts(full)
    ident = id(out[0])
    assert open_all(r, out) == [b"".join(p) for p in full]
    del out
    for payloads in (short, huge, full):
        out = w.seal_parts(payloads)
        assert open_all(r, out) == [b"".join(p) for p in payloads]
        last = id(out[0])
        del out
    assert last == ident
    w.keep_batch_buffer(False)


def test_streaming_without_reference_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where reference counts cannot tell (PyPy, free-threaded CPython),
    every batch gets a fresh buffer, streaming or not."""
    monkeypatch.setattr(batch_buffer, "reuse_check", lambda: None)
    w, r, batch, expected = gcm_pair(25)
    w.keep_batch_buffer(True)
    first = w.seal_parts(batch)[0]
    first_bytes = bytes(first)
    second = w.seal_parts(batch)[0]
    assert second is not first and bytes(first) == first_bytes
    assert open_all(r, [first, second]) == expected * 2


def test_a_channel_send_step_fits_the_kept_buffer() -> None:
    """The threaded driver's send step (``channel.SEND_BATCH`` in 32 KiB
    packets, with framing) fits the buffer a writer keeps."""
    from ssh_transport.channel import SEND_BATCH

    count = -(-SEND_BATCH // 32768)
    assert SEND_BATCH + count * (4 + 1 + _CHAN.size + 35 + 16) <= batch_buffer.KEEP_MAX


class _Sink(ServerInterface):
    """Lets anyone in; an exec'd session's input is hashed by a thread."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.received = 0
        self.done = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        threading.Thread(target=self._drain, args=(channel,), daemon=True).start()
        return True

    def _drain(self, channel: Channel) -> None:
        while data := channel.recv(65536):
            self.digest.update(data)
            self.received += len(data)
        self.done.set()
        channel.send_exit_status(0)
        channel.close()


@pytest.mark.timeout(120)
@needs_refcounts
def test_channel_sendall_streams_through_one_buffer_and_keeps_none_once_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-step ``Channel.sendall`` seals its steps into a reused buffer
    (at least once in 32 steps), the bytes arrive intact, and once the
    connection is idle it keeps no batch buffer (an idle connection must
    not hold one)."""
    reused: list[bool] = []
    real_take = batch_buffer.BatchBuffers.take

    def take(self: batch_buffer.BatchBuffers, size: int) -> bytearray:
        # the kept buffer's id while it is alive (a name for it would count as a holder)
        kept = self.kept_id()
        out = real_take(self, size)
        reused.append(id(out) == kept)
        return out

    monkeypatch.setattr(batch_buffer.BatchBuffers, "take", take)
    a, b = socket.socketpair()
    sink = _Sink()
    server, client = Transport(b), Transport(a)
    server.add_server_key(Ed25519Key.generate())
    started = threading.Thread(target=server.start_server, kwargs={"server": sink}, daemon=True)
    started.start()
    try:
        client.start_client(timeout=30)
        client.auth_none("me")
        started.join(30)
        chan = client.open_session()
        chan.settimeout(60)
        chan.exec_command("sink")
        payload = random.Random(26).randbytes(8 * 1024 * 1024)
        chan.sendall(payload)
        core = client._core
        assert core is not None
        assert core.writer.kept_buffer_id() is not None  # for the next stream
        chan.shutdown_write()
        assert sink.done.wait(60)
        assert sink.received == len(payload)
        assert sink.digest.digest() == hashlib.sha256(payload).digest()
        chan.close()  # the server's CLOSE comes back; then nothing: the connection is idle
        assert wait_until(lambda: core.writer.kept_buffer_id() is None, 10)
        assert len(reused) >= 32
        assert any(reused)
    finally:
        client.close()
        server.close()
