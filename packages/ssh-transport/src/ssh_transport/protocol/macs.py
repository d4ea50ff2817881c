"""The MAC table: HMACs in classic (MAC of the plaintext) and
encrypt-then-MAC (``-etm@openssh.com``, MAC of the ciphertext) flavours."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MacSpec:
    """One SSH MAC: its key and digest sizes, hash, and whether it is EtM."""

    name: str
    key_size: int
    digest_size: int
    hash_name: str
    etm: bool = False
    legacy: bool = False

    def keyed(self, key: bytes) -> hmac.HMAC:
        """A keyed HMAC object; callers ``copy()`` it per packet to skip re-keying."""
        key = bytes(key[: self.key_size])
        if len(key) != self.key_size:
            raise ValueError(f"{self.name} needs a {self.key_size}-byte key")
        return hmac.new(key, digestmod=getattr(hashlib, self.hash_name))


def _spec(name: str, size: int, hash_name: str, etm: bool = False, legacy: bool = False) -> tuple[str, MacSpec]:
    return name, MacSpec(name, size, size, hash_name, etm, legacy)


MACS: dict[str, MacSpec] = dict(
    [
        _spec("hmac-sha2-256-etm@openssh.com", 32, "sha256", etm=True),
        _spec("hmac-sha2-512-etm@openssh.com", 64, "sha512", etm=True),
        _spec("hmac-sha1-etm@openssh.com", 20, "sha1", etm=True),
        _spec("hmac-sha2-256", 32, "sha256"),
        _spec("hmac-sha2-512", 64, "sha512"),
        _spec("hmac-sha1", 20, "sha1"),
        _spec("hmac-md5-etm@openssh.com", 16, "md5", etm=True, legacy=True),
        _spec("hmac-md5", 16, "md5", legacy=True),
    ]
)


def get_mac(name: str) -> MacSpec:
    """The spec for ``name``; ``KeyError`` names the unknown MAC."""
    try:
        return MACS[name]
    except KeyError:
        raise KeyError(f"unknown MAC {name!r}") from None


class TruncatedHMAC(hmac.HMAC):
    """An HMAC whose ``digest()`` is cut to the first ``size`` bytes
    (``hmac-sha1-96`` style MACs, or a caller asking for a short MAC).

    The sealers and openers only ``copy()``, ``update()`` and ``digest()``
    their keyed MAC, so this slots in where a full-length ``hmac.HMAC`` goes.
    """

    def __init__(self, key: bytes, digestmod: Any, size: int) -> None:
        """Key the HMAC; ``digest()`` will return ``size`` bytes."""
        super().__init__(key, digestmod=digestmod)
        self.mac_size = size

    def copy(self) -> TruncatedHMAC:
        """A copy with the same key state and truncation."""
        other = super().copy()  # hmac.HMAC.copy() builds an instance of type(self)
        if not isinstance(other, TruncatedHMAC):  # pragma: no cover - a different hmac module
            raise TypeError("hmac.HMAC.copy() did not keep the subclass")
        other.mac_size = self.mac_size
        return other

    def digest(self) -> bytes:
        """The first ``mac_size`` bytes of the HMAC."""
        return super().digest()[: self.mac_size]


def keyed_hmac(key: bytes, digestmod: Any, size: int | None = None) -> hmac.HMAC:
    """A keyed HMAC for a sealer/opener, ``size`` bytes long (default: the
    digest's own size). ``digestmod`` is a hashlib constructor or name."""
    full = hmac.new(bytes(key), digestmod=digestmod)
    if size is None or size == full.digest_size:
        return full
    if not 0 < size < full.digest_size:
        raise ValueError(f"MAC size {size} not in 1..{full.digest_size}")
    return TruncatedHMAC(bytes(key), digestmod, size)
