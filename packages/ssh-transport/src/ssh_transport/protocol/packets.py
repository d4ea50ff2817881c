"""The SSH binary packet protocol (RFC 4253 section 6) without any I/O:
framing, padding, sequence numbers, encryption, MACs and compression.

``PacketWriter`` turns payloads into wire packets; ``PacketReader`` takes
received bytes and hands back payloads, exactly one packet per call. Each side
builds one closure per key set (``make_sealer`` / ``make_opener``) holding its
cipher context, MAC and counters in local cells, so the per-packet path is a
handful of Python operations around the crypto calls:

* plain (no keys yet): block size 8, no MAC;
* ``chacha20-poly1305@openssh.com``: length encrypted with K_1 (the last 32 key
  bytes), body with K_2 (the first 32) from block 1, Poly1305 keyed by K_2's
  block 0 over the encrypted length and body; the nonce is the sequence number;
* ``aes*-gcm@openssh.com``: length in the clear as associated data, a 12-byte
  nonce (4 fixed bytes, 8-byte counter incremented per packet), no MAC;
* CTR/CBC with an ``-etm@openssh.com`` MAC: length in the clear, MAC over
  seq || length || ciphertext;
* CTR/CBC with a classic MAC: whole packet encrypted, MAC over seq || plaintext.

Padding is at least 4 bytes; AEAD and EtM framings align
padding_length || payload || padding, the others the whole packet including
the length field, to max(8, block size).
"""

from __future__ import annotations

import hmac
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from secrets import token_bytes

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

from ssh_wire import DISCONNECT_MAC_ERROR, DISCONNECT_PROTOCOL_ERROR, ProtocolError

from .ciphers import get_cipher, stream_context
from .compression import Compressor, Decompressor, get_compression
from .macs import get_mac

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

DEFAULT_MAX_PACKET_LENGTH = 256 * 1024 + 64
_SEQ_MASK = 0xFFFFFFFF
# The receive buffer starts at this size and grows by doubling when a packet needs more.
_MIN_BUFFER = 64 * 1024

# seal(payload, seq) -> wire bytes
Sealer = Callable[[bytes, int], bytes]
# A payload given as parts to concatenate (e.g. a message header and a view of user data).
Parts = Sequence["bytes | memoryview"]
# seal_batch(payloads as parts, seq of the first) -> all the wire packets in one buffer
BatchSealer = Callable[[Sequence[Parts], int], bytearray]
# seal_pieces(payload as parts, seq, out) appends the wire packet's pieces to out (no
# copy to join them: they go to a scatter-gather write) and returns their total length
PiecesSealer = Callable[[Parts, int, "list[bytes | bytearray]"], int]
# open(buffer, start, available, seq) -> (payload, bytes consumed) or None if incomplete;
# the payload is bytes or a read-only view of a fresh bytes object (never of the buffer)
Opener = Callable[[bytearray, int, int, int], "tuple[bytes | memoryview, int] | None"]

_HDR = struct.Struct(">IB")
_U32 = struct.Struct(">I")
_read_length = _U32.unpack_from
_ZERO8 = bytes(8)
_ZERO64 = bytes(64)
_TAG = 16
# the padding_length byte for each padding length (4..35 with 16-byte blocks)
_PAD_BYTE = [bytes((n,)) for n in range(256)]
_CTR_MASK = 0xFFFFFFFFFFFFFFFF

_urandom = token_bytes  # os.urandom; through secrets, so the core imports no os
_compare = hmac.compare_digest


def _chacha_public(key: bytes, seq: int) -> CipherContext:
    """A ChaCha20 keystream context at block 0 for packet ``seq`` (64-bit BE nonce)."""
    return Cipher(algorithms.ChaCha20(key, _ZERO8 + seq.to_bytes(8, "big")), None).encryptor()


def _pick_chacha() -> Callable[[bytes, int], CipherContext]:
    """The fastest correct way to make a per-packet ChaCha20 context.

    ``Cipher.encryptor()`` spends about 2 us of its 3.5 us on an ABC
    ``isinstance`` check that a mode-less stream cipher never needs, and this
    runs twice per packet; so call the backend function it wraps directly when
    that function exists and produces the same keystream, else use the public
    path.
    """
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl

        create = rust_openssl.ciphers.create_encryption_ctx
        key, probe = bytes(range(32)), bytes(64)

        def fast(key: bytes, seq: int) -> CipherContext:
            ctx: CipherContext = create(algorithms.ChaCha20(key, _ZERO8 + seq.to_bytes(8, "big")), None)
            return ctx

        if fast(key, 7).update(probe) == _chacha_public(key, 7).update(probe):
            return fast
    except Exception:  # pragma: no cover - any change in the private layout: stay public
        pass
    return _chacha_public  # pragma: no cover


_chacha = _pick_chacha()


def _chacha_keys(key: bytes) -> tuple[bytes, bytes]:
    """(main K_2, header K_1) from the 64 bytes of key material."""
    if len(key) < 64:
        raise ValueError("chacha20-poly1305@openssh.com needs 64 bytes of key material")
    return bytes(key[:32]), bytes(key[32:64])


def _gcm(name: str, key: bytes, iv: bytes) -> tuple[AESGCM, bytes, int]:
    """(AESGCM, fixed 4 nonce bytes, initial invocation counter)."""
    spec = get_cipher(name)
    if len(key) < spec.key_size or len(iv) < 12:
        raise ValueError(f"{name} needs a {spec.key_size}-byte key and a 12-byte IV")
    return AESGCM(bytes(key[: spec.key_size])), bytes(iv[:4]), int.from_bytes(iv[4:12], "big")


def _mac(name: str | None, key: bytes | None, cipher: str) -> tuple[hmac.HMAC, int, bool]:
    """(keyed HMAC to copy per packet, digest size, is EtM)."""
    if name is None or key is None:
        raise ValueError(f"{cipher} needs a MAC")
    spec = get_mac(name)
    return spec.keyed(key), spec.digest_size, spec.etm


def framing_mode(cipher: str, mac: str | None) -> str:
    """Which framing a cipher/MAC pair uses: plain, chacha, gcm, etm or mac."""
    if cipher == "none":
        return "plain"
    spec = get_cipher(cipher)
    if spec.mode != "stream":
        return spec.mode
    if mac is None:
        raise ValueError(f"{cipher} needs a MAC")
    return "etm" if get_mac(mac).etm else "mac"


# -- sealing ----------------------------------------------------------------


def make_sealer(cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None) -> Sealer:
    """The function that seals one payload into one wire packet for this key set."""
    return make_sealers(cipher, key, iv, mac, mac_key)[0]


def make_sealers(
    cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None
) -> tuple[Sealer, BatchSealer | None]:
    """``(seal, seal_batch)`` sharing one key set's state. ``seal_batch`` is
    None unless the cipher can encrypt into a given buffer (AES-GCM, with
    cryptography's ``encrypt_into``)."""
    seal, batch, _ = _writer_sealers(cipher, key, iv, mac, mac_key)
    return seal, batch


def _writer_sealers(
    cipher: str,
    key: bytes,
    iv: bytes,
    mac: str | None,
    mac_key: bytes | None,
    take_buffer: Callable[[int], bytearray] = bytearray,
) -> tuple[Sealer, BatchSealer | None, PiecesSealer | None]:
    """``(seal, seal_batch, seal_pieces)`` sharing one key set's state: AES-GCM
    seals a batch into one buffer; the other keyed framings seal each packet
    of a batch into pieces for a scatter-gather write; plain framing neither."""
    mode = framing_mode(cipher, mac)
    if mode == "gcm":
        seal, batch = _gcm_sealers(*_gcm(cipher, key, iv), take_buffer)
        return seal, batch, None
    seal, pieces = _piece_sealers(cipher, key, iv, mac, mac_key, mode)
    return seal, None, pieces


def _piece_sealers(
    cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None, mode: str
) -> tuple[Sealer, PiecesSealer | None]:
    """``(seal, seal_pieces)`` for the framings sealed one packet at a time."""
    if mode == "plain":
        return _seal_plain, None
    if mode == "chacha":
        return _with_bytes(_chacha_sealer(*_chacha_keys(key)))
    spec = get_cipher(cipher)
    keyed, _, etm = _mac(mac, mac_key, cipher)
    ctx = stream_context(spec, key, iv, True)
    bs = max(8, spec.block_size)
    return _with_bytes(_etm_sealer(ctx, keyed, bs) if etm else _mac_sealer(ctx, keyed, bs))


def _with_bytes(pieces: PiecesSealer) -> tuple[Sealer, PiecesSealer]:
    """``(seal, seal_pieces)``: the one-payload ``Sealer`` on top of a pieces sealer."""

    def seal(payload: bytes, seq: int) -> bytes:
        out: list[bytes | bytearray] = []
        pieces((payload,), seq, out)
        return b"".join(out)

    return seal, pieces


def _padding(covered: int, block: int) -> int:
    """Random-padding length making ``covered`` + padding a multiple of
    ``block``, at least 4 (RFC 4253 section 6)."""
    pad = block - covered % block
    return pad + block if pad < 4 else pad


def _padding_source(block: int = 4096) -> Callable[[int], bytes]:
    """``take(n)``: ``n`` random bytes for padding, cut from ``secrets.token_bytes``
    blocks. One system call per few hundred packets instead of one per
    packet (it was ~15% of the CPU of a bulk upload). Each sealer has its
    own source, so no two packets share padding bytes."""
    buf = b""
    pos = 0

    def take(n: int) -> bytes:
        nonlocal buf, pos
        end = pos + n
        if end > len(buf):
            buf = _urandom(max(block, n))
            pos, end = 0, n
        out = buf[pos:end]
        pos = end
        return out

    return take


def _seal_plain(payload: bytes, seq: int) -> bytes:
    n = len(payload)
    pad = _padding(n + 5, 8)
    return b"".join((_HDR.pack(n + 1 + pad, pad), payload, _urandom(pad)))


def _chacha_sealer(main_key: bytes, hdr_key: bytes) -> PiecesSealer:
    random = _padding_source()

    def seal(parts: Parts, seq: int, out: list[bytes | bytearray]) -> int:
        n = sum(map(len, parts))
        pad = _padding(n + 1, 8)
        enc_len = _chacha(hdr_key, seq).update((n + 1 + pad).to_bytes(4, "big"))
        main = _chacha(main_key, seq)
        poly = Poly1305(main.update(_ZERO64)[:32])
        ct = main.update(b"".join((_PAD_BYTE[pad], *parts, random(pad))))
        poly.update(enc_len)
        poly.update(ct)
        out += (enc_len, ct, poly.finalize())
        return n + 21 + pad

    return seal


def _gcm_sealers(
    aes: AESGCM, fixed: bytes, counter: int, take_buffer: Callable[[int], bytearray] = bytearray
) -> tuple[Sealer, BatchSealer | None]:
    """``(seal, seal_batch)`` for AES-GCM, sharing the invocation counter.

    ``seal_batch`` encrypts every packet of a batch into one output buffer
    (``length || ciphertext || tag`` each): no copy to put the length in front
    or to join the packets, one padding draw per batch. ``take_buffer(n)``
    gives the n-byte output buffer (a ``PacketWriter`` hands back its last
    one while a sender streams, see ``_BatchBuffers``). Measured and left
    out (cryptography 50, AES-NI): building the plaintext inside the buffer
    and encrypting it in place, slower than joining it into a short-lived
    bytes. Without ``encrypt_into`` (cryptography < 45) there is no batch
    sealer.
    """
    encrypt = aes.encrypt
    random = _padding_source()

    def seal(payload: bytes, seq: int) -> bytes:
        nonlocal counter
        n = len(payload)
        pad = _padding(n + 1, 16)
        length = (n + 1 + pad).to_bytes(4, "big")
        nonce = fixed + counter.to_bytes(8, "big")
        counter = (counter + 1) & _CTR_MASK
        return length + encrypt(nonce, b"".join((pad.to_bytes(1, "big"), payload, random(pad))), length)

    maybe_into: Callable[[bytes, bytes | memoryview, bytes | memoryview, memoryview], object] | None
    maybe_into = getattr(aes, "encrypt_into", None)
    if maybe_into is None:  # cryptography < 45
        return seal, None
    encrypt_into = maybe_into

    def seal_batch(payloads: Sequence[Parts], seq: int) -> bytearray:
        nonlocal counter
        plan = []  # (packet_length, padding_length) per packet
        total = pads = 0
        for parts in payloads:
            n = sum(map(len, parts))
            pad = 15 - n % 16  # padding_length || payload || padding: a multiple of 16, padding >= 4
            if pad < 4:
                pad += 16
            plan.append((n + 1 + pad, pad))
            total += n + 5 + pad + _TAG
            pads += pad
        out = take_buffer(total)
        view = memoryview(out)
        padding = random(pads)
        taken = pos = 0
        pack_length = _U32.pack_into
        for parts, (size, pad) in zip(payloads, plan, strict=True):
            body = pos + 4
            end = body + size
            pack_length(out, pos, size)
            encrypt_into(
                fixed + counter.to_bytes(8, "big"),
                b"".join((_PAD_BYTE[pad], *parts, padding[taken : taken + pad])),
                view[pos:body],
                view[body : end + _TAG],
            )
            taken += pad
            counter = (counter + 1) & _CTR_MASK
            pos = end + _TAG
        return out

    return seal, seal_batch


def _etm_sealer(ctx: CipherContext, keyed: hmac.HMAC, bs: int) -> PiecesSealer:
    update = ctx.update
    random = _padding_source()

    def seal(parts: Parts, seq: int, out: list[bytes | bytearray]) -> int:
        n = sum(map(len, parts))
        pad = _padding(n + 1, bs)
        length = (n + 1 + pad).to_bytes(4, "big")
        ct = update(b"".join((_PAD_BYTE[pad], *parts, random(pad))))
        mac = keyed.copy()
        mac.update(seq.to_bytes(4, "big") + length)
        mac.update(ct)
        digest = mac.digest()
        out += (length, ct, digest)
        return 4 + len(ct) + len(digest)

    return seal


def _mac_sealer(ctx: CipherContext, keyed: hmac.HMAC, bs: int) -> PiecesSealer:
    update = ctx.update
    random = _padding_source()

    def seal(parts: Parts, seq: int, out: list[bytes | bytearray]) -> int:
        n = sum(map(len, parts))
        pad = _padding(n + 5, bs)
        packet = b"".join((_HDR.pack(n + 1 + pad, pad), *parts, random(pad)))
        mac = keyed.copy()
        mac.update(seq.to_bytes(4, "big"))
        mac.update(packet)
        ct = update(packet)
        digest = mac.digest()
        out += (ct, digest)
        return len(ct) + len(digest)

    return seal


# -- opening ----------------------------------------------------------------


def _bad_length(length: int, why: str) -> ProtocolError:
    return ProtocolError(f"bad packet length {length}: {why}", DISCONNECT_PROTOCOL_ERROR)


def _mac_error(seq: int) -> ProtocolError:
    return ProtocolError(f"MAC check failed on packet {seq}", DISCONNECT_MAC_ERROR)


def _length_checker(max_length: int, block: int, aligned_with_length: bool) -> Callable[[int], None]:
    """A check that refuses a packet_length field no honest peer sends."""
    extra = 4 if aligned_with_length else 0

    def check(length: int) -> None:
        if length > max_length:
            raise _bad_length(length, f"more than {max_length}")
        if length < 5:
            raise _bad_length(length, "shorter than the minimum of 5")
        if (length + extra) % block:
            raise _bad_length(length, f"not a multiple of the block size {block}")

    return check


def _payload(body: bytes | memoryview, length: int) -> memoryview:
    """The payload from ``padding_length || payload || padding`` (``length`` bytes).

    A view, not a copy: ``body`` must be a fresh immutable object (the
    decrypted packet), never a view of the receive buffer.
    """
    pad = body[0]
    if pad < 4 or pad >= length:
        raise ProtocolError(f"bad padding length {pad} in a {length}-byte packet", DISCONNECT_PROTOCOL_ERROR)
    return memoryview(body)[1 : length - pad]


def make_opener(cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None, max_length: int) -> Opener:
    """The function that opens one packet from a receive buffer for this key set.

    It never looks past the packet it opens; state for a half-arrived packet
    (its decoded length) lives in the closure and dies with the key set.
    """
    mode = framing_mode(cipher, mac)
    if mode == "plain":
        return _plain_opener(_length_checker(max_length, 8, True))
    if mode == "chacha":
        return _chacha_opener(*_chacha_keys(key), _length_checker(max_length, 8, False))
    if mode == "gcm":
        return _gcm_opener(*_gcm(cipher, key, iv), _length_checker(max_length, 16, False))
    spec = get_cipher(cipher)
    keyed, size, etm = _mac(mac, mac_key, cipher)
    ctx = stream_context(spec, key, iv, False)
    bs = max(8, spec.block_size)
    if etm:
        return _etm_opener(ctx, keyed, size, _length_checker(max_length, bs, False))
    return _mac_opener(ctx, keyed, size, bs, _length_checker(max_length, bs, True))


def _plain_opener(check: Callable[[int], None]) -> Opener:
    def open_(buf: bytearray, start: int, avail: int, seq: int) -> tuple[bytes | memoryview, int] | None:
        if avail < 4:
            return None
        length = _read_length(buf, start)[0]
        check(length)
        total = 4 + length
        if avail < total:
            return None
        return bytes(_payload(memoryview(buf)[start + 4 : start + total], length)), total

    return open_


def _chacha_opener(main_key: bytes, hdr_key: bytes, check: Callable[[int], None]) -> Opener:
    pending = -1  # decrypted length of a packet whose body has not fully arrived

    def open_(buf: bytearray, start: int, avail: int, seq: int) -> tuple[bytes | memoryview, int] | None:
        nonlocal pending
        length = pending
        if length < 0:
            if avail < 4:
                return None
            length = int.from_bytes(_chacha(hdr_key, seq).update(bytes(buf[start : start + 4])), "big")
            check(length)
            pending = length
        end = start + 4 + length
        total = 4 + length + _TAG
        if avail < total:
            return None
        view = memoryview(buf)
        main = _chacha(main_key, seq)
        try:
            Poly1305.verify_tag(main.update(_ZERO64)[:32], view[start:end], bytes(view[end : start + total]))
        except InvalidSignature:
            raise _mac_error(seq) from None
        pending = -1
        return _payload(main.update(view[start + 4 : end]), length), total

    return open_


def _gcm_opener(aes: AESGCM, fixed: bytes, counter: int, check: Callable[[int], None]) -> Opener:
    decrypt = aes.decrypt

    def open_(buf: bytearray, start: int, avail: int, seq: int) -> tuple[bytes | memoryview, int] | None:
        nonlocal counter
        if avail < 4:
            return None
        length = _read_length(buf, start)[0]
        check(length)
        total = 4 + length + _TAG
        if avail < total:
            return None
        view = memoryview(buf)
        try:
            body = decrypt(fixed + counter.to_bytes(8, "big"), view[start + 4 : start + total], view[start : start + 4])
        except InvalidTag:
            raise _mac_error(seq) from None
        counter = (counter + 1) & _CTR_MASK
        return _payload(body, length), total

    return open_


def _etm_opener(ctx: CipherContext, keyed: hmac.HMAC, size: int, check: Callable[[int], None]) -> Opener:
    update = ctx.update

    def open_(buf: bytearray, start: int, avail: int, seq: int) -> tuple[bytes | memoryview, int] | None:
        if avail < 4:
            return None
        length = _read_length(buf, start)[0]
        check(length)
        end = start + 4 + length
        total = 4 + length + size
        if avail < total:
            return None
        view = memoryview(buf)
        mac = keyed.copy()
        mac.update(seq.to_bytes(4, "big"))
        mac.update(view[start:end])
        if not _compare(mac.digest(), view[end : start + total]):
            raise _mac_error(seq)
        return _payload(update(view[start + 4 : end]), length), total

    return open_


def _mac_opener(ctx: CipherContext, keyed: hmac.HMAC, size: int, bs: int, check: Callable[[int], None]) -> Opener:
    update = ctx.update
    first = b""  # the decrypted first block of a packet whose body has not fully arrived
    pending = -1

    def open_(buf: bytearray, start: int, avail: int, seq: int) -> tuple[bytes | memoryview, int] | None:
        nonlocal first, pending
        view = memoryview(buf)
        length = pending
        if length < 0:
            if avail < bs:
                return None
            first = update(view[start : start + bs])
            length = int.from_bytes(first[:4], "big")
            check(length)
            pending = length
        end = start + 4 + length
        total = 4 + length + size
        if avail < total:
            return None
        packet = first + update(view[start + bs : end])
        first = b""
        pending = -1
        mac = keyed.copy()
        mac.update(seq.to_bytes(4, "big"))
        mac.update(packet)
        if not _compare(mac.digest(), view[end : start + total]):
            raise _mac_error(seq)
        return _payload(memoryview(packet)[4:], length), total

    return open_


# -- from ready-made engines --------------------------------------------------
#
# Callers that derive their own keys (paramiko's ``Packetizer`` API hands over a
# ``cryptography`` cipher context, an ``AESGCM`` object and a hash constructor)
# get the same framing and MAC code as the negotiated algorithms above.


def make_context_sealer(ctx: CipherContext | None, block_size: int, mac: hmac.HMAC | None, etm: bool = False) -> Sealer:
    """A sealer from a ready cipher context (CTR or CBC encryptor) and keyed MAC.

    ``ctx=None`` means plain framing (no encryption, no MAC). ``etm`` selects
    encrypt-then-MAC framing; ``mac`` may be a ``TruncatedHMAC``.
    """
    if ctx is None:
        return _seal_plain
    if mac is None:
        raise ValueError("a cipher context needs a MAC")
    bs = max(8, block_size)
    return _with_bytes(_etm_sealer(ctx, mac, bs) if etm else _mac_sealer(ctx, mac, bs))[0]


def make_context_opener(
    ctx: CipherContext | None,
    block_size: int,
    mac: hmac.HMAC | None,
    etm: bool = False,
    max_length: int = DEFAULT_MAX_PACKET_LENGTH,
) -> Opener:
    """The opener matching ``make_context_sealer`` (``ctx`` a decryptor)."""
    if ctx is None:
        return _plain_opener(_length_checker(max_length, 8, True))
    if mac is None:
        raise ValueError("a cipher context needs a MAC")
    bs = max(8, block_size)
    size = len(mac.copy().digest())
    if etm:
        return _etm_opener(ctx, mac, size, _length_checker(max_length, bs, False))
    return _mac_opener(ctx, mac, size, bs, _length_checker(max_length, bs, True))


def _gcm_iv(iv: bytes) -> tuple[bytes, int]:
    """(fixed 4 nonce bytes, initial invocation counter) from a 12-byte IV."""
    if len(iv) != 12:
        raise ValueError(f"AES-GCM needs a 12-byte IV, got {len(iv)} bytes")
    return bytes(iv[:4]), int.from_bytes(iv[4:12], "big")


def make_gcm_sealer(aes: AESGCM, iv: bytes) -> Sealer:
    """An ``aes*-gcm@openssh.com`` sealer from a keyed ``AESGCM`` and the 12-byte IV."""
    return _gcm_sealers(aes, *_gcm_iv(iv))[0]


def make_gcm_opener(aes: AESGCM, iv: bytes, max_length: int = DEFAULT_MAX_PACKET_LENGTH) -> Opener:
    """The opener matching ``make_gcm_sealer``."""
    return _gcm_opener(aes, *_gcm_iv(iv), _length_checker(max_length, 16, False))


# -- the two directions -------------------------------------------------------


# The largest batch buffer a writer keeps for the next batch: the threaded
# driver seals 256 KiB of channel data (plus framing) at a time; a bigger
# batch (an asyncio write of megabytes) is allocated afresh.
_KEEP_MAX = 320 * 1024


def _reuse_check() -> Callable[[object], int] | None:
    """``sys.getrefcount`` where a reference count says for sure that nobody
    else holds a buffer (CPython with its GIL: every holder, a list or a live
    memoryview, counts); None elsewhere (PyPy, free-threaded builds), where
    every batch gets a fresh buffer."""
    getrefcount: Callable[[object], int] | None = getattr(sys, "getrefcount", None)
    gil: Callable[[], bool] | None = getattr(sys, "_is_gil_enabled", None)
    if sys.implementation.name != "cpython" or getrefcount is None or (gil is not None and not gil()):
        return None  # pragma: no cover - CPython with a GIL runs the tests
    return getrefcount


class _BatchBuffers:
    """Output buffers for AES-GCM batches: while a sender streams
    (``keep(True)``, nested per sender), the buffer of the last full-size
    batch comes back for the next one once nobody holds it any more (a
    driver has written it and dropped it); otherwise, and when it is still
    held, a fresh one. A fresh ``bytearray`` is zero-filled, and each batch
    of a stream touching new memory costs more than sealing into the one it
    just wrote (measured: ~15% of the client's upload CPU with 256 KiB
    batches). Nothing is kept once no sender streams, so an idle connection
    keeps no batch buffer."""

    def __init__(self) -> None:
        self._streams = 0
        self._spare: bytearray | None = None
        # referenced by this object only: what the refcount of a spare nobody else holds reads
        self._sentinel = bytearray()
        self._refcount = _reuse_check()

    def keep(self, on: bool) -> None:
        """A sender starts (True) or ends (False) a stream of batches."""
        self._streams = max(0, self._streams + (1 if on else -1))
        if not self._streams:
            self._spare = None

    def take(self, size: int) -> bytearray:
        """A ``size``-byte buffer for the next batch."""
        refcount = self._refcount
        # (the spare is looked at through the attribute only: a local name would count)
        if (
            self._spare is not None
            and len(self._spare) == size
            and refcount is not None
            and refcount(self._spare) == refcount(self._sentinel)
        ):
            return self._spare
        out = bytearray(size)
        # keep the full-size one: a shorter batch (the end of a write) leaves it be
        if self._streams and size <= _KEEP_MAX and (self._spare is None or size >= len(self._spare)):
            self._spare = out
        return out


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
        self._seal_one: Sealer = _seal_plain
        self._seal_batch: BatchSealer | None = None
        self._seal_pieces: PiecesSealer | None = None
        self._buffers = _BatchBuffers()
        self._compression = "none"
        self._authenticated = False
        self._compressor: Compressor | None = None

    def set_keys(self, cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None) -> None:
        """Use new keys from the next ``seal()`` on (right after our NEWKEYS).

        ``cipher`` is an SSH cipher name (or ``"none"``); ``mac`` is ignored by
        AEAD ciphers and required by the others. Resets the rekey counters.
        """
        self._seal_one, self._seal_batch, self._seal_pieces = _writer_sealers(
            cipher, key, iv, mac, mac_key, self._buffers.take
        )
        self.bytes_sealed = 0
        self.packets_sealed = 0

    def set_sealer(self, sealer: Sealer) -> None:
        """Use a ready-made sealer (``make_context_sealer``, ``make_gcm_sealer``)
        from the next ``seal()`` on; resets the rekey counters like ``set_keys``."""
        self._seal_one, self._seal_batch, self._seal_pieces = sealer, None, None
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
        batches: while one streams, an AES-GCM batch reuses the buffer of
        the last full-size batch once the caller has dropped it (after
        writing it). Calls nest; after the last end no buffer is kept."""
        self._buffers.keep(on)

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
        data goes through here: with AES-GCM every packet is encrypted
        straight into one buffer, which saves two copies of each payload;
        the other keyed framings
        return each packet's pieces unjoined, which saves two copies too."""
        if self._compressor is not None or not payloads:
            seal = self.seal
            return [seal(b"".join(parts)) for parts in payloads]
        batch = self._seal_batch
        count = len(payloads)
        if batch is not None:
            out = batch(payloads, self.seq)
            self.seq = (self.seq + count) & _SEQ_MASK
            self.packets_sealed += count
            self.bytes_sealed += len(out)
            return [out]
        pieces = self._seal_pieces
        if pieces is None:
            seal = self.seal
            return [seal(b"".join(parts)) for parts in payloads]
        wire: list[bytes | bytearray] = []
        seq = self.seq
        total = 0
        for parts in payloads:
            total += pieces(parts, seq, wire)
            seq = (seq + 1) & _SEQ_MASK
        self.seq = seq
        self.packets_sealed += count
        self.bytes_sealed += total
        return wire


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
        if unread + n <= len(buf) // 2:  # moving leaves at least half the buffer free: amortised O(1)
            buf[:unread] = buf[start:end]
        else:
            new = bytearray(max(_MIN_BUFFER, 2 * (unread + n)))
            new[:unread] = buf[start:end]
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
