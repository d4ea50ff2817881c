"""The MAC table: HMACs in classic (MAC of the plaintext) and
encrypt-then-MAC (``-etm@openssh.com``, MAC of the ciphertext) flavours."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


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
