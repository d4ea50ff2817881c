"""Key derivation (RFC 4253 section 7.2): turning K and H into IVs and keys."""

from __future__ import annotations

import hashlib


def derive_key(
    hash_name: str, shared_secret: bytes, exchange_hash: bytes, session_id: bytes, letter: bytes, size: int
) -> bytes:
    """``size`` bytes of key material for ``letter`` (b"A".."F").

    K1 = HASH(K || H || letter || session_id), then K2 = HASH(K || H || K1),
    K3 = HASH(K || H || K1 || K2) ... until there is enough; ``shared_secret``
    is K already wire-encoded (an mpint, or a string for the hybrid PQ kex).
    """
    if len(letter) != 1:
        raise ValueError("letter must be one byte")
    prefix = bytes(shared_secret) + bytes(exchange_hash)
    out = hashlib.new(hash_name, prefix + letter + bytes(session_id)).digest()
    while len(out) < size:
        out += hashlib.new(hash_name, prefix + out).digest()
    return out[:size]
