"""The algorithm tables (names, order, sizes, legacy flags) and known-answer
checks of each framing's exact wire layout, built independently here from the
specs with deterministic padding."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

from ssh_transport.protocol import framing, sealing
from ssh_transport.protocol.algorithms import all_names, default_names, legacy_names
from ssh_transport.protocol.ciphers import CIPHERS, get_cipher
from ssh_transport.protocol.compression import COMPRESSIONS, get_compression
from ssh_transport.protocol.kex import KEX_ALGORITHMS
from ssh_transport.protocol.macs import MACS, get_mac
from ssh_transport.protocol.packets import PacketReader, PacketWriter

# name, key size, iv size, block size, aead, legacy
CIPHER_ROWS = [
    ("aes128-gcm@openssh.com", 16, 12, 16, True, False),
    ("aes256-gcm@openssh.com", 32, 12, 16, True, False),
    ("chacha20-poly1305@openssh.com", 64, 0, 8, True, False),
    ("aes128-ctr", 16, 16, 16, False, False),
    ("aes192-ctr", 24, 16, 16, False, False),
    ("aes256-ctr", 32, 16, 16, False, False),
    ("aes128-cbc", 16, 16, 16, False, True),
    ("aes192-cbc", 24, 16, 16, False, True),
    ("aes256-cbc", 32, 16, 16, False, True),
    ("3des-cbc", 24, 8, 8, False, True),
]

# name, key size, digest size, etm, legacy
MAC_ROWS = [
    ("hmac-sha2-256-etm@openssh.com", 32, 32, True, False),
    ("hmac-sha2-512-etm@openssh.com", 64, 64, True, False),
    ("hmac-sha1-etm@openssh.com", 20, 20, True, False),
    ("hmac-sha2-256", 32, 32, False, False),
    ("hmac-sha2-512", 64, 64, False, False),
    ("hmac-sha1", 20, 20, False, False),
    ("hmac-md5-etm@openssh.com", 16, 16, True, True),
    ("hmac-md5", 16, 16, False, True),
]

# name, hash, legacy
KEX_ROWS = [
    ("mlkem768x25519-sha256", "sha256", False),
    ("curve25519-sha256", "sha256", False),
    ("curve25519-sha256@libssh.org", "sha256", False),
    ("ecdh-sha2-nistp256", "sha256", False),
    ("ecdh-sha2-nistp384", "sha384", False),
    ("ecdh-sha2-nistp521", "sha512", False),
    ("diffie-hellman-group-exchange-sha256", "sha256", False),
    ("diffie-hellman-group16-sha512", "sha512", False),
    ("diffie-hellman-group18-sha512", "sha512", False),
    ("diffie-hellman-group14-sha256", "sha256", False),
    ("diffie-hellman-group14-sha1", "sha1", True),
    ("diffie-hellman-group1-sha1", "sha1", True),
    ("diffie-hellman-group-exchange-sha1", "sha1", True),
]


def test_cipher_table() -> None:
    rows = [(s.name, s.key_size, s.iv_size, s.block_size, s.aead, s.legacy) for s in CIPHERS.values()]
    assert rows == CIPHER_ROWS
    assert all(name == spec.name for name, spec in CIPHERS.items())
    assert get_cipher("aes128-ctr") is CIPHERS["aes128-ctr"]
    with pytest.raises(KeyError, match="rot13"):
        get_cipher("rot13")


def test_mac_table() -> None:
    rows = [(s.name, s.key_size, s.digest_size, s.etm, s.legacy) for s in MACS.values()]
    assert rows == MAC_ROWS
    assert get_mac("hmac-sha1").hash_name == "sha1"
    with pytest.raises(KeyError):
        get_mac("umac-64@openssh.com")


def test_compression_table() -> None:
    assert [(s.name, s.delayed, s.legacy) for s in COMPRESSIONS.values()] == [
        ("none", False, False),
        ("zlib@openssh.com", True, False),
        ("zlib", False, False),
    ]
    with pytest.raises(KeyError):
        get_compression("lz4")


def test_kex_table() -> None:
    rows = [(name, cls.hash_name, cls.legacy) for name, cls in KEX_ALGORITHMS.items()]
    assert rows == KEX_ROWS
    assert all(cls.name == name for name, cls in KEX_ALGORITHMS.items())


@pytest.mark.parametrize(
    ("table", "default", "legacy"),
    [
        (CIPHERS, [r[0] for r in CIPHER_ROWS if not r[5]], [r[0] for r in CIPHER_ROWS if r[5]]),
        (MACS, [r[0] for r in MAC_ROWS if not r[4]], [r[0] for r in MAC_ROWS if r[4]]),
        (KEX_ALGORITHMS, [r[0] for r in KEX_ROWS if not r[2]], [r[0] for r in KEX_ROWS if r[2]]),
        (COMPRESSIONS, ["none", "zlib@openssh.com", "zlib"], []),
    ],
)
def test_default_and_legacy_names(table: dict, default: list[str], legacy: list[str]) -> None:
    assert default_names(table) == tuple(default)
    assert legacy_names(table) == tuple(legacy)
    assert all_names(table) == tuple(table)
    assert set(all_names(table)) == set(default) | set(legacy)


def test_key_bits_for_group_exchange_sizing() -> None:
    assert CIPHERS["aes256-gcm@openssh.com"].key_bits == 256
    assert CIPHERS["chacha20-poly1305@openssh.com"].key_bits == 256
    assert CIPHERS["aes128-ctr"].key_bits == 128
    assert CIPHERS["3des-cbc"].key_bits == 112


# -- known-answer layouts ----------------------------------------------------------

KEY64 = bytes(range(64))
IV16 = bytes(range(100, 116))
PAYLOAD = b"\x05\x00\x00\x00\x0cssh-userauth"  # SERVICE_REQUEST, 17 bytes


@pytest.fixture
def fixed_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealing, "_urandom", pad)
    monkeypatch.setattr(sealing, "padding_source", lambda block=4096: pad)


def pad(n: int) -> bytes:
    return bytes(range(0xA0, 0xA0 + n))


def check_both_ways(cipher: str, mac: str | None, key: bytes, iv: bytes, mac_key: bytes | None, wires: list) -> None:
    w, r = PacketWriter(), PacketReader()
    w.set_keys(cipher, key, iv, mac, mac_key)
    r.set_keys(cipher, key, iv, mac, mac_key)
    for payload, expected in wires:
        assert w.seal(payload) == expected
        r.feed(expected)
        assert r.next_payload() == payload


@pytest.mark.usefixtures("fixed_padding")
def test_aes_gcm_layout_and_nonce_counter() -> None:
    key, iv = KEY64[:16], IV16[:8] + b"\xff\xff\xff\xff"
    aes = AESGCM(key)
    # padlen || 17-byte payload || padding must be a multiple of 16: 1 + 17 + 14 = 32.
    body = bytes([14]) + PAYLOAD + pad(14)
    length = struct.pack(">I", 32)
    first = length + aes.encrypt(iv, body, length)
    # the low 64 bits of the IV count packets; the fixed 4 bytes never change
    second_nonce = iv[:4] + (int.from_bytes(iv[4:], "big") + 1).to_bytes(8, "big")
    second = length + aes.encrypt(second_nonce, body, length)
    check_both_ways("aes128-gcm@openssh.com", None, key, iv, None, [(PAYLOAD, first), (PAYLOAD, second)])


@pytest.mark.usefixtures("fixed_padding")
def test_aes_gcm_invocation_counter_wraps_at_2_64() -> None:
    key, iv = KEY64[:32], b"\x01\x02\x03\x04" + b"\xff" * 8
    aes = AESGCM(key)
    body = bytes([14]) + PAYLOAD + pad(14)
    length = struct.pack(">I", 32)
    first = length + aes.encrypt(iv, body, length)
    second = length + aes.encrypt(b"\x01\x02\x03\x04" + bytes(8), body, length)
    check_both_ways("aes256-gcm@openssh.com", None, key, iv, None, [(PAYLOAD, first), (PAYLOAD, second)])


@pytest.mark.usefixtures("fixed_padding")
def test_chacha20_poly1305_layout() -> None:
    """PROTOCOL.chacha20poly1305: K_2 = first 32 bytes (payload), K_1 = last 32
    (length); nonce = seq as uint64; Poly1305 key = K_2 keystream block 0;
    payload from block 1; tag over encrypted length || ciphertext."""
    k2, k1 = KEY64[:32], KEY64[32:]
    wires = []
    for seq in range(2):
        nonce = seq.to_bytes(8, "big")
        # 1 + 17 + 6 = 24, a multiple of 8
        length = struct.pack(">I", 24)
        body = bytes([6]) + PAYLOAD + pad(6)

        def stream(key: bytes, counter: int, data: bytes, nonce: bytes = nonce) -> bytes:
            c = Cipher(algorithms.ChaCha20(key, counter.to_bytes(8, "little") + nonce), None)
            return c.encryptor().update(data)

        enc_len = stream(k1, 0, length)
        poly_key = stream(k2, 0, bytes(32))
        ct = stream(k2, 1, body)
        wires.append((PAYLOAD, enc_len + ct + Poly1305.generate_tag(poly_key, enc_len + ct)))
    check_both_ways("chacha20-poly1305@openssh.com", None, KEY64, b"", None, wires)


@pytest.mark.usefixtures("fixed_padding")
def test_ctr_with_etm_mac_layout() -> None:
    key, iv, mac_key = KEY64[:16], IV16, KEY64[16:48]
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    wires = []
    for seq in range(2):
        # EtM aligns padlen || payload || padding: 1 + 17 + 14 = 32
        length = struct.pack(">I", 32)
        ct = enc.update(bytes([14]) + PAYLOAD + pad(14))
        tag = hmac.new(mac_key, struct.pack(">I", seq) + length + ct, hashlib.sha256).digest()
        wires.append((PAYLOAD, length + ct + tag))
    check_both_ways("aes128-ctr", "hmac-sha2-256-etm@openssh.com", key, iv, mac_key, wires)


@pytest.mark.usefixtures("fixed_padding")
def test_ctr_with_classic_mac_layout() -> None:
    key, iv, mac_key = KEY64[:32], IV16, KEY64[:20]
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    wires = []
    for seq in range(2):
        # the whole packet aligns: 4 + 1 + 17 + 10 = 32
        packet = struct.pack(">IB", 28, 10) + PAYLOAD + pad(10)
        tag = hmac.new(mac_key, struct.pack(">I", seq) + packet, hashlib.sha1).digest()
        wires.append((PAYLOAD, enc.update(packet) + tag))
    check_both_ways("aes256-ctr", "hmac-sha1", key, iv, mac_key, wires)


@pytest.mark.usefixtures("fixed_padding")
def test_cbc_chains_across_packets() -> None:
    key, iv, mac_key = KEY64[:16], IV16, KEY64[:32]
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    wires = []
    for seq in range(3):
        packet = struct.pack(">IB", 28, 10) + PAYLOAD + pad(10)
        tag = hmac.new(mac_key, struct.pack(">I", seq) + packet, hashlib.sha256).digest()
        wires.append((PAYLOAD, enc.update(packet) + tag))
    check_both_ways("aes128-cbc", "hmac-sha2-256", key, iv, mac_key, wires)


@pytest.mark.parametrize("make", [framing.chacha_stream, framing._FreshContexts], ids=["reset_nonce", "fresh"])
def test_chacha_keystream_moved_per_nonce_matches_a_fresh_context(make: object) -> None:
    """The one-context-per-key keystream (``reset_nonce``), and the context
    per nonce used without it (cryptography 42), give each nonce the
    keystream of a new context, also after a partial block of another."""
    key, probe = bytes(range(32)), bytes(200)
    stream = make(key)  # type: ignore[operator]
    for seq in (0, 1, 2**32 - 1, 2**64 - 1, 5):
        stream.update(bytes(37))  # leave the previous nonce mid-block
        nonce = seq.to_bytes(16, "big")
        stream.reset_nonce(nonce)
        out = bytearray(150)
        got = stream.update(probe[:50])
        assert stream.update_into(probe[50:], memoryview(out)) == 150
        assert got + out == Cipher(algorithms.ChaCha20(key, nonce), None).encryptor().update(probe)
