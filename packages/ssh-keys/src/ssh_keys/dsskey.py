"""``DSSKey``: DSA keys (``ssh-dss``), signing with SHA-1 as RFC 4253 defines."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from ssh_wire import Message, SSHException

from ._util import BytesLike
from .pkey import Password, PathLike, PKey

MAX_DSA_BITS = 10000


class DSSKey(PKey):
    """A DSA key (``ssh-dss``), public or private. Signatures are the 40-byte
    ``r || s`` of RFC 4253 section 6.6."""

    #: the key type name
    name = "ssh-dss"

    _KEY_NAMES = ("ssh-dss",)
    _DEFAULT_SIG = "ssh-dss"
    _ALGORITHM_NAME = "DSS"
    _CRYPTO_TYPES = (dsa.DSAPrivateKey, dsa.DSAPublicKey)

    _private: dsa.DSAPrivateKey | None
    _public: dsa.DSAPublicKey
    _blob: bytes

    def __init__(
        self,
        msg: Message | None = None,
        data: BytesLike | None = None,
        filename: PathLike | None = None,
        password: Password = None,
        vals: tuple[int, int, int, int] | None = None,
        file_obj: IO[Any] | None = None,
        key: dsa.DSAPrivateKey | dsa.DSAPublicKey | None = None,
    ) -> None:
        """Build the key from a public blob (``msg``/``data``), a private key
        file (``filename``/``file_obj`` with ``password``), the public numbers
        ``vals=(p, q, g, y)``, or a ``cryptography`` DSA key (``key``)."""
        if vals is not None and key is None:
            p, q, g, y = vals
            try:
                key = dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()
            except ValueError as exc:
                raise SSHException(f"Invalid ssh-dss key: {exc}") from exc
        self._setup(msg, data, filename, password, file_obj, key)

    def _set_public(self) -> None:
        """Build the public blob from ``self._public``."""
        nums = self._public.public_numbers()
        par = nums.parameter_numbers
        m = Message().add_string("ssh-dss").add_mpint(par.p).add_mpint(par.q).add_mpint(par.g).add_mpint(nums.y)
        self._blob = m.asbytes()

    @staticmethod
    def _public_key(p: int, q: int, g: int, y: int) -> dsa.DSAPublicNumbers:
        if min(p, q, g, y) < 2 or p.bit_length() > MAX_DSA_BITS:
            raise SSHException("Invalid ssh-dss key: bad parameters")
        return dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g))

    def _parse_public(self, m: Message, name: str) -> None:
        p, q, g, y = (m.get_mpint() for _ in range(4))
        self._set_crypto_key(self._public_key(p, q, g, y).public_key())

    def _read_private_fields(self, m: Message, name: str) -> None:
        p, q, g, y, x = (m.get_mpint() for _ in range(5))
        if x < 1:
            raise SSHException("Invalid ssh-dss private key")
        self._set_crypto_key(dsa.DSAPrivateNumbers(x, self._public_key(p, q, g, y)).private_key())

    def _write_private_fields(self, m: Message) -> None:
        assert self._private is not None
        nums = self._private.private_numbers()
        par = nums.public_numbers.parameter_numbers
        m.add_mpint(par.p).add_mpint(par.q).add_mpint(par.g).add_mpint(nums.public_numbers.y).add_mpint(nums.x)

    @property
    def key(self) -> dsa.DSAPrivateKey | dsa.DSAPublicKey:
        """The ``cryptography`` key object (private when this key can sign)."""
        return self._private if self._private is not None else self._public

    def asbytes(self) -> bytes:
        """The public blob: string "ssh-dss", mpints p, q, g, y."""
        return self._blob

    def get_bits(self) -> int:
        """The size of the prime p in bits."""
        return self._public.key_size

    def _sign_raw(self, data: bytes, algorithm: str) -> bytes:
        assert self._private is not None
        if self._public.parameters().parameter_numbers().q.bit_length() > 160:
            raise SSHException("ssh-dss signatures need a 160-bit q (a 1024-bit DSA key)")
        r, s = decode_dss_signature(self._private.sign(data, hashes.SHA1()))
        return r.to_bytes(20, "big") + s.to_bytes(20, "big")

    def _verify_raw(self, data: bytes, sig: bytes, algorithm: str) -> bool:
        if len(sig) != 40:
            return False
        r, s = int.from_bytes(sig[:20], "big"), int.from_bytes(sig[20:], "big")
        self._public.verify(encode_dss_signature(r, s), data, hashes.SHA1())
        return True

    @staticmethod
    def generate(bits: int = 1024, progress_func: Callable[..., Any] | None = None) -> DSSKey:
        """A new DSA private key with a ``bits``-bit p (``progress_func`` is ignored)."""
        return DSSKey(key=dsa.generate_private_key(key_size=bits))
