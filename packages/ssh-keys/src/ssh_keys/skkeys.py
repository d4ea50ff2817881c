"""FIDO security-key keys (OpenSSH PROTOCOL.u2f): ``sk-ecdsa-sha2-nistp256@openssh.com``
and ``sk-ssh-ed25519@openssh.com``.

The private half of such a key never leaves the token: a key file holds only
the public key, the *application* string the token bound it to (usually
``"ssh:"``), the flags it was made with and an opaque key handle. So these
keys verify signatures (what a server does) but never sign here; signing
goes through an agent that talks to the token.

A token signs ``sha256(application) || flags || counter || sha256(message)``
and returns the flags (user presence, user verification) and its signature
counter next to the signature. ``SKKey.verify_sk_signature`` checks all of
that as sshd does and hands back an ``SKSignature`` so a server can enforce
or log the flags and the counter.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from typing import IO, Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ssh_wire import Message, SSHException

from . import keyfiles
from ._util import BytesLike, as_message, password_bytes, to_bytes
from .pkey import FileFormat, Password, PathLike, PKey, _format_name, _unpickle_key

#: key flag / signature flag: the token checked the user's presence (a touch)
SK_USER_PRESENCE_REQD = 0x01
#: key flag / signature flag: the token verified the user (PIN, biometrics)
SK_USER_VERIFICATION_REQD = 0x04
#: key flag: the token was told to sign even without presence (``-O no-touch-required``
#: leaves ``SK_USER_PRESENCE_REQD`` clear instead; kept for files that carry it)
SK_FORCE_OPERATION = 0x10
#: key flag: the key is resident (discoverable) on the token
SK_RESIDENT_KEY = 0x20

#: the application OpenSSH binds keys to unless told otherwise
DEFAULT_APPLICATION = "ssh:"

ECDSA_SK = "sk-ecdsa-sha2-nistp256@openssh.com"
ED25519_SK = "sk-ssh-ed25519@openssh.com"
#: the signature type a WebAuthn-only authenticator (a browser) produces for an ECDSA-SK key
WEBAUTHN_ECDSA_SK = "webauthn-sk-ecdsa-sha2-nistp256@openssh.com"

# WebAuthn authenticator-data flags OpenSSH checks on webauthn signatures
_WEBAUTHN_AT = 0x40
_WEBAUTHN_ED = 0x80


class SKSignatureError(SSHException):
    """A security-key signature that is malformed or does not verify, or that
    lacks a flag the caller requires (see the subclasses)."""


class SKUserPresenceError(SKSignatureError):
    """The signature is valid but the token did not check user presence
    (no touch), and the key is not marked ``no-touch-required``."""


class SKUserVerificationError(SKSignatureError):
    """The signature is valid but the token did not verify the user (PIN or
    biometrics), and ``verify-required`` asks for it."""


@dataclass(frozen=True)
class SKSignature:
    """A parsed security-key signature: the inner signature plus what the
    token reports with it (``flags``, ``counter``), and for a WebAuthn
    signature the ``origin``, ``client_data`` and ``extensions`` it carries."""

    #: the signature type name (the key type, or ``WEBAUTHN_ECDSA_SK``)
    algorithm: str
    #: the inner signature (ECDSA: mpint r, mpint s; Ed25519: 64 bytes)
    signature: bytes
    #: the token's flags byte (``SK_USER_PRESENCE_REQD``, ``SK_USER_VERIFICATION_REQD``)
    flags: int
    #: the token's signature counter (a server may check it only grows)
    counter: int
    origin: str | None = None
    client_data: bytes | None = None
    extensions: bytes = b""

    @property
    def user_present(self) -> bool:
        """True when the token checked the user's presence (a touch)."""
        return bool(self.flags & SK_USER_PRESENCE_REQD)

    @property
    def user_verified(self) -> bool:
        """True when the token verified the user (PIN or biometrics)."""
        return bool(self.flags & SK_USER_VERIFICATION_REQD)

    @property
    def is_webauthn(self) -> bool:
        """True for a WebAuthn signature (origin and clientData attached)."""
        return self.algorithm == WEBAUTHN_ECDSA_SK

    @classmethod
    def from_blob(cls, data: Message | BytesLike) -> SKSignature:
        """Parse a signature blob (string type, string signature, byte flags,
        uint32 counter, and for WebAuthn string origin, string clientData,
        string extensions); ``SKSignatureError`` when it is malformed."""
        try:
            m = as_message(data)
            algorithm = m.get_name()
            if algorithm not in (ECDSA_SK, ED25519_SK, WEBAUTHN_ECDSA_SK):
                raise SKSignatureError(f"not a security-key signature: {algorithm[:64]!r}")
            signature = m.get_string()
            flags = m.get_byte()[0]
            counter = m.get_int()
            origin = client_data = None
            extensions = b""
            if algorithm == WEBAUTHN_ECDSA_SK:
                origin = m.get_text()
                client_data = m.get_string()
                extensions = m.get_string()
            m.expect_end()
        except SKSignatureError:
            raise
        except SSHException as exc:
            raise SKSignatureError(f"malformed security-key signature: {exc}") from exc
        return cls(algorithm, signature, flags, counter, origin, client_data, extensions)

    def asbytes(self) -> bytes:
        """The signature blob, as ``from_blob`` reads it."""
        m = Message().add_string(self.algorithm).add_string(self.signature)
        m.add_byte(bytes([self.flags])).add_int(self.counter)
        if self.is_webauthn:
            m.add_string(self.origin or "").add_string(self.client_data or b"").add_string(self.extensions)
        return m.asbytes()

    def signed_data(self, application: str | bytes, message: BytesLike | str) -> bytes:
        """What the token signed for ``message`` under ``application``:
        sha256(application) || flags || counter || extensions || sha256(message)
        (for WebAuthn, the hash of the clientData that wraps the message,
        which must then carry it as its challenge)."""
        if self.is_webauthn:
            msg_hash = self._webauthn_client_data_hash(to_bytes(message))
        else:
            msg_hash = hashlib.sha256(to_bytes(message)).digest()
        return (
            hashlib.sha256(to_bytes(application)).digest()
            + struct.pack(">BI", self.flags, self.counter)
            + self.extensions
            + msg_hash
        )

    def _webauthn_client_data_hash(self, message: bytes) -> bytes:
        """Check that clientData is a ``webauthn.get`` for ``message`` from
        ``origin`` (as OpenSSH: its fixed preamble, the rest ignored) and
        return its SHA-256."""
        origin = self.origin or ""
        has_ext = bool(self.flags & _WEBAUTHN_ED)
        if '"' in origin or self.flags & _WEBAUTHN_AT or has_ext != bool(self.extensions):
            raise SKSignatureError("malformed WebAuthn signature: bad origin or flags")
        challenge = base64.urlsafe_b64encode(message).rstrip(b"=")
        preamble = b'{"type":"webauthn.get","challenge":"' + challenge + b'","origin":"' + origin.encode() + b'"'
        client_data = self.client_data or b""
        if not client_data.startswith(preamble):
            raise SKSignatureError("WebAuthn clientData does not carry this challenge and origin")
        return hashlib.sha256(client_data).digest()


class SKKey(PKey):
    """Base of the security-key key types: a public key bound to an
    ``application``, verified as PROTOCOL.u2f says; never signs here.

    Loaded from an OpenSSH private key file (what ``ssh-keygen -t
    ecdsa-sk`` writes) it also carries the token's ``key_handle`` and key
    ``flags``, and can be written back or handed to an agent
    (``private_message``); from a public blob or line those are None.
    """

    _DEFAULT_SIG: ClassVar[str] = ""
    _CRYPTO_TYPES: ClassVar[tuple[type[Any], ...]] = ()
    #: the ``cryptography`` public key class of the key type
    _PUBLIC_TYPE: ClassVar[type[Any]] = object
    #: the signature type names a key of this type verifies
    _SIGNATURE_TYPES: ClassVar[tuple[str, ...]] = ()

    application: str
    #: the token's key flags (from a key file), or None for a public key
    flags: int | None
    #: the token's opaque key handle (from a key file), or None
    key_handle: bytes | None
    #: the reserved field of the key file record
    reserved: bytes
    _public: Any
    _blob: bytes

    def __init__(
        self,
        msg: Message | None = None,
        data: BytesLike | None = None,
        filename: PathLike | None = None,
        password: Password = None,
        file_obj: IO[Any] | None = None,
        key: Any = None,
        application: str = DEFAULT_APPLICATION,
        key_handle: bytes | None = None,
        flags: int | None = None,
    ) -> None:
        """Build the key from a public blob (``msg``/``data``), an OpenSSH
        private key file (``filename``/``file_obj`` with ``password``), or a
        ``cryptography`` public key (``key``) with its ``application`` and,
        to make a key file record, the token's ``key_handle`` and ``flags``
        (default: user presence required)."""
        self.application = application
        self.key_handle = None if key_handle is None else bytes(key_handle)
        self.flags = flags if flags is not None or key_handle is None else SK_USER_PRESENCE_REQD
        self.reserved = b""
        self._setup(msg, data, filename, password, file_obj, key)

    # -- PKey hooks -----------------------------------------------------------

    def _set_crypto_key(self, key: Any) -> None:
        """Adopt a ``cryptography`` public key; a private one is refused (a
        security key's private half stays on the token)."""
        if not isinstance(key, self._PUBLIC_TYPE):
            raise SSHException(f"a {self.get_name()} key is built from a public key, not {type(key).__name__}")
        self._private, self._public = None, key
        self._set_public()

    def _set_public(self) -> None:
        m = Message().add_string(self.get_name())
        self._write_public_fields(m)
        self._blob = m.asbytes()

    def _parse_public(self, m: Message, name: str) -> None:
        public = self._read_key_material(m, name)
        self.application = m.get_text()
        self.flags = self.key_handle = None
        self.reserved = b""
        self._set_crypto_key(public)

    def _read_private_fields(self, m: Message, name: str) -> None:
        self._parse_public(m, name)
        self.flags = m.get_byte()[0]
        self.key_handle = m.get_string()
        self.reserved = m.get_string()

    def _write_private_fields(self, m: Message) -> None:
        if self.key_handle is None:
            raise SSHException(f"this {self.get_name()} key has no key handle: it is a public key")
        self._write_public_fields(m)
        m.add_byte(bytes([SK_USER_PRESENCE_REQD if self.flags is None else self.flags]))
        m.add_string(self.key_handle).add_string(self.reserved)

    def _read_key_material(self, m: Message, name: str) -> Any:
        """Read the key's own public fields (after the type name)."""
        raise SSHException("SKKey is abstract; use a key type")

    def _write_public_fields(self, m: Message) -> None:
        """Write the key's public fields and the application (after the type name)."""
        raise SSHException("SKKey is abstract; use a key type")

    def _verify_inner(self, signed: bytes, signature: bytes) -> None:
        """Check the inner signature over ``signed``; raise when it is bad."""
        raise SSHException("SKKey is abstract; use a key type")

    def _default_format(self) -> str:
        return "openssh"

    # -- the public API --------------------------------------------------------

    def asbytes(self) -> bytes:
        """The public blob: type name, key, application."""
        return self._blob

    def get_bits(self) -> int:
        """256, as ``ssh-keygen -l`` shows for both sk key types."""
        return 256

    def can_sign(self) -> bool:
        """False: the private half lives on the token; sign through an agent."""
        return False

    @property
    def touch_required(self) -> bool | None:
        """From a key file: whether the token requires a touch for each
        signature (False for keys made with ``-O no-touch-required``);
        None for a public key, whose flags are unknown."""
        return None if self.flags is None else bool(self.flags & SK_USER_PRESENCE_REQD)

    def sign_ssh_data(self, data: Any, algorithm: Any = None) -> Message:
        """Always raises ``SSHException``: a security key signs only on the
        token, reached through an agent (``ssh-agent`` with ``ssh-add``)."""
        raise SSHException(
            f"{self.get_name()} keys sign only on their security key: load the key into an agent "
            "(ssh-add) and sign through it"
        )

    def verify_sk_signature(
        self,
        data: BytesLike | str,
        msg: Message | BytesLike,
        *,
        touch_required: bool = True,
        verify_required: bool = False,
    ) -> SKSignature:
        """Verify ``msg`` (a signature blob) over ``data`` as sshd does, and
        return it parsed so the caller can see ``flags`` and ``counter``.

        ``SKSignatureError`` when it is malformed, of another type or does
        not verify; ``SKUserPresenceError`` when the token did not check
        presence and ``touch_required`` (False for an authorized_keys line or
        certificate with ``no-touch-required``); ``SKUserVerificationError``
        when ``verify_required`` (``verify-required``) and the user was not
        verified.
        """
        sig = SKSignature.from_blob(msg)
        if sig.algorithm not in self._SIGNATURE_TYPES:
            raise SKSignatureError(f"a {sig.algorithm} signature cannot be from a {self.get_name()} key")
        signed = sig.signed_data(self.application, data)
        try:
            self._verify_inner(signed, sig.signature)
        except (InvalidSignature, ValueError, TypeError, OverflowError, SSHException) as exc:
            if isinstance(exc, SKSignatureError):
                raise
            raise SKSignatureError(f"{sig.algorithm} signature by {self.fingerprint} does not verify") from exc
        if touch_required and not sig.user_present:
            raise SKUserPresenceError(
                f"{self.get_name()} signature rejected: user presence (authenticator touch) requirement not met"
            )
        if verify_required and not sig.user_verified:
            raise SKUserVerificationError(
                f"{self.get_name()} signature rejected: user verification requirement not met"
            )
        return sig

    def verify_ssh_sig(
        self,
        data: BytesLike | str,
        msg: Message | BytesLike,
        *,
        touch_required: bool = True,
        verify_required: bool = False,
    ) -> bool:
        """``verify_sk_signature`` as a boolean: by default a signature made
        without a touch is refused, as sshd refuses it."""
        try:
            self.verify_sk_signature(data, msg, touch_required=touch_required, verify_required=verify_required)
        except SKSignatureError:
            return False
        return True

    def private_message(self) -> Message:
        """The key file / agent record (type, key, application, flags, key
        handle, reserved); ``SSHException`` for a key without a key handle."""
        m = Message().add_string(self.get_name())
        self._write_private_fields(m)
        return m

    def private_key_text(self, password: Password = None, format: FileFormat | str | None = None) -> str:
        """The OpenSSH private key file (the only format that holds sk keys),
        encrypted with ``password`` when given."""
        fmt = (_format_name(format) or "openssh").lower()
        if fmt != "openssh":
            raise ValueError(f"{self.get_name()} keys are written only in the openssh format, not {fmt!r}")
        record = self.private_message()
        return keyfiles.encode_openssh(self.asbytes(), record.asbytes(), self.comment or "", password_bytes(password))

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickle as the key file record when there is a key handle, else as
        the public blob."""
        if self.key_handle is not None:
            return (_unpickle_key, (bytes(self.private_message().asbytes()), True, self.comment))
        return (_unpickle_key, (self.asbytes(), False, self.comment))


class ECDSASKKey(SKKey):
    """A FIDO ECDSA key (``sk-ecdsa-sha2-nistp256@openssh.com``, ``ssh-keygen -t ecdsa-sk``)."""

    _KEY_NAMES = (ECDSA_SK,)
    _ALGORITHM_NAME = "ECDSA-SK"
    _PUBLIC_TYPE = ec.EllipticCurvePublicKey
    _SIGNATURE_TYPES = (ECDSA_SK, WEBAUTHN_ECDSA_SK)

    _public: ec.EllipticCurvePublicKey

    def _read_key_material(self, m: Message, name: str) -> ec.EllipticCurvePublicKey:
        curve = m.get_text()
        if curve != "nistp256":
            raise SSHException(f"Invalid {name} key: curve {curve[:32]!r} is not nistp256")
        point = m.get_string()
        if not point or point[0] != 4:
            raise SSHException(f"Invalid {name} key: the point is not in uncompressed form")
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)

    def _set_crypto_key(self, key: Any) -> None:
        if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1):
            raise SSHException(f"{ECDSA_SK} keys are on nistp256, not {key.curve.name}")
        super()._set_crypto_key(key)

    def _write_public_fields(self, m: Message) -> None:
        point = self._public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        m.add_string("nistp256").add_string(point).add_string(self.application)

    def _verify_inner(self, signed: bytes, signature: bytes) -> None:
        sm = Message(signature, strict=True)
        r = sm.get_mpint()
        s = sm.get_mpint()
        sm.expect_end()
        if r <= 0 or s <= 0:
            raise SKSignatureError(f"{ECDSA_SK} signature has a non-positive r or s")
        self._public.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))

    @property
    def signature_algorithms(self) -> tuple[str, ...]:
        """Only ``sk-ecdsa-sha2-nistp256@openssh.com`` (the algorithm name
        userauth uses; a WebAuthn signature is verified under it too)."""
        return (ECDSA_SK,)

    @property
    def verifying_key(self) -> ec.EllipticCurvePublicKey:
        """The ``cryptography`` public key."""
        return self._public

    @property
    def curve_name(self) -> str:
        """Always ``nistp256``."""
        return "nistp256"


class Ed25519SKKey(SKKey):
    """A FIDO Ed25519 key (``sk-ssh-ed25519@openssh.com``, ``ssh-keygen -t ed25519-sk``)."""

    _KEY_NAMES = (ED25519_SK,)
    _ALGORITHM_NAME = "ED25519-SK"
    _PUBLIC_TYPE = ed25519.Ed25519PublicKey
    _SIGNATURE_TYPES = (ED25519_SK,)

    _public: ed25519.Ed25519PublicKey

    def _read_key_material(self, m: Message, name: str) -> ed25519.Ed25519PublicKey:
        raw = m.get_string()
        if len(raw) != 32:
            raise SSHException(f"Invalid {name} key: public key is {len(raw)} bytes, not 32")
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)

    def _write_public_fields(self, m: Message) -> None:
        m.add_string(self._public.public_bytes(Encoding.Raw, PublicFormat.Raw)).add_string(self.application)

    def _verify_inner(self, signed: bytes, signature: bytes) -> None:
        if len(signature) != 64:
            raise SKSignatureError(f"{ED25519_SK} signature is {len(signature)} bytes, not 64")
        self._public.verify(signature, signed)

    @property
    def signature_algorithms(self) -> tuple[str, ...]:
        """Only ``sk-ssh-ed25519@openssh.com``."""
        return (ED25519_SK,)

    def can_verify(self) -> bool:
        """True: the public key is always there."""
        return True
