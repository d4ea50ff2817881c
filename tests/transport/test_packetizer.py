"""paramiko's ``Packetizer`` API on the project's packet codec: two packetizers
over a socketpair, in the clear and with keys handed over the way paramiko's
Transport hands them (cipher contexts, hash constructors, AESGCM + IV);
EOF, MAC failures, rekey accounting, the version line, compressor hooks,
keepalives and the handshake timer."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ssh_transport.packetizer import NeedRekeyException, Packetizer, compute_hmac, first_arg
from ssh_transport.protocol.packets import PacketReader, PacketWriter
from ssh_wire import Message, SSHException


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


def message(ptype: int, *ints: int, text: bytes = b"") -> Message:
    m = Message()
    m.add_byte(bytes([ptype]))
    for i in ints:
        m.add_int(i)
    if text:
        m.add_string(text)
    return m


# -- keys as paramiko's Transport hands them over -----------------------------


def aes_ctr(key: bytes, iv: bytes) -> tuple[Any, Any]:
    c = Cipher(algorithms.AES(key), modes.CTR(iv))
    return c.encryptor(), c.decryptor()


def aes_cbc(key: bytes, iv: bytes) -> tuple[Any, Any]:
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    return c.encryptor(), c.decryptor()


# name: (cipher factory, key size, mac constructor, mac size, etm, our codec's cipher and mac names)
STREAM = {
    "aes128-ctr+hmac-sha2-256": (aes_ctr, 16, hashlib.sha256, 32, False, "aes128-ctr", "hmac-sha2-256"),
    "aes256-ctr+hmac-sha2-512-etm": (
        aes_ctr,
        32,
        hashlib.sha512,
        64,
        True,
        "aes256-ctr",
        "hmac-sha2-512-etm@openssh.com",
    ),
    "aes128-ctr+hmac-sha2-256-etm": (
        aes_ctr,
        16,
        hashlib.sha256,
        32,
        True,
        "aes128-ctr",
        "hmac-sha2-256-etm@openssh.com",
    ),
    "aes128-cbc+hmac-sha1-96": (aes_cbc, 16, hashlib.sha1, 12, False, None, None),
}


def set_stream_keys(out: Packetizer, inn: Packetizer, name: str, seed: int = 0) -> tuple[bytes, bytes, bytes]:
    make, key_size, digest, mac_size, etm, _, _ = STREAM[name]
    key = bytes(range(seed, seed + key_size))
    iv = bytes(range(100 + seed, 116 + seed))
    mac_key = bytes(range(50 + seed, 50 + seed + digest().digest_size))
    enc, _ = make(key, iv)
    _, dec = make(key, iv)
    out.set_outbound_cipher(enc, 16, digest, mac_size, mac_key, sdctr=name.startswith("aes") and "ctr" in name, etm=etm)
    inn.set_inbound_cipher(dec, 16, digest, mac_size, mac_key, etm=etm)
    return key, iv, mac_key


def set_gcm_keys(out: Packetizer, inn: Packetizer, key: bytes, iv: bytes) -> None:
    out.set_outbound_cipher(AESGCM(key), 16, None, 16, None, aead=True, iv_out=iv)
    inn.set_inbound_cipher(AESGCM(key), 16, None, 16, None, aead=True, iv_in=iv)


# -- round trips -------------------------------------------------------------


@pytest.mark.timeout(10)
def test_clear_text_exchange_both_ways(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = (Packetizer(s) for s in pair)
    for i in range(3):
        a.send_message(message(94, i, text=b"x" * (i * 100)))
        b.send_message(message(93, i * 7))
    for i in range(3):
        ptype, m = b.read_message()
        assert ptype == 94
        assert (m.get_int(), m.get_string()) == (i, b"x" * (i * 100))
        assert m.seqno == i  # type: ignore[attr-defined]
        ptype, m = a.read_message()
        assert (ptype, m.get_int()) == (93, i * 7)
    assert a.get_mac_size_out() == a.get_mac_size_in() == 0


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(STREAM))
def test_stream_cipher_round_trip(pair: tuple[socket.socket, socket.socket], name: str) -> None:
    a, b = (Packetizer(s) for s in pair)
    set_stream_keys(a, b, name)
    set_stream_keys(b, a, name, seed=3)
    assert a.get_mac_size_out() == STREAM[name][3]
    for size in (0, 1, 15, 16, 17, 1000, 32768):
        a.send_message(message(94, size, text=os.urandom(size)))
        ptype, m = b.read_message()
        assert (ptype, m.get_int(), len(m.get_string())) == (94, size, size)
        b.send_message(message(93, size))
        assert a.read_message()[1].get_int() == size


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", [n for n, v in STREAM.items() if v[5]])
def test_stream_keys_frame_like_the_negotiated_algorithm(pair: tuple[socket.socket, socket.socket], name: str) -> None:
    """Packets sealed from a cipher context open with our codec set up by SSH
    algorithm names, and the other way round: same framing, same MAC input."""
    _, _, _, _, _, cipher, mac = STREAM[name]
    left, right = pair
    p = Packetizer(left)
    key, iv, mac_key = set_stream_keys(p, p, name)
    reader, writer = PacketReader(), PacketWriter()
    reader.set_keys(cipher, key, iv, mac, mac_key)
    writer.set_keys(cipher, key, iv, mac, mac_key)
    for i in range(3):
        p.send_message(message(94, i))
        reader.feed(right.recv(65536))
        assert reader.next_payload() == bytes(message(94, i))
        right.sendall(writer.seal(bytes(message(93, i))))
        ptype, m = p.read_message()
        assert (ptype, m.get_int()) == (93, i)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("key_size", [16, 32])
def test_aes_gcm_round_trip_and_wire_format(pair: tuple[socket.socket, socket.socket], key_size: int) -> None:
    key, iv = os.urandom(key_size), os.urandom(12)
    left, right = pair
    a, b = Packetizer(left), Packetizer(right)
    set_gcm_keys(a, b, key, iv)
    set_gcm_keys(b, a, key, iv)
    assert a.get_mac_size_in() == a.get_mac_size_out() == 16
    for i in range(3):
        a.send_message(message(94, i, text=b"gcm"))
        ptype, m = b.read_message()
        assert (ptype, m.get_int(), m.get_string()) == (94, i, b"gcm")
    # The wire format is aes*-gcm@openssh.com: our codec (by name) opens it.
    reader = PacketReader()
    reader.set_keys(f"aes{key_size * 8}-gcm@openssh.com", key, iv, None, None)
    b.send_message(message(2, text=b"x"))
    reader.feed(left.recv(65536))
    assert reader.next_payload() == bytes(message(2, text=b"x"))


@pytest.mark.timeout(10)
def test_cbc_first_block_is_the_encrypted_header(pair: tuple[socket.socket, socket.socket]) -> None:
    """Known answer: the first block of an AES-CBC packet carries the length,
    padding length and start of the payload (no padding yet), so it is fixed;
    the MAC is HMAC-SHA1 over seq || packet cut to 12 bytes."""
    left, right = pair
    key, iv, mac_key = bytes(16), b"\x55" * 16, b"\x1f" * 20
    p = Packetizer(left)
    enc, _ = aes_cbc(key, iv)
    p.set_outbound_cipher(enc, 16, hashlib.sha1, 12, mac_key)
    m = message(100, 100, 1, 900)  # 13-byte payload: padded to 32 bytes
    p.send_message(m)
    wire = right.recv(100)
    assert len(wire) == 32 + 12
    header = struct.pack(">IB", 28, 14) + bytes(m)[:11]
    expected_enc, dec = aes_cbc(key, iv)
    assert wire[:16] == expected_enc.update(header)
    plain = dec.update(wire[:32])
    assert plain[:16] == header
    assert wire[32:] == hmac.new(mac_key, struct.pack(">I", 0) + plain, hashlib.sha1).digest()[:12]


# -- failures ----------------------------------------------------------------


@pytest.mark.timeout(10)
def test_read_all_raises_eoferror_when_peer_closes(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    p = Packetizer(left)
    right.sendall(b"abc")
    right.close()
    assert p.read_all(2) == b"ab"
    with pytest.raises(EOFError):
        p.read_all(5)


@pytest.mark.timeout(10)
def test_read_message_raises_eoferror_mid_packet(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    w = PacketWriter()
    right.sendall(w.seal(bytes(message(2, text=b"hello")))[:-3])
    right.close()
    with pytest.raises(EOFError):
        Packetizer(left).read_message()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", ["aes128-ctr+hmac-sha2-256", "aes128-ctr+hmac-sha2-256-etm", "gcm"])
def test_corrupted_packet_raises_sshexception(pair: tuple[socket.socket, socket.socket], name: str) -> None:
    left, right = pair
    relay_a, relay_b = socket.socketpair()
    try:
        sender, receiver = Packetizer(left), Packetizer(relay_b)
        if name == "gcm":
            set_gcm_keys(sender, receiver, bytes(16), bytes(12))
        else:
            set_stream_keys(sender, receiver, name)
        sender.send_message(message(94, 1, text=b"payload" * 10))
        wire = bytearray(right.recv(65536))
        wire[-1] ^= 0x01  # the last MAC/tag byte
        relay_a.sendall(bytes(wire))
        with pytest.raises(SSHException):
            receiver.read_message()
    finally:
        relay_a.close()
        relay_b.close()


@pytest.mark.timeout(10)
def test_wrong_mac_key_is_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    a, b = Packetizer(left), Packetizer(right)
    key, iv = bytes(16), bytes(16)
    enc, _ = aes_ctr(key, iv)
    _, dec = aes_ctr(key, iv)
    a.set_outbound_cipher(enc, 16, hashlib.sha256, 32, b"k" * 32)
    b.set_inbound_cipher(dec, 16, hashlib.sha256, 32, b"K" * 32)
    a.send_message(message(2))
    with pytest.raises(SSHException, match="MAC"):
        b.read_message()


@pytest.mark.timeout(10)
def test_write_all_gives_up_on_a_socket_that_takes_nothing() -> None:
    class Stuck:
        def send(self, data: bytes) -> int:
            return 0

    with pytest.raises(EOFError):
        Packetizer(Stuck()).send_message(message(2))


@pytest.mark.timeout(10)
def test_write_all_turns_send_errors_into_eoferror(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    right.close()
    p = Packetizer(left)
    with pytest.raises(EOFError):
        for _ in range(100):  # the first sends may still land in the kernel buffer
            p.write_all(b"x" * 65536)


# -- rekey accounting ----------------------------------------------------------


@pytest.mark.timeout(10)
def test_need_rekey_after_packet_threshold_until_both_directions_rekeyed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = (Packetizer(s) for s in pair)
    a.REKEY_PACKETS = 3
    b.REKEY_PACKETS = 3
    for _ in range(2):
        a.send_message(message(2))
        b.read_message()
    assert not a.need_rekey() and not b.need_rekey()
    a.send_message(message(2))
    assert a.need_rekey()  # sent 3
    b.read_message()
    assert b.need_rekey()  # received 3
    set_stream_keys(a, b, "aes128-ctr+hmac-sha2-256")
    assert a.need_rekey() and b.need_rekey()  # one direction each so far
    set_stream_keys(b, a, "aes128-ctr+hmac-sha2-256", seed=5)
    assert not a.need_rekey() and not b.need_rekey()
    a.send_message(message(2))  # counters restarted with the new keys
    assert b.read_message()[0] == 2
    assert not a.need_rekey() and not b.need_rekey()


@pytest.mark.timeout(10)
def test_need_rekey_after_byte_threshold(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = (Packetizer(s) for s in pair)
    a.REKEY_BYTES = b.REKEY_BYTES = 1000
    a.send_message(message(94, text=b"x" * 500))
    b.read_message()
    assert not a.need_rekey() and not b.need_rekey()
    a.send_message(message(94, text=b"x" * 500))
    b.read_message()
    assert a.need_rekey() and b.need_rekey()


@pytest.mark.timeout(10)
def test_idle_read_raises_needrekey_and_peer_ignoring_rekey_is_dropped(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    left.settimeout(0.02)
    a, b = Packetizer(left), Packetizer(right)
    a.REKEY_PACKETS = 1
    a.REKEY_PACKETS_OVERFLOW_MAX = 2
    a.send_message(message(2))
    assert a.need_rekey()
    with pytest.raises(NeedRekeyException):
        a.read_message()  # idle socket while keys are due
    b.send_message(message(2))
    assert a.read_message()[0] == 2  # one packet of slack
    b.send_message(message(2))
    with pytest.raises(SSHException, match="ignoring rekey"):
        a.read_message()


# -- version line, compression, keepalive, handshake timer ----------------------


@pytest.mark.timeout(10)
def test_readline_then_packet_from_the_same_read(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    right.sendall(b"SSH-2.0-peer_1.0\r\nnot a version\n" + PacketWriter().seal(bytes(message(20, 7))))
    p = Packetizer(left)
    assert p.readline(2) == "SSH-2.0-peer_1.0"
    assert p.readline(2) == "not a version"
    ptype, m = p.read_message()
    assert (ptype, m.get_int()) == (20, 7)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("sock_timeout", [None, 0.01])
def test_readline_times_out(pair: tuple[socket.socket, socket.socket], sock_timeout: float | None) -> None:
    left, right = pair
    left.settimeout(sock_timeout)
    right.sendall(b"partial line")
    p = Packetizer(left)
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        p.readline(0.2)
    assert 0.15 < time.monotonic() - start < 3
    right.sendall(b" done\n")
    assert p.readline(2) == "partial line done"  # nothing was lost


@pytest.mark.timeout(10)
def test_readline_raises_eoferror_at_eof(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    right.sendall(b"no newline")
    right.close()
    with pytest.raises(EOFError):
        Packetizer(left).readline(2)


def deflater() -> Callable[[bytes], bytes]:
    z = zlib.compressobj()
    return lambda data: z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)


def inflater() -> Callable[[bytes], bytes]:
    return zlib.decompressobj().decompress


@pytest.mark.timeout(10)
def test_compressor_hooks_apply_to_payloads(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    a, b = Packetizer(left), Packetizer(right)
    a.set_outbound_compressor(deflater())
    text = b"compress me " * 500
    a.send_message(message(94, text=text))
    wire = right.recv(65536)
    assert len(wire) < len(text) // 4  # deflated on the wire
    raw = PacketReader()
    raw.feed(wire)
    payload = raw.next_payload()
    assert payload is not None
    assert zlib.decompressobj().decompress(payload) == bytes(message(94, text=text))
    a.set_outbound_compressor(deflater())  # fresh streams on both ends
    b.set_inbound_compressor(inflater())
    for i in range(3):  # one stream across packets, as SSH's zlib
        a.send_message(message(94, i, text=text))
        ptype, m = b.read_message()
        assert (ptype, m.get_int(), m.get_string()) == (94, i, text)


@pytest.mark.timeout(10)
def test_keepalive_runs_on_idle_reads_once_encrypting(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.settimeout(0.01)
    a, b = Packetizer(left), Packetizer(right)
    calls: list[float] = []

    def keepalive() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            b.send_message(message(2))

    a.set_keepalive(0.03, keepalive)
    b.send_message(message(2))
    a.read_message()
    assert calls == []  # never in the clear
    set_stream_keys(a, b, "aes128-ctr+hmac-sha2-256")
    set_stream_keys(b, a, "aes128-ctr+hmac-sha2-256", seed=9)
    assert a.read_message()[0] == 2  # arrives once the second keepalive ran
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.025


@pytest.mark.timeout(10)
def test_handshake_timer(pair: tuple[socket.socket, socket.socket]) -> None:
    left, _ = pair
    left.settimeout(0.01)
    p = Packetizer(left)
    assert not p.handshake_timed_out()  # never started
    p.start_handshake(0.05)
    assert not p.handshake_timed_out()
    with pytest.raises(EOFError):
        p.read_all(1)  # ends once the clock runs out
    assert p.handshake_timed_out()
    p.complete_handshake()
    assert not p.handshake_timed_out()

    q = Packetizer(left)
    q.start_handshake(0.05)
    q.complete_handshake()
    time.sleep(0.1)
    assert not q.handshake_timed_out()


@pytest.mark.timeout(10)
def test_close_ends_a_waiting_read(pair: tuple[socket.socket, socket.socket]) -> None:
    left, _ = pair
    left.settimeout(0.01)
    p = Packetizer(left)
    assert not p.closed
    errors: list[BaseException] = []

    def read() -> None:
        try:
            p.read_message()
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=read)
    t.start()
    time.sleep(0.05)
    p.close()
    t.join(5)
    assert p.closed
    assert len(errors) == 1 and isinstance(errors[0], (EOFError, OSError))


@pytest.mark.timeout(10)
def test_hexdump_logs_packets(pair: tuple[socket.socket, socket.socket], caplog: pytest.LogCaptureFixture) -> None:
    a, b = (Packetizer(s) for s in pair)
    log = logging.getLogger("test.packetizer")
    a.set_log(log)
    b.set_log(log)
    assert not a.get_hexdump()
    a.set_hexdump(True)
    b.set_hexdump(True)
    assert a.get_hexdump()
    with caplog.at_level(logging.DEBUG, logger="test.packetizer"):
        a.send_message(message(5, text=b"ssh-userauth"))
        b.read_message()
    text = caplog.text
    assert "Write packet <service-request>, length 17" in text
    assert "Read packet <service-request>, length 17" in text
    assert "OUT: " in text and "IN: " in text


def test_module_helpers() -> None:
    assert compute_hmac(b"key", b"data", hashlib.sha256) == hmac.new(b"key", b"data", hashlib.sha256).digest()
    assert first_arg(OSError(11, "again")) == 11
    assert first_arg(Exception()) is None
    assert issubclass(NeedRekeyException, Exception)
    assert Packetizer.REKEY_PACKETS == Packetizer.REKEY_BYTES == 2**29
    assert Packetizer.REKEY_PACKETS_OVERFLOW_MAX == Packetizer.REKEY_BYTES_OVERFLOW_MAX == 2**29


def test_aead_needs_an_iv(pair: tuple[socket.socket, socket.socket]) -> None:
    p = Packetizer(pair[0])
    with pytest.raises(ValueError):
        p.set_outbound_cipher(AESGCM(bytes(16)), 16, None, 16, None, aead=True)
    with pytest.raises(ValueError):
        p.set_inbound_cipher(aes_ctr(bytes(16), bytes(16))[1], 16, None, 32, None)


@pytest.mark.timeout(10)
def test_keys_switch_between_packets_that_arrived_together(pair: tuple[socket.socket, socket.socket]) -> None:
    """NEWKEYS and the first encrypted packet in one read: the second is
    opened with the keys set after reading the first, as a Transport does."""
    left, right = pair
    key, iv, mac_key = bytes(range(16)), bytes(range(16, 32)), bytes(range(32))
    writer = PacketWriter()
    first = writer.seal(bytes(message(21)))
    writer.set_keys("aes128-ctr", key, iv, "hmac-sha2-256", mac_key)
    right.sendall(first + writer.seal(bytes(message(94, 42))))
    p = Packetizer(left)
    assert p.read_message()[0] == 21
    _, dec = aes_ctr(key, iv)
    p.set_inbound_cipher(dec, 16, hashlib.sha256, 32, mac_key)
    ptype, m = p.read_message()
    assert (ptype, m.get_int(), m.seqno) == (94, 42, 1)  # type: ignore[attr-defined]
