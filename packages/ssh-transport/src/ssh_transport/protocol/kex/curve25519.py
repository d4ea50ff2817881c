"""curve25519-sha256 (RFC 8731; also under its old name curve25519-sha256@libssh.org)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ssh_wire import Message

from .base import SimpleKex, kex_failed, mpint, string

X25519_SIZE = 32


def x25519_shared(private: X25519PrivateKey, peer: bytes) -> bytes:
    """The raw X25519 shared secret; refuses a bad length or an all-zero result."""
    if len(peer) != X25519_SIZE:
        raise kex_failed(f"X25519 public key has {len(peer)} bytes, not 32")
    try:
        secret = private.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError:
        raise kex_failed("X25519 shared secret is all zero (low-order public key)") from None
    if not any(secret):
        raise kex_failed("X25519 shared secret is all zero (low-order public key)")
    return secret


def x25519_keypair() -> tuple[X25519PrivateKey, bytes]:
    """A fresh ephemeral X25519 key and its 32-byte public value."""
    private = X25519PrivateKey.generate()
    return private, private.public_key().public_bytes_raw()


class Curve25519SHA256(SimpleKex):
    """ECDH over Curve25519: Q_C/Q_S are 32-byte strings; K is the shared secret
    read as a big-endian unsigned integer, encoded as an mpint."""

    name = "curve25519-sha256"
    hash_name = "sha256"

    def _make_client_field(self) -> bytes:
        self._private, public = x25519_keypair()
        return string(public)

    def _server_exchange(self, m: Message) -> tuple[bytes, bytes, bytes]:
        q_c = m.get_string()
        private, q_s = x25519_keypair()
        secret = x25519_shared(private, q_c)
        return string(q_c), string(q_s), mpint(int.from_bytes(secret, "big"))

    def _client_exchange(self, m: Message) -> tuple[bytes, bytes]:
        q_s = m.get_string()
        secret = x25519_shared(self._private, q_s)
        return string(q_s), mpint(int.from_bytes(secret, "big"))


class Curve25519SHA256Libssh(Curve25519SHA256):
    """curve25519-sha256@libssh.org: the pre-RFC name of the same method."""

    name = "curve25519-sha256@libssh.org"
