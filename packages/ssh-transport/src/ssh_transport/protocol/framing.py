"""What the sealing and the opening side of the packet layer share: the
framing each cipher/MAC pair uses, the function types, and turning key
material into the objects the per-packet code keeps (a ChaCha20 keystream, an
``AESGCM`` with its nonce parts, a keyed HMAC).

The framings (RFC 4253 section 6 and the OpenSSH extensions):

* ``plain`` (no keys yet): block size 8, no MAC;
* ``chacha`` (``chacha20-poly1305@openssh.com``): length encrypted with K_1
  (the last 32 key bytes), body with K_2 (the first 32) from block 1,
  Poly1305 keyed by K_2's block 0 over the encrypted length and body; the
  nonce is the sequence number;
* ``gcm`` (``aes*-gcm@openssh.com``): length in the clear as associated data,
  a 12-byte nonce (4 fixed bytes, 8-byte counter incremented per packet);
* ``etm`` (CTR/CBC with an ``-etm@openssh.com`` MAC): length in the clear,
  MAC over seq || length || ciphertext;
* ``mac`` (CTR/CBC with a classic MAC): whole packet encrypted, MAC over
  seq || plaintext.

Padding is at least 4 bytes; AEAD and EtM framings align
padding_length || payload || padding, the others the whole packet including
the length field, to max(8, block size).
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable, Sequence
from typing import Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .ciphers import get_cipher
from .macs import get_mac

__all__ = [
    "DEFAULT_MAX_PACKET_LENGTH",
    "SEQ_MASK",
    "BatchSealer",
    "KeyStream",
    "Opener",
    "Parts",
    "Sealer",
    "chacha_keys",
    "chacha_stream",
    "framing_mode",
    "gcm_iv",
    "gcm_keys",
    "keyed_mac",
    "padding_length",
]

DEFAULT_MAX_PACKET_LENGTH = 256 * 1024 + 64
SEQ_MASK = 0xFFFFFFFF
# the GCM invocation counter is 64 bits
CTR_MASK = 0xFFFFFFFFFFFFFFFF
TAG = 16
U32 = struct.Struct(">I")
HDR = struct.Struct(">IB")
# the padding_length byte for each padding length
PAD_BYTE = [bytes((n,)) for n in range(256)]

# seal(payload, seq) -> wire bytes
Sealer = Callable[[bytes, int], bytes]
# A payload given as parts to concatenate (e.g. a message header and a view of user data).
Parts = Sequence["bytes | memoryview"]
# seal_batch(payloads as parts, seq of the first) -> all the wire packets in one buffer
BatchSealer = Callable[[Sequence[Parts], int], bytearray]
# open(buffer, start, available, seq) -> (payload, bytes consumed) or None if incomplete;
# the payload is bytes or a read-only view of a fresh bytes object (never of the buffer)
Opener = Callable[[bytearray, int, int, int], "tuple[bytes | memoryview, int] | None"]


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


class KeyStream(Protocol):
    """A ChaCha20 context that is moved to another nonce per packet."""

    def reset_nonce(self, nonce: bytes) -> None:
        """Restart the keystream at the 16-byte counter || nonce given."""

    def update(self, data: bytes | bytearray | memoryview, /) -> bytes:
        """XOR ``data`` with the next keystream bytes."""

    def update_into(self, data: bytes | bytearray | memoryview, buf: memoryview, /) -> int:
        """Like ``update`` but into ``buf``; returns the bytes written."""


def _context(key: bytes, nonce: bytes) -> KeyStream:
    ctx: KeyStream = Cipher(algorithms.ChaCha20(key, nonce), None).encryptor()
    return ctx


class _FreshContexts:
    """The ``KeyStream`` for cryptography < 43, whose contexts cannot change
    their nonce: a new context per nonce (about 3 us each, twice a packet)."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._ctx = _context(key, bytes(16))

    def reset_nonce(self, nonce: bytes) -> None:
        """A new context at ``nonce``."""
        self._ctx = _context(self._key, nonce)

    def update(self, data: bytes | bytearray | memoryview, /) -> bytes:
        """The current context's ``update``."""
        return self._ctx.update(data)

    def update_into(self, data: bytes | bytearray | memoryview, buf: memoryview, /) -> int:
        """The current context's ``update_into``."""
        return self._ctx.update_into(data, buf)


def chacha_stream(key: bytes) -> KeyStream:
    """One ChaCha20 context for the whole key lifetime, moved to each
    packet's nonce with ``reset_nonce`` (cryptography >= 43): building a
    context costs about ten times what resetting one does, and
    chacha20-poly1305 needs two per packet."""
    ctx = _context(key, bytes(16))
    if hasattr(ctx, "reset_nonce"):
        return ctx
    return _FreshContexts(key)  # pragma: no cover - cryptography 42


def chacha_keys(key: bytes) -> tuple[bytes, bytes]:
    """(main K_2, header K_1) from the 64 bytes of key material."""
    if len(key) < 64:
        raise ValueError("chacha20-poly1305@openssh.com needs 64 bytes of key material")
    return bytes(key[:32]), bytes(key[32:64])


def gcm_iv(iv: bytes) -> tuple[bytes, int]:
    """(fixed 4 nonce bytes, initial invocation counter) from a 12-byte IV."""
    if len(iv) != 12:
        raise ValueError(f"AES-GCM needs a 12-byte IV, got {len(iv)} bytes")
    return bytes(iv[:4]), int.from_bytes(iv[4:12], "big")


def gcm_keys(name: str, key: bytes, iv: bytes) -> tuple[AESGCM, bytes, int]:
    """(AESGCM, fixed 4 nonce bytes, initial invocation counter) for cipher ``name``."""
    spec = get_cipher(name)
    if len(key) < spec.key_size or len(iv) < 12:
        raise ValueError(f"{name} needs a {spec.key_size}-byte key and a 12-byte IV")
    return AESGCM(bytes(key[: spec.key_size])), *gcm_iv(iv[:12])


def keyed_mac(name: str | None, key: bytes | None, cipher: str) -> tuple[hmac.HMAC, int, bool]:
    """(keyed HMAC to copy per packet, digest size, is EtM) for MAC ``name``."""
    if name is None or key is None:
        raise ValueError(f"{cipher} needs a MAC")
    spec = get_mac(name)
    return spec.keyed(key), spec.digest_size, spec.etm


def padding_length(covered: int, block: int) -> int:
    """Random-padding length making ``covered`` + padding a multiple of
    ``block``, at least 4 (RFC 4253 section 6)."""
    pad = block - covered % block
    return pad + block if pad < 4 else pad
