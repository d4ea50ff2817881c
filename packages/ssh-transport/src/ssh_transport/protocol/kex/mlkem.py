"""mlkem768x25519-sha256 (draft-ietf-sshm-mlkem-hybrid-kex): ML-KEM-768 and
X25519 combined; secure if either one holds.

C_INIT = ML-KEM-768 encapsulation key (1184) || X25519 public (32);
S_REPLY = ML-KEM-768 ciphertext (1088) || X25519 public (32);
K = SHA-256(ML-KEM shared secret || X25519 shared secret), hashed and used as
an SSH *string* (not an mpint).
"""

from __future__ import annotations

import hashlib

from ssh_wire import Message

from .base import SimpleKex, kex_failed, string
from .curve25519 import X25519_SIZE, x25519_keypair, x25519_shared

try:
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey

    AVAILABLE = True
except ImportError:  # pragma: no cover - older cryptography without ML-KEM
    AVAILABLE = False

ENCAPSULATION_KEY_SIZE = 1184
CIPHERTEXT_SIZE = 1088


class MLKEM768X25519SHA256(SimpleKex):
    """The hybrid post-quantum kex OpenSSH 10 prefers."""

    name = "mlkem768x25519-sha256"
    hash_name = "sha256"

    def _make_client_field(self) -> bytes:
        self._kem = MLKEM768PrivateKey.generate()
        self._x25519, x_pub = x25519_keypair()
        return string(self._kem.public_key().public_bytes_raw() + x_pub)

    def _server_exchange(self, m: Message) -> tuple[bytes, bytes, bytes]:
        c_init = m.get_string()
        if len(c_init) != ENCAPSULATION_KEY_SIZE + X25519_SIZE:
            raise kex_failed(f"{self.name}: client value has {len(c_init)} bytes")
        try:
            kem_public = MLKEM768PublicKey.from_public_bytes(c_init[:ENCAPSULATION_KEY_SIZE])
            kem_secret, ciphertext = kem_public.encapsulate()
        except ValueError:
            raise kex_failed(f"{self.name}: bad ML-KEM encapsulation key") from None
        private, x_pub = x25519_keypair()
        x_secret = x25519_shared(private, c_init[ENCAPSULATION_KEY_SIZE:])
        secret = hashlib.sha256(kem_secret + x_secret).digest()
        return string(c_init), string(ciphertext + x_pub), string(secret)

    def _client_exchange(self, m: Message) -> tuple[bytes, bytes]:
        s_reply = m.get_string()
        if len(s_reply) != CIPHERTEXT_SIZE + X25519_SIZE:
            raise kex_failed(f"{self.name}: server value has {len(s_reply)} bytes")
        try:
            kem_secret = self._kem.decapsulate(s_reply[:CIPHERTEXT_SIZE])
        except ValueError:
            raise kex_failed(f"{self.name}: bad ML-KEM ciphertext") from None
        x_secret = x25519_shared(self._x25519, s_reply[CIPHERTEXT_SIZE:])
        secret = hashlib.sha256(kem_secret + x_secret).digest()
        return string(s_reply), string(secret)
