"""Key exchanges in memory: every method agrees with itself across roles and
signs with a real ssh_keys host key; known answers (RFC 7748 X25519, RFC 3526
primes, RFC 4253 key derivation, exchange-hash layouts); and every kind of
bad peer value or misplaced message is refused with ProtocolError."""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ssh_keys import ECDSAKey, Ed25519Key, PKey, RSAKey
from ssh_transport.protocol.kex import (
    KEX_ALGORITHMS,
    Kex,
    KexContext,
    derive_key,
    fallback_group,
    gex_sizes_for,
    groups,
)
from ssh_transport.protocol.kex import curve25519 as c25519
from ssh_transport.protocol.moduli import best_size, choose_group, parse_moduli
from ssh_transport.transport import load_moduli
from ssh_wire import (
    DISCONNECT_KEY_EXCHANGE_FAILED,
    DISCONNECT_PROTOCOL_ERROR,
    Message,
    ProtocolError,
    SSHException,
    deflate_long,
)

V_C = b"SSH-2.0-OpenSSH_9.2"
V_S = b"SSH-2.0-TestServer_1.0"
I_C = b"\x14" + b"c" * 16 + b"client kexinit"
I_S = b"\x14" + b"s" * 16 + b"server kexinit"


@pytest.fixture(scope="module")
def ed25519() -> Ed25519Key:
    return Ed25519Key.generate()


@pytest.fixture(scope="module")
def rsa() -> RSAKey:
    return RSAKey.generate(2048)


def context(role: str, host_key: PKey | None = None, algorithm: str = "", **kw: object) -> KexContext:
    return KexContext(role, V_C, V_S, I_C, I_S, host_key=host_key, host_key_algorithm=algorithm, **kw)  # type: ignore[arg-type]


def pair(name: str, host_key: PKey, algorithm: str = "", **kw: object) -> tuple[Kex, Kex]:
    cls = KEX_ALGORITHMS[name]
    return cls(context("client", **kw)), cls(context("server", host_key, algorithm, **kw))


def run(client: Kex, server: Kex) -> int:
    """Shuttle messages until both are done; returns how many were exchanged."""
    count = 0
    to_server = client.start()
    assert server.start() == []
    while to_server:
        to_client = []
        for p in to_server:
            count += 1
            to_client += server.handle(p)
        to_server = []
        for p in to_client:
            count += 1
            to_server += client.handle(p)
    assert client.done and server.done
    return count


def mpint(n: int) -> bytes:
    return Message().add_mpint(n).asbytes()


def string(b: bytes) -> bytes:
    return Message().add_string(b).asbytes()


# -- every method ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KEX_ALGORITHMS))
def test_client_and_server_agree_and_the_signature_verifies(name: str, ed25519: Ed25519Key) -> None:
    client, server = pair(name, ed25519)
    messages = run(client, server)
    assert messages == (4 if "group-exchange" in name else 2)
    assert client.shared_secret == server.shared_secret
    assert client.exchange_hash == server.exchange_hash
    assert len(client.exchange_hash) == hashlib.new(client.hash_name).digest_size
    assert client.host_key_blob == server.host_key_blob == ed25519.asbytes()
    assert client.signature == server.signature
    assert ed25519.verify_ssh_sig(client.exchange_hash, Message(client.signature))
    assert not ed25519.verify_ssh_sig(client.exchange_hash[::-1], Message(client.signature))
    assert client.hash(b"abc") == hashlib.new(client.hash_name, b"abc").digest()
    if name.startswith("mlkem"):
        # K is a 32-byte SHA-256 output encoded as a string, not an mpint
        assert client.shared_secret[:4] == b"\x00\x00\x00\x20" and len(client.shared_secret) == 36
    else:
        k = Message(client.shared_secret, strict=True).get_mpint()
        assert k > 1 and mpint(k) == client.shared_secret


@pytest.mark.parametrize("algorithm", ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256"])
def test_server_signs_with_the_negotiated_algorithm(rsa: RSAKey, ed25519: Ed25519Key, algorithm: str) -> None:
    key: PKey = rsa if "rsa" in algorithm else ed25519 if "ed25519" in algorithm else ECDSAKey.generate()
    client, server = pair("curve25519-sha256", key, algorithm)
    run(client, server)
    sig = Message(client.signature, strict=True)
    assert sig.get_text() == algorithm
    assert key.verify_ssh_sig(client.exchange_hash, Message(client.signature))


def test_every_exchange_is_fresh(ed25519: Ed25519Key) -> None:
    a = pair("curve25519-sha256", ed25519)
    b = pair("curve25519-sha256", ed25519)
    run(*a)
    run(*b)
    assert a[0].shared_secret != b[0].shared_secret


# -- known answers -----------------------------------------------------------------

# RFC 7748 section 6.1
ALICE_PRIV = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUB = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_PRIV = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PUB = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")


def test_curve25519_rfc7748_vector_and_rfc8731_hash_layout(
    monkeypatch: pytest.MonkeyPatch, ed25519: Ed25519Key
) -> None:
    keys = iter([ALICE_PRIV, BOB_PRIV])

    def fixed() -> tuple[X25519PrivateKey, bytes]:
        private = X25519PrivateKey.from_private_bytes(next(keys))
        return private, private.public_key().public_bytes_raw()

    monkeypatch.setattr(c25519, "x25519_keypair", fixed)
    client, server = pair("curve25519-sha256", ed25519)
    first = client.start()
    assert first == [b"\x1e" + string(ALICE_PUB)]
    reply = server.handle(first[0])
    client.handle(reply[0])
    # RFC 8731: K is the X25519 output read as a big-endian number, as an mpint
    k = mpint(int.from_bytes(SHARED, "big"))
    assert client.shared_secret == server.shared_secret == k
    blob = ed25519.asbytes()
    h = hashlib.sha256(
        string(V_C) + string(V_S) + string(I_C) + string(I_S) + string(blob) + string(ALICE_PUB) + string(BOB_PUB) + k
    ).digest()
    assert client.exchange_hash == h
    # the reply is byte 31, string K_S, string Q_S, string signature
    m = Message(reply[0], strict=True)
    assert m.get_byte() == b"\x1f"
    assert m.get_string() == blob
    assert m.get_string() == BOB_PUB
    m.get_string()
    m.expect_end()


def test_x25519_secret_with_high_bit_gets_a_sign_byte() -> None:
    """K = mpint: a leading byte >= 0x80 gets a 0x00 in front, leading zeros go."""
    assert mpint(int.from_bytes(b"\x80" + bytes(31), "big"))[:6] == b"\x00\x00\x00\x21\x00\x80"
    assert mpint(int.from_bytes(b"\x00\x01" + bytes(30), "big"))[:5] == b"\x00\x00\x00\x1f\x01"


@functools.cache
def _pi_bits() -> int:
    """floor(pi * 2**8062) with Machin's formula (enough for every group)."""
    guard = 64
    one = 1 << (8062 + guard)

    def arctan_inv(x: int) -> int:
        total = term = one // x
        n, sign = 1, -1
        while term:
            term //= x * x
            n += 2
            total += sign * (term // n)
            sign = -sign
        return total

    return (4 * (4 * arctan_inv(5) - arctan_inv(239))) >> guard


def _pi_scaled(bits: int) -> int:
    """floor(pi * 2**bits), for bits <= 8062."""
    return _pi_bits() >> (8062 - bits)


@pytest.mark.parametrize(
    ("prime", "bits", "k"),
    [
        (groups.OAKLEY_GROUP_2, 1024, 129093),
        (groups.MODP_1536, 1536, 741804),
        (groups.MODP_2048, 2048, 124476),
        (groups.MODP_3072, 3072, 1690314),
        (groups.MODP_4096, 4096, 240904),
        (groups.MODP_6144, 6144, 929484),
        (groups.MODP_8192, 8192, 4743158),
    ],
    ids=["1024", "1536", "2048", "3072", "4096", "6144", "8192"],
)
def test_rfc3526_primes_from_their_definition(prime: int, bits: int, k: int) -> None:
    shift = 894 if bits == 1024 else bits - 130
    assert prime == 2**bits - 2 ** (bits - 64) - 1 + 2**64 * (_pi_scaled(shift) + k)
    assert pow(2, prime - 1, prime) == 1  # a Fermat witness check: prime-looking


def test_fixed_group_hash_layout(ed25519: Ed25519Key) -> None:
    client, server = pair("diffie-hellman-group14-sha256", ed25519)
    init = client.start()[0]
    e = Message(init[1:], strict=True).get_mpint()
    reply = server.handle(init)[0]
    m = Message(reply, strict=True)
    m.get_byte()
    blob, f = m.get_string(), m.get_mpint()
    client.handle(reply)
    k = client.shared_secret
    h = hashlib.sha256(
        string(V_C) + string(V_S) + string(I_C) + string(I_S) + string(blob) + mpint(e) + mpint(f) + k
    ).digest()
    assert client.exchange_hash == h


def test_derive_key_rfc4253_shape() -> None:
    k, h, sid = mpint(123456789 << 200), b"H" * 32, b"S" * 32
    k1 = hashlib.sha256(k + h + b"C" + sid).digest()
    k2 = hashlib.sha256(k + h + k1).digest()
    k3 = hashlib.sha256(k + h + k1 + k2).digest()
    assert derive_key("sha256", k, h, sid, b"C", 16) == k1[:16]
    assert derive_key("sha256", k, h, sid, b"C", 32) == k1
    assert derive_key("sha256", k, h, sid, b"C", 64) == k1 + k2
    assert derive_key("sha256", k, h, sid, b"C", 80) == (k1 + k2 + k3)[:80]
    assert derive_key("sha1", k, h, sid, b"A", 24)[:20] == hashlib.sha1(k + h + b"A" + sid).digest()
    assert derive_key("sha256", k, h, sid, b"D", 16) != derive_key("sha256", k, h, sid, b"C", 16)
    with pytest.raises(ValueError):
        derive_key("sha256", k, h, sid, b"CD", 16)


# -- group exchange -----------------------------------------------------------------


def test_gex_uses_the_servers_moduli_and_the_client_sizes(ed25519: Ed25519Key) -> None:
    asked: list[tuple[int, int, int]] = []

    def moduli(lo: int, n: int, hi: int) -> tuple[int, int]:
        asked.append((lo, n, hi))
        return 2, groups.MODP_3072

    client = KEX_ALGORITHMS["diffie-hellman-group-exchange-sha256"](context("client", gex_sizes=(2048, 4096, 8192)))
    server = KEX_ALGORITHMS["diffie-hellman-group-exchange-sha256"](context("server", ed25519, gex_moduli=moduli))
    request = client.start()
    assert request == [b"\x22" + struct.pack(">III", 2048, 4096, 8192)]
    group = server.handle(request[0])[0]
    assert asked == [(2048, 4096, 8192)]
    m = Message(group, strict=True)
    assert m.get_byte() == b"\x1f"
    assert m.get_mpint() == groups.MODP_3072 and m.get_mpint() == 2
    init = client.handle(group)[0]
    reply = server.handle(init)[0]
    assert client.handle(reply) == []
    assert client.exchange_hash == server.exchange_hash


@pytest.mark.parametrize(
    ("request_sizes", "bits"),
    [((2048, 2048, 8192), 2048), ((2048, 3072, 8192), 3072), ((2048, 5000, 8192), 6144), ((1024, 1024, 1536), None)],
)
def test_gex_fallback_groups(request_sizes: tuple[int, int, int], bits: int | None) -> None:
    got = fallback_group(*request_sizes)
    if bits is None:
        assert got is None
    else:
        assert got is not None and got[0] == 2 and got[1].bit_length() == bits


@pytest.mark.parametrize(("bits", "preferred"), [(112, 2048), (128, 3072), (192, 7680), (256, 8192), (512, 8192)])
def test_gex_request_sizes_follow_cipher_strength(bits: int, preferred: int) -> None:
    assert gex_sizes_for(bits) == (2048, preferred, 8192)


def test_gex_server_without_fitting_group_fails(ed25519: Ed25519Key) -> None:
    server = KEX_ALGORITHMS["diffie-hellman-group-exchange-sha256"](context("server", ed25519))
    server.start()
    with pytest.raises(ProtocolError) as err:
        server.handle(b"\x22" + struct.pack(">III", 512, 768, 1024))
    assert err.value.reason == DISCONNECT_KEY_EXCHANGE_FAILED


@pytest.mark.parametrize("sizes", [(4096, 3072, 8192), (2048, 9000, 8192), (3000, 2500, 2000)])
def test_gex_server_refuses_incoherent_requests(ed25519: Ed25519Key, sizes: tuple[int, int, int]) -> None:
    server = KEX_ALGORITHMS["diffie-hellman-group-exchange-sha256"](context("server", ed25519))
    server.start()
    with pytest.raises(ProtocolError):
        server.handle(b"\x22" + struct.pack(">III", *sizes))


@pytest.mark.parametrize(
    ("p", "g"),
    [
        (groups.OAKLEY_GROUP_2, 2),  # 1024 bits: below the client's minimum
        (groups.MODP_2048 + 1, 2),  # even
        (groups.MODP_2048, 1),  # generator 1
        (groups.MODP_2048, groups.MODP_2048 - 1),  # generator p - 1
    ],
)
def test_gex_client_refuses_bad_groups(p: int, g: int) -> None:
    client = KEX_ALGORITHMS["diffie-hellman-group-exchange-sha256"](context("client"))
    client.start()
    with pytest.raises(ProtocolError) as err:
        client.handle(b"\x1f" + mpint(p) + mpint(g))
    assert err.value.reason == DISCONNECT_KEY_EXCHANGE_FAILED


def test_gex_old_request_hashes_only_n(ed25519: Ed25519Key) -> None:
    server = KEX_ALGORITHMS["diffie-hellman-group-exchange-sha1"](context("server", ed25519))
    server.start()
    group = Message(server.handle(b"\x1e" + struct.pack(">I", 2048))[0], strict=True)
    group.get_byte()
    p, g = group.get_mpint(), group.get_mpint()
    x = 0x1234567890ABCDEF << 300
    e = pow(g, x, p)
    reply = Message(server.handle(b"\x20" + mpint(e))[0], strict=True)
    assert reply.get_byte() == b"\x21"
    blob, f = reply.get_string(), reply.get_mpint()
    k = mpint(pow(f, x, p))
    assert server.shared_secret == k
    h = hashlib.sha1(
        string(V_C) + string(V_S) + string(I_C) + string(I_S) + string(blob)
        + struct.pack(">I", 2048) + mpint(p) + mpint(g) + mpint(e) + mpint(f) + k
    ).digest()  # fmt: skip
    assert server.exchange_hash == h
    assert ed25519.verify_ssh_sig(h, Message(server.signature))


# -- moduli files ---------------------------------------------------------------------

P2048 = f"{groups.MODP_2048:X}"
P3072 = f"{groups.MODP_3072:X}"


def test_parse_moduli_skips_bad_lines() -> None:
    text = "\n".join(
        [
            "# Time Type Tests Tries Size Generator Modulus",
            f"20220714110357 2 6 100 2047 2 {P2048}",
            f"20220714110357 2 6 100 3071 5 {P3072}",
            f"20220714110357 1 6 100 2047 2 {P2048}",  # not a safe prime
            f"20220714110357 2 7 100 2047 2 {P2048}",  # marked composite
            f"20220714110357 2 0 100 2047 2 {P2048}",  # never tested
            f"20220714110357 2 6 0 2047 2 {P2048}",  # no trials
            f"20220714110357 2 6 100 2048 2 {P2048}",  # size disagrees with the prime
            f"20220714110357 2 6 100 2047 1 {P2048}",  # generator 1
            "20220714110357 2 6 100 2047 2 NOTHEX",
            "20220714110357 2 6 100 2047 2",
            "",
            "garbage",
        ]
    )
    assert parse_moduli(text) == {2048: [(2, groups.MODP_2048)], 3072: [(5, groups.MODP_3072)]}


def test_load_system_moduli_file(tmp_path: Path) -> None:
    path = tmp_path / "moduli"
    path.write_text(f"20220714110357 2 6 100 2047 2 {P2048}\n")
    assert load_moduli(path) == {2048: [(2, groups.MODP_2048)]}
    with pytest.raises(OSError):
        load_moduli(tmp_path / "missing")
    system = Path("/etc/ssh/moduli")
    if system.exists():
        parsed = load_moduli(system)
        assert parsed
        assert all(p.bit_length() == bits for bits, entries in parsed.items() for _, p in entries)


@pytest.mark.parametrize(
    ("sizes", "request_sizes", "best"),
    [
        ([2048, 3072, 4096, 8192], (2048, 3072, 8192), 3072),
        ([2048, 3072, 4096, 8192], (2048, 3500, 8192), 4096),
        ([2048, 3072], (2048, 4096, 8192), 3072),
        ([2048, 3072], (4096, 6144, 8192), None),
        ([1024, 2048], (1024, 1024, 1024), 1024),
        ([], (2048, 2048, 2048), None),
    ],
)
def test_best_size(sizes: list[int], request_sizes: tuple[int, int, int], best: int | None) -> None:
    assert best_size(sizes, *request_sizes) == best


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFabcdef #\n\t-x", max_size=400))
def test_parse_moduli_never_raises(text: str) -> None:
    for bits, entries in parse_moduli(text).items():
        assert all(p.bit_length() == bits and g >= 2 for g, p in entries)


def test_choose_group_picks_among_the_best_size() -> None:
    moduli = {2048: [(2, 11), (5, 13)], 4096: [(2, 17)]}
    seen = {choose_group(moduli, 2048, 2048, 8192) for _ in range(64)}
    assert seen == {(2, 11), (5, 13)}
    assert choose_group(moduli, 3000, 3000, 8192) == (2, 17)
    assert choose_group({}, 2048, 2048, 8192) is None


# -- bad peers ---------------------------------------------------------------------------


def kex_error(reason: int, call: Callable[[], object]) -> None:
    with pytest.raises(ProtocolError) as err:
        call()
    assert err.value.reason == reason


@pytest.mark.parametrize("e", [0, 1, -1, -5, groups.MODP_2048 - 1, groups.MODP_2048, groups.MODP_2048 + 7])
def test_dh_public_values_out_of_range(ed25519: Ed25519Key, e: int) -> None:
    client, server = pair("diffie-hellman-group14-sha256", ed25519)
    client.start()
    server.start()
    kex_error(DISCONNECT_KEY_EXCHANGE_FAILED, lambda: server.handle(b"\x1e" + mpint(e)))
    reply = b"\x1f" + string(ed25519.asbytes()) + mpint(e) + string(b"sig")
    kex_error(DISCONNECT_KEY_EXCHANGE_FAILED, lambda: client.handle(reply))


@pytest.mark.parametrize("curve", ["ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521"])
def test_ecdh_points_off_the_curve(ed25519: Ed25519Key, curve: str) -> None:
    client, server = pair(curve, ed25519)
    good = Message(client.start()[0][1:], strict=True).get_string()
    server.start()
    off = bytearray(good)
    off[-1] ^= 1
    compressed = bytes([2 + (good[-1] & 1)]) + good[1 : 1 + (len(good) - 1) // 2]
    for bad in (bytes(off), compressed, good[:-1], b"\x00", b"", b"\x04" + bytes(len(good) - 1)):
        kex_error(DISCONNECT_KEY_EXCHANGE_FAILED, lambda bad=bad: server.handle(b"\x1e" + string(bad)))
        reply = b"\x1f" + string(ed25519.asbytes()) + string(bad) + string(b"sig")
        kex_error(DISCONNECT_KEY_EXCHANGE_FAILED, lambda reply=reply: client.handle(reply))


@pytest.mark.parametrize(
    "public",
    [
        bytes(32),  # zero: all-zero shared secret
        b"\x01" + bytes(31),  # u = 1, low order
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),  # order 8
        bytes(31),
        bytes(33),
    ],
)
def test_x25519_low_order_and_bad_length(ed25519: Ed25519Key, public: bytes) -> None:
    client, server = pair("curve25519-sha256", ed25519)
    client.start()
    server.start()
    kex_error(DISCONNECT_KEY_EXCHANGE_FAILED, lambda: server.handle(b"\x1e" + string(public)))
    reply = b"\x1f" + string(ed25519.asbytes()) + string(public) + string(b"sig")
    kex_error(DISCONNECT_KEY_EXCHANGE_FAILED, lambda: client.handle(reply))


@pytest.mark.parametrize("size", [0, 32, 1184, 1215, 1217, 1120])
def test_mlkem_wrong_sizes(ed25519: Ed25519Key, size: int) -> None:
    client, server = pair("mlkem768x25519-sha256", ed25519)
    client.start()
    server.start()
    kex_error(DISCONNECT_KEY_EXCHANGE_FAILED, lambda: server.handle(b"\x1e" + string(bytes(size))))
    if size != 1120:
        reply = b"\x1f" + string(ed25519.asbytes()) + string(bytes(size)) + string(b"sig")
        kex_error(DISCONNECT_KEY_EXCHANGE_FAILED, lambda: client.handle(reply))


@pytest.mark.parametrize("name", ["curve25519-sha256", "diffie-hellman-group-exchange-sha256"])
def test_messages_out_of_place(ed25519: Ed25519Key, name: str) -> None:
    client, server = pair(name, ed25519)
    with pytest.raises(SSHException):
        client.handle(b"\x1f")  # before start()
    first = client.start()
    with pytest.raises(SSHException):
        client.start()
    server.start()
    kex_error(DISCONNECT_PROTOCOL_ERROR, lambda: client.handle(first[0]))  # a client message sent to the client
    kex_error(DISCONNECT_PROTOCOL_ERROR, lambda: server.handle(b"\x1f" + bytes(40)))  # a reply sent to the server
    kex_error(DISCONNECT_PROTOCOL_ERROR, lambda: server.handle(b""))
    kex_error(DISCONNECT_PROTOCOL_ERROR, lambda: server.handle(b"\x14" + bytes(16)))
    replies = server.handle(first[0])
    if name.startswith("diffie"):
        replies = server.handle(client.handle(replies[0])[0])
    client.handle(replies[0])
    assert client.done and server.done
    kex_error(DISCONNECT_PROTOCOL_ERROR, lambda: client.handle(replies[0]))  # replayed after the end
    kex_error(DISCONNECT_PROTOCOL_ERROR, lambda: server.handle(first[0]))


def test_trailing_bytes_are_refused(ed25519: Ed25519Key) -> None:
    client, server = pair("curve25519-sha256", ed25519)
    init = client.start()[0]
    server.start()
    with pytest.raises(ProtocolError):
        server.handle(init + b"\x00")
    reply = server.handle(init)[0]
    with pytest.raises(ProtocolError):
        client.handle(reply + b"junk")


def test_contexts_are_checked() -> None:
    with pytest.raises(SSHException):
        KEX_ALGORITHMS["curve25519-sha256"](context("server"))  # no host key
    with pytest.raises(ValueError):
        KEX_ALGORITHMS["curve25519-sha256"](context("peer"))
    with pytest.raises(ValueError):
        KEX_ALGORITHMS["diffie-hellman-group-exchange-sha256"](context("client", gex_sizes=(4096, 2048, 8192))).start()


_HYPOTHESIS_KEY = Ed25519Key.generate()
FAST_KEX = [n for n in KEX_ALGORITHMS if "group1" not in n and "group18" not in n and "group16" not in n]


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(FAST_KEX),
    role=st.sampled_from(["client", "server"]),
    kind=st.integers(30, 34),
    body=st.binary(max_size=300) | st.binary(min_size=1100, max_size=1300),
)
def test_random_kex_messages_only_raise_protocol_error(name: str, role: str, kind: int, body: bytes) -> None:
    key = _HYPOTHESIS_KEY
    kex = KEX_ALGORITHMS[name](context(role, key if role == "server" else None))
    kex.start()
    try:
        kex.handle(bytes([kind]) + body)
    except ProtocolError:
        pass


def test_deflate_long_agrees_with_mpint_helper() -> None:
    """Our hashing uses Message.add_mpint; make sure it is the RFC 4251 encoding."""
    for n in (1, 0x7F, 0x80, 0xFF, 0x100, 2**255 + 1):
        raw = deflate_long(n)
        assert mpint(n) == struct.pack(">I", len(raw)) + raw
