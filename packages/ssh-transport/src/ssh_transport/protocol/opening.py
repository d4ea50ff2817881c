"""Opening: one packet at a time out of a receive buffer, one closure per
key set and framing (see ``framing`` for the framings).

An opener never looks past the packet it opens; state for a half-arrived
packet (its decoded length) lives in the closure and dies with the key set.
The payload it returns is bytes or a read-only view of a fresh decrypted
object, never a view of the receive buffer, which the caller refills.
"""

from __future__ import annotations

import hmac

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.ciphers import CipherContext
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

from ssh_wire import DISCONNECT_MAC_ERROR, DISCONNECT_PROTOCOL_ERROR, ProtocolError

from .ciphers import get_cipher, stream_context
from .framing import (
    CTR_MASK,
    DEFAULT_MAX_PACKET_LENGTH,
    TAG,
    U32,
    Opener,
    chacha_keys,
    chacha_stream,
    framing_mode,
    gcm_iv,
    gcm_keys,
    keyed_mac,
)

__all__ = ["make_context_opener", "make_gcm_opener", "make_opener"]

_read_length = U32.unpack_from
_compare = hmac.compare_digest
_ZERO64 = bytes(64)
_Opened = tuple["bytes | memoryview", int]


def _mac_error(seq: int) -> ProtocolError:
    return ProtocolError(f"MAC check failed on packet {seq}", DISCONNECT_MAC_ERROR)


def _bad_length(length: int, max_length: int, block: int) -> ProtocolError:
    """The error for a packet_length field that failed the quick check."""
    if length > max_length:
        why = f"more than {max_length}"
    elif length < 5:
        why = "shorter than the minimum of 5"
    else:
        why = f"not a multiple of the block size {block}"
    return ProtocolError(f"bad packet length {length}: {why}", DISCONNECT_PROTOCOL_ERROR)


def _bad_padding(pad: int, length: int) -> ProtocolError:
    return ProtocolError(f"bad padding length {pad} in a {length}-byte packet", DISCONNECT_PROTOCOL_ERROR)


def _payload(body: bytes | memoryview, length: int) -> memoryview:
    """The payload from ``padding_length || payload || padding`` (``length`` bytes).

    A view, not a copy: ``body`` must be a fresh immutable object (the
    decrypted packet), never a view of the receive buffer.
    """
    pad = body[0]
    if pad < 4 or pad >= length:
        raise _bad_padding(pad, length)
    return memoryview(body)[1 : length - pad]


# -- the openers of each framing ---------------------------------------------------
#
# Each checks the packet_length field in one expression (no honest peer sends
# more than the maximum, less than 5 or a length off the block alignment) and
# only builds the explanation when it fails.


def _plain_opener(max_length: int) -> Opener:
    def open_(buf: bytearray, start: int, avail: int, seq: int) -> _Opened | None:
        if avail < 4:
            return None
        length = _read_length(buf, start)[0]
        if length > max_length or length < 5 or (length + 4) % 8:
            raise _bad_length(length, max_length, 8)
        total = 4 + length
        if avail < total:
            return None
        return bytes(_payload(memoryview(buf)[start + 4 : start + total], length)), total

    return open_


def _chacha_opener(main_key: bytes, hdr_key: bytes, max_length: int) -> Opener:
    main, hdr = chacha_stream(main_key), chacha_stream(hdr_key)
    main_reset, main_update = main.reset_nonce, main.update
    hdr_reset, hdr_update = hdr.reset_nonce, hdr.update
    verify = Poly1305.verify_tag
    pending = -1  # decrypted length of a packet whose body has not fully arrived

    def open_(buf: bytearray, start: int, avail: int, seq: int) -> _Opened | None:
        nonlocal pending
        length = pending
        if length < 0:
            if avail < 4:
                return None
            hdr_reset(seq.to_bytes(16, "big"))
            length = int.from_bytes(hdr_update(buf[start : start + 4]), "big")
            if length > max_length or length < 5 or length % 8:
                raise _bad_length(length, max_length, 8)
            pending = length
        end = start + 4 + length
        total = 4 + length + TAG
        if avail < total:
            return None
        view = memoryview(buf)
        main_reset(seq.to_bytes(16, "big"))
        try:
            verify(main_update(_ZERO64)[:32], view[start:end], bytes(view[end : end + TAG]))
        except InvalidSignature:
            raise _mac_error(seq) from None
        pending = -1
        body = main_update(view[start + 4 : end])
        pad = body[0]
        if pad < 4 or pad >= length:
            raise _bad_padding(pad, length)
        return memoryview(body)[1 : length - pad], total

    return open_


def _gcm_opener(aes: AESGCM, fixed: bytes, counter: int, max_length: int) -> Opener:
    decrypt = aes.decrypt
    base = int.from_bytes(fixed, "big") << 64  # the nonce is fixed || counter: base | counter

    def open_(buf: bytearray, start: int, avail: int, seq: int) -> _Opened | None:
        nonlocal counter
        if avail < 4:
            return None
        length = _read_length(buf, start)[0]
        if length > max_length or length < 5 or length % 16:
            raise _bad_length(length, max_length, 16)
        total = 4 + length + TAG
        if avail < total:
            return None
        view = memoryview(buf)
        try:
            nonce = (base | counter).to_bytes(12, "big")
            body = decrypt(nonce, view[start + 4 : start + total], view[start : start + 4])
        except InvalidTag:
            raise _mac_error(seq) from None
        counter = (counter + 1) & CTR_MASK
        pad = body[0]
        if pad < 4 or pad >= length:
            raise _bad_padding(pad, length)
        return memoryview(body)[1 : length - pad], total

    return open_


def _etm_opener(ctx: CipherContext, keyed: hmac.HMAC, size: int, bs: int, max_length: int) -> Opener:
    update = ctx.update

    def open_(buf: bytearray, start: int, avail: int, seq: int) -> _Opened | None:
        if avail < 4:
            return None
        length = _read_length(buf, start)[0]
        if length > max_length or length < 5 or length % bs:
            raise _bad_length(length, max_length, bs)
        end = start + 4 + length
        total = 4 + length + size
        if avail < total:
            return None
        view = memoryview(buf)
        mac = keyed.copy()
        mac.update(U32.pack(seq))
        mac.update(view[start:end])
        if not _compare(mac.digest(), view[end : start + total]):
            raise _mac_error(seq)
        return _payload(update(view[start + 4 : end]), length), total

    return open_


def _mac_opener(ctx: CipherContext, keyed: hmac.HMAC, size: int, bs: int, max_length: int) -> Opener:
    update = ctx.update
    first = b""  # the decrypted first block of a packet whose body has not fully arrived
    pending = -1

    def open_(buf: bytearray, start: int, avail: int, seq: int) -> _Opened | None:
        nonlocal first, pending
        view = memoryview(buf)
        length = pending
        if length < 0:
            if avail < bs:
                return None
            first = update(view[start : start + bs])
            length = int.from_bytes(first[:4], "big")
            if length > max_length or length < 5 or (length + 4) % bs:
                raise _bad_length(length, max_length, bs)
            pending = length
        end = start + 4 + length
        total = 4 + length + size
        if avail < total:
            return None
        packet = first + update(view[start + bs : end])
        first = b""
        pending = -1
        mac = keyed.copy()
        mac.update(U32.pack(seq))
        mac.update(packet)
        if not _compare(mac.digest(), view[end : start + total]):
            raise _mac_error(seq)
        return _payload(memoryview(packet)[4:], length), total

    return open_


# -- from negotiated algorithms, or from ready-made engines ------------------------


def make_opener(cipher: str, key: bytes, iv: bytes, mac: str | None, mac_key: bytes | None, max_length: int) -> Opener:
    """The function that opens one packet from a receive buffer for this key set."""
    mode = framing_mode(cipher, mac)
    if mode == "plain":
        return _plain_opener(max_length)
    if mode == "chacha":
        return _chacha_opener(*chacha_keys(key), max_length)
    if mode == "gcm":
        return _gcm_opener(*gcm_keys(cipher, key, iv), max_length)
    spec = get_cipher(cipher)
    keyed, size, etm = keyed_mac(mac, mac_key, cipher)
    ctx = stream_context(spec, key, iv, False)
    bs = max(8, spec.block_size)
    if etm:
        return _etm_opener(ctx, keyed, size, bs, max_length)
    return _mac_opener(ctx, keyed, size, bs, max_length)


def make_context_opener(
    ctx: CipherContext | None,
    block_size: int,
    mac: hmac.HMAC | None,
    etm: bool = False,
    max_length: int = DEFAULT_MAX_PACKET_LENGTH,
) -> Opener:
    """The opener matching ``make_context_sealer`` (``ctx`` a decryptor)."""
    if ctx is None:
        return _plain_opener(max_length)
    if mac is None:
        raise ValueError("a cipher context needs a MAC")
    bs = max(8, block_size)
    size = len(mac.copy().digest())
    if etm:
        return _etm_opener(ctx, mac, size, bs, max_length)
    return _mac_opener(ctx, mac, size, bs, max_length)


def make_gcm_opener(aes: AESGCM, iv: bytes, max_length: int = DEFAULT_MAX_PACKET_LENGTH) -> Opener:
    """The opener matching ``make_gcm_sealer``."""
    return _gcm_opener(aes, *gcm_iv(iv), max_length)
