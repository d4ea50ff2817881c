"""The binary packet layer: every cipher x MAC round trip, framing rules,
tampering, bad lengths, sequence numbers, key changes, compression and the
receive buffer."""

from __future__ import annotations

import os
import random
import struct
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from ssh_transport.protocol import sealing
from ssh_transport.protocol.ciphers import CIPHERS
from ssh_transport.protocol.macs import MACS
from ssh_transport.protocol.packets import PacketReader, PacketWriter
from ssh_wire import DISCONNECT_COMPRESSION_ERROR, DISCONNECT_MAC_ERROR, DISCONNECT_PROTOCOL_ERROR, ProtocolError

COMBOS = [(c, None) for c, s in CIPHERS.items() if s.aead] + [
    (c, m) for c, s in CIPHERS.items() if not s.aead for m in MACS
]
COMBO_IDS = [f"{c}+{m}" if m else c for c, m in COMBOS]
SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 11, 12, 15, 16, 17, 31, 32, 33, 255, 256, 1000, 4095, 4096, 32768, 35000, 70000]


def keyed_pair(cipher: str, mac: str | None, seed: int = 1) -> tuple[PacketWriter, PacketReader, tuple]:
    """A writer and a reader sharing deterministic keys for ``cipher``/``mac``."""
    rng = random.Random(seed)
    spec = CIPHERS[cipher]
    key = rng.randbytes(spec.key_size)
    iv = rng.randbytes(spec.iv_size)
    mac_key = rng.randbytes(MACS[mac].key_size) if mac else None
    keys = (cipher, key, iv, mac, mac_key)
    w, r = PacketWriter(), PacketReader()
    w.set_keys(*keys)
    r.set_keys(*keys)
    return w, r, keys


def overhead(cipher: str, mac: str | None) -> tuple[int, int]:
    """(alignment block, trailing tag size) of a framing."""
    spec = CIPHERS[cipher]
    tag = 16 if spec.aead else MACS[mac].digest_size  # type: ignore[index]
    return max(8, spec.block_size), tag


def drain(r: PacketReader) -> list[bytes]:
    out = []
    while (p := r.next_payload()) is not None:
        out.append(p)
    return out


# -- round trips ---------------------------------------------------------------


@pytest.mark.parametrize(("cipher", "mac"), COMBOS, ids=COMBO_IDS)
def test_round_trip_all_sizes_in_random_chunks(cipher: str, mac: str | None) -> None:
    w, r, _ = keyed_pair(cipher, mac)
    payloads = [os.urandom(n) for n in SIZES]
    wire = b"".join(w.seal(p) for p in payloads)
    rng = random.Random(7)
    got: list[bytes] = []
    pos = 0
    while pos < len(wire):
        n = rng.choice([1, 3, 100, 4096, 65536, 200000])
        r.feed(wire[pos : pos + n])
        pos += n
        got.extend(drain(r))
    assert got == payloads
    assert r.pending() == 0
    assert w.seq == r.seq == len(payloads)
    assert w.packets_sealed == r.packets_opened == len(payloads)
    assert w.bytes_sealed == r.bytes_opened == len(wire)


@pytest.mark.parametrize(("cipher", "mac"), COMBOS, ids=COMBO_IDS)
def test_round_trip_byte_by_byte(cipher: str, mac: str | None) -> None:
    w, r, _ = keyed_pair(cipher, mac)
    payloads = [b"", b"x", os.urandom(40), os.urandom(300)]
    for p in payloads:
        wire = w.seal(p)
        for i in range(len(wire) - 1):
            r.feed(wire[i : i + 1])
            assert r.next_payload() is None
        r.feed(wire[-1:])
        assert r.next_payload() == p
        assert r.next_payload() is None


@pytest.mark.parametrize(("cipher", "mac"), COMBOS, ids=COMBO_IDS)
def test_framing_lengths_and_padding(cipher: str, mac: str | None) -> None:
    """Padding is 4..(4+block) bytes and aligns what the framing says it aligns."""
    w, _, _ = keyed_pair(cipher, mac)
    block, tag = overhead(cipher, mac)
    spec = CIPHERS[cipher]
    aligned_without_length = spec.aead or MACS[mac].etm  # type: ignore[index]
    for n in range(0, 3 * block + 1):
        wire = w.seal(bytes(n))
        body = len(wire) - tag  # length field + padlen + payload + padding
        padding = body - 4 - 1 - n
        assert 4 <= padding < 4 + block
        assert (body - 4 if aligned_without_length else body) % block == 0


def test_plain_framing_is_the_rfc_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealing, "_urandom", lambda n: b"\xaa" * n)
    w = PacketWriter()
    # 5-byte payload: 4 + 1 + 5 = 10 -> pad 6 to reach 16.
    assert w.seal(b"hello") == struct.pack(">IB", 12, 6) + b"hello" + b"\xaa" * 6
    # 3-byte payload: 4 + 1 + 3 = 8 is aligned, but padding must be >= 4: 8.
    assert w.seal(b"abc") == struct.pack(">IB", 12, 8) + b"abc" + b"\xaa" * 8
    # empty payload: 4 + 1 = 5 -> 3 would align, too short: 11.
    assert w.seal(b"") == struct.pack(">IB", 12, 11) + b"\xaa" * 11
    r = PacketReader()
    r.feed(struct.pack(">IB", 12, 6) + b"hello" + b"\x00" * 6)
    assert r.next_payload() == b"hello"


def test_seal_many_is_concatenation() -> None:
    w1, _, _ = keyed_pair("aes128-gcm@openssh.com", None)
    w2, r, _ = keyed_pair("aes128-gcm@openssh.com", None)
    payloads = [b"a", b"bb" * 100, b""]
    one = w1.seal_many(payloads)
    r.feed(one)
    assert drain(r) == payloads
    assert len(one) == sum(len(w2.seal(p)) for p in payloads)


@pytest.mark.parametrize(("cipher", "mac"), COMBOS, ids=COMBO_IDS)
def test_seal_parts_matches_seal(cipher: str, mac: str | None) -> None:
    """Payloads given as (header, view) parts, sealed in a batch (every keyed
    framing encrypts straight into one buffer), open to the joined payloads, interleaved with single seals, with the
    same sequence numbers and counters as sealing them one at a time."""
    w, r, keys = keyed_pair(cipher, mac)
    ref = PacketWriter()
    ref.set_keys(*keys)
    data = memoryview(os.urandom(70000))
    batches = [[(b"\x5e" + bytes(8), data[:32768]), (b"\x5e" + bytes(8), data[32768:65536])], [(b"x", data[:0])], []]
    expected = []
    for parts in batches:
        joined = [b"".join(p) for p in parts]
        wire = w.seal_parts(parts)
        assert sum(map(len, wire)) == sum(len(ref.seal(j)) for j in joined)
        for chunk in wire:
            r.feed(chunk)
        expected += joined
        r.feed(w.seal(b"between"))
        ref.seal(b"between")
        expected.append(b"between")
    assert drain(r) == expected
    assert (w.seq, w.packets_sealed, w.bytes_sealed) == (ref.seq, ref.packets_sealed, ref.bytes_sealed)
    assert len(w.seal_parts(batches[0])) == 1  # one buffer for the batch


def test_seal_parts_without_encrypt_into(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cryptography that lacks ``AESGCM.encrypt_into`` (before 45),
    AES-GCM seals one packet at a time and the packets still open."""
    real = sealing.gcm_keys

    class OldAESGCM:
        def __init__(self, aes: AESGCM) -> None:
            self.encrypt = aes.encrypt
            self.decrypt = aes.decrypt

    def old_gcm(*args: object) -> tuple[object, bytes, int]:
        aes, fixed, counter = real(*args)  # type: ignore[arg-type]
        return OldAESGCM(aes), fixed, counter

    monkeypatch.setattr(sealing, "gcm_keys", old_gcm)
    w, r, _ = keyed_pair("aes128-gcm@openssh.com", None)
    parts = [(b"\x5e" + bytes(8), memoryview(b"abc" * 5000)), (b"y", memoryview(b"z"))]
    wire = w.seal_parts(parts)
    assert len(wire) == 2
    for chunk in wire:
        r.feed(chunk)
    assert drain(r) == [b"".join(p) for p in parts]


def test_seal_parts_with_compression() -> None:
    """Compressed payloads go one at a time (the batch path is for raw data)."""
    w, r, _ = keyed_pair("aes128-gcm@openssh.com", None)
    w.set_compression("zlib")
    r.set_compression("zlib")
    parts = [(b"\x5e" + bytes(8), memoryview(b"q" * 40000)), (b"\x5e" + bytes(8), memoryview(b"r" * 10))]
    for chunk in w.seal_parts(parts):
        r.feed(chunk)
    assert drain(r) == [b"".join(p) for p in parts]


def test_buffer_for_recv_and_commit() -> None:
    w, r, _ = keyed_pair("chacha20-poly1305@openssh.com", None)
    payloads = [os.urandom(n) for n in (10, 70000, 5, 200000)]
    wire = b"".join(w.seal(p) for p in payloads)
    got: list[bytes] = []
    pos = 0
    while pos < len(wire):
        view = r.buffer_for_recv(50000)
        n = min(len(view), len(wire) - pos, 33333)
        view[:n] = wire[pos : pos + n]
        del view
        r.commit(n)
        pos += n
        got.extend(drain(r))
    assert got == payloads
    with pytest.raises(ValueError):
        r.buffer_for_recv(0)
    with pytest.raises(ValueError):
        r.commit(-1)


def test_live_view_does_not_break_feed() -> None:
    """A view from buffer_for_recv that is still alive must not make feed() fail."""
    r = PacketReader()
    view = r.buffer_for_recv(16)
    w = PacketWriter()
    big = w.seal(os.urandom(150000))
    r.feed(big)  # needs a bigger buffer while ``view`` pins the old one
    assert r.next_payload() is not None
    del view


# -- sequence numbers and keys -------------------------------------------------


@pytest.mark.parametrize(("cipher", "mac"), [*COMBOS[:4], ("aes128-ctr", "hmac-sha2-256")], ids=COMBO_IDS[:5])
def test_sequence_number_wraps_at_2_32(cipher: str, mac: str | None) -> None:
    w, r, _ = keyed_pair(cipher, mac)
    w.seq = r.seq = 2**32 - 3
    for i in range(6):
        r.feed(w.seal(bytes([i]) * 20))
        assert r.next_payload() == bytes([i]) * 20
    assert w.seq == r.seq == 3


def test_mismatched_sequence_numbers_fail_the_mac() -> None:
    w, r, _ = keyed_pair("aes128-ctr", "hmac-sha2-256-etm@openssh.com")
    r.seq = 1
    r.feed(w.seal(b"data"))
    with pytest.raises(ProtocolError) as err:
        r.next_payload()
    assert err.value.reason == DISCONNECT_MAC_ERROR


def test_reset_sequence_for_strict_kex() -> None:
    w, r, _keys = keyed_pair("aes256-gcm@openssh.com", None)
    for _ in range(5):
        r.feed(w.seal(b"x"))
        r.next_payload()
    w.reset_sequence()
    r.reset_sequence()
    assert w.seq == r.seq == 0
    w.set_keys("chacha20-poly1305@openssh.com", bytes(64), b"", None, None)
    r.set_keys("chacha20-poly1305@openssh.com", bytes(64), b"", None, None)
    r.feed(w.seal(b"after"))
    assert r.next_payload() == b"after"


CHANGE_COMBOS = [c for c in COMBOS if c[0] in ("chacha20-poly1305@openssh.com", "aes128-cbc")]


@pytest.mark.parametrize(("cipher", "mac"), CHANGE_COMBOS)
def test_keys_change_between_two_buffered_packets(cipher: str, mac: str | None) -> None:
    """NEWKEYS and the first new-key packet arrive in one read: the reader must
    not touch the second packet until the caller has installed the new keys."""
    w, r = PacketWriter(), PacketReader()
    newkeys = w.seal(b"\x15")
    _, _, keys = keyed_pair(cipher, mac, seed=3)
    w.set_keys(*keys)
    assert w.packets_sealed == 0 and w.bytes_sealed == 0
    first = w.seal(b"first under new keys")
    r.feed(newkeys + first[:10])  # the next packet's header is already here
    assert r.next_payload() == b"\x15"
    r.set_keys(*keys)
    assert r.next_payload() is None
    r.feed(first[10:])
    assert r.next_payload() == b"first under new keys"


VIEW_COMBOS = [c for c in COMBOS if c[0] in ("chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes128-ctr")]


@pytest.mark.parametrize(("cipher", "mac"), VIEW_COMBOS)
@pytest.mark.parametrize("compression", ["none", "zlib"])
def test_payload_views_survive_feeding_and_key_changes(cipher: str, mac: str | None, compression: str) -> None:
    """``next_payload_view`` may return views (no copy); every one must keep
    its bytes while more data is fed, the buffer is compacted or grown, and
    keys change from plain to keyed to new keys."""
    w, r = PacketWriter(), PacketReader()
    rng = random.Random(7)
    plain = [rng.randbytes(n) for n in (1, 40, 5000)]
    _, _, keys1 = keyed_pair(cipher, mac, seed=11)
    _, _, keys2 = keyed_pair(cipher, mac, seed=12)
    phases = [(None, plain), (keys1, [rng.randbytes(n) for n in (9, 32768, 70000, 3)])]
    phases.append((keys2, [rng.randbytes(n) for n in (32777, 100, 200000)]))
    got: list[bytes | memoryview] = []
    want: list[bytes] = []
    for new_keys, payloads in phases:
        if new_keys is not None:
            w.set_keys(*new_keys)
            w.set_compression(compression)
        wire = w.seal_many(payloads)
        if new_keys is not None:
            r.set_keys(*new_keys)
            r.set_compression(compression)
        for i in range(0, len(wire), 4093):  # odd chunks: packets split across feeds
            r.feed(wire[i : i + 4093])
            while (p := r.next_payload_view()) is not None:
                assert isinstance(p, (bytes, memoryview))
                got.append(p)
        want.extend(payloads)
    assert [bytes(p) for p in got] == want
    for p in got:  # a view must never see a writable receive buffer
        assert isinstance(p, bytes) or p.readonly


def test_rekey_counters_reset() -> None:
    w, r, keys = keyed_pair("aes128-gcm@openssh.com", None)
    r.feed(w.seal(b"x" * 1000))
    r.next_payload()
    assert w.bytes_sealed > 1000 and r.bytes_opened == w.bytes_sealed
    w.set_keys(*keys)
    r.set_keys(*keys)
    assert (w.bytes_sealed, w.packets_sealed, r.bytes_opened, r.packets_opened) == (0, 0, 0, 0)


def test_set_keys_refuses_bad_arguments() -> None:
    w = PacketWriter()
    with pytest.raises(KeyError):
        w.set_keys("rot13", bytes(16), bytes(16), "hmac-sha1", bytes(20))
    with pytest.raises(ValueError):
        w.set_keys("aes128-ctr", bytes(16), bytes(16), None, None)
    with pytest.raises(ValueError):
        w.set_keys("aes128-ctr", bytes(15), bytes(16), "hmac-sha1", bytes(20))
    with pytest.raises(ValueError):
        w.set_keys("chacha20-poly1305@openssh.com", bytes(32), b"", None, None)
    with pytest.raises(KeyError):
        w.set_compression("lz4")


# -- tampering and bad input ---------------------------------------------------


@pytest.mark.parametrize(("cipher", "mac"), COMBOS, ids=COMBO_IDS)
def test_any_flipped_byte_is_refused(cipher: str, mac: str | None) -> None:
    w, _, keys = keyed_pair(cipher, mac)
    block, _ = overhead(cipher, mac)
    wire = w.seal(b"some payload bytes")
    # Bytes that decide the length may make it invalid (PROTOCOL_ERROR) rather
    # than fail the MAC: the clear/encrypted length field, and with CBC and a
    # classic MAC the whole first block.
    length_bytes = block if (mac and not MACS[mac].etm and "cbc" in cipher) else 4
    for i in range(len(wire)):
        r = PacketReader()
        r.set_keys(*keys)
        bad = bytearray(wire)
        bad[i] ^= 0x01
        r.feed(bytes(bad) + bytes(300000))  # enough bytes for any length the flip may produce
        with pytest.raises(ProtocolError) as err:
            r.next_payload()
        if i >= length_bytes:
            assert err.value.reason == DISCONNECT_MAC_ERROR, i
        else:
            assert err.value.reason in (DISCONNECT_MAC_ERROR, DISCONNECT_PROTOCOL_ERROR), i


def plain(length: int, padlen: int, body: bytes = b"") -> bytes:
    return struct.pack(">IB", length, padlen) + body


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (plain(0, 0), "length 0"),
        (plain(4, 4, b"\x00" * 3), "length below 5"),
        (plain(13, 4, b"\x00" * 12), "not a multiple of 8"),
        (plain(256 * 1024 + 68, 4), "too long"),
        (plain(0xFFFFFFFF, 4), "absurdly long"),
        (plain(12, 3, b"\x00" * 11), "padding below 4"),
        (plain(12, 12, b"\x00" * 11), "padding longer than the packet"),
        (plain(12, 255, b"\x00" * 11), "padding byte 255"),
    ],
)
def test_bad_plain_packets(wire: bytes, why: str) -> None:
    r = PacketReader()
    r.feed(wire + bytes(64))
    with pytest.raises(ProtocolError) as err:
        r.next_payload()
    assert err.value.reason == DISCONNECT_PROTOCOL_ERROR, why


def test_max_packet_length_is_configurable() -> None:
    w = PacketWriter()
    r = PacketReader(max_packet_length=1024)
    r.feed(w.seal(bytes(1000)))
    assert r.next_payload() == bytes(1000)
    r.feed(w.seal(bytes(1100)))
    with pytest.raises(ProtocolError):
        r.next_payload()


@pytest.mark.parametrize(
    ("cipher", "mac"),
    [
        ("aes128-gcm@openssh.com", None),
        ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
    ],
)
def test_unaligned_length_is_refused_before_waiting(cipher: str, mac: str | None) -> None:
    """A clear length that breaks the block rule fails at once, not after the body arrives."""
    _, r, _ = keyed_pair(cipher, mac)
    r.feed(struct.pack(">I", 21))
    with pytest.raises(ProtocolError) as err:
        r.next_payload()
    assert err.value.reason == DISCONNECT_PROTOCOL_ERROR


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([*COMBOS[:4], ("none", None), ("aes128-cbc", "hmac-sha1")]))
def test_random_bytes_never_escape_as_other_errors(data: bytes, combo: tuple[str, str | None]) -> None:
    cipher, mac = combo
    r = PacketReader()
    if cipher != "none":
        _, r, _ = keyed_pair(cipher, mac)
    r.feed(data)
    try:
        while r.next_payload() is not None:
            pass
    except ProtocolError as exc:
        assert exc.reason in (DISCONNECT_MAC_ERROR, DISCONNECT_PROTOCOL_ERROR)


# -- compression ---------------------------------------------------------------


@pytest.mark.parametrize(("cipher", "mac"), [COMBOS[0], COMBOS[1], ("aes128-ctr", "hmac-sha2-256")])
def test_zlib_round_trip_keeps_one_stream(cipher: str, mac: str | None) -> None:
    w, r, _ = keyed_pair(cipher, mac)
    w.set_compression("zlib")
    r.set_compression("zlib")
    assert w.compressing and r.decompressing
    text = b"the quick brown fox jumps over the lazy dog " * 50
    payloads = [text, text, os.urandom(1000), b"", text[:7], bytes(70000)]
    sizes = []
    for p in payloads:
        wire = w.seal(p)
        sizes.append(len(wire))
        r.feed(wire)
        assert r.next_payload() == p
    # the second copy of ``text`` compresses against the first (shared history)
    assert sizes[1] < sizes[0] < len(text)


def test_delayed_zlib_starts_after_auth() -> None:
    w, r = PacketWriter(), PacketReader()
    w.set_compression("zlib@openssh.com")
    r.set_compression("zlib@openssh.com")
    assert not w.compressing and not r.decompressing
    r.feed(w.seal(b"A" * 200))
    assert r.next_payload() == b"A" * 200
    w.enable_delayed_compression()
    r.enable_delayed_compression()
    wire = w.seal(b"A" * 200)
    assert b"A" * 200 not in wire and len(wire) < 100
    r.feed(wire)
    assert r.next_payload() == b"A" * 200


def test_delayed_zlib_after_rekey_when_already_authenticated() -> None:
    w, r = PacketWriter(), PacketReader()
    w.enable_delayed_compression()
    r.enable_delayed_compression()
    assert not w.compressing  # nothing negotiated yet
    w.set_compression("zlib@openssh.com")
    r.set_compression("zlib@openssh.com")
    assert w.compressing and r.decompressing
    r.feed(w.seal(b"B" * 500))
    assert r.next_payload() == b"B" * 500
    w.set_compression("none")
    r.set_compression("none")
    r.feed(w.seal(b"plain"))
    assert r.next_payload() == b"plain"


def test_bad_zlib_data_is_a_compression_error() -> None:
    r = PacketReader()
    r.set_compression("zlib")
    r.feed(PacketWriter().seal(b"\xff\xfe not deflate"))
    with pytest.raises(ProtocolError) as err:
        r.next_payload()
    assert err.value.reason == DISCONNECT_COMPRESSION_ERROR


def test_zlib_bomb_is_capped() -> None:
    r = PacketReader(max_packet_length=64 * 1024)
    r.set_compression("zlib")
    z = zlib.compressobj()
    bomb = z.compress(bytes(10_000_000)) + z.flush(zlib.Z_SYNC_FLUSH)
    w = PacketWriter()
    r.feed(w.seal(bomb))
    with pytest.raises(ProtocolError) as err:
        r.next_payload()
    assert err.value.reason == DISCONNECT_COMPRESSION_ERROR


def test_zlib_stream_end_is_refused() -> None:
    r = PacketReader()
    r.set_compression("zlib")
    r.feed(PacketWriter().seal(zlib.compress(b"finished stream")))
    with pytest.raises(ProtocolError):
        r.next_payload()


def test_padding_comes_from_urandom_in_blocks_and_is_never_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    blocks: list[bytes] = []

    def fake_urandom(n: int) -> bytes:
        calls.append(n)
        blocks.append(os.urandom(n))
        return blocks[-1]

    monkeypatch.setattr(sealing, "_urandom", fake_urandom)
    take = sealing.padding_source(64)
    parts = [take(n) for n in (4, 19, 30, 11, 7, 16, 100, 5)]
    assert [len(p) for p in parts] == [4, 19, 30, 11, 7, 16, 100, 5]
    # 64-byte blocks: 4+19+30+11 fill the first, 7+16 come from the second,
    # 100 gets a block of its own, 5 starts the fourth; nothing is used twice
    assert calls == [64, 64, 100, 64]
    assert b"".join(parts) == blocks[0] + blocks[1][:23] + blocks[2] + blocks[3][:5]
    w, r, _ = keyed_pair("aes128-gcm@openssh.com", None)
    for n in range(300):  # several blocks' worth of padding
        r.feed(w.seal(bytes(n)))
        assert r.next_payload() == bytes(n)
