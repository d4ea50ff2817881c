"""Sealing: payloads into wire packets, one closure per key set and framing
(see ``framing`` for the framings).

Each key set gets two functions sharing its state (cipher context,
invocation counter, padding source): ``seal(payload, seq)`` for one packet
(control messages), and for the keyed framings ``seal_batch(payloads, seq)``,
which seals payloads given as parts (a CHANNEL_DATA header and a view of the
user's data) straight into one output buffer: the plaintext of a packet is
joined once, encrypted into its place in the buffer (``encrypt_into`` /
``update_into``: no output allocation, no zero-fill), and the MAC or tag is
written after it; the caller writes the whole batch with one send.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from secrets import token_bytes

from cryptography.hazmat.primitives.ciphers import CipherContext
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

from .ciphers import get_cipher, stream_context
from .framing import (
    CTR_MASK,
    HDR,
    PAD_BYTE,
    SEQ_MASK,
    TAG,
    U32,
    BatchSealer,
    Parts,
    Sealer,
    chacha_keys,
    chacha_stream,
    framing_mode,
    gcm_iv,
    gcm_keys,
    keyed_mac,
    padding_length,
)

__all__ = [
    "make_context_sealer",
    "make_gcm_sealer",
    "make_sealer",
    "make_sealers",
    "padding_source",
    "seal_plain",
]

_urandom = token_bytes  # os.urandom; through secrets, so the core imports no os
_ZERO64 = bytes(64)
_join = b"".join
# gives the output buffer of a batch: bytearray, or a PacketWriter's BatchBuffers.take
TakeBuffer = Callable[[int], bytearray]


def padding_source(block: int = 4096) -> Callable[[int], bytes]:
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


def _plan(payloads: Sequence[Parts], block: int, aligned: int, overhead: int) -> tuple[list[tuple[int, int]], int, int]:
    """(packet_length and padding_length per packet, wire size of the batch,
    padding bytes in all). ``aligned`` is how many framing bytes the block
    alignment covers besides payload and padding (1: the padding_length byte;
    5: with the length field); ``overhead`` is what each packet adds on the
    wire besides packet_length bytes (the length field, tag or MAC)."""
    plan = []
    total = pads = 0
    for parts in payloads:
        n = sum(map(len, parts))
        pad = block - (n + aligned) % block
        if pad < 4:
            pad += block
        plan.append((n + 1 + pad, pad))
        total += n + 1 + pad + overhead
        pads += pad
    return plan, total, pads


# -- the sealers of each framing ----------------------------------------------------


def seal_plain(payload: bytes, seq: int) -> bytes:
    """A packet without keys (before the first NEWKEYS): block size 8, no MAC."""
    n = len(payload)
    pad = padding_length(n + 5, 8)
    return _join((HDR.pack(n + 1 + pad, pad), payload, _urandom(pad)))


def _chacha_sealers(main_key: bytes, hdr_key: bytes, take_buffer: TakeBuffer) -> tuple[Sealer, BatchSealer]:
    """``(seal, seal_batch)`` for chacha20-poly1305@openssh.com: one keystream
    per key, moved to each packet's nonce (the sequence number)."""
    main, hdr = chacha_stream(main_key), chacha_stream(hdr_key)
    main_reset, main_update, main_into = main.reset_nonce, main.update, main.update_into
    hdr_reset, hdr_update, hdr_into = hdr.reset_nonce, hdr.update, hdr.update_into
    tag_of = Poly1305.generate_tag
    random = padding_source()

    def seal(payload: bytes, seq: int) -> bytes:
        n = len(payload)
        pad = 7 - n % 8  # padding_length || payload || padding: a multiple of 8, padding >= 4
        if pad < 4:
            pad += 8
        nonce = seq.to_bytes(16, "big")  # block counter 0 (8 bytes, little-endian) || seq (8 bytes, big-endian)
        hdr_reset(nonce)
        enc_len = hdr_update(U32.pack(n + 1 + pad))
        main_reset(nonce)
        poly = Poly1305(main_update(_ZERO64)[:32])
        ct = main_update(_join((PAD_BYTE[pad], payload, random(pad))))
        poly.update(enc_len)
        poly.update(ct)
        return _join((enc_len, ct, poly.finalize()))

    def seal_batch(payloads: Sequence[Parts], seq: int) -> bytearray:
        plan, total, pads = _plan(payloads, 8, 1, 4 + TAG)
        out = take_buffer(total)
        view = memoryview(out)
        padding = random(pads)
        taken = pos = 0
        for parts, (size, pad) in zip(payloads, plan, strict=True):
            body = pos + 4
            end = body + size
            nonce = seq.to_bytes(16, "big")
            hdr_reset(nonce)
            hdr_into(U32.pack(size), view[pos:body])
            main_reset(nonce)
            key = main_update(_ZERO64)[:32]
            main_into(_join((PAD_BYTE[pad], *parts, padding[taken : taken + pad])), view[body:end])
            view[end : end + TAG] = tag_of(key, view[pos:end])
            taken += pad
            seq = (seq + 1) & SEQ_MASK
            pos = end + TAG
        return out

    return seal, seal_batch


def _gcm_sealers(
    aes: AESGCM, fixed: bytes, counter: int, take_buffer: TakeBuffer = bytearray
) -> tuple[Sealer, BatchSealer | None]:
    """``(seal, seal_batch)`` for AES-GCM, sharing the invocation counter.

    Measured and left out (cryptography 50, AES-NI): building the plaintext
    inside the batch buffer and encrypting it in place, slower than joining
    it into a short-lived bytes. Without ``encrypt_into`` (cryptography < 45)
    there is no batch sealer.
    """
    encrypt = aes.encrypt
    random = padding_source()
    base = int.from_bytes(fixed, "big") << 64  # the nonce is fixed || counter: base | counter

    def seal(payload: bytes, seq: int) -> bytes:
        nonlocal counter
        n = len(payload)
        pad = 15 - n % 16
        if pad < 4:
            pad += 16
        length = U32.pack(n + 1 + pad)
        nonce = (base | counter).to_bytes(12, "big")
        counter = (counter + 1) & CTR_MASK
        return length + encrypt(nonce, _join((PAD_BYTE[pad], payload, random(pad))), length)

    maybe_into: Callable[[bytes, bytes | memoryview, bytes | memoryview, memoryview], object] | None
    maybe_into = getattr(aes, "encrypt_into", None)
    if maybe_into is None:  # cryptography < 45
        return seal, None
    encrypt_into = maybe_into
    pack_length = U32.pack_into

    def seal_batch(payloads: Sequence[Parts], seq: int) -> bytearray:
        nonlocal counter
        plan, total, pads = _plan(payloads, 16, 1, 4 + TAG)
        out = take_buffer(total)
        view = memoryview(out)
        padding = random(pads)
        taken = pos = 0
        for parts, (size, pad) in zip(payloads, plan, strict=True):
            body = pos + 4
            end = body + size
            pack_length(out, pos, size)
            encrypt_into(
                (base | counter).to_bytes(12, "big"),
                _join((PAD_BYTE[pad], *parts, padding[taken : taken + pad])),
                view[pos:body],
                view[body : end + TAG],
            )
            taken += pad
            counter = (counter + 1) & CTR_MASK
            pos = end + TAG
        return out

    return seal, seal_batch


def _stream_sealers(
    ctx: CipherContext, keyed: hmac.HMAC, bs: int, etm: bool, in_place: bool, take_buffer: TakeBuffer = bytearray
) -> tuple[Sealer, BatchSealer]:
    """``(seal, seal_batch)`` for a CTR/CBC context kept for the key lifetime
    and a keyed HMAC (copied per packet), EtM or classic.

    ``in_place``: the context may ``update_into`` a view of exactly the
    packet's size (CTR; CBC asks for a block of slack, so its ciphertext is
    copied into the batch instead)."""
    update = ctx.update
    random = padding_source()
    size_of_mac = len(keyed.copy().digest())
    into: Callable[[bytes, memoryview], object]
    if in_place:
        into = ctx.update_into
    else:

        def into(data: bytes, buf: memoryview) -> None:
            buf[:] = update(data)

    def seal_etm(payload: bytes, seq: int) -> bytes:
        n = len(payload)
        pad = padding_length(n + 1, bs)
        length = U32.pack(n + 1 + pad)
        ct = update(_join((PAD_BYTE[pad], payload, random(pad))))
        mac = keyed.copy()
        mac.update(U32.pack(seq) + length)
        mac.update(ct)
        return _join((length, ct, mac.digest()))

    def seal_mac(payload: bytes, seq: int) -> bytes:
        n = len(payload)
        pad = padding_length(n + 5, bs)
        packet = _join((HDR.pack(n + 1 + pad, pad), payload, random(pad)))
        mac = keyed.copy()
        mac.update(U32.pack(seq))
        mac.update(packet)
        return _join((update(packet), mac.digest()))

    def batch_etm(payloads: Sequence[Parts], seq: int) -> bytearray:
        plan, total, pads = _plan(payloads, bs, 1, 4 + size_of_mac)
        out = take_buffer(total)
        view = memoryview(out)
        padding = random(pads)
        taken = pos = 0
        for parts, (size, pad) in zip(payloads, plan, strict=True):
            body = pos + 4
            end = body + size
            U32.pack_into(out, pos, size)
            into(_join((PAD_BYTE[pad], *parts, padding[taken : taken + pad])), view[body:end])
            mac = keyed.copy()
            mac.update(U32.pack(seq))
            mac.update(view[pos:end])
            pos = end + size_of_mac
            view[end:pos] = mac.digest()
            taken += pad
            seq = (seq + 1) & SEQ_MASK
        return out

    def batch_mac(payloads: Sequence[Parts], seq: int) -> bytearray:
        plan, total, pads = _plan(payloads, bs, 5, 4 + size_of_mac)
        out = take_buffer(total)
        view = memoryview(out)
        padding = random(pads)
        taken = pos = 0
        for parts, (size, pad) in zip(payloads, plan, strict=True):
            end = pos + 4 + size
            packet = _join((HDR.pack(size, pad), *parts, padding[taken : taken + pad]))
            mac = keyed.copy()
            mac.update(U32.pack(seq))
            mac.update(packet)
            into(packet, view[pos:end])
            pos = end + size_of_mac
            view[end:pos] = mac.digest()
            taken += pad
            seq = (seq + 1) & SEQ_MASK
        return out

    return (seal_etm, batch_etm) if etm else (seal_mac, batch_mac)


# -- from negotiated algorithms, or from ready-made engines ------------------------


def make_sealers(
    cipher: str,
    key: bytes,
    iv: bytes,
    mac: str | None,
    mac_key: bytes | None,
    take_buffer: TakeBuffer = bytearray,
) -> tuple[Sealer, BatchSealer | None]:
    """``(seal, seal_batch)`` sharing one key set's state. ``seal_batch`` is
    None for plain framing, and for AES-GCM with a cryptography before 45
    (no ``encrypt_into``). ``take_buffer(n)`` gives each batch's n-byte
    output buffer (default: a new ``bytearray``)."""
    mode = framing_mode(cipher, mac)
    if mode == "plain":
        return seal_plain, None
    if mode == "chacha":
        return _chacha_sealers(*chacha_keys(key), take_buffer)
    if mode == "gcm":
        return _gcm_sealers(*gcm_keys(cipher, key, iv), take_buffer)
    spec = get_cipher(cipher)
    keyed, _, etm = keyed_mac(mac, mac_key, cipher)
    ctx = stream_context(spec, key, iv, True)
    return _stream_sealers(ctx, keyed, max(8, spec.block_size), etm, spec.family == "aes-ctr", take_buffer)


def make_sealer(cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None) -> Sealer:
    """The function that seals one payload into one wire packet for this key set."""
    return make_sealers(cipher, key, iv, mac, mac_key)[0]


# Callers that derive their own keys (paramiko's ``Packetizer`` API hands over a
# ``cryptography`` cipher context, an ``AESGCM`` object and a hash constructor)
# get the same framing and MAC code as the negotiated algorithms.


def make_context_sealer(ctx: CipherContext | None, block_size: int, mac: hmac.HMAC | None, etm: bool = False) -> Sealer:
    """A sealer from a ready cipher context (CTR or CBC encryptor) and keyed MAC.

    ``ctx=None`` means plain framing (no encryption, no MAC). ``etm`` selects
    encrypt-then-MAC framing; ``mac`` may be a ``TruncatedHMAC``.
    """
    if ctx is None:
        return seal_plain
    if mac is None:
        raise ValueError("a cipher context needs a MAC")
    return _stream_sealers(ctx, mac, max(8, block_size), etm, False)[0]


def make_gcm_sealer(aes: AESGCM, iv: bytes) -> Sealer:
    """An ``aes*-gcm@openssh.com`` sealer from a keyed ``AESGCM`` and the 12-byte IV."""
    return _gcm_sealers(aes, *gcm_iv(iv))[0]
