"""Finite-field Diffie-Hellman over the fixed groups (RFC 4253 8.1, RFC 8268):
diffie-hellman-group14-sha256, group16-sha512, group18-sha512 and the legacy
group14-sha1 and group1-sha1. Also the DH arithmetic group exchange reuses."""

from __future__ import annotations

import secrets
from typing import ClassVar

from ssh_wire import Message

from .base import SimpleKex, kex_failed, mpint
from .groups import GENERATOR, MODP_2048, MODP_4096, MODP_8192, OAKLEY_GROUP_2

# Private exponents of twice the strength of the strongest cipher, as OpenSSH does.
PRIVATE_BITS = 512


def private_exponent(p: int) -> int:
    """A random private exponent x with 1 < x, of PRIVATE_BITS (less for tiny groups)."""
    bits = min(PRIVATE_BITS, p.bit_length() - 1)
    while True:
        x = secrets.randbits(bits)
        if x > 1:
            return x


def check_public(value: int, p: int, what: str) -> None:
    """Refuse a peer's DH public value outside 1 < value < p - 1 (RFC 4253 section 8)."""
    if not 1 < value < p - 1:
        raise kex_failed(f"DH {what} value out of range")


def shared_mpint(peer: int, x: int, p: int) -> bytes:
    """K = peer^x mod p, wire-encoded as an mpint; refuses a degenerate result."""
    k = pow(peer, x, p)
    if not 1 < k < p - 1:
        raise kex_failed("DH shared secret is degenerate")
    return mpint(k)


class FixedGroupKex(SimpleKex):
    """DH over one fixed group: e and f are mpints, K = f^x mod p."""

    prime: ClassVar[int] = MODP_2048
    generator: ClassVar[int] = GENERATOR

    def _make_client_field(self) -> bytes:
        self._x = private_exponent(self.prime)
        return mpint(pow(self.generator, self._x, self.prime))

    def _server_exchange(self, m: Message) -> tuple[bytes, bytes, bytes]:
        e = m.get_mpint()
        check_public(e, self.prime, "client")
        y = private_exponent(self.prime)
        f = pow(self.generator, y, self.prime)
        return mpint(e), mpint(f), shared_mpint(e, y, self.prime)

    def _client_exchange(self, m: Message) -> tuple[bytes, bytes]:
        f = m.get_mpint()
        check_public(f, self.prime, "server")
        return mpint(f), shared_mpint(f, self._x, self.prime)


class DHGroup14SHA256(FixedGroupKex):
    """diffie-hellman-group14-sha256 (RFC 8268): 2048-bit MODP group, SHA-256."""

    name = "diffie-hellman-group14-sha256"
    hash_name = "sha256"
    prime = MODP_2048


class DHGroup16SHA512(FixedGroupKex):
    """diffie-hellman-group16-sha512 (RFC 8268): 4096-bit MODP group, SHA-512."""

    name = "diffie-hellman-group16-sha512"
    hash_name = "sha512"
    prime = MODP_4096


class DHGroup18SHA512(FixedGroupKex):
    """diffie-hellman-group18-sha512 (RFC 8268): 8192-bit MODP group, SHA-512."""

    name = "diffie-hellman-group18-sha512"
    hash_name = "sha512"
    prime = MODP_8192


class DHGroup14SHA1(FixedGroupKex):
    """diffie-hellman-group14-sha1 (RFC 4253), legacy: 2048-bit group, SHA-1."""

    name = "diffie-hellman-group14-sha1"
    hash_name = "sha1"
    legacy = True
    prime = MODP_2048


class DHGroup1SHA1(FixedGroupKex):
    """diffie-hellman-group1-sha1 (RFC 4253), legacy: 1024-bit Oakley group 2, SHA-1."""

    name = "diffie-hellman-group1-sha1"
    hash_name = "sha1"
    legacy = True
    prime = OAKLEY_GROUP_2
