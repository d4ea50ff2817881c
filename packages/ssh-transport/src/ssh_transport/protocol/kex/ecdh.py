"""ECDH over the NIST curves (RFC 5656): ecdh-sha2-nistp256/384/521."""

from __future__ import annotations

from typing import ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ssh_wire import Message

from .base import SimpleKex, kex_failed, mpint, string


class ECDHKex(SimpleKex):
    """ECDH: Q_C/Q_S are uncompressed SEC1 points in strings; K is the shared
    x coordinate as an mpint. Points off the curve are refused."""

    curve: ClassVar[type[ec.EllipticCurve]] = ec.SECP256R1

    def _keypair(self) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        private = ec.generate_private_key(self.curve())
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return private, public

    def _shared(self, private: ec.EllipticCurvePrivateKey, point: bytes) -> bytes:
        curve = self.curve()
        size = (curve.key_size + 7) // 8
        if len(point) != 1 + 2 * size or point[0] != 4:
            raise kex_failed(f"{self.name}: public value is not an uncompressed point")
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            secret = private.exchange(ec.ECDH(), peer)
        except ValueError:
            raise kex_failed(f"{self.name}: public point is not on the curve") from None
        return mpint(int.from_bytes(secret, "big"))

    def _make_client_field(self) -> bytes:
        self._private, public = self._keypair()
        return string(public)

    def _server_exchange(self, m: Message) -> tuple[bytes, bytes, bytes]:
        q_c = m.get_string()
        private, q_s = self._keypair()
        return string(q_c), string(q_s), self._shared(private, q_c)

    def _client_exchange(self, m: Message) -> tuple[bytes, bytes]:
        q_s = m.get_string()
        return string(q_s), self._shared(self._private, q_s)


class ECDHNistp256(ECDHKex):
    """ecdh-sha2-nistp256: P-256 with SHA-256."""

    name = "ecdh-sha2-nistp256"
    hash_name = "sha256"
    curve = ec.SECP256R1


class ECDHNistp384(ECDHKex):
    """ecdh-sha2-nistp384: P-384 with SHA-384."""

    name = "ecdh-sha2-nistp384"
    hash_name = "sha384"
    curve = ec.SECP384R1


class ECDHNistp521(ECDHKex):
    """ecdh-sha2-nistp521: P-521 with SHA-512."""

    name = "ecdh-sha2-nistp521"
    hash_name = "sha512"
    curve = ec.SECP521R1
