"""``Ed25519Key``: Ed25519 keys (RFC 8709); written in OpenSSH format by default."""

from __future__ import annotations

from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from ssh_wire import Message, SSHException

from ._util import BytesLike
from .pkey import Password, PathLike, PKey


class Ed25519Key(PKey):
    """An Ed25519 key (``ssh-ed25519``), public or private."""

    #: the key type name
    name = "ssh-ed25519"

    _KEY_NAMES = ("ssh-ed25519",)
    _DEFAULT_SIG = "ssh-ed25519"
    _ALGORITHM_NAME = "ED25519"
    _CRYPTO_TYPES = (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)

    _private: ed25519.Ed25519PrivateKey | None
    _public: ed25519.Ed25519PublicKey
    _blob: bytes

    def __init__(
        self,
        msg: Message | None = None,
        data: BytesLike | None = None,
        filename: PathLike | None = None,
        password: Password = None,
        file_obj: IO[Any] | None = None,
        key: ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey | None = None,
    ) -> None:
        """Build the key from a public blob (``msg``/``data``), a private key
        file (``filename``/``file_obj`` with ``password``) or a
        ``cryptography`` Ed25519 key (``key``)."""
        self._setup(msg, data, filename, password, file_obj, key)

    def _set_public(self) -> None:
        """Build the public blob from ``self._public``."""
        self._blob = Message().add_string("ssh-ed25519").add_string(self._raw_public()).asbytes()

    def _raw_public(self) -> bytes:
        return self._public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def _parse_public(self, m: Message, name: str) -> None:
        raw = m.get_string()
        if len(raw) != 32:
            raise SSHException(f"Invalid ssh-ed25519 key: public key is {len(raw)} bytes, not 32")
        self._set_crypto_key(ed25519.Ed25519PublicKey.from_public_bytes(raw))

    def _read_private_fields(self, m: Message, name: str) -> None:
        public = m.get_string()
        secret = m.get_string()
        if len(public) != 32 or len(secret) != 64 or secret[32:] != public:
            raise SSHException("Invalid ssh-ed25519 private key: bad lengths or mismatched halves")
        private = ed25519.Ed25519PrivateKey.from_private_bytes(secret[:32])
        if private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) != public:
            raise SSHException("Invalid ssh-ed25519 private key: it does not match its public key")
        self._set_crypto_key(private)

    def _write_private_fields(self, m: Message) -> None:
        assert self._private is not None
        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        public = self._raw_public()
        m.add_string(public).add_string(seed + public)

    def _default_format(self) -> str:
        return "openssh"

    @property
    def key(self) -> ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey:
        """The ``cryptography`` key object (private when this key can sign)."""
        return self._private if self._private is not None else self._public

    def asbytes(self) -> bytes:
        """The public blob: string "ssh-ed25519", string 32-byte public key."""
        return self._blob

    def get_bits(self) -> int:
        """Always 256."""
        return 256

    def can_verify(self) -> bool:
        """True: every Ed25519 key holds its public half, so it can verify."""
        return self._public is not None

    def _sign_raw(self, data: bytes, algorithm: str) -> bytes:
        assert self._private is not None
        return self._private.sign(data)

    def _verify_raw(self, data: bytes, sig: bytes, algorithm: str) -> bool:
        if len(sig) != 64:
            return False
        self._public.verify(sig, data)
        return True

    @staticmethod
    def generate() -> Ed25519Key:
        """A new Ed25519 private key."""
        return Ed25519Key(key=ed25519.Ed25519PrivateKey.generate())
