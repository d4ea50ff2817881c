"""``ECDSAKey``: ECDSA keys on NIST P-256, P-384 and P-521 (RFC 5656)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ssh_wire import Message, SSHException

from ._util import BytesLike
from .pkey import Password, PathLike, PKey


@dataclass(frozen=True)
class ECDSACurve:
    """One supported curve: its SSH names, cryptography curve and hash."""

    nist_name: str  # "nistp256"
    key_format_identifier: str  # "ecdsa-sha2-nistp256"
    curve_class: type[ec.EllipticCurve]
    hash_class: type[hashes.HashAlgorithm]
    key_length: int

    @property
    def hash_object(self) -> type[hashes.HashAlgorithm]:
        """The hash class signatures on this curve use (paramiko's name)."""
        return self.hash_class


CURVES = (
    ECDSACurve("nistp256", "ecdsa-sha2-nistp256", ec.SECP256R1, hashes.SHA256, 256),
    ECDSACurve("nistp384", "ecdsa-sha2-nistp384", ec.SECP384R1, hashes.SHA384, 384),
    ECDSACurve("nistp521", "ecdsa-sha2-nistp521", ec.SECP521R1, hashes.SHA512, 521),
)
_BY_NAME = {c.key_format_identifier: c for c in CURVES}
_BY_CURVE_NAME: dict[str, ECDSACurve] = {c.curve_class().name: c for c in CURVES}
_BY_BITS = {c.key_length: c for c in CURVES}
_DEFAULT_CURVE = ec.SECP256R1()


def _curve_for(curve: Any) -> ECDSACurve:
    name = getattr(curve, "name", None)
    found = _BY_CURVE_NAME.get(name) if isinstance(name, str) else None
    if found is None:
        raise SSHException(f"unsupported ECDSA curve {name or curve!r}")
    return found


class ECDSAKey(PKey):
    """An ECDSA key (``ecdsa-sha2-nistp256``, ``-nistp384`` or ``-nistp521``).

    Signatures hold r and s as two mpints, hashed with SHA-256, SHA-384 or
    SHA-512 according to the curve (RFC 5656 section 3.1.2).
    """

    _KEY_NAMES = tuple(c.key_format_identifier for c in CURVES)
    _ALGORITHM_NAME = "ECDSA"
    _CRYPTO_TYPES = (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)

    _private: ec.EllipticCurvePrivateKey | None
    _public: ec.EllipticCurvePublicKey
    _curve: ECDSACurve
    _blob: bytes

    def __init__(
        self,
        msg: Message | None = None,
        data: BytesLike | None = None,
        filename: PathLike | None = None,
        password: Password = None,
        vals: tuple[Any, Any] | None = None,
        file_obj: IO[Any] | None = None,
        validate_point: bool = True,
        key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey | None = None,
    ) -> None:
        """Build the key from a public blob (``msg``/``data``), a private key
        file (``filename``/``file_obj`` with ``password``), ``vals=(signing_key,
        verifying_key)`` (cryptography objects, as paramiko) or a cryptography
        EC key (``key``). Points are always validated (the curve library
        refuses points off the curve), whatever ``validate_point`` says."""
        if vals is not None and key is None:
            key = vals[0] if vals[0] is not None else vals[1]
        self._setup(msg, data, filename, password, file_obj, key)

    def _set_public(self) -> None:
        """Build the public blob from ``self._public``."""
        self._curve = _curve_for(self._public.curve)
        point = self._public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        m = Message().add_string(self._curve.key_format_identifier).add_string(self._curve.nist_name)
        self._blob = m.add_string(point).asbytes()

    def _read_point(self, m: Message, name: str) -> tuple[ECDSACurve, ec.EllipticCurvePublicKey]:
        curve = _BY_NAME[name]
        ident = m.get_text()
        if ident != curve.nist_name:
            raise SSHException(f"Invalid {name} key: curve {ident[:32]!r} does not match the key type")
        point = m.get_string()
        if not point or point[0] != 4:
            raise SSHException(f"Invalid {name} key: the point is not in uncompressed form")
        return curve, ec.EllipticCurvePublicKey.from_encoded_point(curve.curve_class(), point)

    def _parse_public(self, m: Message, name: str) -> None:
        self._set_crypto_key(self._read_point(m, name)[1])

    def _read_private_fields(self, m: Message, name: str) -> None:
        curve, public = self._read_point(m, name)
        d = m.get_mpint()
        if d < 1:
            raise SSHException(f"Invalid {name} private key")
        private = ec.derive_private_key(d, curve.curve_class())
        if private.public_key().public_numbers() != public.public_numbers():
            raise SSHException(f"Invalid {name} private key: it does not match its public point")
        self._set_crypto_key(private)

    def _write_private_fields(self, m: Message) -> None:
        assert self._private is not None
        point = self._public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        m.add_string(self._curve.nist_name).add_string(point)
        m.add_mpint(self._private.private_numbers().private_value)

    @property
    def key(self) -> ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey:
        """The ``cryptography`` key object (private when this key can sign)."""
        return self._private if self._private is not None else self._public

    @property
    def signing_key(self) -> ec.EllipticCurvePrivateKey | None:
        """The ``cryptography`` private key, or None for a public key."""
        return self._private

    @property
    def verifying_key(self) -> ec.EllipticCurvePublicKey:
        """The ``cryptography`` public key."""
        return self._public

    @property
    def curve_name(self) -> str:
        """The SSH curve name: nistp256, nistp384 or nistp521."""
        return self._curve.nist_name

    @property
    def ecdsa_curve(self) -> ECDSACurve:
        """The curve description (names, hash and size)."""
        return self._curve

    @classmethod
    def supported_key_format_identifiers(cls) -> list[str]:
        """Every ECDSA key type name this class reads (``identifiers()``)."""
        return cls.identifiers()

    def asbytes(self) -> bytes:
        """The public blob: key type, curve name, uncompressed point."""
        return self._blob

    def get_name(self) -> str:
        """``ecdsa-sha2-nistp256``, ``-nistp384`` or ``-nistp521``."""
        return self._curve.key_format_identifier

    def get_bits(self) -> int:
        """The curve size in bits: 256, 384 or 521."""
        return self._curve.key_length

    def _sign_raw(self, data: bytes, algorithm: str) -> bytes:
        assert self._private is not None
        der = self._private.sign(data, ec.ECDSA(self._curve.hash_class()))
        r, s = decode_dss_signature(der)
        return Message().add_mpint(r).add_mpint(s).asbytes()

    def _verify_raw(self, data: bytes, sig: bytes, algorithm: str) -> bool:
        sm = Message(sig, strict=True)
        r = sm.get_mpint()
        s = sm.get_mpint()
        if r <= 0 or s <= 0 or sm.remaining():
            return False
        self._public.verify(encode_dss_signature(r, s), data, ec.ECDSA(self._curve.hash_class()))
        return True

    @classmethod
    def generate(
        cls, curve: Any = _DEFAULT_CURVE, progress_func: Callable[..., Any] | None = None, bits: int | None = None
    ) -> ECDSAKey:
        """A new ECDSA private key on ``curve`` (a cryptography curve instance
        or class) or, given ``bits`` (256, 384, 521), the matching NIST curve;
        P-256 by default. ``progress_func`` is ignored."""
        if bits is not None:
            spec = _BY_BITS.get(bits)
            if spec is None:
                raise ValueError(f"unsupported ECDSA key size {bits}; use 256, 384 or 521")
        elif curve is not None:
            spec = _curve_for(curve)
        else:
            spec = CURVES[0]
        return ECDSAKey(key=ec.generate_private_key(spec.curve_class()))
