"""``RSAKey``: RSA keys, signing with ssh-rsa (SHA-1), rsa-sha2-256 and rsa-sha2-512."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ssh_wire import Message, SSHException

from ._util import BytesLike
from .pkey import Password, PathLike, PKey

# OpenSSH refuses RSA moduli above this size, and so do we (a hostile blob
# must not make verification arbitrarily slow).
MAX_RSA_BITS = 16384

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "rsa-sha2-512": hashes.SHA512,
    "rsa-sha2-256": hashes.SHA256,
    "ssh-rsa": hashes.SHA1,
}
_CERT = "-cert-v01@openssh.com"


class RSAKey(PKey):
    """An RSA key (``ssh-rsa``), public or private.

    Signs with ``rsa-sha2-512`` by default (as paramiko 4+ does) and with
    ``rsa-sha2-256`` or the legacy SHA-1 ``ssh-rsa`` when asked; verifies all
    three.
    """

    #: the key type name
    name = "ssh-rsa"
    #: signature algorithm (and its certificate form) -> hash, as paramiko names it
    HASHES: ClassVar[dict[str, type[hashes.HashAlgorithm]]] = {
        alg: h for name, h in sorted(_HASHES.items()) for alg in (name, name + _CERT)
    }

    _KEY_NAMES = ("ssh-rsa",)
    _DEFAULT_SIG = "rsa-sha2-512"
    _ALGORITHM_NAME = "RSA"
    _CRYPTO_TYPES = (rsa.RSAPrivateKey, rsa.RSAPublicKey)

    _private: rsa.RSAPrivateKey | None
    _public: rsa.RSAPublicKey
    _blob: bytes

    def __init__(
        self,
        msg: Message | None = None,
        data: BytesLike | None = None,
        filename: PathLike | None = None,
        password: Password = None,
        key: rsa.RSAPrivateKey | rsa.RSAPublicKey | None = None,
        file_obj: IO[Any] | None = None,
    ) -> None:
        """Build the key from a public blob (``msg`` or ``data``), a private key
        file (``filename`` or ``file_obj``, with ``password``) or a
        ``cryptography`` RSA key (``key``)."""
        self._setup(msg, data, filename, password, file_obj, key)

    def _set_public(self) -> None:
        """Build the public blob from ``self._public``."""
        nums = self._public.public_numbers()
        if nums.n.bit_length() > MAX_RSA_BITS:
            raise SSHException(f"RSA key too large ({nums.n.bit_length()} bits)")
        self._blob = Message().add_string("ssh-rsa").add_mpint(nums.e).add_mpint(nums.n).asbytes()

    def _parse_public(self, m: Message, name: str) -> None:
        e = m.get_mpint()
        n = m.get_mpint()
        if e < 3 or n < 3 or n.bit_length() > MAX_RSA_BITS:
            raise SSHException("Invalid ssh-rsa key: bad public exponent or modulus")
        self._set_crypto_key(rsa.RSAPublicNumbers(e, n).public_key())

    def _read_private_fields(self, m: Message, name: str) -> None:
        n, e, d, _iqmp, p, q = (m.get_mpint() for _ in range(6))
        if min(n, e, d, p, q) < 2 or n.bit_length() > MAX_RSA_BITS or p * q != n:
            raise SSHException("Invalid ssh-rsa private key: inconsistent numbers")
        numbers = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=rsa.rsa_crt_dmp1(d, p),
            dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q),
            public_numbers=rsa.RSAPublicNumbers(e, n),
        )
        self._set_crypto_key(numbers.private_key())

    def _write_private_fields(self, m: Message) -> None:
        assert self._private is not None
        nums = self._private.private_numbers()
        pub = nums.public_numbers
        m.add_mpint(pub.n).add_mpint(pub.e).add_mpint(nums.d)
        m.add_mpint(nums.iqmp).add_mpint(nums.p).add_mpint(nums.q)

    @classmethod
    def identifiers(cls) -> list[str]:
        """Every name an RSA key goes by: the key type, the SHA-2 signature
        algorithms, and their certificate forms."""
        return sorted({n for alg in _HASHES for n in (alg, alg + _CERT)})

    @property
    def key(self) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
        """The ``cryptography`` key object (private when this key can sign)."""
        return self._private if self._private is not None else self._public

    @property
    def public_numbers(self) -> rsa.RSAPublicNumbers:
        """The public exponent ``e`` and modulus ``n``."""
        return self._public.public_numbers()

    @property
    def size(self) -> int:
        """The modulus size in bits."""
        return self._public.key_size

    def asbytes(self) -> bytes:
        """The public blob: string "ssh-rsa", mpint e, mpint n."""
        return self._blob

    def get_bits(self) -> int:
        """The modulus size in bits."""
        return self._public.key_size

    @property
    def signature_algorithms(self) -> tuple[str, ...]:
        """``("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")``: best first."""
        return tuple(_HASHES)

    def _sign_raw(self, data: bytes, algorithm: str) -> bytes:
        assert self._private is not None
        return self._private.sign(data, padding.PKCS1v15(), _HASHES[algorithm]())

    def _verify_raw(self, data: bytes, sig: bytes, algorithm: str) -> bool:
        size = (self._public.key_size + 7) // 8
        if len(sig) > size:
            return False
        # Some signers drop leading zero bytes; RFC 8017 wants the full width.
        sig = sig.rjust(size, b"\x00")
        self._public.verify(sig, data, padding.PKCS1v15(), _HASHES[algorithm]())
        return True

    @staticmethod
    def generate(bits: int, progress_func: Callable[..., Any] | None = None) -> RSAKey:
        """A new RSA private key of ``bits`` bits (``progress_func`` is ignored)."""
        return RSAKey(key=rsa.generate_private_key(public_exponent=65537, key_size=bits))
